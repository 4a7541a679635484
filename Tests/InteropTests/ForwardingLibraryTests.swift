// SSHForwarding over real TCP between our client and an SSHServer with SSHServerForwarding: -L, -R (port 0), a Unix
// socket target, a jump host, half-close both ways, refusals by policy and unsolicited channels — all with digests.
import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import SSH
import SSHForwarding
import SSHKeys
import SSHProtocol
import Testing

/// Opens a forwarded-tcpip channel nobody asked for when a client opens direct-tcpip to port 9 (discard), and
/// reports whether the client accepted it.
private struct UnsolicitedChannelDelegate: SSHServerConnectionDelegate {
    let outcome: AsyncStream<Bool>.Continuation

    func channelOpen(_ type: SSHChannelType, on connection: SSHServerConnection) async -> SSHChannelOpenDecision {
        let opened = (try? await connection.openChannel(.forwardedTCPIP(connectedAddress: "127.0.0.1", connectedPort: 8080,
                                                                         originatorAddress: "10.0.0.1", originatorPort: 1))) != nil
        outcome.yield(opened)
        return .reject(.connectFailed, description: "nothing here")
    }
}

/// Counts events from a callback on any thread.
final class EventLog: Sendable {
    private let counter = NIOLockedValueBox(0)
    func add() { counter.withLockedValue { $0 += 1 } }
    var count: Int { counter.withLockedValue { $0 } }
}

