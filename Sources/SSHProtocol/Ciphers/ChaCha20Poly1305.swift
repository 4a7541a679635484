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
        // 64-bit big-endian sequence number, after the zero high word of the 64-bit block counter.
        // A 12-byte nonce always parses.
        (try? Insecure.ChaCha20CTR.Nonce(data: [0, 0, 0, 0, 0, 0, 0, 0] + bigEndianBytes(sequenceNumber)))
            ?? Insecure.ChaCha20CTR.Nonce()
    }

    private static func counter(_ block: UInt32) -> Insecure.ChaCha20CTR.Counter {
        (try? Insecure.ChaCha20CTR.Counter(offset: block)) ?? Insecure.ChaCha20CTR.Counter()
    }

    private func crypt<D: DataProtocol>(_ bytes: D, key: SymmetricKey, sequenceNumber: UInt32, block: UInt32) throws -> [UInt8] {
        Array(try Insecure.ChaCha20CTR.encrypt(bytes, using: key, counter: Self.counter(block), nonce: Self.nonce(sequenceNumber)))
    }

    private func polyKey(_ sequenceNumber: UInt32) throws -> [UInt8] {
        try crypt([UInt8](repeating: 0, count: 32), key: mainKey, sequenceNumber: sequenceNumber, block: 0)
    }

    func packetLength(prefix: UnsafeRawBufferPointer, sequenceNumber: UInt32) -> UInt32 {
        guard let clear = try? crypt(UnsafeRawBufferPointer(rebasing: prefix[0..<4]), key: headerKey, sequenceNumber: sequenceNumber, block: 0)
        else { return UInt32.max }
        return clear.withUnsafeBytes { $0.loadBigEndianUInt32(at: 0) }
    }

    mutating func seal(_ buffer: inout ByteBuffer, packetStart: Int, sequenceNumber: UInt32) throws {
        let end = buffer.writerIndex
        let (encryptedLength, encryptedBody) = try buffer.withUnsafeReadableBytes { all in
            let base = packetStart - buffer.readerIndex
            let length = UnsafeRawBufferPointer(rebasing: all[base..<(base + 4)])
            let body = UnsafeRawBufferPointer(rebasing: all[(base + 4)..<(end - buffer.readerIndex)])
            return (try crypt(length, key: headerKey, sequenceNumber: sequenceNumber, block: 0),
                    try crypt(body, key: mainKey, sequenceNumber: sequenceNumber, block: 1))
        }
        buffer.setBytes(encryptedLength, at: packetStart)
        buffer.setBytes(encryptedBody, at: packetStart + 4)
        guard var mac = Poly1305(key: try polyKey(sequenceNumber)) else { throw SSHProtocolError(.invalidState("Poly1305 key")) }
        mac.update(encryptedLength)
        mac.update(encryptedBody)
        buffer.writeBytes(mac.finalize())
    }

    mutating func open(_ packet: UnsafeRawBufferPointer, sequenceNumber: UInt32) throws -> ByteBuffer {
        let tagStart = packet.count - 16
        guard tagStart >= 4, var mac = Poly1305(key: try polyKey(sequenceNumber)) else {
            throw SSHProtocolError(.badMessageAuthenticationCode)
        }
        mac.update(UnsafeRawBufferPointer(rebasing: packet[0..<tagStart]))
        guard constantTimeEqual(mac.finalize(), packet[tagStart...]) else {
            throw SSHProtocolError(.badMessageAuthenticationCode)
        }
        let body = try crypt(UnsafeRawBufferPointer(rebasing: packet[4..<tagStart]), key: mainKey, sequenceNumber: sequenceNumber, block: 1)
        return ByteBuffer(bytes: body)
    }
}
