// Algorithm names, our defaults, and negotiation (RFC 4253 §7.1; RFC 8308 §2.1 ext-info; OpenSSH PROTOCOL §1.10
// kex-strict). Names follow RFC 4344, 5647 (as OpenSSH's aes*-gcm@openssh.com), 5656, 6668, 8731, 8332 and
// draft-ietf-sshm-mlkem-hybrid-kex.
import SSHKeys

/// Key exchange methods.
public enum SSHKeyExchangeAlgorithm: String, CaseIterable, Sendable, Hashable {
    /// ML-KEM-768 combined with X25519, SHA-256 (draft-ietf-sshm-mlkem-hybrid-kex): resists a future quantum computer.
    case mlkem768x25519SHA256 = "mlkem768x25519-sha256"
    /// X25519 with SHA-256 (RFC 8731).
    case curve25519SHA256 = "curve25519-sha256"
    /// The same method under its older name (RFC 8731).
    case curve25519SHA256LibSSH = "curve25519-sha256@libssh.org"
    /// ECDH on NIST P-256 with SHA-256 (RFC 5656 §4).
    case ecdhP256 = "ecdh-sha2-nistp256"
    /// ECDH on NIST P-384 with SHA-384 (RFC 5656 §4).
    case ecdhP384 = "ecdh-sha2-nistp384"
    /// ECDH on NIST P-521 with SHA-512 (RFC 5656 §4).
    case ecdhP521 = "ecdh-sha2-nistp521"

    /// OpenSSH 10's order, without sntrup761x25519 which we do not implement.
    public static let defaults: [SSHKeyExchangeAlgorithm] = [
        .mlkem768x25519SHA256, .curve25519SHA256, .curve25519SHA256LibSSH, .ecdhP256, .ecdhP384, .ecdhP521,
    ]
}

/// Packet ciphers. AEAD ciphers carry their own integrity and take no MAC.
public enum SSHCipherAlgorithm: String, CaseIterable, Sendable, Hashable {
    /// ChaCha20 with Poly1305, OpenSSH's construction (PROTOCOL.chacha20poly1305); encrypts the packet length too.
    case chacha20Poly1305 = "chacha20-poly1305@openssh.com"
    /// AES-128 in counter mode (RFC 4344 §4), with a MAC.
    case aes128CTR = "aes128-ctr"
    /// AES-192 in counter mode (RFC 4344 §4), with a MAC.
    case aes192CTR = "aes192-ctr"
    /// AES-256 in counter mode (RFC 4344 §4), with a MAC.
    case aes256CTR = "aes256-ctr"
    /// AES-128-GCM as OpenSSH uses it (RFC 5647, with OpenSSH's negotiation).
    case aes128GCM = "aes128-gcm@openssh.com"
    /// AES-256-GCM as OpenSSH uses it (RFC 5647, with OpenSSH's negotiation).
    case aes256GCM = "aes256-gcm@openssh.com"

    /// OpenSSH's default order.
    public static let defaults: [SSHCipherAlgorithm] = [
        .chacha20Poly1305, .aes128CTR, .aes192CTR, .aes256CTR, .aes128GCM, .aes256GCM,
    ]

    /// Bytes of key the key exchange derives for the cipher (RFC 4253 §7.2).
    public var keyByteCount: Int {
        switch self {
        case .chacha20Poly1305: 64
        case .aes128CTR, .aes128GCM: 16
        case .aes192CTR: 24
        case .aes256CTR, .aes256GCM: 32
        }
    }

    /// Bytes of IV the key exchange derives for the cipher; 0 for ChaCha20-Poly1305, whose nonce is the sequence number.
    public var ivByteCount: Int {
        switch self {
        case .chacha20Poly1305: 0
        case .aes128GCM, .aes256GCM: 12
        case .aes128CTR, .aes192CTR, .aes256CTR: 16
        }
    }

    /// Whether the cipher authenticates the packet itself, so no MAC is negotiated.
    public var isAEAD: Bool {
        switch self {
        case .chacha20Poly1305, .aes128GCM, .aes256GCM: true
        case .aes128CTR, .aes192CTR, .aes256CTR: false
        }
    }
}

/// MACs for the non-AEAD ciphers (RFC 6668; -etm@openssh.com: encrypt-then-MAC, OpenSSH PROTOCOL §1.7).
public enum SSHMACAlgorithm: String, CaseIterable, Sendable, Hashable {
    /// HMAC-SHA-256 over the encrypted packet.
    case hmacSHA256ETM = "hmac-sha2-256-etm@openssh.com"
    /// HMAC-SHA-512 over the encrypted packet.
    case hmacSHA512ETM = "hmac-sha2-512-etm@openssh.com"
    /// HMAC-SHA-256 over the plaintext packet (RFC 6668).
    case hmacSHA256 = "hmac-sha2-256"
    /// HMAC-SHA-512 over the plaintext packet (RFC 6668).
    case hmacSHA512 = "hmac-sha2-512"

