// Writing and re-reading openssh-key-v1 files, public key lines, and every kind of bad input a user can hand us.

import Foundation
import SSHKeys
import Testing

@Suite("Key files", .timeLimit(.minutes(10)))
struct KeyFileTests {
    @Test("generated keys survive writing and reading, plain and encrypted with each cipher", arguments: [
        (SSHKeyType.ed25519, nil as Int?), (.ecdsaP256, nil), (.ecdsaP384, 384), (.ecdsaP521, 521), (.rsa, 2048),
    ])
    func roundTrip(type: SSHKeyType, bits: Int?) throws {
        var key = try SSHPrivateKey.generate(type: type, bits: bits)
        key.comment = "user@example — ünïcode"
        let plain = try OpenSSHPrivateKeyFormat.fileText(key, passphrase: nil)
        #expect(plain.hasPrefix("-----BEGIN OPENSSH PRIVATE KEY-----\n"))
        #expect(plain.split(separator: "\n").allSatisfy { $0.count <= 70 })
        let reread = try SSHKeyFile.parsePrivateKey(Array(plain.utf8))
        #expect(reread.publicKey == key.publicKey)
        #expect(reread.comment == key.comment)
        let message = Array("m".utf8)
        #expect(key.publicKey.isValidSignature(try reread.signature(for: message), for: message))

        for cipher in OpenSSHPrivateKeyFormat.supportedCipherNames {
            let text = try OpenSSHPrivateKeyFormat.fileText(key, passphrase: "pw", cipherName: cipher, kdfRounds: 2)
            #expect(SSHKeyFile.isEncryptedPrivateKey(Array(text.utf8)))
            #expect(try SSHKeyFile.parsePrivateKey(Array(text.utf8), passphrase: "pw").publicKey == key.publicKey)
            #expect(throws: SSHKeyError(.incorrectPassphrase)) { try SSHKeyFile.parsePrivateKey(Array(text.utf8), passphrase: "pW") }
        }
    }

    @Test("public key lines parse, print back and reject a type that lies")
    func publicKeyLines() throws {
        let text = try fixtureText("ed25519.pub").trimmingCharacters(in: .newlines)
        let line = try SSHPublicKeyLine(parsing: text + "\r\n")
        #expect(line.text == text)
        #expect(line.comment == "fixture-ed25519")
        let noComment = try SSHPublicKeyLine(parsing: line.key.description)
        #expect(noComment.comment.isEmpty)
        let lying = text.replacingOccurrences(of: "ssh-ed25519 ", with: "ssh-rsa ")
        #expect(throws: SSHKeyError.self) { try SSHPublicKeyLine(parsing: lying) }
        #expect(throws: SSHKeyError(.unsupportedKeyType("ssh-dss"))) { try SSHPublicKeyLine(parsing: "ssh-dss AAAA") }
    }

    @Test("empty, junk and wrong-type contents fail cleanly", arguments: [
        ("empty", [UInt8]()),
        ("text", Array("hello world\n".utf8)),
        ("binary", (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }),
        ("armour only", Array("-----BEGIN OPENSSH PRIVATE KEY-----\n-----END OPENSSH PRIVATE KEY-----\n".utf8)),
        ("bad base64", Array("-----BEGIN OPENSSH PRIVATE KEY-----\n!!!!\n-----END OPENSSH PRIVATE KEY-----\n".utf8)),
        ("unknown PEM", Array("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".utf8)),
    ])
    func junk(label: String, contents: [UInt8]) {
        #expect(throws: SSHKeyError.self, "\(label)") { try SSHKeyFile.parsePrivateKey(contents) }
        #expect(!SSHKeyFile.isEncryptedPrivateKey(contents))
    }

    @Test("a public key file offered as a private key is refused")
    func publicAsPrivate() throws {
        #expect(throws: SSHKeyError.self) { try SSHKeyFile.parsePrivateKey(try fixture("ed25519.pub")) }
    }

    @Test("every truncation of a key file fails without trapping", arguments: ["ed25519", "ecdsa384", "rsa2048", "ed25519-enc"])
    func truncations(name: String) throws {
        let whole = try fixture(name)
        let passphrase = name.hasSuffix("enc") ? fixturePassphrase : nil
        // Every prefix up to the last line; skipping the costly KDF on most of them keeps this quick.
        for length in stride(from: 0, to: whole.count - 40, by: passphrase == nil ? 1 : 97) {
            #expect(throws: SSHKeyError.self) { try SSHKeyFile.parsePrivateKey(Array(whole[..<length]), passphrase: passphrase) }
        }
    }

