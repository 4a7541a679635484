// Both ends of the privilege broker's socket (a SOCK_SEQPACKET pair, one message per datagram): the network
// process's client, which sends requests and matches replies by identifier, and the broker's service loop, which
// reads requests and answers each from a handler. Reads block, so each end keeps one thread of its own for them.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSSHPOSIX
import NIOCore
import SSHPOSIX
import NIOPosix
import Synchronization

/// One end of the broker's socket pair.
public final class SSHBrokerSocket: Sendable {
    /// The socket's descriptor, owned by this object until ``close()``.
    public let descriptor: Int32
    /// Set by `close`: a send after it fails instead of writing to whatever now has the descriptor's number (a
    /// session's end noticed after its network process is gone must not reach the next one's socket).
    private let closed = Mutex(false)

    /// Takes over `descriptor` (a SOCK_SEQPACKET socket: shhd's network process gets its end as descriptor 3).
    ///
    /// - Parameter descriptor: A connected socket of the broker's protocol.
    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// A connected pair: (broker's end, network process's end).
    ///
    /// ```swift
    /// let (broker, network) = try SSHBrokerSocket.pair()
    /// try broker.send(.notice(.hello(version: SSHBrokerProtocol.version, hostKeys: [])))
    /// let received = try network.receive()   // the hello, and no descriptors
    /// ```
    ///
    /// - Returns: Two connected ends, both close-on-exec.
    /// - Throws: ``SSHBrokerProtocolError`` when socketpair fails.
    public static func pair() throws -> (broker: SSHBrokerSocket, network: SSHBrokerSocket) {
        var fds: [Int32] = [-1, -1]
        guard shh_seqpacket_pair(&fds) == 0 else { throw SSHBrokerProtocolError("socketpair: \(String(cString: strerror(errno)))") }
        return (SSHBrokerSocket(descriptor: fds[0]), SSHBrokerSocket(descriptor: fds[1]))
    }

    /// Sends a message; `waiting: false` fails (EAGAIN) rather than wait for room (on an event loop).
    ///
    /// - Parameters:
    ///   - message: The message, one datagram.
    ///   - descriptors: Descriptors to pass along (SCM_RIGHTS); the caller still owns its copies.
    ///   - waiting: Whether to block until the socket has room.
    /// - Throws: ``SSHBrokerProtocolError`` when the socket is closed or the send fails.
    public func send(_ message: SSHBrokerMessage, descriptors: [Int32] = [], waiting: Bool = true) throws {
        let buffer = message.encode()
        try closed.withLock { isClosed in
            guard !isClosed else { throw SSHBrokerProtocolError("send: the socket is closed") }
            let sent = buffer.readableBytesView.withUnsafeBytes { bytes in
                descriptors.withUnsafeBufferPointer { fds in
                    shh_send_message(descriptor, bytes.baseAddress, bytes.count, fds.baseAddress, fds.count, waiting ? 0 : 1)
                }
            }
            guard sent == buffer.readableBytes else { throw SSHBrokerProtocolError("send: \(String(cString: strerror(errno)))") }
        }
    }

    /// The next message and the descriptors that came with it; nil when the other end has closed. Blocks.
    ///
    /// - Returns: The message and the descriptors it brought (the caller owns them), or nil at the end.
    /// - Throws: ``SSHBrokerProtocolError`` when the read fails or the datagram does not decode (its descriptors are
    ///   closed then).
    public func receive() throws -> (message: SSHBrokerMessage, descriptors: [Int32])? {
        var bytes = [UInt8](repeating: 0, count: SSHBrokerProtocol.maximumMessageSize + 1)
        var fds = [Int32](repeating: -1, count: 8)
        var count = 0
        let received = bytes.withUnsafeMutableBytes { raw in
            fds.withUnsafeMutableBufferPointer { fdBuffer in
                shh_receive_message(descriptor, raw.baseAddress, raw.count, fdBuffer.baseAddress, fdBuffer.count, &count)
            }
        }
        // A peer that died with messages of ours unread resets the connection: it has ended, as at EOF.
        if received < 0 && errno == ECONNRESET { return nil }
        guard received >= 0 else { throw SSHBrokerProtocolError("receive: \(String(cString: strerror(errno)))") }
        let descriptors = Array(fds.prefix(count))
        guard received > 0 else {
            descriptors.forEach { Glibc.close($0) }
            return nil
        }
        do {
            return (try SSHBrokerMessage(decoding: ByteBuffer(bytes: bytes.prefix(received))), descriptors)
        } catch {
            descriptors.forEach { Glibc.close($0) }
            throw error
        }
    }

