// SSHSIG: OpenSSH's detached signatures over files (OpenSSH PROTOCOL.sshsig), as made by `ssh-keygen -Y sign`.
// Blob: "SSHSIG", uint32 version, string public key, string namespace, string reserved, string hash algorithm,
// string signature; the key signs "SSHSIG", string namespace, string reserved, string hash algorithm, string H(message).

import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: it would load ICU, ~3 ms at every start of a command
#else
import Foundation
#endif
import NIOCore
import SSHWire

/// OpenSSH's detached signatures (PROTOCOL.sshsig), as `ssh-keygen -Y sign` makes and `-Y verify` checks them.
///
/// The namespace ("file", "git", ...) is part of what is signed, so a signature made for one purpose cannot
/// be passed off for another.
///
/// ```swift
/// var hasher = SSHSIG.MessageHasher(algorithm: .sha512)
/// hasher.update(Array("release notes".utf8))
/// let armored = try SSHSIG.sign(messageHash: hasher.finalize(), namespace: "file", key: key)
///
/// let signature = try SSHSIG.parse(armored: armored)
/// try SSHSIG.verify(signature, messageHash: hasher.finalize(), namespace: "file")
/// ```
///
/// Who may sign is a separate question, answered by ``AllowedSigners``.
public enum SSHSIG {
    static let magic = Array("SSHSIG".utf8)
    static let version: UInt32 = 1
    static let armorLabel = "SSH SIGNATURE"

    /// The message hashes SSHSIG allows.
    public enum HashAlgorithm: String, Sendable, CaseIterable {
        /// SHA-256.
        case sha256
        /// SHA-512: what ssh-keygen uses by default.
        case sha512

        func hash(_ data: [UInt8]) -> [UInt8] {
            switch self {
            case .sha256: return Array(SHA256.hash(data: data))
            case .sha512: return Array(SHA512.hash(data: data))
            }
        }
    }

    /// Streaming hash of a message, so large files need not be read into memory.
    public struct MessageHasher {
        private var sha256 = SHA256()
        private var sha512 = SHA512()
        /// The hash being computed.
        public let algorithm: HashAlgorithm

        /// Starts an empty hash.
        ///
        /// - Parameter algorithm: The hash to compute; it must match the signature's ``Signature/hashAlgorithm``.
        public init(algorithm: HashAlgorithm) {
            self.algorithm = algorithm
        }

        /// Feeds the next part of the message.
        ///
        /// - Parameter data: The bytes, in message order.
        public mutating func update<D: DataProtocol>(_ data: D) {
            switch algorithm {
            case .sha256: sha256.update(data: data)
            case .sha512: sha512.update(data: data)
            }
        }

        /// The digest of everything fed so far.
        ///
        /// - Returns: The message hash to pass to ``SSHSIG/sign(messageHash:hashAlgorithm:namespace:key:)`` or ``SSHSIG/verify(_:messageHash:namespace:)``.
        public func finalize() -> [UInt8] {
            switch algorithm {
            case .sha256: return Array(sha256.finalize())
            case .sha512: return Array(sha512.finalize())
            }
        }
    }

    /// A decoded signature object.
    public struct Signature: Sendable {
        /// The key that made the signature (not yet trusted: see ``AllowedSigners``).
        public var publicKey: SSHPublicKey
        /// The namespace the signature was made in.
        public var namespace: String
        /// The hash the message was digested with.
        public var hashAlgorithm: HashAlgorithm
        /// The key's signature over the namespace, hash name and message hash.
        public var signature: SSHSignature
    }

    static func signedData(namespace: String, hashAlgorithm: HashAlgorithm, messageHash: [UInt8]) -> [UInt8] {
        var buffer = ByteBuffer(bytes: magic)
        buffer.writeSSHString(namespace)
        buffer.writeSSHString("")
        buffer.writeSSHString(hashAlgorithm.rawValue)
        buffer.writeSSHString(messageHash)
        return Array(buffer.readableBytesView)
    }

