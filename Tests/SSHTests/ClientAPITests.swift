// The client API a Swift developer meets: scoped connections that always close, a dropped client that
// disconnects, run(_:check:) that throws on failure, typed errors, and ssh's known_hosts checking in one line.
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SSH
import SSHKeys
import SSHProtocol
import Testing

/// "exit N" exits with N after writing "failing" to stderr; anything else echoes the command and exits 0.
private struct ExitCodeShell: SSHSessionHandler {
    func runSession(_ session: SSHServerSession) async throws -> SSHSessionExit {
        guard case .exec(let bytes) = session.command else { return .status(1) }
        let command = String(decoding: bytes, as: UTF8.self)
        if command.hasPrefix("exit "), let code = Int32(command.dropFirst(5)) {
            try await session.channel.writeStderr(ByteBuffer(string: "failing\n"))
            return .status(code)
        }
        try await session.channel.write(ByteBuffer(string: command + "\n"))
        return .status(0)
    }
}

/// Counts connections the server saw close.
private final class ClosedConnections: Sendable {
    let count = NIOLockedValueBox(0)
    func waitFor(_ expected: Int, seconds: Double = 10) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if count.withLockedValue({ $0 }) >= expected { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}

@Suite(.timeLimit(.minutes(5))) struct ClientAPITests {
    static let hostKey = try? SSHPrivateKey.generate(type: .ed25519)
    static let userKey = try? SSHPrivateKey.generate(type: .ed25519)

    private func withServer<R: Sendable>(_ closed: ClosedConnections = ClosedConnections(),
                                         _ body: @Sendable (Int) async throws -> R) async throws -> R {
        let hostKey = try #require(Self.hostKey), userKey = try #require(Self.userKey)
        var configuration = SSHServer.Configuration(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)])
        configuration.onEvent = { event in
            if case .connectionClosed = event { closed.count.withLockedValue { $0 += 1 } }
        }
        let server = SSHServer(configuration: configuration, authenticator: OneKey(key: userKey.publicKey), sessionHandler: ExitCodeShell())
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            return try await body(try await server.listeningPort)
        }
    }

    private var credentials: [SSHClientCredential] { Self.userKey.map { [.privateKey($0)] } ?? [] }
    private var pinned: PinnedHostKeys { PinnedHostKeys(Set(Self.hostKey.map { [$0.publicKey] } ?? [])) }

    @Test func runReturnsOutputAndCheckThrowsOnFailure() async throws {
        try await withServer { port in
            try await SSHClient.withConnection(host: "127.0.0.1", port: port, user: "me", credentials: credentials,
                                               hostKeyValidator: pinned) { client in
                #expect(try await client.run("hello") == "hello\n")
                // Without check the output comes back whatever the status.
                #expect(try await client.run("exit 3") == "")
                do {
                    _ = try await client.run("exit 3", check: true)
                    Issue.record("a failing command did not throw")
                } catch let error as SSHError {
                    guard case .commandFailed(let command, let status, let signal, let stderr) = error.kind else {
                        Issue.record("expected commandFailed, got \(error)")
                        return
                    }
                    #expect(command == "exit 3" && status == 3 && signal == nil && stderr == "failing")
                    #expect(error.description == "exit 3 exited with status 3: failing")
                }
            }
        }
    }

    @Test func withConnectionClosesWhenTheBodyThrows() async throws {
        struct Stop: Error {}
        let closed = ClosedConnections()
        try await withServer(closed) { port in
            await #expect(throws: Stop.self) {
                try await SSHClient.withConnection(host: "127.0.0.1", port: port, user: "me", credentials: credentials,
                                                   hostKeyValidator: pinned) { _ in throw Stop() }
            }
            #expect(await closed.waitFor(1), "the server saw the connection end")
        }
    }

    /// A client nobody references any more (and none of its channels) disconnects by itself.
    @Test func aDroppedClientDisconnects() async throws {
        let closed = ClosedConnections()
        try await withServer(closed) { port in
            try await connectAndForget(port: port)
            #expect(await closed.waitFor(1), "the dropped client's connection was closed")
        }
    }

    private func connectAndForget(port: Int) async throws {
        let client = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "me", credentials: credentials,
                                                 hostKeyValidator: pinned)
        #expect(try await client.run("still here") == "still here\n")
    }

    /// A channel in use keeps its connection even when the client value is gone.
    @Test func aChannelKeepsItsConnectionOpen() async throws {
        let closed = ClosedConnections()
        try await withServer(closed) { port in
            let channel = try await openChannelAndForgetClient(port: port)
            try await channel.request(.exec("through the channel"))
            var output = ""
            for try await input in channel.input {
                if case .data(let bytes) = input { output += String(buffer: bytes) }
            }
            #expect(output == "through the channel\n")
            #expect(closed.count.withLockedValue { $0 } == 0)
        }
    }

    private func openChannelAndForgetClient(port: Int) async throws -> SSHChannel {
        let client = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "me", credentials: credentials,
                                                 hostKeyValidator: pinned)
        return try await client.openSession()
    }

    @Test func aRefusedHostKeyIsTypedAndSaidOnce() async throws {
        let stranger = try SSHPrivateKey.generate(type: .ed25519)
        try await withServer { port in
            do {
                _ = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "me", credentials: credentials,
                                                hostKeyValidator: .pinned([stranger.publicKey]))
                Issue.record("connected to a server whose key is not pinned")
            } catch let error as SSHError {
                guard case .hostKeyRejected(let host, let rejectedPort, _) = error.kind else {
                    Issue.record("expected hostKeyRejected, got \(error)")
                    return
                }
                #expect(host == "127.0.0.1" && rejectedPort == port)
                #expect(error.underlying is SSHHostKeyRejection)
                #expect(error.description.components(separatedBy: "rejected").count == 2, "says it once: \(error)")
            }
        }
    }

    @Test func aThrowingPasswordPromptIsTheCredentialsFailureNotThePeers() async throws {
        struct NoTerminal: Error {}
        let hostKey = try #require(Self.hostKey)
        let server = SSHServer(configuration: .init(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)]),
                               authenticator: PasswordOnly(), sessionHandler: ExitCodeShell())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningPort
            do {
                _ = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "me",
                                                credentials: [.passwordPrompt { throw NoTerminal() }], hostKeyValidator: pinned)
                Issue.record("logged in without a password")
            } catch let error as SSHError {
                guard case .credentialFailed(.password) = error.kind else {
                    Issue.record("expected credentialFailed(password), got \(error)")
                    return
                }
                #expect(error.underlying is NoTerminal)
            }
        }
    }
}

