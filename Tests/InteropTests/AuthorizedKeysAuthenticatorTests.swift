// sshd's authorized_keys policy as a library user gets it (SSHAuthorizedKeysAuthenticator): keys listed for the
// account log in, others do not, a line's from= and command= hold, and %u names the user's file.
import Foundation
import NIOCore
import SSH
import SSHKeys
import SSHProtocol
import SSHPOSIX
import SSHServerHost
import Testing

/// Answers every session with the command it was forced to run, if any.
private struct ReportForcedCommand: SSHSessionHandler {
    func runSession(_ session: SSHServerSession) async throws -> SSHSessionExit {
        try await session.channel.write(ByteBuffer(string: "forced: \(session.grant.forcedCommand ?? "-")\n"))
        return .status(0)
    }
}

@Suite(.timeLimit(.minutes(5))) struct AuthorizedKeysAuthenticatorTests {
    @Test func listedKeysLogInWithTheirLinesRestrictions() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        guard let account = SystemAccount(uid: getuid()) else {
            Issue.record("no account for uid \(getuid())")
            return
        }
        let plain = try SSHPrivateKey.generate(type: .ed25519)
        let restricted = try SSHPrivateKey.generate(type: .ed25519)
        let elsewhere = try SSHPrivateKey.generate(type: .ed25519)
        let stranger = try SSHPrivateKey.generate(type: .ed25519)
        try """
            \(SSHPublicKeyLine(key: plain.publicKey).text)
            command="echo hi",no-pty \(SSHPublicKeyLine(key: restricted.publicKey).text)
            from="10.9.8.7" \(SSHPublicKeyLine(key: elsewhere.publicKey).text)

            """.write(toFile: "\(directory)/\(account.name)_keys", atomically: true, encoding: .utf8)
        // Temporary directories are not root-owned all the way up: StrictModes would refuse them.
        let policy = SSHAuthorizedKeysPolicy(filePatterns: ["\(directory)/%u_keys"], strictModes: false)
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let server = SSHServer(configuration: .init(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)]),
                               authenticator: SSHAuthorizedKeysAuthenticator(policy: policy), sessionHandler: ReportForcedCommand())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningPort
            func login(_ key: SSHPrivateKey) async throws -> String {
                try await SSHClient.withConnection(host: "127.0.0.1", port: port, user: account.name, credentials: [.privateKey(key)],
                                                   hostKeyValidator: .pinned([hostKey.publicKey])) { client in
                    try await client.run("whatever", check: true)
                }
            }
            #expect(try await login(plain) == "forced: -\n")
            #expect(try await login(restricted) == "forced: echo hi\n")
            for refused in [elsewhere, stranger] {
                do {
                    _ = try await login(refused)
                    Issue.record("a key that is not allowed from here logged in")
                } catch let error as SSHError {
                    guard case .authenticationFailed = error.kind else { Issue.record("\(error)"); continue }
                }
            }
        }
    }

    @Test func patternsExpandAsSSHDsDo() throws {
        let account = SystemAccount(name: "alice", uid: 1001, gid: 1001, home: "/home/alice", shell: "/bin/sh")
        #expect(SSHAuthorizedKeysPolicy.path(of: ".ssh/authorized_keys", for: account) == "/home/alice/.ssh/authorized_keys")
        #expect(SSHAuthorizedKeysPolicy.path(of: "/etc/keys/%u.%U", for: account) == "/etc/keys/alice.1001")
        #expect(SSHAuthorizedKeysPolicy.path(of: "%h/k%%", for: account) == "/home/alice/k%")
        #expect(SSHAuthorizedKeysPolicy.path(of: "/etc/keys/%x", for: account) == nil, "an unknown token reads nothing")
        #expect(SSHAuthorizedKeysPolicy.path(of: "none", for: account) == nil)
    }
}
