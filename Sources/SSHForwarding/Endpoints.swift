// Where forwarded connections go and where forwards listen: a TCP host and port, or a Unix socket (OpenSSH's
// streamlocal, PROTOCOL §2.4), and how they are connected and listened on, on the SSH connection's event loop.
import NIOCore
import NIOPosix

/// A TCP host and port, or a Unix socket path: the target of a forwarded connection, or where a forward listens.
public enum SSHForwardingEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// A TCP address. An empty host or `*` means every address (listening); `localhost` the loopback addresses.
    case tcp(host: String, port: Int)
    /// A Unix-domain socket.
    case unixSocket(path: String)

    /// `host:port` (IPv6 literals in brackets) or the socket path, as ssh prints them.
    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unixSocket(let path): path
        }
    }

    /// Connects to the endpoint on `eventLoop`, with `initializer` setting up the socket's pipeline before any
    /// byte is read.
    func connect(on eventLoop: any EventLoop, timeout: TimeAmount = .seconds(30),
                 initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>) async throws -> any Channel {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer(initializer)
        switch self {
        case .tcp(let host, let port):
            return try await bootstrap
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connect(host: host, port: port).get()
        case .unixSocket(let path):
            return try await bootstrap.connect(unixDomainSocketPath: path).get()
        }
    }
}

/// A peer's address as ssh reports an originator: the IP address and port; a Unix socket has neither.
struct Originator: Sendable {
    var address: String
    var port: Int

    init(_ address: SocketAddress?) {
        self.address = address?.ipAddress ?? ""
        self.port = address?.port ?? 0
    }
}

/// The readable reason of a socket error, without NIO's decoration ("Connection refused").
func readableReason(_ error: any Error) -> String {
    if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
    if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
        return readableReason(first.error)
    }
    if error is ChannelError, case ChannelError.connectTimeout = error { return "Connection timed out" }
    return "\(error)"
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
