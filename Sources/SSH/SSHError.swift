// The one error type of module SSH: what went wrong on a connection, in words a user can act on.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOPosix
import SSHProtocol

/// Why an operation of module SSH failed: `kind` to match on, `description` to show the user, and `underlying`
/// for the error that caused it when there is one (a host key validator's, a password prompt's).
///
/// ```swift
/// do {
///     try await SSHClient.withConnection(host: "example.com", user: "me", credentials: credentials,
///                                        hostKeyValidator: .knownHosts()) { client in
///         print(try await client.run("make deploy", check: true))
///     }
/// } catch let error as SSHError {
///     switch error.kind {
///     case .hostKeyRejected: print("the server is not the one we know: \(error)")
///     case .authenticationFailed(_, _, let allowed): print("denied; the server allows \(allowed)")
///     case .commandFailed(_, let status, _, let stderr): print("exit \(status ?? -1): \(stderr)")
///     default: print(error)
///     }
/// }
/// ```
public struct SSHError: Error, Sendable, CustomStringConvertible {
    /// The failures, each with what the user needs to act on it. Match on it; show `SSHError.description` to
    /// people.
    public enum Kind: Sendable {
        /// No credential was accepted: what was tried, and what the server said can continue.
        case authenticationFailed(user: String, tried: [SSHAuthenticationMethod], allowed: [SSHAuthenticationMethod])
        /// A credential could not be used: its password prompt, keyboard-interactive responder or signer threw
        /// (`underlying` holds that error).
        case credentialFailed(method: SSHAuthenticationMethod)
        /// The server wants a new password (expired); shh does not change passwords.
        case passwordChangeRequired(prompt: String)
        /// The host key validator refused the server's key; `underlying` holds its error (for this module's
        /// validators, an `SSHHostKeyRejection`). The server was told only that the key could not be verified.
        case hostKeyRejected(host: String, port: Int, reason: String)
        /// An operation took longer than its limit (`SSHClient.Configuration`'s timeouts).
        case timedOut(phase: SSHTimeoutPhase, host: String, port: Int)
        /// The peer ended the connection with SSH_MSG_DISCONNECT (RFC 4253 §11.1): its reason code and message.
        case disconnected(reason: SSHDisconnectReason?, code: UInt32, message: String)
        /// The connection ended before the operation finished.
        case connectionClosed
        /// The network failed under the connection (reset by the peer, broken pipe, ...).
        case connectionLost(reason: String)
        /// The peer broke the protocol, or the transport failed (key exchange, MAC, ...).
        case protocolFailure(SSHProtocolError)
        /// Connecting failed (refused, unreachable).
        case connectFailed(host: String, port: Int, reason: String)
        /// The host name does not resolve.
        case unresolvableHost(host: String, reason: String)
        /// The peer refused to open a channel (RFC 4254 §5.1): its reason code and text.
        case channelOpenFailed(reason: SSHChannelOpenFailureReason, description: String)
        /// The channel is closed; nothing more can be sent on it.
        case channelClosed
        /// The peer refused a request on a channel (e.g. exec, pty-req).
        case requestRefused(String)
        /// This many keepalives in a row got no answer (ServerAliveCountMax reached): the peer or the network
        /// is gone.
        case peerNotResponding(unansweredKeepalives: Int)
        /// A command run with `check: true` did not exit 0: its exit status (or the signal that ended it) and the
        /// end of its standard error.
        case commandFailed(command: String, exitStatus: Int32?, signal: String?, stderr: String)
    }

    /// What failed.
    public var kind: Kind
    /// The error behind this one, when another error caused it.
    public var underlying: (any Error)?

    /// An error of this kind.
    /// - Parameters:
    ///   - kind: what failed.
    ///   - underlying: the error that caused it, if another error did.
    public init(_ kind: Kind, underlying: (any Error)? = nil) {
        self.kind = kind
        self.underlying = underlying
    }

