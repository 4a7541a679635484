// shh-keygen against OpenSSH's ssh-keygen, both run for real: identical output for OpenSSH's keys,
// and OpenSSH reading (and verifying) what shh-keygen writes and signs.

import Foundation
import Testing

private let plainKeys = ["ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa2048", "rsa3072", "rsa4096", "rsa8192",
                         "rsa2048-pkcs1", "ecdsa256-sec1", "ecdsa384-sec1", "rsa2048-pkcs8", "ecdsa521-pkcs8"]
private let encryptedKeys = ["ed25519-enc", "ecdsa256-enc", "ecdsa384-enc", "ecdsa521-enc", "rsa3072-enc",
                             "ecdsa256-enc-rounds4", "ed25519-aes128-ctr", "ed25519-aes192-ctr", "ed25519-aes128-cbc",
                             "ed25519-aes256-cbc", "ed25519-aes128-gcm", "ed25519-aes256-gcm"]

@Suite("shh-keygen prints what ssh-keygen prints for OpenSSH's keys", .timeLimit(.minutes(10)))
struct KeygenOutputTests {
    @Test("-y, -l, -l -E md5, -lv and -lv -E md5", arguments: plainKeys + encryptedKeys)
    func sameOutput(name: String) async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try copyFixtures([name], to: directory)
        let key = "\(directory)/\(name)"
        let passphrase = encryptedKeys.contains(name) ? ["-P", fixturePassphrase] : []
        let cases: [([String], String)] = [
            (["-y"] + passphrase + ["-f", key], "expected-y"),
            (["-l", "-f", key], "expected-l-sha256"),
            (["-l", "-E", "md5", "-f", key], "expected-l-md5"),
            (["-lv", "-f", key], "expected-lv-sha256"),
            (["-lv", "-E", "md5", "-f", key + ".pub"], "expected-lv-md5"),
        ]
        for (arguments, expectedFile) in cases {
            let result = try await runAsync(shhKeygenPath, arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(result.stdout == (try readText("\(fixtureDirectory)/\(name).\(expectedFile)")), "\(arguments)")
        }
    }

