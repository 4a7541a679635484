// The one error type of SSHProtocol. Every protocol failure maps to an SSH_MSG_DISCONNECT reason code
// (RFC 4253 §11.1), which the state machine sends to the peer before it reports the error to its caller.

/// RFC 4253 §11.1 disconnect reason codes.
public enum SSHDisconnectReason: UInt32, Sendable, Hashable, CustomStringConvertible {
    /// SSH_DISCONNECT_HOST_NOT_ALLOWED_TO_CONNECT.
    case hostNotAllowedToConnect = 1
    /// SSH_DISCONNECT_PROTOCOL_ERROR.
    case protocolError = 2
    /// SSH_DISCONNECT_KEY_EXCHANGE_FAILED.
    case keyExchangeFailed = 3
    /// SSH_DISCONNECT_RESERVED.
    case reserved = 4
    /// SSH_DISCONNECT_MAC_ERROR.
    case macError = 5
    /// SSH_DISCONNECT_COMPRESSION_ERROR.
    case compressionError = 6
    /// SSH_DISCONNECT_SERVICE_NOT_AVAILABLE.
    case serviceNotAvailable = 7
    /// SSH_DISCONNECT_PROTOCOL_VERSION_NOT_SUPPORTED.
    case protocolVersionNotSupported = 8
    /// SSH_DISCONNECT_HOST_KEY_NOT_VERIFIABLE.
    case hostKeyNotVerifiable = 9
    /// SSH_DISCONNECT_CONNECTION_LOST.
    case connectionLost = 10
    /// SSH_DISCONNECT_BY_APPLICATION: an orderly close.
    case byApplication = 11
    /// SSH_DISCONNECT_TOO_MANY_CONNECTIONS.
    case tooManyConnections = 12
    /// SSH_DISCONNECT_AUTH_CANCELLED_BY_USER.
    case authenticationCancelledByUser = 13
    /// SSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE.
    case noMoreAuthenticationMethodsAvailable = 14
    /// SSH_DISCONNECT_ILLEGAL_USER_NAME.
    case illegalUserName = 15

    /// The reason in words, e.g. "protocol error".
    public var description: String {
        switch self {
        case .hostNotAllowedToConnect: "host not allowed to connect"
        case .protocolError: "protocol error"
        case .keyExchangeFailed: "key exchange failed"
        case .reserved: "reserved"
        case .macError: "MAC error"
        case .compressionError: "compression error"
        case .serviceNotAvailable: "service not available"
        case .protocolVersionNotSupported: "protocol version not supported"
        case .hostKeyNotVerifiable: "host key not verifiable"
        case .connectionLost: "connection lost"
        case .byApplication: "disconnected by application"
        case .tooManyConnections: "too many connections"
        case .authenticationCancelledByUser: "authentication cancelled by user"
        case .noMoreAuthenticationMethodsAvailable: "no more authentication methods available"
        case .illegalUserName: "illegal user name"
        }
    }
}

