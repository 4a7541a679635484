// aes128/192/256-ctr (RFC 4344 §4: the whole 128-bit counter block increments as a big-endian integer and runs on
// across packets) with hmac-sha2-256/512 (RFC 6668). Plain MACs cover the sequence number and the unencrypted
// packet (RFC 4253 §6.4); the -etm@openssh.com forms (OpenSSH PROTOCOL §1.7) leave the length in the clear and
// MAC the sequence number, length and ciphertext, which is checked before anything is decrypted.
import Crypto
import FoundationEssentials
import CryptoExtras
import NIOCore

struct AESCTRHMACProtection: PacketProtection {
    private let key: SymmetricKey
    private var counter: [UInt8]
    private let mac: SSHMACAlgorithm
    private let macKey: SymmetricKey

    init(key: [UInt8], iv: [UInt8], mac: SSHMACAlgorithm, macKey: [UInt8]) {
        self.key = SymmetricKey(data: key)
        counter = iv
        self.mac = mac
        self.macKey = SymmetricKey(data: macKey)
    }

    var blockSize: Int { 16 }
    var tagByteCount: Int { mac.keyByteCount }
    var lengthIsOutsideAlignment: Bool { mac.isEncryptThenMAC }
    var lengthPrefixByteCount: Int { mac.isEncryptThenMAC ? 4 : 16 }

    /// Adds `blocks` to the 128-bit big-endian counter.
    private mutating func advance(by blocks: Int) {
        var carry = UInt64(blocks)
        for index in stride(from: 15, through: 0, by: -1) where carry != 0 {
            let sum = UInt64(counter[index]) + (carry & 0xFF)
            counter[index] = UInt8(truncatingIfNeeded: sum)
            carry = (carry >> 8) + (sum >> 8)
        }
    }

    private func crypt<D: DataProtocol>(_ bytes: D) throws -> Data {
        try AES._CTR.encrypt(bytes, using: key, nonce: AES._CTR.Nonce(nonceBytes: counter))
    }

    private func authenticationCode(sequenceNumber: UInt32, _ parts: UnsafeRawBufferPointer...) -> [UInt8] {
        let sequence = bigEndianBytes(sequenceNumber)
        switch mac {
        case .hmacSHA256, .hmacSHA256ETM:
            var hmac = HMAC<SHA256>(key: macKey)
            hmac.update(data: sequence)
            for part in parts { hmac.update(data: part) }
            return Array(hmac.finalize())
        case .hmacSHA512, .hmacSHA512ETM:
            var hmac = HMAC<SHA512>(key: macKey)
            hmac.update(data: sequence)
            for part in parts { hmac.update(data: part) }
            return Array(hmac.finalize())
        }
    }

    func packetLength(prefix: UnsafeRawBufferPointer, sequenceNumber: UInt32) -> UInt32 {
        if mac.isEncryptThenMAC { return prefix.loadBigEndianUInt32(at: 0) }
        guard let block = try? crypt(UnsafeRawBufferPointer(rebasing: prefix[0..<16])) else { return UInt32.max }
        return Array(block).withUnsafeBytes { $0.loadBigEndianUInt32(at: 0) }
    }

    mutating func seal(_ buffer: inout ByteBuffer, packetStart: Int, sequenceNumber: UInt32) throws {
        let encryptedStart = mac.isEncryptThenMAC ? packetStart + 4 : packetStart
        let (ciphertext, plainMAC) = try buffer.withUnsafeReadableBytes { all in
            let base = packetStart - buffer.readerIndex
            let packet = UnsafeRawBufferPointer(rebasing: all[base...])
            let region = UnsafeRawBufferPointer(rebasing: all[(encryptedStart - buffer.readerIndex)...])
            return (try crypt(region), mac.isEncryptThenMAC ? nil : authenticationCode(sequenceNumber: sequenceNumber, packet))
        }
        buffer.setBytes(ciphertext, at: encryptedStart)
        advance(by: ciphertext.count / 16)
        if let plainMAC {
            buffer.writeBytes(plainMAC)
        } else {
            let tag = buffer.withUnsafeReadableBytes { all in
                authenticationCode(sequenceNumber: sequenceNumber, UnsafeRawBufferPointer(rebasing: all[(packetStart - buffer.readerIndex)...]))
            }
            buffer.writeBytes(tag)
        }
    }

    mutating func open(_ packet: UnsafeRawBufferPointer, sequenceNumber: UInt32, into output: inout ByteBuffer) throws {
        let tagStart = packet.count - tagByteCount
        guard tagStart >= 4 else { throw SSHProtocolError(.badMessageAuthenticationCode) }
        let receivedTag = packet[tagStart...]
        if mac.isEncryptThenMAC {
            let expected = authenticationCode(sequenceNumber: sequenceNumber, UnsafeRawBufferPointer(rebasing: packet[0..<tagStart]))
            guard constantTimeEqual(expected, receivedTag) else { throw SSHProtocolError(.badMessageAuthenticationCode) }
            let plaintext = try crypt(UnsafeRawBufferPointer(rebasing: packet[4..<tagStart]))
            advance(by: plaintext.count / 16)
            plaintext.withUnsafeBytes { _ = output.writeBytes($0) }
            return
        }
        let plaintext = Array(try crypt(UnsafeRawBufferPointer(rebasing: packet[0..<tagStart])))
        let expected = plaintext.withUnsafeBytes { authenticationCode(sequenceNumber: sequenceNumber, $0) }
        guard constantTimeEqual(expected, receivedTag) else { throw SSHProtocolError(.badMessageAuthenticationCode) }
        advance(by: plaintext.count / 16)
        output.writeBytes(plaintext[4...])
    }
}
