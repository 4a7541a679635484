// Poly1305 one-time authenticator (RFC 8439 §2.5), needed for chacha20-poly1305@openssh.com: swift-crypto
// only exposes it inside its IETF AEAD, and OpenSSH's construction keys it differently (PROTOCOL.chacha20poly1305).
// Arithmetic modulo 2^130 - 5 in five 26-bit limbs, constant time (no branches or indexes on secret data).

/// Computes Poly1305 tags. A key must never authenticate two different messages.
public struct Poly1305: Sendable {
    public static let keyByteCount = 32
    public static let tagByteCount = 16

    private var r: (UInt32, UInt32, UInt32, UInt32, UInt32)
    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0)
    private let pad: (UInt32, UInt32, UInt32, UInt32)
    private var buffer = [UInt8](repeating: 0, count: 16)
    private var buffered = 0

    /// `key` is r (clamped here) followed by s, 32 bytes. Returns nil for any other length.
    public init?<Key: Collection>(key: Key) where Key.Element == UInt8 {
        let bytes = Array(key)
        guard bytes.count == Self.keyByteCount else { return nil }
        let t0 = Self.littleEndian32(bytes, 0), t1 = Self.littleEndian32(bytes, 4)
        let t2 = Self.littleEndian32(bytes, 8), t3 = Self.littleEndian32(bytes, 12)
        // Clamping (RFC 8439 §2.5.1) folded into the limb masks.
        r = (t0 & 0x3FF_FFFF,
             ((t0 >> 26) | (t1 << 6)) & 0x3FF_FF03,
             ((t1 >> 20) | (t2 << 12)) & 0x3FF_C0FF,
             ((t2 >> 14) | (t3 << 18)) & 0x3F0_3FFF,
             (t3 >> 8) & 0x00F_FFFF)
        pad = (Self.littleEndian32(bytes, 16), Self.littleEndian32(bytes, 20),
               Self.littleEndian32(bytes, 24), Self.littleEndian32(bytes, 28))
    }

    /// The tag of `message` under `key` in one call.
    public static func tag<Key: Collection, Message: Collection>(key: Key, message: Message) -> [UInt8]?
    where Key.Element == UInt8, Message.Element == UInt8 {
        guard var mac = Poly1305(key: key) else { return nil }
        mac.update(message)
        return mac.finalize()
    }

    public mutating func update<Message: Collection>(_ message: Message) where Message.Element == UInt8 {
        let done: Void? = message.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil { Array(message).withUnsafeBytes { update($0) } }
    }

    /// Whole 16-byte blocks are read straight from `message`; only a partial block is copied aside.
    public mutating func update(_ message: UnsafeRawBufferPointer) {
        var offset = 0
        if buffered > 0 {
            while buffered < 16 && offset < message.count {
                buffer[buffered] = message[offset]
                buffered += 1
                offset += 1
            }
            guard buffered == 16 else { return }
            buffer.withUnsafeBytes { processBlock($0, at: 0, highBit: 1 << 24) }
            buffered = 0
        }
        while message.count - offset >= 16 {
            processBlock(message, at: offset, highBit: 1 << 24)
            offset += 16
        }
        while offset < message.count {
            buffer[buffered] = message[offset]
            buffered += 1
            offset += 1
        }
    }

    public mutating func finalize() -> [UInt8] {
        if buffered > 0 {
            // A short final block gets a 1 byte after the message, and no high bit.
            var last = [UInt8](repeating: 0, count: 16)
            last[0..<buffered] = buffer[0..<buffered]
            last[buffered] = 1
            last.withUnsafeBytes { processBlock($0, at: 0, highBit: 0) }
        }
        // Fully carry h.
        var (h0, h1, h2, h3, h4) = h
        var c = h1 >> 26; h1 &= 0x3FF_FFFF
        h2 &+= c; c = h2 >> 26; h2 &= 0x3FF_FFFF
        h3 &+= c; c = h3 >> 26; h3 &= 0x3FF_FFFF
        h4 &+= c; c = h4 >> 26; h4 &= 0x3FF_FFFF
        h0 &+= c &* 5; c = h0 >> 26; h0 &= 0x3FF_FFFF
        h1 &+= c
        // g = h + -p; keep g if h >= p, without branching.
        var g0 = h0 &+ 5; c = g0 >> 26; g0 &= 0x3FF_FFFF
        var g1 = h1 &+ c; c = g1 >> 26; g1 &= 0x3FF_FFFF
        var g2 = h2 &+ c; c = g2 >> 26; g2 &= 0x3FF_FFFF
        var g3 = h3 &+ c; c = g3 >> 26; g3 &= 0x3FF_FFFF
        let g4 = h4 &+ c &- (1 << 26)
        let useG = (g4 >> 31) &- 1  // all ones when g4 did not go negative, i.e. h >= p
        let useH = ~useG
        h0 = (h0 & useH) | (g0 & useG)
        h1 = (h1 & useH) | (g1 & useG)
        h2 = (h2 & useH) | (g2 & useG)
        h3 = (h3 & useH) | (g3 & useG)
        h4 = (h4 & useH) | (g4 & useG)
        // h mod 2^128, plus s.
        let w0 = UInt64(h0 | (h1 << 26)) + UInt64(pad.0)
        let w1 = UInt64((h1 >> 6) | (h2 << 20)) + UInt64(pad.1) + (w0 >> 32)
        let w2 = UInt64((h2 >> 12) | (h3 << 14)) + UInt64(pad.2) + (w1 >> 32)
        let w3 = UInt64((h3 >> 18) | (h4 << 8)) + UInt64(pad.3) + (w2 >> 32)
        var tag: [UInt8] = []
        tag.reserveCapacity(16)
        for word in [w0, w1, w2, w3] {
            let value = UInt32(truncatingIfNeeded: word)
            tag += [UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8),
                    UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 24)]
        }
        return tag
    }

    /// h = (h + block) * r mod 2^130 - 5, with 64-bit products of 26-bit limbs.
    private mutating func processBlock(_ bytes: UnsafeRawBufferPointer, at offset: Int, highBit: UInt32) {
        let t0 = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        let t1 = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        let t2 = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self))
        let t3 = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
        let h0 = UInt64(h.0 &+ (t0 & 0x3FF_FFFF))
        let h1 = UInt64(h.1 &+ (((t0 >> 26) | (t1 << 6)) & 0x3FF_FFFF))
        let h2 = UInt64(h.2 &+ (((t1 >> 20) | (t2 << 12)) & 0x3FF_FFFF))
        let h3 = UInt64(h.3 &+ (((t2 >> 14) | (t3 << 18)) & 0x3FF_FFFF))
        let h4 = UInt64(h.4 &+ ((t3 >> 8) | highBit))
        let (r0, r1, r2, r3, r4) = (UInt64(r.0), UInt64(r.1), UInt64(r.2), UInt64(r.3), UInt64(r.4))
        let (s1, s2, s3, s4) = (r1 * 5, r2 * 5, r3 * 5, r4 * 5)
        let d0 = h0 * r0 + h1 * s4 + h2 * s3 + h3 * s2 + h4 * s1
        var d1 = h0 * r1 + h1 * r0 + h2 * s4 + h3 * s3 + h4 * s2
        var d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s4 + h4 * s3
        var d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s4
        var d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0
        var c = d0 >> 26
        var n0 = UInt32(truncatingIfNeeded: d0) & 0x3FF_FFFF
        d1 += c; c = d1 >> 26
        var n1 = UInt32(truncatingIfNeeded: d1) & 0x3FF_FFFF
        d2 += c; c = d2 >> 26
        let n2 = UInt32(truncatingIfNeeded: d2) & 0x3FF_FFFF
        d3 += c; c = d3 >> 26
        let n3 = UInt32(truncatingIfNeeded: d3) & 0x3FF_FFFF
        d4 += c; c = d4 >> 26
        let n4 = UInt32(truncatingIfNeeded: d4) & 0x3FF_FFFF
        n0 &+= UInt32(truncatingIfNeeded: c) &* 5
        let carry = n0 >> 26
        n0 &= 0x3FF_FFFF
        n1 &+= carry
        h = (n0, n1, n2, n3, n4)
    }

    private static func littleEndian32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }
}
