// Fuzzes the RFC 4251 §5 readers in SSHWire: each input byte picks the next read, which consumes what
// follows, until the buffer is empty or a read throws. Beyond "never trap", it checks the module's contract:
// a failed read leaves the reader index alone, and a successful read re-encodes to exactly the bytes it consumed
// (every reader but boolean accepts only the canonical encoding).

import CLibFuzzerDriver
import NIOCore
import SSHWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var buffer = ByteBuffer(bytes: UnsafeRawBufferPointer(start: data, count: size))
    while let selector = buffer.readInteger(as: UInt8.self) {
        if !readOne(selector: selector, from: &buffer) { break }
    }
    return 0
}

@_cdecl("FuzzSSHWire_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    shh_fuzz_run_driver(argc, argv, fuzzOneInput)
}

/// Performs the read `selector` names; false when it threw.
func readOne(selector: UInt8, from buffer: inout ByteBuffer) -> Bool {
    let start = buffer.readerIndex
    let original = buffer
    var encoded = ByteBuffer()
    let name: String
    do {
        switch selector % 12 {
        case 0:
            name = "byte"
            encoded.writeSSHByte(try buffer.readSSHByte())
        case 1:
            name = "boolean"
            let value = try buffer.readSSHBoolean()
            // Any non-zero byte is TRUE, so only the value is canonical, not the byte.
            encoded.writeSSHByte(original.getInteger(at: start, as: UInt8.self)!)
            check((original.getInteger(at: start, as: UInt8.self)! != 0) == value, "boolean value", original, start)
        case 2:
            name = "uint32"
            encoded.writeSSHUInt32(try buffer.readSSHUInt32())
        case 3:
            name = "uint64"
            encoded.writeSSHUInt64(try buffer.readSSHUInt64())
        case 4:
            name = "string"
            encoded.writeSSHString(buffer: try buffer.readSSHString())
        case 5:
            name = "string bytes"
            encoded.writeSSHString(try buffer.readSSHStringBytes())
        case 6:
            name = "UTF-8 string"
            encoded.writeSSHString(try buffer.readSSHUTF8String())
        case 7:
            name = "mpint bytes"
            encoded.writeSSHString(try buffer.readSSHMPIntBytes())
        case 8:
            name = "unsigned mpint"
            let magnitude = try buffer.readSSHUnsignedMPInt()
            check(magnitude.first != 0, "unsigned mpint magnitude has a leading zero", original, start)
            encoded.writeSSHUnsignedMPInt(magnitude)
        case 9:
            // The same with a small limit taken from the selector, so the limit check is reached.
            name = "unsigned mpint (small limit)"
            let magnitude = try buffer.readSSHUnsignedMPInt(maxByteCount: Int(selector >> 4))
            check(magnitude.count <= Int(selector >> 4), "unsigned mpint over its limit", original, start)
            encoded.writeSSHUnsignedMPInt(magnitude)
        case 10:
            name = "name-list"
            let names = try buffer.readSSHNameList()
            check(!names.contains { $0.isEmpty || $0.contains(",") }, "name-list with an invalid name", original, start)
            encoded.writeSSHNameList(names)
        default:
            name = "fully consumed"
            do {
                try buffer.expectFullyConsumed(field: "fuzz")
                check(buffer.readableBytes == 0, "expectFullyConsumed passed with bytes left", original, start)
            } catch {
                check(buffer.readableBytes != 0, "expectFullyConsumed threw on an empty buffer", original, start)
            }
            return true
        }
    } catch {
        check(error is SSHWireError, "a read threw \(type(of: error)), not SSHWireError", original, start)
        check(buffer.readerIndex == start, "a failed read (\(error)) moved the reader index", original, start)
        return false
    }
    let consumed = original.getSlice(at: start, length: buffer.readerIndex - start)!
    check(consumed == encoded, "\(name) does not re-encode to the bytes it read", original, start)
    return true
}

func check(_ condition: Bool, _ message: @autoclosure () -> String, _ buffer: ByteBuffer, _ offset: Int) {
    if !condition {
        fatalError("SSHWire contract violated: \(message()) (at input offset \(offset))")
    }
}