    /// Any error from below as an SSHError: ours as they are, the peer's DISCONNECT as `disconnected`, the
    /// protocol's as protocol failures, anything else as a protocol violation naming it.
    init(wrapping error: any Error) {
        if let error = error as? SSHError {
            self = error
        } else if let error = error as? SSHProtocolError {
            if case .disconnectedByPeer(let code, let message) = error.kind {
                self.init(.disconnected(reason: SSHDisconnectReason(rawValue: code), code: code, message: message))
            } else {
                self.init(.protocolFailure(error))
            }
        } else if let error = error as? IOError {
            self.init(.connectionLost(reason: error.description))
        } else if error is ChannelError {
            self.init(.connectionClosed)
        } else {
            self.init(.protocolFailure(SSHProtocolError(.protocolViolation("\(error)"))), underlying: error)
        }
    }

    /// The failure in one line for a person, in ssh's words where ssh has them ("connect to host h port 22:
    /// Connection refused"). Text from the peer in it is as the peer sent it.
    public var description: String {
        switch kind {
        case .authenticationFailed(let user, let tried, let allowed):
            let triedText = tried.isEmpty ? "nothing we could offer" : tried.map(\.name).joined(separator: ", ")
            return "Permission denied for \(user) (\(allowed.map(\.name).joined(separator: ","))): tried \(triedText)"
        case .credentialFailed(let method):
            return "the \(method.name) credential failed" + (underlying.map { ": \($0)" } ?? "")
        case .passwordChangeRequired(let prompt):
            return "the server requires a new password (\(prompt)); change it with passwd on that machine"
        case .hostKeyRejected(let host, let port, let reason):
            return "host key for \(host) port \(port) rejected: \(reason)"
        case .timedOut(let phase, let host, let port):
            return "connect to host \(host) port \(port): timed out \(phase)"
        case .disconnected(let reason, let code, let message):
            let name = reason.map { "\($0)" } ?? "reason \(code)"
            return message.isEmpty ? "disconnected by the server (\(name))" : "disconnected by the server (\(name)): \(message)"
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
        case .commandFailed(let command, let status, let signal, let stderr):
            let how = signal.map { "was killed by signal \($0)" } ?? "exited with status \(status.map(String.init) ?? "unknown")"
            let tail = stderr.isEmpty ? "" : ": " + stderr
            return "\(command) \(how)\(tail)"
        }
    }
}

/// Where in connecting a time limit ran out.
public enum SSHTimeoutPhase: Sendable, Equatable, CustomStringConvertible {
    /// The TCP connect, the version exchange or the key exchange (`connectTimeout`).
    case handshake
    /// Checking the host key and authenticating (`authenticationTimeout`).
    case authentication

    /// The phase as the end of a sentence ("during authentication").
    public var description: String {
        switch self {
        case .handshake: "during the SSH handshake"
        case .authentication: "during authentication"
        }
    }
}

/// An authentication method (RFC 4252 §5; keyboard-interactive is RFC 4256). A string literal names one by its
/// protocol name (`"publickey"` is `.publicKey`).
public enum SSHAuthenticationMethod: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// "none": asks what is allowed (or logs in an account without a password, where a server permits it).
    case none
    /// "publickey": a signature by the user's key.
    case publicKey
    /// "password".
    case password
    /// "keyboard-interactive": questions the server asks (one-time codes, PAM prompts).
    case keyboardInteractive
    /// "hostbased": the client host's key vouches for the user.
    case hostBased
    /// Any other method a server names (gssapi-with-mic, ...).
    case other(String)

    /// The method named `name` in the protocol.
    /// - Parameter name: a method name, such as "publickey"; a name this type does not know becomes `.other`.
    public init(name: String) {
        switch name {
        case "none": self = .none
        case "publickey": self = .publicKey
        case "password": self = .password
        case "keyboard-interactive": self = .keyboardInteractive
        case "hostbased": self = .hostBased
        default: self = .other(name)
        }
    }

    /// The method named by a string literal: `let method: SSHAuthenticationMethod = "publickey"`.
    /// - Parameter name: the method's name in the protocol.
    public init(stringLiteral name: String) { self.init(name: name) }

    /// The method's name in the protocol.
    public var name: String {
        switch self {
        case .none: "none"
        case .publicKey: "publickey"
        case .password: "password"
        case .keyboardInteractive: "keyboard-interactive"
        case .hostBased: "hostbased"
        case .other(let name): name
        }
    }

    /// The method's name in the protocol, as `name`.
    public var description: String { name }
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

