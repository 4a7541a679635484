// Older private key files that OpenSSH still reads: PEM-armoured DER in PKCS#1 (RFC 8017 A.1.2, "RSA PRIVATE KEY"),
// SEC1 (RFC 5915 §3, "EC PRIVATE KEY") and PKCS#8 (RFC 5208 §5, "PRIVATE KEY"; RFC 8410 §7 for Ed25519).
// Only unencrypted files: encrypted PEM gets an error saying how to convert it.

import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: it would load ICU, ~3 ms at every start of a command
#else
import Foundation
#endif

/// A minimal strict DER reader: just what the three key formats above need.
struct DERReader {
    private let bytes: [UInt8]
    private(set) var index: Int
    private let end: Int

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        index = 0
        end = bytes.count
    }

    private init(_ bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        index = range.lowerBound
        end = range.upperBound
    }

    var isAtEnd: Bool { index >= end }

    /// The tag of the next element, if any.
    var peekTag: UInt8? { index < end ? bytes[index] : nil }

    /// Reads one element with `tag` and returns a reader over its contents.
    mutating func read(tag: UInt8, what: String) throws -> DERReader {
        guard index < end, bytes[index] == tag else { throw Self.malformed("expected \(what)") }
        var cursor = index + 1
        guard cursor < end else { throw Self.malformed("truncated \(what)") }
        let first = bytes[cursor]
        cursor += 1
        var length = 0
        if first < 0x80 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7F)
            // DER: long form only when needed, at most 4 length bytes (no key is anywhere near 4 GiB).
            guard count >= 1, count <= 4, end - cursor >= count, bytes[cursor] != 0 else {
                throw Self.malformed("bad length in \(what)")
            }
            for _ in 0..<count {
                length = length << 8 | Int(bytes[cursor])
                cursor += 1
            }
            guard length >= 0x80 else { throw Self.malformed("non-minimal length in \(what)") }
        }
        guard end - cursor >= length else { throw Self.malformed("truncated \(what)") }
        index = cursor + length
        return DERReader(bytes, range: cursor..<(cursor + length))
    }

    /// The remaining bytes of this reader.
    var remainingBytes: [UInt8] { Array(bytes[index..<end]) }

    mutating func readSequence(_ what: String) throws -> DERReader { try read(tag: 0x30, what: what) }

    /// An INTEGER that must be non-negative; returns its magnitude without leading zeros.
    mutating func readUnsignedInteger(_ what: String) throws -> [UInt8] {
        let content = try read(tag: 0x02, what: what).remainingBytes
        guard let first = content.first else { throw Self.malformed("empty INTEGER \(what)") }
        guard first & 0x80 == 0 else { throw Self.malformed("negative \(what)") }
        return Array(content.drop(while: { $0 == 0 }))
    }

    mutating func readOctetString(_ what: String) throws -> [UInt8] {
        try read(tag: 0x04, what: what).remainingBytes
    }

    mutating func readObjectIdentifier(_ what: String) throws -> [UInt8] {
        try read(tag: 0x06, what: what).remainingBytes
    }

    mutating func skipOptional(tag: UInt8) throws {
        if peekTag == tag { _ = try read(tag: tag, what: "optional field") }
    }

    static func malformed(_ detail: String) -> SSHKeyError {
        SSHKeyError(.invalidFormat(detail))
    }
}

/// Object identifiers as their DER content bytes.
enum KnownOID {
    static let rsaEncryption: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]
    static let ecPublicKey: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]
    static let ed25519: [UInt8] = [0x2B, 0x65, 0x70]
    static let prime256v1: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]
    static let secp384r1: [UInt8] = [0x2B, 0x81, 0x04, 0x00, 0x22]
    static let secp521r1: [UInt8] = [0x2B, 0x81, 0x04, 0x00, 0x23]

    static func ecdsaKeyType(curve: [UInt8]) throws -> SSHKeyType {
        switch curve {
        case prime256v1: return .ecdsaP256
        case secp384r1: return .ecdsaP384
        case secp521r1: return .ecdsaP521
        default: throw SSHKeyError(.unsupportedKeyType("ECDSA on an unsupported curve"))
        }
    }
}

/// RSAPrivateKey (RFC 8017 A.1.2).
struct PKCS1RSAPrivateKey {
    var n, e, d, p, q, qInverse: [UInt8]

    init(der: [UInt8]) throws {
        var outer = DERReader(der)
        var seq = try outer.readSequence("RSAPrivateKey")
        guard outer.isAtEnd else { throw DERReader.malformed("trailing data after RSAPrivateKey") }
        let version = try seq.readUnsignedInteger("version")
        guard version.isEmpty else { throw DERReader.malformed("multi-prime RSA keys are not supported") }
        n = try seq.readUnsignedInteger("modulus")
        e = try seq.readUnsignedInteger("publicExponent")
        d = try seq.readUnsignedInteger("privateExponent")
        p = try seq.readUnsignedInteger("prime1")
        q = try seq.readUnsignedInteger("prime2")
        _ = try seq.readUnsignedInteger("exponent1")
        _ = try seq.readUnsignedInteger("exponent2")
        qInverse = try seq.readUnsignedInteger("coefficient")
    }