    /// OpenSSH's order, restricted to what we implement (no umac, no SHA-1).
    public static let defaults: [SSHMACAlgorithm] = [.hmacSHA256ETM, .hmacSHA512ETM, .hmacSHA256, .hmacSHA512]

    /// Bytes of key the key exchange derives for the MAC.
    public var keyByteCount: Int {
        switch self {
        case .hmacSHA256, .hmacSHA256ETM: 32
        case .hmacSHA512, .hmacSHA512ETM: 64
        }
    }

    /// Whether the MAC covers the encrypted packet (the -etm@openssh.com variants) rather than the plaintext.
    public var isEncryptThenMAC: Bool { self == .hmacSHA256ETM || self == .hmacSHA512ETM }
}

/// Server host key algorithms: a key type with a signature hash, plain or as an OpenSSH certificate.
public struct SSHHostKeyAlgorithm: Sendable, Hashable, CustomStringConvertible {
    /// The signature the server makes over the exchange hash.
    public let signatureAlgorithm: SSHSignatureAlgorithm
    /// Whether the server presents an OpenSSH certificate rather than a plain key.
    public let isCertificate: Bool

    /// Creates an algorithm from its parts.
    ///
    /// - Parameters:
    ///   - signatureAlgorithm: The signature over the exchange hash.
    ///   - isCertificate: Whether the host key is a certificate.
    public init(signatureAlgorithm: SSHSignatureAlgorithm, isCertificate: Bool) {
        self.signatureAlgorithm = signatureAlgorithm
        self.isCertificate = isCertificate
    }

    /// Parses a name such as "rsa-sha2-512" or "ssh-ed25519-cert-v01@openssh.com"; SHA-1 "ssh-rsa" is refused.
    ///
    /// - Parameter name: The algorithm's SSH name.
    public init?(name: String) {
        if name.hasSuffix("-cert-v01@openssh.com") {
            let base = String(name.dropLast("-cert-v01@openssh.com".count))
            guard let algorithm = SSHSignatureAlgorithm(rawValue: base), algorithm != .rsaSHA1 else { return nil }
            self.init(signatureAlgorithm: algorithm, isCertificate: true)
        } else {
            guard let algorithm = SSHSignatureAlgorithm(rawValue: name), algorithm != .rsaSHA1 else { return nil }
            self.init(signatureAlgorithm: algorithm, isCertificate: false)
        }
    }

    /// The SSH name, e.g. "ecdsa-sha2-nistp256-cert-v01@openssh.com".
    public var name: String {
        isCertificate ? signatureAlgorithm.rawValue + "-cert-v01@openssh.com" : signatureAlgorithm.rawValue
    }

    /// The SSH name.
    public var description: String { name }
    /// The type of the host key.
    public var keyType: SSHKeyType { signatureAlgorithm.keyType }

    static let plainOrder: [SSHSignatureAlgorithm] = [.ed25519, .ecdsaP256, .ecdsaP384, .ecdsaP521, .rsaSHA512, .rsaSHA256]

    /// OpenSSH's default order: certificates first, then plain keys; no SHA-1 RSA.
    public static let defaults: [SSHHostKeyAlgorithm] =
        plainOrder.map { SSHHostKeyAlgorithm(signatureAlgorithm: $0, isCertificate: true) }
        + plainOrder.map { SSHHostKeyAlgorithm(signatureAlgorithm: $0, isCertificate: false) }

    /// The algorithms a server can offer for a host key of `type` (RSA keys sign with SHA-512 or SHA-256).
    static func algorithms(for type: SSHKeyType, certificate: Bool) -> [SSHHostKeyAlgorithm] {
        plainOrder.filter { $0.keyType == type }.map { SSHHostKeyAlgorithm(signatureAlgorithm: $0, isCertificate: certificate) }
    }
}

/// What one side offers. Orders are preferences; the client's order decides (RFC 4253 §7.1).
public struct SSHAlgorithms: Sendable, Hashable {
    /// Key exchange methods, most preferred first.
    public var keyExchange: [SSHKeyExchangeAlgorithm]
    /// Host key algorithms, most preferred first; a server offers only those its keys can make.
    public var hostKey: [SSHHostKeyAlgorithm]
    /// Ciphers for both directions, most preferred first.
    public var ciphers: [SSHCipherAlgorithm]
    /// MACs for both directions, most preferred first.
    public var macs: [SSHMACAlgorithm]

    /// Creates an offer; each list defaults to OpenSSH's order of what shh implements.
    ///
    /// - Parameters:
    ///   - keyExchange: Key exchange methods.
    ///   - hostKey: Host key algorithms.
    ///   - ciphers: Ciphers.
    ///   - macs: MACs.
    public init(
        keyExchange: [SSHKeyExchangeAlgorithm] = SSHKeyExchangeAlgorithm.defaults,
        hostKey: [SSHHostKeyAlgorithm] = SSHHostKeyAlgorithm.defaults,
        ciphers: [SSHCipherAlgorithm] = SSHCipherAlgorithm.defaults,
        macs: [SSHMACAlgorithm] = SSHMACAlgorithm.defaults
    ) {
        self.keyExchange = keyExchange
        self.hostKey = hostKey
        self.ciphers = ciphers
        self.macs = macs
    }

