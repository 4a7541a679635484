// ssh -D's front end: speaks SOCKS 4, 4a or 5 (RFC 1928, CONNECT, no authentication) with the local client, then
// hands the connection to a direct-tcpip channel to where it asked, splicing as -L does.
import NIOCore
import SSH

/// Reads one SOCKS request from a freshly accepted socket; holds further reads until the channel is open.
final class SOCKSFrontHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Called on the event loop with the request; bytes the client sent after it are in `leftover`.
    typealias RequestHandler = (SOCKSConnectRequest, _ leftover: ByteBuffer) -> Void

    private var parser = SOCKSRequestParser()
    private var buffered = ByteBuffer()
    private var requested = false
    private let onRequest: RequestHandler
    private let onRefused: (String) -> Void

    init(onRequest: @escaping RequestHandler, onRefused: @escaping (String) -> Void) {
        self.onRequest = onRequest
        self.onRefused = onRefused
    }

    func read(context: ChannelHandlerContext) {
        // Once the request is in, nothing more is read until the splice takes over.
        if !requested { context.read() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard !requested else {
            buffered.writeBuffer(&bytes)
            return
        }
        buffered.writeBuffer(&bytes)
        do {
            while true {
                switch try parser.feed(&buffered) {
                case .needMoreBytes:
                    return
                case .reply(let reply):
                    context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
                case .connect(let request):
                    requested = true
                    let leftover = buffered
                    buffered = ByteBuffer()
                    onRequest(request, leftover)
                    return
                case .refuse(let reply, let error):
                    // A client that speaks SOCKS hears why, then the connection ends.
                    requested = true
                    onRefused(error.description)
                    let channel = context.channel
                    context.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in channel.close(promise: nil) }
                    return
                }
            }
        } catch {
            // Not SOCKS at all: nothing it could read as an answer.
            requested = true
            onRefused("\(error)")
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

extension SSHClient {
    /// The SOCKS reply code for why a connection could not be made: the server's refusal or a local connect error.
    static func socksFailure(for error: any Error) -> SOCKSFailure {
        if let error = error as? SSHError, case .channelOpenFailed(let reason, let description) = error.kind {
            if reason == .administrativelyProhibited { return .notAllowed }
            if description.lowercased().contains("refused") { return .connectionRefused }
            return .hostUnreachable
        }
        if readableReason(error).lowercased().contains("refused") { return .connectionRefused }
        return .generalFailure
    }

    /// One SOCKS connection whose request is in: open the channel, answer the client, then splice.
    func forwardSOCKS(_ socket: any Channel, request: SOCKSConnectRequest, leftover: ByteBuffer, originator: Originator,
                      listening: String, onEvent: (@Sendable (SSHForwardingEvent) -> Void)?) async {
        let destination = SSHForwardingEndpoint.tcp(host: request.host, port: Int(request.port))
        let type = channelType(to: destination, originator: originator)
        let info = SSHForwardedConnectionInfo(channelType: "dynamic", from: "\(originator.address) port \(originator.port)",
                                              to: "\(destination) (SOCKS on \(listening))")
        let channel: SSHChannel
        do {
            channel = try await openChannel(type)
        } catch {
            onEvent?(.failed(info, error: error))
            let reply = request.failureReply(Self.socksFailure(for: error))
            socket.writeAndFlush(reply).whenComplete { _ in socket.close(promise: nil) }
            return
        }
        let handler: NIOLoopBound<SpliceHandler>
        do {
            handler = try await socket.eventLoop.submit {
                let pipeline = socket.pipeline.syncOperations
                let front = try pipeline.handler(type: SOCKSFrontHandler.self)
                socket.writeAndFlush(request.successReply(), promise: nil)
                let splice = SpliceHandler(eventLoop: socket.eventLoop)
                try pipeline.addHandler(splice)
                pipeline.removeHandler(front, promise: nil)
                // What the client sent right after its request goes first.
                if leftover.readableBytes > 0 { _ = try? channel.syncOperations.write(leftover) }
                return NIOLoopBound(splice, eventLoop: socket.eventLoop)
            }.get()
        } catch {
            socket.close(promise: nil)
            await channel.close()
            return
        }
        await runForwarded(channel, socket: socket, handler: handler, info: info, onEvent: onEvent)
    }
}
