// A channel as async code sees it (RFC 4254 §5): input as an AsyncSequence, writes that wait for window.
import NIOCore
import SSHProtocol

/// A channel's input. Reading an element hands its bytes back to the window (RFC 4254 §5.2), so the peer may send
/// more: a reader that stops reading stops the peer once the window (2 MiB by default) is full.
///
/// The sequence ends when the channel closes, and throws when the connection fails. Read it to its end: the exit
/// status of a command may arrive before its last output.
///
/// ```swift
/// var output = ByteBuffer()
/// for try await input in channel.input {
///     if case .data(var bytes) = input { output.writeBuffer(&bytes) }
/// }
/// ```
public struct SSHChannelInputSequence: AsyncSequence, Sendable {
    /// Each element is one piece of what the peer sent: data, stderr, EOF, a request, the exit status.
    public typealias Element = SSHChannelInput
    let stream: AsyncThrowingStream<SSHChannelInput, any Error>
    let consumed: @Sendable (Int) -> Void
    /// Called for each request read (the connection counts the ones not read yet).
    let requestTaken: @Sendable () -> Void
    /// Read bytes are reported to the connection in batches of at least this many (an eighth of the window): one
    /// hop to the event loop per batch instead of one per packet. Below half the window the peer can never stall
    /// on bytes read but not yet reported.
    let reportThreshold: Int

    /// Iterates the input; each element read gives its bytes back to the window.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<SSHChannelInput, any Error>.AsyncIterator
        let consumed: @Sendable (Int) -> Void
        let requestTaken: @Sendable () -> Void
        let reportThreshold: Int
        var unreported = 0

        /// The next input.
        /// - Returns: what the peer sent next; nil once the channel has closed.
        /// - Throws: `SSHError` when the connection failed before the channel closed.
        public mutating func next() async throws -> SSHChannelInput? {
            let element = try await base.next()
            switch element {
            case .data(let bytes)?, .stderr(let bytes)?:
                unreported += bytes.readableBytes
                if unreported >= reportThreshold {
                    consumed(unreported)
                    unreported = 0
                }
            case .request?:
                requestTaken()
            default:
                break
            }
            return element
        }
    }

    /// An iterator over the input. Only one iterator should read a channel: what one reads, the other does not see.
    /// - Returns: the iterator.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), consumed: consumed, requestTaken: requestTaken, reportThreshold: reportThreshold)
    }
}

/// One open channel (RFC 4254 §5): a session, a tunnel, or any other type. Safe to use from any task; every
/// operation runs on the connection's event loop.
///
/// `input` is what the peer sends; `write` and `writeStderr` send data and wait while the peer's window is full;
/// `request` and `send` send channel requests; `sendEOF` and `close` end our side. A client gets channels from
/// `SSHClient.openSession()` and `SSHClient.openChannel(_:)`, a server's session handler from
/// `SSHServerSession.channel`.
///
/// ```swift
/// let session = try await client.openSession()
/// try await session.request(.exec("wc -l"))
/// try await session.write(ByteBuffer(string: "one\ntwo\n"))
/// try await session.sendEOF()
/// for try await input in session.input {
///     if case .data(let bytes) = input { print(String(buffer: bytes)) }   // "2"
/// }
/// ```
public final class SSHChannel: Sendable {
    let id: SSHChannelID
    let handler: NIOLoopBound<ConnectionHandler>
    /// The connection's event loop: I/O that feeds this channel (a session's pipes) is cheapest on the same one.
    public let eventLoop: any EventLoop
    /// What the peer sends on this channel, in order.
    public let input: SSHChannelInputSequence
    let closedFuture: EventLoopFuture<Void>
    /// Client channels keep their connection open while they are in use, even when the `SSHClient` is gone.
    let lifetime: SSHConnectionLifetime?