    @Test("every single-byte corruption of the decoded body is caught or harmless", arguments: ["ed25519", "ecdsa256"])
    func corruptions(name: String) throws {
        let text = try fixtureText(name)
        let base64 = text.split(separator: "\n").dropFirst().dropLast().joined()
        let body = Array(Data(base64Encoded: base64)!)
        let original = try OpenSSHPrivateKeyFormat.decode(fileBody: body, passphrase: nil)
        for index in body.indices {
            var corrupted = body
            corrupted[index] ^= 0x41
            if let key = try? OpenSSHPrivateKeyFormat.decode(fileBody: corrupted, passphrase: nil) {
                // Only the comment or the check words' twin can change without detection; the key itself cannot.
                #expect(key.publicKey == original.publicKey, "byte \(index)")
            }
        }
    }

    @Test("a 100 MB file is refused quickly without being read whole")
    func hugeFile() throws {
        let path = NSTemporaryDirectory() + "shh-huge-\(UUID().uuidString)"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 100_000_000)
        try handle.close()
        let started = Date()
        let error = #expect(throws: SSHKeyError.self) { try SSHKeyFile.loadPrivateKey(atPath: path) }
        #expect(error?.code == .fileTooLarge(bytes: 100_000_000))
        #expect(error?.path == path)
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test("a missing file names the path and the reason")
    func missingFile() {
        let error = #expect(throws: SSHKeyError.self) { try SSHKeyFile.loadPrivateKey(atPath: "/nonexistent/shh-key") }
        #expect(error?.description == "/nonexistent/shh-key: No such file or directory")
    }

    @Test("key generation refuses sizes ssh-keygen refuses")
    func generationSizes() {
        #expect(throws: SSHKeyError.self) { try SSHPrivateKey.generate(type: .rsa, bits: 1024) }
        #expect(throws: SSHKeyError.self) { try SSHPrivateKey.generate(type: .rsa, bits: 16385) }
        #expect(throws: SSHKeyError.self) { try SSHPrivateKey.generate(type: .ecdsaP256, bits: 300) }
    }
}

@Suite("Patterns and allowed_signers", .timeLimit(.minutes(10)))
struct AllowedSignersTests {
    @Test("glob patterns and negation", arguments: [
        ("alice@example.com", "*@example.com", OpenSSHPattern.ListMatch.matched),
        ("alice@example.com", "bob@*,alice@ex?mple.com", .matched),
        ("alice@example.com", "*,!alice@*", .negated),
        ("alice", "bob", .noMatch),
        ("", "*", .matched),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*a*a*a*c", .noMatch),
    ])
    func patterns(text: String, list: String, expected: OpenSSHPattern.ListMatch) {
        #expect(OpenSSHPattern.matchList(text, patternList: list) == expected)
    }

    @Test("entries, options and validity windows")
    func entries() throws {
        let key = try SSHPublicKeyLine(parsing: try fixtureText("ed25519.pub")).key
        let other = try SSHPublicKeyLine(parsing: try fixtureText("ecdsa256.pub")).key
        let text = """
            # comment
            alice@example.com \(key.description)
            "bob@example.com,carol@*" namespaces="git,file",valid-after="20200101",valid-before="20300101Z" \(key.description) trailing comment
            dave@example.com bogus-option \(key.description)
            erin@example.com \(other.description)
            """
        let (entries, warnings) = AllowedSigners.parse(text, path: "signers")
        #expect(entries.count == 3)
        #expect(warnings == ["signers:4: bad options: unknown option \"bogus-option\""])
        let now = 1_800_000_000  // 2027
        let authorize = { (principal: String, namespace: String, time: Int) in
            AllowedSigners.authorize(entries: entries, key: key, principal: principal, namespace: namespace, time: time)
        }
        #expect((try? authorize("alice@example.com", "anything", now).get())?.line == 2)
        #expect((try? authorize("carol@home", "git", now).get())?.line == 3)
        #expect(authorize("carol@home", "mail", now) == .failure(.namespaceNotPermitted(line: 3)))
        #expect(authorize("bob@example.com", "git", 1_500_000_000) == .failure(.notYetValid(line: 3)))
        #expect(authorize("bob@example.com", "git", 2_000_000_000) == .failure(.expired(line: 3)))
        #expect(authorize("erin@example.com", "git", now) == .failure(.noMatchingPrincipalAndKey))
        #expect(AllowedSigners.principals(entries: entries, key: other) == ["erin@example.com"])
    }
}

extension Result where Failure == AllowedSigners.Refusal {
    static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.failure(let a), .failure(let b)): return a == b
        default: return false
        }
    }
}
