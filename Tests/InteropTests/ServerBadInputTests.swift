// A hostile client against a server built on SSHServer, over real TCP: channel data beyond the window, messages for
// a channel that does not exist, a publickey signature made for another session, and 1000 channel opens. Each
// offending connection is closed with the right reason (or its requests refused), and another connection running
// commands meanwhile is unaffected.
import Foundation
import NIOCore
import NIOPosix
@testable import SSH
import SSHKeys
import SSHProtocol
import SSHWire
import Testing

/// What a raw client sees after authentication.
enum RawClientEvent: Sendable {
    case message(ByteBuffer)
    /// The server said goodbye (DISCONNECT) with this reason and text.
    case disconnected(reason: UInt32, text: String)
    case closed
}

/// Collects what arrives after authentication, for tests to inspect.
private final class RawRecorder: ChannelInboundHandler {
    typealias InboundIn = SSHTransportEvent
    let continuation: AsyncStream<RawClientEvent>.Continuation
    init(_ continuation: AsyncStream<RawClientEvent>.Continuation) { self.continuation = continuation }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .message(let payload):
            continuation.yield(.message(payload))
        case .peerDisconnected(let error):
            if case .disconnectedByPeer(let reason, let text) = error.kind { continuation.yield(.disconnected(reason: reason, text: text)) }
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.yield(.closed)
        continuation.finish()
    }
}

/// A client that authenticates like ours and then sends connection-layer payloads as given, without a state
/// machine to stop it.
final class RawSSHClient: Sendable {
    let channel: any Channel
    let events: AsyncStream<RawClientEvent>

    private init(channel: any Channel, events: AsyncStream<RawClientEvent>) {
        self.channel = channel
        self.events = events
    }

    static func connect(port: Int, user: String = "alice", credentials: [SSHClientCredential], hostKey: SSHPublicKey) async throws -> RawSSHClient {
        let (events, continuation) = AsyncStream.makeStream(of: RawClientEvent.self)
        let group = MultiThreadedEventLoopGroup.singleton
        let authenticated = group.next().makePromise(of: SSHNegotiatedAlgorithms.self)
        let transport = SSHTransportConfiguration(role: .client)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SSHTransportHandler(client: transport, hostKeyValidator: PinnedHostKeys([hostKey]),
                                                                                                       server: SSHHostAddress(host: "127.0.0.1", port: port)))
                    try channel.pipeline.syncOperations.addHandler(
                        ClientAuthenticationHandler(user: user, credentials: credentials, authenticated: authenticated, onBanner: nil))
                    try channel.pipeline.syncOperations.addHandler(RawRecorder(continuation))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        _ = try await authenticated.futureResult.get()
        return RawSSHClient(channel: channel, events: events)
    }

    func send(_ message: SSHConnectionMessage) {
        channel.writeAndFlush(SSHTransportCommand.message(message.payload), promise: nil)
    }

    func sendAll(_ messages: [SSHConnectionMessage]) {
        for message in messages { channel.write(SSHTransportCommand.message(message.payload), promise: nil) }
        channel.flush()
    }

    /// Opens a session channel and returns the server's number for it and the window and packet size it granted.
    func openSession(senderChannel: UInt32 = 0) async throws -> (recipient: UInt32, window: UInt32, maximumPacket: UInt32) {
        send(.channelOpen(SSHChannelOpenMessage(channelType: .session, senderChannel: senderChannel, initialWindowSize: 1 << 21, maximumPacketSize: 32768)))
        for await event in events {
            guard case .message(let payload) = event else { break }
            var reader = payload
            guard reader.readInteger(as: UInt8.self) == 91 else { continue }
            _ = try reader.readSSHUInt32(field: "recipient")
            let sender = try reader.readSSHUInt32(field: "sender")
            let window = try reader.readSSHUInt32(field: "window")
            return (sender, window, try reader.readSSHUInt32(field: "maximum packet"))
        }
        throw SSHError(.connectionClosed)
    }

    /// Waits for the server's DISCONNECT (nil when the connection just closed, or stayed open for 30 s).
    func disconnect() async -> (reason: UInt32, text: String)? {
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(30)) { self.channel.close(promise: nil) }
        defer { timeout.cancel() }
        for await event in events {
            if case .disconnected(let reason, let text) = event { return (reason, text) }
        }
        return nil
    }
}

/// Runs a command on another connection to show the server is still serving everyone else.
private func otherConnectionWorks(port: Int, key: SSHPrivateKey, hostKey: SSHPrivateKey) async throws -> Bool {
    let client = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "alice", credentials: [.privateKey(key)],
                                             hostKeyValidator: PinnedHostKeys([hostKey.publicKey]))
    let result = try await client.execute("echo still here")
    await client.close()
    return result.stdout == Array("still here\n".utf8) && result.exitStatus == 0
}