    init(id: SSHChannelID, handler: NIOLoopBound<ConnectionHandler>, eventLoop: any EventLoop,
         stream: AsyncThrowingStream<SSHChannelInput, any Error>, closed: EventLoopFuture<Void>, windowSize: UInt32,
         lifetime: SSHConnectionLifetime? = nil) {
        self.lifetime = lifetime
        self.id = id
        self.handler = handler
        self.eventLoop = eventLoop
        self.closedFuture = closed
        input = SSHChannelInputSequence(stream: stream, consumed: { [handler, eventLoop] bytes in
            eventLoop.execute { handler.value.consumed(bytes, on: id) }
        }, requestTaken: { [handler, eventLoop] in
            eventLoop.execute { handler.value.requestTaken(on: id) }
        }, reportThreshold: max(1, Int(windowSize / 8)))
    }

    /// Sends a request that wants a reply (RFC 4254 §5.4) and waits for it.
    ///
    /// ```swift
    /// try await session.request(.environment("LANG", "C"))
    /// try await session.request(.exec("locale"))
    /// ```
    /// - Parameter request: the request, such as pty-req, env, exec, shell or subsystem.
    /// - Throws: `SSHError`: `requestRefused` when the peer says no, `channelClosed` or `connectionClosed` when the
    ///   channel or the connection is gone.
    public func request(_ request: SSHChannelRequest) async throws {
        let reply = try await eventLoop.flatSubmit { [handler, id] in
            do {
                return try handler.value.sendRequest(request, wantReply: true, on: id) ?? self.eventLoop.makeSucceededFuture(true)
            } catch {
                return self.eventLoop.makeFailedFuture(error)
            }
        }.get()
        guard reply else { throw SSHError(.requestRefused(request.name)) }
    }

    /// Sends a request that wants no reply (window-change, signal, exit-status, ...).
    /// - Parameter request: the request.
    /// - Throws: `SSHError` when the channel or the connection is gone.
    public func send(_ request: SSHChannelRequest) async throws {
        try await eventLoop.submit { [handler, id] in _ = try handler.value.sendRequest(request, wantReply: false, on: id) }.get()
    }

    /// Writes data (stdin for a client, stdout for a server); waits while too much is queued for the peer.
    ///
    /// Waiting is the flow control: a peer that does not read keeps its window shut, and the writer waits
    /// instead of queuing without bound.
    /// - Parameter data: the bytes to send.
    /// - Throws: `SSHError` when the channel or the connection is gone; SSHProtocol's `SSHProtocolError` after
    ///   our EOF.
    public func write(_ data: ByteBuffer) async throws { try await write(data, stderr: false) }

    /// Writes extended data of type 1 (stderr, from a server; RFC 4254 §5.2); waits as `write(_:)` does.
    /// - Parameter data: the bytes to send.
    /// - Throws: `SSHError` when the channel or the connection is gone; SSHProtocol's `SSHProtocolError` after
    ///   our EOF.
    public func writeStderr(_ data: ByteBuffer) async throws { try await write(data, stderr: true) }

    private func write(_ data: ByteBuffer, stderr: Bool) async throws {
        let wait = try await eventLoop.submit { [handler, id] in try handler.value.write(data, stderr: stderr, on: id) }.get()
        try await wait?.get()
    }

    /// Operations for code already running on `eventLoop` (a ChannelHandler feeding this channel), without the hop
    /// to a task and back that the async methods take. Calling them elsewhere is a programming error.
    public var syncOperations: SyncOperations { SyncOperations(channel: self) }

    /// The channel's operations for code on its event loop; get them from `syncOperations`.
    public struct SyncOperations {
        fileprivate let channel: SSHChannel

        /// Queues `data` (extended data type 1 when `stderr`) for the peer.
        /// - Parameters:
        ///   - data: the bytes to send.
        ///   - stderr: whether they go as extended data (a server's stderr).
        /// - Returns: nil while the writer may go on, or a future that completes once the queue has drained below
        ///   its limit (the peer's window opened); the writer stops producing until then.
        /// - Throws: `SSHError` when the channel or the connection is gone; `SSHProtocolError` after our EOF.
        public func write(_ data: ByteBuffer, stderr: Bool = false) throws -> EventLoopFuture<Void>? {
            channel.eventLoop.preconditionInEventLoop()
            return try channel.handler.value.write(data, stderr: stderr, on: channel.id)
        }

