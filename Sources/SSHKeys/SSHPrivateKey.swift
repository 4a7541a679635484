// Private keys: generation and signing in SSH wire format (RFC 8709 §6, RFC 5656 §3.1.2, RFC 8332 §3).

import Crypto
import CryptoExtras
#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: it would load ICU, ~3 ms at every start of a command
#else
import Foundation
#endif
import NIOCore
import SSHWire

/// A private key of one of the supported types, with its comment (the text OpenSSH keeps beside it).
public struct SSHPrivateKey: Sendable {
    enum Storage: Sendable {
        case ed25519(Curve25519.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case p521(P521.Signing.PrivateKey)
        case rsa(RSAPrivateKeyParts)
    }

    let storage: Storage
    /// The matching public key.
    public let publicKey: SSHPublicKey
    /// The key's comment, usually "user@host". Empty when there is none.
    public var comment: String

    /// The key type.
    public var type: SSHKeyType { publicKey.type }

    init(storage: Storage, comment: String) {
        self.storage = storage
        self.comment = comment
        switch storage {
        case .ed25519(let key): publicKey = SSHPublicKey(storage: .ed25519(key.publicKey))
        case .p256(let key): publicKey = SSHPublicKey(storage: .p256(key.publicKey))
        case .p384(let key): publicKey = SSHPublicKey(storage: .p384(key.publicKey))
        case .p521(let key): publicKey = SSHPublicKey(storage: .p521(key.publicKey))
        case .rsa(let parts): publicKey = SSHPublicKey(storage: .rsa(parts.key.publicKey, modulusBitCount: parts.modulusBitCount))
        }
    }

    // MARK: Generation

    /// Generates a new key. `bits` follows ssh-keygen's -b: ignored for ed25519, 256/384/521 picks the ECDSA
    /// curve (default 256), the RSA modulus size for RSA (default 3072, 2048...8192).
    ///
    /// ```swift
    /// let key = try SSHPrivateKey.generate(type: .ed25519, comment: "alice@example")
    /// let signature = try key.signature(for: Array("hello".utf8))
    /// assert(key.publicKey.isValidSignature(signature, for: Array("hello".utf8)))
    /// ```
    ///
    /// - Parameters:
    ///   - type: The key type; for ECDSA, `bits` decides the curve.
    ///   - bits: ssh-keygen's `-b`, or nil for its default.
    ///   - comment: The comment to keep with the key.
    /// - Returns: A fresh key from the system's random number generator.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/invalidKeySize(_:)`` for a size ssh-keygen would refuse.
    public static func generate(type: SSHKeyType, bits: Int? = nil, comment: String = "") throws -> SSHPrivateKey {
        switch try validatedGenerationType(type: type, bits: bits) {
        case .ed25519:
            return SSHPrivateKey(storage: .ed25519(Curve25519.Signing.PrivateKey()), comment: comment)
        case .ecdsaP256: return SSHPrivateKey(storage: .p256(P256.Signing.PrivateKey()), comment: comment)
        case .ecdsaP384: return SSHPrivateKey(storage: .p384(P384.Signing.PrivateKey()), comment: comment)
        case .ecdsaP521: return SSHPrivateKey(storage: .p521(P521.Signing.PrivateKey()), comment: comment)
        case .rsa:
            let size = bits ?? 3072
            do {
                let key = try _RSA.Signing.PrivateKey(keySize: .init(bitCount: size))
                return SSHPrivateKey(storage: .rsa(try RSAPrivateKeyParts(generated: key)), comment: comment)
            } catch let error as SSHKeyError {
                throw error
            } catch {
                throw SSHKeyError(.invalidKeySize("RSA key generation of \(size) bits failed in the crypto library (\(error))"))
            }
        }
    }

    /// Checks `generate`'s parameters without generating (ssh-keygen checks before it says anything),
    /// returning the exact type: for ECDSA, -b picks the curve.
    ///
    /// - Parameters:
    ///   - type: The key type asked for.
    ///   - bits: ssh-keygen's `-b`, or nil for its default.
    /// - Returns: The type ``generate(type:bits:comment:)`` would make.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/invalidKeySize(_:)``, worded as ssh-keygen words it.
    public static func validatedGenerationType(type: SSHKeyType, bits: Int?) throws -> SSHKeyType {
        switch type {
        case .ed25519:
            return .ed25519
        case .ecdsaP256, .ecdsaP384, .ecdsaP521:
            return try ecdsaType(forBits: bits ?? type.defaultECDSABits)
        case .rsa:
            let size = bits ?? 3072
            guard size >= RSAKeySize.minimumBits else {
                throw SSHKeyError(.invalidKeySize("Invalid RSA key length: minimum is \(RSAKeySize.minimumBits) bits"))
            }
            guard size <= RSAKeySize.maximumBits else {
                throw SSHKeyError(.invalidKeySize("Invalid RSA key length: maximum is \(RSAKeySize.maximumBits) bits"))
            }
            return .rsa
        }
    }

    /// ssh-keygen's mapping of -b to an ECDSA curve.
    static func ecdsaType(forBits bits: Int) throws -> SSHKeyType {
        switch bits {
        case 256: return .ecdsaP256
        case 384: return .ecdsaP384
        case 521: return .ecdsaP521
        default: throw SSHKeyError(.invalidKeySize("Invalid ECDSA key length: valid lengths are 256, 384 or 521 bits"))
        }
    }