@Suite(.timeLimit(.minutes(10))) struct ServerBadInputTests {
    static let protocolError = SSHDisconnectReason.protocolError.rawValue

    @Test func channelDataBeyondTheWindowClosesThatConnectionOnly() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        try await withTestServer(authenticator: TestAuthenticator(keys: [key.publicKey])) { port, hostKey in
            let bystander = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "alice", credentials: [.privateKey(key)],
                                                        hostKeyValidator: PinnedHostKeys([hostKey.publicKey]))
            let running = Task { try await bystander.execute("sleep 1; echo done") }
            let raw = try await RawSSHClient.connect(port: port, credentials: [.privateKey(key)], hostKey: hostKey.publicKey)
            let (recipient, window, maximumPacket) = try await raw.openSession()
            // No command runs, so nothing reads the channel and the window is never given back: one packet more
            // than the window is over it.
            let chunk = ByteBuffer(repeating: 0x41, count: Int(maximumPacket))
            raw.sendAll(Array(repeating: .channelData(recipientChannel: recipient, data: chunk), count: Int(window / maximumPacket) + 1))
            let goodbye = await raw.disconnect()
            #expect(goodbye?.reason == Self.protocolError, "\(String(describing: goodbye))")
            #expect(goodbye?.text.contains("window") == true, "\(String(describing: goodbye))")
            let result = try await running.value
            #expect(result.stdout == Array("done\n".utf8) && result.exitStatus == 0)
            #expect(try await otherConnectionWorks(port: port, key: key, hostKey: hostKey))
            await bystander.close()
        }
    }

    @Test func messagesForAChannelThatDoesNotExist() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        try await withTestServer(authenticator: TestAuthenticator(keys: [key.publicKey])) { port, hostKey in
            for message: SSHConnectionMessage in [
                .channelData(recipientChannel: 77, data: ByteBuffer(string: "hello")),
                .channelEOF(recipientChannel: 77),
                .channelClose(recipientChannel: 77),
                .channelWindowAdjust(recipientChannel: 77, bytesToAdd: 1000),
            ] {
                let raw = try await RawSSHClient.connect(port: port, credentials: [.privateKey(key)], hostKey: hostKey.publicKey)
                raw.send(message)
                let goodbye = await raw.disconnect()
                #expect(goodbye?.reason == Self.protocolError, "\(message): \(String(describing: goodbye))")
                #expect(goodbye?.text.contains("77") == true, "\(message): \(String(describing: goodbye))")
            }
            #expect(try await otherConnectionWorks(port: port, key: key, hostKey: hostKey))
        }
    }

    /// The signature is good, but over another session identifier (a replayed or relayed login): refused like any
    /// failed attempt, and the honest login right after works.
    @Test func signatureForAnotherSessionIsRefused() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        try await withTestServer(authenticator: TestAuthenticator(keys: [key.publicKey])) { port, hostKey in
            let otherSession = (0..<32).map { _ in UInt8.random(in: 0...255) }
            let replaying = SSHClientCredential.signer(key: .key(key.publicKey)) { data, algorithm in
                // data = string session_id || the request; sign the same request for another session.
                var buffer = ByteBuffer(bytes: data)
                _ = try buffer.readSSHStringBytes(field: "session identifier")
                var forged = ByteBuffer()
                forged.writeSSHString(otherSession)
                forged.writeImmutableBuffer(buffer)
                return try key.signature(for: Array(forged.readableBytesView), algorithm: algorithm)
            }
            let error = await #expect(throws: SSHError.self) {
                _ = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "alice", credentials: [replaying],
                                                hostKeyValidator: PinnedHostKeys([hostKey.publicKey]))
            }
            if case .authenticationFailed(_, let tried, _)? = error?.kind {
                #expect(tried == [.publicKey])
            } else {
                Issue.record("expected an authentication failure, got \(String(describing: error))")
            }
            let honestLoginWorks = try await otherConnectionWorks(port: port, key: key, hostKey: hostKey)
            #expect(honestLoginWorks)
        }
    }

    /// 1000 opens at once: the session limit (10) and then the channel limit answer with refusals, the connection
    /// stays usable, and so do the others.
    @Test func thousandChannelOpensFromOneConnection() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        try await withTestServer(authenticator: TestAuthenticator(keys: [key.publicKey])) { port, hostKey in
            let raw = try await RawSSHClient.connect(port: port, credentials: [.privateKey(key)], hostKey: hostKey.publicKey)
            raw.sendAll((0..<1000).map { number in
                .channelOpen(SSHChannelOpenMessage(channelType: .session, senderChannel: UInt32(number), initialWindowSize: 1 << 21, maximumPacketSize: 32768))
            })
            raw.send(.globalRequest(SSHGlobalRequestMessage(.keepalive, wantReply: true)))
            var confirmed = 0, refused = 0, keepaliveAnswered = false
            for await event in raw.events {
                guard case .message(let payload) = event, let number = payload.getInteger(at: payload.readerIndex, as: UInt8.self) else { break }
                if number == 91 { confirmed += 1 }
                if number == 92 { refused += 1 }
                if number == 81 || number == 82 {
                    keepaliveAnswered = true
                    break
                }
            }
            #expect(confirmed == 10 && refused == 990, "confirmed \(confirmed), refused \(refused)")
            #expect(keepaliveAnswered, "the connection still answers after the flood")
            #expect(try await otherConnectionWorks(port: port, key: key, hostKey: hostKey))
            try await raw.channel.close()
        }
    }
}
