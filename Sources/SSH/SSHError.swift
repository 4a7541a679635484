// The one error type of module SSH: what went wrong on a connection, in words a user can act on.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOPosix
import SSHProtocol

/// Why an operation of module SSH failed: `kind` to match on, `description` to show the user.
public struct SSHError: Error, Sendable, CustomStringConvertible {
    /// The failures, each with what the user needs to act on it.
    public enum Kind: Sendable {
        /// No credential was accepted. `allowed` is what the server said can continue.
        case authenticationFailed(user: String, tried: [String], allowed: [String])
        /// The server wants a new password (expired); shh does not change passwords.
        case passwordChangeRequired(prompt: String)
        /// The connection ended before the operation finished.
        case connectionClosed
        /// The network failed under the connection (reset by the peer, broken pipe, ...).
        case connectionLost(reason: String)
        /// The peer broke the protocol, or the transport failed (host key, key exchange, MAC...).
        case protocolFailure(SSHProtocolError)
        /// Connecting failed (refused, unreachable, timed out).
        case connectFailed(host: String, port: Int, reason: String)
        /// The host name does not resolve.
        case unresolvableHost(host: String, reason: String)
        /// The peer refused to open a channel.
        case channelOpenFailed(reason: String, description: String)
        /// The channel is closed; nothing more can be sent on it.
        case channelClosed
        /// The peer refused a request on a channel (e.g. exec, pty-req).
        case requestRefused(String)
        /// This many keepalives in a row got no answer (ServerAliveCountMax reached): the peer or the network
        /// is gone.
        case peerNotResponding(unansweredKeepalives: Int)
    }

    /// What failed.
    public var kind: Kind
    /// An error of this kind.
    public init(_ kind: Kind) { self.kind = kind }

    /// Any error from below as an SSHError: ours as they are, the protocol's as protocol failures, anything else
    /// as a protocol violation naming it.
    init(wrapping error: any Error) {
        if let error = error as? SSHError {
            self = error
        } else if let error = error as? SSHProtocolError {
            self.init(.protocolFailure(error))
        } else if let error = error as? IOError {
            self.init(.connectionLost(reason: error.description))
        } else if error is ChannelError {
            self.init(.connectionClosed)
        } else {
            self.init(.protocolFailure(SSHProtocolError(.protocolViolation("\(error)"))))
        }
    }

    public var description: String {
        switch kind {
        case .authenticationFailed(let user, let tried, let allowed):
            let triedText = tried.isEmpty ? "nothing we could offer" : tried.joined(separator: ", ")
            return "Permission denied for \(user) (\(allowed.joined(separator: ","))): tried \(triedText)"
        case .passwordChangeRequired(let prompt):
            return "the server requires a new password (\(prompt)); change it with passwd on that machine"
        case .connectionClosed:
            return "the connection closed"
        case .connectionLost(let reason):
            return "the connection was lost: \(reason)"
        case .protocolFailure(let error):
            return error.description
        case .connectFailed(let host, let port, let reason):
            return "connect to host \(host) port \(port): \(reason)"
        case .unresolvableHost(let host, let reason):
            return "Could not resolve hostname \(host): \(reason)"
        case .channelOpenFailed(let reason, let description):
            return "channel open failed: \(reason)\(description.isEmpty ? "" : ": " + description)"
        case .channelClosed:
            return "the channel is closed"
        case .requestRefused(let request):
            return "the server refused the \(request) request"
        case .peerNotResponding(let count):
            return "Timeout, server not responding (\(count) keepalives unanswered)"
        }
    }
}

extension SSHError {
    /// A failed TCP connect in ssh's words: the system's text for the last attempt ("Connection refused"), or the
    /// resolver's for a name that does not resolve, instead of NIO's nested descriptions.
    static func connecting(to host: String, port: Int, failure: any Error) -> SSHError {
        if let failure = failure as? NIOConnectionError {
            if let last = failure.connectionErrors.last {
                return SSHError(.connectFailed(host: host, port: port, reason: systemText(last.error)))
            }
            if let dnsError = failure.dnsAError ?? failure.dnsAAAAError {
                let text = (dnsError as? SocketAddressError.UnknownHost)?.errorDescription ?? "\(dnsError)"
                return SSHError(.unresolvableHost(host: host, reason: text))
            }
        }
        return SSHError(.connectFailed(host: host, port: port, reason: systemText(failure)))
    }

    private static func systemText(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if case ChannelError.connectTimeout = error { return "Connection timed out" }
        return "\(error)"
    }
}

