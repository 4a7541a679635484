// Public keys in SSH wire format: ssh-ed25519 (RFC 8709 §4), ecdsa-sha2-* (RFC 5656 §3.1),
// ssh-rsa (RFC 4253 §6.6), and signature verification for each (RFC 8709 §6, RFC 5656 §3.1.2, RFC 8332 §3).

import Crypto
import CryptoExtras
#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: it would load ICU, ~3 ms at every start of a command
#else
import Foundation
#endif
import NIOCore
import SSHWire

/// A public key of one of the supported types, kept together with its canonical wire encoding.
///
/// Two keys are equal when their wire encodings are, and ``description`` is the key line without a comment:
///
/// ```swift
/// let line = try SSHPublicKeyLine(parsing: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPsWVXe42WIBK0WpNckOtBREZfgQOcjKUMNZfZcSMwWP alice@example")
/// let key = line.key
/// print(key.type.displayName, key.bitCount)  // ED25519 256
/// print(key.fingerprint())                   // SHA256:GBaVnTV+GytKk9mGKsXRvI6bRJwYI2ZclkwHEcM87A4
/// ```
public struct SSHPublicKey: Sendable, Hashable, CustomStringConvertible {
    enum Storage: Sendable {
        case ed25519(Curve25519.Signing.PublicKey)
        case p256(P256.Signing.PublicKey)
        case p384(P384.Signing.PublicKey)
        case p521(P521.Signing.PublicKey)
        case rsa(_RSA.Signing.PublicKey, modulusBitCount: Int)
        /// An RSA key of 8193–16384 bits: OpenSSH makes them, BoringSSL cannot use them. It can be listed
        /// and fingerprinted, never used to verify (see RSAKeySize).
        case rsaBeyondCryptoLimit(modulusBitCount: Int)
    }

    let storage: Storage
    /// The key type.
    public let type: SSHKeyType
    /// The key's SSH wire encoding (the "public key blob"): what fingerprints hash and what peers send.
    public let wireBlob: [UInt8]

    /// The size OpenSSH reports: 256 for ed25519, the curve size for ECDSA, the modulus size for RSA.
    public var bitCount: Int {
        switch storage {
        case .ed25519: return 256
        case .p256: return 256
        case .p384: return 384
        case .p521: return 521
        case .rsa(_, let bits), .rsaBeyondCryptoLimit(let bits): return bits
        }
    }

    /// Whether signatures by this key can be verified. False only for RSA keys over 8192 bits.
    public var canVerifySignatures: Bool {
        if case .rsaBeyondCryptoLimit = storage { return false }
        return true
    }

    /// Parses a public key blob, which must hold exactly one key and nothing after it.
    ///
    /// - Parameter wireBlob: The key's SSH wire encoding (RFC 4253 §6.6), as carried in key lines and messages.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/unsupportedKeyType(_:)`` for a type shh does not implement,
    ///   ``SSHKeyError/Code/invalidFormat(_:)`` for malformed or trailing data, ``SSHKeyError/Code/mismatch(_:)``
    ///   when an ECDSA key names the wrong curve, ``SSHKeyError/Code/unsupportedRSAKeySize(bits:)`` for RSA keys out of range.
    public init(wireBlob: [UInt8]) throws {
        var buffer = ByteBuffer(bytes: wireBlob)
        try self.init(reading: &buffer)
        do {
            try buffer.expectFullyConsumed(field: "public key blob")
        } catch {
            throw SSHKeyError(.invalidFormat("trailing bytes after the public key"))
        }
    }

    /// Reads one public key blob's fields (the contents of the blob, starting with the type name).
    ///
    /// Bytes after the key are left in the buffer for the caller.
    ///
    /// - Parameter buffer: The buffer to read from; its reader index moves past the key.
    /// - Throws: ``SSHKeyError``, as for ``init(wireBlob:)``.
    public init(reading buffer: inout ByteBuffer) throws {
        // NIO's get* refuse indexes before the reader index, so keep the unread view to slice the blob from.
        let original = buffer
        do {
            let typeName = try buffer.readSSHUTF8String(field: "key type")
            guard let type = SSHKeyType(rawValue: typeName) else {
                throw SSHKeyError(.unsupportedKeyType(typeName))
            }
            self.type = type
            switch type {
            case .ed25519:
                let raw = try buffer.readSSHStringBytes(field: "ed25519 public key")
                guard raw.count == 32 else {
                    throw SSHKeyError(.invalidFormat("ed25519 public key is \(raw.count) bytes, not 32"))
                }
                storage = .ed25519(try Curve25519.Signing.PublicKey(rawRepresentation: raw))
            case .ecdsaP256, .ecdsaP384, .ecdsaP521:
                let curve = try buffer.readSSHUTF8String(field: "ECDSA curve name")
                guard curve == type.curveIdentifier else {
                    throw SSHKeyError(.mismatch("ECDSA key of type \(type.rawValue) names curve \"\(curve)\""))
                }
                let point = try buffer.readSSHStringBytes(field: "ECDSA public point")
                storage = try Self.ecdsaStorage(type: type, point: point)
            case .rsa:
                let e = try buffer.readSSHUnsignedMPInt(field: "RSA public exponent")
                let n = try buffer.readSSHUnsignedMPInt(field: "RSA modulus")
                storage = try Self.rsaStorage(n: n, e: e)
            }
        } catch let error as SSHWireError {
            throw SSHKeyError(.invalidFormat(error.description))
        } catch let error as SSHKeyError {
            throw error
        } catch {
            throw SSHKeyError(.invalidFormat("public key rejected: \(error)"))
        }
        wireBlob = original.getBytes(at: original.readerIndex, length: buffer.readerIndex - original.readerIndex) ?? []
    }

