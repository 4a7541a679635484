// aes128-gcm@openssh.com and aes256-gcm@openssh.com (RFC 5647 §7, as OpenSSH names them): the 4-byte length is
// clear and authenticated as associated data; the 12-byte nonce is a 4-byte fixed field and a 64-bit invocation
// counter that grows by one per packet (RFC 5647 §7.1).
import Crypto
import FoundationEssentials
import NIOCore

struct AESGCMProtection: PacketProtection {
    private let key: SymmetricKey
    private let fixedField: [UInt8]
    private(set) var invocationCounter: UInt64

    init(key: [UInt8], iv: [UInt8]) throws {
        guard key.count == 16 || key.count == 32, iv.count == 12 else {
            throw SSHProtocolError(.invalidState("AES-GCM needs a 16 or 32 byte key and a 12 byte IV"))
        }
        self.key = SymmetricKey(data: key)
        fixedField = Array(iv[0..<4])
        invocationCounter = iv[4..<12].reduce(0) { $0 << 8 | UInt64($1) }
    }

    var blockSize: Int { 16 }
    var tagByteCount: Int { 16 }
    var lengthIsOutsideAlignment: Bool { true }
    var lengthPrefixByteCount: Int { 4 }

    /// The nonce for the next packet.
    var currentNonce: [UInt8] {
        fixedField + (0..<8).map { UInt8(truncatingIfNeeded: invocationCounter >> (56 - 8 * UInt64($0))) }
    }

    private func nonce() throws -> AES.GCM.Nonce { try AES.GCM.Nonce(data: currentNonce) }

    func packetLength(prefix: UnsafeRawBufferPointer, sequenceNumber: UInt32) -> UInt32 {
        prefix.loadBigEndianUInt32(at: 0)
    }

    mutating func seal(_ buffer: inout ByteBuffer, packetStart: Int, sequenceNumber: UInt32) throws {
        let nonce = try nonce()
        let box = try buffer.withUnsafeReadableBytes { all in
            let base = packetStart - buffer.readerIndex
            let length = UnsafeRawBufferPointer(rebasing: all[base..<(base + 4)])
            let body = UnsafeRawBufferPointer(rebasing: all[(base + 4)...])
            return try AES.GCM.seal(body, using: key, nonce: nonce, authenticating: length)
        }
        buffer.setBytes(box.ciphertext, at: packetStart + 4)
        buffer.writeBytes(box.tag)
        invocationCounter &+= 1
    }

    mutating func open(_ packet: UnsafeRawBufferPointer, sequenceNumber: UInt32) throws -> ByteBuffer {
        let tagStart = packet.count - 16
        guard tagStart >= 4 else { throw SSHProtocolError(.badMessageAuthenticationCode) }
        let plaintext: Data
        do {
            let box = try AES.GCM.SealedBox(
                nonce: try nonce(),
                ciphertext: UnsafeRawBufferPointer(rebasing: packet[4..<tagStart]),
                tag: UnsafeRawBufferPointer(rebasing: packet[tagStart...])
            )
            plaintext = try AES.GCM.open(box, using: key, authenticating: UnsafeRawBufferPointer(rebasing: packet[0..<4]))
        } catch {
            throw SSHProtocolError(.badMessageAuthenticationCode)
        }
        invocationCounter &+= 1
        return ByteBuffer(bytes: plaintext)
    }
}
