// Fuzzes private key file parsing in SSHKeys: the armoured file (openssh-key-v1, PKCS#1, SEC1, PKCS#8) through
// SSHKeyFile, and the same bytes as a raw openssh-key-v1 body through OpenSSHPrivateKeyFormat, where most of
// the structure is. Thrown errors are fine; traps are not. A key that parses must match its public half,
// round-trip through encode/decode, and make signatures its public key accepts.
//
// bcrypt-pbkdf costs `rounds` (up to 1 << 20, the library's cap) expensive Blowfish key setups, so the
// passphrase ("x") is only tried on inputs under 4 KiB whose KDF asks for at most `maximumRounds` rounds; the
// round count is read with the library's own (internal, hence @testable) armour and header parsers, so this
// gate sees exactly what decoding will see.

import CLibFuzzerDriver
@testable import SSHKeys

/// One round exercises every line of the KDF; more would only cost time (~35 ms per round per execution here).
let maximumRounds = 1
let maximumPassphraseInputSize = 4096
let passphrase = "x"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    fuzzArmouredFile(bytes)
    fuzzFileBody(bytes)
    return 0
}

@_cdecl("FuzzPrivateKey_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    shh_fuzz_run_driver(argc, argv, fuzzOneInput)
}

/// The bytes as a key file, the way `shh-keygen` and the client read one.
func fuzzArmouredFile(_ bytes: [UInt8]) {
    let publicKey = SSHKeyFile.publicKeyInPrivateKeyFile(bytes)
    if let publicKey {
        check((try? SSHPublicKey(wireBlob: publicKey.wireBlob)) == publicKey, "the file's public key does not re-parse")
    }
    if let key = try? SSHKeyFile.parsePrivateKey(bytes, passphrase: nil) {
        check(publicKey == nil || publicKey == key.publicKey, "the private key does not match the file's public key")
        checkKey(key)
    }
    if SSHKeyFile.isEncryptedPrivateKey(bytes), bytes.count < maximumPassphraseInputSize, kdfIsCheap(armoured: bytes) {
        if let key = try? SSHKeyFile.parsePrivateKey(bytes, passphrase: passphrase) {
            check(publicKey == nil || publicKey == key.publicKey, "the decrypted key does not match the file's public key")
            checkKey(key)
        }
    }
}

/// The bytes as the base64-decoded body of an openssh-key-v1 file.
func fuzzFileBody(_ bytes: [UInt8]) {
    let publicKey = try? OpenSSHPrivateKeyFormat.publicKey(fromFileBody: bytes)
    let encrypted = try? OpenSSHPrivateKeyFormat.isEncrypted(fileBody: bytes)
    check((publicKey == nil) == (encrypted == nil), "publicKey(fromFileBody:) and isEncrypted(fileBody:) disagree on the header")
    if let key = try? OpenSSHPrivateKeyFormat.decode(fileBody: bytes, passphrase: nil) {
        check(encrypted == false, "an encrypted body decoded without a passphrase")
        check(publicKey == key.publicKey, "the private key does not match the body's public key")
        checkKey(key)
    }
    if encrypted == true, bytes.count < maximumPassphraseInputSize, kdfIsCheap(body: bytes) {
        if let key = try? OpenSSHPrivateKeyFormat.decode(fileBody: bytes, passphrase: passphrase) {
            check(publicKey == key.publicKey, "the decrypted key does not match the body's public key")
            checkKey(key)
        }
    }
}

func kdfIsCheap(armoured bytes: [UInt8]) -> Bool {
    guard let text = String(validating: bytes, as: UTF8.self), let block = try? PEMArmor.parse(text) else { return false }
    // Legacy PEM files never reach a KDF (encrypted ones are refused before any key derivation).
    guard block.label == OpenSSHPrivateKeyFormat.pemLabel else { return true }
    return kdfIsCheap(body: block.body)
}

func kdfIsCheap(body: [UInt8]) -> Bool {
    guard let header = try? OpenSSHPrivateKeyFormat.Header(body) else { return true }  // fails before the KDF
    return header.kdfRounds <= maximumRounds
}

/// What must hold for any key that parsed.
func checkKey(_ key: SSHPrivateKey) {
    let publicKey = key.publicKey
    check((try? SSHPublicKey(wireBlob: publicKey.wireBlob)) == publicKey, "the key's public half does not re-parse")

    // Unencrypted re-encoding decodes to the same key (ssh-keygen -p and format conversions depend on it).
    do {
        let body = try OpenSSHPrivateKeyFormat.encode(key, passphrase: nil)
        let again = try OpenSSHPrivateKeyFormat.decode(fileBody: body, passphrase: nil)
        check(again.publicKey == publicKey && again.comment == key.comment, "encode/decode changed the key")
    } catch {
        check(false, "a parsed key cannot be re-encoded and decoded: \(error)")
    }

    // The private half signs what the public half verifies (big RSA keys are skipped: too slow per execution).
    if publicKey.type != .rsa || publicKey.bitCount <= 2048 {
        let message = Array("fuzz".utf8)
        for algorithm in publicKey.type.signatureAlgorithms where algorithm != .rsaSHA1 {
            guard let signature = try? key.signature(for: message, algorithm: algorithm) else {
                check(false, "a parsed \(publicKey.type.rawValue) key cannot sign with \(algorithm.rawValue)")
                return
            }
            check(publicKey.isValidSignature(signature, for: message), "a parsed key's signature does not verify")
        }
    }
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("SSHKeys private key check failed: \(message())") }
}
