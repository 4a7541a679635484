// Why in-process logins once "timed out during authentication" on a busy CI machine: the server asked its
// authenticator, and the client its signer, on Swift's cooperative thread pool (two threads on two cores), which
// whatever else ran in the process (synchronous tests, CPU-bound work) could hold for longer than the client's 30 s
// authentication timeout. Both now run on the connection's event loop, so a held pool delays only the code that
// awaits the result.
import Foundation
import NIOCore
import SSH
import SSHKeys
import SSHProtocol
import Testing

/// Accepts any host key, after filling every thread of the cooperative pool with a task that blocks for five
/// seconds: from here to the end of authentication, nothing can run there.
private struct PoolHoggingValidator: SSHHostKeyValidator {
    func validateHostKey(_ hostKey: SSHPresentedKey, of server: SSHHostAddress) async throws {
        for _ in 0..<ProcessInfo.processInfo.activeProcessorCount {
            Task.detached { usleep(5_000_000) }
        }
    }
}

@Suite(.timeLimit(.minutes(10))) struct CooperativePoolTests {
    /// Run in a process of its own (an exit test): holding the pool here would hold every other test too.
    @Test func aLoginCompletesWhileTheCooperativePoolIsHeld() async {
        await #expect(processExitsWith: .success) {
            try await CooperativePoolTests.logInWhileThePoolIsHeld()
        }
    }

    /// The client allows authentication 2 s; the pool is held for 5 s from the host key check on.
    static func logInWhileThePoolIsHeld() async throws {
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let userKey = try SSHPrivateKey.generate(type: .ed25519)
        let server = SSHServer(configuration: .init(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)]),
                               authenticator: OneKey(key: userKey.publicKey), sessionHandler: Greeter())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningPort
            let configuration = SSHClient.Configuration(connectTimeout: .seconds(30), authenticationTimeout: .seconds(2))
            // A signer, so the client's own callback is part of the login too (it runs on the event loop as well).
            let signer = SSHClientCredential.signer(key: .key(userKey.publicKey)) { data, algorithm in
                try userKey.signature(for: data, algorithm: algorithm)
            }
            let client = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "me", credentials: [signer],
                                                     hostKeyValidator: PoolHoggingValidator(), configuration: configuration)
            await client.close()
        }
    }
}
