// NIO glue for the transport state machine (SSHProtocol.SSHTransport): bytes from the socket go in, events go up
// the pipeline, and everything the state machine queues leaves in one write per flight. The handler owns the
// things the state machine must not: the socket option TCP_NODELAY, the rekey timer, and asynchronous host key
// validation.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import SSHKeys
import SSHProtocol

/// What the layer above asks of the transport: the outbound messages of an `SSHTransportHandler`'s pipeline.
public enum SSHTransportCommand: Sendable {
    /// A higher-layer message, message number first.
    case message(ByteBuffer)
    /// Client: request a service (RFC 4253 §10).
    case requestService(String)
    /// Start a key exchange now.
    case startKeyExchange
    /// Send DISCONNECT and close the connection.
    case disconnect(SSHDisconnectReason, String)
}

/// Runs one SSH transport (RFC 4253) on a stream channel. Inbound: ByteBuffer from the socket, out:
/// SSHProtocol's `SSHTransportEvent`s. Outbound: `SSHTransportCommand`s from above, out: ByteBuffers to the socket.
///
/// `SSHClient` and `SSHServer` put it first in each connection's pipeline; it is public for pipelines of one's own.
/// It sets TCP_NODELAY, writes each flight of the handshake at once, starts a key exchange when the rekey limits'
/// time runs out, and asks the client's `SSHHostKeyValidator` about the server's key.
public final class SSHTransportHandler: ChannelDuplexHandler {
    /// Bytes from the socket.
    public typealias InboundIn = ByteBuffer
    /// What the transport reports to the layer above (messages, the end of a key exchange, ...).
    public typealias InboundOut = SSHTransportEvent
    /// What the layer above asks of the transport.
    public typealias OutboundIn = SSHTransportCommand
    /// Bytes for the socket.
    public typealias OutboundOut = ByteBuffer

    private var transport: SSHTransport
    private let hostKeyValidator: (any SSHHostKeyValidator)?
    /// Client: the server as the caller named it, for the validator and messages.
    private let server: SSHHostAddress
    private let hostKeySigner: (any SSHHostKeySigner)?
    /// The server's number for this connection (for the signer).
    private let connectionID: UInt64
    private var rekeyTimer: Scheduled<Void>?
    private var validatingHostKey = false
    private var closing = false
    /// Why the connection ended, in words for a log: the peer's DISCONNECT, ours, an error, or the socket closing.
    /// The first cause wins; nil while the connection is up.
    public private(set) var closeReason: String?

    private func noteClose(_ reason: @autoclosure () -> String) {
        if closeReason == nil { closeReason = reason() }
    }