    @Test("a 16384-bit RSA key: -l works like ssh-keygen, -y refuses naming the size")
    func largestRSA() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try copyFixtures(["rsa16384"], to: directory)
        let key = "\(directory)/rsa16384"
        for (arguments, expected) in [(["-l", "-f", key], "expected-l-sha256"), (["-lv", "-f", key], "expected-lv-sha256")] {
            let listed = try await runAsync(shhKeygenPath, arguments)
            #expect(listed.stdout == (try readText("\(fixtureDirectory)/rsa16384.\(expected)")))
        }
        let refused = try await runAsync(shhKeygenPath, ["-y", "-f", key])
        #expect(refused.status == 255)
        #expect(refused.stderr.contains("RSA key of 16384 bits is not supported"))
    }

    @Test("-l reads authorized_keys and known_hosts style lines like ssh-keygen")
    func listFiles() async throws {
        let sshKeygen = try sshKeygenPath()
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ed = try readText("\(fixtureDirectory)/ed25519.pub").trimmingCharacters(in: .newlines)
        let rsa = try readText("\(fixtureDirectory)/rsa2048.pub").trimmingCharacters(in: .newlines)
        let ecdsa = try readText("\(fixtureDirectory)/ecdsa384.pub").trimmingCharacters(in: .newlines)
        let file = "\(directory)/mixed"
        try """
            # a comment line

            \(ed)
            command="echo \\"hi there\\"",no-pty \(rsa)
            [host.example]:2222,10.0.0.1 \(ecdsa.split(separator: " ").prefix(2).joined(separator: " "))
            this line is not a key
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let theirs = try await runAsync(sshKeygen, ["-l", "-f", file])
        let ours = try await runAsync(shhKeygenPath, ["-l", "-f", file])
        #expect(theirs.status == 0)
        #expect(ours.status == theirs.status)
        #expect(ours.stdout == theirs.stdout)
        #expect(ours.stdout.split(separator: "\n").count == 3)
        // The same through standard input.
        let fromStdin = try await runAsync(shhKeygenPath, ["-l", "-f", "-"], stdin: Array(try readText(file).utf8))
        #expect(fromStdin.stdout == theirs.stdout)
    }
}

@Suite("OpenSSH reads and verifies what shh-keygen makes", .timeLimit(.minutes(10)))
struct KeygenWritesTests {
    @Test("generated keys are read by ssh-keygen -y with identical fingerprints", arguments: [
        (["-t", "ed25519"], false), (["-t", "ecdsa"], false), (["-t", "ecdsa", "-b", "384"], true),
        (["-t", "ecdsa", "-b", "521"], false), (["-t", "rsa", "-b", "2048"], true), (["-t", "rsa"], false),
        (["-t", "ed25519"], true),
    ])
    func generated(arguments: [String], encrypted: Bool) async throws {
        let sshKeygen = try sshKeygenPath()
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = "\(directory)/id"
        let passphrase = encrypted ? "s3cret phrase" : ""
        let made = try await runAsync(shhKeygenPath, arguments + ["-N", passphrase, "-C", "made by shh", "-f", key])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.contains("Your identification has been saved in \(key)\n"))
        #expect(made.stdout.contains("The key's randomart image is:\n+-"))

        let attributes = try FileManager.default.attributesOfItem(atPath: key)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let pubAttributes = try FileManager.default.attributesOfItem(atPath: key + ".pub")
        #expect((pubAttributes[.posixPermissions] as? Int) == 0o644)

        let theirPublic = try await runAsync(sshKeygen, ["-y", "-P", passphrase, "-f", key])
        #expect(theirPublic.status == 0, "\(theirPublic.stderr)")
        let ourPublicFile = try readText(key + ".pub")
        #expect(theirPublic.stdout == ourPublicFile)
        #expect(ourPublicFile.hasSuffix(" made by shh\n"))

        let theirFingerprint = try await runAsync(sshKeygen, ["-l", "-f", key + ".pub"])
        let ourFingerprint = try await runAsync(shhKeygenPath, ["-l", "-f", key + ".pub"])
        #expect(ourFingerprint.stdout == theirFingerprint.stdout)
        #expect(made.stdout.contains(String(theirFingerprint.stdout.split(separator: " ")[1])))
        if encrypted {
            let wrong = try await runAsync(sshKeygen, ["-y", "-P", "not it", "-f", key])
            #expect(wrong.status != 0)
        }
    }

    @Test("-p changes the passphrase in a way ssh-keygen accepts, and -c the comment")
    func passphraseAndComment() async throws {
        let sshKeygen = try sshKeygenPath()
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try copyFixtures(["ecdsa256-enc"], to: directory)
        let key = "\(directory)/ecdsa256-enc"
        let changed = try await runAsync(shhKeygenPath, ["-p", "-P", fixturePassphrase, "-N", "new one", "-f", key])
        #expect(changed.status == 0, "\(changed.stderr)")
        #expect(changed.stdout == "Key has comment 'fixture-ecdsa256-enc'\nYour identification has been saved with the new passphrase.\n")
        #expect(try await runAsync(sshKeygen, ["-y", "-P", "new one", "-f", key]).status == 0)
        #expect(try await runAsync(sshKeygen, ["-y", "-P", fixturePassphrase, "-f", key]).status != 0)

        let commented = try await runAsync(shhKeygenPath, ["-c", "-P", "new one", "-C", "renamed", "-f", key])
        #expect(commented.status == 0, "\(commented.stderr)")
        #expect(commented.stdout == "Old comment: fixture-ecdsa256-enc\nComment 'renamed' applied\n")
        let listed = try await runAsync(sshKeygen, ["-l", "-f", key])
        #expect(listed.stdout.contains(" renamed (ECDSA)"))
        let theirs = try await runAsync(sshKeygen, ["-y", "-P", "new one", "-f", key])
        #expect(theirs.stdout.hasSuffix(" renamed\n"))

        // Removing the passphrase leaves a key ssh-keygen reads without one.
        #expect(try await runAsync(shhKeygenPath, ["-p", "-P", "new one", "-N", "", "-f", key]).status == 0)
        #expect(try await runAsync(sshKeygen, ["-y", "-P", "", "-f", key]).status == 0)
    }

    @Test("SSHSIG: ssh-keygen verifies our signatures, we verify theirs", arguments: ["ed25519", "ecdsa256", "ecdsa521", "rsa3072"])
    func signatures(name: String) async throws {
        let sshKeygen = try sshKeygenPath()
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try copyFixtures([name], to: directory)
        let key = "\(directory)/\(name)"
        let message = "\(directory)/release.tar"
        let content = Array((0..<200_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        try Data(content).write(to: URL(fileURLWithPath: message))
        let signers = "\(directory)/allowed_signers"
        try "release@example.com \(try readText(key + ".pub"))".write(toFile: signers, atomically: true, encoding: .utf8)

        let signed = try await runAsync(shhKeygenPath, ["-Y", "sign", "-n", "file", "-f", key, message])
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(signed.stderr == "Signing file \(message)\nWrite signature to \(message).sig\n")
        let theirVerdict = try await runAsync(sshKeygen, ["-Y", "verify", "-f", signers, "-I", "release@example.com", "-n", "file",
                                               "-s", message + ".sig"], stdin: content)
        #expect(theirVerdict.status == 0, "\(theirVerdict.stderr)")
        let ourVerdict = try await runAsync(shhKeygenPath, ["-Y", "verify", "-f", signers, "-I", "release@example.com", "-n", "file",
                                                 "-s", message + ".sig"], stdin: content)
        #expect(ourVerdict.status == 0, "\(ourVerdict.stderr)")
        #expect(ourVerdict.stdout == theirVerdict.stdout)

        // Their signature of the same file, checked by us; tampered data and the wrong namespace fail for both.
        try FileManager.default.removeItem(atPath: message + ".sig")
        #expect(try await runAsync(sshKeygen, ["-q", "-Y", "sign", "-n", "file", "-f", key, message]).status == 0)
        let verifyArguments = ["-Y", "verify", "-f", signers, "-I", "release@example.com", "-n", "file", "-s", message + ".sig"]
        #expect(try await runAsync(shhKeygenPath, verifyArguments, stdin: content).status == 0)
        for (label, arguments, data) in [
            ("tampered", verifyArguments, content + [0]),
            ("namespace", ["-Y", "verify", "-f", signers, "-I", "release@example.com", "-n", "git", "-s", message + ".sig"], content),
            ("principal", ["-Y", "verify", "-f", signers, "-I", "mallory@example.com", "-n", "file", "-s", message + ".sig"], content),
        ] {
            let ours = try await runAsync(shhKeygenPath, arguments, stdin: data)
            let theirs = try await runAsync(sshKeygen, arguments, stdin: data)
            #expect(theirs.status == 255, "\(label)")
            #expect(ours.status == theirs.status, "\(label)")
            #expect(ours.stdout == "Could not verify signature.\n", "\(label)")
        }
        let novalidate = try await runAsync(shhKeygenPath, ["-Y", "check-novalidate", "-n", "file", "-s", message + ".sig"], stdin: content)
        let theirNovalidate = try await runAsync(sshKeygen, ["-Y", "check-novalidate", "-n", "file", "-s", message + ".sig"], stdin: content)
        #expect(novalidate.stdout == theirNovalidate.stdout)
        let principals = try await runAsync(shhKeygenPath, ["-Y", "find-principals", "-s", message + ".sig", "-f", signers])
        #expect(principals.stdout == "release@example.com\n")
    }
}

@Suite("Bad input gets one clear error, like ssh-keygen", .timeLimit(.minutes(10)))
struct KeygenBadInputTests {
    @Test("broken key files: exit status equals ssh-keygen's and the message names the file", arguments: [
        "empty", "truncated", "garbled", "public-as-private", "junk", "wrong-passphrase", "directory",
    ])
    func brokenFiles(kind: String) async throws {
        let sshKeygen = try sshKeygenPath()
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try copyFixtures(["ed25519", "ed25519-enc"], to: directory)
        let path = "\(directory)/bad-\(kind)"
        let whole = Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/ed25519")))
        var passphrase = ["-P", ""]
        switch kind {
        case "empty": try Data().write(to: URL(fileURLWithPath: path))
        case "truncated": try Data(whole.prefix(150)).write(to: URL(fileURLWithPath: path))
        case "garbled":
            var garbled = whole
            for index in stride(from: 60, to: garbled.count - 60, by: 9) where garbled[index] != 0x0A { garbled[index] = UInt8(ascii: "Q") }
            try Data(garbled).write(to: URL(fileURLWithPath: path))
        case "public-as-private": try FileManager.default.copyItem(atPath: "\(directory)/ed25519.pub", toPath: path)
        case "junk": try Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 97) }).write(to: URL(fileURLWithPath: path))
        case "wrong-passphrase":
            try FileManager.default.copyItem(atPath: "\(directory)/ed25519-enc", toPath: path)
            passphrase = ["-P", "wrong"]
        default: try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        }
        chmod(path, kind == "directory" ? 0o700 : 0o600)
        let theirs = try await runAsync(sshKeygen, ["-y"] + passphrase + ["-f", path])
        let ours = try await runAsync(shhKeygenPath, ["-y"] + passphrase + ["-f", path])
        #expect(theirs.status != 0)
        #expect(ours.status == theirs.status, "ours: \(ours.stderr) theirs: \(theirs.stderr)")
        #expect(ours.stdout.isEmpty)
        let lines = ours.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(ours.stderr)")
        #expect(ours.stderr.contains(path))
        if kind == "wrong-passphrase" {
            #expect(ours.stderr == withoutCarriageReturns(theirs.stderr))
        }
    }

    // Refused by its size before it is read (the message says so); no clock in the test: under the full parallel
    // suite on two cores, even a fast refusal can take seconds of wall time.
    @Test("a 100 MB junk file is refused by its size with one message")
    func hugeFile() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/huge"
        #expect(FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 100 * 1_000_000)
        try handle.close()
        let ours = try await runAsync(shhKeygenPath, ["-y", "-f", path])
        #expect(ours.status == 255)
        #expect(ours.stderr == "Load key \"\(path)\": file is too large to be a key (100000000 bytes)\n")
        let listed = try await runAsync(shhKeygenPath, ["-l", "-f", path])
        #expect(listed.status == 255)
        #expect(listed.stderr.split(separator: "\n").count == 1)
    }

    @Test("a private key readable by others is refused, as OpenSSH does")
    func permissions() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try copyFixtures(["ed25519"], to: directory)
        let key = "\(directory)/ed25519"
        chmod(key, 0o644)
        let ours = try await runAsync(shhKeygenPath, ["-y", "-f", key])
        let theirs = try await runAsync(try sshKeygenPath(), ["-y", "-f", key])
        #expect(ours.status == theirs.status)
        #expect(ours.stderr == withoutCarriageReturns(theirs.stderr))
    }

    static let commandLineCases: [([String], Int32)] = [
        (["-y", "-f", "/nonexistent/key"], 255), (["-l", "-f", "/nonexistent/key"], 255), (["-x"], 1), (["-f"], 1),
        (["-t", "dsa", "-f", "/tmp/never"], 255), (["-t", "rsa", "-b", "1024", "-f", "/tmp/never"], 255),
        (["-E", "sha1", "-l", "-f", "/tmp/never"], 255), (["-k", "-f", "/tmp/never"], 1), (["-L", "-f", "/tmp/never"], 255),
    ]

    @Test("missing files and unknown options", arguments: commandLineCases)
    func commandLineErrors(arguments: [String], status: Int32) async throws {
        let ours = try await runAsync(shhKeygenPath, arguments)
        #expect(ours.status == status, "\(arguments): \(ours.stderr)")
        #expect(!ours.stderr.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/never"))
    }

    @Test("an existing key is not overwritten unless the answer is y")
    func overwrite() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = "\(directory)/id"
        #expect(try await runAsync(shhKeygenPath, ["-q", "-N", "", "-f", key]).status == 0)
        let before = try readText(key)
        for answer in ["n\n", "", "no\n"] {
            let declined = try await runAsync(shhKeygenPath, ["-N", "", "-f", key], stdin: Array(answer.utf8))
            #expect(declined.status == 1)
            #expect(declined.stdout.hasSuffix("\(key) already exists.\nOverwrite (y/n)? "))
            #expect(try readText(key) == before)
        }
        let accepted = try await runAsync(shhKeygenPath, ["-q", "-N", "", "-f", key], stdin: Array("y\n".utf8))
        #expect(accepted.status == 0)
        #expect(try readText(key) != before)
    }
}
