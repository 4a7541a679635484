// Blowfish (B. Schneier, "Description of a New Variable-Length Key, 64-Bit Block Cipher
// (Blowfish)", Fast Software Encryption 1993) with the "expensive key schedule" of
// eksblowfish (N. Provos and D. Mazières, "A Future-Adaptable Password Scheme", USENIX 1999),
// in the form OpenBSD's blowfish.c offers it to bcrypt_pbkdf: Blowfish_expandstate and
// Blowfish_expand0state. Only encryption is needed here; bcrypt never decrypts.
//
// Key and salt bytes are consumed as a cyclic stream of big-endian 32-bit words: after the
// last byte the stream starts again at the first, and the position carries on from word to
// word (so a 5-byte key yields the words k0k1k2k3, k4k0k1k2, k3k4k0k1, ...).

/// Blowfish state: the 18-word P-array and the four 256-word S-boxes.
///
/// A value type; copying it copies the state (copy-on-write). Internal to SSHKeys: it
/// exists for `BcryptPBKDF`, not as a general-purpose cipher (ECB on 64-bit blocks).
internal struct Blowfish: Sendable {
    /// P[0] ... P[17].
    private(set) var p: [UInt32]
    /// S0, S1, S2, S3 back to back: S-box `b` entry `i` is `s[256 * b + i]`.
    private(set) var s: [UInt32]

    /// The initial state (hex digits of pi), before any key is mixed in.
    init() {
        p = BlowfishInitialState.p
        s = BlowfishInitialState.s
    }

    /// Standard Blowfish with `key` (1...56 bytes per the specification; up to 72 are used).
    init(key: [UInt8]) {
        self.init()
        expand(key: key)
    }

    /// Mixes `key` into the state (OpenBSD's `Blowfish_expand0state`): XOR the key stream into
    /// P, then repeatedly encrypt a running block, starting at zero, and store each result
    /// over the next two words of P and then of S0...S3.
    ///
    /// On the initial state this is the standard Blowfish key schedule. An empty key XORs
    /// nothing, which is the same as a key of zero bytes.
    mutating func expand(key: [UInt8]) {
        Self.xorKeyStream(key, into: &p)
        p.withUnsafeMutableBufferPointer { pBuffer in
            s.withUnsafeMutableBufferPointer { sBuffer in
                Self.regenerate(p: pBuffer.baseAddress!, s: sBuffer.baseAddress!, salt: nil)
            }
        }
    }

    /// Eksblowfish's salted key expansion (OpenBSD's `Blowfish_expandstate`): like
    /// `expand(key:)`, but before each encryption the next two words of the cyclic `salt`
    /// stream are XORed into the running block. An empty salt behaves as `expand(key:)`.
    mutating func expand(salt: [UInt8], key: [UInt8]) {
        Self.xorKeyStream(key, into: &p)
        p.withUnsafeMutableBufferPointer { pBuffer in
            s.withUnsafeMutableBufferPointer { sBuffer in
                if salt.isEmpty {
                    Self.regenerate(p: pBuffer.baseAddress!, s: sBuffer.baseAddress!, salt: nil)
                } else {
                    salt.withUnsafeBufferPointer { saltBuffer in
                        Self.regenerate(p: pBuffer.baseAddress!, s: sBuffer.baseAddress!, salt: saltBuffer)
                    }
                }
            }
        }
    }

    /// Encrypts the 64-bit block whose big-endian halves are `l` (left) and `r` (right).
    func encrypt(_ l: inout UInt32, _ r: inout UInt32) {
        p.withUnsafeBufferPointer { pBuffer in
            s.withUnsafeBufferPointer { sBuffer in
                Self.encipher(&l, &r, p: pBuffer.baseAddress!, s: sBuffer.baseAddress!)
            }
        }
    }

    /// Encrypts consecutive blocks held as word pairs: `words[2i]` is block i's left half,
    /// `words[2i + 1]` its right half (OpenBSD's `blf_enc`). A trailing odd word is left alone.
    func encrypt(blocks words: inout [UInt32]) {
        p.withUnsafeBufferPointer { pBuffer in
            s.withUnsafeBufferPointer { sBuffer in
                words.withUnsafeMutableBufferPointer { wordBuffer in
                    let pBase = pBuffer.baseAddress!, sBase = sBuffer.baseAddress!
                    var index = 0
                    while index &+ 1 < wordBuffer.count {
                        Self.encipher(&wordBuffer[index], &wordBuffer[index &+ 1], p: pBase, s: sBase)
                        index &+= 2
                    }
                }
            }
        }
    }

