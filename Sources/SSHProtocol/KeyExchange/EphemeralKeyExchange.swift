// The ephemeral half of each key exchange method: the client's public value (Q_C / C_INIT), the server's
// reply value (Q_S / S_REPLY), and the shared secret K.
// RFC 8731 §3 (curve25519-sha256, and its @libssh.org alias), RFC 5656 §4 and §7.1 (ecdh-sha2-nistp*, K is the
// x coordinate as an mpint), draft-ietf-sshm-mlkem-hybrid-kex §2 (mlkem768x25519-sha256: C_INIT = ML-KEM-768
// public key ‖ X25519 public key, S_REPLY = ML-KEM ciphertext ‖ X25519 public key, K = SHA-256(ss_mlkem ‖ ss_x25519)).
import Crypto

extension SSHKeyExchangeAlgorithm {
    var hashFunction: KeyExchangeHashFunction {
        switch self {
        case .mlkem768x25519SHA256, .curve25519SHA256, .curve25519SHA256LibSSH, .ecdhP256: .sha256
        case .ecdhP384: .sha384
        case .ecdhP521: .sha512
        }
    }
}

/// The client's secret for one exchange, kept until the server's reply arrives.
enum ClientKeyExchangeSecret {
    case curve25519(Curve25519.KeyAgreement.PrivateKey)
    case p256(P256.KeyAgreement.PrivateKey)
    case p384(P384.KeyAgreement.PrivateKey)
    case p521(P521.KeyAgreement.PrivateKey)
    case mlkem768x25519(MLKEM768.PrivateKey, Curve25519.KeyAgreement.PrivateKey)

    static let mlkemPublicKeyByteCount = 1184
    static let mlkemCiphertextByteCount = 1088

    /// Makes a fresh secret and the public value to send in SSH_MSG_KEX_ECDH_INIT.
    static func generate(for algorithm: SSHKeyExchangeAlgorithm) throws -> (ClientKeyExchangeSecret, [UInt8]) {
        try make(for: algorithm, fixed: nil)
    }

    /// As `generate(for:)`, from fixed private keys when `fixed` is given (known-answer tests only).
    static func make(for algorithm: SSHKeyExchangeAlgorithm, fixed: FixedKeyExchangeKeys?) throws -> (ClientKeyExchangeSecret, [UInt8]) {
        switch algorithm {
        case .curve25519SHA256, .curve25519SHA256LibSSH:
            let key = try fixed.map { try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: $0.classical) }
                ?? Curve25519.KeyAgreement.PrivateKey()
            return (.curve25519(key), Array(key.publicKey.rawRepresentation))
        case .ecdhP256:
            let key = try fixed.map { try P256.KeyAgreement.PrivateKey(rawRepresentation: $0.classical) } ?? P256.KeyAgreement.PrivateKey()
            return (.p256(key), Array(key.publicKey.x963Representation))
        case .ecdhP384:
            let key = try fixed.map { try P384.KeyAgreement.PrivateKey(rawRepresentation: $0.classical) } ?? P384.KeyAgreement.PrivateKey()
            return (.p384(key), Array(key.publicKey.x963Representation))
        case .ecdhP521:
            let key = try fixed.map { try P521.KeyAgreement.PrivateKey(rawRepresentation: $0.classical) } ?? P521.KeyAgreement.PrivateKey()
            return (.p521(key), Array(key.publicKey.x963Representation))
        case .mlkem768x25519SHA256:
            let kem: MLKEM768.PrivateKey
            if let seed = fixed?.mlkemSeed {
                kem = try MLKEM768.PrivateKey(seedRepresentation: seed, publicKey: nil)
            } else {
                kem = try MLKEM768.PrivateKey()
            }
            let classical = try fixed.map { try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: $0.classical) }
                ?? Curve25519.KeyAgreement.PrivateKey()
            return (.mlkem768x25519(kem, classical),
                    Array(kem.publicKey.rawRepresentation) + Array(classical.publicKey.rawRepresentation))
        }
    }

    /// K from the server's reply value.
    func sharedSecret(serverPublic: [UInt8]) throws -> EncodedSharedSecret {
        do {
            switch self {
            case .curve25519(let key):
                let peer = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: serverPublic)
                return .mpint(try Self.x25519(key, peer))
            case .p256(let key):
                let peer = try P256.KeyAgreement.PublicKey(x963Representation: serverPublic)
                return .mpint(try key.sharedSecretFromKeyAgreement(with: peer).withUnsafeBytes { Array($0) })
            case .p384(let key):
                let peer = try P384.KeyAgreement.PublicKey(x963Representation: serverPublic)
                return .mpint(try key.sharedSecretFromKeyAgreement(with: peer).withUnsafeBytes { Array($0) })
            case .p521(let key):
                let peer = try P521.KeyAgreement.PublicKey(x963Representation: serverPublic)
                return .mpint(try key.sharedSecretFromKeyAgreement(with: peer).withUnsafeBytes { Array($0) })
            case .mlkem768x25519(let kem, let classical):
                guard serverPublic.count == Self.mlkemCiphertextByteCount + 32 else {
                    throw SSHProtocolError(.keyExchangeFailed("the server's mlkem768x25519 reply is \(serverPublic.count) bytes, not \(Self.mlkemCiphertextByteCount + 32)"))
                }
                let kemSecret = try kem.decapsulate(serverPublic[..<Self.mlkemCiphertextByteCount])
                let peer = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: serverPublic[Self.mlkemCiphertextByteCount...])
                let classicalSecret = try Self.x25519(classical, peer)
                return Self.mlkem768x25519SharedSecret(kem: kemSecret.withUnsafeBytes { Array($0) }, classical: classicalSecret)
            }
        } catch let error as SSHProtocolError {
            throw error
        } catch {
            throw SSHProtocolError(.keyExchangeFailed("the server's public value is invalid (\(error))"))
        }
    }

    /// RFC 8731 §3: an all-zero X25519 result (a low-order peer point) must abort the exchange.
    static func x25519(_ key: Curve25519.KeyAgreement.PrivateKey, _ peer: Curve25519.KeyAgreement.PublicKey) throws -> [UInt8] {
        let secret = try key.sharedSecretFromKeyAgreement(with: peer).withUnsafeBytes { Array($0) }
        guard secret.contains(where: { $0 != 0 }) else {
            throw SSHProtocolError(.keyExchangeFailed("the peer's X25519 public value is of low order"))
        }
        return secret
    }

    /// draft-ietf-sshm-mlkem-hybrid-kex §2.4: K = SHA-256(K_PQ ‖ K_CL), which enters H and the key derivation as a
    /// string, not an mpint. One function for both sides, so they cannot disagree about it.
    static func mlkem768x25519SharedSecret(kem: [UInt8], classical: [UInt8]) -> EncodedSharedSecret {
        .string(Array(SHA256.hash(data: kem + classical)))
    }
}

