// Keys made by the real ssh-keygen (Tests/Fixtures/keys) load, match their .pub files and fingerprints,
// and the files we cannot use fail with the reason a user needs.

import Foundation
import SSHKeys
import Testing

@Suite("Keys made by OpenSSH's ssh-keygen", .timeLimit(.minutes(10)))
struct FixtureKeyTests {
    @Test("unencrypted keys load and match their .pub line", arguments: plainFixtureKeys)
    func plainKeys(name: String) throws {
        let key = try SSHKeyFile.parsePrivateKey(try fixture(name))
        let line = try SSHPublicKeyLine(parsing: try fixtureText("\(name).pub"))
        #expect(key.publicKey == line.key)
        // PEM formats carry no comment; openssh-key-v1 keeps the one ssh-keygen wrote.
        if !name.contains("pkcs") && !name.contains("sec1") {
            #expect(key.comment == "fixture-\(name)")
        }
    }

    @Test("encrypted keys load with the passphrase, whatever the cipher", arguments: encryptedFixtureKeys)
    func encryptedKeys(name: String) throws {
        let contents = try fixture(name)
        #expect(SSHKeyFile.isEncryptedPrivateKey(contents))
        #expect(throws: SSHKeyError(.passphraseRequired)) { try SSHKeyFile.parsePrivateKey(contents) }
        #expect(throws: SSHKeyError(.incorrectPassphrase)) { try SSHKeyFile.parsePrivateKey(contents, passphrase: "wrong") }
        let key = try SSHKeyFile.parsePrivateKey(contents, passphrase: fixturePassphrase)
        #expect(key.publicKey == (try SSHPublicKeyLine(parsing: try fixtureText("\(name).pub"))).key)
        #expect(key.comment == "fixture-\(name)")
        // The public half is in clear in openssh-key-v1, so fingerprints need no passphrase.
        #expect(SSHKeyFile.publicKeyInPrivateKeyFile(contents) == key.publicKey)
    }

    @Test("fingerprints equal ssh-keygen -l for SHA256 and MD5", arguments: plainFixtureKeys + encryptedFixtureKeys)
    func fingerprints(name: String) throws {
        let line = try SSHPublicKeyLine(parsing: try fixtureText("\(name).pub"))
        let comment = line.comment.isEmpty ? "no comment" : line.comment
        let expected = { (hash: SSHFingerprintHash) in
            "\(line.key.bitCount) \(line.key.fingerprint(hash)) \(comment) (\(line.key.type.displayName))\n"
        }
        #expect(expected(.sha256) == (try fixtureText("\(name).expected-l-sha256")))
        #expect(expected(.md5) == (try fixtureText("\(name).expected-l-md5")))
        let art = try fixtureText("\(name).expected-lv-sha256").split(separator: "\n", maxSplits: 1)[1]
        #expect(line.key.randomArt(.sha256) + "\n" == art)
    }

    @Test("a 1024-bit RSA key is refused, naming its size")
    func smallRSA() throws {
        let error = #expect(throws: SSHKeyError.self) { try SSHKeyFile.parsePrivateKey(try fixture("rsa1024")) }
        #expect(error?.code == .unsupportedRSAKeySize(bits: 1024))
        #expect(error?.reason.contains("1024 bits") == true)
        #expect(throws: SSHKeyError(.unsupportedRSAKeySize(bits: 1024))) {
            try SSHPublicKeyLine(parsing: try fixtureText("rsa1024.pub"))
        }
    }

    @Test("a 16384-bit RSA key (OpenSSH's largest) is listed and fingerprinted but never used")
    func largestOpenSSHRSA() throws {
        let line = try SSHPublicKeyLine(parsing: try fixtureText("rsa16384.pub"))
        #expect(line.key.bitCount == 16384)
        #expect(!line.key.canVerifySignatures)
        #expect("\(line.key.bitCount) \(line.key.fingerprint()) \(line.comment) (RSA)\n" == (try fixtureText("rsa16384.expected-l-sha256")))
        let signature = SSHSignature(algorithmName: "rsa-sha2-512", rawSignature: [UInt8](repeating: 1, count: 2048))
        #expect(!line.key.isValidSignature(signature, for: [1]))
        #expect(throws: SSHKeyError(.unsupportedRSAKeySize(bits: 16384))) { try SSHKeyFile.parsePrivateKey(try fixture("rsa16384")) }
    }

    @Test("a chacha20-poly1305 encrypted key is refused by cipher name")
    func unsupportedCipher() throws {
        #expect(throws: SSHKeyError(.unsupportedCipher("chacha20-poly1305@openssh.com"))) {
            try SSHKeyFile.parsePrivateKey(try fixture("ed25519-chacha20-poly1305"), passphrase: fixturePassphrase)
        }
    }

    @Test("encrypted legacy PEM is refused with a way out")
    func encryptedPEM() throws {
        let error = #expect(throws: SSHKeyError.self) {
            try SSHKeyFile.parsePrivateKey(try fixture("rsa2048-pkcs1-enc"), passphrase: fixturePassphrase)
        }
        #expect(error?.code == .encryptedPEMUnsupported)
        #expect(error?.reason.contains("ssh-keygen -p") == true)
    }

    @Test("SSHSIG signatures made by ssh-keygen -Y sign verify", arguments: ["ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa3072"])
    func openSSHSignatures(name: String) throws {
        let signature = try SSHSIG.parse(armored: try fixtureText("message-\(name).txt.sig"))
        let message = try fixture("message.txt")
        let hash = SSHSIG.HashAlgorithm.sha512
        #expect(signature.hashAlgorithm == hash)
        let digest = { (bytes: [UInt8]) -> [UInt8] in
            var hasher = SSHSIG.MessageHasher(algorithm: hash)
            hasher.update(bytes)
            return hasher.finalize()
        }
        try SSHSIG.verify(signature, messageHash: digest(message), namespace: "file")
        #expect(throws: SSHKeyError.self) { try SSHSIG.verify(signature, messageHash: digest(message + [0x0A]), namespace: "file") }
        #expect(throws: SSHKeyError.self) { try SSHSIG.verify(signature, messageHash: digest(message), namespace: "git") }
        #expect(signature.publicKey == (try SSHPublicKeyLine(parsing: try fixtureText("\(name).pub"))).key)
    }

    @Test("deterministic signatures are byte-identical to OpenSSH's (ed25519, rsa-sha2-512)", arguments: ["ed25519", "rsa3072"])
    func identicalSignatures(name: String) throws {
        let key = try SSHKeyFile.parsePrivateKey(try fixture(name))
        var hasher = SSHSIG.MessageHasher(algorithm: .sha512)
        hasher.update(try fixture("message.txt"))
        let ours = try SSHSIG.sign(messageHash: hasher.finalize(), namespace: "file", key: key)
        #expect(ours == (try fixtureText("message-\(name).txt.sig")))
    }
}
