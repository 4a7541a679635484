// Transport-layer messages: RFC 4253 §7.1 (KEXINIT), §7.3 (NEWKEYS), §10 (service request), §11 (disconnect,
// ignore, debug, unimplemented); RFC 8308 §2.3 (EXT_INFO); RFC 5656 §4 / RFC 8731 §3 (ECDH init and reply,
// also used by mlkem768x25519-sha256); OpenSSH PROTOCOL §1.9 (ping@openssh.com).
import NIOCore
import SSHWire

/// Message numbers (RFC 4250 §4.1) of the transport and authentication messages this module reads and writes.
public enum SSHMessageNumber {
    /// SSH_MSG_DISCONNECT (RFC 4253 §11.1).
    public static let disconnect: UInt8 = 1
    /// SSH_MSG_IGNORE (RFC 4253 §11.2).
    public static let ignore: UInt8 = 2
    /// SSH_MSG_UNIMPLEMENTED (RFC 4253 §11.4).
    public static let unimplemented: UInt8 = 3
    /// SSH_MSG_DEBUG (RFC 4253 §11.3).
    public static let debug: UInt8 = 4
    /// SSH_MSG_SERVICE_REQUEST (RFC 4253 §10).
    public static let serviceRequest: UInt8 = 5
    /// SSH_MSG_SERVICE_ACCEPT (RFC 4253 §10).
    public static let serviceAccept: UInt8 = 6
    /// SSH_MSG_EXT_INFO (RFC 8308 §2.3).
    public static let extensionInfo: UInt8 = 7
    /// SSH_MSG_KEXINIT (RFC 4253 §7.1).
    public static let keyExchangeInit: UInt8 = 20
    /// SSH_MSG_NEWKEYS (RFC 4253 §7.3).
    public static let newKeys: UInt8 = 21
    /// SSH_MSG_KEX_ECDH_INIT (RFC 5656 §7.1), also used by curve25519-sha256 and mlkem768x25519-sha256.
    public static let keyExchangeECDHInit: UInt8 = 30
    /// SSH_MSG_KEX_ECDH_REPLY (RFC 5656 §7.1).
    public static let keyExchangeECDHReply: UInt8 = 31
    /// SSH_MSG_USERAUTH_REQUEST (RFC 4252 §5).
    public static let userAuthenticationRequest: UInt8 = 50
    /// SSH_MSG_USERAUTH_FAILURE (RFC 4252 §5.1).
    public static let userAuthenticationFailure: UInt8 = 51
    /// SSH_MSG_USERAUTH_SUCCESS (RFC 4252 §5.1).
    public static let userAuthenticationSuccess: UInt8 = 52
    /// SSH_MSG_USERAUTH_BANNER (RFC 4252 §5.4).
    public static let userAuthenticationBanner: UInt8 = 53
    /// SSH2_MSG_PING (OpenSSH PROTOCOL, ping@openssh.com).
    public static let ping: UInt8 = 192
    /// SSH2_MSG_PONG (OpenSSH PROTOCOL, ping@openssh.com).
    public static let pong: UInt8 = 193

    /// RFC 4253 §7.1: between KEXINIT and NEWKEYS only these may be sent (transport generic and key exchange).
    static func isAllowedDuringKeyExchange(_ number: UInt8) -> Bool { (1...49).contains(number) }
}

/// SSH_MSG_KEXINIT (RFC 4253 §7.1): one side's algorithm lists, most preferred first.
///
/// ``SSHTransport`` builds and reads these itself; the type is public for tests and tools that look at a handshake.
public struct KeyExchangeInit: Sendable, Equatable {
    /// 16 random bytes, so that neither side alone decides the exchange hash.
    public var cookie: [UInt8]
    /// Key exchange methods, most preferred first, with markers such as strict KEX's (OpenSSH PROTOCOL §1.10) and ext-info-c.
    public var keyExchangeAlgorithms: [String]
    /// Host key algorithms, most preferred first.
    public var serverHostKeyAlgorithms: [String]
    /// Ciphers for client-to-server packets, most preferred first.
    public var ciphersClientToServer: [String]
    /// Ciphers for server-to-client packets, most preferred first.
    public var ciphersServerToClient: [String]
    /// MACs for client-to-server packets, most preferred first (unused with an AEAD cipher).
    public var macsClientToServer: [String]
    /// MACs for server-to-client packets, most preferred first (unused with an AEAD cipher).
    public var macsServerToClient: [String]
    /// Compression for client-to-server packets; only "none" is negotiated.
    public var compressionClientToServer: [String]
    /// Compression for server-to-client packets; only "none" is negotiated.
    public var compressionServerToClient: [String]
    /// Language tags for client-to-server text; normally empty.
    public var languagesClientToServer: [String]
    /// Language tags for server-to-client text; normally empty.
    public var languagesServerToClient: [String]
    /// Whether a guessed key exchange packet follows (RFC 4253 §7.1).
    public var firstKeyExchangePacketFollows: Bool

