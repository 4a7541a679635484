// Runs the connection protocol (SSHProtocol.SSHConnection, RFC 4254) on an authenticated connection and connects
// its channels to async code: each channel's input is an AsyncSequence whose consumption replenishes the window
// (so memory per channel is bounded by the window we grant), and writes wait while the peer's window is full and
// more than a high-water mark is queued (so a slow peer slows the writer down).
import NIOCore
import SSHProtocol

/// What arrives on a channel, in order.
public enum SSHChannelInput: Sendable, Equatable {
    case data(ByteBuffer)
    case stderr(ByteBuffer)
    /// The peer will send no more data.
    case eof
    case exitStatus(Int32)
    case exitSignal(SSHExitSignal)
    /// A request the peer sent on the channel (pty-req, env, exec, window-change, signal, ...). Requests that
    /// want a reply are answered by the handler's policy before they appear here.
    case request(SSHChannelRequest)
}

/// How the server side answers a request on a session.
enum SessionRequestVerdict {
    case refuse
    /// Accepted and handled by the policy (pty-req, env, exec, ...).
    case accept
    /// Accepted and passed to the running session's input (window-change, signal, break).
    case acceptAndDeliver
}

/// Decides channel opens and session requests on the server side (deny by default: no policy refuses all).
protocol ServerSessionPolicy: AnyObject {
    /// A session channel opened; return false to refuse it.
    func acceptSession(_ channel: SSHChannelID, handler: ConnectionHandler) -> Bool
    /// A request on a session: refuse, accept, or accept and deliver it to the session.
    func sessionRequest(_ request: SSHChannelRequest, on channel: SSHChannelID, handler: ConnectionHandler) -> SessionRequestVerdict
}

