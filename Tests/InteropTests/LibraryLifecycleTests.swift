// The library's lifecycle over real TCP: SSHServer's graceful shutdown, cancellation and per-connection limits
// (sessions, connections, login grace time); the connection delegate for non-session channels and global requests
// (with OpenSSH's `ssh -W` as the peer); SSHClient's keepalive against a frozen sshd; cancelling a command or a
// connection attempt.
import Foundation
import NIOCore
import SSHPOSIX
import NIOPosix
@testable import SSH
import ServiceLifecycle
import ServiceLifecycleTestKit
import SSHKeys
import SSHServerHost
import SSHProtocol
import Testing

/// Echoes direct-tcpip channels back and answers tcpip-forward for port 0 with a made-up port.
private struct EchoTunnelDelegate: SSHServerConnectionDelegate {
    func channelOpen(_ type: SSHChannelType, on connection: SSHServerConnection) async -> SSHChannelOpenDecision {
        guard case .directTCPIP(_, 7, _, _) = type else { return .reject(.connectFailed, description: "only the echo port here") }
        return .accept { channel in
            for try await input in channel.input {
                if case .data(let bytes) = input { try await channel.write(bytes) }
                if case .eof = input { break }
            }
        }
    }

    func globalRequest(_ request: SSHGlobalRequest, on connection: SSHServerConnection) async -> SSHGlobalRequestResponse {
        if case .tcpipForward(_, 0) = request { return .boundPort(4242) }
        return .failure
    }
}