    /// Creates a KEXINIT offering the same ciphers, MACs and compression in both directions, with no languages.
    ///
    /// - Parameters:
    ///   - cookie: 16 random bytes.
    ///   - keyExchangeAlgorithms: Key exchange methods, most preferred first.
    ///   - serverHostKeyAlgorithms: Host key algorithms, most preferred first.
    ///   - ciphers: Ciphers for both directions, most preferred first.
    ///   - macs: MACs for both directions, most preferred first.
    ///   - compression: Compression for both directions.
    ///   - firstKeyExchangePacketFollows: Whether a guessed key exchange packet follows.
    public init(
        cookie: [UInt8], keyExchangeAlgorithms: [String], serverHostKeyAlgorithms: [String],
        ciphers: [String], macs: [String], compression: [String] = ["none"], firstKeyExchangePacketFollows: Bool = false
    ) {
        self.cookie = cookie
        self.keyExchangeAlgorithms = keyExchangeAlgorithms
        self.serverHostKeyAlgorithms = serverHostKeyAlgorithms
        self.ciphersClientToServer = ciphers
        self.ciphersServerToClient = ciphers
        self.macsClientToServer = macs
        self.macsServerToClient = macs
        self.compressionClientToServer = compression
        self.compressionServerToClient = compression
        self.languagesClientToServer = []
        self.languagesServerToClient = []
        self.firstKeyExchangePacketFollows = firstKeyExchangePacketFollows
    }

    /// Parses a KEXINIT payload, message number included.
    ///
    /// - Parameter payload: The packet payload, starting with SSH_MSG_KEXINIT.
    /// - Throws: ``SSHProtocolError`` for a wrong message number or a short cookie; `SSHWireError` for a malformed field.
    public init(payload: ByteBuffer) throws {
        var buffer = payload
        guard try buffer.readSSHByte(field: "message number") == SSHMessageNumber.keyExchangeInit,
              let cookie = buffer.readBytes(length: 16)
        else { throw SSHProtocolError(.protocolViolation("malformed KEXINIT")) }
        self.cookie = cookie
        keyExchangeAlgorithms = try buffer.readSSHNameList(field: "kex_algorithms")
        serverHostKeyAlgorithms = try buffer.readSSHNameList(field: "server_host_key_algorithms")
        ciphersClientToServer = try buffer.readSSHNameList(field: "encryption_algorithms_client_to_server")
        ciphersServerToClient = try buffer.readSSHNameList(field: "encryption_algorithms_server_to_client")
        macsClientToServer = try buffer.readSSHNameList(field: "mac_algorithms_client_to_server")
        macsServerToClient = try buffer.readSSHNameList(field: "mac_algorithms_server_to_client")
        compressionClientToServer = try buffer.readSSHNameList(field: "compression_algorithms_client_to_server")
        compressionServerToClient = try buffer.readSSHNameList(field: "compression_algorithms_server_to_client")
        languagesClientToServer = try buffer.readSSHNameList(field: "languages_client_to_server")
        languagesServerToClient = try buffer.readSSHNameList(field: "languages_server_to_client")
        firstKeyExchangePacketFollows = try buffer.readSSHBoolean(field: "first_kex_packet_follows")
        _ = try buffer.readSSHUInt32(field: "reserved")
        // RFC 4253 §7.1 leaves no room for trailing data, but OpenSSH tolerates it; so do we.
    }

