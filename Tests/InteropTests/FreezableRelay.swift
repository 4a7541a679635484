// A TCP relay between a client and a server on loopback that can be frozen: it stops reading from either side, so
// nothing more crosses in either direction, while both connections stay open. A test freezes one connection this
// way instead of stopping processes (SIGSTOP would stop whatever those processes hold that others share).
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

final class FreezableRelay: Sendable {
    private let listener: any Channel
    private let relayed = NIOLockedValueBox<[any Channel]>([])
    /// Where clients connect.
    let port: Int

    /// Listens on 127.0.0.1 (a port of the kernel's choosing) and relays each connection to 127.0.0.1:`targetPort`.
    init(to targetPort: Int) async throws {
        let relayed = self.relayed
        let group = MultiThreadedEventLoopGroup.singleton
        listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: "127.0.0.1", port: targetPort)
                    .flatMap { outbound in
                        relayed.withLockedValue { $0 += [inbound, outbound] }
                        let towardServer = RelayHandler(partner: outbound)
                        let towardClient = RelayHandler(partner: inbound)
                        return inbound.pipeline.addHandler(towardServer).flatMap {
                            outbound.pipeline.addHandler(towardClient)
                        }.flatMap {
                            inbound.setOption(.autoRead, value: true)
                        }
                    }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = listener.localAddress?.port ?? 0
    }

    /// From now on nothing is read from either side of any relayed connection: what was sent stays unread.
    func freeze() async {
        for channel in relayed.withLockedValue({ $0 }) {
            try? await channel.setOption(.autoRead, value: false)
        }
    }

    func close() async {
        try? await listener.close()
        for channel in relayed.withLockedValue({ $0 }) { try? await channel.close() }
    }
}

/// Writes what one side reads to the other; a side that closes closes the other.
private final class RelayHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let partner: any Channel

    init(partner: any Channel) { self.partner = partner }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner.writeAndFlush(data, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