    init(storage: Storage) {
        self.storage = storage
        var buffer = ByteBuffer()
        switch storage {
        case .ed25519(let key):
            type = .ed25519
            buffer.writeSSHString(type.rawValue)
            buffer.writeSSHString(Array(key.rawRepresentation))
        case .p256(let key):
            type = .ecdsaP256
            Self.writeECDSA(&buffer, type: type, point: key.x963Representation)
        case .p384(let key):
            type = .ecdsaP384
            Self.writeECDSA(&buffer, type: type, point: key.x963Representation)
        case .p521(let key):
            type = .ecdsaP521
            Self.writeECDSA(&buffer, type: type, point: key.x963Representation)
        case .rsaBeyondCryptoLimit:
            // Only made by parsing, which sets the blob itself; never constructed from a private key.
            type = .rsa
        case .rsa(let key, _):
            type = .rsa
            buffer.writeSSHString(type.rawValue)
            // Primitives cannot fail for a key we hold; an empty encoding would simply never verify.
            let primitives = try? key.getKeyPrimitives()
            buffer.writeSSHUnsignedMPInt(Array(primitives?.publicExponent ?? Data()))
            buffer.writeSSHUnsignedMPInt(Array(primitives?.modulus ?? Data()))
        }
        wireBlob = Array(buffer.readableBytesView)
    }

    private static func writeECDSA(_ buffer: inout ByteBuffer, type: SSHKeyType, point: Data) {
        buffer.writeSSHString(type.rawValue)
        buffer.writeSSHString(type.curveIdentifier ?? "")
        buffer.writeSSHString(Array(point))
    }

    static func ecdsaStorage(type: SSHKeyType, point: [UInt8]) throws -> Storage {
        let coordinate = type.ecdsaCoordinateByteCount ?? 0
        guard point.count == 1 + 2 * coordinate, point.first == 0x04 else {
            throw SSHKeyError(.invalidFormat("ECDSA public point is not an uncompressed \(type.rawValue) point"))
        }
        do {
            switch type {
            case .ecdsaP256: return .p256(try P256.Signing.PublicKey(x963Representation: point))
            case .ecdsaP384: return .p384(try P384.Signing.PublicKey(x963Representation: point))
            default: return .p521(try P521.Signing.PublicKey(x963Representation: point))
            }
        } catch {
            throw SSHKeyError(.invalidFormat("ECDSA public point is not on the \(type.curveIdentifier ?? "") curve"))
        }
    }

    static func rsaStorage(n: [UInt8], e: [UInt8]) throws -> Storage {
        let bits = RSAKeySize.bitLength(ofMagnitude: n)
        guard !e.isEmpty, e.last.map({ $0 & 1 == 1 }) == true else {
            throw SSHKeyError(.invalidFormat("RSA public exponent is not odd"))
        }
        if bits > RSAKeySize.maximumBits, bits <= RSAKeySize.openSSHMaximumBits {
            return .rsaBeyondCryptoLimit(modulusBitCount: bits)
        }
        try RSAKeySize.validate(bits: bits)
        do {
            return .rsa(try _RSA.Signing.PublicKey(n: n, e: e), modulusBitCount: bits)
        } catch {
            throw SSHKeyError(.invalidFormat("RSA public key rejected by the crypto library"))
        }
    }

    // MARK: Verification

