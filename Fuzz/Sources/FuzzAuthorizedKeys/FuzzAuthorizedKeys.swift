// Fuzzes authorized_keys parsing (options and keys) and the accept/reject decision: any bytes must parse
// line by line without trapping, and deciding for every parsed key, from a few source addresses, must answer.

import CLibFuzzerDriver
import SSHKeys

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let file = AuthorizedKeysFile(parsing: text, path: "fuzz")
    for entry in file.entries {
        check(entry.line >= 1, "entry line number out of range")
        for address in ["192.0.2.7", "2001:db8::1", "not-an-address"] {
            _ = AuthorizedKeys.authorize(entry.key, files: [file], sourceAddress: address, sourceHost: "gw.example.com", now: 1_800_000_000)
        }
        if let from = entry.options.from {
            _ = HostAddressPattern.matchHostAndAddress(host: "h", address: "10.1.2.3", patterns: from)
        }
    }
    // The options grammar on its own, for inputs that are just an options field.
    _ = try? AuthorizedKeyOptions(parsing: text)
    return 0
}

@_cdecl("FuzzAuthorizedKeys_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    shh_fuzz_run_driver(argc, argv, fuzzOneInput)
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("authorized_keys invariant failed: \(message())") }
}
