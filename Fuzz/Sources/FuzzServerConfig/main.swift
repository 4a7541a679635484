// Fuzzes sshd_config reading: any bytes as a config file (and the first line as a -o option) must either read or
// fail with an error naming a line of the input, never trap; whatever read must answer settings(for:) for a few
// connections, Match blocks and address lists included.

import CLibFuzzerDriver
import OpenSSHConfig

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let lineCount = text.split(separator: "\n", omittingEmptySubsequences: false).count
    do {
        let file = try SSHServerConfigFile.read(text: text, path: "fuzz", followingIncludes: false)
        try file.checkValues()
        for context in [nil,
                        SSHServerMatchContext(user: "root", groups: ["root"], address: "127.0.0.1", localAddress: "127.0.0.1", localPort: 22),
                        SSHServerMatchContext(user: "alice", groups: ["staff", "wheel"], host: "client.example", address: "2001:db8::7", localPort: 2222)] {
            let config = file.settings(for: context)
            for (keyword, _) in config.values { check(config.isSet(keyword), "\(keyword) read but not set") }
            do {
                _ = try SSHServerOptions(config)
            } catch let error as OpenSSHConfigError {
                check(error.file == "fuzz" && error.line >= 1 && error.line <= lineCount, "options error at \(error.file) line \(error.line)")
            }
        }
    } catch let error as OpenSSHConfigError {
        check(error.line >= 1 && error.line <= lineCount, "error line \(error.line) outside 1...\(lineCount)")
    } catch {
        check(false, "an error that is not OpenSSHConfigError: \(error)")
    }
    _ = try? SSHServerConfigFile.read(path: nil, options: [String(text.prefix { $0 != "\n" })])
    return 0
}

@_cdecl("FuzzServerConfig_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    shh_fuzz_run_driver(argc, argv, fuzzOneInput)
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("sshd_config invariant failed: \(message())") }
}
