// aes128-gcm@openssh.com and aes256-gcm@openssh.com (RFC 5647 §7, as OpenSSH names them): the 4-byte length is
// clear and authenticated as associated data; the 12-byte nonce is a 4-byte fixed field and a 64-bit invocation
// counter that grows by one per packet (RFC 5647 §7.1). Encrypted in place with libcrypto (LibcryptoCipher).
import NIOCore

struct AESGCMProtection: PacketProtection {
    private let kind: LibcryptoCipher.Kind
    private let key: [UInt8]
    /// The fixed field as it sits in memory (the nonce's first four bytes).
    private let fixedField: UInt32
    private(set) var invocationCounter: UInt64
    /// Made on first use: a protection only ever seals (our direction) or opens (the peer's).
    private var sealer: LibcryptoCipher?
    private var opener: LibcryptoCipher?

    init(key: [UInt8], iv: [UInt8]) throws {
        guard key.count == 16 || key.count == 32, iv.count == 12 else {
            throw SSHProtocolError(.invalidState("AES-GCM needs a 16 or 32 byte key and a 12 byte IV"))
        }
        kind = key.count == 16 ? .aes128GCM : .aes256GCM
        self.key = key
        fixedField = iv.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        invocationCounter = iv[4..<12].reduce(0) { $0 << 8 | UInt64($1) }
    }

    var blockSize: Int { 16 }
    var tagByteCount: Int { 16 }
    var lengthIsOutsideAlignment: Bool { true }
    var lengthPrefixByteCount: Int { 4 }

    /// The nonce for the next packet.
    var currentNonce: [UInt8] { withNonce { Array($0) } }

    private func withNonce<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        let nonce = (fixedField, UInt32(truncatingIfNeeded: invocationCounter >> 32).bigEndian,
                     UInt32(truncatingIfNeeded: invocationCounter).bigEndian)
        return try withUnsafeBytes(of: nonce) { try body($0) }
    }

    func packetLength(prefix: UnsafeRawBufferPointer, sequenceNumber: UInt32) -> UInt32 {
        prefix.loadBigEndianUInt32(at: 0)
    }

    mutating func seal(_ buffer: inout ByteBuffer, packetStart: Int, sequenceNumber: UInt32) throws {
        if sealer == nil { sealer = try LibcryptoCipher(kind, key: key, encrypting: true) }
        guard let sealer else { throw SSHProtocolError(.invalidState("no AES-GCM context to seal with")) }
        try withNonce { try sealer.start(iv: $0) }
        let (start, end) = (packetStart - buffer.readerIndex, buffer.writerIndex - buffer.readerIndex)
        buffer.reserveCapacity(minimumWritableBytes: 16)  // room for the tag before encrypting
        try buffer.withUnsafeMutableReadableBytes { all in
            let length = UnsafeRawBufferPointer(rebasing: all[start..<(start + 4)])
            let body = UnsafeMutableRawBufferPointer(rebasing: all[(start + 4)..<end])
            try sealer.authenticate(length)
            try sealer.update(UnsafeRawBufferPointer(body), into: body)
        }
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 16) { tag in
            try sealer.finishSealing(tag: tag)
            return 16
        }
        invocationCounter &+= 1
    }

    mutating func open(_ packet: UnsafeRawBufferPointer, sequenceNumber: UInt32, into plaintext: inout ByteBuffer) throws {
        let tagStart = packet.count - 16
        guard tagStart >= 4 else { throw SSHProtocolError(.badMessageAuthenticationCode) }
        if opener == nil { opener = try LibcryptoCipher(kind, key: key, encrypting: false) }
        guard let opener else { throw SSHProtocolError(.badMessageAuthenticationCode) }
        try withNonce { try opener.start(iv: $0) }
        try opener.authenticate(UnsafeRawBufferPointer(rebasing: packet[0..<4]))
        let ciphertext = UnsafeRawBufferPointer(rebasing: packet[4..<tagStart])
        try plaintext.writeWithUnsafeMutableBytes(minimumWritableBytes: ciphertext.count) { output in
            try opener.update(ciphertext, into: output)
            return ciphertext.count
        }
        // Decrypted into a buffer that is never delivered unless the tag is right.
        guard opener.finishOpening(tag: UnsafeRawBufferPointer(rebasing: packet[tagStart...])) else {
            throw SSHProtocolError(.badMessageAuthenticationCode)
        }
        invocationCounter &+= 1
    }
}
