// Poly1305 known answers: RFC 8439 §2.5.2, edge cases that exercise the final reduction (in the style of
// RFC 8439 appendix A.3), and messages of every block-boundary length. Expected tags from RFC 8439 and from
// pyca/cryptography's Poly1305 (OpenSSL), recorded here.

import SSHProtocol
import Testing

private func bytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    func nibble(_ c: UInt8) -> UInt8 { c <= UInt8(ascii: "9") ? c - UInt8(ascii: "0") : c - UInt8(ascii: "a") + 10 }
    return stride(from: 0, to: digits.count, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
}

@Suite("Poly1305 (RFC 8439)", .timeLimit(.minutes(10)))
struct Poly1305Tests {
    @Test("RFC 8439 §2.5.2")
    func rfcVector() {
        let key = bytes("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
        #expect(Poly1305.tag(key: key, message: Array("Cryptographic Forum Research Group".utf8)) == bytes("a8061dc1305136c6c22b8baf0c0127a9"))
    }

    @Test("reduction edge cases", arguments: [
        ("02" + String(repeating: "00", count: 31), String(repeating: "ff", count: 16), "03000000000000000000000000000000"),
        ("02" + String(repeating: "00", count: 15) + String(repeating: "ff", count: 16), "02" + String(repeating: "00", count: 15), "03000000000000000000000000000000"),
        ("01" + String(repeating: "00", count: 31), String(repeating: "ff", count: 16) + "f0" + String(repeating: "ff", count: 15) + "11" + String(repeating: "00", count: 15), "05000000000000000000000000000000"),
        ("01" + String(repeating: "00", count: 31), String(repeating: "ff", count: 16) + "fb" + String(repeating: "fe", count: 15) + String(repeating: "01", count: 16), "00000000000000000000000000000000"),
        ("02" + String(repeating: "00", count: 31), "fd" + String(repeating: "ff", count: 15), "faffffffffffffffffffffffffffffff"),
        (String(repeating: "ff", count: 32), String(repeating: "ff", count: 64), "900fe32bc15fa8d7bca8efe4c7e37eb1"),
    ])
    func edges(key: String, message: String, tag: String) {
        #expect(Poly1305.tag(key: bytes(key), message: bytes(message)) == bytes(tag))
    }

    /// Key byte i = (7i + n) mod 256, message byte i = (13i + n) mod 256, for message length n.
    @Test("every block-boundary length, one call, byte-by-byte and in uneven chunks", arguments: [
        (0, "70777e858c939aa1a8afb6bdc4cbd2d9"), (1, "7c81969bafd4eacfe3283f14287d9348"), (15, "0de61e1489730dd1b0aa4ca1b28247f8"),
        (16, "25b93fbd5b23855acec7ffbba7996e44"), (17, "59ccc7d325b55792b73ee28d3ad259b6"), (31, "4eed0046bab89a8504d2ea2b205c02de"),
        (32, "2e9723811fefa9aa46c14b20ab3df006"), (33, "c2aff6a51a9a804f1593613e496306ae"), (64, "23eefa24d15522f4e3602924469f27fa"),
        (100, "21b2f9f3acb22795bac350a138335ff9"), (1000, "c339552c5fcbd05c6d26e68fafd6cb4a"),
    ])
    func lengths(length: Int, tag: String) {
        let key = (0..<32).map { UInt8(($0 * 7 + length) % 256) }
        let message = (0..<length).map { UInt8(($0 * 13 + length) % 256) }
        #expect(Poly1305.tag(key: key, message: message) == bytes(tag))
        guard var incremental = Poly1305(key: key) else { Issue.record("key refused"); return }
        for byte in message { incremental.update([byte]) }
        #expect(incremental.finalize() == bytes(tag))
        // Uneven chunks: a partial block carried into whole blocks read in place, and back.
        for chunkSize in [5, 23, 48] {
            guard var chunked = Poly1305(key: key) else { Issue.record("key refused"); return }
            var offset = 0
            while offset < message.count {
                chunked.update(message[offset..<min(offset + chunkSize, message.count)])
                offset += chunkSize
            }
            #expect(chunked.finalize() == bytes(tag), "chunks of \(chunkSize)")
        }
    }

    @Test("a key of the wrong length is refused")
    func keyLength() {
        #expect(Poly1305(key: [UInt8](repeating: 1, count: 31)) == nil)
        #expect(Poly1305.tag(key: [UInt8](repeating: 1, count: 33), message: [1]) == nil)
    }
}
