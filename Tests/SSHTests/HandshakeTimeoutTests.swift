// The client's timeouts: connectTimeout bounds getting as far as the host key check; authenticationTimeout bounds
// what comes after, unless it is nil — a person deciding about a host key (or typing a password) is not timed.
import Foundation
import NIOCore
import SSH
import SSHKeys
import SSHProtocol
import Testing

/// Answers after `delay`, as a person reading a fingerprint would.
struct SlowValidator: SSHHostKeyValidator {
    let delay: TimeAmount
    func validateHostKey(_ hostKey: SSHPresentedKey, of server: SSHHostAddress) async throws {
        try await Task.sleep(nanoseconds: UInt64(delay.nanoseconds))
    }
}

@Suite(.timeLimit(.minutes(10))) struct HandshakeTimeoutTests {
    func withServer<R: Sendable>(_ body: @Sendable (Int, SSHPrivateKey) async throws -> R) async throws -> R {
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let userKey = try SSHPrivateKey.generate(type: .ed25519)
        let server = SSHServer(configuration: .init(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)]),
                               authenticator: OneKey(key: userKey.publicKey), sessionHandler: Greeter())
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            return try await body(try await server.listeningPort, userKey)
        }
    }

    @Test func aSlowHostKeyAnswerIsNotTimedWithoutAnAuthenticationTimeout() async throws {
        try await withServer { port, userKey in
            // The connect timeout is generous enough to reach the host key check on a busy machine (500 ms was not,
            // beside the fuzzers in CI's company) and still shorter than the answer, which must not count against it.
            let configuration = SSHClient.Configuration(connectTimeout: .seconds(5), authenticationTimeout: nil)
            let client = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "me", credentials: [.privateKey(userKey)],
                                                     hostKeyValidator: SlowValidator(delay: .seconds(7)), configuration: configuration)
            let result = try await client.execute("x")
            #expect(result.stdout == Array("hello, me\n".utf8))
            await client.close()
        }
    }

    @Test func theAuthenticationTimeoutBoundsWhatComesAfterTheHostKey() async throws {
        try await withServer { port, userKey in
            let configuration = SSHClient.Configuration(connectTimeout: .seconds(30), authenticationTimeout: .milliseconds(300))
            do {
                _ = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "me", credentials: [.privateKey(userKey)],
                                                hostKeyValidator: SlowValidator(delay: .seconds(5)), configuration: configuration)
                Issue.record("connected although the host key answer came after the authentication timeout")
            } catch let error as SSHError {
                guard case .timedOut(.authentication, _, _) = error.kind else {
                    Issue.record("expected a timeout during authentication, got \(error)")
                    return
                }
                #expect("\(error)".contains("timed out during authentication"), "\(error)")
            }
        }
    }
}