    /// Writes the message, message number first.
    ///
    /// - Parameter buffer: The buffer to append to.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeSSHByte(SSHMessageNumber.keyExchangeInit)
        buffer.writeBytes(cookie)
        for list in [keyExchangeAlgorithms, serverHostKeyAlgorithms, ciphersClientToServer, ciphersServerToClient,
                     macsClientToServer, macsServerToClient, compressionClientToServer, compressionServerToClient,
                     languagesClientToServer, languagesServerToClient] {
            buffer.writeSSHNameList(list)
        }
        buffer.writeSSHBoolean(firstKeyExchangePacketFollows)
        buffer.writeSSHUInt32(0)
    }
}

/// SSH_MSG_DISCONNECT (RFC 4253 §11.1).
public struct DisconnectMessage: Sendable, Equatable {
    /// The reason code (RFC 4253 §11.1), e.g. 11 for "by application".
    public var reason: UInt32
    /// Text for a person, as the peer sent it (invalid UTF-8 replaced).
    public var description: String

    /// Creates the message.
    ///
    /// - Parameters:
    ///   - reason: The reason code (RFC 4253 §11.1).
    ///   - description: Text for a person.
    public init(reason: UInt32, description: String) {
        self.reason = reason
        self.description = description
    }

    init(payload: ByteBuffer) throws {
        var buffer = payload
        buffer.moveReaderIndex(forwardBy: 1)
        reason = try buffer.readSSHUInt32(field: "disconnect reason")
        // The description is UTF-8 by the RFC; show what we can of a peer that ignores that.
        let bytes = try buffer.readSSHStringBytes(field: "disconnect description")
        description = String(decoding: bytes, as: UTF8.self)
    }

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeSSHByte(SSHMessageNumber.disconnect)
        buffer.writeSSHUInt32(reason)
        buffer.writeSSHString(description)
        buffer.writeSSHString("")  // language tag
    }
}

/// SSH_MSG_EXT_INFO (RFC 8308 §2.3): extension names with opaque values.
public struct ExtensionInfo: Sendable, Equatable {
    /// The extensions in the order sent.
    public var extensions: [(name: String, value: [UInt8])]

    /// Creates the message.
    ///
    /// - Parameter extensions: Extension names and values, in the order to send them.
    public init(extensions: [(name: String, value: [UInt8])]) { self.extensions = extensions }

    /// Messages are equal when they carry the same extensions in the same order.
    public static func == (lhs: ExtensionInfo, rhs: ExtensionInfo) -> Bool {
        lhs.extensions.map(\.name) == rhs.extensions.map(\.name) && lhs.extensions.map(\.value) == rhs.extensions.map(\.value)
    }

    /// The value of one extension, if present.
    ///
    /// - Parameter name: The extension's name, e.g. "server-sig-algs".
    /// - Returns: The first value sent under that name, or nil.
    public func value(of name: String) -> [UInt8]? { extensions.first { $0.name == name }?.value }

    /// server-sig-algs (RFC 8308 §3.1) as a list of names, if the server sent it.
    public var serverSignatureAlgorithms: [String]? {
        guard let value = value(of: "server-sig-algs") else { return nil }
        return try? SSHNameList.parse(value, field: "server-sig-algs")
    }

    init(payload: ByteBuffer) throws {
        var buffer = payload
        buffer.moveReaderIndex(forwardBy: 1)
        let count = try buffer.readSSHUInt32(field: "extension count")
        // Each extension needs at least 8 bytes, so a count the payload cannot hold is refused before looping.
        guard Int(count) <= buffer.readableBytes / 8 else {
            throw SSHProtocolError(.protocolViolation("EXT_INFO claims \(count) extensions"))
        }
        var extensions: [(name: String, value: [UInt8])] = []
        for _ in 0..<count {
            let name = try buffer.readSSHUTF8String(field: "extension name")
            let value = try buffer.readSSHStringBytes(field: "extension value")
            extensions.append((name, value))
        }
        self.extensions = extensions
    }

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeSSHByte(SSHMessageNumber.extensionInfo)
        buffer.writeSSHUInt32(UInt32(extensions.count))
        for (name, value) in extensions {
            buffer.writeSSHString(name)
            buffer.writeSSHString(value)
        }
    }
}
