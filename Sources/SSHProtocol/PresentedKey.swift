// A public key as one side presents it to the other: a plain key or an OpenSSH certificate (PROTOCOL.certkeys) —
// the server's host key in the key exchange (RFC 4253 §8) and the client's key in publickey authentication
// (RFC 4252 §7).
import SSHKeys

/// A key presented for verification: a plain public key, or an OpenSSH certificate whose subject key signs.
public enum SSHPresentedKey: Sendable, Hashable {
    /// A plain public key.
    case key(SSHPublicKey)
    /// An OpenSSH certificate; its `SSHCertificate.key` makes the signature.
    case certificate(SSHCertificate)

    /// The key that signs (the certificate's subject key for certificates).
    public var publicKey: SSHPublicKey {
        switch self {
        case .key(let key): key
        case .certificate(let certificate): certificate.key
        }
    }

    /// Whether this is a certificate.
    public var isCertificate: Bool {
        if case .certificate = self { return true }
        return false
    }

    /// The key or certificate as sent on the wire.
    public var wireBlob: [UInt8] {
        switch self {
        case .key(let key): key.wireBlob
        case .certificate(let certificate): certificate.wireBlob
        }
    }

    /// Parses a key blob as the algorithm name says: a certificate for *-cert-v01@openssh.com.
    ///
    /// - Parameters:
    ///   - blob: The key or certificate blob as received.
    ///   - algorithm: The algorithm named beside it.
    /// - Throws: `SSHKeyError` when the blob is not a key or certificate shh can use.
    public init(blob: [UInt8], algorithm: SSHHostKeyAlgorithm) throws {
        self = algorithm.isCertificate ? .certificate(try SSHCertificate(wireBlob: blob)) : .key(try SSHPublicKey(wireBlob: blob))
    }
}

/// The public key algorithm names a key can be used with, best first, given what the server said it verifies
/// (server-sig-algs, RFC 8308 §3.1). RSA keys prefer rsa-sha2-512, then rsa-sha2-256; without server-sig-algs,
/// rsa-sha2-256 is assumed understood (as OpenSSH does only with ext-info: we never fall back to SHA-1).
///
/// - Parameters:
///   - key: The client's key or certificate.
///   - serverSignatureAlgorithms: The server's server-sig-algs, or nil when it sent none.
/// - Returns: The algorithms to try, in order; never empty.
public func publicKeyAlgorithms(for key: SSHPresentedKey, serverSignatureAlgorithms: [String]?) -> [SSHHostKeyAlgorithm] {
    let candidates = SSHHostKeyAlgorithm.algorithms(for: key.publicKey.type, certificate: key.isCertificate)
    guard let serverSignatureAlgorithms, key.publicKey.type == .rsa else { return candidates }
    let understood = candidates.filter { serverSignatureAlgorithms.contains($0.signatureAlgorithm.rawValue) }
    return understood.isEmpty ? candidates : understood
}