// A time limit per test: a hang becomes a failure naming the test instead of a stalled CI run.
@Suite(.timeLimit(.minutes(3))) struct LibraryLifecycleTests {
    static func connect(port: Int, key: SSHPrivateKey, hostKey: SSHPrivateKey,
                        configuration: SSHClient.Configuration = SSHClient.Configuration()) async throws -> SSHClient {
        try await SSHClient.connect(host: "127.0.0.1", port: port, user: "alice", credentials: [.privateKey(key)],
                                    hostKeyValidator: PinnedHostKeys([hostKey.publicKey]), configuration: configuration)
    }

    /// Sessions are child tasks of run(), but a process that ignores its hang-up must not keep run() from
    /// returning when the server is cancelled: it is hung up and left to end on its own (as sshd leaves it).
    @Test func cancellingRunIsNotHeldByAProcessIgnoringHangUp() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let server = SSHServer(configuration: .init(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)]),
                               authenticator: TestAuthenticator(keys: [key.publicKey]), sessionHandler: SSHProcessSessionHandler(shell: "/bin/sh"))
        let running = Task { try await server.run() }
        let client = try await Self.connect(port: try await server.listeningPort, key: key, hostKey: hostKey)
        let session = try await client.openSession()
        let marker = "ignoring-hangup-\(UInt32.random(in: 0...UInt32.max))"
        try await session.request(.exec("trap '' HUP; echo ready; exec sleep 30 # \(marker)"))
        for try await input in session.input {
            if case .data = input { break }
        }
        let started = ContinuousClock.now
        running.cancel()
        _ = await running.result
        #expect(ContinuousClock.now - started < .seconds(10), "run() waited for a process that ignores SIGHUP")
        _ = try? await runAsync("/usr/bin/pkill", ["-f", marker])
    }

    @Test func gracefulShutdownLetsRunningSessionsFinish() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let server = SSHServer(configuration: .init(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)]),
                               authenticator: TestAuthenticator(keys: [key.publicKey]), sessionHandler: SSHProcessSessionHandler(shell: "/bin/sh"))
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                let port = try await server.listeningPort
                let busy = try await Self.connect(port: port, key: key, hostKey: hostKey)
                let idle = try await Self.connect(port: port, key: key, hostKey: hostKey)
                let session = try await busy.openSession()
                try await session.request(.exec("sleep 1; echo finished"))
                trigger.triggerGracefulShutdown()

                // The idle connection is told goodbye at once; the busy one refuses new channels but keeps its session.
                #expect(await eventually { !idle.channel.isActive })
                #expect(await eventually { (try? await busy.openSession()) == nil })
                await #expect(throws: SSHError.self) { _ = try await Self.connect(port: port, key: key, hostKey: hostKey) }
                var output: [UInt8] = [], status: Int32?
                for try await input in session.input {
                    if case .data(let bytes) = input { output += bytes.readableBytesView }
                    if case .exitStatus(let code) = input { status = code }
                }
                #expect(output == Array("finished\n".utf8) && status == 0)
                // Its last channel closed, the busy connection ends too, and run() returns.
                #expect(await eventually { !busy.channel.isActive })
                try await group.next()
                #expect(server.connectionCount == 0)
            }
        }
    }

    @Test func cancellingTheServerClosesEveryConnection() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let (sessionStarts, sessionStarted) = AsyncStream.makeStream(of: Void.self)
        var configuration = SSHServer.Configuration(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)])
        configuration.onEvent = { event in if case .sessionStarted = event { sessionStarted.yield() } }
        let server = SSHServer(configuration: configuration, authenticator: TestAuthenticator(keys: [key.publicKey]),
                               sessionHandler: SSHProcessSessionHandler(shell: "/bin/sh"))
        let running = Task { try await server.run() }
        let client = try await Self.connect(port: try await server.listeningPort, key: key, hostKey: hostKey)
        let command = Task { try await client.execute("sleep 20") }
        // Cancelled once the command's session runs on the server.
        for await _ in sessionStarts { break }
        running.cancel()
        // An error, not the result `sleep 20` would give.
        await #expect(throws: SSHError.self) { _ = try await command.value }
        _ = try? await running.value
        #expect(server.connectionCount == 0)
    }

    @Test func sessionsPerConnectionAreLimited() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        try await withTestServer(authenticator: TestAuthenticator(keys: [key.publicKey]),
                                 configure: { $0.maximumSessionsPerConnection = 2 }) { port, hostKey in
            let client = try await Self.connect(port: port, key: key, hostKey: hostKey)
            let first = try await client.openSession()
            let second = try await client.openSession()
            let error = await #expect(throws: SSHError.self) { _ = try await client.openSession() }
            #expect(error?.description.contains("administratively prohibited") == true, "\(String(describing: error))")
            await first.close()
            let again = try await client.openSession()
            try await again.request(.exec("true"))
            try await second.request(.exec("true"))
            await client.close()
        }
    }

    @Test func connectionsAreLimited() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let server = SSHServer(configuration: .init(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)], maximumConnections: 1),
                               authenticator: TestAuthenticator(keys: [key.publicKey]), sessionHandler: SSHProcessSessionHandler(shell: "/bin/sh"))
        let running = Task { try await server.run() }
        defer { running.cancel() }
        let port = try await server.listeningPort
        let first = try await Self.connect(port: port, key: key, hostKey: hostKey)
        await #expect(throws: SSHError.self) { _ = try await Self.connect(port: port, key: key, hostKey: hostKey) }
        #expect(try await first.execute("echo one").stdout == Array("one\n".utf8))
        await first.close()
        #expect(await eventually { server.connectionCount == 0 })
        let second = try await Self.connect(port: port, key: key, hostKey: hostKey)
        #expect(try await second.execute("echo two").stdout == Array("two\n".utf8))
        await second.close()
    }

    /// A connection that never authenticates is closed after the login grace time; one that did is not. (The grace
    /// is long enough for a login on a loaded two-core machine.)
    @Test func loginGraceTime() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        try await withTestServer(authenticator: TestAuthenticator(keys: [key.publicKey]),
                                 configure: { $0.loginGraceTime = .seconds(10) }) { port, hostKey in
            // A login slower than the grace time (a loaded machine) is rightly closed by it: try again then (at
            // most three times) instead of concluding anything from it.
            var survivor: SSHClient?
            for _ in 0..<3 where survivor == nil {
                let started = Date()
                do {
                    survivor = try await Self.connect(port: port, key: key, hostKey: hostKey)
                } catch let error as SSHError where error.description.contains("login grace time") {
                    #expect(Date().timeIntervalSince(started) >= 9, "closed for the grace time before it had passed")
                }
            }
            let authenticated = try #require(survivor)
            let outcome = try await runAsync("/usr/bin/env", ["python3", "-c", """
                import socket, sys, time
                s = socket.create_connection(("127.0.0.1", \(port)))
                s.sendall(b"SSH-2.0-silent\\r\\n")
                start = time.monotonic()
                s.settimeout(60)
                while s.recv(4096):
                    pass
                print(round(time.monotonic() - start, 1))
                """])
            let seconds = Double(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            #expect(seconds >= 9.5 && seconds < 60, "closed after \(seconds) s: \(outcome.stderr)")
            #expect(try await authenticated.execute("echo alive").stdout == Array("alive\n".utf8))
            await authenticated.close()
        }
    }

    /// The connection delegate serves direct-tcpip channels (OpenSSH's `ssh -W` and our openChannel) and answers
    /// global requests; without one, both are refused.
    @Test func connectionDelegateServesTunnelsAndGlobalRequests() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try await runAsync(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "", "-f", "\(directory)/id"])
        let key = try SSHKeyFile.loadPrivateKey(atPath: "\(directory)/id")
        let tunnel = SSHChannelType.directTCPIP(host: "127.0.0.1", port: 7, originatorAddress: "127.0.0.1", originatorPort: 5555)
        try await withTestServer(authenticator: TestAuthenticator(keys: [key.publicKey]), connectionDelegate: EchoTunnelDelegate()) { port, hostKey in
            let client = try await Self.connect(port: port, key: key, hostKey: hostKey)
            let channel = try await client.openChannel(tunnel)
            try await channel.write(ByteBuffer(string: "ping"))
            try await channel.sendEOF()
            var echoed = ""
            for try await input in channel.input { if case .data(let bytes) = input { echoed += String(buffer: bytes) } }
            #expect(echoed == "ping")
            let refused = await #expect(throws: SSHError.self) {
                _ = try await client.openChannel(.directTCPIP(host: "127.0.0.1", port: 80, originatorAddress: "127.0.0.1", originatorPort: 5555))
            }
            #expect(refused?.description.contains("only the echo port here") == true)
            #expect(try await client.sendGlobalRequest(.tcpipForward(address: "localhost", port: 0)) == .boundPort(4242))
            #expect(try await client.sendGlobalRequest(.tcpipForward(address: "localhost", port: 8080)) == .failure)
            #expect(try await client.sendGlobalRequest(.keepalive) == .success)
            await client.close()

            try "[127.0.0.1]:\(port) \(hostKey.publicKey)\n".write(toFile: "\(directory)/known_hosts", atomically: true, encoding: .utf8)
            let viaSSH = try await OpenSSHInstallation.system.sshAsync(
                ["-F", "/dev/null", "-p", "\(port)", "-i", "\(directory)/id", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                 "-o", "UserKnownHostsFile=\(directory)/known_hosts", "-W", "127.0.0.1:7", "alice@127.0.0.1"], stdin: Array("hello through -W".utf8))
            #expect(viaSSH.stdout == "hello through -W", "\(viaSSH.stderr)")
        }
        try await withTestServer(authenticator: TestAuthenticator(keys: [key.publicKey])) { port, hostKey in
            let client = try await Self.connect(port: port, key: key, hostKey: hostKey)
            let error = await #expect(throws: SSHError.self) { _ = try await client.openChannel(tunnel) }
            #expect(error?.description.contains("administratively prohibited") == true, "\(String(describing: error))")
            #expect(try await client.sendGlobalRequest(.tcpipForward(address: "localhost", port: 0)) == .failure)
            await client.close()
        }
    }

    /// Cancelled at every stage (before the open is confirmed, during the exec request,
    /// while the command runs), `execute` ends at once with CancellationError. A cancel that came before the
    /// server's confirmation once left the open waiting forever (two CI runs hung on it).
    @Test(arguments: [0, 100, 300, 1_000, 3_000, 10_000, 300_000])
    func cancellingACommandClosesItsChannelAndKeepsTheConnection(afterMicroseconds delay: Int) async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        try await withTestServer(authenticator: TestAuthenticator(keys: [key.publicKey])) { port, hostKey in
            let client = try await Self.connect(port: port, key: key, hostKey: hostKey)
            let command = Task {
                // 0: cancelled before `execute` begins, so its open is cancelled before the server can confirm it.
                if delay == 0 { withUnsafeCurrentTask { $0?.cancel() } }
                return try await client.execute("sleep 90")
            }
            try await Task.sleep(for: .microseconds(delay))
            command.cancel()
            let started = Date()
            // CancellationError, not a result: `sleep 90` had not finished. The bound is loose on purpose: a
            // loaded test process (the long tier) can stall every task for tens of seconds, but never for 90.
            await #expect(throws: CancellationError.self) { _ = try await command.value }
            #expect(Date().timeIntervalSince(started) < 60, "the cancelled command took until `sleep 90` ended")
            let connection = client.connection
            #expect(await eventually { (try? await client.channel.eventLoop.submit { connection.value.openChannelCount }.get()) == 0 })
            #expect(try await client.execute("echo ok").stdout == Array("ok\n".utf8))
            await client.close()
        }
    }

    /// A server that accepts TCP but never says a word: cancelling the connecting task ends it at once, long
    /// before the 30 s connect timeout.
    @Test func cancellingAConnectionAttempt() async throws {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        defer { listener.close(promise: nil) }
        let port = try #require(listener.localAddress?.port)
        let attempt = Task {
            try await SSHClient.connect(host: "127.0.0.1", port: port, user: "alice", credentials: [.password("x")],
                                        hostKeyValidator: .acceptAnyHostKeyInsecurely, configuration: .init(connectTimeout: .seconds(300)))
        }
        try await Task.sleep(for: .milliseconds(300))
        attempt.cancel()
        // CancellationError, not the connect timeout's error (5 minutes away).
        await #expect(throws: CancellationError.self) { _ = try await attempt.value }
    }
}

