// bcrypt_pbkdf: the key derivation function of OpenSSH's "openssh-key-v1" private key format
// (kdfname "bcrypt", see OpenSSH's PROTOCOL.key), as defined by OpenBSD's bcrypt_pbkdf(3)
// (Ted Unangst, 2013; also in OpenSSH's openbsd-compat/bcrypt_pbkdf.c). It is PKCS #5 PBKDF2
// (RFC 8018, section 5.2) with a bcrypt-derived hash in place of HMAC, and with the output
// bytes of the blocks interleaved instead of concatenated.
//
// The bcrypt-derived hash of a 64-byte password hash and a 64-byte salt hash:
//   1. Eksblowfish setup: start from the initial Blowfish state, expand it with salt and key
//      (= password hash), then 64 times expand with the salt hash and with the password hash.
//   2. Encrypt the 32 bytes "OxychromaticBlowfishSwatDynamite" (as 8 big-endian words,
//      4 blocks) 64 times with that state.
//   3. Output the 8 words, each as 4 little-endian bytes (32 bytes).
//
// The KDF, for passphrase P, salt S, `rounds` iterations and an output of n bytes:
//   blocks of 32 bytes are computed for counters 1, 2, ...: block = T1 ^ T2 ^ ... ^ T_rounds,
//   where T1 = hash(SHA-512(P), SHA-512(S || BE32(counter))) and
//   T_k = hash(SHA-512(P), SHA-512(T_(k-1))); then with stride = ceil(n / 32) and
//   amount = ceil(n / stride), byte i of block `counter` goes to output byte
//   i * stride + (counter - 1), for i < amount, dropping positions past the end.

import Crypto

/// Why `BcryptPBKDF.deriveKey` refused its parameters. The limits are OpenSSH's.
enum BcryptPBKDFError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The passphrase was empty. OpenSSH never encrypts a key with an empty passphrase and
    /// treats an empty one offered for an encrypted key as a wrong passphrase.
    case emptyPassphrase
    /// The salt was empty.
    case emptySalt
    /// The salt was longer than OpenSSH accepts (1 MiB).
    case saltTooLong(byteCount: Int)
    /// The round count was outside 1...4294967295 (a uint32 in the key file).
    case roundsOutOfRange(Int)
    /// The requested output was outside 1...1024 bytes.
    case outputByteCountOutOfRange(Int)

    var description: String {
        switch self {
        case .emptyPassphrase:
            "bcrypt_pbkdf: the passphrase is empty; an encrypted key needs a non-empty passphrase"
        case .emptySalt:
            "bcrypt_pbkdf: the salt is empty; the key file's KDF options are damaged"
        case .saltTooLong(let byteCount):
            "bcrypt_pbkdf: the salt is \(byteCount) bytes, more than the \(BcryptPBKDF.maximumSaltByteCount) allowed; the key file's KDF options are damaged"
        case .roundsOutOfRange(let rounds):
            "bcrypt_pbkdf: \(rounds) rounds is outside 1...\(BcryptPBKDF.maximumRounds); the key file's KDF options are damaged"
        case .outputByteCountOutOfRange(let count):
            "bcrypt_pbkdf: cannot derive \(count) bytes; the output must be 1...\(BcryptPBKDF.maximumOutputByteCount) bytes"
        }
    }
}

/// OpenSSH's bcrypt_pbkdf key derivation function.
public enum BcryptPBKDF {
    /// The largest output OpenSSH allows: 32 blocks of 32 bytes.
    public static let maximumOutputByteCount = hashByteCount * hashByteCount
    /// The longest salt OpenSSH allows (1 MiB).
    public static let maximumSaltByteCount = 1 << 20
    /// The largest round count (the key file stores it as a uint32).
    public static let maximumRounds = Int(UInt32.max)

    /// The size of one bcrypt hash output block.
    static let hashByteCount = 32

    /// "OxychromaticBlowfishSwatDynamite" as 8 big-endian words.
    private static let magicWords: [UInt32] = {
        let bytes = Array("OxychromaticBlowfishSwatDynamite".utf8)
        return (0..<8).map { i in
            bytes[(4 * i)..<(4 * i + 4)].reduce(UInt32(0)) { ($0 << 8) | UInt32($1) }
        }
    }()

