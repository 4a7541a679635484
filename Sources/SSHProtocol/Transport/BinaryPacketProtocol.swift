// The binary packet protocol, RFC 4253 §6: packet_length ‖ padding_length ‖ payload ‖ random padding ‖ MAC,
// padding of 4 to 255 bytes aligning the encrypted region to the cipher's block size (at least 8), sequence
// numbers counted per direction from 0 and wrapping at 2^32 (§6.4), reset at NEWKEYS under strict KEX.
import NIOCore

/// Limits on packets we accept.
enum PacketLimits {
    /// OpenSSH's PACKET_MAX_SIZE: the largest packet_length we accept once keys are in use.
    static let maximumPacketLength: UInt32 = 256 * 1024
    /// RFC 4253 §6.1: before the first NEWKEYS a packet (all fields and MAC) must fit in 35 000 bytes, which holds
    /// every KEXINIT and key exchange reply we know with room to spare.
    static let maximumInitialPacketSize: UInt32 = 35_000
}

/// Frames and protects outgoing packets for one direction.
struct PacketSealer {
    var protection: any PacketProtection = PlaintextProtection()
    var sequenceNumber: UInt32 = 0
    /// Counters for rekeying by volume, since the last key change.
    var bytesSinceKeyChange: UInt64 = 0
    var packetsSinceKeyChange: UInt64 = 0
    /// Set when the sequence number wrapped (fatal under strict KEX before the first NEWKEYS).
    var wrapped = false

    mutating func seal(payload: ByteBuffer, into output: inout ByteBuffer) throws {
        // Everything before was handed out (takeOutbound): start over in the same storage if nobody holds it.
        if output.readableBytes == 0 && output.writerIndex > 0 { output.clear() }
        let blockSize = protection.blockSize
        let payloadLength = payload.readableBytes
        let alignedLength = (protection.lengthIsOutsideAlignment ? 0 : 4) + 1 + payloadLength
        var paddingLength = blockSize - alignedLength % blockSize
        if paddingLength < 4 { paddingLength += blockSize }
        let packetLength = 1 + payloadLength + paddingLength

        output.reserveCapacity(minimumWritableBytes: 4 + packetLength + protection.tagByteCount)
        let packetStart = output.writerIndex
        output.writeInteger(UInt32(packetLength))
        output.writeInteger(UInt8(paddingLength))
        var payload = payload
        output.writeBuffer(&payload)
        // RFC 4253 §6: arbitrary-length random padding.
        var generator = SystemRandomNumberGenerator()
        var remaining = paddingLength
        while remaining > 0 {
            let word = generator.next() as UInt64
            let count = min(remaining, 8)
            withUnsafeBytes(of: word) { _ = output.writeBytes(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            remaining -= count
        }
        try protection.seal(&output, packetStart: packetStart, sequenceNumber: sequenceNumber)
        bytesSinceKeyChange &+= UInt64(4 + packetLength)
        packetsSinceKeyChange &+= 1
        sequenceNumber &+= 1
        if sequenceNumber == 0 { wrapped = true }
    }

    mutating func changeKeys(to protection: any PacketProtection, resetSequenceNumber: Bool) {
        self.protection = protection
        if resetSequenceNumber { sequenceNumber = 0 }
        bytesSinceKeyChange = 0
        packetsSinceKeyChange = 0
    }
}

/// Reads, checks and unprotects incoming packets for one direction.
struct PacketOpener {
    var protection: any PacketProtection = PlaintextProtection()
    var sequenceNumber: UInt32 = 0
    var bytesSinceKeyChange: UInt64 = 0
    var packetsSinceKeyChange: UInt64 = 0
    var wrapped = false
    /// Until the first NEWKEYS, the stricter RFC 4253 §6.1 size limit applies.
    var keysInUse = false
    /// packet_length of the packet being received, once its prefix has been read.
    private var pendingLength: UInt32?
    /// Where packets are opened. Reused while the previous payload has been let go (its storage is then unique
    /// again); a payload still held elsewhere makes `clear()` start fresh storage, so nobody's bytes change.
    private var plaintextStorage = ByteBuffer()

    /// Takes one packet's payload from `input`, or returns nil if more bytes are needed.
    mutating func openPacket(from input: inout ByteBuffer) throws -> ByteBuffer? {
        let tagLength = protection.tagByteCount
        let length: UInt32
        if let pendingLength {
            length = pendingLength
        } else {
            let prefixLength = protection.lengthPrefixByteCount
            guard input.readableBytes >= prefixLength else { return nil }
            length = input.withUnsafeReadableBytes {
                protection.packetLength(prefix: UnsafeRawBufferPointer(rebasing: $0[0..<prefixLength]), sequenceNumber: sequenceNumber)
            }
            try check(length: length)
            pendingLength = length
        }
        let total = 4 + Int(length) + tagLength
        guard input.readableBytes >= total else { return nil }
        let sequence = sequenceNumber
        plaintextStorage.clear()
        try input.withUnsafeReadableBytes { bytes in
            try protection.open(UnsafeRawBufferPointer(rebasing: bytes[0..<total]), sequenceNumber: sequence, into: &plaintextStorage)
        }
        var plaintext = plaintextStorage
        input.moveReaderIndex(forwardBy: total)
        pendingLength = nil
        sequenceNumber &+= 1
        if sequenceNumber == 0 { wrapped = true }
        bytesSinceKeyChange &+= UInt64(4 + length)
        packetsSinceKeyChange &+= 1

        guard let paddingLength = plaintext.readInteger(as: UInt8.self),
              paddingLength >= 4, Int(paddingLength) < plaintext.readableBytes
        else { throw SSHProtocolError(.protocolViolation("invalid padding length in a packet of \(length) bytes")) }
        let payloadLength = plaintext.readableBytes - Int(paddingLength)
        // RFC 4253 §6: a packet carries at least a message number.
        guard payloadLength >= 1, let payload = plaintext.readSlice(length: payloadLength) else {
            throw SSHProtocolError(.protocolViolation("empty packet"))
        }
        return payload
    }

    private func check(length: UInt32) throws {
        let maximum = keysInUse ? PacketLimits.maximumPacketLength
            : PacketLimits.maximumInitialPacketSize - 4 - UInt32(protection.tagByteCount)
        // At least padding_length and four bytes of padding, and the encrypted region a whole number of blocks.
        guard length >= 5, length <= maximum else { throw SSHProtocolError(.badPacketLength(length)) }
        let aligned = Int(length) + (protection.lengthIsOutsideAlignment ? 0 : 4)
        guard aligned % protection.blockSize == 0 else { throw SSHProtocolError(.badPacketLength(length)) }
    }

    mutating func changeKeys(to protection: any PacketProtection, resetSequenceNumber: Bool) {
        self.protection = protection
        if resetSequenceNumber { sequenceNumber = 0 }
        bytesSinceKeyChange = 0
        packetsSinceKeyChange = 0
        keysInUse = true
    }
}
