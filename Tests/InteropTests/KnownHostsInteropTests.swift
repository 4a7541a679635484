// shh-keygen -F/-R/-H against ssh-keygen on the same known_hosts files: same output, same files left behind.

import Foundation
import Testing

private let knownHostsFixtures = URL(fileURLWithPath: fixtureDirectory).deletingLastPathComponent()
    .appendingPathComponent("known_hosts").path

@Suite("shh-keygen on known_hosts files, beside ssh-keygen", .timeLimit(.minutes(10)))
struct KnownHostsInteropTests {
    /// Two copies of a fixture, one for each tool.
    func copies(of fixture: String) throws -> (directory: String, ours: String, theirs: String) {
        let directory = try makeTemporaryDirectory()
        let ours = "\(directory)/ours", theirs = "\(directory)/theirs"
        for path in [ours, theirs] {
            try FileManager.default.copyItem(atPath: "\(knownHostsFixtures)/\(fixture)", toPath: path)
            chmod(path, 0o644)
        }
        return (directory, ours, theirs)
    }

    @Test("-F finds the same lines, with the same headers and exit status", arguments: [
        "server.example.com", "192.0.2.10", "[server.example.com]:2222", "db.internal.example",
        "bastion.internal.example", "mixed.case.example", "www.example.com", "nowhere.example.org",
        "broken.example.com", "dss.example.com",
    ])
    func find(name: String) async throws {
        let sshKeygen = try sshKeygenPath()
        for fixture in ["valid", "hashed", "plain", "unusable"] {
            let (directory, ours, theirs) = try copies(of: fixture)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            for extra in [[], ["-l"], ["-H"], ["-q"]] {
                let mine = try await runAsync(shhKeygenPath, ["-F", name, "-f", ours] + extra)
                let reference = try await runAsync(sshKeygen, ["-F", name, "-f", theirs] + extra)
                #expect(mine.status == reference.status, "\(fixture) \(extra)")
                if extra == ["-H"] {
                    // Fresh salts: compare the headers and that every hashed line still finds the host.
                    #expect(mine.stdout.split(separator: "\n").filter { $0.hasPrefix("#") }
                        == reference.stdout.split(separator: "\n").filter { $0.hasPrefix("#") })
                } else {
                    #expect(mine.stdout == reference.stdout, "\(fixture) \(extra)")
                }
            }
        }
    }

    @Test("-R removes the same lines, prints the same, and keeps FILE.old", arguments: [
        "server.example.com", "[server.example.com]:2222", "mixed.case.example", "nowhere.example.org", "db.internal.example",
        "broken.example.com", "dss.example.com",
    ])
    func remove(name: String) async throws {
        let sshKeygen = try sshKeygenPath()
        for fixture in ["valid", "hashed", "unusable"] {
            let (directory, ours, theirs) = try copies(of: fixture)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let mine = try await runAsync(shhKeygenPath, ["-R", name, "-f", ours])
            let reference = try await runAsync(sshKeygen, ["-R", name, "-f", theirs])
            #expect(mine.status == reference.status)
            #expect(mine.stdout.replacingOccurrences(of: ours, with: "FILE")
                == reference.stdout.replacingOccurrences(of: theirs, with: "FILE"), "\(fixture)")
            #expect(withoutCarriageReturns(mine.stderr).replacingOccurrences(of: ours, with: "FILE")
                == withoutCarriageReturns(reference.stderr).replacingOccurrences(of: theirs, with: "FILE"))
            #expect(try readText(ours) == (try readText(theirs)), "\(fixture): files differ after -R")
            #expect(FileManager.default.fileExists(atPath: ours + ".old") == FileManager.default.fileExists(atPath: theirs + ".old"))
            if FileManager.default.fileExists(atPath: ours + ".old") {
                #expect(try readText(ours + ".old") == (try readText("\(knownHostsFixtures)/\(fixture)")))
            }
        }
    }

    @Test("-R and -H refuse to rewrite a file with a broken line, like ssh-keygen")
    func brokenFile() async throws {
        let sshKeygen = try sshKeygenPath()
        let (directory, ours, theirs) = try copies(of: "plain")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for arguments in [["-R", "server.example.com"], ["-H"]] {
            let mine = try await runAsync(shhKeygenPath, arguments + ["-f", ours])
            let reference = try await runAsync(sshKeygen, arguments + ["-f", theirs])
            #expect(mine.status == reference.status)
            #expect(mine.status == 1)
            #expect(mine.stderr.contains("\(ours):13: invalid line"))
            #expect(try readText(ours) == (try readText("\(knownHostsFixtures)/plain")))
        }
    }

    @Test("-H hashes like ssh-keygen: ssh-keygen finds every host in our hashed file")
    func hash() async throws {
        let sshKeygen = try sshKeygenPath()
        let (directory, ours, theirs) = try copies(of: "unusable")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let mine = try await runAsync(shhKeygenPath, ["-H", "-f", ours])
        let reference = try await runAsync(sshKeygen, ["-H", "-f", theirs])
        #expect(mine.status == 0 && reference.status == 0)
        #expect(mine.stdout.replacingOccurrences(of: ours, with: "FILE") == reference.stdout.replacingOccurrences(of: theirs, with: "FILE"))
        #expect(withoutCarriageReturns(mine.stderr).replacingOccurrences(of: ours, with: "FILE")
            == withoutCarriageReturns(reference.stderr).replacingOccurrences(of: theirs, with: "FILE"))
        #expect(try readText(ours).split(separator: "\n").count == (try readText(theirs)).split(separator: "\n").count)
        for name in ["server.example.com", "192.0.2.10", "[server.example.com]:2222", "mixed.case.example", "bastion.internal.example",
                     "dss.example.com"] {
            let found = try await runAsync(sshKeygen, ["-F", name, "-f", ours])
            let expected = try await runAsync(sshKeygen, ["-F", name, "-f", theirs])
            #expect(found.status == 0, "\(name)")
            #expect(found.stdout.split(separator: "\n").filter { $0.hasPrefix("#") }
                == expected.stdout.split(separator: "\n").filter { $0.hasPrefix("#") }, "\(name)")
        }
    }

    @Test("a missing known_hosts file is a clear error")
    func missing() async throws {
        let result = try await runAsync(shhKeygenPath, ["-F", "host", "-f", "/nonexistent/known_hosts"])
        #expect(result.status == 255)
        #expect(result.stderr == "Cannot stat /nonexistent/known_hosts: No such file or directory\n")
    }
}