    /// Signs a message hash; RSA keys sign with rsa-sha2-512 as OpenSSH does. Returns the armoured text.
    ///
    /// - Parameters:
    ///   - messageHash: The message's digest from ``MessageHasher``.
    ///   - hashAlgorithm: The hash that made `messageHash`.
    ///   - namespace: What the signature is for, e.g. "file"; must not be empty.
    ///   - key: The signing key.
    /// - Returns: The "-----BEGIN SSH SIGNATURE-----" text.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/invalidSignature(_:)`` for an empty namespace, or as
    ///   ``SSHPrivateKey/signature(for:algorithm:)`` throws.
    public static func sign(messageHash: [UInt8], hashAlgorithm: HashAlgorithm = .sha512, namespace: String, key: SSHPrivateKey) throws -> String {
        guard !namespace.isEmpty else { throw SSHKeyError(.invalidSignature("SSHSIG namespace must not be empty")) }
        let toSign = signedData(namespace: namespace, hashAlgorithm: hashAlgorithm, messageHash: messageHash)
        let signature = try key.signature(for: toSign)
        var blob = ByteBuffer(bytes: magic)
        blob.writeSSHUInt32(version)
        blob.writeSSHString(key.publicKey.wireBlob)
        blob.writeSSHString(namespace)
        blob.writeSSHString("")
        blob.writeSSHString(hashAlgorithm.rawValue)
        blob.writeSSHString(signature.wireBlob)
        return PEMArmor.armor(label: armorLabel, body: Array(blob.readableBytesView), lineWidth: 70)
    }

    /// Decodes armoured signature text.
    ///
    /// - Parameter text: The "-----BEGIN SSH SIGNATURE-----" text.
    /// - Returns: The decoded signature, not yet verified.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/invalidSignature(_:)`` for anything malformed, or as
    ///   ``SSHPublicKey/init(wireBlob:)`` throws for the key inside.
    public static func parse(armored text: String) throws -> Signature {
        let block: PEMArmor.Block
        do {
            block = try PEMArmor.parse(text)
        } catch {
            throw SSHKeyError(.invalidSignature("Couldn't parse signature: not an SSH signature"))
        }
        guard block.label == armorLabel else {
            throw SSHKeyError(.invalidSignature("Couldn't parse signature: missing header"))
        }
        var buffer = ByteBuffer(bytes: block.body)
        do {
            guard buffer.readBytes(length: magic.count) == magic else {
                throw SSHKeyError(.invalidSignature("Couldn't verify signature: invalid format"))
            }
            let version = try buffer.readSSHUInt32(field: "SSHSIG version")
            guard version == Self.version else {
                throw SSHKeyError(.invalidSignature("Signature version \(version) is larger than supported version \(Self.version)"))
            }
            let publicKey = try SSHPublicKey(wireBlob: try buffer.readSSHStringBytes(field: "SSHSIG public key"))
            let namespace = try buffer.readSSHUTF8String(field: "SSHSIG namespace")
            _ = try buffer.readSSHString(field: "SSHSIG reserved")
            let hashName = try buffer.readSSHUTF8String(field: "SSHSIG hash algorithm")
            guard let hashAlgorithm = HashAlgorithm(rawValue: hashName) else {
                throw SSHKeyError(.invalidSignature("unsupported hash algorithm \"\(hashName)\""))
            }
            let signature = try SSHSignature(wireBlob: try buffer.readSSHStringBytes(field: "SSHSIG signature"))
            guard buffer.readableBytes == 0 else { throw SSHKeyError(.invalidSignature("Signature contains trailing data")) }
            return Signature(publicKey: publicKey, namespace: namespace, hashAlgorithm: hashAlgorithm, signature: signature)
        } catch let error as SSHWireError {
            throw SSHKeyError(.invalidSignature("Couldn't verify signature: invalid format (\(error))"))
        }
    }

    /// Checks a signature over a message hash made with `signature.hashAlgorithm`, in `namespace`.
    /// RSA signatures must be rsa-sha2-512 or rsa-sha2-256 (never SHA-1), as in OpenSSH.
    ///
    /// - Parameters:
    ///   - signature: The parsed signature.
    ///   - messageHash: The digest of the message, made with `signature.hashAlgorithm`.
    ///   - namespace: The namespace the verifier expects.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/invalidSignature(_:)`` when the namespace differs or the signature does not verify.
    public static func verify(_ signature: Signature, messageHash: [UInt8], namespace: String) throws {
        guard signature.namespace == namespace else {
            throw SSHKeyError(.invalidSignature("Couldn't verify signature: namespace does not match"))
        }
        let data = signedData(namespace: namespace, hashAlgorithm: signature.hashAlgorithm, messageHash: messageHash)
        guard signature.publicKey.isValidSignature(signature.signature, for: data) else {
            throw SSHKeyError(.invalidSignature("Signature verification failed"))
        }
    }
}
