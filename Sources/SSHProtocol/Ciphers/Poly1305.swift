// Poly1305 one-time authenticator (RFC 8439 §2.5), needed for chacha20-poly1305@openssh.com: swift-crypto
// only exposes it inside its IETF AEAD, and OpenSSH's construction keys it differently (PROTOCOL.chacha20poly1305).
// Arithmetic modulo 2^130 - 5 in three limbs of 44, 44 and 42 bits with 128-bit products: nine multiplications
// per 16-byte block instead of the 25 that 26-bit limbs need. Constant time: no branch or index on secret data.

/// The Poly1305 one-time authenticator (RFC 8439 §2.5), as chacha20-poly1305@openssh.com uses it.
///
/// A key must never authenticate two different messages. Feed a message in parts with `update(_:)` and `finalize()`, or use
/// ``tag(key:message:)`` for one call.
public struct Poly1305: Sendable {
    /// Bytes in a key: r followed by s.
    public static let keyByteCount = 32
    /// Bytes in a tag.
    public static let tagByteCount = 16

    private static let mask44: UInt64 = (1 << 44) - 1
    private static let mask42: UInt64 = (1 << 42) - 1

    private let r0, r1, r2: UInt64
    /// r1 and r2 times 20: a product of weight 2^132 = 2^130 · 4 folds back as 4 · 5.
    private let s1, s2: UInt64
    private var h0: UInt64 = 0, h1: UInt64 = 0, h2: UInt64 = 0
    private let padLow, padHigh: UInt64
    /// A partial block waiting for more input, little-endian in two words (no heap storage per tag).
    private var pendingLow: UInt64 = 0, pendingHigh: UInt64 = 0
    private var pendingCount = 0

    /// Starts a tag under `key`: r (clamped here) followed by s, 32 bytes. Returns nil for any other length.
    ///
    /// - Parameter key: The one-time key.
    public init?<Key: Collection>(key: Key) where Key.Element == UInt8 {
        guard key.count == Self.keyByteCount else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { destination in
            for (index, byte) in key.enumerated() { destination[index] = byte }
        }
        self.init(rLow: UInt64(littleEndian: words.0), rHigh: UInt64(littleEndian: words.1),
                  sLow: UInt64(littleEndian: words.2), sHigh: UInt64(littleEndian: words.3))
    }

    /// Starts a tag under `key`, which must hold exactly 32 bytes; nil for any other length.
    ///
    /// - Parameter key: The one-time key.
    public init?(key: UnsafeRawBufferPointer) {
        guard key.count == Self.keyByteCount else { return nil }
        self.init(rLow: key.loadLittleEndianUInt64(at: 0), rHigh: key.loadLittleEndianUInt64(at: 8),
                  sLow: key.loadLittleEndianUInt64(at: 16), sHigh: key.loadLittleEndianUInt64(at: 24))
    }

    private init(rLow: UInt64, rHigh: UInt64, sLow: UInt64, sHigh: UInt64) {
        // Clamping (RFC 8439 §2.5.1) folded into the limb masks.
        r0 = rLow & 0xFFC_0FFF_FFFF
        r1 = ((rLow >> 44) | (rHigh << 20)) & 0xFFF_FFC0_FFFF
        r2 = (rHigh >> 24) & 0x00F_FFFF_FC0F
        s1 = r1 &* 20
        s2 = r2 &* 20
        padLow = sLow
        padHigh = sHigh
    }

    /// The tag of `message` under `key` in one call.
    ///
    /// - Parameters:
    ///   - key: The one-time key, 32 bytes.
    ///   - message: The message.
    /// - Returns: The 16-byte tag, or nil when `key` is not 32 bytes.
    public static func tag<Key: Collection, Message: Collection>(key: Key, message: Message) -> [UInt8]?
    where Key.Element == UInt8, Message.Element == UInt8 {
        guard var mac = Poly1305(key: key) else { return nil }
        mac.update(message)
        return mac.finalize()
    }

    /// Adds the next part of the message.
    ///
    /// - Parameter message: The bytes, in message order.
    public mutating func update<Message: Collection>(_ message: Message) where Message.Element == UInt8 {
        let done: Void? = message.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil { Array(message).withUnsafeBytes { update($0) } }
    }

    /// Adds the next part of the message. Whole 16-byte blocks are read straight from `message`; only a partial
    /// block is set aside.
    ///
    /// - Parameter message: The bytes, in message order.
    public mutating func update(_ message: UnsafeRawBufferPointer) {
        var offset = 0
        if pendingCount > 0 {
            while pendingCount < 16 && offset < message.count {
                appendPending(message[offset])
                offset += 1
            }
            guard pendingCount == 16 else { return }
            absorb(low: pendingLow, high: pendingHigh, highBit: 1 << 40)
            (pendingLow, pendingHigh, pendingCount) = (0, 0, 0)
        }
        let wholeBlocks = (message.count - offset) / 16
        if wholeBlocks > 0 {
            absorbBlocks(message, from: offset, count: wholeBlocks)
            offset += wholeBlocks * 16
        }
        while offset < message.count {
            appendPending(message[offset])
            offset += 1
        }
    }

