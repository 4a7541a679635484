// Settings and outputs of the transport state machine (SSHTransport).
import NIOCore
import SSHKeys

/// A server host key: the private key, and optionally an OpenSSH host certificate for it.
public struct SSHServerHostKey: Sendable {
    /// nil when another process holds the key and signs for it (shhd's privilege broker): the transport then asks
    /// with `.hostKeySignatureNeeded` and waits for `provideHostKeySignature(_:)`.
    public var privateKey: SSHPrivateKey?
    /// The host key's public half, sent to clients and signed over in the key exchange.
    public var publicKey: SSHPublicKey
    /// A host certificate for the key; when present, the certificate algorithms are offered too.
    public var certificate: SSHCertificate?

    /// A host key held in this process.
    ///
    /// - Parameters:
    ///   - privateKey: The host's private key.
    ///   - certificate: An OpenSSH host certificate for it, if any.
    public init(privateKey: SSHPrivateKey, certificate: SSHCertificate? = nil) {
        self.privateKey = privateKey
        self.publicKey = privateKey.publicKey
        self.certificate = certificate
    }

    /// A host key whose private half lives elsewhere.
    ///
    /// - Parameters:
    ///   - publicKey: The host key's public half.
    ///   - certificate: An OpenSSH host certificate for it, if any.
    public init(publicKey: SSHPublicKey, certificate: SSHCertificate? = nil) {
        self.privateKey = nil
        self.publicKey = publicKey
        self.certificate = certificate
    }
}

/// When we start a new key exchange ourselves (OpenSSH's RekeyLimit). The time limit is kept by the caller
/// (the state machine has no clock): it calls `SSHTransport.startKeyExchange()` when it expires.
public struct SSHRekeyLimits: Sendable, Hashable {
    /// Bytes sent or received under one set of keys; default 1 GiB.
    public var bytes: UInt64
    /// Packets sent or received under one set of keys; default 2^31, well before 32-bit sequence numbers wrap.
    public var packets: UInt64
    /// Seconds between key exchanges; nil for none. Default one hour.
    public var seconds: Int?

    /// Creates limits.
    ///
    /// - Parameters:
    ///   - bytes: Bytes under one set of keys.
    ///   - packets: Packets under one set of keys.
    ///   - seconds: Seconds between key exchanges, or nil for no time limit.
    public init(bytes: UInt64 = 1 << 30, packets: UInt64 = 1 << 31, seconds: Int? = 3600) {
        self.bytes = bytes
        self.packets = packets
        self.seconds = seconds
    }
}

/// The settings of one ``SSHTransport``: which side it is, what it offers, and when it rekeys.
///
/// ```swift
/// let client = SSHTransportConfiguration(role: .client)
/// let hostKey = try SSHPrivateKey.generate(type: .ed25519)
/// let server = SSHTransportConfiguration(role: .server(hostKeys: [SSHServerHostKey(privateKey: hostKey)]))
/// ```
public struct SSHTransportConfiguration: Sendable {
    /// Which end of the connection the transport is.
    public enum Role: Sendable {
        /// The client: it verifies the server's host key.
        case client
        /// The server, with its host keys; it offers the host key algorithms those keys can make.
        case server(hostKeys: [SSHServerHostKey])
    }

    /// Which end of the connection the transport is.
    public var role: Role
    /// What this side offers, in preference order.
    public var algorithms: SSHAlgorithms
    /// When this side starts a new key exchange by itself.
    public var rekeyLimits: SSHRekeyLimits
    /// Offer strict key exchange (OpenSSH's Terrapin countermeasure); on unless a test needs it off.
    public var offersStrictKeyExchange: Bool
    /// Services a server accepts in SSH_MSG_SERVICE_REQUEST.
    public var acceptedServices: Set<String>
    /// The extensions a server sends in EXT_INFO after its first NEWKEYS when the client asks (RFC 8308 §2.4).
    public var serverExtensions: [(name: String, value: [UInt8])]

    /// Creates a configuration; everything but the role has a secure default.
    ///
    /// - Parameters:
    ///   - role: Client, or server with its host keys.
    ///   - algorithms: What to offer.
    ///   - rekeyLimits: When to rekey.
    ///   - offersStrictKeyExchange: Whether to offer strict key exchange.
    ///   - acceptedServices: Services a server accepts.
    ///   - serverExtensions: What a server sends in EXT_INFO; nil for ``defaultServerExtensions``.
    public init(
        role: Role,
        algorithms: SSHAlgorithms = .defaults,
        rekeyLimits: SSHRekeyLimits = SSHRekeyLimits(),
        offersStrictKeyExchange: Bool = true,
        acceptedServices: Set<String> = ["ssh-userauth"],
        serverExtensions: [(name: String, value: [UInt8])]? = nil
    ) {
        self.role = role
        self.algorithms = algorithms
        self.rekeyLimits = rekeyLimits
        self.offersStrictKeyExchange = offersStrictKeyExchange
        self.acceptedServices = acceptedServices
        self.serverExtensions = serverExtensions ?? Self.defaultServerExtensions
    }

    /// server-sig-algs lists every signature algorithm we verify (RFC 8308 §3.1); ping@openssh.com says we answer pings.
    public static let defaultServerExtensions: [(name: String, value: [UInt8])] = [
        ("server-sig-algs", Array("ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256".utf8)),
        ("ping@openssh.com", Array("0".utf8)),
    ]

    /// Whether the role is ``Role/client``.
    public var isClient: Bool {
        if case .client = role { return true }
        return false
    }
}

/// What the transport reports to the layer above.
public enum SSHTransportEvent: Sendable {
    /// Client only: the server proved it holds this key; call `acceptHostKey()` or `rejectHostKey(_:)` before
    /// anything else happens. Asked in the first key exchange only; later ones must present the same key.
    case hostKeyToValidate(SSHPresentedKey)
    /// A key exchange finished; the new keys are in use in both directions.
    case keyExchangeCompleted(SSHNegotiatedAlgorithms, isInitial: Bool)
    /// The peer's SSH_MSG_EXT_INFO (RFC 8308).
    case extensionInfo(ExtensionInfo)
    /// The service is running: as a client, the server accepted our request; as a server, we accepted the client's.
    case serviceAccepted(String)
    /// A message for the layer above (authentication, connection), message number first.
    case message(ByteBuffer)
    /// The peer's SSH_MSG_DEBUG text (RFC 4253 §11.3); show it if the peer says `alwaysDisplay`.
    case debug(String, alwaysDisplay: Bool)
    /// A reply to our ping@openssh.com.
    case pong([UInt8])
    /// Server, with a host key held elsewhere: sign `exchangeHash` with `hostKey` using `algorithm`, then
    /// `provideHostKeySignature(_:)` (or `failHostKeySignature(_:)`). Nothing else is processed meanwhile.
    case hostKeySignatureNeeded(exchangeHash: [UInt8], algorithm: SSHHostKeyAlgorithm, hostKey: SSHPublicKey)
    /// The peer sent SSH_MSG_DISCONNECT; the transport is closed.
    case peerDisconnected(SSHProtocolError)
}