    /// The default offer, as OpenSSH's client and server make it minus what shh does not implement.
    public static let defaults = SSHAlgorithms()
}

/// The outcome of one algorithm negotiation.
public struct SSHNegotiatedAlgorithms: Sendable, Hashable {
    /// The key exchange method.
    public var keyExchange: SSHKeyExchangeAlgorithm
    /// The host key algorithm.
    public var hostKey: SSHHostKeyAlgorithm
    /// The cipher for client-to-server packets.
    public var cipherClientToServer: SSHCipherAlgorithm
    /// The cipher for server-to-client packets.
    public var cipherServerToClient: SSHCipherAlgorithm
    /// nil when the cipher is AEAD.
    public var macClientToServer: SSHMACAlgorithm?
    /// The MAC for server-to-client packets; nil when the cipher is AEAD.
    public var macServerToClient: SSHMACAlgorithm?
    /// Whether both sides agreed on strict key exchange in the initial exchange (set when the exchange completes).
    public var isStrictKeyExchange = false
    /// The connection's session identifier, H of its first exchange (set when the exchange completes); user
    /// authentication signs it (RFC 4252 §7).
    public var sessionIdentifier: [UInt8] = []
}

/// Pseudo-algorithms that signal capabilities in kex_algorithms and are never chosen.
enum KeyExchangeMarker {
    static let extensionInfoClient = "ext-info-c"
    static let extensionInfoServer = "ext-info-s"
    static let strictClient = "kex-strict-c-v00@openssh.com"
    static let strictServer = "kex-strict-s-v00@openssh.com"
}

enum AlgorithmNegotiation {
    /// RFC 4253 §7.1: the first algorithm on the client's list that the server also supports.
    static func choose<A>(
        category: String, client: [String], server: [String], known: (String) -> A?
    ) throws -> A {
        let serverSet = Set(server)
        for name in client where serverSet.contains(name) {
            if let algorithm = known(name) { return algorithm }
        }
        throw SSHProtocolError(.noCommonAlgorithm(category: category, ours: client, theirs: server))
    }

    static func negotiate(client: KeyExchangeInit, server: KeyExchangeInit, weAreClient: Bool) throws -> SSHNegotiatedAlgorithms {
        // Errors list our own offer first, whichever side we are.
        func choose<A>(_ category: String, _ c: [String], _ s: [String], _ known: (String) -> A?) throws -> A {
            do {
                return try Self.choose(category: category, client: c, server: s, known: known)
            } catch {
                throw SSHProtocolError(.noCommonAlgorithm(category: category, ours: weAreClient ? c : s, theirs: weAreClient ? s : c))
            }
        }
        let kex = try choose("key exchange method", client.keyExchangeAlgorithms, server.keyExchangeAlgorithms) {
            SSHKeyExchangeAlgorithm(rawValue: $0)
        }
        let hostKey = try choose("host key type", client.serverHostKeyAlgorithms, server.serverHostKeyAlgorithms) {
            SSHHostKeyAlgorithm(name: $0)
        }
        let cipherCS = try choose("cipher client->server", client.ciphersClientToServer, server.ciphersClientToServer) {
            SSHCipherAlgorithm(rawValue: $0)
        }
        let cipherSC = try choose("cipher server->client", client.ciphersServerToClient, server.ciphersServerToClient) {
            SSHCipherAlgorithm(rawValue: $0)
        }
        let macCS: SSHMACAlgorithm? = cipherCS.isAEAD ? nil
            : try choose("MAC client->server", client.macsClientToServer, server.macsClientToServer) { SSHMACAlgorithm(rawValue: $0) }
        let macSC: SSHMACAlgorithm? = cipherSC.isAEAD ? nil
            : try choose("MAC server->client", client.macsServerToClient, server.macsServerToClient) { SSHMACAlgorithm(rawValue: $0) }
        let _: String = try choose("compression client->server", client.compressionClientToServer, server.compressionClientToServer) {
            $0 == "none" ? $0 : nil
        }
        let _: String = try choose("compression server->client", client.compressionServerToClient, server.compressionServerToClient) {
            $0 == "none" ? $0 : nil
        }
        return SSHNegotiatedAlgorithms(
            keyExchange: kex, hostKey: hostKey, cipherClientToServer: cipherCS, cipherServerToClient: cipherSC,
            macClientToServer: macCS, macServerToClient: macSC
        )
    }

    /// RFC 4253 §7.1: a guessed first key exchange packet is right only if both sides' first kex and host key
    /// algorithms are the chosen ones.
    static func guessWasRight(client: KeyExchangeInit, server: KeyExchangeInit) -> Bool {
        client.keyExchangeAlgorithms.first == server.keyExchangeAlgorithms.first
            && client.serverHostKeyAlgorithms.first == server.serverHostKeyAlgorithms.first
    }
}
