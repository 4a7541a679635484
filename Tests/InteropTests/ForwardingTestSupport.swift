// Services and clients for forwarding tests: an echo service on TCP or a Unix socket that answers a half-close with
// its own (so a test sees both directions end), and a client that sends bytes, shuts down writing and reads to the
// end, with a deadline.
import Foundation
import NIOCore
import NIOPosix

/// Echoes what it receives; when the client shuts down writing, it finishes echoing and shuts down its own.
final class EchoService: Sendable {
    let listener: any Channel

    /// An echo service on 127.0.0.1 (port chosen) or on a Unix socket.
    init(unixSocket path: String? = nil) async throws {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(EchoHandler()) }
            }
        if let path {
            listener = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        } else {
            listener = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        }
    }

    var port: Int { listener.localAddress?.port ?? 0 }

    func close() async { try? await listener.close() }
}

private final class EchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in
                context.close(mode: .output, promise: nil)
            }
        }
    }
}

/// Connects to `target` (a TCP port on 127.0.0.1, or a Unix socket), sends `data`, shuts down writing, and returns
/// everything received until the other side closed; throws when that takes longer than `timeout`.
func exchange(withPort port: Int? = nil, unixSocket: String? = nil, _ data: [UInt8], timeout: Duration = .seconds(60)) async throws -> [UInt8] {
    let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelOption(.allowRemoteHalfClosure, value: true)
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    if let unixSocket {
        channel = try await bootstrap.connect(unixDomainSocketPath: unixSocket) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)) }
        }
    } else {
        channel = try await bootstrap.connect(host: "127.0.0.1", port: port ?? 0) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)) }
        }
    }
    return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
        group.addTask {
            try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: [UInt8]?.self) { inner in
                    inner.addTask {
                        var offset = 0
                        while offset < data.count {
                            let end = min(offset + 65536, data.count)
                            try await outbound.write(ByteBuffer(bytes: data[offset..<end]))
                            offset = end
                        }
                        outbound.finish()
                        return nil
                    }
                    inner.addTask {
                        var received: [UInt8] = []
                        for try await bytes in inbound { received += bytes.readableBytesView }
                        return received
                    }
                    var received: [UInt8] = []
                    for try await result in inner { if let result { received = result } }
                    return received
                }
            }
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        guard let first = try await group.next(), let received = first else {
            group.cancelAll()
            throw ForwardingTestTimeout()
        }
        group.cancelAll()
        return received
    }
}

struct ForwardingTestTimeout: Error, CustomStringConvertible {
    var description: String { "the forwarded exchange did not finish in time" }
}