/// Writes "started", then waits a minute unless cancelled, and records whether it was.
private struct WaitingSession: SSHSessionHandler {
    let cancelled: NIOLockedValueBox<Bool>
    func runSession(_ session: SSHServerSession) async throws -> SSHSessionExit {
        try await session.channel.write(ByteBuffer(string: "started\n"))
        do {
            try await Task.sleep(for: .seconds(60))
        } catch {
            cancelled.withLockedValue { $0 = true }
            throw error
        }
        return .status(0)
    }
}

@Suite(.timeLimit(.minutes(2))) struct ServerStructureTests {
    /// Session handlers are child tasks of run(): cancelling run() cancels them, and run() returns after they end.
    @Test func cancellingRunCancelsItsSessionsAndWaitsForThem() async throws {
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let userKey = try SSHPrivateKey.generate(type: .ed25519)
        let cancelled = NIOLockedValueBox(false)
        let server = SSHServer(configuration: .init(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)]),
                               authenticator: OneKey(key: userKey.publicKey), sessionHandler: WaitingSession(cancelled: cancelled))
        let running = Task { try await server.run() }
        let client = try await SSHClient.connect(host: "127.0.0.1", port: try await server.listeningPort, user: "me",
                                                 credentials: [.privateKey(userKey)], hostKeyValidator: .pinned([hostKey.publicKey]))
        let session = try await client.openSession()
        try await session.request(.exec("wait"))
        for try await input in session.input {
            if case .data = input { break }
        }
        running.cancel()
        _ = await running.result
        #expect(cancelled.withLockedValue { $0 }, "run() returned before its session handler saw the cancellation")
        await client.close()
    }
}

/// Keeps every record logged through it, for a test to read.
private struct RecordingLogHandler: LogHandler {
    let records: NIOLockedValueBox<[(message: String, metadata: Logger.Metadata)]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        records.withLockedValue { $0.append(("\(event.message)", metadata.merging(event.metadata ?? [:]) { $1 })) }
    }
}

@Suite(.timeLimit(.minutes(2))) struct LoggingTests {
    /// An injected logger hears logins and sessions with the metadata a log system indexes.
    @Test func theServerAndClientLogWithMetadata() async throws {
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let userKey = try SSHPrivateKey.generate(type: .ed25519)
        let serverRecords = NIOLockedValueBox<[(message: String, metadata: Logger.Metadata)]>([])
        let clientRecords = NIOLockedValueBox<[(message: String, metadata: Logger.Metadata)]>([])
        var configuration = SSHServer.Configuration(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)])
        configuration.logger = Logger(label: "server") { _ in RecordingLogHandler(records: serverRecords) }
        let server = SSHServer(configuration: configuration, authenticator: OneKey(key: userKey.publicKey), sessionHandler: ExitCodeShell())
        var clientConfiguration = SSHClient.Configuration()
        clientConfiguration.logger = Logger(label: "client") { _ in RecordingLogHandler(records: clientRecords) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            try await SSHClient.withConnection(host: "127.0.0.1", port: try await server.listeningPort, user: "me",
                                               credentials: [.privateKey(userKey)], hostKeyValidator: .pinned([hostKey.publicKey]),
                                               configuration: clientConfiguration) { client in
                _ = try await client.run("twelve bytes")
            }
            let ended = await eventuallyTrue { serverRecords.withLockedValue { $0.contains { $0.message == "connection closed" } } }
            #expect(ended)
        }
        let logged = serverRecords.withLockedValue { $0 }
        let accepted = logged.first { $0.message == "authentication accepted" }
        #expect(accepted?.metadata["user"] == "me" && accepted?.metadata["method"] == "publickey")
        let session = logged.first { $0.message == "session ended" }
        #expect(session?.metadata["bytes_out"] == "13" && session?.metadata["exit_status"] == "0", "\(String(describing: session))")
        let client = clientRecords.withLockedValue { $0 }
        #expect(client.contains { $0.message == "connected" && $0.metadata["user"] == "me" })
    }
}