    /// Checks `signature` over `data`. Only algorithms in `allowedAlgorithms` count; by default
    /// that excludes SHA-1 RSA ("ssh-rsa"), which must be allowed explicitly.
    ///
    /// - Parameters:
    ///   - signature: The signature to check.
    ///   - data: The bytes that were signed.
    ///   - allowedAlgorithms: The signature algorithms to accept.
    /// - Returns: True only when the algorithm is allowed, fits this key's type, and the signature verifies.
    public func isValidSignature<D: DataProtocol>(
        _ signature: SSHSignature,
        for data: D,
        allowedAlgorithms: Set<SSHSignatureAlgorithm> = SSHSignatureAlgorithm.secureDefaults
    ) -> Bool {
        guard let algorithm = SSHSignatureAlgorithm(rawValue: signature.algorithmName),
              allowedAlgorithms.contains(algorithm),
              algorithm.keyType == type
        else { return false }
        let blob = signature.rawSignature
        switch storage {
        case .ed25519(let key):
            return blob.count == 64 && key.isValidSignature(blob, for: data)
        case .p256(let key):
            guard let raw = Self.ecdsaRawSignature(blob, coordinateBytes: 32),
                  let sig = try? P256.Signing.ECDSASignature(rawRepresentation: raw) else { return false }
            return key.isValidSignature(sig, for: data)
        case .p384(let key):
            guard let raw = Self.ecdsaRawSignature(blob, coordinateBytes: 48),
                  let sig = try? P384.Signing.ECDSASignature(rawRepresentation: raw) else { return false }
            return key.isValidSignature(sig, for: data)
        case .p521(let key):
            guard let raw = Self.ecdsaRawSignature(blob, coordinateBytes: 66),
                  let sig = try? P521.Signing.ECDSASignature(rawRepresentation: raw) else { return false }
            return key.isValidSignature(sig, for: data)
        case .rsaBeyondCryptoLimit:
            return false
        case .rsa(let key, let bits):
            // RFC 8332 §3: the signature is exactly as long as the modulus.
            guard blob.count == (bits + 7) / 8 else { return false }
            let sig = _RSA.Signing.RSASignature(rawRepresentation: blob)
            switch algorithm {
            case .rsaSHA512: return key.isValidSignature(sig, for: SHA512.hash(data: data), padding: .insecurePKCS1v1_5)
            case .rsaSHA256: return key.isValidSignature(sig, for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5)
            case .rsaSHA1: return key.isValidSignature(sig, for: Insecure.SHA1.hash(data: data), padding: .insecurePKCS1v1_5)
            default: return false
            }
        }
    }

    /// RFC 5656 §3.1.2: the ECDSA signature blob is mpint r, mpint s; swift-crypto wants r‖s, each padded to the field.
    static func ecdsaRawSignature(_ blob: [UInt8], coordinateBytes: Int) -> [UInt8]? {
        var buffer = ByteBuffer(bytes: blob)
        guard let r = try? buffer.readSSHUnsignedMPInt(field: "ECDSA r", maxByteCount: coordinateBytes),
              let s = try? buffer.readSSHUnsignedMPInt(field: "ECDSA s", maxByteCount: coordinateBytes),
              buffer.readableBytes == 0
        else { return nil }
        return [UInt8](repeating: 0, count: coordinateBytes - r.count) + r
            + [UInt8](repeating: 0, count: coordinateBytes - s.count) + s
    }

    // MARK: Hashable by wire encoding

    /// Keys are equal when their wire encodings are.
    public static func == (lhs: SSHPublicKey, rhs: SSHPublicKey) -> Bool {
        lhs.wireBlob == rhs.wireBlob
    }

    /// Hashes the wire encoding, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(wireBlob)
    }

    /// The public key line body without comment: "ssh-ed25519 AAAA...".
    public var description: String {
        "\(type.rawValue) \(Data(wireBlob).base64EncodedString())"
    }
}

/// RSA size policy in one place: 2048–8192 bits. The architecture asks for up to 16384, but swift-crypto's
/// BoringSSL refuses moduli over OPENSSL_RSA_MAX_MODULUS_BITS (8192) for signing and verifying alike, so a
/// larger key is refused up front with its size named rather than failing later with a library error code.
enum RSAKeySize {
    static let minimumBits = 2048
    static let maximumBits = 8192
    /// The largest modulus OpenSSH accepts; keys up to here can at least be listed and fingerprinted.
    static let openSSHMaximumBits = 16384

    static func validate(bits: Int) throws {
        guard bits >= minimumBits, bits <= maximumBits else {
            throw SSHKeyError(.unsupportedRSAKeySize(bits: bits))
        }
    }

    /// Number of significant bits in a big-endian magnitude.
    static func bitLength(ofMagnitude bytes: [UInt8]) -> Int {
        guard let firstNonZero = bytes.firstIndex(where: { $0 != 0 }) else { return 0 }
        let remaining = bytes.count - firstNonZero
        return (remaining - 1) * 8 + (8 - bytes[firstNonZero].leadingZeroBitCount)
    }
}
