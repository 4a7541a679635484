// The one error type of SSHForwarding: what went wrong with a forward, a SOCKS request or a jump, and what to do.

/// A failure of port forwarding, SOCKS or a jump host, with what the user can do about it.
public struct SSHForwardingError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Equatable {
        /// A local listener could not be set up (the port is taken, the address is not ours, a socket path exists).
        case listenFailed(address: String, reason: String)
        /// The server refused a remote forward (tcpip-forward or streamlocal-forward@openssh.com).
        case remoteForwardRefused(address: String)
        /// Connecting a forwarded connection to its target failed.
        case connectFailed(target: String, reason: String)
        /// A SOCKS client sent something that is not SOCKS 4, 4a or 5, or asks for what we do not do.
        case socks(String)
        /// A forwarding specification (-L, -R, -D, -W, -J or a config line) that cannot be read.
        case badSpecification(String)
    }

    /// What went wrong.
    public var kind: Kind
    /// The cause from elsewhere (a socket error, an `SSHError`), when there is one.
    public var underlying: (any Error)?

    /// An error of `kind`, caused by `underlying`.
    /// - Parameters:
    ///   - kind: what went wrong.
    ///   - underlying: the cause from elsewhere, if any.
    public init(_ kind: Kind, underlying: (any Error)? = nil) {
        self.kind = kind
        self.underlying = underlying
    }

    /// One readable line, as ssh words it where ssh has a message.
    public var description: String {
        switch kind {
        case .listenFailed(let address, let reason): "cannot listen to \(address): \(reason)"
        case .remoteForwardRefused(let address): "remote port forwarding failed for listen port \(address)"
        case .connectFailed(let target, let reason): "connect to \(target) failed: \(reason)"
        case .socks(let reason): "SOCKS: \(reason)"
        case .badSpecification(let reason): "Bad forwarding specification: \(reason)"
        }
    }
}