final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = SSHTransportEvent
    typealias OutboundOut = SSHTransportCommand

    /// Writers wait once this much is queued beyond the peer's window, until it drains below half.
    static let highWaterMark = 1 << 20

    final class ChannelState {
        var continuation: AsyncThrowingStream<SSHChannelInput, any Error>.Continuation?
        var opened: EventLoopPromise<Void>?
        var replies: [EventLoopPromise<Bool>] = []
        var writeWaiters: [EventLoopPromise<Void>] = []
        /// Bytes handed to the input sequence and not read yet: at most the window we granted.
        var unreadBytes = 0
        var closed: EventLoopPromise<Void>
        init(closed: EventLoopPromise<Void>) { self.closed = closed }
    }

    private(set) var connection: SSHConnection
    private var channels: [SSHChannelID: ChannelState] = [:]
    private var context: ChannelHandlerContext?
    /// The server's session policy (kept alive by this handler: one per connection).
    var serverPolicy: (any ServerSessionPolicy)?
    private var failure: (any Error)?

    init(configuration: SSHConnectionConfiguration) {
        connection = SSHConnection(configuration: configuration)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .message(let payload) = unwrapInboundIn(data) else {
            if case .peerDisconnected(let error) = unwrapInboundIn(data) { failAll(SSHError(.protocolFailure(error))) }
            return
        }
        let event: SSHConnectionEvent?
        do {
            event = try connection.receive(payload)
        } catch let error as SSHProtocolError {
            context.writeAndFlush(wrapOutboundOut(.disconnect(error.disconnectReason, error.description)), promise: nil)
            failAll(SSHError(.protocolFailure(error)))
            return
        } catch {
            failAll(error)
            context.close(promise: nil)
            return
        }
        if let event { handle(event) }
        flushOutbound()
    }

    private func handle(_ event: SSHConnectionEvent) {
        switch event {
        case .channelOpenRequest(let id, let type):
            if case .session = type, let policy = serverPolicy, policy.acceptSession(id, handler: self) {
                try? connection.acceptChannelOpen(id)
            } else {
                try? connection.deny(event)
            }
        case .channelOpened(let id):
            channels[id]?.opened?.succeed()
            channels[id]?.opened = nil
        case .channelOpenFailed(let id, let reason, let description):
            let state = channels.removeValue(forKey: id)
            state?.opened?.fail(SSHError(.channelOpenFailed(reason: "\(reason)", description: description)))
            state?.continuation?.finish(throwing: SSHError(.channelOpenFailed(reason: "\(reason)", description: description)))
            state?.closed.succeed()
        case .data(let id, let data):
            channels[id]?.unreadBytes += data.readableBytes
            channels[id]?.continuation?.yield(.data(data))
        case .extendedData(let id, _, let data):
            channels[id]?.unreadBytes += data.readableBytes
            channels[id]?.continuation?.yield(.stderr(data))
        case .eof(let id):
            channels[id]?.continuation?.yield(.eof)
        case .closed(let id):
            let state = channels.removeValue(forKey: id)
            state?.continuation?.finish()
            state?.replies.forEach { $0.succeed(false) }
            state?.writeWaiters.forEach { $0.fail(SSHError(.channelClosed)) }
            state?.closed.succeed()
        case .windowAdjusted(let id):
            releaseWriters(id)
        case .channelRequest(let id, let request, let wantReply):
            switch request {
            case .exitStatus(let status):
                channels[id]?.continuation?.yield(.exitStatus(Int32(bitPattern: status)))
                if wantReply { try? connection.replyToChannelRequest(on: id, success: true) }
            case .exitSignal(let signal):
                channels[id]?.continuation?.yield(.exitSignal(signal))
                if wantReply { try? connection.replyToChannelRequest(on: id, success: true) }
            default:
                let verdict = serverPolicy?.sessionRequest(request, on: id, handler: self) ?? .refuse
                if case .acceptAndDeliver = verdict { channels[id]?.continuation?.yield(.request(request)) }
                if case .refuse = verdict {
                    if wantReply { try? connection.replyToChannelRequest(on: id, success: false) }
                } else if wantReply {
                    try? connection.replyToChannelRequest(on: id, success: true)
                }
            }
        case .channelRequestReply(let id, _, let success):
            if let state = channels[id], !state.replies.isEmpty { state.replies.removeFirst().succeed(success) }
        case .globalRequest:
            // Forwarding and other global requests are refused until those features exist (deny by default).
            try? connection.deny(event)
        case .globalRequestReply:
            break
        }
    }

    private func releaseWriters(_ id: SSHChannelID) {
        guard let state = channels[id], !state.writeWaiters.isEmpty,
              connection.queuedBytes(on: id) <= Self.highWaterMark / 2 else { return }
        let waiters = state.writeWaiters
        state.writeWaiters.removeAll()
        waiters.forEach { $0.succeed() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let authenticated = event as? SSHUserAuthenticatedEvent { user = authenticated.user }
        context.fireUserInboundEventTriggered(event)
    }

    /// The authenticated user (server side).
    private(set) var user = ""

    /// Sends a channel request that wants no reply, then the flush (server: exit-status, exit-signal).
    func sendFinal(_ request: SSHChannelRequest?, on id: SSHChannelID) {
        guard channels[id] != nil else { return }
        if let request { try? connection.sendChannelRequest(request, wantReply: false, on: id) }
        try? connection.sendEOF(on: id)
        try? connection.close(id)
        flushOutbound()
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(SSHError(.connectionClosed))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll((error as? SSHProtocolError).map { SSHError(.protocolFailure($0)) } ?? error)
        context.fireErrorCaught(error)
    }

    private func failAll(_ error: any Error) {
        guard failure == nil else { return }
        failure = error
        let all = channels
        channels.removeAll()
        for state in all.values {
            state.opened?.fail(error)
            state.continuation?.finish(throwing: error)
            state.replies.forEach { $0.fail(error) }
            state.writeWaiters.forEach { $0.fail(error) }
            state.closed.succeed()
        }
    }

    private func flushOutbound() {
        guard let context else { return }
        let payloads = connection.takeOutbound()
        guard !payloads.isEmpty else { return }
        for payload in payloads { context.write(wrapOutboundOut(.message(payload)), promise: nil) }
        context.flush()
    }

    // MARK: Operations (on the event loop)

    private func state(_ id: SSHChannelID) throws -> ChannelState {
        if let failure { throw failure }
        guard let state = channels[id] else { throw SSHError(.channelClosed) }
        return state
    }

    /// Opens a channel; the future completes when the peer confirms it.
    func openChannel(_ type: SSHChannelType, input: AsyncThrowingStream<SSHChannelInput, any Error>.Continuation) throws -> (SSHChannelID, EventLoopFuture<Void>, EventLoopFuture<Void>) {
        if let failure { throw failure }
        guard let context else { throw SSHError(.connectionClosed) }
        let id = try connection.openChannel(type)
        let state = ChannelState(closed: context.eventLoop.makePromise())
        let opened = context.eventLoop.makePromise(of: Void.self)
        state.opened = opened
        state.continuation = input
        channels[id] = state
        flushOutbound()
        return (id, opened.futureResult, state.closed.futureResult)
    }

    /// Server side: attaches a peer-opened channel to async code.
    func attach(_ id: SSHChannelID, input: AsyncThrowingStream<SSHChannelInput, any Error>.Continuation) -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        let state = ChannelState(closed: context.eventLoop.makePromise())
        state.continuation = input
        channels[id] = state
        return state.closed.futureResult
    }

    func sendRequest(_ request: SSHChannelRequest, wantReply: Bool, on id: SSHChannelID) throws -> EventLoopFuture<Bool>? {
        let state = try state(id)
        try connection.sendChannelRequest(request, wantReply: wantReply, on: id)
        flushOutbound()
        guard wantReply, let context else { return nil }
        let reply = context.eventLoop.makePromise(of: Bool.self)
        state.replies.append(reply)
        return reply.futureResult
    }

    /// Queues data; the future completes when the writer may go on (at once, unless too much is queued).
    func write(_ data: ByteBuffer, stderr: Bool, on id: SSHChannelID) throws -> EventLoopFuture<Void>? {
        let state = try state(id)
        if stderr { try connection.sendExtendedData(data, on: id) } else { try connection.sendData(data, on: id) }
        flushOutbound()
        guard connection.queuedBytes(on: id) > Self.highWaterMark, let context else { return nil }
        let promise = context.eventLoop.makePromise(of: Void.self)
        state.writeWaiters.append(promise)
        return promise.futureResult
    }

    func unreadBytes(on id: SSHChannelID) -> Int { channels[id]?.unreadBytes ?? 0 }

    func sendEOF(on id: SSHChannelID) throws {
        _ = try state(id)
        try connection.sendEOF(on: id)
        flushOutbound()
    }

    func close(_ id: SSHChannelID) {
        guard channels[id] != nil else { return }
        try? connection.close(id)
        flushOutbound()
    }

    /// The reader used `bytes` of the channel's input: the window may be replenished.
    func consumed(_ bytes: Int, on id: SSHChannelID) {
        guard let state = channels[id], bytes > 0 else { return }
        state.unreadBytes -= bytes
        try? connection.consumed(bytes, on: id)
        flushOutbound()
    }
}