/// Polls `condition` for up to 10 s.
private func eventuallyTrue(_ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return false
}

private struct PasswordOnly: SSHServerAuthenticator {
    var offeredMethods: [SSHAuthenticationMethod] { ["password"] }
    func decide(_ attempt: SSHAuthenticationAttempt, on connection: SSHServerConnectionInfo) async -> SSHAuthenticationDecision { .reject }
}

/// SSHKnownHostsValidator against files, without a network: what ssh accepts, refuses and records.
@Suite struct KnownHostsValidatorTests {
    let directory: String
    let server = SSHHostAddress(host: "Example.com", port: 2222)

    init() throws {
        directory = NSTemporaryDirectory() + "known-hosts-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    private func write(_ lines: [String]) throws -> String {
        let path = directory + "/known_hosts"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func rejection(_ validator: SSHKnownHostsValidator, _ key: SSHPublicKey) async -> SSHHostKeyRejection.Reason? {
        do {
            try await validator.validateHostKey(.key(key), of: server)
            return nil
        } catch {
            return (error as? SSHHostKeyRejection)?.reason
        }
    }

    @Test func aKnownKeyIsAcceptedUnderItsBracketedName() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519).publicKey
        let file = try write(["[example.com]:2222 \(SSHPublicKeyLine(key: key).text)"])
        let validator = SSHKnownHostsValidator(userFiles: [file], globalFiles: [])
        #expect(await rejection(validator, key) == nil)
        // The same key on port 22 would be recorded as "example.com": not this entry.
        let other = SSHHostAddress(host: "example.com", port: 22)
        await #expect(throws: SSHHostKeyRejection.self) { try await validator.validateHostKey(.key(key), of: other) }
    }

    @Test func aChangedKeyNeverConnectsAndNamesTheLine() async throws {
        let recorded = try SSHPrivateKey.generate(type: .ed25519).publicKey
        let presented = try SSHPrivateKey.generate(type: .ed25519).publicKey
        let file = try write(["# a comment", "[example.com]:2222 \(SSHPublicKeyLine(key: recorded).text)"])
        let validator = SSHKnownHostsValidator(userFiles: [file], globalFiles: [], unknownHosts: .acceptAndRecord)
        guard case .changed(let name, _, let fingerprint, let entry)? = await rejection(validator, presented) else {
            Issue.record("a changed key was not refused as changed")
            return
        }
        #expect(name == "[example.com]:2222" && fingerprint == presented.fingerprint() && entry.line == 2 && entry.path == file)
    }

    @Test func unknownHostsFollowThePolicy() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519).publicKey
        let file = directory + "/sub/known_hosts"
        let strict = SSHKnownHostsValidator(userFiles: [file], globalFiles: [])
        guard case .unknownHost("[example.com]:2222", _, _)? = await rejection(strict, key) else {
            Issue.record("an unknown host was not refused by default")
            return
        }
        let declined = SSHKnownHostsValidator(userFiles: [file], globalFiles: [], unknownHosts: .ask { _ in false })
        #expect(await rejection(declined, key) == .declined(name: "[example.com]:2222"))
        #expect(!FileManager.default.fileExists(atPath: file), "nothing recorded for a refused host")

        let asked = NIOLockedValueBox<[String]>([])
        let accepting = SSHKnownHostsValidator(userFiles: [file], globalFiles: [], unknownHosts: .ask { question in
            asked.withLockedValue { $0.append(question.name) }
            return true
        })
        #expect(await rejection(accepting, key) == nil)
        #expect(asked.withLockedValue { $0 } == ["[example.com]:2222"])
        // Recorded as ssh records it (lower-case name), so the strict validator now knows the host.
        let recorded = try String(contentsOfFile: file, encoding: .utf8)
        #expect(recorded.hasPrefix("[example.com]:2222 ssh-ed25519 "))
        #expect(await rejection(strict, key) == nil)
    }

    @Test func revokedKeysAreRefusedEvenWhenAlsoListed() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519).publicKey
        let file = try write(["@revoked * \(SSHPublicKeyLine(key: key).text)", "[example.com]:2222 \(SSHPublicKeyLine(key: key).text)"])
        let validator = SSHKnownHostsValidator(userFiles: [file], globalFiles: [])
        guard case .revoked(_, _, let entry)? = await rejection(validator, key) else {
            Issue.record("a revoked key was accepted")
            return
        }
        #expect(entry.line == 1)
    }

    @Test func anAliasReplacesTheNameLookedUp() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519).publicKey
        let file = try write(["backend \(SSHPublicKeyLine(key: key).text)"])
        let validator = SSHKnownHostsValidator(userFiles: [file], globalFiles: [], hostKeyAlias: "backend")
        #expect(await rejection(validator, key) == nil)
    }
}
