// MaxSessions and MaxAuthTries inside Match, with shhd's real authenticator on an in-process SSHServer: the user the
// Match names gets its own limits, everyone else the top-level ones.
import Foundation
import NIOCore
import SSHPOSIX
import OpenSSHConfig
import SSH
import SSHKeys
import SSHProtocol
import SSHServerHost
@testable import ShhdCommand
import Testing

private struct Idle: SSHSessionHandler {
    func runSession(_ session: SSHServerSession) async throws -> SSHSessionExit {
        for try await _ in session.channel.input {}
        return .status(0)
    }
}

@Suite(.timeLimit(.minutes(5))) struct MatchLimitsTests {
    @Test func maxSessionsAndMaxAuthTriesInsideMatch() async throws {
        let directory = NSTemporaryDirectory() + "shhd-match-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = try SSHPrivateKey.generate(type: .ed25519)
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let authenticator = try madeUpUsersAuthenticator(directory: directory, keys: ["limited": key.publicKey, "other": key.publicKey], moreConfig: """
            MaxSessions 3
            Match User limited
              MaxSessions 1
              MaxAuthTries 2
            """)
        let server = SSHServer(configuration: .init(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)], maximumSessionsPerConnection: 3),
                               authenticator: authenticator, sessionHandler: Idle())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningPort
            func connect(_ user: String, _ credentials: [SSHClientCredential]) async throws -> SSHClient {
                try await SSHClient.connect(host: "127.0.0.1", port: port, user: user, credentials: credentials,
                                            hostKeyValidator: PinnedHostKeys([hostKey.publicKey]))
            }
            /// Sessions opened and kept open (a channel let go of is closed, making room again).
            func sessionsOpened(_ client: SSHClient, trying count: Int) async -> Int {
                var open: [SSHChannel] = []
                for _ in 0..<count { if let channel = try? await client.openSession() { open.append(channel) } }
                for channel in open { await channel.close() }
                return open.count
            }
            let limited = try await connect("limited", [.privateKey(key)])
            let limitedOpened = await sessionsOpened(limited, trying: 3)
            #expect(limitedOpened == 1, "Match User limited: MaxSessions 1, opened \(limitedOpened)")
            await limited.close()
            let other = try await connect("other", [.privateKey(key)])
            let otherOpened = await sessionsOpened(other, trying: 4)
            #expect(otherOpened == 3, "the top level MaxSessions 3, opened \(otherOpened)")
            await other.close()

            // Wrong keys: "limited" is cut off after two failures (its MaxAuthTries), "other" may try all six.
            let wrongKeys = try (0..<5).map { _ in SSHClientCredential.privateKey(try SSHPrivateKey.generate(type: .ed25519)) }
            for (user, expected) in [("limited", 2), ("other", 5)] {
                do {
                    _ = try await connect(user, wrongKeys)
                    Issue.record("\(user) logged in with wrong keys")
                } catch let error as SSHError {
                    guard case .authenticationFailed(_, let tried, _) = error.kind else {
                        // Cut off: the server's DISCONNECT for too many failures.
                        #expect(user == "limited" && "\(error)".contains("too many authentication failures"), "\(user): \(error)")
                        continue
                    }
                    #expect(user == "other" && tried.count >= expected, "\(user): \(error)")
                }
            }
        }
    }
}
