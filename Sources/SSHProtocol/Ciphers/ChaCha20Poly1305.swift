// chacha20-poly1305@openssh.com (OpenSSH PROTOCOL.chacha20poly1305): 64 bytes of key material, K_2 (first 32)
// for the packet and the Poly1305 key, K_1 (last 32) for the 4-byte length; the nonce is the sequence number.
// OpenSSH uses the original ChaCha20 (64-bit counter, 64-bit nonce); with counters below 2^32 that is libcrypto's
// layout (32-bit counter, 96-bit nonce) with the nonce's first word zero. Encrypted in place (LibcryptoCipher).
import NIOCore

struct ChaCha20Poly1305Protection: PacketProtection {
    private let main: LibcryptoCipher
    private let header: LibcryptoCipher

    init(key: [UInt8]) throws {
        guard key.count == 64 else { throw SSHProtocolError(.invalidState("chacha20-poly1305 needs 64 key bytes")) }
        main = try LibcryptoCipher(.chacha20, key: Array(key[0..<32]), encrypting: true)
        header = try LibcryptoCipher(.chacha20, key: Array(key[32..<64]), encrypting: true)
    }

    var blockSize: Int { 8 }
    var tagByteCount: Int { 16 }
    var lengthIsOutsideAlignment: Bool { true }
    var lengthPrefixByteCount: Int { 4 }

    /// Starts `cipher` at keystream block `block` of packet `sequenceNumber`: the block counter little-endian, then
    /// the sequence number as a 64-bit big-endian nonce.
    private static func start(_ cipher: LibcryptoCipher, sequenceNumber: UInt32, block: UInt32) throws {
        let iv: (UInt32, UInt32, UInt32, UInt32) = (block.littleEndian, 0, 0, sequenceNumber.bigEndian)
        try withUnsafeBytes(of: iv) { try cipher.start(iv: $0) }
    }

    /// The packet's Poly1305 key: the first 32 bytes of the main key's keystream block 0.
    private func authenticator(_ sequenceNumber: UInt32) throws -> Poly1305 {
        try Self.start(main, sequenceNumber: sequenceNumber, block: 0)
        var key: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        try withUnsafeMutableBytes(of: &key) { try main.update(UnsafeRawBufferPointer($0), into: $0) }
        guard let mac = withUnsafeBytes(of: key, { Poly1305(key: $0) }) else { throw SSHProtocolError(.invalidState("Poly1305 key")) }
        return mac
    }

    func packetLength(prefix: UnsafeRawBufferPointer, sequenceNumber: UInt32) -> UInt32 {
        var length: UInt32 = 0
        do {
            try Self.start(header, sequenceNumber: sequenceNumber, block: 0)
            try withUnsafeMutableBytes(of: &length) { try header.update(UnsafeRawBufferPointer(rebasing: prefix[0..<4]), into: $0) }
        } catch {
            return UInt32.max
        }
        return UInt32(bigEndian: length)
    }

    /// Encrypts length and body where they are, then appends the tag over both (encrypt-then-MAC).
    mutating func seal(_ buffer: inout ByteBuffer, packetStart: Int, sequenceNumber: UInt32) throws {
        var mac = try authenticator(sequenceNumber)
        let (start, end) = (packetStart - buffer.readerIndex, buffer.writerIndex - buffer.readerIndex)
        try buffer.withUnsafeMutableReadableBytes { all in
            let length = UnsafeMutableRawBufferPointer(rebasing: all[start..<(start + 4)])
            let body = UnsafeMutableRawBufferPointer(rebasing: all[(start + 4)..<end])
            try Self.start(header, sequenceNumber: sequenceNumber, block: 0)
            try header.update(UnsafeRawBufferPointer(length), into: length)
            try Self.start(main, sequenceNumber: sequenceNumber, block: 1)
            try main.update(UnsafeRawBufferPointer(body), into: body)
            mac.update(UnsafeRawBufferPointer(rebasing: all[start..<end]))
        }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Poly1305.tagByteCount) { tag in
            mac.finalize(into: tag)
            return Poly1305.tagByteCount
        }
    }

    /// Checks the tag before decrypting anything (a forged packet is never decrypted).
    mutating func open(_ packet: UnsafeRawBufferPointer, sequenceNumber: UInt32, into plaintext: inout ByteBuffer) throws {
        let tagStart = packet.count - Poly1305.tagByteCount
        guard tagStart >= 4 else { throw SSHProtocolError(.badMessageAuthenticationCode) }
        var mac = try authenticator(sequenceNumber)
        mac.update(UnsafeRawBufferPointer(rebasing: packet[0..<tagStart]))
        var expected: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &expected) { mac.finalize(into: $0) }
        let matches = withUnsafeBytes(of: expected) { constantTimeEqual($0, packet[tagStart...]) }
        guard matches else { throw SSHProtocolError(.badMessageAuthenticationCode) }
        let ciphertext = UnsafeRawBufferPointer(rebasing: packet[4..<tagStart])
        try Self.start(main, sequenceNumber: sequenceNumber, block: 1)
        try plaintext.writeWithUnsafeMutableBytes(minimumWritableBytes: ciphertext.count) { output in
            try main.update(ciphertext, into: output)
            return ciphertext.count
        }
    }
}
