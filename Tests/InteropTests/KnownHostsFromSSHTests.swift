// known_hosts files written by OpenSSH's own client (ssh with StrictHostKeyChecking=accept-new, hashed and
// not) against a real sshd: our lookups must find the server's key, and see a different key as changed.

import Foundation
import SSHKeys
import Testing

@Suite("known_hosts written by OpenSSH's ssh", .enabled(if: isRootUser, "starting sshd on a test port needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct KnownHostsFromSSHTests {
    @Test("entries ssh adds (plain and hashed, on a non-22 port) are found by KnownHosts.check", arguments: ["no", "yes"])
    func acceptNew(hashed: String) async throws {
        let server = try await offThePool { try TestSSHD() }
        defer { server.stop() }
        let knownHosts = "\(server.directory)/known_hosts_\(hashed)"
        let client = try await runAsync("/usr/bin/ssh", [
            "-F", "/dev/null", "-o", "UserKnownHostsFile=\(knownHosts)", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=accept-new", "-o", "HashKnownHosts=\(hashed)", "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/dev/null", "-p", "\(server.port)", "nobody@127.0.0.1", "true",
        ])
        // Authentication fails (no keys), but the host key has been accepted and recorded by then.
        #expect(client.status == 255)
        let file = try KnownHostsFile.load(path: knownHosts)
        #expect(file.warnings.isEmpty)
        #expect(file.entries.count == 1)
        #expect(file.entries.first?.isHashed == (hashed == "yes"))
        let serverKey = try SSHPublicKeyLine(parsing: server.hostKeyPublic).key
        guard case .known = KnownHosts.check(serverKey, hostName: KnownHosts.hostName("127.0.0.1", port: server.port), files: [file]) else {
            Issue.record("the key ssh recorded was not found"); return
        }
        let other = try SSHPrivateKey.generate(type: .ed25519).publicKey
        guard case .changed(let entry) = KnownHosts.check(other, hostName: "[127.0.0.1]:\(server.port)", files: [file]) else {
            Issue.record("a different key was not reported as changed"); return
        }
        #expect(entry.line == 1)
        #expect(KnownHosts.check(serverKey, hostName: "127.0.0.1", files: [file]) == .unknown)  // port 22 is another host
    }
}
