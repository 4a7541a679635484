// Global requests (SSH_MSG_GLOBAL_REQUEST type-specific data) and what their REQUEST_SUCCESS carries:
// RFC 4254 §7.1 tcpip-forward (the bound port when port 0 was asked for) and cancel-tcpip-forward; OpenSSH
// PROTOCOL §2.4 streamlocal-forward@openssh.com and cancel-streamlocal-forward@openssh.com, §2.2
// no-more-sessions@openssh.com, §2.5 hostkeys-00@openssh.com and hostkeys-prove-00@openssh.com (one signature per
// key in the reply), and keepalive@openssh.com (a request any reply answers).
import NIOCore
import SSHWire

/// A global request with its type-specific data. Whether a reply is wanted travels beside it.
public enum SSHGlobalRequest: Sendable, Equatable {
    /// "tcpip-forward": listen on address:port and open forwarded-tcpip channels for connections (-R).
    /// Port 0 asks the server to choose; the reply then carries the port (`SSHGlobalRequestResponse.boundPort`).
    case tcpipForward(address: String, port: UInt32)
    /// "cancel-tcpip-forward".
    case cancelTCPIPForward(address: String, port: UInt32)
    /// "streamlocal-forward@openssh.com": listen on a Unix socket.
    case streamLocalForward(socketPath: String)
    /// "cancel-streamlocal-forward@openssh.com".
    case cancelStreamLocalForward(socketPath: String)
    /// "keepalive@openssh.com".
    case keepalive
    /// "no-more-sessions@openssh.com": the client will open no more session channels; later ones are an attack.
    case noMoreSessions
    /// "hostkeys-00@openssh.com": the server's host key blobs, for the client to learn (UpdateHostKeys).
    case hostKeys([[UInt8]])
    /// "hostkeys-prove-00@openssh.com": the client asks the server to prove it holds these keys.
    case hostKeysProve([[UInt8]])
    /// Any other request, with its raw type-specific data.
    case unknown(name: String, data: ByteBuffer)

    /// The request's name on the wire, e.g. "tcpip-forward".
    public var name: String {
        switch self {
        case .tcpipForward: "tcpip-forward"
        case .cancelTCPIPForward: "cancel-tcpip-forward"
        case .streamLocalForward: "streamlocal-forward@openssh.com"
        case .cancelStreamLocalForward: "cancel-streamlocal-forward@openssh.com"
        case .keepalive: "keepalive@openssh.com"
        case .noMoreSessions: "no-more-sessions@openssh.com"
        case .hostKeys: "hostkeys-00@openssh.com"
        case .hostKeysProve: "hostkeys-prove-00@openssh.com"
        case .unknown(let name, _): name
        }
    }

    /// Whether this is a request we do not know; the connection answers those itself (REQUEST_FAILURE).
    public var isUnknown: Bool {
        if case .unknown = self { return true }
        return false
    }

    /// True for tcpip-forward with port 0, whose success reply must carry the port the server chose.
    var repliesWithBoundPort: Bool {
        if case .tcpipForward(_, 0) = self { return true }
        return false
    }

    init(name: String, data: inout ByteBuffer) throws {
        switch name {
        case "tcpip-forward":
            let address = try data.readSSHUTF8String(field: "address to bind")
            self = .tcpipForward(address: address, port: try data.readSSHUInt32(field: "port number to bind"))
        case "cancel-tcpip-forward":
            let address = try data.readSSHUTF8String(field: "address to bind")
            self = .cancelTCPIPForward(address: address, port: try data.readSSHUInt32(field: "port number to bind"))
        case "streamlocal-forward@openssh.com":
            self = .streamLocalForward(socketPath: try data.readSSHUTF8String(field: "socket path"))
        case "cancel-streamlocal-forward@openssh.com":
            self = .cancelStreamLocalForward(socketPath: try data.readSSHUTF8String(field: "socket path"))
        case "keepalive@openssh.com":
            self = .keepalive
        case "no-more-sessions@openssh.com":
            self = .noMoreSessions
        case "hostkeys-00@openssh.com":
            self = .hostKeys(try Self.readBlobs(&data, field: "host key"))
        case "hostkeys-prove-00@openssh.com":
            self = .hostKeysProve(try Self.readBlobs(&data, field: "host key"))
        default:
            self = .unknown(name: name, data: data.readSlice(length: data.readableBytes) ?? ByteBuffer())
        }
    }

    /// A sequence of strings filling the rest of the buffer (host keys, signatures).
    static func readBlobs(_ data: inout ByteBuffer, field: String) throws -> [[UInt8]] {
        var blobs: [[UInt8]] = []
        while data.readableBytes > 0 {
            blobs.append(try data.readSSHStringBytes(field: field))
        }
        return blobs
    }

    func encodeData(into buffer: inout ByteBuffer) {
        switch self {
        case .tcpipForward(let address, let port), .cancelTCPIPForward(let address, let port):
            buffer.writeSSHString(address)
            buffer.writeSSHUInt32(port)
        case .streamLocalForward(let path), .cancelStreamLocalForward(let path):
            buffer.writeSSHString(path)
        case .keepalive, .noMoreSessions:
            break
        case .hostKeys(let blobs), .hostKeysProve(let blobs):
            for blob in blobs { buffer.writeSSHString(blob) }
        case .unknown(_, let data):
            buffer.writeImmutableBuffer(data)
        }
    }
}

/// The answer to a global request: ours to the peer's (`SSHConnection.replyToGlobalRequest`), or the peer's to
/// ours (`SSHConnectionEvent.globalRequestReply`).
public enum SSHGlobalRequestResponse: Sendable, Equatable {
    /// REQUEST_FAILURE.
    case failure
    /// REQUEST_SUCCESS without data.
    case success
    /// REQUEST_SUCCESS to tcpip-forward with port 0: the port that was bound.
    case boundPort(UInt32)
    /// REQUEST_SUCCESS to hostkeys-prove-00@openssh.com: one signature blob per key, in the request's order.
    case hostKeySignatures([[UInt8]])
    /// REQUEST_SUCCESS with data of another kind (a request we sent as `.unknown`).
    case successWithData(ByteBuffer)

    /// Whether the answer is REQUEST_SUCCESS, with or without data.
    public var isSuccess: Bool {
        if case .failure = self { return false }
        return true
    }

    /// Reads the peer's REQUEST_SUCCESS data as the answer to `request`.
    init(successData data: ByteBuffer, answering request: SSHGlobalRequest) throws {
        var data = data
        switch request {
        case .tcpipForward(_, 0):
            self = .boundPort(try data.readSSHUInt32(field: "bound port"))
            try data.expectFullyConsumed(field: "tcpip-forward reply")
        case .hostKeysProve:
            self = .hostKeySignatures(try SSHGlobalRequest.readBlobs(&data, field: "host key signature"))
        default:
            // tcpip-forward to a fixed port and the others carry nothing; tolerate what a peer adds anyway.
            self = data.readableBytes == 0 ? .success : .successWithData(data)
        }
    }

    /// The reply message.
    var message: SSHConnectionMessage {
        var data = ByteBuffer()
        switch self {
        case .failure:
            return .requestFailure
        case .success:
            break
        case .boundPort(let port):
            data.writeSSHUInt32(port)
        case .hostKeySignatures(let signatures):
            for signature in signatures { data.writeSSHString(signature) }
        case .successWithData(let extra):
            data = extra
        }
        return .requestSuccess(responseData: data)
    }
}