    /// Ends the conversation in both directions (a thread blocked in `receive` returns nil).
    public func shutDown() {
        shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Closes the descriptor, once; later sends fail instead of reaching whatever reuses its number.
    public func close() {
        closed.withLock { isClosed in
            guard !isClosed else { return }
            isClosed = true
            _ = Glibc.close(descriptor)
        }
    }
}

/// The network process's end: requests out, replies matched to them by identifier, the broker's hello first.
public final class SSHBrokerClient: Sendable {
    private struct State {
        var nextID: UInt32 = 1
        var pending: [UInt32: CheckedContinuation<(SSHBrokerReply, [Int32]), any Error>] = [:]
        /// Sessions that ended before anyone asked, and those being waited for.
        var sessionExits: [UInt64: ChildExit] = [:]
        var sessionExitWaiters: [UInt64: CheckedContinuation<ChildExit, Never>] = [:]
        /// Requests sent by `post`, whose replies nobody waits for.
        var posted: Set<UInt32> = []
        var failure: SSHBrokerProtocolError?
        var hello: [SSHBrokerNotice.HostKey]?
        var helloWaiters: [CheckedContinuation<[SSHBrokerNotice.HostKey], any Error>] = []
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let socket: SSHBrokerSocket
    private let state = Mutex(State())
    private let reader: NIOThreadPool

    /// Starts reading `socket` on a thread of its own.
    public init(socket: SSHBrokerSocket) {
        self.socket = socket
        reader = NIOThreadPool(numberOfThreads: 1)
        reader.start()
        reader.submit { [self] _ in readReplies() }
    }

