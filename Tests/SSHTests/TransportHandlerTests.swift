// The NIO glue around the transport: each handshake flight leaves in one write, host key validation can take its
// time without losing bytes, a refused key disconnects, and the rekey timer starts a key exchange.
import NIOCore
import NIOEmbedded
import SSH
import SSHKeys
import SSHProtocol
import SSHWire
import Testing

/// Holds the validation open so a test decides when (and how) it completes. Everything runs on the embedded
/// loop's one thread (the validator's task too, on the loop as its executor).
private final class DeferredValidator: SSHHostKeyValidator, @unchecked Sendable {
    var pending: CheckedContinuation<Void, any Error>?
    func validateHostKey(_ hostKey: SSHPresentedKey, of server: SSHHostAddress) async throws {
        try await withCheckedThrowingContinuation { pending = $0 }
    }
}

/// Collects events that reach the end of the pipeline.
private final class EventSink: ChannelInboundHandler {
    typealias InboundIn = SSHTransportEvent
    var events: [SSHTransportEvent] = []
    var errors: [any Error] = []
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { events.append(unwrapInboundIn(data)) }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { errors.append(error) }
}

@Suite(.timeLimit(.minutes(10))) struct TransportHandlerTests {
    static let hostKey: SSHServerHostKey? = (try? SSHPrivateKey.generate(type: .ed25519)).map { SSHServerHostKey(privateKey: $0) }

    /// A client handler on an embedded channel, and an in-memory server state machine to talk to it.
    private func makeClient(validator: any SSHHostKeyValidator, rekeySeconds: Int? = 3600) throws -> (EmbeddedChannel, EventSink, SSHTransport) {
        let channel = EmbeddedChannel()
        let sink = EventSink()
        let configuration = SSHTransportConfiguration(role: .client, rekeyLimits: SSHRekeyLimits(seconds: rekeySeconds))
        try channel.pipeline.syncOperations.addHandler(SSHTransportHandler(client: configuration, hostKeyValidator: validator,
                                                                                   server: SSHHostAddress(host: "example.com", port: 22)))
        try channel.pipeline.syncOperations.addHandler(sink)
        let server = SSHTransport(configuration: SSHTransportConfiguration(role: .server(hostKeys: [try #require(Self.hostKey)])))
        return (channel, sink, server)
    }

    private func writes(_ channel: EmbeddedChannel) throws -> [ByteBuffer] {
        var all: [ByteBuffer] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { all.append(buffer) }
        return all
    }

    private func drain(_ server: inout SSHTransport) throws {
        while let _ = try server.nextEvent() {}
    }

    @Test func eachHandshakeFlightIsOneWrite() throws {
        let validator = DeferredValidator()
        var (channel, sink, server) = try makeClient(validator: validator)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 22)).wait()
        // Flight 1: identification and KEXINIT together.
        let first = try writes(channel)
        #expect(first.count == 1)
        let firstText = String(decoding: first[0].readableBytesView, as: UTF8.self)
        #expect(firstText.hasPrefix(ShhVersion.identification + "\r\n"))
        #expect(first[0].readableBytes > ShhVersion.identification.count + 100, "KEXINIT rides along")

        try server.start()
        server.receive(first[0])
        try drain(&server)
        let flight1 = server.takeOutbound()
        try channel.writeInbound(try #require(flight1))
        // Flight 2: KEX_ECDH_INIT alone, in one write.
        let second = try writes(channel)
        #expect(second.count == 1)
        server.receive(second[0])
        try drain(&server)
        // Server's reply, NEWKEYS and EXT_INFO arrive together; validation is pending, so nothing goes out yet.
        let flight2 = server.takeOutbound()
        try channel.writeInbound(try #require(flight2))
        channel.embeddedEventLoop.run()
        #expect(try writes(channel).isEmpty)
        let validation = try #require(validator.pending)
        validation.resume()
        channel.embeddedEventLoop.run()
        // Flight 3: NEWKEYS, in one write, and the key exchange is complete on both sides.
        let third = try writes(channel)
        #expect(third.count == 1)
        server.receive(third[0])
        try drain(&server)
        #expect(server.negotiatedAlgorithms != nil)
        #expect(sink.events.contains { if case .keyExchangeCompleted(_, true) = $0 { return true } else { return false } })
        #expect(sink.events.contains { if case .extensionInfo = $0 { return true } else { return false } })
        _ = try? channel.finish()
    }

    @Test func refusedHostKeyDisconnectsAndCloses() throws {
        let validator = DeferredValidator()
        var (channel, sink, server) = try makeClient(validator: validator)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 22)).wait()
        try server.start()
        for buffer in try writes(channel) { server.receive(buffer) }
        try drain(&server)
        let flight3 = server.takeOutbound()
        try channel.writeInbound(try #require(flight3))
        for buffer in try writes(channel) { server.receive(buffer) }
        try drain(&server)
        let flight4 = server.takeOutbound()
        try channel.writeInbound(try #require(flight4))
        channel.embeddedEventLoop.run()
        struct LocalReason: Error, CustomStringConvertible { var description: String { "not in /home/me/.ssh/known_hosts line 7" } }
        try #require(validator.pending).resume(throwing: LocalReason())
        channel.embeddedEventLoop.run()
        for buffer in try writes(channel) { server.receive(buffer) }
        var peerSaw: String?
        while let event = try server.nextEvent() {
            if case .peerDisconnected(let error) = event, case .disconnectedByPeer(let code, let message) = error.kind {
                #expect(code == SSHDisconnectReason.hostKeyNotVerifiable.rawValue)
                peerSaw = message
            }
        }
        #expect(server.isClosed, "the server got our DISCONNECT")
        // The validator's reasons are ours: the server learns only that its key was not verifiable.
        #expect(peerSaw == "host key not verifiable")
        let local = sink.errors.compactMap { $0 as? SSHError }.first
        guard case .hostKeyRejected(let host, _, let reason)? = local?.kind else {
            Issue.record("expected hostKeyRejected, got \(sink.errors)")
            return
        }
        #expect(host == "example.com")
        #expect(reason.contains("known_hosts line 7"), "the caller keeps the validator's reason")
        #expect(local?.underlying is LocalReason)
        #expect(!channel.isActive)
    }

    @Test func rekeyTimerStartsAKeyExchange() throws {
        var (channel, sink, server) = try makeClient(validator: .acceptAnyHostKeyInsecurely, rekeySeconds: 5)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 22)).wait()
        try server.start()
        // Run the handshake to completion.
        for _ in 0..<5 {
            for buffer in try writes(channel) { server.receive(buffer) }
            try drain(&server)
            if let bytes = server.takeOutbound() { try channel.writeInbound(bytes) }
            channel.embeddedEventLoop.run()  // the host key validator's task
        }
        #expect(server.completedKeyExchanges == 1)
        #expect(try writes(channel).isEmpty)
        // Authenticated (a server takes part in no re-exchange before that, as sshd).
        var success = ByteBuffer()
        success.writeInteger(SSHMessageNumber.userAuthenticationSuccess)
        try server.send(success)
        if let bytes = server.takeOutbound() { try channel.writeInbound(bytes) }
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(try writes(channel).isEmpty, "not before the limit")
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        let kexInit = try writes(channel)
        #expect(kexInit.count == 1, "the timer sent our KEXINIT")
        for buffer in kexInit { server.receive(buffer) }
        try drain(&server)
        for _ in 0..<5 {
            if let bytes = server.takeOutbound() { try channel.writeInbound(bytes) }
            for buffer in try writes(channel) { server.receive(buffer) }
            try drain(&server)
        }
        #expect(server.completedKeyExchanges == 2)
        #expect(sink.events.filter { if case .keyExchangeCompleted(_, false) = $0 { return true } else { return false } }.count == 1)
        _ = try? channel.finish()
    }
    /// A server's rekey timer that fires before authentication starts nothing (no re-exchange before it, as
    /// sshd), and counts again: once authenticated, the next expiry starts the exchange.
    @Test func aServersRekeyTimerWaitsForAuthentication() throws {
        let channel = EmbeddedChannel()
        let sink = EventSink()
        let configuration = SSHTransportConfiguration(role: .server(hostKeys: [try #require(Self.hostKey)]), rekeyLimits: SSHRekeyLimits(seconds: 5))
        try channel.pipeline.syncOperations.addHandler(SSHTransportHandler(server: configuration))
        try channel.pipeline.syncOperations.addHandler(sink)
        var client = SSHTransport(configuration: SSHTransportConfiguration(role: .client))
        try client.start()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
        for _ in 0..<5 {
            if let bytes = client.takeOutbound() { try channel.writeInbound(bytes) }
            for buffer in try writes(channel) { client.receive(buffer) }
            while let event = try client.nextEvent() { if case .hostKeyToValidate = event { try client.acceptHostKey() } }
        }
        #expect(client.completedKeyExchanges == 1)
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(try writes(channel).isEmpty, "no KEXINIT before authentication")
        var success = ByteBuffer()
        success.writeInteger(SSHMessageNumber.userAuthenticationSuccess)
        try channel.writeOutbound(SSHTransportCommand.message(success))
        for buffer in try writes(channel) { client.receive(buffer) }
        while try client.nextEvent() != nil {}
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        let kexInit = try writes(channel)
        #expect(kexInit.count == 1, "the timer, counted again, started the exchange after authentication")
        _ = try? channel.finish()
    }
}