@Suite(.timeLimit(.minutes(3))) struct ForwardingLibraryTests {
    static func withForwardingServer<R>(policy: SSHForwardingPolicy = .openSSHDefaults,
                                        delegate: (any SSHServerConnectionDelegate)? = nil,
                                        _ body: (SSHClient, Int, SSHPrivateKey, SSHPrivateKey) async throws -> R) async throws -> R {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        let forwarding = SSHServerForwarding(policy: { _ in policy }, host: SSHInProcessForwardingHost())
        return try await withTestServer(authenticator: TestAuthenticator(keys: [key.publicKey]), connectionDelegate: delegate ?? forwarding) { port, hostKey in
            let client = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "alice", credentials: [.privateKey(key)],
                                                     hostKeyValidator: PinnedHostKeys([hostKey.publicKey]))
            do {
                let result = try await body(client, port, key, hostKey)
                await client.close()
                return result
            } catch {
                await client.close()
                throw error
            }
        }
    }

    @Test func localForwardCarriesBothWaysAndEndsWithHalfClose() async throws {
        let echo = try await EchoService()
        defer { Task { await echo.close() } }
        try await Self.withForwardingServer { client, _, _, _ in
            let forward = try await client.startLocalForward(listeningOn: .tcp(host: "127.0.0.1", port: 0),
                                                             to: .endpoint(.tcp(host: "127.0.0.1", port: echo.port)))
            let port = try #require(forward.port)
            let data = randomBytes(4 << 20)
            async let first = exchange(withPort: port, data)
            async let second = exchange(withPort: port, Array("short".utf8))
            let (echoed, short) = try await (first, second)
            #expect(echoed.count == data.count && SHA256.hash(data: echoed) == SHA256.hash(data: data))
            #expect(short == Array("short".utf8))
            await forward.close(closingConnections: true)
        }
    }

    /// Tests/InteropTests/socks5_client.py: a SOCKS5 client (domain addressing) sending `input` and reading to the end.
    static func throughSOCKS5(proxyPort: Int, targetPort: Int, input: String) async throws -> ProcessResult {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("socks5_client.py").path
        return try await runAsync("/usr/bin/env", ["python3", script, "\(proxyPort)", "localhost", "\(targetPort)"], stdin: Array(input.utf8))
    }

    @Test func dynamicForwardServesSOCKS5AndRefusesGarbage() async throws {
        let echo = try await EchoService()
        defer { Task { await echo.close() } }
        try await Self.withForwardingServer { client, _, _, _ in
            let refusals = EventLog()
            let forward = try await client.startLocalForward(listeningOn: .tcp(host: "127.0.0.1", port: 0), to: .socks,
                                                             onEvent: { if case .failed = $0 { refusals.add() } })
            let port = try #require(forward.port)
            let result = try await Self.throughSOCKS5(proxyPort: port, targetPort: echo.port, input: "through socks")
            #expect(result.status == 0 && result.stdout == "through socks", "\(result)")
            // Not SOCKS: closed without an answer, reported, and the forward goes on serving.
            let garbage = try await exchange(withPort: port, Array("GET / HTTP/1.1\r\n\r\n".utf8))
            #expect(garbage.isEmpty)
            #expect(refusals.count == 1)
            let again = try await Self.throughSOCKS5(proxyPort: port, targetPort: echo.port, input: "still serving")
            #expect(again.stdout == "still serving", "\(again)")
            await forward.close(closingConnections: true)
        }
    }

    @Test func reverseDynamicForwardConnectsFromTheClientsSide() async throws {
        let echo = try await EchoService()
        defer { Task { await echo.close() } }
        try await Self.withForwardingServer { client, _, _, _ in
            let forward = try await client.startRemoteForward(listeningOn: .tcp(host: "127.0.0.1", port: 0), to: .socks)
            let port = try #require(forward.boundPort)
            let result = try await Self.throughSOCKS5(proxyPort: port, targetPort: echo.port, input: "reverse socks")
            #expect(result.status == 0 && result.stdout == "reverse socks", "\(result)")
        }
    }

    @Test func remoteForwardOnAPortTheServerChooses() async throws {
        let echo = try await EchoService()
        defer { Task { await echo.close() } }
        try await Self.withForwardingServer { client, _, _, _ in
            let forward = try await client.startRemoteForward(listeningOn: .tcp(host: "127.0.0.1", port: 0),
                                                              to: .endpoint(.tcp(host: "127.0.0.1", port: echo.port)))
            let port = try #require(forward.boundPort)
            #expect(port != 0)
            let data = randomBytes(1 << 20)
            let echoed = try await exchange(withPort: port, data)
            #expect(SHA256.hash(data: echoed) == SHA256.hash(data: data))
            try await forward.cancel()
            // Cancelled: the server no longer listens there.
            await #expect(throws: (any Error).self) { _ = try await exchange(withPort: port, [1], timeout: .seconds(10)) }
        }
    }

    @Test func tunnelToAUnixSocketOnTheServer() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let echo = try await EchoService(unixSocket: "\(directory)/echo.sock")
        defer { Task { await echo.close() } }
        try await Self.withForwardingServer { client, _, _, _ in
            let tunnel = try await client.openTunnel(to: .unixSocket(path: "\(directory)/echo.sock"))
            try await tunnel.write(ByteBuffer(string: "over a unix socket"))
            try await tunnel.sendEOF()
            var received = ""
            var sawEOF = false
            for try await input in tunnel.input {
                if case .data(let bytes) = input { received += String(buffer: bytes) }
                if case .eof = input { sawEOF = true }
            }
            #expect(received == "over a unix socket")
            #expect(sawEOF, "the service's half-close reaches the client as EOF")
        }
    }

    @Test func jumpHostCarriesASecondConnection() async throws {
        try await Self.withForwardingServer { client, port, key, hostKey in
            let inner = try await SSHClient.connect(through: client, host: "127.0.0.1", port: port, user: "alice",
                                                    credentials: [.privateKey(key)], hostKeyValidator: PinnedHostKeys([hostKey.publicKey]))
            #expect(try await inner.run("echo through the jump", check: true) == "through the jump\n")
            let twice = try await SSHClient.connect(through: inner, host: "127.0.0.1", port: port, user: "alice",
                                                    credentials: [.privateKey(key)], hostKeyValidator: PinnedHostKeys([hostKey.publicKey]))
            #expect(try await twice.run("echo two hops", check: true) == "two hops\n")
            await twice.close()
            await inner.close()
            #expect(try await client.run("echo the jump still works", check: true) == "the jump still works\n")
        }
    }

    @Test func refusedByPolicyAThousandTimesAndTheConnectionCarriesOn() async throws {
        try await Self.withForwardingServer(policy: SSHForwardingPolicy()) { client, _, _, _ in
            for _ in 0..<1000 {
                do {
                    _ = try await client.openTunnel(to: .tcp(host: "127.0.0.1", port: 22))
                    Issue.record("a forwarding the policy denies was opened")
                    return
                } catch let error as SSHError {
                    guard case .channelOpenFailed(.administrativelyProhibited, _) = error.kind else {
                        Issue.record("unexpected refusal: \(error)")
                        return
                    }
                }
            }
            #expect(try await client.run("echo still here", check: true) == "still here\n")
            let refused = try await client.sendGlobalRequest(.tcpipForward(address: "127.0.0.1", port: 0))
            #expect(refused == .failure)
        }
    }

    @Test func aClosedPortIsReportedAsConnectFailed() async throws {
        let closedPort = try await { () async throws -> Int in
            let service = try await EchoService()
            let port = service.port
            await service.close()
            return port
        }()
        try await Self.withForwardingServer { client, _, _, _ in
            do {
                _ = try await client.openTunnel(to: .tcp(host: "127.0.0.1", port: closedPort))
                Issue.record("opened a tunnel to a closed port")
            } catch let error as SSHError {
                guard case .channelOpenFailed(.connectFailed, let description) = error.kind else {
                    Issue.record("unexpected: \(error)")
                    return
                }
                #expect(description.contains("refused"), "\(description)")
            }
        }
    }

    @Test func aForwardedChannelNobodyAskedForIsRefused() async throws {
        let (outcomes, continuation) = AsyncStream.makeStream(of: Bool.self)
        try await Self.withForwardingServer(delegate: UnsolicitedChannelDelegate(outcome: continuation)) { client, _, _, _ in
            // A remote forward elsewhere is registered, so the client has a router; the unsolicited port is not it.
            _ = try? await client.openTunnel(to: .tcp(host: "127.0.0.1", port: 9))
            var iterator = outcomes.makeAsyncIterator()
            #expect(await iterator.next() == false, "the client refused the forwarded-tcpip channel it never asked for")
            let fine = try await client.run("echo fine", check: true)
            #expect(fine == "fine\n")
        }
    }
}
