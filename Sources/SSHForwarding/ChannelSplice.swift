// Splicing a socket to an SSH channel (RFC 4254 §5.2, §5.3, §7): bytes both ways with flow control, and half-close
// both ways — the socket's end of input becomes CHANNEL_EOF, the channel's EOF shuts the socket's writing side, so
// protocols that rely on it (HTTP/1.0, `nc -N`) work. Everything runs on the connection's event loop, with no task
// between the two (a hop per read was the largest cost of a data path).
import NIOCore
import SSH

/// Copies bytes between a socket (or pipe) and an SSH channel until both have ended. Lives in the socket's pipeline,
/// which must be on the SSH connection's event loop, and receives the channel's input as its sink.
final class SpliceHandler: ChannelDuplexHandler, SSHChannelSink {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var channel: SSHChannel?
    private var context: ChannelHandlerContext?
    /// Reads wait until the channel is bound, and while the channel's writer waits for window.
    private var readsHeld = true
    /// Bytes read before `bind(_:)`.
    private var beforeBind = ByteBuffer()
    /// Starts true: the first read after binding is ours to make, whoever asked (the socket may have been read by
    /// a handler before this one, which then held its reads).
    private var readPending = true
    /// The last write to the socket: EOF and close wait for it.
    private var lastWrite: EventLoopFuture<Void>?
    private var socketInputEnded = false
    private var channelEOF = false
    private var channelEnded = false
    private var socketClosed = false
    /// Completes when the socket is closed and the channel has ended.
    let finished: EventLoopPromise<Void>

    init(eventLoop: any EventLoop) {
        finished = eventLoop.makePromise()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        context.channel.closeFuture.assumeIsolated().whenComplete { [self] _ in
            // Through the loop-bound self: the close future completes on this event loop.
            socketClosed = true
            // NIO closes a socket whose input ends after its output was shut down without reporting the input's
            // end: the peer still hears EOF before CLOSE, as it would have.
            if !socketInputEnded {
                socketInputEnded = true
                try? channel?.syncOperations.sendEOF()
            }
            channel?.syncOperations.close()
            finishIfDone()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        // The socket is gone (its pipeline is torn down): nothing more can pass, whatever the channel does.
        finish()
    }

    /// Starts copying from the socket to `channel`; the channel's input arrives through `receive(_:)` once attached.
    func bind(_ channel: SSHChannel) {
        self.channel = channel
        // What the socket delivered before the channel was there (a read NIO made on its own) goes first.
        if beforeBind.readableBytes > 0 {
            _ = try? channel.syncOperations.write(beforeBind)
            beforeBind = ByteBuffer()
        }
        if socketInputEnded { try? channel.syncOperations.sendEOF() }
        if socketClosed {
            channel.syncOperations.close()
            return
        }
        releaseReads()
    }

    // MARK: Socket to channel

    func read(context: ChannelHandlerContext) {
        if readsHeld {
            readPending = true
        } else {
            context.read()
        }
    }

    private func releaseReads() {
        readsHeld = false
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let channel else {
            var bytes = unwrapInboundIn(data)
            beforeBind.writeBuffer(&bytes)
            return
        }
        do {
            if let wait = try channel.syncOperations.write(unwrapInboundIn(data)) {
                // The peer's window is full: read no more from the socket until it opens.
                readsHeld = true
                wait.hop(to: context.eventLoop).assumeIsolated().whenComplete { [self] result in
                    if case .failure = result { context.close(promise: nil) } else { releaseReads() }
                }
            }
        } catch {
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            socketInputEnded = true
            try? channel?.syncOperations.sendEOF()
            closeIfBothEnded()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: Channel to socket

    func receive(_ input: SSHChannelInput) -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        switch input {
        case .data(let bytes):
            let written = context.writeAndFlush(wrapOutboundOut(bytes))
            lastWrite = written
            return written
        case .eof:
            channelEOF = true
            afterWrites { context in context.close(mode: .output, promise: nil) }
            closeIfBothEnded()
        case .stderr, .exitStatus, .exitSignal, .request:
            // Tunnels carry no extended data or requests (RFC 4254 §7.2); nothing to pass on.
            break
        }
        return nil
    }

    func channelEnded(_ error: (any Error)?) {
        channelEnded = true
        afterWrites { context in context.close(promise: nil) }
        finishIfDone()
    }

    /// Runs `body` once what was written to the socket has gone (or failed).
    private func afterWrites(_ body: @escaping (ChannelHandlerContext) -> Void) {
        guard let context else { return }
        guard let lastWrite else { return body(context) }
        lastWrite.assumeIsolated().whenComplete { _ in body(context) }
    }

    /// Both directions are over: the socket closes, and with it the channel.
    private func closeIfBothEnded() {
        guard socketInputEnded, channelEOF else { return }
        afterWrites { context in context.close(promise: nil) }
    }

    private func finishIfDone() {
        if socketClosed && channelEnded { finish() }
    }

    private var isFinished = false

    private func finish() {
        guard !isFinished else { return }
        isFinished = true
        finished.succeed()
    }
}

/// Splicing as the rest of the module uses it.
enum Splice {
    /// Adds a splice handler to a socket's pipeline (from its initializer, so no byte is read before it is there).
    static func install(on socket: any Channel) throws -> SpliceHandler {
        let handler = SpliceHandler(eventLoop: socket.eventLoop)
        try socket.pipeline.syncOperations.addHandler(handler)
        return handler
    }

    /// Makes a socket with `make` (which runs the initializer it is given before any byte is read) and a splice
    /// handler in its pipeline from the start; returns both. `what` names the socket in errors.
    static func socket(on eventLoop: any EventLoop, what: String,
                       _ make: (@escaping @Sendable (any Channel) -> EventLoopFuture<Void>) async throws -> any Channel)
        async throws -> (any Channel, NIOLoopBound<SpliceHandler>) {
        let handlerBox = NIOLoopBoundBox<SpliceHandler?>.makeEmptyBox(eventLoop: eventLoop)
        let socket = try await make { socket in
            socket.eventLoop.makeCompletedFuture { handlerBox.value = try install(on: socket) }
        }
        do {
            let handler = try await eventLoop.submit { () -> NIOLoopBound<SpliceHandler> in
                guard let handler = handlerBox.value else { throw SSHForwardingError(.connectFailed(target: what, reason: "the socket was not set up")) }
                return NIOLoopBound(handler, eventLoop: eventLoop)
            }.get()
            return (socket, handler)
        } catch {
            socket.close(promise: nil)
            throw error
        }
    }

    /// Copies between `socket` (whose pipeline has `handler`) and `channel` until both have ended. The socket must
    /// be on the channel's event loop.
    static func run(_ channel: SSHChannel, socket: any Channel, handler: NIOLoopBound<SpliceHandler>,
                    continuing reader: SSHChannelInputSequence.AsyncIterator? = nil) async {
        let bound = try? await channel.eventLoop.submit { () -> (EventLoopFuture<Void>, NIOLoopBound<any SSHChannelSink>) in
            handler.value.bind(channel)
            return (handler.value.finished.futureResult, NIOLoopBound(handler.value, eventLoop: channel.eventLoop))
        }.get()
        guard let (finished, sink) = bound else { return }
        await channel.attach(sink, continuing: reader)
        await withTaskCancellationHandler {
            try? await finished.get()
        } onCancel: {
            socket.close(promise: nil)
        }
    }
}