    func privateKey(comment: String) throws -> SSHPrivateKey {
        SSHPrivateKey(storage: .rsa(try RSAPrivateKeyParts(n: n, e: e, d: d, iqmp: qInverse, p: p, q: q)), comment: comment)
    }
}

enum LegacyPEMKeys {
    /// Parses the DER inside a "-----BEGIN <label>-----" block.
    static func privateKey(label: String, der: [UInt8]) throws -> SSHPrivateKey {
        switch label {
        case "RSA PRIVATE KEY":
            return try PKCS1RSAPrivateKey(der: der).privateKey(comment: "")
        case "EC PRIVATE KEY":
            return try sec1PrivateKey(der: der, curveFromAlgorithm: nil)
        case "PRIVATE KEY":
            return try pkcs8PrivateKey(der: der)
        case "ENCRYPTED PRIVATE KEY":
            throw SSHKeyError(.encryptedPEMUnsupported)
        case "DSA PRIVATE KEY":
            throw SSHKeyError(.unsupportedKeyType("ssh-dss"))
        default:
            throw SSHKeyError(.invalidFormat("unknown PEM block \"\(label)\""))
        }
    }

    /// ECPrivateKey (RFC 5915 §3); the curve comes from its own parameters or, inside PKCS#8, from the algorithm.
    static func sec1PrivateKey(der: [UInt8], curveFromAlgorithm: SSHKeyType?) throws -> SSHPrivateKey {
        var outer = DERReader(der)
        var seq = try outer.readSequence("ECPrivateKey")
        guard try seq.readUnsignedInteger("version") == [1] else { throw DERReader.malformed("ECPrivateKey version is not 1") }
        let scalar = try seq.readOctetString("privateKey")
        var type = curveFromAlgorithm
        if seq.peekTag == 0xA0 {
            var parameters = try seq.read(tag: 0xA0, what: "parameters")
            type = try KnownOID.ecdsaKeyType(curve: try parameters.readObjectIdentifier("namedCurve"))
        }
        guard let type else { throw DERReader.malformed("EC private key does not name its curve") }
        return try ecdsaPrivateKey(type: type, scalar: scalar, comment: "")
    }

    /// PrivateKeyInfo / OneAsymmetricKey (RFC 5208 §5, RFC 5958 §2).
    static func pkcs8PrivateKey(der: [UInt8]) throws -> SSHPrivateKey {
        var outer = DERReader(der)
        var seq = try outer.readSequence("PrivateKeyInfo")
        let version = try seq.readUnsignedInteger("version")
        guard version.isEmpty || version == [1] else { throw DERReader.malformed("unknown PKCS#8 version") }
        var algorithm = try seq.readSequence("AlgorithmIdentifier")
        let oid = try algorithm.readObjectIdentifier("algorithm")
        let inner = try seq.readOctetString("privateKey")
        switch oid {
        case KnownOID.rsaEncryption:
            return try PKCS1RSAPrivateKey(der: inner).privateKey(comment: "")
        case KnownOID.ecPublicKey:
            let curve = try KnownOID.ecdsaKeyType(curve: try algorithm.readObjectIdentifier("namedCurve"))
            return try sec1PrivateKey(der: inner, curveFromAlgorithm: curve)
        case KnownOID.ed25519:
            var wrapped = DERReader(inner)
            let seed = try wrapped.readOctetString("CurvePrivateKey")
            guard seed.count == 32 else { throw DERReader.malformed("Ed25519 private key is not 32 bytes") }
            return SSHPrivateKey(storage: .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: seed)), comment: "")
        default:
            throw SSHKeyError(.unsupportedKeyType("PKCS#8 key with algorithm OID \(hexString(oid))"))
        }
    }

    /// An ECDSA private key from its scalar (big-endian, any length up to the field size).
    static func ecdsaPrivateKey(type: SSHKeyType, scalar: [UInt8], comment: String) throws -> SSHPrivateKey {
        let size = type.ecdsaCoordinateByteCount ?? 0
        let trimmed = Array(scalar.drop(while: { $0 == 0 }))
        guard !trimmed.isEmpty, trimmed.count <= size else {
            throw DERReader.malformed("ECDSA private scalar has the wrong size")
        }
        let padded = [UInt8](repeating: 0, count: size - trimmed.count) + trimmed
        do {
            switch type {
            case .ecdsaP256: return SSHPrivateKey(storage: .p256(try P256.Signing.PrivateKey(rawRepresentation: padded)), comment: comment)
            case .ecdsaP384: return SSHPrivateKey(storage: .p384(try P384.Signing.PrivateKey(rawRepresentation: padded)), comment: comment)
            case .ecdsaP521: return SSHPrivateKey(storage: .p521(try P521.Signing.PrivateKey(rawRepresentation: padded)), comment: comment)
            default: throw DERReader.malformed("not an ECDSA key type")
            }
        } catch let error as SSHKeyError {
            throw error
        } catch {
            throw DERReader.malformed("ECDSA private scalar is out of range")
        }
    }
}