    /// Overwrites the state with zeros (best effort; the arrays are not reallocated).
    mutating func wipe() {
        p.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        s.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    // MARK: - Internals

    /// XORs the first 18 words of the cyclic big-endian word stream of `key` into P.
    private static func xorKeyStream(_ key: [UInt8], into p: inout [UInt32]) {
        guard !key.isEmpty else { return }
        key.withUnsafeBufferPointer { keyBuffer in
            p.withUnsafeMutableBufferPointer { pBuffer in
                var position = 0
                for i in 0..<18 {
                    pBuffer[i] ^= nextWord(keyBuffer, &position)
                }
            }
        }
    }

    /// The next big-endian word of the cyclic byte stream `bytes` (non-empty), starting at
    /// `position`, which is advanced and wrapped.
    @inline(__always)
    private static func nextWord(_ bytes: UnsafeBufferPointer<UInt8>, _ position: inout Int) -> UInt32 {
        let count = bytes.count
        var word: UInt32 = 0
        var index = position
        for _ in 0..<4 {
            if index >= count { index = 0 }
            word = (word &<< 8) | UInt32(bytes[index])
            index &+= 1
        }
        position = index
        return word
    }

    /// Encrypts a running block (from zero), optionally XORing salt words in first, and
    /// writes the results over P and then S, two words per encryption (521 encryptions).
    private static func regenerate(
        p: UnsafeMutablePointer<UInt32>,
        s: UnsafeMutablePointer<UInt32>,
        salt: UnsafeBufferPointer<UInt8>?
    ) {
        var l: UInt32 = 0
        var r: UInt32 = 0
        var saltPosition = 0
        var i = 0
        while i < 18 {
            if let salt {
                l ^= nextWord(salt, &saltPosition)
                r ^= nextWord(salt, &saltPosition)
            }
            encipher(&l, &r, p: p, s: s)
            p[i] = l
            p[i &+ 1] = r
            i &+= 2
        }
        i = 0
        while i < 1024 {
            if let salt {
                l ^= nextWord(salt, &saltPosition)
                r ^= nextWord(salt, &saltPosition)
            }
            encipher(&l, &r, p: p, s: s)
            s[i] = l
            s[i &+ 1] = r
            i &+= 2
        }
    }

    /// The 16-round Feistel network. Written out round by round with wrapping arithmetic,
    /// masking shifts and raw pointers: it runs ~2 million times for one ssh-keygen default
    /// (16-round) key derivation, and must stay usable in unoptimised debug builds.
    @inline(__always)
    private static func encipher(
        _ left: inout UInt32,
        _ right: inout UInt32,
        p: UnsafePointer<UInt32>,
        s: UnsafePointer<UInt32>
    ) {
        let s0 = s
        let s1 = s + 256
        let s2 = s + 512
        let s3 = s + 768
        var l = left
        var r = right

        l ^= p[0]
        r ^= (((s0[Int(l &>> 24)] &+ s1[Int((l &>> 16) & 0xFF)]) ^ s2[Int((l &>> 8) & 0xFF)]) &+ s3[Int(l & 0xFF)]) ^ p[1]
        l ^= (((s0[Int(r &>> 24)] &+ s1[Int((r &>> 16) & 0xFF)]) ^ s2[Int((r &>> 8) & 0xFF)]) &+ s3[Int(r & 0xFF)]) ^ p[2]
        r ^= (((s0[Int(l &>> 24)] &+ s1[Int((l &>> 16) & 0xFF)]) ^ s2[Int((l &>> 8) & 0xFF)]) &+ s3[Int(l & 0xFF)]) ^ p[3]
        l ^= (((s0[Int(r &>> 24)] &+ s1[Int((r &>> 16) & 0xFF)]) ^ s2[Int((r &>> 8) & 0xFF)]) &+ s3[Int(r & 0xFF)]) ^ p[4]
        r ^= (((s0[Int(l &>> 24)] &+ s1[Int((l &>> 16) & 0xFF)]) ^ s2[Int((l &>> 8) & 0xFF)]) &+ s3[Int(l & 0xFF)]) ^ p[5]
        l ^= (((s0[Int(r &>> 24)] &+ s1[Int((r &>> 16) & 0xFF)]) ^ s2[Int((r &>> 8) & 0xFF)]) &+ s3[Int(r & 0xFF)]) ^ p[6]
        r ^= (((s0[Int(l &>> 24)] &+ s1[Int((l &>> 16) & 0xFF)]) ^ s2[Int((l &>> 8) & 0xFF)]) &+ s3[Int(l & 0xFF)]) ^ p[7]
        l ^= (((s0[Int(r &>> 24)] &+ s1[Int((r &>> 16) & 0xFF)]) ^ s2[Int((r &>> 8) & 0xFF)]) &+ s3[Int(r & 0xFF)]) ^ p[8]
        r ^= (((s0[Int(l &>> 24)] &+ s1[Int((l &>> 16) & 0xFF)]) ^ s2[Int((l &>> 8) & 0xFF)]) &+ s3[Int(l & 0xFF)]) ^ p[9]
        l ^= (((s0[Int(r &>> 24)] &+ s1[Int((r &>> 16) & 0xFF)]) ^ s2[Int((r &>> 8) & 0xFF)]) &+ s3[Int(r & 0xFF)]) ^ p[10]
        r ^= (((s0[Int(l &>> 24)] &+ s1[Int((l &>> 16) & 0xFF)]) ^ s2[Int((l &>> 8) & 0xFF)]) &+ s3[Int(l & 0xFF)]) ^ p[11]
        l ^= (((s0[Int(r &>> 24)] &+ s1[Int((r &>> 16) & 0xFF)]) ^ s2[Int((r &>> 8) & 0xFF)]) &+ s3[Int(r & 0xFF)]) ^ p[12]
        r ^= (((s0[Int(l &>> 24)] &+ s1[Int((l &>> 16) & 0xFF)]) ^ s2[Int((l &>> 8) & 0xFF)]) &+ s3[Int(l & 0xFF)]) ^ p[13]
        l ^= (((s0[Int(r &>> 24)] &+ s1[Int((r &>> 16) & 0xFF)]) ^ s2[Int((r &>> 8) & 0xFF)]) &+ s3[Int(r & 0xFF)]) ^ p[14]
        r ^= (((s0[Int(l &>> 24)] &+ s1[Int((l &>> 16) & 0xFF)]) ^ s2[Int((l &>> 8) & 0xFF)]) &+ s3[Int(l & 0xFF)]) ^ p[15]
        l ^= (((s0[Int(r &>> 24)] &+ s1[Int((r &>> 16) & 0xFF)]) ^ s2[Int((r &>> 8) & 0xFF)]) &+ s3[Int(r & 0xFF)]) ^ p[16]
        r ^= p[17]

        // The halves swap on output.
        left = r
        right = l
    }
}
