// Drives the server side of user authentication (SSHProtocol.SSHServerAuthentication) on a connection: each
// request goes to the authenticator (deny by default), one at a time, and every failure leaves only after the
// same fixed delay, counted from when its request arrived — unknown users, wrong passwords and refused keys all
// look alike from outside. After success, connection-layer messages flow on up the pipeline.
import Logging
import NIOCore
import SSHKeys
import SSHProtocol

/// Fired up the pipeline (as a user inbound event) when a user has authenticated (RFC 4252 §5.1's SUCCESS).
///
/// A ChannelHandler after the authentication handler sees it in `userInboundEventTriggered`.
public struct SSHUserAuthenticatedEvent: Sendable {
    /// The user who logged in.
    public var user: String
    /// The connection's session identifier (the first exchange hash, RFC 4253 §7.2).
    public var sessionIdentifier: [UInt8]
    /// What the login may do, from the authenticator's decision.
    public var grant: SSHLoginGrant
}

final class ServerAuthenticationHandler: ChannelDuplexHandler {
    typealias InboundIn = SSHTransportEvent
    typealias InboundOut = SSHTransportEvent
    typealias OutboundIn = SSHTransportCommand
    typealias OutboundOut = SSHTransportCommand

    private let authenticator: any SSHServerAuthenticator
    private let configuration: SSHServerAuthentication.Configuration
    private let failureDelay: TimeAmount
    private var machine: SSHServerAuthentication?
    static let maximumQueuedRequests = 16
    /// Failed attempts so far (for PerSourcePenalties' authfail).
    var failedAttempts: Int { machine?.failedAttempts ?? 0 }
    private let logger: Logger
    private var sessionIdentifier: [UInt8] = []
    private var remainingMethods: [SSHAuthenticationMethod]
    /// Methods that succeeded with partial success so far, in order.
    private var completedMethods: [SSHAuthenticationMethod] = []
    /// Requests wait here while one is being decided or its failure is being held back.
    private var queue: [ByteBuffer] = []
    private var busy = false
    private var closed = false
    /// Sent once, before the answer to the client's first request (as sshd sends its Banner).
    private var banner: String?
    private var bannerSent = false

    /// The server's number for the connection (SSHServerConnectionInfo.connectionID).
    private let connectionID: UInt64

    init(authenticator: any SSHServerAuthenticator, configuration: SSHServerAuthentication.Configuration, failureDelay: TimeAmount,
         banner: String? = nil, connectionID: UInt64 = 0, logger: Logger = .silent) {
        self.logger = logger
        self.connectionID = connectionID
        self.authenticator = authenticator
        self.configuration = configuration
        self.failureDelay = failureDelay
        self.banner = banner
        remainingMethods = authenticator.offeredMethods
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let event = unwrapInboundIn(data)
        if machine?.isAuthenticated == true {
            context.fireChannelRead(data)
            return
        }
        switch event {
        case .keyExchangeCompleted(let algorithms, let isInitial):
            if isInitial {
                sessionIdentifier = algorithms.sessionIdentifier
                machine = SSHServerAuthentication(sessionIdentifier: algorithms.sessionIdentifier, configuration: configuration)
            }
            context.fireChannelRead(data)
        case .message(let payload):
            guard let number = payload.getInteger(at: payload.readerIndex, as: UInt8.self), (50...79).contains(number) else {
                disconnect(context: context, SSHProtocolError(.protocolViolation("a connection message before authentication")))
                return
            }
            // A client sends the next request after the answer to the last; a few pipelined are tolerated, a pile of
            // them waiting for decisions is not.
            guard queue.count < Self.maximumQueuedRequests else {
                disconnect(context: context, SSHProtocolError(.protocolViolation("more than \(Self.maximumQueuedRequests) authentication requests waiting for an answer")))
                return
            }
            queue.append(payload)
            processNext(context: context)
        default:
            context.fireChannelRead(data)
        }
    }

