// Runs the connection protocol (SSHProtocol.SSHConnection, RFC 4254) on an authenticated connection and connects
// its channels to async code: each channel's input is an AsyncSequence whose consumption replenishes the window
// (so memory per channel is bounded by the window we grant), and writes wait while the peer's window is full and
// more than a high-water mark is queued (so a slow peer slows the writer down).
import NIOCore
import SSHProtocol

/// What arrives on a channel, in order (RFC 4254 §5 and §6).
///
/// A session's exit status may come before the last of its data: read until the input ends, not until
/// `.exitStatus`.
public enum SSHChannelInput: Sendable, Equatable {
    /// Channel data: a command's standard output on a client, the client's standard input on a server.
    case data(ByteBuffer)
    /// Extended data of type 1 (SSH_EXTENDED_DATA_STDERR): a command's standard error.
    case stderr(ByteBuffer)
    /// The peer will send no more data.
    case eof
    /// exit-status: the remote command exited with this status.
    case exitStatus(Int32)
    /// exit-signal: a signal ended the remote command.
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

/// Decides, on a server, what an authenticated client may do besides sessions: global requests (tcpip-forward,
/// streamlocal-forward@openssh.com, ...) and channels of other types (direct-tcpip, ...). Both defaults refuse, so
/// a delegate allows only what it implements (deny by default). keepalive@openssh.com, no-more-sessions@openssh.com
/// and hostkeys-00@openssh.com are answered by the connection itself and never reach the delegate.
/// Both decisions run on the connection's event loop and must not block (see `SSHServerAuthenticator`).
///
/// ```swift
/// // Lets clients reach one internal service, nothing else.
/// struct OneTunnel: SSHServerConnectionDelegate {
///     func channelOpen(_ type: SSHChannelType, on connection: SSHServerConnection) async -> SSHChannelOpenDecision {
///         guard case .directTCPIP("localhost", 8080, _, _) = type else {
///             return .reject(.administrativelyProhibited, description: "only localhost:8080")
///         }
///         return .accept { channel in
///             // connect to localhost:8080 and copy bytes both ways until either side ends
///         }
///     }
/// }
/// ```
public protocol SSHServerConnectionDelegate: Sendable {
    /// Answers a global request from `user` (RFC 4254 §4). Requests are decided one at a time, in the order they
    /// came (the protocol's replies carry no identifier). Default: `.failure`.
    /// - Parameters:
    ///   - request: the request, such as tcpip-forward.
    ///   - connection: the authenticated connection: its user, grant and addresses; channels to the client.
    /// - Returns: the answer sent to the client.
    func globalRequest(_ request: SSHGlobalRequest, on connection: SSHServerConnection) async -> SSHGlobalRequestResponse
    /// Decides a channel open of any type but "session" (sessions go to the session handler). Default: refused as
    /// administratively prohibited.
    /// - Parameters:
    ///   - type: the channel type and its data (host and port for direct-tcpip, ...).
    ///   - connection: the authenticated connection: its user, grant and addresses.
    /// - Returns: accept with the code that serves the channel, or reject with a reason.
    func channelOpen(_ type: SSHChannelType, on connection: SSHServerConnection) async -> SSHChannelOpenDecision
}

extension SSHServerConnectionDelegate {
    /// Refuses.
    /// - Parameters:
    ///   - request: the request, ignored.
    ///   - connection: the connection, ignored.
    /// - Returns: `.failure`.
    public func globalRequest(_ request: SSHGlobalRequest, on connection: SSHServerConnection) async -> SSHGlobalRequestResponse { .failure }
    /// Refuses as administratively prohibited.
    /// - Parameters:
    ///   - type: the channel type, named in the refusal.
    ///   - connection: the connection, ignored.
    /// - Returns: `.reject(.administrativelyProhibited, ...)`.
    public func channelOpen(_ type: SSHChannelType, on connection: SSHServerConnection) async -> SSHChannelOpenDecision {
        .reject(.administrativelyProhibited, description: "\(type.name) channels are not allowed")
    }
}

/// The answer to a channel open (RFC 4254 §5.1), from an `SSHServerConnectionDelegate`.
public enum SSHChannelOpenDecision: Sendable {
    /// Open the channel and serve it with `serve`; when it returns (or throws) the channel is ended with EOF and
    /// CLOSE, after the data it wrote. `serve` runs as a child task of `SSHServer.run()`.
    case accept(serve: @Sendable (SSHChannel) async throws -> Void)
    /// Refuse with an RFC 4254 §5.1 reason and a message for the peer.
    case reject(SSHChannelOpenFailureReason, description: String)
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
        /// Takes data and stderr on the event loop instead of the input sequence (SSHChannel.SyncOperations).
        var dataHandler: ((SSHChannelInput) -> Void)?
        /// Takes all input on the event loop instead of the input sequence (a splice to a socket).
        var sink: SinkAttachment?
        var opened: EventLoopPromise<Void>?
        var replies: [EventLoopPromise<Bool>] = []
        var writeWaiters: [EventLoopPromise<Void>] = []
        /// Bytes handed to the input sequence and not read yet: at most the window we granted.
        var unreadBytes = 0
        /// Requests (window-change, signal, break) handed to the input sequence and not read yet; the session
        /// policy refuses more past a cap, as nothing else bounds them.
        var unreadRequests = 0
        /// Data and extended data received and sent on the channel, for logs.
        var bytesReceived: UInt64 = 0
        var bytesSent: UInt64 = 0
        var closed: EventLoopPromise<Void>
        init(closed: EventLoopPromise<Void>) { self.closed = closed }
    }

