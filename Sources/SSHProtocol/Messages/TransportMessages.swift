// Transport-layer messages: RFC 4253 §7.1 (KEXINIT), §7.3 (NEWKEYS), §10 (service request), §11 (disconnect,
// ignore, debug, unimplemented); RFC 8308 §2.3 (EXT_INFO); RFC 5656 §4 / RFC 8731 §3 (ECDH init and reply,
// also used by mlkem768x25519-sha256); OpenSSH PROTOCOL §1.9 (ping@openssh.com).
import NIOCore
import SSHWire

/// Message numbers (RFC 4250 §4.1).
public enum SSHMessageNumber {
    public static let disconnect: UInt8 = 1
    public static let ignore: UInt8 = 2
    public static let unimplemented: UInt8 = 3
    public static let debug: UInt8 = 4
    public static let serviceRequest: UInt8 = 5
    public static let serviceAccept: UInt8 = 6
    public static let extensionInfo: UInt8 = 7
    public static let keyExchangeInit: UInt8 = 20
    public static let newKeys: UInt8 = 21
    public static let keyExchangeECDHInit: UInt8 = 30
    public static let keyExchangeECDHReply: UInt8 = 31
    public static let userAuthenticationRequest: UInt8 = 50
    public static let userAuthenticationFailure: UInt8 = 51
    public static let userAuthenticationSuccess: UInt8 = 52
    public static let userAuthenticationBanner: UInt8 = 53
    public static let ping: UInt8 = 192
    public static let pong: UInt8 = 193

    /// RFC 4253 §7.1: between KEXINIT and NEWKEYS only these may be sent (transport generic and key exchange).
    static func isAllowedDuringKeyExchange(_ number: UInt8) -> Bool { (1...49).contains(number) }
}

/// SSH_MSG_KEXINIT. `payload` keeps the exact bytes, which the exchange hash covers (I_C, I_S).
public struct KeyExchangeInit: Sendable, Equatable {
    public var cookie: [UInt8]
    public var keyExchangeAlgorithms: [String]
    public var serverHostKeyAlgorithms: [String]
    public var ciphersClientToServer: [String]
    public var ciphersServerToClient: [String]
    public var macsClientToServer: [String]
    public var macsServerToClient: [String]
    public var compressionClientToServer: [String]
    public var compressionServerToClient: [String]
    public var languagesClientToServer: [String]
    public var languagesServerToClient: [String]
    public var firstKeyExchangePacketFollows: Bool

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
    public var reason: UInt32
    public var description: String

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
    public var extensions: [(name: String, value: [UInt8])]

    public init(extensions: [(name: String, value: [UInt8])]) { self.extensions = extensions }

    public static func == (lhs: ExtensionInfo, rhs: ExtensionInfo) -> Bool {
        lhs.extensions.map(\.name) == rhs.extensions.map(\.name) && lhs.extensions.map(\.value) == rhs.extensions.map(\.value)
    }

    /// The value of one extension, if present.
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
