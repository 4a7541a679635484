// /etc/nologin in SSHProcessSessionHandler: while a listed file exists, a session of anyone but root is not started
// (the file's text on its stderr, exit status 254, as sshd); root's sessions are; once the file is gone, everyone's
// are again. An in-process SSHServer running sessions as the account that logged in, and our SSHClient.
import Foundation
import SSH
import SSHPOSIX
import SSHKeys
import SSHProtocol
import SSHServerHost
import Testing

/// One key, for the listed user names only.
private struct KeyForUsers: SSHServerAuthenticator {
    let key: SSHPublicKey
    let users: Set<String>
    var offeredMethods: [SSHAuthenticationMethod] { ["publickey"] }

    func decide(_ attempt: SSHAuthenticationAttempt, on connection: SSHServerConnectionInfo) async -> SSHAuthenticationDecision {
        guard case .publicKey(let user, .key(let presented), _, _) = attempt, users.contains(user), presented == key else { return .reject }
        return .accept
    }
}

@Suite("/etc/nologin keeps everyone but root out", .enabled(if: isRootUser, "sessions as other accounts need root; CI runs as root"),
       .timeLimit(.minutes(3)))
struct NoLoginTests {
    @Test func aNoLoginFileStopsEveryoneButRoot() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let noLogin = directory + "/nologin"
        let notice = "Down for maintenance until 14:00.\nTry again later.\n"
        try notice.write(toFile: noLogin, atomically: true, encoding: .utf8)

        let key = try SSHPrivateKey.generate(type: .ed25519)
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let configuration = SSHServer.Configuration(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)],
                                                    authenticationFailureDelay: .milliseconds(20))
        let server = SSHServer(configuration: configuration, authenticator: KeyForUsers(key: key.publicKey, users: ["nobody", testLogin]),
                               sessionHandler: SSHProcessSessionHandler(accounts: .authenticatedUser, noLoginFiles: [noLogin]))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningPort
            func execute(as user: String) async throws -> SSHExecutionResult {
                let client = try await SSHClient.connect(host: "127.0.0.1", port: port, user: user, credentials: [.privateKey(key)],
                                                         hostKeyValidator: PinnedHostKeys([hostKey.publicKey]))
                let result = try await client.execute("echo ran")
                await client.close()
                return result
            }
            func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
            func shown(_ result: SSHExecutionResult) -> String {
                "status \(result.exitStatus.map(String.init) ?? "none"), stdout \(text(result.stdout).debugDescription), stderr \(text(result.stderr).debugDescription)"
            }

            // Authentication succeeds; it is the session that is not started.
            let refused = try await execute(as: "nobody")
            #expect(refused.exitStatus == 254, "\(shown(refused))")
            #expect(text(refused.stderr) == notice, "the file's text, as it is: \(text(refused.stderr))")
            #expect(refused.stdout.isEmpty, "\(shown(refused))")

            // testLogin is a second name for user ID 0: root is let in whatever the file says.
            let root = try await execute(as: testLogin)
            #expect(root.exitStatus == 0 && text(root.stdout) == "ran\n", "\(shown(root))")

            // The file gone, nobody's session starts: its login shell (Debian's /usr/sbin/nologin) is what turns it
            // away now, saying so on stdout with status 1, not the server's 254.
            try FileManager.default.removeItem(atPath: noLogin)
            let started = try await execute(as: "nobody")
            #expect(started.exitStatus == 1, "\(shown(started))")
            #expect(text(started.stdout).contains("This account is currently not available"), "\(shown(started))")
            #expect(!text(started.stderr).contains("maintenance"), "\(shown(started))")
        }
    }
}
