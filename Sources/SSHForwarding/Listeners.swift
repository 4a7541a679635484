// Listening sockets for forwards, as ssh and sshd set them up: "localhost" is both loopback addresses, an empty
// address or "*" every address (IPv6 sockets IPv6-only, so both families can be bound), port 0 picks one port for
// all of them; a Unix socket is made with a mode and optionally replaces a stale one (StreamLocalBindUnlink).
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How a Unix socket a forward listens on is made.
public struct SSHStreamLocalBindOptions: Sendable, Equatable {
    /// Remove an existing socket file first (StreamLocalBindUnlink); otherwise binding fails when it exists.
    public var unlinkExisting: Bool
    /// Permission bits cleared on the socket file (StreamLocalBindMask; default 0177: only the owner may connect).
    public var mask: UInt32

    /// ssh's defaults: keep an existing file, mode 0600.
    /// - Parameters:
    ///   - unlinkExisting: whether an existing socket file is removed first.
    ///   - mask: permission bits cleared on the socket file.
    public init(unlinkExisting: Bool = false, mask: UInt32 = 0o177) {
        self.unlinkExisting = unlinkExisting
        self.mask = mask
    }
}

enum Listeners {
    /// The addresses a TCP listen address stands for, as ssh binds them.
    static func addresses(forListening host: String) -> [String] {
        switch host {
        case "", "*": ["0.0.0.0", "::"]
        case "localhost": ["127.0.0.1", "::1"]
        default: [host]
        }
    }

    /// Binds `endpoint` on `eventLoop`; accepted sockets are set up by `childInitializer`. Several sockets for a
    /// name with several addresses; fails only when none could be bound (ssh warns and goes on with the others).
    static func bind(_ endpoint: SSHForwardingEndpoint, on eventLoop: any EventLoop, streamLocal: SSHStreamLocalBindOptions,
                     childInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>) async throws -> [any Channel] {
        func bootstrap() -> ServerBootstrap {
            ServerBootstrap(group: eventLoop, childGroup: eventLoop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer(childInitializer)
        }
        switch endpoint {
        case .unixSocket(let path):
            do {
                let listener = try await bootstrap().bind(unixDomainSocketPath: path, cleanupExistingSocketFile: streamLocal.unlinkExisting).get()
                // The mode is set after bind (umask is process-wide and other threads create files); the socket
                // is not yet accepting anything that matters in between: connections wait for the accept.
                if chmod(path, mode_t(0o666 & ~streamLocal.mask)) != 0 {
                    let reason = String(cString: strerror(errno))
                    try? await listener.close()
                    throw SSHForwardingError(.listenFailed(address: path, reason: reason))
                }
                return [listener]
            } catch let error as SSHForwardingError {
                throw error
            } catch {
                throw SSHForwardingError(.listenFailed(address: path, reason: readableReason(error)), underlying: error)
            }
        case .tcp(let host, var port):
            var listeners: [any Channel] = []
            var firstError: (any Error)?
            for address in addresses(forListening: host) {
                do {
                    var server = bootstrap().childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                    if address.contains(":") {
                        server = server.serverChannelOption(ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 1)
                    }
                    let listener = try await server.bind(host: address, port: port).get()
                    // Port 0: the other addresses take the port the first one got, as ssh does.
                    if port == 0, let bound = listener.localAddress?.port { port = bound }
                    listeners.append(listener)
                } catch {
                    firstError = firstError ?? error
                }
            }
            guard !listeners.isEmpty else {
                let reason = firstError.map(readableReason) ?? "no address to listen on"
                throw SSHForwardingError(.listenFailed(address: SSHForwardingEndpoint.tcp(host: host, port: port).description, reason: reason),
                                         underlying: firstError)
            }
            return listeners
        }
    }
}
