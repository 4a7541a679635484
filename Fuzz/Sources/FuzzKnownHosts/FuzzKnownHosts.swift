// Fuzzes known_hosts parsing and lookups: any bytes as a file must parse line by line without trapping,
// every line must be accounted for (entry, other, invalid or unusable, with a warning for the last two),
// and lookups over whatever parsed must answer.

import CLibFuzzerDriver
import SSHKeys

let maximumCheckedEntries = 8

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let file = KnownHostsFile(parsing: text, path: "fuzz")
    var unusable = 0
    for line in file.lines {
        switch line {
        case .invalid, .unusable: unusable += 1
        case .entry, .other: break
        }
    }
    check(file.warnings.count == unusable, "a line neither parsed nor warned about")
    for entry in file.entries {
        check(entry.line >= 1 && entry.line <= file.lines.count, "entry line number out of range")
    }
    // Every check walks every entry (hashing each |1| name with its salt), so checking each entry's key made an
    // execution quadratic in the entries; the keys of the first few entries already reach every verdict (each
    // check still sees the whole file).
    for entry in file.entries.prefix(maximumCheckedEntries) {
        for name in ["server.example.com", "[server.example.com]:2222", "192.0.2.10", entry.hosts] {
            _ = KnownHosts.check(entry.key, hostName: name, files: [file])
        }
    }
    _ = KnownHosts.knownKeyTypes(hostName: "server.example.com", files: [file])
    _ = KnownHosts.certificateAuthorities(hostName: "www.example.com", files: [file])
    return 0
}

@_cdecl("FuzzKnownHosts_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    shh_fuzz_run_driver(argc, argv, fuzzOneInput)
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("known_hosts invariant failed: \(message())") }
}
