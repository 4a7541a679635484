// Known-answer tests for Blowfish (Eric Young's published ECB test vectors, from
// Schneier's Blowfish test-vector page) and for OpenSSH's bcrypt_pbkdf (outputs of
// Python's `bcrypt.kdf(password, salt, desired_key_bytes, rounds, ignore_few_rounds=True)`,
// bcrypt 5.0.0, whose kdf implements the same OpenBSD function; the "password"/"salt"/4/32
// case is also the vector commonly published with bcrypt_pbkdf implementations).

import Testing
@testable import SSHKeys

private func bytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    precondition(digits.count % 2 == 0, "odd hex string in test data")
    func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: preconditionFailure("bad hex digit in test data")
        }
    }
    return stride(from: 0, to: digits.count, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
}

private func hex(_ data: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in data {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

private func word(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    bytes.reduce(0) { $0 << 8 | UInt32($1) }
}

@Suite("Blowfish and bcrypt_pbkdf", .timeLimit(.minutes(10)))
struct BcryptPBKDFTests {
    // MARK: Blowfish

    @Test("initial state is the hex digits of pi")
    func initialState() {
        let state = Blowfish()
        #expect(state.p.count == 18)
        #expect(state.s.count == 1024)
        #expect(state.p[0] == 0x243F_6A88)
        #expect(state.p[17] == 0x8979_FB1B)
        #expect(state.s[0] == 0xD131_0BA6)  // S0[0]
        #expect(state.s[256] == 0x4B7A_70E9)  // S1[0]
        #expect(state.s[512] == 0xE93D_5A68)  // S2[0]
        #expect(state.s[768] == 0x3A39_CE37)  // S3[0]
        #expect(state.s[1023] == 0x3AC3_72E6)  // S3[255]
    }

    struct ECBVector: Sendable, CustomTestStringConvertible {
        let key: String
        let plaintext: String
        let ciphertext: String
        var testDescription: String { "key \(key)" }
    }

    // Eric Young's Blowfish ECB vectors (fixed 8-byte keys), and his variable-key-length set:
    // prefixes of F0E1D2C3B4A5968778695A4B3C2D1E0F0011223344556677, plaintext FEDCBA9876543210.
    // (Cross-checked with pyca/cryptography's Blowfish.)
    static let ecbVectors: [ECBVector] = [
        .init(key: "0000000000000000", plaintext: "0000000000000000", ciphertext: "4EF997456198DD78"),
        .init(key: "FFFFFFFFFFFFFFFF", plaintext: "FFFFFFFFFFFFFFFF", ciphertext: "51866FD5B85ECB8A"),
        .init(key: "3000000000000000", plaintext: "1000000000000001", ciphertext: "7D856F9A613063F2"),
        .init(key: "1111111111111111", plaintext: "1111111111111111", ciphertext: "2466DD878B963C9D"),
        .init(key: "0123456789ABCDEF", plaintext: "1111111111111111", ciphertext: "61F9C3802281B096"),
        .init(key: "FEDCBA9876543210", plaintext: "0123456789ABCDEF", ciphertext: "0ACEAB0FC6A0A28D"),
        .init(key: "7CA110454A1A6E57", plaintext: "01A1D6D039776742", ciphertext: "59C68245EB05282B"),
        .init(key: "0131D9619DC1376E", plaintext: "5CD54CA83DEF57DA", ciphertext: "B1B8CC0B250F09A0"),
        .init(key: "F0E1D2C3B4", plaintext: "FEDCBA9876543210", ciphertext: "B39E44481BDB1E6E"),
        .init(key: "F0E1D2C3B4A596", plaintext: "FEDCBA9876543210", ciphertext: "8BB77032F960629D"),
        .init(key: "F0E1D2C3B4A5968778695A4B3C2D1E0F", plaintext: "FEDCBA9876543210", ciphertext: "93142887EE3BE15C"),
        .init(
            key: "F0E1D2C3B4A5968778695A4B3C2D1E0F0011223344556677",
            plaintext: "FEDCBA9876543210", ciphertext: "05044B62FA52D080"
        ),
    ]

    @Test("Blowfish ECB known answers", arguments: ecbVectors)
    func blowfishECB(_ vector: ECBVector) {
        let cipher = Blowfish(key: bytes(vector.key))
        let plain = bytes(vector.plaintext)
        var l = word(plain[0..<4])
        var r = word(plain[4..<8])
        cipher.encrypt(&l, &r)
        #expect(String(l, radix: 16, uppercase: true).leftPadded(8) + String(r, radix: 16, uppercase: true).leftPadded(8)
            == vector.ciphertext)

        var blocks = [word(plain[0..<4]), word(plain[4..<8])]
        cipher.encrypt(blocks: &blocks)
        #expect(blocks == [l, r])
    }

    @Test("expand(salt:key:) with an empty salt is expand(key:); empty inputs do not trap")
    func expandEdgeCases() {
        let key = bytes("0123456789ABCDEF")
        var salted = Blowfish()
        salted.expand(salt: [], key: key)
        #expect(salted.p == Blowfish(key: key).p)
        #expect(salted.s == Blowfish(key: key).s)

        var empty = Blowfish()
        empty.expand(key: [])
        var zeros = Blowfish()
        zeros.expand(key: [0, 0, 0, 0])
        #expect(empty.p == zeros.p)
        #expect(empty.s == zeros.s)
    }

    @Test("the salt changes the eksblowfish state")
    func saltMatters() {
        var a = Blowfish()
        a.expand(salt: [1], key: [2])
        var b = Blowfish()
        b.expand(salt: [3], key: [2])
        #expect(a.p != b.p)
    }

    // MARK: bcrypt_pbkdf

    struct KDFVector: Sendable, CustomTestStringConvertible {
        let passphrase: String  // hex
        let salt: String  // hex
        let rounds: Int
        let output: String  // hex; its length is the output byte count
        var testDescription: String { "\(passphrase.count / 2)-byte passphrase, \(rounds) rounds, \(output.count / 2) bytes" }
    }

    static let kdfVectors: [KDFVector] = [
        // "password", "salt", 4 rounds, 32 bytes: the commonly published vector.
        .init(
            passphrase: "70617373776f7264", salt: "73616c74", rounds: 4,
            output: "5bbf0cc293587f1c3635555c27796598d47e579071bf427e9d8fbe842aba34d9"
        ),
        .init(
            passphrase: "70617373776f7264", salt: "73616c74", rounds: 1,
            output: "7af41469e52860da49debfaa6a4e12a2cb857b907b2bb20d2902a9ccd424adb1"
        ),
        // One-byte passphrase "a", 16 zero bytes of salt (ssh-keygen's salt size).
        .init(
            passphrase: "61", salt: "00000000000000000000000000000000", rounds: 1,
            output: "b68157985ecea28961ebdbad9480c43c2fd2b6c3628253e4664dd3e286dc5672"
                + "c689950615efbd2c0c8a4beb01bed4ec"
        ),
        // ssh-keygen's defaults: 16 rounds, 48 bytes (aes256-ctr key + IV).
        .init(
            passphrase: "636f727265637420686f727365206261747465727920737461706c65",
            salt: "000102030405060708090a0b0c0d0e0f", rounds: 16,
            output: "800e37c007983f658e60a0bb3d6d9da43b1adf37371d89ce9a5506d6ed3efcf9"
                + "1f79d8b9d7617ea8f98bf45c362a3153"
        ),
        .init(
            passphrase: "00010203", salt: "ffffffffffffffffffffffffffffffff", rounds: 4,
            output: "bf9748b2ca46fea5cc5a2126ed5b689d495e776a351a628634f887ef611b708e"
                + "4a246aa12bdca49c648fa37fc177f3d49a7ef5bc4faa76e54ecf4c99353368d7"
        ),
        // 100-byte passphrase ("A" * 100), 88 bytes (chacha20-poly1305 would take 64; 88 = 3 blocks).
        .init(
            passphrase: String(repeating: "41", count: 100), salt: "73616c7473616c7473616c7473616c74", rounds: 1,
            output: "6e46a80754152dfd0cc24ad92f628477fb2a5af99ef3f16e81c45736d1ebad22"
                + "df9fb74053e7dd41c5254bc3b7b453d4abc22cf73876768794c5aec756b03d6a"
                + "eb65c26c60a4877ee9a08e9c5dc3cfee1365c1daa71b0714"
        ),
        // UTF-8 "pässwörd", 1-byte salt "s", 17 bytes (an output that is not a multiple of 4 or 32).
        .init(passphrase: "70c3a4737377c3b67264", salt: "73", rounds: 4, output: "a030a188924d960bea3806ffdd97cffe90"),
        // A single output byte.
        .init(passphrase: "736563726574", salt: "000102030405060708090a0b0c0d0e0f", rounds: 2, output: "2b"),
        // 33 bytes: stride 2, the second block contributes one byte fewer than the first.
        .init(
            passphrase: String(repeating: "78", count: 72) + "797a", salt: "30313233343536373839616263646566", rounds: 1,
            output: "2c3ad8ada7a711f5d7f472772560ec4b2ad7e5e63804920100b768275b889d6fd8"
        ),
        // 512 bytes (the largest Python's bcrypt produces): 16 interleaved blocks.
        .init(
            passphrase: String(repeating: "78", count: 72) + "797a", salt: "30313233343536373839616263646566", rounds: 1,
            output: BcryptPBKDFTests.vector512
        ),
    ]

    static let vector512 =
        "2c3a58de302f4bc11a04c317888c89edd8ad3076a34d6df31e85803436fa0b16"
        + "a7a79c3332526ad62b966e1e468b61b811f5625b49d8d3265c7abe1dcb9ab13d"
        + "d7f4032b34a24a28eeabdb3aed0573d67277340e34577c4f84bad8b8e6988e49"
        + "256092cf0052034d1a63ee691bac3ecfec4ba9e87c19ad0c82d026ba48c23fb6"
        + "2ad73446445dfa30647c8e6b67589ce2e5e6055bc3ea6bad50d04c5b882be152"
        + "380456b4ee72bc25502960f058bffaf392018de6bfcc666c88e368a36860c236"
        + "00b7411d922c7edce7053b668187d9a368277b85245bfee7586f53cc0e535738"
        + "5b885d71c973da3f94ab9f98db970cdc9d6f34ed1c659e0eb40bf6fa7f6a9e99"
        + "d8893501b16970bdae07649942e54c06910b9190c76433e2e6671627dfffc557"
        + "278792a24ee24914bddbeef751136090c2cb0dccce60d61705b162c874bd596c"
        + "e8bd274c85dfa4880a703bc403b485de6e7876e652fec44fc8c2f941004bf263"
        + "cc5fcc73e96446f8b1b15ae419b76728abad2723054d0f08bffb735723a1289e"
        + "23347e1672b547a58a375fb497ad11c149aa4d1d9d2487d8678513c9acf7047c"
        + "48de3d4de3a27131a1483abf490ccae496caae3ea801f51b695652cc01dbbbea"
        + "d0171a96f0e999181c04b78558910d403b629b99e8f6c894ff30385e116ef6cd"
        + "a0e027e71fea34fa7719c22707c27f7239da0d799d64324cd39777cf07e77ca5"

    @Test("bcrypt_pbkdf known answers", arguments: kdfVectors)
    func knownAnswer(_ vector: KDFVector) throws {
        let derived = try BcryptPBKDF.deriveKey(
            passphrase: bytes(vector.passphrase),
            salt: bytes(vector.salt),
            rounds: vector.rounds,
            outputByteCount: vector.output.count / 2
        )
        #expect(hex(derived) == vector.output)
    }

    /// No independent implementation at hand produces 1024 bytes, but the blocks do not depend
    /// on the output size: with stride 32, output[c - 1 + 32 i] is byte i of block c, and the
    /// 512-byte vector (stride 16) holds blocks 1...16 whole at [c - 1 + 16 i].
    @Test("1024-byte output interleaves the same blocks as the 512-byte vector")
    func maximumOutput() throws {
        let full = try BcryptPBKDF.deriveKey(
            passphrase: Array(repeating: 0x78, count: 72) + [0x79, 0x7A],
            salt: Array("0123456789abcdef".utf8),
            rounds: 1,
            outputByteCount: 1024
        )
        #expect(full.count == 1024)
        let half = bytes(Self.vector512)
        for block in 1...16 {
            for i in 0..<32 {
                #expect(full[block - 1 + 32 * i] == half[block - 1 + 16 * i])
            }
        }
    }

    // MARK: Parameter errors

    @Test("invalid parameters throw, naming the problem")
    func parameterErrors() {
        let salt = Array("salt".utf8)
        let pass = Array("pw".utf8)
        #expect(throws: BcryptPBKDFError.emptyPassphrase) {
            try BcryptPBKDF.deriveKey(passphrase: [], salt: salt, rounds: 4, outputByteCount: 32)
        }
        #expect(throws: BcryptPBKDFError.emptySalt) {
            try BcryptPBKDF.deriveKey(passphrase: pass, salt: [], rounds: 4, outputByteCount: 32)
        }
        #expect(throws: BcryptPBKDFError.saltTooLong(byteCount: (1 << 20) + 1)) {
            try BcryptPBKDF.deriveKey(
                passphrase: pass, salt: Array(repeating: 0, count: (1 << 20) + 1), rounds: 1, outputByteCount: 32)
        }
        for rounds in [0, -1, Int.min, Int(UInt32.max) + 1, Int.max] {
            #expect(throws: BcryptPBKDFError.roundsOutOfRange(rounds)) {
                try BcryptPBKDF.deriveKey(passphrase: pass, salt: salt, rounds: rounds, outputByteCount: 32)
            }
        }
        for count in [0, -1, 1025, Int.max, Int.min] {
            #expect(throws: BcryptPBKDFError.outputByteCountOutOfRange(count)) {
                try BcryptPBKDF.deriveKey(passphrase: pass, salt: salt, rounds: 1, outputByteCount: count)
            }
        }
        #expect(BcryptPBKDFError.emptyPassphrase.description.contains("passphrase"))
        #expect(BcryptPBKDFError.roundsOutOfRange(0).description.contains("0 rounds"))
        #expect(BcryptPBKDFError.outputByteCountOutOfRange(2000).description.contains("2000"))
    }

    @Test("a 1 MiB salt (OpenSSH's limit) is accepted")
    func largestSalt() throws {
        let key = try BcryptPBKDF.deriveKey(
            passphrase: [1], salt: Array(repeating: 7, count: 1 << 20), rounds: 1, outputByteCount: 1)
        #expect(key.count == 1)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