@Suite("Client keepalive against sshd", .enabled(if: isRootUser, "starting sshd on a test port needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct ClientKeepaliveTests {
    /// Keepalives every second: a healthy sshd answers them through a 3-second command; once the connection is
    /// frozen (a relay between client and sshd stops forwarding), three go unanswered and the client gives up
    /// with a clear error. Only this test's own connection is frozen: no process is stopped.
    @Test func keepaliveDetectsAFrozenServer() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        let sshd = try await offThePool { try TestSSHD() }
        defer { sshd.stop() }
        try "\(key.publicKey)\n".write(toFile: sshd.directory + "/authorized_keys", atomically: true, encoding: .utf8)
        let relay = try await FreezableRelay(to: sshd.port)
        let hostKey = try SSHPublicKeyLine(parsing: sshd.hostKeyPublic).key
        let client = try await SSHClient.connect(host: "127.0.0.1", port: relay.port, user: testLogin, credentials: [.privateKey(key)],
                                                 hostKeyValidator: PinnedHostKeys([hostKey]),
                                                 configuration: .init(keepaliveInterval: .seconds(1), keepaliveMaximumUnanswered: 3))
        #expect(try await client.execute("sleep 3; echo awake").stdout == Array("awake\n".utf8))

        let session = try await client.openSession()
        try await session.request(.exec("sleep 60"))
        await relay.freeze()
        let started = Date()
        let error = await #expect(throws: SSHError.self) { for try await _ in session.input {} }
        let elapsed = Date().timeIntervalSince(started)
        await relay.close()
        guard case .peerNotResponding(3)? = error?.kind else {
            Issue.record("expected peerNotResponding(3), got \(String(describing: error))")
            return
        }
        #expect(elapsed > 2.5 && elapsed < 30, "gave up after \(elapsed) s (the command would have run 60 s)")
    }
}