    private(set) var connection: SSHConnection
    private var channels: [SSHChannelID: ChannelState] = [:]
    private(set) var context: ChannelHandlerContext?
    /// The server's session policy (kept alive by this handler: one per connection).
    var serverPolicy: (any ServerSessionPolicy)?
    /// The server's policy for global requests and non-session channels.
    var serverDelegate: (any SSHServerConnectionDelegate)?
    /// Server: where channels the delegate serves run (child tasks of the server's run()).
    var serverWork: ServerWorkQueue?
    /// Server: the connection's number, for the delegate's view of it.
    var connectionID: UInt64 = 0
    /// Client: decides channels the server opens (forwarded-tcpip, auth-agent, ...); nil refuses them all.
    var peerChannelRouter: ((SSHChannelType) -> SSHPeerChannelDecision)?
    private var failure: (any Error)?
    /// Global requests are decided one after another, so replies go out in the order the requests came.
    private var globalRequestQueue: EventLoopFuture<Void>?
    /// Promises for our want-reply global requests, in the order sent (nil: a keepalive nobody waits for).
    private var ourGlobalRequests: [EventLoopPromise<SSHGlobalRequestResponse>?] = []
    /// Graceful shutdown: no new channels, and the connection ends when its last channel does.
    private var draining = false
    /// Keepalives sent since the peer last said anything (ssh's ServerAliveCountMax counter).
    private var unansweredKeepalives = 0
    private var keepaliveTask: RepeatedTask?

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
        unansweredKeepalives = 0
        let event: SSHConnectionEvent?
        do {
            event = try connection.receive(payload)
        } catch let error as SSHProtocolError {
            context.writeAndFlush(wrapOutboundOut(.disconnect(error.disconnectReason, error.description)), promise: nil)
            failAll(SSHError(.protocolFailure(error)))
            return
        } catch {
            failAll(SSHError(wrapping: error))
            context.close(promise: nil)
            return
        }
        if let event { handle(event) }
        flushOutbound()
    }

    private func handle(_ event: SSHConnectionEvent) {
        switch event {
        case .channelOpenRequest(let id, let type):
            if draining {
                try? connection.rejectChannelOpen(id, reason: .administrativelyProhibited, description: "the server is shutting down")
            } else if case .session = type {
                if let policy = serverPolicy, policy.acceptSession(id, handler: self) {
                    try? connection.acceptChannelOpen(id)
                } else {
                    try? connection.deny(event)
                }
            } else if let delegate = serverDelegate, let context, let connection = serverConnection(connectionID: connectionID) {
                let decision = context.eventLoop.makePromise(of: SSHChannelOpenDecision.self)
                decision.completeOnEventLoop { await delegate.channelOpen(type, on: connection) }
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                decision.futureResult.whenSuccess { bound.value.answerChannelOpen(id, $0) }
            } else if connection.configuration.role == .client, let router = peerChannelRouter {
                switch router(type) {
                case .reject(let reason, let description):
                    try? connection.rejectChannelOpen(id, reason: reason, description: description)
                case .accept(let serve):
                    if let channel = acceptedChannel(id) { serve(channel) }
                }
            } else {
                try? connection.deny(event)
            }
        case .channelOpened(let id):
            channels[id]?.opened?.succeed()
            channels[id]?.opened = nil
        case .channelOpenFailed(let id, let reason, let description):
            let state = channels.removeValue(forKey: id)
            state?.opened?.fail(SSHError(.channelOpenFailed(reason: reason, description: description)))
            state?.continuation?.finish(throwing: SSHError(.channelOpenFailed(reason: reason, description: description)))
            state?.closed.succeed()
            endIfDrained()
        case .data(let id, let data):
            channels[id]?.unreadBytes += data.readableBytes
            channels[id]?.bytesReceived += UInt64(data.readableBytes)
            deliver(.data(data), on: id)
        case .extendedData(let id, _, let data):
            channels[id]?.unreadBytes += data.readableBytes
            channels[id]?.bytesReceived += UInt64(data.readableBytes)
            deliver(.stderr(data), on: id)
        case .eof(let id):
            deliver(.eof, on: id)
        case .closed(let id):
            deliverPendingInput()
            let state = channels.removeValue(forKey: id)
            // Closed before it was confirmed (its opener gave up): the open never completes.
            state?.opened?.fail(SSHError(.channelClosed))
            state?.continuation?.finish()
            state?.sink?.end(nil)
            state?.replies.forEach { $0.succeed(false) }
            state?.writeWaiters.forEach { $0.fail(SSHError(.channelClosed)) }
            state?.closed.succeed()
            endIfDrained()
        case .windowAdjusted(let id):
            releaseWriters(id)
        case .channelRequest(let id, let request, let wantReply):
            switch request {
            case .exitStatus(let status):
                deliver(.exitStatus(Int32(bitPattern: status)), on: id)
                if wantReply { try? connection.replyToChannelRequest(on: id, success: true) }
            case .exitSignal(let signal):
                deliver(.exitSignal(signal), on: id)
                if wantReply { try? connection.replyToChannelRequest(on: id, success: true) }
            default:
                let verdict = serverPolicy?.sessionRequest(request, on: id, handler: self) ?? .refuse
                if verdict == .acceptAndDeliver { deliver(.request(request), on: id) }
                if wantReply { try? connection.replyToChannelRequest(on: id, success: verdict != .refuse) }
            }
        case .channelRequestReply(let id, _, let success):
            if let state = channels[id], !state.replies.isEmpty { state.replies.removeFirst().succeed(success) }
        case .globalRequest(let request, let wantReply):
            answerGlobalRequest(request, wantReply: wantReply)
        case .globalRequestReply(_, let response):
            if !ourGlobalRequests.isEmpty { ourGlobalRequests.removeFirst()?.succeed(response) }
        }
    }

    private func answerChannelOpen(_ id: SSHChannelID, _ decision: SSHChannelOpenDecision) {
        guard failure == nil, let context else { return }
        switch decision {
        case .reject(let reason, let description):
            try? connection.rejectChannelOpen(id, reason: reason, description: description)
        case .accept where draining:
            try? connection.rejectChannelOpen(id, reason: .administrativelyProhibited, description: "the server is shutting down")
        case .accept(let serve):
            guard let channel = acceptedChannel(id) else { return }
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let served = context.eventLoop.makePromise(of: Void.self)
            if let serverWork {
                serverWork.submit(done: served) { try await serve(channel) }
            } else {
                served.completeWithTask { try await serve(channel) }
            }
            served.futureResult.whenComplete { _ in bound.value.sendFinal(nil, on: id) }
        }
        flushOutbound()
    }

    /// Answers the peer's global requests in order: the ones every connection understands at once, the rest by
    /// the server's delegate (refused when there is none).
    private func answerGlobalRequest(_ request: SSHGlobalRequest, wantReply: Bool) {
        guard let context else { return }
        let eventLoop = context.eventLoop
        let delegate = serverDelegate
        let serverConnection = self.serverConnection(connectionID: connectionID)
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let previous = globalRequestQueue ?? eventLoop.makeSucceededVoidFuture()
        let answered = previous.flatMap { () -> EventLoopFuture<SSHGlobalRequestResponse> in
            switch request {
            case .keepalive, .noMoreSessions, .hostKeys:
                // Understood here: keepalives only want an answer, no-more-sessions is enforced by the connection
                // machine, and a client has nothing to do with host keys it is told about (UpdateHostKeys is off).
                return eventLoop.makeSucceededFuture(.success)
            default:
                guard let delegate, let serverConnection, !serverConnection.user.isEmpty else { return eventLoop.makeSucceededFuture(.failure) }
                let decision = eventLoop.makePromise(of: SSHGlobalRequestResponse.self)
                decision.completeOnEventLoop { await delegate.globalRequest(request, on: serverConnection) }
                return decision.futureResult
            }
        }.map { response in
            bound.value.replyToGlobalRequest(response, wantReply: wantReply)
        }
        globalRequestQueue = answered
    }

    private func replyToGlobalRequest(_ response: SSHGlobalRequestResponse, wantReply: Bool) {
        guard wantReply, failure == nil else { return }
        // A response the request cannot have (a tcpip-forward for port 0 without the port) is refused instead.
        if (try? connection.replyToGlobalRequest(response)) == nil { try? connection.replyToGlobalRequest(.failure) }
        flushOutbound()
    }

    /// Sends a global request; the future has the peer's answer when `wantReply`.
    func sendGlobalRequest(_ request: SSHGlobalRequest, wantReply: Bool) throws -> EventLoopFuture<SSHGlobalRequestResponse>? {
        if let failure { throw failure }
        guard let context else { throw SSHError(.connectionClosed) }
        try connection.sendGlobalRequest(request, wantReply: wantReply)
        flushOutbound()
        guard wantReply else { return nil }
        let promise = context.eventLoop.makePromise(of: SSHGlobalRequestResponse.self)
        ourGlobalRequests.append(promise)
        return promise.futureResult
    }

    // MARK: Keepalive and shutdown

    /// Server: keepalives from authentication on (sshd's ClientAliveInterval and ClientAliveCountMax).
    var keepaliveAfterAuthentication: (TimeAmount, Int)?

    /// Sends keepalive@openssh.com whenever `interval` passes without a word from the peer, and ends the connection
    /// when `maximumUnanswered` in a row got no answer (ssh's ServerAliveInterval/ServerAliveCountMax, sshd's
    /// ClientAliveInterval/ClientAliveCountMax).
    func startKeepalive(interval: TimeAmount, maximumUnanswered: Int) {
        guard let context, keepaliveTask == nil else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        keepaliveTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
            if !bound.value.keepaliveTick(maximumUnanswered: maximumUnanswered) { task.cancel() }
        }
    }

    /// One keepalive interval passed: give up, or send another. Returns false when the timer should stop.
    private func keepaliveTick(maximumUnanswered: Int) -> Bool {
        guard failure == nil, let context else { return false }
        if unansweredKeepalives >= maximumUnanswered {
            let error = SSHError(.peerNotResponding(unansweredKeepalives: unansweredKeepalives))
            failAll(error)
            // The DISCONNECT's text, which the server's log also records: who did not answer.
            let peer = connection.configuration.role == .server ? "client" : "server"
            context.writeAndFlush(wrapOutboundOut(.disconnect(.byApplication,
                "Timeout, \(peer) not responding (\(unansweredKeepalives) keepalives unanswered)")), promise: nil)
            return false
        }
        unansweredKeepalives += 1
        if (try? connection.sendGlobalRequest(.keepalive, wantReply: true)) != nil {
            ourGlobalRequests.append(nil)
            flushOutbound()
        }
        return true
    }

    /// Graceful shutdown of one connection: channels already open run to their end, new ones are refused, and the
    /// connection says goodbye once none is left (at once when none is open, or before authentication).
    func beginGracefulShutdown() {
        draining = true
        endIfDrained()
    }

    private func endIfDrained() {
        guard draining, channels.isEmpty, let context else { return }
        draining = false
        context.writeAndFlush(wrapOutboundOut(.disconnect(.byApplication, "the server is shutting down")), promise: nil)
    }

    /// The connection's addresses (server side: for the session's environment).
    var remoteAddress: SocketAddress? { context?.channel.remoteAddress }
    var localAddress: SocketAddress? { context?.channel.localAddress }

    /// Channels attached to async code (for tests and limits).
    var openChannelCount: Int { channels.count }

    private func releaseWriters(_ id: SSHChannelID) {
        guard let state = channels[id], !state.writeWaiters.isEmpty, context?.channel.isWritable ?? true,
              connection.queuedBytes(on: id) <= Self.highWaterMark / 2 else { return }
        let waiters = state.writeWaiters
        state.writeWaiters.removeAll()
        waiters.forEach { $0.succeed() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let authenticated = event as? SSHUserAuthenticatedEvent {
            user = authenticated.user
            grant = authenticated.grant
            onAuthenticated?()
            if let (interval, maximum) = keepaliveAfterAuthentication { startKeepalive(interval: interval, maximumUnanswered: maximum) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Called once, on the event loop, when a user has authenticated (server side).
    var onAuthenticated: (() -> Void)?
    /// The authenticated user (server side).
    private(set) var user = ""
    /// What the login may do (server side).
    private(set) var grant = SSHLoginGrant()

    /// Sends a channel request that wants no reply, then the flush (server: exit-status, exit-signal).
    func sendFinal(_ request: SSHChannelRequest?, on id: SSHChannelID) {
        guard channels[id] != nil else { return }
        if let request { try? connection.sendChannelRequest(request, wantReply: false, on: id) }
        try? connection.sendEOF(on: id)
        try? connection.close(id)
        flushOutbound()
    }

    func channelInactive(context: ChannelHandlerContext) {
        keepaliveTask?.cancel()
        failAll(SSHError(.connectionClosed))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(SSHError(wrapping: error))
        context.fireErrorCaught(error)
    }

    // MARK: Delivering input

    /// Input waiting for the end of this read burst, in arrival order. Handing it over at channelReadComplete, with
    /// consecutive data for a channel merged into one buffer, wakes a waiting reader once per burst instead of once
    /// per packet (thread wake-ups were the largest cost in the data path's profile).
    private var pendingInput: [(id: SSHChannelID, input: SSHChannelInput)] = []

    private func deliver(_ input: SSHChannelInput, on id: SSHChannelID) {
        guard let state = channels[id], state.continuation != nil || state.sink != nil else { return }
        // Counted when queued, not when handed over: the cap is checked as each request arrives, and a read may
        // bring many before the queue is handed over.
        if case .request = input { channels[id]?.unreadRequests += 1 }
        if pendingInput.isEmpty, let context {
            // Input that did not come from a socket read (none is expected, but no input may wait for a read that
            // never comes): handed over once the event loop is done with what it is doing.
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.execute { bound.value.deliverPendingInput() }
        }
        // Merge into the previous element when both are data (or both stderr) of this channel. The previous one is
        // taken out of the array first, so its buffer is not shared and grows in place.
        if pendingInput.last?.id == id {
            switch (pendingInput.removeLast().input, input) {
            case (.data(var bytes), .data(let more)):
                bytes.writeImmutableBuffer(more)
                pendingInput.append((id, .data(bytes)))
                return
            case (.stderr(var bytes), .stderr(let more)):
                bytes.writeImmutableBuffer(more)
                pendingInput.append((id, .stderr(bytes)))
                return
            case (let earlier, _):
                pendingInput.append((id, earlier))
            }
        }
        pendingInput.append((id, input))
    }

    private func deliverPendingInput() {
        guard !pendingInput.isEmpty else { return }
        let pending = pendingInput
        pendingInput.removeAll(keepingCapacity: true)
        for (id, input) in pending {
            guard let state = channels[id] else { continue }
            if let sink = state.sink {
                sink.deliver(input)
                continue
            }
            switch input {
            case .data(let bytes), .stderr(let bytes):
                if let handler = state.dataHandler {
                    // Taken synchronously: the bytes are read as soon as the handler returns.
                    handler(input)
                    consumed(bytes.readableBytes, on: id)
                    continue
                }
            default:
                break
            }
            state.continuation?.yield(input)
        }
    }

    /// The reader took a request from the channel's input.
    func requestTaken(on id: SSHChannelID) {
        channels[id]?.unreadRequests -= 1
    }

    func unreadRequests(on id: SSHChannelID) -> Int { channels[id]?.unreadRequests ?? 0 }

    func channelReadComplete(context: ChannelHandlerContext) {
        deliverPendingInput()
        context.fireChannelReadComplete()
    }

    private func failAll(_ error: any Error) {
        guard failure == nil else { return }
        // What arrived before the failure is still the reader's, ahead of the error.
        deliverPendingInput()
        failure = error
        let all = channels
        channels.removeAll()
        for state in all.values {
            state.opened?.fail(error)
            state.continuation?.finish(throwing: error)
            state.sink?.end(error)
            state.replies.forEach { $0.fail(error) }
            state.writeWaiters.forEach { $0.fail(error) }
            state.closed.succeed()
        }
        let waiting = ourGlobalRequests
        ourGlobalRequests.removeAll()
        waiting.forEach { $0?.fail(error) }
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
    func openChannel(_ type: SSHChannelType, input: AsyncThrowingStream<SSHChannelInput, any Error>.Continuation)
        throws -> (id: SSHChannelID, opened: EventLoopFuture<Void>, closed: EventLoopFuture<Void>, windowSize: UInt32) {
        if let failure { throw failure }
        guard let context else { throw SSHError(.connectionClosed) }
        let id = try connection.openChannel(type)
        // A channel whose input nobody will read any more (the reading task was cancelled, or the SSHChannel was
        // dropped) is closed, so it neither holds the peer's window nor stays open for ever.
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        input.onTermination = { termination in
            guard case .cancelled = termination else { return }
            eventLoop.execute { bound.value.close(id) }
        }
        let state = ChannelState(closed: context.eventLoop.makePromise())
        let opened = context.eventLoop.makePromise(of: Void.self)
        state.opened = opened
        state.continuation = input
        channels[id] = state
        flushOutbound()
        return (id, opened.futureResult, state.closed.futureResult, connection.configuration.window.windowSize)
    }

    /// Attaches a channel the peer opened and accepted here, as an `SSHChannel` reading through its input sequence.
    func acceptedChannel(_ id: SSHChannelID) -> SSHChannel? {
        guard let context else { return nil }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: SSHChannelInput.self)
        guard let closed = attach(id, input: continuation), (try? connection.acceptChannelOpen(id)) != nil else {
            forget(id)
            return nil
        }
        return SSHChannel(id: id, handler: NIOLoopBound(self, eventLoop: context.eventLoop), eventLoop: context.eventLoop,
                          stream: stream, closed: closed, windowSize: connection.configuration.window.windowSize)
    }

    /// Drops the record of a channel that could not be attached.
    func forget(_ id: SSHChannelID) { channels.removeValue(forKey: id) }

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
        state.bytesSent += UInt64(data.readableBytes)
        flushOutbound()
        // Two limits: the peer's window (data it has not granted waits in the connection), and the socket (data
        // granted but not yet taken by TCP waits in NIO's buffer). A peer that grants a huge window and stops
        // reading would otherwise have the whole output buffered here.
        guard let context, connection.queuedBytes(on: id) > Self.highWaterMark || !context.channel.isWritable else { return nil }
        let promise = context.eventLoop.makePromise(of: Void.self)
        state.writeWaiters.append(promise)
        return promise.futureResult
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            for id in channels.keys { releaseWriters(id) }
        }
        context.fireChannelWritabilityChanged()
    }

    func unreadBytes(on id: SSHChannelID) -> Int { channels[id]?.unreadBytes ?? 0 }

    /// Bytes received and sent on an open channel; nil once it is gone.
    func traffic(on id: SSHChannelID) -> (received: UInt64, sent: UInt64)? {
        channels[id].map { ($0.bytesReceived, $0.bytesSent) }
    }

    func setDataHandler(_ handler: ((SSHChannelInput) -> Void)?, on id: SSHChannelID) {
        channels[id]?.dataHandler = handler
    }

    /// Sends the channel's input to `sink` from now on; what the input sequence already holds is handed over by
    /// the caller (`SSHChannel.attach(_:)`) before `SinkAttachment.drained()`. The sequence ends here.
    func attachSink(_ sink: any SSHChannelSink, on id: SSHChannelID) -> SinkAttachment? {
        guard let state = channels[id], let context else { return nil }
        let attachment = SinkAttachment(sink: sink, channel: id, handler: NIOLoopBound(self, eventLoop: context.eventLoop))
        state.sink = attachment
        state.continuation?.finish()
        state.continuation = nil
        return attachment
    }

    func sendEOF(on id: SSHChannelID) throws {
        _ = try state(id)
        try connection.sendEOF(on: id)
        flushOutbound()
    }

    func close(_ id: SSHChannelID) {
        guard let state = channels[id] else { return }
        // An opener that closes before the confirmation stops waiting for it now; the connection sends CLOSE
        // when the confirmation comes (a channel cannot be closed before it has a peer identifier).
        state.opened?.fail(SSHError(.channelClosed))
        state.opened = nil
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

/// Takes a channel's input on the connection's event loop, in order, instead of `SSHChannel.input`: a splice that
/// writes it straight to a socket, with no task between (`SSHChannel.attach(_:)`).
package protocol SSHChannelSink: AnyObject {
    /// Input arrived. For data and stderr, return a future that completes once the bytes have been passed on
    /// (written to the socket): they count as read then, and the peer's window reopens. nil: read at once.
    func receive(_ input: SSHChannelInput) -> EventLoopFuture<Void>?
    /// The channel closed (nil) or the connection failed; nothing more arrives.
    func channelEnded(_ error: (any Error)?)
}

/// A sink attached to one channel: holds what arrives until what the input sequence already held has been handed
/// over, so the sink sees everything once and in order; counts data as read when the sink's future completes.
final class SinkAttachment {
    let sink: any SSHChannelSink
    let channel: SSHChannelID
    let handler: NIOLoopBound<ConnectionHandler>
    /// Input that arrived while the sequence's elements were still being handed over; nil once they were.
    private var held: [SSHChannelInput]? = []
    /// The end, when it came while holding.
    private var heldEnd: (any Error)??

    init(sink: any SSHChannelSink, channel: SSHChannelID, handler: NIOLoopBound<ConnectionHandler>) {
        self.sink = sink
        self.channel = channel
        self.handler = handler
    }

    func deliver(_ input: SSHChannelInput) {
        if held != nil {
            held?.append(input)
        } else {
            pass(input)
        }
    }

    /// Hands an element to the sink; data counts as read when the sink says it was passed on.
    func pass(_ input: SSHChannelInput) {
        let done = sink.receive(input)
        let bytes: Int
        switch input {
        case .data(let data), .stderr(let data): bytes = data.readableBytes
        default: return
        }
        guard let done else {
            handler.value.consumed(bytes, on: channel)
            return
        }
        let handler = self.handler
        let channel = self.channel
        done.whenComplete { _ in handler.value.consumed(bytes, on: channel) }
    }

    func end(_ error: (any Error)?) {
        if held != nil {
            heldEnd = .some(error)
        } else {
            sink.channelEnded(error)
        }
    }

    /// The sequence's elements have been handed over: what was held follows, then the end if it came.
    func drained() {
        guard let pending = held else { return }
        held = nil
        pending.forEach(pass)
        if let end = heldEnd { sink.channelEnded(end) }
    }
}