/// Private keys a known-answer test fixes instead of letting the exchange generate them: the raw X25519 or NIST
/// scalar (for mlkem768x25519, its X25519 half) and, for the client of mlkem768x25519, the ML-KEM-768 seed d ‖ z
/// (FIPS 203). Never used on a real connection.
struct FixedKeyExchangeKeys {
    var classical: [UInt8]
    var mlkemSeed: [UInt8]?
}

enum ServerKeyExchange {
    /// Answers the client's public value: the server's reply value and K.
    /// `fixedPrivateKey` (known-answer tests only) replaces the generated X25519 or NIST scalar; ML-KEM encapsulation
    /// stays randomised, as swift-crypto offers no way to fix it.
    static func respond(
        to clientPublic: [UInt8], algorithm: SSHKeyExchangeAlgorithm, fixedPrivateKey: [UInt8]? = nil
    ) throws -> (serverPublic: [UInt8], sharedSecret: EncodedSharedSecret) {
        do {
            switch algorithm {
            case .curve25519SHA256, .curve25519SHA256LibSSH:
                let peer = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: clientPublic)
                let key = try fixedPrivateKey.map { try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: $0) }
                    ?? Curve25519.KeyAgreement.PrivateKey()
                return (Array(key.publicKey.rawRepresentation), .mpint(try ClientKeyExchangeSecret.x25519(key, peer)))
            case .ecdhP256:
                let peer = try P256.KeyAgreement.PublicKey(x963Representation: clientPublic)
                let key = try fixedPrivateKey.map { try P256.KeyAgreement.PrivateKey(rawRepresentation: $0) } ?? P256.KeyAgreement.PrivateKey()
                let secret = try key.sharedSecretFromKeyAgreement(with: peer).withUnsafeBytes { Array($0) }
                return (Array(key.publicKey.x963Representation), .mpint(secret))
            case .ecdhP384:
                let peer = try P384.KeyAgreement.PublicKey(x963Representation: clientPublic)
                let key = try fixedPrivateKey.map { try P384.KeyAgreement.PrivateKey(rawRepresentation: $0) } ?? P384.KeyAgreement.PrivateKey()
                let secret = try key.sharedSecretFromKeyAgreement(with: peer).withUnsafeBytes { Array($0) }
                return (Array(key.publicKey.x963Representation), .mpint(secret))
            case .ecdhP521:
                let peer = try P521.KeyAgreement.PublicKey(x963Representation: clientPublic)
                let key = try fixedPrivateKey.map { try P521.KeyAgreement.PrivateKey(rawRepresentation: $0) } ?? P521.KeyAgreement.PrivateKey()
                let secret = try key.sharedSecretFromKeyAgreement(with: peer).withUnsafeBytes { Array($0) }
                return (Array(key.publicKey.x963Representation), .mpint(secret))
            case .mlkem768x25519SHA256:
                let kemLength = ClientKeyExchangeSecret.mlkemPublicKeyByteCount
                guard clientPublic.count == kemLength + 32 else {
                    throw SSHProtocolError(.keyExchangeFailed("the client's mlkem768x25519 value is \(clientPublic.count) bytes, not \(kemLength + 32)"))
                }
                let kemPublic = try MLKEM768.PublicKey(rawRepresentation: clientPublic[..<kemLength])
                let encapsulation = try kemPublic.encapsulate()
                let peer = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: clientPublic[kemLength...])
                let key = try fixedPrivateKey.map { try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: $0) }
                    ?? Curve25519.KeyAgreement.PrivateKey()
                let classicalSecret = try ClientKeyExchangeSecret.x25519(key, peer)
                let kemSecret = encapsulation.sharedSecret.withUnsafeBytes { Array($0) }
                return (Array(encapsulation.encapsulated) + Array(key.publicKey.rawRepresentation),
                        ClientKeyExchangeSecret.mlkem768x25519SharedSecret(kem: kemSecret, classical: classicalSecret))
            }
        } catch let error as SSHProtocolError {
            throw error
        } catch {
            throw SSHProtocolError(.keyExchangeFailed("the client's public value is invalid (\(error))"))
        }
    }
}