/// Why an SSH connection ended or could not go on. `description` is the sentence to show a user.
public struct SSHProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Equatable {
        /// The peer's identification line was missing, malformed or not SSH 2.0.
        case badIdentification(String)
        /// The peer broke the protocol (an unexpected or malformed message).
        case protocolViolation(String)
        /// Nothing in common for one algorithm category, e.g. ("cipher client->server", ours, theirs).
        case noCommonAlgorithm(category: String, ours: [String], theirs: [String])
        /// A packet's MAC or AEAD tag did not verify; its payload was discarded.
        case badMessageAuthenticationCode
        /// A packet length outside what we accept.
        case badPacketLength(UInt32)
        /// The server's signature over the exchange hash did not verify.
        case hostKeySignatureInvalid(algorithm: String)
        /// The host key was refused by the caller's validator, or changed during a rekey.
        case hostKeyRejected(String)
        /// The key exchange's cryptography failed (e.g. an invalid public value from the peer).
        case keyExchangeFailed(String)
        /// The peer sent SSH_MSG_DISCONNECT.
        case disconnectedByPeer(reason: UInt32, message: String)
        /// The peer asked for a service we do not run.
        case serviceNotAvailable(String)
        /// A client used up its authentication attempts (sshd's MaxAuthTries).
        case tooManyAuthenticationFailures(user: String, attempts: Int)
        /// The caller asked for something the state does not allow (a programming error on our side).
        case invalidState(String)
        /// The peer sent a connection-protocol message for a channel number that is not open (RFC 4254 §5).
        case unknownChannel(UInt32)
        /// The peer sent more channel data than the window we granted (RFC 4254 §5.2).
        case channelWindowExceeded(channel: UInt32, bytes: Int, window: UInt32)
        /// The peer sent channel data larger than the maximum packet size we announced (RFC 4254 §5.2).
        case channelPacketTooLarge(channel: UInt32, bytes: Int, maximum: UInt32)
        /// We tried to open a channel while the connection already has its maximum number; nothing was sent.
        case channelLimitReached(limit: Int)
        /// The peer has more want-reply requests waiting for our answer than we keep.
        case tooManyPendingRequests(limit: Int)
    }

    /// What went wrong.
    public var kind: Kind

    /// An error of this kind.
    ///
    /// - Parameter kind: What went wrong.
    public init(_ kind: Kind) { self.kind = kind }

    /// The reason code sent to the peer in SSH_MSG_DISCONNECT for this failure.
    public var disconnectReason: SSHDisconnectReason {
        switch kind {
        case .badIdentification: .protocolVersionNotSupported
        case .protocolViolation, .badPacketLength, .invalidState: .protocolError
        case .unknownChannel, .channelWindowExceeded, .channelPacketTooLarge, .tooManyPendingRequests: .protocolError
        case .channelLimitReached: .byApplication
        case .noCommonAlgorithm, .keyExchangeFailed, .hostKeySignatureInvalid: .keyExchangeFailed
        case .badMessageAuthenticationCode: .macError
        case .hostKeyRejected: .hostKeyNotVerifiable
        case .serviceNotAvailable: .serviceNotAvailable
        case .tooManyAuthenticationFailures: .noMoreAuthenticationMethodsAvailable
        case .disconnectedByPeer(let reason, _): SSHDisconnectReason(rawValue: reason) ?? .protocolError
        }
    }

    /// The text sent to the peer in SSH_MSG_DISCONNECT: `description`, except where the detail is ours alone — a
    /// host key validator's reasons may name local files and lines, which the peer must not learn.
    public var peerDescription: String {
        switch kind {
        case .hostKeyRejected: "host key not verifiable"
        case .invalidState: "internal error"
        default: description
        }
    }

    /// The sentence to show a user: what happened and, where it helps, why.
    public var description: String {
        switch kind {
        case .badIdentification(let detail):
            return "the peer is not an SSH 2.0 server or client: \(detail)"
        case .protocolViolation(let detail):
            return "protocol error: \(detail)"
        case .noCommonAlgorithm(let category, let ours, let theirs):
            return "no matching \(category) found: we offer \(ours.joined(separator: ",")), the peer offers \(theirs.joined(separator: ","))"
        case .badMessageAuthenticationCode:
            return "corrupted MAC on input: a packet failed its integrity check (data altered in transit or a broken peer); the connection was closed"
        case .badPacketLength(let length):
            return "bad packet length \(length): the peer sent a packet size we do not accept (corrupted stream or a hostile peer)"
        case .hostKeySignatureInvalid(let algorithm):
            return "the server's \(algorithm) signature over the key exchange does not verify: someone may be intercepting the connection"
        case .hostKeyRejected(let detail):
            return "host key rejected: \(detail)"
        case .keyExchangeFailed(let detail):
            return "key exchange failed: \(detail)"
        case .disconnectedByPeer(let reason, let message):
            let name = SSHDisconnectReason(rawValue: reason).map { "\($0)" } ?? "reason \(reason)"
            return message.isEmpty ? "disconnected by peer (\(name))" : "disconnected by peer (\(name)): \(message)"
        case .tooManyAuthenticationFailures(let user, let attempts):
            return "too many authentication failures for \(user.isEmpty ? "the user" : user) (\(attempts))"
        case .serviceNotAvailable(let name):
            return "the peer asked for the service \"\(name)\", which is not available"
        case .invalidState(let detail):
            return "invalid use of the SSH transport: \(detail)"
        case .unknownChannel(let channel):
            return "protocol error: the peer sent a message for channel \(channel), which is not open (a broken or hostile peer)"
        case .channelWindowExceeded(let channel, let bytes, let window):
            return "protocol error: the peer sent \(bytes) bytes on channel \(channel), more than the \(window) bytes of window it had (a broken or hostile peer)"
        case .channelPacketTooLarge(let channel, let bytes, let maximum):
            return "protocol error: the peer sent \(bytes) bytes in one message on channel \(channel), more than the maximum packet size of \(maximum) we announced"
        case .channelLimitReached(let limit):
            return "cannot open another channel: this connection already has \(limit), the most allowed; close one first or raise the channel limit"
        case .tooManyPendingRequests(let limit):
            return "the peer sent more than \(limit) requests that wait for an answer; the connection was closed to bound memory"
        }
    }
}
