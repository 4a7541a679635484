// Prompts driven in-process through KeygenIO: passphrases asked twice without echo, file name questions.

import Foundation
import SSHKeygenCommand
import SSHKeys
import Testing

/// A scripted terminal: answers in order, everything written is recorded.
final class ScriptedTerminal: @unchecked Sendable {
    private let lock = NSLock()
    private var passphrases: [String]
    private var lines: [String]
    private(set) var output = ""
    private(set) var errors = ""
    private(set) var prompts: [String] = []

    init(passphrases: [String] = [], lines: [String] = []) {
        self.passphrases = passphrases
        self.lines = lines
    }

    func io(home: String) -> KeygenIO {
        KeygenIO(
            writeOutput: { text in self.lock.withLock { self.output += text } },
            writeError: { text in self.lock.withLock { self.errors += text } },
            readLine: { self.lock.withLock { self.lines.isEmpty ? nil : self.lines.removeFirst() } },
            readPassphrase: { prompt in
                self.lock.withLock {
                    self.prompts.append(prompt)
                    return self.passphrases.isEmpty ? nil : self.passphrases.removeFirst()
                }
            },
            readStandardInputChunk: { [] },
            homeDirectory: home,
            defaultComment: "tester@testhost")
    }
}

@Suite("shh-keygen prompts", .timeLimit(.minutes(10)))
struct KeygenPromptTests {
    @Test("without -N the passphrase is asked twice, again on mismatch, and protects the key")
    func passphraseTwice() async throws {
        let directory = NSTemporaryDirectory() + "shh-prompt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let terminal = ScriptedTerminal(passphrases: ["one", "two", "good pass", "good pass"])
        let status = ShhKeygen.run(["-t", "ecdsa", "-f", "\(directory)/k"], io: terminal.io(home: directory))
        #expect(status == 0, "\(terminal.errors)")
        #expect(terminal.prompts == ["Enter passphrase (empty for no passphrase): ", "Enter same passphrase again: ",
                                     "Enter passphrase (empty for no passphrase): ", "Enter same passphrase again: "])
        #expect(terminal.output.contains("Passphrases do not match.  Try again.\n"))
        #expect(terminal.output.contains("tester@testhost\nThe key's randomart image is:\n+---[ECDSA 256]---+\n"))
        let contents = Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/k")))
        #expect(SSHKeyFile.isEncryptedPrivateKey(contents))
        #expect(try SSHKeyFile.parsePrivateKey(contents, passphrase: "good pass").comment == "tester@testhost")
    }

    @Test("without -f the default path under ~/.ssh is offered and ~/.ssh is created 0700")
    func defaultPath() async throws {
        let home = NSTemporaryDirectory() + "shh-home-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let terminal = ScriptedTerminal(passphrases: ["", ""], lines: [""])
        #expect(ShhKeygen.run([], io: terminal.io(home: home)) == 0, "\(terminal.errors)")
        #expect(terminal.output.hasPrefix("""
            Generating public/private ed25519 key pair.
            Enter file in which to save the key (\(home)/.ssh/id_ed25519): Created directory '\(home)/.ssh'.
            Your identification has been saved in \(home)/.ssh/id_ed25519

            """))
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(home)/.ssh")
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
        #expect(FileManager.default.fileExists(atPath: "\(home)/.ssh/id_ed25519.pub"))
    }

    @Test("an encrypted key asks for its passphrase for -y; a wrong one fails with ssh-keygen's words")
    func askForPassphrase() async throws {
        let directory = NSTemporaryDirectory() + "shh-ask-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try copyFixtures(["ed25519-enc"], to: directory)
        let key = "\(directory)/ed25519-enc"
        let good = ScriptedTerminal(passphrases: [fixturePassphrase])
        #expect(ShhKeygen.run(["-y", "-f", key], io: good.io(home: directory)) == 0)
        #expect(good.prompts == ["Enter passphrase: "])
        #expect(good.output == (try readText(key + ".pub")))
        let bad = ScriptedTerminal(passphrases: ["nope"])
        #expect(ShhKeygen.run(["-y", "-f", key], io: bad.io(home: directory)) == 255)
        #expect(bad.errors == "Load key \"\(key)\": incorrect passphrase supplied to decrypt private key\n")
    }
}