    /// Finishes the tag.
    ///
    /// - Returns: The 16-byte tag.
    public mutating func finalize() -> [UInt8] {
        var tag = [UInt8](repeating: 0, count: Self.tagByteCount)
        tag.withUnsafeMutableBytes { finalize(into: $0) }
        return tag
    }

    /// Writes the 16-byte tag to the start of `destination`.
    ///
    /// - Parameter destination: At least 16 bytes.
    public mutating func finalize(into destination: UnsafeMutableRawBufferPointer) {
        precondition(destination.count >= Self.tagByteCount, "a Poly1305 tag needs 16 bytes")
        if pendingCount > 0 {
            // A short final block gets a 1 byte after the message, and no high bit.
            appendPending(1)
            absorb(low: pendingLow, high: pendingHigh, highBit: 0)
        }
        let (mask44, mask42) = (Self.mask44, Self.mask42)
        // Fully carry h.
        var c = h1 >> 44; h1 &= mask44
        h2 &+= c; c = h2 >> 42; h2 &= mask42
        h0 &+= c &* 5; c = h0 >> 44; h0 &= mask44
        h1 &+= c; c = h1 >> 44; h1 &= mask44
        h2 &+= c; c = h2 >> 42; h2 &= mask42
        h0 &+= c &* 5; c = h0 >> 44; h0 &= mask44
        h1 &+= c
        // g = h + 5 - 2^130; keep g when h >= p, chosen by mask rather than by branch.
        var g0 = h0 &+ 5; c = g0 >> 44; g0 &= mask44
        var g1 = h1 &+ c; c = g1 >> 44; g1 &= mask44
        let g2 = h2 &+ c &- (1 << 42)
        let useG = (g2 >> 63) &- 1  // all ones when g2 did not go negative
        h0 = (h0 & ~useG) | (g0 & useG)
        h1 = (h1 & ~useG) | (g1 & useG)
        h2 = (h2 & ~useG) | (g2 & useG)
        // h mod 2^128, plus s.
        h0 &+= padLow & mask44; c = h0 >> 44; h0 &= mask44
        h1 &+= (((padLow >> 44) | (padHigh << 20)) & mask44) &+ c; c = h1 >> 44; h1 &= mask44
        h2 &+= ((padHigh >> 24) & mask42) &+ c; h2 &= mask42
        destination.storeBytes(of: (h0 | (h1 << 44)).littleEndian, toByteOffset: 0, as: UInt64.self)
        destination.storeBytes(of: ((h1 >> 20) | (h2 << 24)).littleEndian, toByteOffset: 8, as: UInt64.self)
    }

    private mutating func appendPending(_ byte: UInt8) {
        if pendingCount < 8 {
            pendingLow |= UInt64(byte) << (8 * pendingCount)
        } else {
            pendingHigh |= UInt64(byte) << (8 * (pendingCount - 8))
        }
        pendingCount += 1
    }

    private mutating func absorb(low: UInt64, high: UInt64, highBit: UInt64) {
        var (a0, a1, a2) = (h0, h1, h2)
        Self.multiply(&a0, &a1, &a2, low: low, high: high, highBit: highBit, r0: r0, r1: r1, r2: r2, s1: s1, s2: s2)
        (h0, h1, h2) = (a0, a1, a2)
    }

