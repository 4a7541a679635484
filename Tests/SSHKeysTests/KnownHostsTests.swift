// known_hosts parsing and lookups, on files written by hand and hashed by the real ssh-keygen -H.

import Foundation
import SSHKeys
import Testing

private func knownHostsFixture(_ name: String) throws -> KnownHostsFile {
    let path = "\(fixtureDirectory)/../known_hosts/\(name)"
    return KnownHostsFile(parsing: String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self), path: name)
}

private func key(_ name: String) throws -> SSHPublicKey {
    try SSHPublicKeyLine(parsing: try fixtureText("\(name).pub")).key
}

@Suite("known_hosts", .timeLimit(.minutes(10)))
struct KnownHostsTests {
    @Test("plain and ssh-keygen-hashed files give the same answers", arguments: ["valid", "hashed"])
    func lookups(file: String) throws {
        let files = [try knownHostsFixture(file)]
        let check = { (name: String, host: String, port: Int) throws -> KnownHosts.Verdict in
            KnownHosts.check(try key(name), hostName: KnownHosts.hostName(host, port: port), files: files)
        }
        guard case .known(let entry) = try check("ed25519", "server.example.com", 22) else { Issue.record("not known"); return }
        #expect(entry.line == 2)
        guard case .known = try check("ed25519", "192.0.2.10", 22) else { Issue.record("IP not known"); return }
        guard case .known = try check("ecdsa256", "server.example.com", 22) else { Issue.record("second key"); return }
        // Another key for a recorded host is a change, naming the line of the first recorded key.
        guard case .changed(let old) = try check("ecdsa521", "server.example.com", 22) else { Issue.record("not changed"); return }
        #expect(old.line == 2)
        #expect(old.path == file)
        // Ports other than 22 are separate hosts.
        guard case .known = try check("rsa2048", "server.example.com", 2222) else { Issue.record("port"); return }
        #expect(try check("rsa2048", "server.example.com", 2223) == .unknown)
        // Case-insensitive names (hashed entries are hashed lower-cased by ssh-keygen -H).
        guard case .known = try check("ecdsa521", "mixed.case.example", 22) else { Issue.record("case"); return }
        #expect(try check("ed25519", "unknown.example.org", 22) == .unknown)
        #expect(KnownHosts.knownKeyTypes(hostName: "server.example.com", files: files) == [.ed25519, .ecdsaP256])
        // @revoked applies to every host.
        guard case .revoked = try check("rsa3072", "anything.example.net", 22) else { Issue.record("revoked"); return }
        #expect(KnownHosts.certificateAuthorities(hostName: "www.example.com", files: files).map(\.key) == [try key("ed25519-enc")])
    }

    @Test("wildcards and negation in plain entries")
    func patterns() throws {
        let files = [try knownHostsFixture("valid")]
        guard case .known = KnownHosts.check(try key("ecdsa384"), hostName: "db.internal.example", files: files) else {
            Issue.record("wildcard"); return
        }
        // The negated host is not covered by the wildcard line, and has its own key.
        guard case .changed = KnownHosts.check(try key("ecdsa384"), hostName: "bastion.internal.example", files: files) else {
            Issue.record("negation"); return
        }
        guard case .known = KnownHosts.check(try key("rsa4096"), hostName: "bastion.internal.example", files: files) else {
            Issue.record("bastion"); return
        }
    }

    @Test("broken lines are reported with file and line, and the rest of the file still works")
    func brokenLines() throws {
        let file = try knownHostsFixture("plain")
        #expect(file.warnings.count == 3)
        #expect(file.warnings.first?.hasPrefix("plain:11: invalid key") == true)
        #expect(file.warnings.last?.hasPrefix("plain:13: invalid key") == true)
        guard case .known = KnownHosts.check(try key("ed25519"), hostName: "server.example.com", files: [file]) else {
            Issue.record("rest of file"); return
        }
        let junk = KnownHostsFile(parsing: "@bogus host ssh-ed25519 AAAA\nhost\n|1|bad|hash ssh-ed25519 AAAA\n\u{0}\u{1}binary\n" + String(repeating: "x", count: 20000), path: "junk")
        #expect(junk.entries.isEmpty)
        #expect(junk.warnings.count == 5)
    }

    @Test("hashed names use HMAC-SHA1 with the stored salt, as ssh-keygen -H writes them")
    func hashing() throws {
        let hashed = KnownHosts.hashedName("server.example.com")
        let file = KnownHostsFile(parsing: "\(hashed) \(try key("ed25519").description)", path: "h")
        #expect(file.entries.first?.matches(hostName: "server.example.com") == true)
        #expect(file.entries.first?.matches(hostName: "server.example.org") == false)
        #expect(hashed != KnownHosts.hashedName("server.example.com"))  // fresh salt each time
    }

    @Test("appending from many writers at once loses no line")
    func concurrentAppend() async throws {
        let path = NSTemporaryDirectory() + "shh-kh-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let line = try key("ed25519").description
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask {
                    try KnownHosts.append(KnownHosts.entryLines(names: ["host\(index).example"], key: try key("ed25519"), hashed: index % 2 == 0),
                                          toPath: path)
                }
            }
            try await group.waitForAll()
        }
        let file = try KnownHostsFile.load(path: path)
        #expect(file.entries.count == 40)
        #expect(file.warnings.isEmpty)
        #expect(file.entries.allSatisfy { $0.rawKey == line })
        for index in 0..<40 {
            #expect(file.entries.contains { $0.matches(hostName: "host\(index).example") })
        }
    }
}
