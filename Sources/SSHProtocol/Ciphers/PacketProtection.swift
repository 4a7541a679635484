// The seam between the binary packet protocol (RFC 4253 §6) and the cryptography that protects packets: one
// value per direction, which encrypts a framed packet in place and appends its tag, or checks and decrypts one.
// Faster backends (e.g. libcrypto EVP, see ../shared/ARCHITECTURE.md) implement the same protocol.
import Crypto
import NIOCore

/// Protection for one direction of a connection. Sequence numbers are kept by the caller (RFC 4253 §6.4).
protocol PacketProtection: Sendable {
    /// Padding aligns the encrypted region to this (at least 8; RFC 4253 §6).
    var blockSize: Int { get }
    /// Bytes of MAC or AEAD tag after each packet.
    var tagByteCount: Int { get }
    /// True when packet_length is outside the aligned region (AEAD and encrypt-then-MAC: the length travels
    /// in the clear or separately encrypted, and padding aligns only what follows it).
    var lengthIsOutsideAlignment: Bool { get }
    /// Bytes needed before packet_length can be read: 4, or a whole cipher block when the length is encrypted
    /// with the rest of the packet.
    var lengthPrefixByteCount: Int { get }

    /// packet_length from the first `lengthPrefixByteCount` bytes of a packet (unauthenticated until `open`).
    func packetLength(prefix: UnsafeRawBufferPointer, sequenceNumber: UInt32) -> UInt32

    /// Encrypts `buffer`'s bytes from `packetStart` to its writer index (packet_length through padding) in place
    /// and appends the tag.
    mutating func seal(_ buffer: inout ByteBuffer, packetStart: Int, sequenceNumber: UInt32) throws

    /// Checks and decrypts one whole packet (packet_length through tag), appending padding_length ‖ payload ‖
    /// padding to `output` (the caller reuses one buffer for every packet, so opening allocates nothing once warm).
    /// Throws `badMessageAuthenticationCode` if the tag is wrong; whatever it wrote then is never delivered.
    mutating func open(_ packet: UnsafeRawBufferPointer, sequenceNumber: UInt32, into output: inout ByteBuffer) throws
}

extension PacketProtection {
    /// `open(_:sequenceNumber:into:)` into a new buffer.
    mutating func open(_ packet: UnsafeRawBufferPointer, sequenceNumber: UInt32) throws -> ByteBuffer {
        var output = ByteBuffer()
        try open(packet, sequenceNumber: sequenceNumber, into: &output)
        return output
    }
}

/// Before the first NEWKEYS: no encryption, no MAC.
struct PlaintextProtection: PacketProtection {
    var blockSize: Int { 8 }
    var tagByteCount: Int { 0 }
    var lengthIsOutsideAlignment: Bool { false }
    var lengthPrefixByteCount: Int { 4 }

    func packetLength(prefix: UnsafeRawBufferPointer, sequenceNumber: UInt32) -> UInt32 {
        prefix.loadBigEndianUInt32(at: 0)
    }

    mutating func seal(_ buffer: inout ByteBuffer, packetStart: Int, sequenceNumber: UInt32) throws {}

    mutating func open(_ packet: UnsafeRawBufferPointer, sequenceNumber: UInt32, into output: inout ByteBuffer) throws {
        output.writeBytes(UnsafeRawBufferPointer(rebasing: packet[4...]))
    }
}

extension UnsafeRawBufferPointer {
    func loadBigEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16 | UInt32(self[offset + 2]) << 8 | UInt32(self[offset + 3])
    }
}

/// Compares secrets (tags) without an early exit (ARCHITECTURE convention 9).
func constantTimeEqual<A: Collection, B: Collection>(_ a: A, _ b: B) -> Bool where A.Element == UInt8, B.Element == UInt8 {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) { difference |= x ^ y }
    return difference == 0
}

func bigEndianBytes(_ value: UInt32) -> [UInt8] {
    [UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
     UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
}

extension SSHCipherAlgorithm {
    /// The protection for one direction, keyed from the derived keys (RFC 4253 §7.2).
    func makeProtection(key: [UInt8], iv: [UInt8], mac: SSHMACAlgorithm?, macKey: [UInt8]) throws -> any PacketProtection {
        switch self {
        case .chacha20Poly1305:
            return try ChaCha20Poly1305Protection(key: key)
        case .aes128GCM, .aes256GCM:
            return try AESGCMProtection(key: key, iv: iv)
        case .aes128CTR, .aes192CTR, .aes256CTR:
            guard let mac else { throw SSHProtocolError(.invalidState("\(rawValue) needs a MAC")) }
            return AESCTRHMACProtection(key: key, iv: iv, mac: mac, macKey: macKey)
        }
    }
}