    private func processNext(context: ChannelHandlerContext) {
        guard !busy, !closed, !queue.isEmpty, machine != nil else { return }
        let payload = queue.removeFirst()
        let received = NIODeadline.now()
        let remainingMethods = self.remainingMethods.map(\.name)
        guard let outcome = step(context: context, received: received, { try $0.receive(payload, methodsThatCanContinue: remainingMethods) }) else {
            return
        }
        guard let request = outcome else {
            emit(context: context, received: received)
            return
        }
        busy = true
        let attempt: SSHAuthenticationAttempt
        switch request {
        case .none(let user): attempt = .none(user: user)
        case .publicKeyQuery(let user, let key, let algorithm): attempt = .publicKey(user: user, key: key, isQuery: true, algorithm: algorithm)
        case .publicKey(let user, let key, let algorithm, _): attempt = .publicKey(user: user, key: key, isQuery: false, algorithm: algorithm)
        case .password(let user, let password, let newPassword):
            // We do not change passwords; a change attempt is a plain failure.
            attempt = newPassword == nil ? .password(user: user, password: password) : .none(user: user)
        case .keyboardInteractive(let user, _): attempt = .keyboardInteractive(user: user, responses: nil)
        case .keyboardInteractiveResponses(let user, let responses): attempt = .keyboardInteractive(user: user, responses: responses)
        }
        // Once, ahead of the answer to the first request (RFC 4252 §5.4): the authenticator's banner for this user
        // and connection, else the configured one.
        let wantsBanner = !bannerSent
        var info = SSHServerConnectionInfo(remoteAddress: context.channel.remoteAddress, localAddress: context.channel.localAddress,
                                           completedMethods: completedMethods, isFirstRequest: wantsBanner, connectionID: connectionID)
        if case .publicKey(_, _, _, let signature) = request { info.publicKeySignature = signature }
        let connection = info
        bannerSent = true
        // Decided on this connection's event loop, not the cooperative pool (see EventLoopTaskExecutor).
        let promise = context.eventLoop.makePromise(of: (banner: String?, attempts: Int?, decision: SSHAuthenticationDecision).self)
        let authenticator = self.authenticator
        promise.completeOnEventLoop {
            // The user is known from the first request on (it may not change): its own limit applies from there.
            let banner = wantsBanner ? await authenticator.banner(for: attempt.user, on: connection) : nil
            let attempts = wantsBanner ? await authenticator.maximumAttempts(for: attempt.user, on: connection) : nil
            return (banner, attempts, await authenticator.decide(attempt, on: connection))
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        // "none" is a probe for the method list, the same for every user: answered at once, as sshd does. Every
        // other failure is held (see failureDeadline).
        let holdFailures: Bool
        if case .none = request { holdFailures = false } else { holdFailures = true }
        promise.futureResult.whenSuccess { answer in
            let (handler, context) = bound.value
            if wantsBanner, let text = answer.banner ?? handler.banner { handler.machine?.sendBanner(text) }
            if let attempts = answer.attempts { handler.machine?.limitAttempts(to: attempts) }
            handler.apply(answer.decision, to: attempt, context: context, received: received, holdFailures: holdFailures)
        }
    }

    /// Runs one step on the state machine. On failure, whatever it queued is sent, then the connection ends with
    /// the error's reason; nil is returned.
    private func step<T>(context: ChannelHandlerContext, received: NIODeadline, _ body: (inout SSHServerAuthentication) throws -> T) -> T? {
        guard var machine else { return nil }
        do {
            let result = try body(&machine)
            self.machine = machine
            return result
        } catch {
            self.machine = machine
            emit(context: context, received: received)
            disconnect(context: context, (error as? SSHProtocolError) ?? SSHProtocolError(.protocolViolation("\(error)")))
            return nil
        }
    }

    private func apply(_ decision: SSHAuthenticationDecision, to attempt: SSHAuthenticationAttempt, context: ChannelHandlerContext,
                       received: NIODeadline, holdFailures: Bool) {
        guard !closed else { return }
        logDecision(decision, for: attempt, peer: context.channel.remoteAddress)
        let applied: Void? = step(context: context, received: received) { machine in
            switch (decision, attempt) {
            case (.accept, .publicKey(_, _, true, _)), (.grant, .publicKey(_, _, true, _)):
                try machine.acceptPublicKeyQuery()
            case (.accept, _), (.grant, _):
                // Accepting "none" too is the policy's choice (an account that needs no authentication).
                try machine.accept()
            case (.partialSuccess(let remaining), _):
                remainingMethods = remaining
                completedMethods.append(attempt.method)
                try machine.reject(methodsThatCanContinue: remaining.map(\.name), partialSuccess: true)
            case (.ask(let questions), .keyboardInteractive):
                try machine.sendInfoRequest(questions)
            case (.reject, _), (.ask, _):
                try machine.reject(methodsThatCanContinue: remainingMethods.map(\.name))
            }
        }
        guard applied != nil else { return }
        emit(context: context, received: received, holdFailures: holdFailures)
        if machine?.isAuthenticated == true {
            var grant = SSHLoginGrant()
            if case .grant(let granted) = decision { grant = granted }
            if grant.method == nil { grant.method = attempt.method }
            context.fireUserInboundEventTriggered(SSHUserAuthenticatedEvent(user: attempt.user, sessionIdentifier: sessionIdentifier, grant: grant))
        }
    }

    /// When a failure answering a request that arrived at `received` may leave: `failureDelay` after it, doubled
    /// until that is still ahead (sshd's ensure_minimum_time_since), so a decision that took longer is not told
    /// apart by a finer clock than the delay's.
    private func failureDeadline(received: NIODeadline) -> NIODeadline {
        let now = NIODeadline.now()
        var delay = failureDelay
        while received + delay < now, delay.nanoseconds > 0, delay < .seconds(5) { delay = delay + delay }
        return received + delay
    }

    /// Sends what the state machine produced; failures wait for `failureDeadline` unless `holdFailures` is false.
    private func emit(context: ChannelHandlerContext, received: NIODeadline, holdFailures: Bool = true) {
        guard var machine else { return }
        let outputs = machine.takeOutputs()
        self.machine = machine
        var delayed: [ByteBuffer] = []
        for output in outputs {
            switch output {
            case .send(let payload):
                if delayed.isEmpty { context.write(wrapOutboundOut(.message(payload)), promise: nil) } else { delayed.append(payload) }
            case .sendAfterFailureDelay(let payload):
                if holdFailures || !delayed.isEmpty {
                    delayed.append(payload)
                } else {
                    context.write(wrapOutboundOut(.message(payload)), promise: nil)
                }
            }
        }
        context.flush()
        guard !delayed.isEmpty else {
            busy = false
            processNext(context: context)
            return
        }
        busy = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let held = delayed
        context.eventLoop.scheduleTask(deadline: failureDeadline(received: received)) {
            let (handler, context) = bound.value
            guard !handler.closed else { return }
            for payload in held { context.write(handler.wrapOutboundOut(.message(payload)), promise: nil) }
            context.flush()
            handler.busy = false
            handler.processNext(context: context)
        }
    }

    private func disconnect(context: ChannelHandlerContext, _ error: SSHProtocolError) {
        guard !closed else { return }
        closed = true
        context.writeAndFlush(wrapOutboundOut(.disconnect(error.disconnectReason, error.description)), promise: nil)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        context.fireChannelInactive()
    }
}

extension ServerAuthenticationHandler {
    /// One line per decision that matters to an administrator: accepted, partial, and rejected attempts that proved
    /// something (not the "none" probe or a key query, which every client sends).
    fileprivate func logDecision(_ decision: SSHAuthenticationDecision, for attempt: SSHAuthenticationAttempt, peer: SocketAddress?) {
        var metadata: Logger.Metadata = ["peer": "\(peer?.logDescription ?? "-")", "user": "\(attempt.user)", "method": "\(attempt.method)"]
        switch (decision, attempt) {
        case (_, .publicKey(_, _, true, _)), (.reject, .none), (.ask, _):
            return
        case (.accept, _), (.grant, _):
            logger.info("authentication accepted", metadata: metadata)
        case (.partialSuccess(let remaining), _):
            metadata["remaining"] = "\(remaining.map(\.name).joined(separator: ","))"
            logger.info("authentication partially accepted", metadata: metadata)
        case (.reject, _):
            logger.notice("authentication rejected", metadata: metadata)
        }
    }
}
