// asyncssh as the third transport peer: its client against our server and our client against its server,
// including mlkem768x25519-sha256, which Debian 12's OpenSSH lacks.
import Foundation
import SSH
import SSHKeys
import SSHProtocol
import Testing

private let peerScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("asyncssh_transport_peer.py").path

private let asyncSSHAvailable = (try? run("/usr/bin/env", ["python3", "-c", "import asyncssh"]).status) == 0

// As root (CI) the suite always runs, so a missing asyncssh fails loudly instead of skipping.
@Suite("Transport against asyncssh", .enabled(if: asyncSSHAvailable || isRootUser, "python3 -m pip install asyncssh (CI installs it)"), .timeLimit(.minutes(10)))
struct AsyncSSHTransportTests {
    static let clientCases: [(kex: String, cipher: String, mac: String, hostKey: String)] = [
        ("mlkem768x25519-sha256", "-", "-", "-"),
        ("curve25519-sha256", "chacha20-poly1305@openssh.com", "-", "ssh-ed25519"),
        ("curve25519-sha256@libssh.org", "aes256-gcm@openssh.com", "-", "rsa-sha2-512"),
        ("ecdh-sha2-nistp256", "aes128-gcm@openssh.com", "-", "ecdsa-sha2-nistp256"),
        ("ecdh-sha2-nistp384", "aes192-ctr", "hmac-sha2-512-etm@openssh.com", "ecdsa-sha2-nistp384"),
        ("ecdh-sha2-nistp521", "aes256-ctr", "hmac-sha2-256", "ecdsa-sha2-nistp521"),
        ("mlkem768x25519-sha256", "aes128-ctr", "hmac-sha2-512", "rsa-sha2-256"),
    ]

    @Test func asyncSSHClientAgainstOurServer() async throws {
        let keys = try SSHKeyType.allCases.map { type in try SSHPrivateKey.generate(type: type, bits: type == .rsa ? 2048 : nil) }
        let server = try await TransportTestServer(hostKeys: keys.map { SSHServerHostKey(privateKey: $0) })
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let knownHosts = directory + "/known_hosts"
        try (keys.map { "[127.0.0.1]:\(server.port) \($0.publicKey)" }.joined(separator: "\n") + "\n")
            .write(toFile: knownHosts, atomically: true, encoding: .utf8)
        for peer in Self.clientCases {
            let result = try await runAsync("/usr/bin/env", ["python3", peerScript, "client", "\(server.port)", knownHosts, peer.kex, peer.cipher, peer.mac, peer.hostKey])
            #expect(result.stdout.hasPrefix("REACHED-AUTH"), "\(peer): \(result.stdout) \(result.stderr.suffix(2000))")
        }
        #expect(server.errors.isEmpty, "\(server.errors)")
        #expect(server.completedHandshakes == Self.clientCases.count)
        await server.stop()
    }

    @Test(arguments: ["mlkem768x25519-sha256", "curve25519-sha256", "ecdh-sha2-nistp521"])
    func ourClientAgainstAsyncSSHServer(kex: String) async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        try OpenSSHPrivateKeyFormat.fileText(hostKey, passphrase: nil).write(toFile: directory + "/host_key", atomically: true, encoding: .utf8)
        let portFile = directory + "/port"
        // Backgrounded with its output in files, so our pipes reach end-of-file while it serves.
        let started = try await runAsync("/bin/sh", ["-c", "python3 \"$0\" server \"$1\" \"$2\" \"$3\" </dev/null >\"$4\" 2>&1 & echo $!",
                                          peerScript, directory + "/host_key", portFile, kex, directory + "/server.log"])
        let pid = pid_t(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        defer { if pid > 0 { killTree(pid) } }
        var port = 0
        for _ in 0..<200 where port == 0 {
            port = Int((try? readText(portFile)) ?? "") ?? 0
            if port == 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        try #require(port > 0, "asyncssh server did not start: \((try? readText(directory + "/server.log")) ?? "")")
        let algorithm = try #require(SSHKeyExchangeAlgorithm(rawValue: kex))
        let result = try await probeTransport(port: port, algorithms: SSHAlgorithms(keyExchange: [algorithm]), validator: PinnedHostKeys([hostKey.publicKey]))
        #expect(result.algorithms.keyExchange == algorithm)
        #expect(result.authenticationMethods.contains("password"))
    }
}