        /// Hands the channel's data and stderr to `handler` on the event loop as they arrive (merged per read
        /// burst), instead of to `input`; everything else (EOF, requests, exit status, the end) still comes
        /// through `input`, after the data before it has been handled. The bytes count as read when the handler
        /// returns, so a handler that blocks holds back the window, and the peer, as a slow reader would. For a
        /// consumer that is quick or may block its own thread anyway (a command's standard output); set it before
        /// the request that starts output.
        /// - Parameter handler: called on the event loop with each `.data` or `.stderr`; nil goes back to `input`.
        public func setDataHandler(_ handler: ((SSHChannelInput) -> Void)?) {
            channel.eventLoop.preconditionInEventLoop()
            channel.handler.value.setDataHandler(handler, on: channel.id)
        }

        /// Closes the channel (after queued data); `closedFuture`/`input` report the end.
        public func close() {
            channel.eventLoop.preconditionInEventLoop()
            channel.handler.value.close(channel.id)
        }

        /// No more data from us (after everything queued so far).
        /// - Throws: `SSHError` when the channel is closed.
        public func sendEOF() throws {
            channel.eventLoop.preconditionInEventLoop()
            try channel.handler.value.sendEOF(on: channel.id)
        }
    }

    /// Sends everything the peer sends on this channel to `sink`, on the event loop, instead of `input` (which
    /// ends): first what `input` already holds, then each arrival. Returns once the sink is receiving directly.
    /// For a splice to a socket, where a task between the two would cost thread hops per read.
    ///
    /// A caller that already read part of `input` passes its iterator as `continuing`, so the rest is handed over
    /// and the bytes it read count as read (an iterator dropped while the channel is open would end the channel).
    package func attach(_ sink: NIOLoopBound<any SSHChannelSink>, continuing reader: SSHChannelInputSequence.AsyncIterator? = nil) async {
        let bound = try? await eventLoop.submit { [handler, id] () -> NIOLoopBound<SinkAttachment>? in
            guard let attachment = handler.value.attachSink(sink.value, on: id) else {
                // The connection's pipeline is gone: the sink still hears the end.
                sink.value.channelEnded(SSHError(.connectionClosed))
                return nil
            }
            return NIOLoopBound(attachment, eventLoop: attachment.handler.eventLoop)
        }.get()
        guard let bound else { return }
        // The sequence was finished on the event loop, so this drains what it held, then ends.
        var pending = reader?.base ?? input.stream.makeAsyncIterator()
        if let unreported = reader?.unreported, unreported > 0 { input.consumed(unreported) }
        var failure: (any Error)?
        while true {
            do {
                guard let element = try await pending.next() else { break }
                eventLoop.execute { bound.value.pass(element) }
            } catch {
                failure = error
                break
            }
        }
        if let failure {
            eventLoop.execute { bound.value.end(failure) }
        }
        eventLoop.execute { bound.value.drained() }
    }

    /// Bytes the peer sent that `input` has not been read for yet. The peer cannot send more than the window we
    /// granted (2 MiB by default) before they are read, so this is what a slow reader costs in memory.
    public var unreadInputBytes: Int {
        get async { (try? await eventLoop.submit { [handler, id] in handler.value.unreadBytes(on: id) }.get()) ?? 0 }
    }

    /// No more data from us (after everything written so far): CHANNEL_EOF, RFC 4254 §5.3. A command reading
    /// its standard input sees its end.
    /// - Throws: `SSHError` when the channel or the connection is gone.
    public func sendEOF() async throws {
        try await eventLoop.submit { [handler, id] in try handler.value.sendEOF(on: id) }.get()
    }

    /// Returns once the channel has closed (both sides sent CLOSE) or the connection has ended.
    public func waitUntilClosed() async {
        try? await closedFuture.get()
    }

    /// Closes the channel (after queued data) and waits until the peer closed it too (RFC 4254 §5.3). `input`
    /// ends.
    public func close() async {
        eventLoop.execute { [handler, id] in handler.value.close(id) }
        try? await closedFuture.get()
    }
}
