// Fuzzes ssh_config reading: any bytes as a config file (and as -o lines) must either read or fail with an error
// naming a line of the input, never trap; whatever read must expand through the %-token code and give typed
// options (or an error naming a line).

import CLibFuzzerDriver
import OpenSSHConfig

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let lineCount = text.split(separator: "\n", omittingEmptySubsequences: false).count
    for host in ["web1.example.com", "short", ""] {
        var reader = SSHClientConfigReader(
            destination: .init(originalHost: host, commandLineUser: nil, localUser: "alice", homeDirectory: "/home/alice"),
            runCommand: { $0.count % 2 == 0 })
        reader.followsIncludes = false
        do {
            try reader.read(text: text, path: "fuzz", userConfig: true)
        } catch let error as OpenSSHConfigError {
            check(error.line >= 1 && error.line <= lineCount, "error line \(error.line) outside 1...\(lineCount)")
            continue
        } catch {
            check(false, "an error that is not OpenSSHConfigError: \(error)")
        }
        let tokens = PercentTokens(host: host, originalHost: host, port: "22", remoteUser: "bob", localUser: "alice", homeDirectory: "/h")
        for (_, arguments) in reader.config.values {
            for argument in arguments { _ = try? tokens.expand(argument) }
        }
        // The typed options: they read, or fail naming a line of the input.
        do {
            let options = try SSHClientOptions(reader.config)
            _ = options.printed(host: host)
        } catch let error as OpenSSHConfigError {
            check(error.file == "fuzz" && error.line >= 1 && error.line <= lineCount, "options error at \(error.file) line \(error.line)")
        } catch {
            check(false, "an options error that is not OpenSSHConfigError: \(error)")
        }
    }
    // The first line as a -o option.
    var option = SSHClientConfigReader(destination: .init(originalHost: "h", localUser: "a", homeDirectory: "/h"), runCommand: { _ in false })
    option.followsIncludes = false
    _ = try? option.apply(option: String(text.prefix { $0 != "\n" }))
    return 0
}

@_cdecl("FuzzClientConfig_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    shh_fuzz_run_driver(argc, argv, fuzzOneInput)
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("ssh_config invariant failed: \(message())") }
}
