// RFC 4251 §5 encodings, including the mpint examples the RFC itself gives, and every malformed case
// a peer could send: all must throw (never trap) and leave the reader where it was.

import NIOCore
import SSHWire
import Testing

private func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

@Suite("SSH wire types (RFC 4251 §5)", .timeLimit(.minutes(10)))
struct SSHWireTests {
    @Test("integers and booleans round-trip big-endian")
    func integers() throws {
        var out = ByteBuffer()
        out.writeSSHByte(0xAB)
        out.writeSSHBoolean(true)
        out.writeSSHBoolean(false)
        out.writeSSHUInt32(0x0102_0304)
        out.writeSSHUInt64(0x0102_0304_0506_0708)
        #expect(Array(out.readableBytesView) == [0xAB, 1, 0, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try out.readSSHByte() == 0xAB)
        #expect(try out.readSSHBoolean() == true)
        #expect(try out.readSSHBoolean() == false)
        #expect(try out.readSSHUInt32() == 0x0102_0304)
        #expect(try out.readSSHUInt64() == 0x0102_0304_0506_0708)
        #expect(out.readableBytes == 0)
    }

    @Test("any non-zero boolean byte is TRUE")
    func booleanNonZero() throws {
        var input = buffer([0x02])
        #expect(try input.readSSHBoolean() == true)
    }

    @Test("strings carry arbitrary bytes and text")
    func strings() throws {
        var out = ByteBuffer()
        out.writeSSHString("testing")
        out.writeSSHString([UInt8]())
        out.writeSSHString([0x00, 0xFF])
        #expect(Array(out.readableBytesView.prefix(11)) == [0, 0, 0, 7] + Array("testing".utf8))
        #expect(try out.readSSHUTF8String() == "testing")
        #expect(try out.readSSHStringBytes() == [])
        #expect(try out.readSSHStringBytes() == [0x00, 0xFF])
    }

    @Test("RFC 4251 §5 mpint examples encode exactly")
    func mpintExamples() throws {
        func encoded(_ magnitude: [UInt8]) -> [UInt8] {
            var out = ByteBuffer()
            out.writeSSHUnsignedMPInt(magnitude)
            return Array(out.readableBytesView)
        }
        #expect(encoded([]) == [0, 0, 0, 0])
        #expect(encoded([0, 0]) == [0, 0, 0, 0])
        #expect(encoded([0x09, 0xA3, 0x78, 0xF9, 0xB2, 0xE3, 0x32, 0xA7])
            == [0, 0, 0, 8, 0x09, 0xA3, 0x78, 0xF9, 0xB2, 0xE3, 0x32, 0xA7])
        #expect(encoded([0x80]) == [0, 0, 0, 2, 0x00, 0x80])
        // Negative examples from the RFC decode as written (two's complement bytes).
        var negative = buffer([0, 0, 0, 2, 0xED, 0xCC])
        #expect(try negative.readSSHMPIntBytes() == [0xED, 0xCC])
        var deadbeef = buffer([0, 0, 0, 5, 0xFF, 0x21, 0x52, 0x41, 0x11])
        #expect(try deadbeef.readSSHMPIntBytes() == [0xFF, 0x21, 0x52, 0x41, 0x11])
        var positive = buffer([0, 0, 0, 2, 0x00, 0x80])
        #expect(try positive.readSSHUnsignedMPInt() == [0x80])
    }

    @Test("non-minimal, negative and oversized mpints are refused", arguments: [
        ([0, 0, 0, 1, 0x00] as [UInt8], "zero written as one byte"),
        ([0, 0, 0, 2, 0x00, 0x7F], "redundant leading zero"),
        ([0, 0, 0, 2, 0xFF, 0x80], "redundant leading ones"),
    ])
    func mpintNonMinimal(bytes: [UInt8], why: String) {
        var input = buffer(bytes)
        #expect(throws: SSHWireError.self, "\(why)") { try input.readSSHMPIntBytes() }
        #expect(input.readerIndex == 0)
    }

    @Test("negative mpint where a non-negative one is required")
    func mpintNegative() {
        var input = buffer([0, 0, 0, 1, 0x80])
        #expect(throws: SSHWireError(.negativeMPInt, field: "mpint")) { try input.readSSHUnsignedMPInt() }
        var large = buffer([0, 0, 0, 3, 0x01, 0x02, 0x03])
        #expect(throws: SSHWireError(.mpintTooLarge(byteCount: 3, limit: 2), field: "mpint")) {
            try large.readSSHUnsignedMPInt(maxByteCount: 2)
        }
    }

    @Test("name-lists: empty list, names, and the malformed forms")
    func nameLists() throws {
        var out = ByteBuffer()
        out.writeSSHNameList([])
        out.writeSSHNameList(["zlib", "none"])
        #expect(try out.readSSHNameList() == [])
        #expect(try out.readSSHNameList() == ["zlib", "none"])
        for bad in [",a", "a,", "a,,b", "a b", "caf\u{e9}", "\u{7f}"] {
            var input = ByteBuffer()
            input.writeSSHString(bad)
            #expect(throws: SSHWireError.self, "\(bad)") { try input.readSSHNameList() }
            #expect(input.readerIndex == 0)
        }
    }

    @Test("every truncated read throws and consumes nothing")
    func truncation() {
        var empty = buffer([])
        #expect(throws: SSHWireError(.truncated(needed: 1, available: 0), field: "byte")) { try empty.readSSHByte() }
        var short = buffer([0, 0, 1])
        #expect(throws: SSHWireError.self) { try short.readSSHUInt32() }
        #expect(throws: SSHWireError.self) { try short.readSSHUInt64() }
        var lying = buffer([0, 0, 0, 5, 1, 2])
        #expect(throws: SSHWireError(.truncated(needed: 5, available: 2), field: "string")) { try lying.readSSHString() }
        #expect(lying.readerIndex == 0)
        // A length near 2^32 must not allocate or wrap.
        var huge = buffer([0xFF, 0xFF, 0xFF, 0xF0, 0])
        #expect(throws: SSHWireError.self) { try huge.readSSHStringBytes() }
    }

    @Test("invalid UTF-8 in a text string is refused")
    func utf8() {
        var input = ByteBuffer()
        input.writeSSHString([0xC3, 0x28])
        #expect(throws: SSHWireError(.invalidUTF8, field: "string")) { try input.readSSHUTF8String() }
    }

    /// Found by FuzzSSHWire (Fuzz/Regressions/FuzzSSHWire/utf8-string-failed-read-moves-reader-index):
    /// a failed UTF-8 read consumed the string, breaking "reads advance only on success".
    @Test("a failed UTF-8 read leaves the reader where it was")
    func utf8FailureKeepsReaderIndex() {
        var input = buffer([0, 0, 0, 1, 0xFF])
        #expect(throws: SSHWireError(.invalidUTF8, field: "string")) { try input.readSSHUTF8String() }
        #expect(input.readerIndex == 0)
    }

    @Test("expectFullyConsumed reports trailing bytes")
    func trailing() throws {
        var input = buffer([1, 2])
        _ = try input.readSSHByte()
        #expect(throws: SSHWireError(.trailingBytes(count: 1), field: "blob")) { try input.expectFullyConsumed(field: "blob") }
    }

    @Test("errors read as sentences that name the field")
    func descriptions() {
        let error = SSHWireError(.truncated(needed: 8, available: 3), field: "uint64")
        #expect(error.description == "truncated data: uint64 needs 8 bytes, only 3 left")
    }
}
