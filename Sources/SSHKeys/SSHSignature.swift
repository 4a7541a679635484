// Signature blobs in SSH wire format (RFC 4253 §6.6): string algorithm name, string signature bytes.

#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: it would load ICU, ~3 ms at every start of a command
#else
import Foundation
#endif
import NIOCore
import SSHWire

/// A signature as SSH carries it: the algorithm name and the algorithm-specific bytes.
public struct SSHSignature: Sendable, Hashable {
    /// e.g. "ssh-ed25519", "rsa-sha2-512". Kept as text so unknown algorithms can be reported by name.
    public var algorithmName: String
    /// The inner signature: 64 bytes for ed25519, mpint r + mpint s for ECDSA, the modulus-sized value for RSA.
    public var rawSignature: [UInt8]

    /// Creates a signature from its two parts.
    ///
    /// - Parameters:
    ///   - algorithmName: The signature algorithm's SSH name.
    ///   - rawSignature: The algorithm-specific signature bytes.
    public init(algorithmName: String, rawSignature: [UInt8]) {
        self.algorithmName = algorithmName
        self.rawSignature = rawSignature
    }

    /// The algorithm, if it is one we know.
    public var algorithm: SSHSignatureAlgorithm? { SSHSignatureAlgorithm(rawValue: algorithmName) }

    /// Parses a whole signature blob; trailing bytes are an error.
    ///
    /// - Parameter wireBlob: The blob: string algorithm name, string signature (RFC 4253 §6.6).
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/invalidSignature(_:)`` when the blob is malformed.
    public init(wireBlob: [UInt8]) throws {
        var buffer = ByteBuffer(bytes: wireBlob)
        do {
            algorithmName = try buffer.readSSHUTF8String(field: "signature algorithm")
            rawSignature = try buffer.readSSHStringBytes(field: "signature")
            try buffer.expectFullyConsumed(field: "signature blob")
        } catch let error as SSHWireError {
            throw SSHKeyError(.invalidSignature("malformed signature: \(error)"))
        }
    }

    /// The wire encoding: string algorithm, string signature.
    public var wireBlob: [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeSSHString(algorithmName)
        buffer.writeSSHString(rawSignature)
        return Array(buffer.readableBytesView)
    }
}