    /// Derives `outputByteCount` bytes from `passphrase` and `salt` with `rounds` iterations,
    /// exactly as OpenSSH's `bcrypt_pbkdf()` does.
    ///
    /// - Parameters:
    ///   - passphrase: The passphrase's bytes (UTF-8 for a typed one).
    ///   - salt: The salt stored in the key file.
    ///   - rounds: The round count stored in the key file.
    ///   - outputByteCount: How many bytes to derive: a cipher's key and IV together.
    /// - Returns: `outputByteCount` bytes of key material.
    /// - Throws: `BcryptPBKDFError` for an empty passphrase or salt, a salt over 1 MiB,
    ///   rounds outside 1...UInt32.max, or an output size outside 1...1024. It never traps on
    ///   its input. The cost is `rounds * ceil(outputByteCount / stride)` bcrypt hashes, so
    ///   callers that read `rounds` from an untrusted file may want their own upper bound.
    public static func deriveKey(
        passphrase: [UInt8],
        salt: [UInt8],
        rounds: Int,
        outputByteCount: Int
    ) throws -> [UInt8] {
        guard rounds >= 1, rounds <= maximumRounds else {
            throw BcryptPBKDFError.roundsOutOfRange(rounds)
        }
        guard !passphrase.isEmpty else { throw BcryptPBKDFError.emptyPassphrase }
        guard !salt.isEmpty else { throw BcryptPBKDFError.emptySalt }
        guard salt.count <= maximumSaltByteCount else {
            throw BcryptPBKDFError.saltTooLong(byteCount: salt.count)
        }
        guard outputByteCount >= 1, outputByteCount <= maximumOutputByteCount else {
            throw BcryptPBKDFError.outputByteCountOutOfRange(outputByteCount)
        }

        let stride = (outputByteCount + hashByteCount - 1) / hashByteCount
        let amount = (outputByteCount + stride - 1) / stride
        var passphraseHash = Array(SHA512.hash(data: passphrase))
        var output = [UInt8](repeating: 0, count: outputByteCount)
        var block = [UInt8](repeating: 0, count: hashByteCount)
        var roundOutput = [UInt8](repeating: 0, count: hashByteCount)
        defer {
            // Best effort: do not leave key material behind in these buffers.
            passphraseHash.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            block.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            roundOutput.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }

        // Block `counter` fills output positions counter - 1, counter - 1 + stride, ..., so
        // blocks 1...stride fill every position exactly once (OpenSSH stops when it has
        // written outputByteCount bytes, which is after the same `stride` blocks).
        var counter: UInt32 = 1
        while Int(counter) <= stride {
            var saltHasher = SHA512()
            saltHasher.update(data: salt)
            saltHasher.update(data: [
                UInt8(truncatingIfNeeded: counter >> 24), UInt8(truncatingIfNeeded: counter >> 16),
                UInt8(truncatingIfNeeded: counter >> 8), UInt8(truncatingIfNeeded: counter),
            ])
            var saltHash = Array(saltHasher.finalize())

            bcryptHash(passwordHash: passphraseHash, saltHash: saltHash, into: &roundOutput)
            block = roundOutput
            var round = 1
            while round < rounds {
                saltHash = Array(SHA512.hash(data: roundOutput))
                bcryptHash(passwordHash: passphraseHash, saltHash: saltHash, into: &roundOutput)
                for j in 0..<hashByteCount {
                    block[j] ^= roundOutput[j]
                }
                round += 1
            }
            saltHash.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }

            for i in 0..<amount {
                let destination = i * stride + Int(counter) - 1
                if destination >= outputByteCount { break }
                output[destination] = block[i]
            }
            counter += 1
        }
        return output
    }

    /// The bcrypt-derived hash of a 64-byte password hash and a 64-byte salt hash, written
    /// into `out` (32 bytes).
    static func bcryptHash(passwordHash: [UInt8], saltHash: [UInt8], into out: inout [UInt8]) {
        var state = Blowfish()
        state.expand(salt: saltHash, key: passwordHash)
        for _ in 0..<64 {
            state.expand(key: saltHash)
            state.expand(key: passwordHash)
        }

        var words = magicWords
        for _ in 0..<64 {
            state.encrypt(blocks: &words)
        }
        for i in 0..<8 {
            let word = words[i]
            out[4 * i] = UInt8(truncatingIfNeeded: word)
            out[4 * i + 1] = UInt8(truncatingIfNeeded: word >> 8)
            out[4 * i + 2] = UInt8(truncatingIfNeeded: word >> 16)
            out[4 * i + 3] = UInt8(truncatingIfNeeded: word >> 24)
        }
        words.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        state.wipe()
    }
}