    // MARK: Signing

    /// Signs `data`. For RSA the algorithm picks the hash (default rsa-sha2-512); other types have one algorithm.
    /// SHA-1 RSA ("ssh-rsa") is refused: it is broken for signatures, and we only ever verify it when asked.
    ///
    /// - Parameters:
    ///   - data: The bytes to sign.
    ///   - algorithm: The signature algorithm, or nil for the type's ``SSHKeyType/defaultSignatureAlgorithm``.
    /// - Returns: The signature, ready for the wire as ``SSHSignature/wireBlob``.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/signatureAlgorithmNotAllowed(_:)`` when the algorithm does not fit
    ///   the key or is SHA-1 RSA; ``SSHKeyError/Code/invalidSignature(_:)`` when the crypto library fails to sign
    ///   with RSA. For the other types the crypto library's own (unexpected) errors pass through.
    public func signature<D: DataProtocol>(for data: D, algorithm: SSHSignatureAlgorithm? = nil) throws -> SSHSignature {
        let algorithm = algorithm ?? type.defaultSignatureAlgorithm
        guard algorithm.keyType == type, algorithm != .rsaSHA1 else {
            throw SSHKeyError(.signatureAlgorithmNotAllowed(algorithm.rawValue))
        }
        let raw: [UInt8]
        switch storage {
        case .ed25519(let key):
            raw = Array(try key.signature(for: data))
        case .p256(let key):
            raw = Self.ecdsaWireSignature(try key.signature(for: data).rawRepresentation, coordinateBytes: 32)
        case .p384(let key):
            raw = Self.ecdsaWireSignature(try key.signature(for: data).rawRepresentation, coordinateBytes: 48)
        case .p521(let key):
            raw = Self.ecdsaWireSignature(try key.signature(for: data).rawRepresentation, coordinateBytes: 66)
        case .rsa(let parts):
            raw = try Self.rsaSignature(parts.key, algorithm: algorithm, data: data)
        }
        return SSHSignature(algorithmName: algorithm.rawValue, rawSignature: raw)
    }

    /// PKCS#1 v1.5 with the hash the algorithm names (RFC 8332 §3); library failures become SSHKeyError.
    static func rsaSignature<D: DataProtocol>(_ key: _RSA.Signing.PrivateKey, algorithm: SSHSignatureAlgorithm, data: D) throws -> [UInt8] {
        do {
            switch algorithm {
            case .rsaSHA512: return Array(try key.signature(for: SHA512.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
            case .rsaSHA256: return Array(try key.signature(for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
            default: throw SSHKeyError(.signatureAlgorithmNotAllowed(algorithm.rawValue))
            }
        } catch let error as SSHKeyError {
            throw error
        } catch {
            throw SSHKeyError(.invalidSignature("RSA signing failed in the crypto library (\(error))"))
        }
    }

    /// r‖s from swift-crypto → mpint r, mpint s (RFC 5656 §3.1.2).
    static func ecdsaWireSignature(_ raw: Data, coordinateBytes: Int) -> [UInt8] {
        let bytes = Array(raw)
        var buffer = ByteBuffer()
        buffer.writeSSHUnsignedMPInt(bytes[0..<coordinateBytes])
        buffer.writeSSHUnsignedMPInt(bytes[coordinateBytes...])
        return Array(buffer.readableBytesView)
    }
}

extension SSHKeyType {
    var defaultECDSABits: Int {
        switch self {
        case .ecdsaP384: return 384
        case .ecdsaP521: return 521
        default: return 256
        }
    }
}

/// The numbers of an RSA private key as OpenSSH stores them (n, e, d, iqmp, p, q), with the usable key.
struct RSAPrivateKeyParts: Sendable {
    let n: [UInt8]
    let e: [UInt8]
    let d: [UInt8]
    let iqmp: [UInt8]
    let p: [UInt8]
    let q: [UInt8]
    let key: _RSA.Signing.PrivateKey
    let modulusBitCount: Int

    /// Builds a key from its numbers (all big-endian magnitudes), refusing sizes outside 2048...8192 bits by name.
    init(n: [UInt8], e: [UInt8], d: [UInt8], iqmp: [UInt8], p: [UInt8], q: [UInt8]) throws {
        let bits = RSAKeySize.bitLength(ofMagnitude: n)
        try RSAKeySize.validate(bits: bits)
        guard !e.isEmpty, !d.isEmpty, !p.isEmpty, !q.isEmpty else {
            throw SSHKeyError(.invalidFormat("RSA private key has an empty component"))
        }
        do {
            key = try _RSA.Signing.PrivateKey(n: n, e: e, d: d, p: p, q: q)
        } catch {
            throw SSHKeyError(.invalidFormat("RSA private key components are inconsistent"))
        }
        (self.n, self.e, self.d, self.iqmp, self.p, self.q) = (n, e, d, iqmp, p, q)
        modulusBitCount = bits
    }

    /// Extracts the numbers of a freshly generated key from its PKCS#1 encoding.
    init(generated key: _RSA.Signing.PrivateKey) throws {
        let pkcs1 = try PKCS1RSAPrivateKey(der: Array(key.derRepresentation))
        try self.init(n: pkcs1.n, e: pkcs1.e, d: pkcs1.d, iqmp: pkcs1.qInverse, p: pkcs1.p, q: pkcs1.q)
    }
}
