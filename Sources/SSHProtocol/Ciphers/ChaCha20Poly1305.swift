// chacha20-poly1305@openssh.com (OpenSSH PROTOCOL.chacha20poly1305): 64 bytes of key material, K_2 (first 32)
// for the packet and the Poly1305 key, K_1 (last 32) for the 4-byte length; the nonce is the sequence number.
// OpenSSH uses the original ChaCha20 (64-bit counter, 64-bit nonce); with counters below 2^32 that is the
// RFC 8439 layout with the nonce's first word zero, so swift-crypto's ChaCha20 serves.
import Crypto
import FoundationEssentials
import CryptoExtras
import NIOCore

struct ChaCha20Poly1305Protection: PacketProtection {
    private let mainKey: SymmetricKey
    private let headerKey: SymmetricKey

    init(key: [UInt8]) throws {
        guard key.count == 64 else { throw SSHProtocolError(.invalidState("chacha20-poly1305 needs 64 key bytes")) }
        mainKey = SymmetricKey(data: key[0..<32])
        headerKey = SymmetricKey(data: key[32..<64])
    }

    var blockSize: Int { 8 }
    var tagByteCount: Int { 16 }
    var lengthIsOutsideAlignment: Bool { true }
    var lengthPrefixByteCount: Int { 4 }

    private static func nonce(_ sequenceNumber: UInt32) -> Insecure.ChaCha20CTR.Nonce {
        // 64-bit big-endian sequence number, after the zero high word of the 64-bit block counter. Built on the
        // stack (three nonces per packet); a 12-byte nonce always parses.
        var words: (UInt64, UInt32) = (0, sequenceNumber.bigEndian)
        let nonce = withUnsafeBytes(of: &words) { try? Insecure.ChaCha20CTR.Nonce(data: UnsafeRawBufferPointer(rebasing: $0[0..<12])) }
        return nonce ?? Insecure.ChaCha20CTR.Nonce()
    }

    private static func counter(_ block: UInt32) -> Insecure.ChaCha20CTR.Counter {
        (try? Insecure.ChaCha20CTR.Counter(offset: block)) ?? Insecure.ChaCha20CTR.Counter()
    }

    private func crypt(_ bytes: UnsafeRawBufferPointer, key: SymmetricKey, sequenceNumber: UInt32, block: UInt32) throws -> Data {
        try Insecure.ChaCha20CTR.encrypt(bytes, using: key, counter: Self.counter(block), nonce: Self.nonce(sequenceNumber))
    }

    /// The packet's Poly1305 key: the first 32 bytes of the main key's keystream block 0.
    private func authenticator(_ sequenceNumber: UInt32) throws -> Poly1305 {
        let zeros: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let key = try withUnsafeBytes(of: zeros) { try crypt($0, key: mainKey, sequenceNumber: sequenceNumber, block: 0) }
        guard let mac = key.withUnsafeBytes({ Poly1305(key: $0) }) else { throw SSHProtocolError(.invalidState("Poly1305 key")) }
        return mac
    }

    func packetLength(prefix: UnsafeRawBufferPointer, sequenceNumber: UInt32) -> UInt32 {
        guard let clear = try? crypt(UnsafeRawBufferPointer(rebasing: prefix[0..<4]), key: headerKey, sequenceNumber: sequenceNumber, block: 0)
        else { return UInt32.max }
        return clear.withUnsafeBytes { $0.loadBigEndianUInt32(at: 0) }
    }

    /// Encrypts length and body where they are, then appends the tag over both (encrypt-then-MAC).
    mutating func seal(_ buffer: inout ByteBuffer, packetStart: Int, sequenceNumber: UInt32) throws {
        let end = buffer.writerIndex
        let (encryptedLength, encryptedBody) = try buffer.withUnsafeReadableBytes { all in
            let base = packetStart - buffer.readerIndex
            let length = UnsafeRawBufferPointer(rebasing: all[base..<(base + 4)])
            let body = UnsafeRawBufferPointer(rebasing: all[(base + 4)..<(end - buffer.readerIndex)])
            return (try crypt(length, key: headerKey, sequenceNumber: sequenceNumber, block: 0),
                    try crypt(body, key: mainKey, sequenceNumber: sequenceNumber, block: 1))
        }
        encryptedLength.withUnsafeBytes { _ = buffer.setBytes($0, at: packetStart) }
        encryptedBody.withUnsafeBytes { _ = buffer.setBytes($0, at: packetStart + 4) }
        var mac = try authenticator(sequenceNumber)
        buffer.withUnsafeReadableBytes { all in
            let base = packetStart - buffer.readerIndex
            mac.update(UnsafeRawBufferPointer(rebasing: all[base..<(end - buffer.readerIndex)]))
        }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Poly1305.tagByteCount) { tag in
            mac.finalize(into: tag)
            return Poly1305.tagByteCount
        }
    }

    /// Checks the tag before decrypting anything (a forged packet is never decrypted).
    mutating func open(_ packet: UnsafeRawBufferPointer, sequenceNumber: UInt32) throws -> ByteBuffer {
        let tagStart = packet.count - Poly1305.tagByteCount
        guard tagStart >= 4 else { throw SSHProtocolError(.badMessageAuthenticationCode) }
        var mac = try authenticator(sequenceNumber)
        mac.update(UnsafeRawBufferPointer(rebasing: packet[0..<tagStart]))
        var expected: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &expected) { mac.finalize(into: $0) }
        let matches = withUnsafeBytes(of: expected) { constantTimeEqual($0, packet[tagStart...]) }
        guard matches else { throw SSHProtocolError(.badMessageAuthenticationCode) }
        let body = try crypt(UnsafeRawBufferPointer(rebasing: packet[4..<tagStart]), key: mainKey, sequenceNumber: sequenceNumber, block: 1)
        var opened = ByteBufferAllocator().buffer(capacity: body.count)
        body.withUnsafeBytes { _ = opened.writeBytes($0) }
        return opened
    }
}