    /// `count` whole blocks from `bytes[offset...]`, with the accumulator held in locals for the whole run. Blocks go
    /// in pairs as h' = (h + m1)·r² + m2·r: the two products are independent, so the processor overlaps them, and
    /// the carry chain (the serial part) runs once per pair.
    private mutating func absorbBlocks(_ bytes: UnsafeRawBufferPointer, from offset: Int, count: Int) {
        var (a0, a1, a2) = (h0, h1, h2)
        let (r0, r1, r2, s1, s2) = (self.r0, self.r1, self.r2, self.s1, self.s2)
        var position = offset
        if count >= 2 {
            var (q0, q1, q2) = (r0, r1, r2)
            Self.multiply(&q0, &q1, &q2, low: 0, high: 0, highBit: 0, r0: r0, r1: r1, r2: r2, s1: s1, s2: s2)
            let (t1, t2) = (q1 &* 20, q2 &* 20)
            let (mask44, mask42) = (Self.mask44, Self.mask42)
            for _ in 0..<(count / 2) {
                let low1 = bytes.loadLittleEndianUInt64(at: position), high1 = bytes.loadLittleEndianUInt64(at: position + 8)
                let low2 = bytes.loadLittleEndianUInt64(at: position + 16), high2 = bytes.loadLittleEndianUInt64(at: position + 24)
                a0 &+= low1 & mask44
                a1 &+= ((low1 >> 44) | (high1 << 20)) & mask44
                a2 &+= ((high1 >> 24) & mask42) | (1 << 40)
                let b0 = low2 & mask44
                let b1 = ((low2 >> 44) | (high2 << 20)) & mask44
                let b2 = ((high2 >> 24) & mask42) | (1 << 40)
                let d0 = Self.product(a0, q0) &+ Self.product(a1, t2) &+ Self.product(a2, t1)
                    &+ Self.product(b0, r0) &+ Self.product(b1, s2) &+ Self.product(b2, s1)
                let d1 = Self.product(a0, q1) &+ Self.product(a1, q0) &+ Self.product(a2, t2)
                    &+ Self.product(b0, r1) &+ Self.product(b1, r0) &+ Self.product(b2, s2)
                let d2 = Self.product(a0, q2) &+ Self.product(a1, q1) &+ Self.product(a2, q0)
                    &+ Self.product(b0, r2) &+ Self.product(b1, r1) &+ Self.product(b2, r0)
                Self.carry(d0, d1, d2, into: &a0, &a1, &a2)
                position += 32
            }
        }
        if count % 2 == 1 {
            Self.multiply(&a0, &a1, &a2, low: bytes.loadLittleEndianUInt64(at: position),
                          high: bytes.loadLittleEndianUInt64(at: position + 8), highBit: 1 << 40,
                          r0: r0, r1: r1, r2: r2, s1: s1, s2: s2)
        }
        (h0, h1, h2) = (a0, a1, a2)
    }

    /// h = (h + block) · r mod 2^130 - 5, partially reduced (limbs may exceed their width by a little).
    @inline(__always)
    private static func multiply(_ h0: inout UInt64, _ h1: inout UInt64, _ h2: inout UInt64, low: UInt64, high: UInt64,
                                 highBit: UInt64, r0: UInt64, r1: UInt64, r2: UInt64, s1: UInt64, s2: UInt64) {
        h0 &+= low & mask44
        h1 &+= ((low >> 44) | (high << 20)) & mask44
        h2 &+= ((high >> 24) & mask42) | highBit
        let d0 = product(h0, r0) &+ product(h1, s2) &+ product(h2, s1)
        let d1 = product(h0, r1) &+ product(h1, r0) &+ product(h2, s2)
        let d2 = product(h0, r2) &+ product(h1, r1) &+ product(h2, r0)
        carry(d0, d1, d2, into: &h0, &h1, &h2)
    }

    /// Limbs of weight 2^0, 2^44 and 2^88 back to 44/44/42 bits (the top carry folds in times 5).
    @inline(__always)
    private static func carry(_ d0: Wide, _ d1: Wide, _ d2: Wide, into h0: inout UInt64, _ h1: inout UInt64, _ h2: inout UInt64) {
        var d1 = d1, d2 = d2
        var c = d0.shifted(44); h0 = d0.low & mask44
        d1.add(c); c = d1.shifted(44); h1 = d1.low & mask44
        d2.add(c); c = d2.shifted(42); h2 = d2.low & mask42
        h0 &+= c &* 5; c = h0 >> 44; h0 &= mask44
        h1 &+= c
    }

    @inline(__always)
    private static func product(_ a: UInt64, _ b: UInt64) -> Wide {
        let (high, low) = a.multipliedFullWidth(by: b)
        return Wide(high: high, low: low)
    }

    /// A 128-bit sum of products in two words. Not Swift's UInt128, whose operators are calls in a debug build
    /// (30× slower there); these are single machine operations either way.
    private struct Wide {
        var high: UInt64
        var low: UInt64

        @inline(__always)
        static func &+ (a: Wide, b: Wide) -> Wide {
            let low = a.low &+ b.low
            return Wide(high: a.high &+ b.high &+ (low < a.low ? 1 : 0), low: low)
        }

        @inline(__always)
        mutating func add(_ value: UInt64) {
            let sum = low &+ value
            high &+= sum < low ? 1 : 0
            low = sum
        }

        /// The value shifted right by `bits` (< 64), as long as it fits in 64 bits.
        @inline(__always)
        func shifted(_ bits: UInt64) -> UInt64 { (low >> bits) | (high << (64 - bits)) }
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    fileprivate func loadLittleEndianUInt64(at offset: Int) -> UInt64 {
        UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}
