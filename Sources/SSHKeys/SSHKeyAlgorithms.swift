// Key types (RFC 4253 §6.6, RFC 5656 §3, RFC 8709) and signature algorithms (RFC 8332 for rsa-sha2-*).

/// The public key algorithms shh implements, by their SSH names.
public enum SSHKeyType: String, CaseIterable, Sendable, Hashable {
    /// Ed25519 (RFC 8709).
    case ed25519 = "ssh-ed25519"
    /// ECDSA on NIST P-256 (RFC 5656).
    case ecdsaP256 = "ecdsa-sha2-nistp256"
    /// ECDSA on NIST P-384 (RFC 5656).
    case ecdsaP384 = "ecdsa-sha2-nistp384"
    /// ECDSA on NIST P-521 (RFC 5656).
    case ecdsaP521 = "ecdsa-sha2-nistp521"
    /// RSA (RFC 4253 §6.6): 2048 to 8192 bits can sign and verify; larger keys, up to 16384 bits, can only be listed and fingerprinted.
    case rsa = "ssh-rsa"

    /// The short upper-case label OpenSSH prints ("ED25519", "ECDSA", "RSA").
    public var displayName: String {
        switch self {
        case .ed25519: return "ED25519"
        case .ecdsaP256, .ecdsaP384, .ecdsaP521: return "ECDSA"
        case .rsa: return "RSA"
        }
    }

    /// The curve identifier carried inside ECDSA key blobs (RFC 5656 §6.1).
    var curveIdentifier: String? {
        switch self {
        case .ecdsaP256: return "nistp256"
        case .ecdsaP384: return "nistp384"
        case .ecdsaP521: return "nistp521"
        case .ed25519, .rsa: return nil
        }
    }

    /// Bytes of one field element / scalar for ECDSA curves.
    var ecdsaCoordinateByteCount: Int? {
        switch self {
        case .ecdsaP256: return 32
        case .ecdsaP384: return 48
        case .ecdsaP521: return 66
        case .ed25519, .rsa: return nil
        }
    }

    /// The signature algorithm used when the caller does not choose one.
    /// For RSA that is rsa-sha2-512, as OpenSSH uses; SHA-1 "ssh-rsa" signatures are never made by default.
    public var defaultSignatureAlgorithm: SSHSignatureAlgorithm {
        switch self {
        case .ed25519: return .ed25519
        case .ecdsaP256: return .ecdsaP256
        case .ecdsaP384: return .ecdsaP384
        case .ecdsaP521: return .ecdsaP521
        case .rsa: return .rsaSHA512
        }
    }

    /// The signature algorithms a key of this type can make. SHA-1 "ssh-rsa" is not one: we only verify it.
    public var signatureAlgorithms: [SSHSignatureAlgorithm] {
        switch self {
        case .rsa: return [.rsaSHA512, .rsaSHA256]
        default: return [defaultSignatureAlgorithm]
        }
    }

    /// Parses a `-t` argument the way ssh-keygen does: "ed25519", "ecdsa", "rsa" or a full SSH name.
    ///
    /// - Parameter name: The `-t` argument, in any case.
    public init?(keygenName name: String) {
        switch name.lowercased() {
        case "ed25519", "ssh-ed25519": self = .ed25519
        case "ecdsa", "ecdsa-sha2-nistp256": self = .ecdsaP256
        case "ecdsa-sha2-nistp384": self = .ecdsaP384
        case "ecdsa-sha2-nistp521": self = .ecdsaP521
        case "rsa", "ssh-rsa": self = .rsa
        default: return nil
        }
    }
}

/// Signature algorithm names as they appear in signature blobs and in server-sig-algs.
public enum SSHSignatureAlgorithm: String, CaseIterable, Sendable, Hashable {
    /// Ed25519 (RFC 8709 §6).
    case ed25519 = "ssh-ed25519"
    /// ECDSA on P-256 with SHA-256 (RFC 5656 §3.1.2).
    case ecdsaP256 = "ecdsa-sha2-nistp256"
    /// ECDSA on P-384 with SHA-384 (RFC 5656 §3.1.2).
    case ecdsaP384 = "ecdsa-sha2-nistp384"
    /// ECDSA on P-521 with SHA-512 (RFC 5656 §3.1.2).
    case ecdsaP521 = "ecdsa-sha2-nistp521"
    /// RSA PKCS#1 v1.5 with SHA-512 (RFC 8332 §3): what RSA keys sign with by default.
    case rsaSHA512 = "rsa-sha2-512"
    /// RSA PKCS#1 v1.5 with SHA-256 (RFC 8332 §3).
    case rsaSHA256 = "rsa-sha2-256"
    /// RSA with SHA-1 (RFC 4253). Verified only when a caller explicitly allows it; never produced by default.
    case rsaSHA1 = "ssh-rsa"

    /// The key type that makes signatures of this algorithm.
    public var keyType: SSHKeyType {
        switch self {
        case .ed25519: return .ed25519
        case .ecdsaP256: return .ecdsaP256
        case .ecdsaP384: return .ecdsaP384
        case .ecdsaP521: return .ecdsaP521
        case .rsaSHA512, .rsaSHA256, .rsaSHA1: return .rsa
        }
    }

    /// The algorithms accepted when the caller states no policy: all but SHA-1 RSA.
    public static let secureDefaults: Set<SSHSignatureAlgorithm> = Set(allCases.filter { $0 != .rsaSHA1 })
}
