// Channel types and their SSH_MSG_CHANNEL_OPEN payloads: "session" (RFC 4254 §6.1), "x11" (§6.3.2),
// "forwarded-tcpip" (§7.2), "direct-tcpip" (§7.2); OpenSSH's "direct-streamlocal@openssh.com" and
// "forwarded-streamlocal@openssh.com" (PROTOCOL §2.4) and "auth-agent@openssh.com" (PROTOCOL.agent).
import NIOCore
import SSHWire

/// What a CHANNEL_OPEN asks for, with its type-specific data.
public enum SSHChannelType: Sendable, Equatable {
    /// "session": a shell, command or subsystem (RFC 4254 §6.1).
    case session
    /// "direct-tcpip": the client asks the server to connect to host:port (-L, -D, -W).
    case directTCPIP(host: String, port: UInt32, originatorAddress: String, originatorPort: UInt32)
    /// "forwarded-tcpip": the server hands the client a connection accepted on a port it forwards (-R).
    case forwardedTCPIP(connectedAddress: String, connectedPort: UInt32, originatorAddress: String, originatorPort: UInt32)
    /// "direct-streamlocal@openssh.com": like direct-tcpip, to a Unix socket on the server.
    case directStreamLocal(socketPath: String)
    /// "forwarded-streamlocal@openssh.com": a connection accepted on a Unix socket the server forwards.
    case forwardedStreamLocal(socketPath: String)
    /// "x11": the server forwards an X11 connection (we parse it; X11 forwarding itself is refused).
    case x11(originatorAddress: String, originatorPort: UInt32)
    /// "auth-agent@openssh.com": the server reaches the client's forwarded agent.
    case authAgent
    /// Any other type, with its raw type-specific data.
    case unknown(name: String, data: ByteBuffer)

    /// The channel type's name on the wire, e.g. "direct-tcpip".
    public var name: String {
        switch self {
        case .session: "session"
        case .directTCPIP: "direct-tcpip"
        case .forwardedTCPIP: "forwarded-tcpip"
        case .directStreamLocal: "direct-streamlocal@openssh.com"
        case .forwardedStreamLocal: "forwarded-streamlocal@openssh.com"
        case .x11: "x11"
        case .authAgent: "auth-agent@openssh.com"
        case .unknown(let name, _): name
        }
    }

    /// Decodes the type-specific data after the common CHANNEL_OPEN fields; it must fill the rest of `data`.
    init(name: String, data: inout ByteBuffer) throws {
        switch name {
        case "session":
            self = .session
        case "direct-tcpip":
            let host = try data.readSSHUTF8String(field: "host to connect")
            let port = try data.readSSHUInt32(field: "port to connect")
            let originator = try data.readSSHUTF8String(field: "originator IP address")
            let originatorPort = try data.readSSHUInt32(field: "originator port")
            self = .directTCPIP(host: host, port: port, originatorAddress: originator, originatorPort: originatorPort)
        case "forwarded-tcpip":
            let address = try data.readSSHUTF8String(field: "address that was connected")
            let port = try data.readSSHUInt32(field: "port that was connected")
            let originator = try data.readSSHUTF8String(field: "originator IP address")
            let originatorPort = try data.readSSHUInt32(field: "originator port")
            self = .forwardedTCPIP(connectedAddress: address, connectedPort: port, originatorAddress: originator, originatorPort: originatorPort)
        case "direct-streamlocal@openssh.com":
            let path = try data.readSSHUTF8String(field: "socket path")
            _ = try data.readSSHString(field: "reserved")
            _ = try data.readSSHUInt32(field: "reserved")
            self = .directStreamLocal(socketPath: path)
        case "forwarded-streamlocal@openssh.com":
            let path = try data.readSSHUTF8String(field: "socket path")
            _ = try data.readSSHString(field: "reserved")
            self = .forwardedStreamLocal(socketPath: path)
        case "x11":
            let originator = try data.readSSHUTF8String(field: "originator address")
            let port = try data.readSSHUInt32(field: "originator port")
            self = .x11(originatorAddress: originator, originatorPort: port)
        case "auth-agent@openssh.com":
            self = .authAgent
        default:
            self = .unknown(name: name, data: data.readSlice(length: data.readableBytes) ?? ByteBuffer())
        }
    }

    /// Appends the type-specific data (the name is written by the message).
    func encodeData(into buffer: inout ByteBuffer) {
        switch self {
        case .session, .authAgent:
            break
        case .directTCPIP(let host, let port, let originator, let originatorPort):
            buffer.writeSSHString(host)
            buffer.writeSSHUInt32(port)
            buffer.writeSSHString(originator)
            buffer.writeSSHUInt32(originatorPort)
        case .forwardedTCPIP(let address, let port, let originator, let originatorPort):
            buffer.writeSSHString(address)
            buffer.writeSSHUInt32(port)
            buffer.writeSSHString(originator)
            buffer.writeSSHUInt32(originatorPort)
        case .directStreamLocal(let path):
            buffer.writeSSHString(path)
            buffer.writeSSHString("")
            buffer.writeSSHUInt32(0)
        case .forwardedStreamLocal(let path):
            buffer.writeSSHString(path)
            buffer.writeSSHString("")
        case .x11(let originator, let port):
            buffer.writeSSHString(originator)
            buffer.writeSSHUInt32(port)
        case .unknown(_, let data):
            buffer.writeImmutableBuffer(data)
        }
    }
}
