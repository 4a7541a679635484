import Foundation

/// The repository's Tests/Fixtures/keys directory (fixtures made by OpenSSH's ssh-keygen; see Scripts/make-fixtures.sh).
let fixtureDirectory: String = {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/keys").path
}()

let fixturePassphrase = "correct horse"

func fixture(_ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: "\(fixtureDirectory)/\(name)")))
}

func fixtureText(_ name: String) throws -> String {
    String(decoding: try fixture(name), as: UTF8.self)
}

/// Hex for test vectors; test data only, so bad digits are a bug in the test.
func hexBytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.lowercased().utf8).filter { $0 != UInt8(ascii: " ") }
    func nibble(_ c: UInt8) -> UInt8 { c <= UInt8(ascii: "9") ? c - UInt8(ascii: "0") : c - UInt8(ascii: "a") + 10 }
    return stride(from: 0, to: digits.count - 1, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
}

/// Fixture key names (private key files with a .pub beside them), with whether they are encrypted.
let plainFixtureKeys = ["ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa2048", "rsa3072", "rsa4096", "rsa8192",
                        "rsa2048-pkcs1", "ecdsa256-sec1", "ecdsa384-sec1", "rsa2048-pkcs8", "ecdsa521-pkcs8"]
let encryptedFixtureKeys = ["ed25519-enc", "ecdsa256-enc", "ecdsa384-enc", "ecdsa521-enc", "rsa3072-enc",
                            "ecdsa256-enc-rounds4", "ed25519-aes128-ctr", "ed25519-aes192-ctr", "ed25519-aes128-cbc",
                            "ed25519-aes256-cbc", "ed25519-aes128-gcm", "ed25519-aes256-gcm"]