    /// The host keys the broker serves (its hello), once it has said it.
    ///
    /// - Returns: The hello's host keys.
    /// - Throws: ``SSHBrokerProtocolError`` when the conversation ended first, or the broker speaks another version.
    public func hostKeys() async throws -> [SSHBrokerNotice.HostKey] {
        try await withCheckedThrowingContinuation { continuation in
            let outcome = state.withLock { state -> Result<[SSHBrokerNotice.HostKey], any Error>? in
                if let hello = state.hello { return .success(hello) }
                if let failure = state.failure { return .failure(failure) }
                state.helloWaiters.append(continuation)
                return nil
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    /// Sends `request` and waits for its reply; throws when the broker is gone or broke the protocol. Descriptors
    /// that came with the reply are closed (see ``requestWithDescriptors(_:)``).
    ///
    /// - Parameter request: What to ask.
    /// - Returns: The broker's reply.
    /// - Throws: ``SSHBrokerProtocolError`` when the broker is gone or broke the protocol.
    public func request(_ request: SSHBrokerRequest) async throws -> SSHBrokerReply {
        let (reply, descriptors) = try await requestWithDescriptors(request)
        descriptors.forEach { Glibc.close($0) }
        return reply
    }

    /// How a session the broker started ended (its sessionExited notice); a session of a broker that is gone
    /// counts as hung up.
    ///
    /// - Parameter session: The session's number from ``SSHBrokerReply/sessionStarted(session:terminal:messageOfTheDay:)``.
    /// - Returns: How it ended; `ChildExit.signaled` with SIGHUP when the broker went away first.
    public func sessionExit(_ session: UInt64) async -> ChildExit {
        await withCheckedContinuation { continuation in
            let known = state.withLock { state -> ChildExit? in
                if let exit = state.sessionExits.removeValue(forKey: session) { return exit }
                if state.failure != nil { return .signaled(SIGHUP) }
                state.sessionExitWaiters[session] = continuation
                return nil
            }
            if let known { continuation.resume(returning: known) }
        }
    }

    /// `request`, and the descriptors its reply brought (the caller owns them).
    ///
    /// - Parameter request: What to ask (a session's start brings descriptors back).
    /// - Returns: The reply and its descriptors.
    /// - Throws: ``SSHBrokerProtocolError`` when the broker is gone or broke the protocol.
    public func requestWithDescriptors(_ request: SSHBrokerRequest) async throws -> (SSHBrokerReply, [Int32]) {
        try await withCheckedThrowingContinuation { continuation in
            let id = state.withLock { state -> UInt32? in
                if state.failure != nil { return nil }
                let id = state.nextID
                state.nextID &+= 1
                state.pending[id] = continuation
                return id
            }
            guard let id else {
                continuation.resume(throwing: state.withLock { $0.failure } ?? SSHBrokerProtocolError("the broker is gone"))
                return
            }
            do {
                try socket.send(.request(id: id, request))
            } catch {
                if let waiting = state.withLock({ $0.pending.removeValue(forKey: id) }) { waiting.resume(throwing: error) }
            }
        }
    }

    /// Sends `request` without waiting for room or for its reply (a notice such as a closed connection, sent from
    /// an event loop); dropped if the socket is full or the broker gone.
    ///
    /// - Parameter request: The request; its reply is discarded.
    public func post(_ request: SSHBrokerRequest) {
        let id = state.withLock { state -> UInt32? in
            guard state.failure == nil else { return nil }
            let id = state.nextID
            state.nextID &+= 1
            state.posted.insert(id)
            return id
        }
        guard let id else { return }
        do {
            try socket.send(.request(id: id, request), waiting: false)
        } catch {
            _ = state.withLock { $0.posted.remove(id) }
        }
    }

    /// Returns once the conversation is over (the broker closed it, broke the protocol, or `close` was called).
    public func waitUntilClosed() async {
        await withCheckedContinuation { continuation in
            let over = state.withLock { state -> Bool in
                if state.failure != nil { return true }
                state.closeWaiters.append(continuation)
                return false
            }
            if over { continuation.resume() }
        }
    }

    /// Stops: the reader ends, and every request waiting and to come fails.
    public func close() {
        socket.shutDown()
    }

    private func readReplies() {
        var failure = SSHBrokerProtocolError("the broker closed the connection")
        reading: while true {
            do {
                guard let (message, descriptors) = try socket.receive() else { break reading }
                // Only a reply hands descriptors on; with anything else they are not ours to keep.
                guard case .reply = message else {
                    descriptors.forEach { Glibc.close($0) }
                    if case .notice(.sessionExited(let session, let exit)) = message {
                        let waiter = state.withLock { state -> CheckedContinuation<ChildExit, Never>? in
                            if let waiter = state.sessionExitWaiters.removeValue(forKey: session) { return waiter }
                            state.sessionExits[session] = exit
                            return nil
                        }
                        waiter?.resume(returning: exit)
                        continue reading
                    }
                    if case .request = message {
                        failure = SSHBrokerProtocolError("the broker sent a request")
                        break reading
                    }
                    guard case .notice(.hello(let version, let keys)) = message else { continue reading }
                    guard version == SSHBrokerProtocol.version else {
                        failure = SSHBrokerProtocolError("the broker speaks version \(version), not \(SSHBrokerProtocol.version)")
                        break reading
                    }
                    let waiters = state.withLock { state -> [CheckedContinuation<[SSHBrokerNotice.HostKey], any Error>] in
                        state.hello = keys
                        defer { state.helloWaiters.removeAll() }
                        return state.helloWaiters
                    }
                    waiters.forEach { $0.resume(returning: keys) }
                    continue reading
                }
                switch message {
                case .reply(let id, let reply):
                    if state.withLock({ $0.posted.remove(id) }) != nil {
                        descriptors.forEach { Glibc.close($0) }
                        continue reading
                    }
                    guard let waiting = state.withLock({ $0.pending.removeValue(forKey: id) }) else {
                        descriptors.forEach { Glibc.close($0) }
                        failure = SSHBrokerProtocolError("a reply to request \(id), which is not waiting")
                        break reading
                    }
                    waiting.resume(returning: (reply, descriptors))
                default:
                    break
                }
            } catch let error as SSHBrokerProtocolError {
                failure = error
                break reading
            } catch {
                failure = SSHBrokerProtocolError("\(error)")
                break reading
            }
        }
        let (pending, helloWaiters, exitWaiters, closeWaiters) = state.withLock { state in
            state.failure = failure
            defer {
                state.pending.removeAll()
                state.helloWaiters.removeAll()
                state.sessionExitWaiters.removeAll()
                state.closeWaiters.removeAll()
            }
            return (Array(state.pending.values), state.helloWaiters, Array(state.sessionExitWaiters.values), state.closeWaiters)
        }
        closeWaiters.forEach { $0.resume() }
        pending.forEach { $0.resume(throwing: failure) }
        helloWaiters.forEach { $0.resume(throwing: failure) }
        // Without the broker its sessions are beyond reach (their descriptors close with ours): hung up.
        exitWaiters.forEach { $0.resume(returning: .signaled(SIGHUP)) }
        socket.close()
        let reader = self.reader
        // The pool cannot be shut down from its own thread; a plain thread does it once this one is done.
        reader.shutdownGracefully { _ in }
    }
}

/// Answers the network process's requests: the broker's policy (shhd's authenticator, its host keys).
public protocol SSHBrokerRequestHandler: Sendable {
    /// Runs on a thread that may block. An unanswerable request gets `.refused` with why.
    func handle(_ request: SSHBrokerRequest) -> SSHBrokerReply
    /// Answers a request for which `answersAsynchronously` is true (one that needs more than one blocking call or
    /// hands descriptors back: a session's start); nil leaves it to `handle`. The service sends the descriptors with
    /// the reply, then closes them.
    func answer(_ request: SSHBrokerRequest) async -> SSHBrokerAnswer?
    /// Whether `answer` takes this request; the rest go to `handle` on the blocking pool (or `immediateReply`).
    func answersAsynchronously(_ request: SSHBrokerRequest) -> Bool
    /// Answers a request that neither blocks nor takes long (a signature, a closed connection) on the thread that
    /// reads the socket, with no hop to a pool; nil leaves it to `answer` and `handle`.
    func immediateReply(to request: SSHBrokerRequest) -> SSHBrokerReply?
}

extension SSHBrokerRequestHandler {
    /// None: every request goes to `handle`.
    public func answer(_ request: SSHBrokerRequest) async -> SSHBrokerAnswer? { nil }
    /// False: no request is answered asynchronously.
    public func answersAsynchronously(_ request: SSHBrokerRequest) -> Bool { false }
    /// None: every request goes to the blocking pool.
    public func immediateReply(to request: SSHBrokerRequest) -> SSHBrokerReply? { nil }
}

/// A reply and the descriptors that go with it.
public struct SSHBrokerAnswer: Sendable {
    /// The reply.
    public var reply: SSHBrokerReply
    /// Descriptors sent with it, then closed by the service.
    public var descriptors: [Int32]
    /// An answer.
    ///
    /// - Parameters:
    ///   - reply: The reply.
    ///   - descriptors: Descriptors to send with it; the service closes them after sending.
    public init(_ reply: SSHBrokerReply, descriptors: [Int32] = []) {
        self.reply = reply
        self.descriptors = descriptors
    }
}

/// The broker's end: says hello, then reads requests on a thread of its own, answering the quick ones there, handing
/// the blocking ones straight to the blocking pool (whose thread sends the reply) and the asynchronous ones (a
/// session's start) to tasks — all concurrently: one slow password check does not hold up another connection's. A
/// message that does not decode, or one no network process should send, ends the conversation: the broker itself
/// goes on (its caller decides what next). Asynchronous answers still under way are sent before `serve` returns;
/// a pool answer that comes after the socket is closed is dropped.
public enum SSHBrokerService {
    /// Serves the network process on `socket` until it closes the conversation or breaks the protocol.
    ///
    /// - Parameters:
    ///   - socket: The broker's end.
    ///   - hostKeys: The hello's host keys (public halves).
    ///   - handler: The broker's policy.
    ///   - blocking: Where `handle` runs, each answer with a 60-second deadline (a late one is refused).
    /// - Throws: ``SSHBrokerProtocolError`` when the hello cannot be sent, a datagram does not decode, or the
    ///   network process sends something other than a request.
    public static func serve(_ socket: SSHBrokerSocket, hostKeys: [SSHBrokerNotice.HostKey], handler: any SSHBrokerRequestHandler,
                             blocking: SSHBlockingWorkPool = .shared) async throws {
        try socket.send(.notice(.hello(version: SSHBrokerProtocol.version, hostKeys: hostKeys)))
        let reader = NIOThreadPool(numberOfThreads: 1)
        reader.start()
        defer { reader.shutdownGracefully { _ in } }
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        // A discarding group: a broker serves millions of requests, and a finished child must not be kept.
        try await withThrowingDiscardingTaskGroup { answers in
            defer { socket.shutDown() }
            while true {
                // Read, answering what is quick on the spot, until a request needs the pool (or the end).
                let next = try await reader.runIfActive(eventLoop: eventLoop) { () throws -> (UInt32, SSHBrokerRequest)? in
                    while let (message, descriptors) = try socket.receive() {
                        descriptors.forEach { close($0) }
                        guard case .request(let id, let request) = message else {
                            throw SSHBrokerProtocolError("the network process sent something other than a request")
                        }
                        if let reply = handler.immediateReply(to: request) {
                            try socket.send(.reply(id: id, reply))
                        } else if handler.answersAsynchronously(request) {
                            return (id, request)
                        } else {
                            blocking.submit("the broker's answer to \(Self.describe(request))", timeout: .seconds(60), { handler.handle(request) }) {
                                // A hung account database refuses this one request; the conversation goes on.
                                let reply = (try? $0.get()) ?? .refused("the answer took longer than 60 s")
                                try? socket.send(.reply(id: id, reply))
                            }
                        }
                    }
                    return nil
                }.get()
                guard let (id, request) = next else { break }
                answers.addTask {
                    let answer: SSHBrokerAnswer
                    if let given = await handler.answer(request) {
                        answer = given
                    } else {
                        do {
                            answer = SSHBrokerAnswer(try await blocking.run("the broker's answer to \(Self.describe(request))", timeout: .seconds(60)) {
                                handler.handle(request)
                            })
                        } catch {
                            // A hung account database refuses this one request; the conversation goes on.
                            answer = SSHBrokerAnswer(.refused("\(error)"))
                        }
                    }
                    defer { answer.descriptors.forEach { close($0) } }
                    // A send that fails means the other end is gone: the reading loop sees that and ends.
                    try? socket.send(.reply(id: id, answer.reply), descriptors: answer.descriptors)
                }
            }
        }
    }

    static func describe(_ request: SSHBrokerRequest) -> String {
        switch request {
        case .signExchangeHash: "an exchange hash to sign"
        case .authenticate(let connection, _, _, _, _, _, _, _): "an authentication attempt on connection \(connection)"
        case .banner: "a banner"
        case .maximumAttempts: "an attempt limit"
        case .connectionClosed: "a closed connection"
        case .startSession(let connection, _): "a session on connection \(connection)"
        case .signalSession: "a signal"
        case .forwardingPolicy: "a forwarding policy"
        case .connectStreamLocal(let connection, _): "a Unix socket to connect on connection \(connection)"
        case .listenStreamLocal(let connection, _): "a Unix socket to listen on for connection \(connection)"
        case .makeAgentSocket(let connection): "an agent socket for connection \(connection)"
        case .removeAgentSocket(let connection, _): "an agent socket to remove for connection \(connection)"
        case .listenPrivilegedTCP(let connection, _, _): "a privileged port for connection \(connection)"
        }
    }
}
