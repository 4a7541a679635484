// Certificates across the two implementations: shh-keygen -L prints what ssh-keygen -L prints, and
// certificates our library issues are accepted (signature verified on load) and shown identically by OpenSSH.

import Foundation
import SSHKeys
import Testing

private let certificateFixtures = URL(fileURLWithPath: fixtureDirectory).deletingLastPathComponent()
    .appendingPathComponent("certs").path

private let utc = ["TZ": "UTC", "PATH": "/usr/bin:/bin"]

@Suite("Certificates beside ssh-keygen", .timeLimit(.minutes(10)))
struct CertificateInteropTests {
    @Test("-L and -l print what ssh-keygen prints", arguments: ["user", "host", "expired", "future", "noprincipals", "restricted"])
    func show(name: String) async throws {
        let path = "\(certificateFixtures)/\(name)-cert.pub"
        let ours = try await runAsync(shhKeygenPath, ["-L", "-f", path], environment: utc)
        #expect(ours.status == 0, "\(ours.stderr)")
        // The fixture was recorded with a relative path on its first line; the rest must be identical.
        let expected = try readText("\(certificateFixtures)/\(name).expected-L").split(separator: "\n", maxSplits: 1)
        #expect(ours.stdout.hasPrefix("\(path):\n"))
        #expect(ours.stdout.split(separator: "\n", maxSplits: 1).last == expected.last)
        let theirs = try await runAsync(try sshKeygenPath(), ["-l", "-f", path])
        #expect(try await runAsync(shhKeygenPath, ["-l", "-f", path]).stdout == theirs.stdout)
    }

    @Test("certificates we issue load in OpenSSH (which checks the CA signature) and show the same", arguments: [
        ("ed25519", SSHCertificate.Kind.user), ("rsa3072", .host), ("ecdsa521", .user),
    ])
    func issued(caName: String, kind: SSHCertificate.Kind) async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ca = try SSHKeyFile.loadPrivateKey(atPath: "\(fixtureDirectory)/\(caName)")
        let subject = try SSHPublicKeyLine(parsing: try readText("\(fixtureDirectory)/ecdsa384.pub")).key
        let cert = try SSHCertificate.issue(
            for: subject, authority: ca, kind: kind, keyID: "issued by shh", principals: ["alice", "build-01"],
            validAfter: 1_735_689_600, validBefore: 2_051_222_400, serial: 1234,
            criticalOptions: kind == .user ? [SSHCertificateOption(name: "force-command", stringValue: "uptime"),
                                              SSHCertificateOption(name: "source-address", stringValue: "10.0.0.0/8")] : [],
            extensions: kind == .user ? SSHCertificate.defaultUserExtensions : [])
        let path = "\(directory)/id-cert.pub"
        try (cert.lineText + " made by shh\n").write(toFile: path, atomically: true, encoding: .utf8)
        let theirs = try await runAsync(try sshKeygenPath(), ["-L", "-f", path], environment: utc)
        #expect(theirs.status == 0, "\(theirs.stderr)")
        let ours = try await runAsync(shhKeygenPath, ["-L", "-f", path], environment: utc)
        #expect(ours.stdout == theirs.stdout)
        #expect(theirs.stdout.contains("Serial: 1234"))

        // Tampering is caught by OpenSSH too: it refuses to load a certificate whose signature fails.
        var forged = cert.wireBlob
        forged[forged.count / 2] ^= 0x01
        let forgedPath = "\(directory)/forged-cert.pub"
        try "\(cert.typeName) \(Data(forged).base64EncodedString())\n".write(toFile: forgedPath, atomically: true, encoding: .utf8)
        #expect(try await runAsync(try sshKeygenPath(), ["-L", "-f", forgedPath]).status != 0)
        #expect(try await runAsync(shhKeygenPath, ["-L", "-f", forgedPath]).status != 0 || !(try SSHCertificate.parseLine(try readText(forgedPath)).certificate.hasValidSignature))
    }

    static let signingCases: [[String]] = [
        ["-I", "alice@example.com", "-n", "alice,deploy", "-V", "20250101:20350101", "-z", "42",
         "-O", "force-command=/usr/bin/backup --now", "-O", "source-address=192.0.2.0/24,2001:db8::/32"],
        ["-h", "-I", "host.example.com", "-n", "host.example.com,10.0.0.1"],
        ["-I", "restricted", "-O", "clear", "-O", "permit-pty", "-O", "extension:custom@example.com=data", "-O", "critical:verify-required"],
        ["-I", "no principals", "-V", "always:20300101123000", "-O", "no-x11-forwarding", "-O", "no-port-forwarding"],
        ["-I", "hex", "-V", "0x10:0xffffffff", "-z", "18446744073709551615"],
    ]

    @Test("shh-keygen -s makes the certificate ssh-keygen -s makes", arguments: signingCases)
    func sign(arguments: [String]) async throws {
        let sshKeygen = try sshKeygenPath()
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try copyFixtures(["ed25519", "ecdsa256"], to: directory)
        for tool in ["ours", "theirs"] {
            try FileManager.default.copyItem(atPath: "\(directory)/ecdsa256.pub", toPath: "\(directory)/\(tool).pub")
        }
        let ours = try await runAsync(shhKeygenPath, ["-s", "\(directory)/ed25519"] + arguments + ["\(directory)/ours.pub"], environment: utc)
        let theirs = try await runAsync(sshKeygen, ["-s", "\(directory)/ed25519"] + arguments + ["\(directory)/theirs.pub"], environment: utc)
        #expect(ours.status == 0, "\(ours.stderr)")
        #expect(theirs.status == 0, "\(theirs.stderr)")
        #expect(ours.stderr.replacingOccurrences(of: "ours-cert", with: "X")
            == withoutCarriageReturns(theirs.stderr).replacingOccurrences(of: "theirs-cert", with: "X"))
        // OpenSSH loads ours (checking its signature) and shows the same certificate.
        let shownOurs = try await runAsync(sshKeygen, ["-L", "-f", "\(directory)/ours-cert.pub"], environment: utc)
        let shownTheirs = try await runAsync(sshKeygen, ["-L", "-f", "\(directory)/theirs-cert.pub"], environment: utc)
        #expect(shownOurs.status == 0, "\(shownOurs.stderr)")
        #expect(shownOurs.stdout.split(separator: "\n").dropFirst() == shownTheirs.stdout.split(separator: "\n").dropFirst())
        // The comment of the signed key is kept, as ssh-keygen keeps it.
        #expect(try readText("\(directory)/ours-cert.pub").hasSuffix(" fixture-ecdsa256\n"))
    }

    @Test("bad -s arguments fail like ssh-keygen's", arguments: [
        ["-V", "20300101:20200101"], ["-V", "nonsense"], ["-O", "bogus"], ["-O", "source-address=not-an-address"], ["-n", "a,,b"],
        ["-z", "x"],
    ])
    func badSigning(extra: [String]) async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try copyFixtures(["ed25519", "ecdsa256"], to: directory)
        let arguments = ["-s", "\(directory)/ed25519", "-I", "id"] + extra + ["\(directory)/ecdsa256.pub"]
        let ours = try await runAsync(shhKeygenPath, arguments)
        let theirs = try await runAsync(try sshKeygenPath(), arguments)
        #expect(theirs.status != 0)
        #expect(ours.status == theirs.status, "\(extra): ours \(ours.stderr) theirs \(theirs.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/ecdsa256-cert.pub"))
    }
}
