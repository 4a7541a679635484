// Fuzzes the privilege broker's protocol decoder, the broker's whole view of the (untrusted) network process: any
// datagram must decode or throw SSHBrokerProtocolError, never trap; what decodes must encode to exactly its input
// (one encoding per message, so nothing the broker accepts means two things).

import CLibFuzzerDriver
import NIOCore
import SSHServerHost

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let message = try SSHBrokerMessage(decoding: ByteBuffer(bytes: bytes))
        let encoded = Array(message.encode().readableBytesView)
        check(encoded == bytes, "a decoded message does not encode to its input: \(message)")
    } catch is SSHBrokerProtocolError {
    } catch {
        check(false, "a decoding error that is not SSHBrokerProtocolError: \(error)")
    }
    return 0
}

@_cdecl("FuzzBrokerMessage_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    shh_fuzz_run_driver(argc, argv, fuzzOneInput)
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("broker message invariant failed: \(message())") }
}