    /// An error in words for a log: a socket error as the system words it ("Connection reset by peer").
    private static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }

    /// A client handler; `hostKeyValidator` is required and judges the key `server` presents.
    /// - Parameters:
    ///   - configuration: a client transport configuration (algorithms, rekey limits).
    ///   - hostKeyValidator: decides whether the server's host key is the expected one.
    ///   - server: the server as the caller named it, for the validator and messages.
    public init(client configuration: SSHTransportConfiguration, hostKeyValidator: any SSHHostKeyValidator, server: SSHHostAddress) {
        precondition(configuration.isClient, "a client handler needs a client configuration")
        transport = SSHTransport(configuration: configuration)
        self.hostKeyValidator = hostKeyValidator
        self.server = server
        hostKeySigner = nil
        connectionID = 0
    }

    /// A server handler.
    /// - Parameters:
    ///   - configuration: a server transport configuration, with the host keys.
    ///   - hostKeySigner: signs for host keys given without their private half; nil when every key has it.
    ///   - connectionID: the server's number for the connection, passed to the signer.
    public init(server configuration: SSHTransportConfiguration, hostKeySigner: (any SSHHostKeySigner)? = nil, connectionID: UInt64 = 0) {
        precondition(!configuration.isClient, "a server handler needs a server configuration")
        transport = SSHTransport(configuration: configuration)
        hostKeyValidator = nil
        server = SSHHostAddress(host: "", port: 0)
        self.hostKeySigner = hostKeySigner
        self.connectionID = connectionID
    }

    /// Starts the transport when the channel is already active.
    /// - Parameter context: the handler's context.
    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    /// Starts the transport: sends our identification line (RFC 4253 §4.2) and key exchange offer.
    /// - Parameter context: the handler's context.
    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        // Handshake messages are small and latency-bound: never let Nagle hold them back.
        // (Not every channel is a TCP socket; those that are not have no such option.)
        _ = context.channel.setOption(.tcpOption(.tcp_nodelay), value: 1)
        do {
            try transport.start()
        } catch {
            fail(context: context, error)
            return
        }
        flushOutbound(context: context)
    }

    /// Notes that the peer closed the connection and stops the rekey timer.
    /// - Parameter context: the handler's context.
    public func channelInactive(context: ChannelHandlerContext) {
        noteClose("connection closed by the peer")
        rekeyTimer?.cancel()
        rekeyTimer = nil
        context.fireChannelInactive()
    }

    /// Feeds bytes from the socket to the transport and passes its events up the pipeline.
    /// - Parameters:
    ///   - context: the handler's context.
    ///   - data: a ByteBuffer from the socket.
    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        transport.receive(unwrapInboundIn(data))
        processEvents(context: context)
    }

    /// Writes everything the transport queued during the read burst, in one write.
    /// - Parameter context: the handler's context.
    public func channelReadComplete(context: ChannelHandlerContext) {
        flushOutbound(context: context)
        context.fireChannelReadComplete()
    }

    private func processEvents(context: ChannelHandlerContext) {
        while !closing, !validatingHostKey {
            let event: SSHTransportEvent?
            do {
                event = try transport.nextEvent()
            } catch {
                fail(context: context, error)
                return
            }
            guard let event else { return }
            switch event {
            case .hostKeyToValidate(let hostKey):
                validateHostKey(hostKey, context: context)
            case .hostKeySignatureNeeded(let exchangeHash, let algorithm, let hostKey):
                signWithHostKey(exchangeHash, algorithm: algorithm, hostKey: hostKey, context: context)
            case .keyExchangeCompleted:
                scheduleRekey(context: context)
                context.fireChannelRead(wrapInboundOut(event))
            case .peerDisconnected(let error):
                if case .disconnectedByPeer(let code, let message) = error.kind {
                    noteClose("received disconnect \(code): \(message)")
                } else {
                    noteClose("\(error)")
                }
                context.fireChannelRead(wrapInboundOut(event))
                closing = true
                context.close(promise: nil)
            default:
                context.fireChannelRead(wrapInboundOut(event))
            }
        }
    }

    private func validateHostKey(_ hostKey: SSHPresentedKey, context: ChannelHandlerContext) {
        guard let hostKeyValidator else { return }
        validatingHostKey = true
        // Nothing more is read while the validator decides (it may ask a person), so a server cannot make us
        // buffer without limit; reading resumes afterwards.
        _ = context.channel.setOption(.autoRead, value: false)
        let promise = context.eventLoop.makePromise(of: Void.self)
        let server = self.server
        promise.completeOnEventLoop { try await hostKeyValidator.validateHostKey(hostKey, of: server) }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenComplete { result in
            let (handler, context) = loopBound.value
            handler.validatingHostKey = false
            guard !handler.closing else { return }
            do {
                try result.get()
            } catch {
                // The state machine queues a DISCONNECT that says only "host key not verifiable"; the caller gets
                // the validator's own error.
                let reason = (error as? SSHHostKeyRejection).map(\.description) ?? "\(error)"
                _ = handler.transport.rejectHostKey(reason)
                handler.fail(context: context, SSHError(.hostKeyRejected(host: server.host, port: server.port, reason: reason), underlying: error))
                return
            }
            do {
                try handler.transport.acceptHostKey()
            } catch {
                handler.fail(context: context, error)
                return
            }
            handler.processEvents(context: context)
            handler.flushOutbound(context: context)
            _ = context.channel.setOption(.autoRead, value: true)
            context.read()
        }
    }

    /// Server: the host key is held elsewhere; reading pauses (as for a host key decision) until it has signed.
    private func signWithHostKey(_ exchangeHash: [UInt8], algorithm: SSHHostKeyAlgorithm, hostKey: SSHPublicKey, context: ChannelHandlerContext) {
        guard let hostKeySigner else {
            fail(context: context, transport.failHostKeySignature("no signer for the \(algorithm) host key"))
            return
        }
        validatingHostKey = true
        _ = context.channel.setOption(.autoRead, value: false)
        let connection = SSHServerConnectionInfo(remoteAddress: context.channel.remoteAddress, localAddress: context.channel.localAddress,
                                                 connectionID: connectionID)
        let promise = context.eventLoop.makePromise(of: SSHSignature.self)
        promise.completeOnEventLoop {
            try await hostKeySigner.sign(exchangeHash: exchangeHash, algorithm: algorithm, hostKey: hostKey, connection: connection)
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenComplete { result in
            let (handler, context) = loopBound.value
            handler.validatingHostKey = false
            guard !handler.closing else { return }
            do {
                try handler.transport.provideHostKeySignature(try result.get())
            } catch let error as SSHProtocolError {
                handler.fail(context: context, error)
                return
            } catch {
                handler.fail(context: context, handler.transport.failHostKeySignature("\(error)"))
                return
            }
            handler.processEvents(context: context)
            handler.flushOutbound(context: context)
            _ = context.channel.setOption(.autoRead, value: true)
            context.read()
        }
    }

    private func scheduleRekey(context: ChannelHandlerContext) {
        rekeyTimer?.cancel()
        guard let seconds = transport.configuration.rekeyLimits.seconds, seconds > 0 else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        rekeyTimer = context.eventLoop.scheduleTask(in: .seconds(Int64(seconds))) {
            let (handler, context) = loopBound.value
            handler.perform(.startKeyExchange, context: context)
            handler.flushOutbound(context: context)
            // A server starts no re-exchange before authentication: the time limit then counts again from now.
            if !handler.transport.isKeyExchangeInProgress && !handler.closing { handler.scheduleRekey(context: context) }
        }
    }

    /// Performs a command from above; its bytes leave at the next flush.
    /// - Parameters:
    ///   - context: the handler's context.
    ///   - data: an `SSHTransportCommand`.
    ///   - promise: succeeded once the command is accepted, before its bytes are written.
    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        perform(unwrapOutboundIn(data), context: context)
        // The bytes leave at the next flush, together with everything else queued; the write itself is accepted.
        promise?.succeed()
    }

    /// Writes everything the transport has queued.
    /// - Parameter context: the handler's context.
    public func flush(context: ChannelHandlerContext) {
        flushOutbound(context: context)
    }

    private func perform(_ command: SSHTransportCommand, context: ChannelHandlerContext) {
        guard !closing else { return }
        do {
            switch command {
            case .message(let payload): try transport.send(payload)
            case .requestService(let name): try transport.requestService(name)
            case .startKeyExchange: try transport.startKeyExchange()
            case .disconnect(let reason, let text):
                noteClose("disconnected (\(reason.rawValue)): \(text)")
                transport.disconnect(reason: reason, description: text)
                flushOutbound(context: context)
                closing = true
                context.close(promise: nil)
            }
        } catch {
            fail(context: context, error)
        }
    }

    private func flushOutbound(context: ChannelHandlerContext) {
        guard let bytes = transport.takeOutbound() else { return }
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
    }

    /// Sends whatever the state machine queued (its DISCONNECT), reports the error and closes.
    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        guard !closing else { return }
        noteClose(Self.describe(error))
        closing = true
        rekeyTimer?.cancel()
        flushOutbound(context: context)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    /// Notes the error as the reason the connection ends, passes it on and closes the connection.
    /// - Parameters:
    ///   - context: the handler's context.
    ///   - error: the error.
    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        noteClose(Self.describe(error))
        context.fireErrorCaught(error)
        guard !closing else { return }
        closing = true
        context.close(promise: nil)
    }
}
