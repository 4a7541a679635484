// The outside world of shh-keygen, behind one struct so tests can run the command in-process.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: it would load ICU, ~3 ms at every start of a command
#else
import Foundation
#endif
import SSHCommandLine

/// Where shh-keygen reads and writes. `.process` is the real terminal and standard streams.
public struct KeygenIO: Sendable {
    /// Writes to standard output.
    public var writeOutput: @Sendable (String) -> Void
    /// Writes to standard error.
    public var writeError: @Sendable (String) -> Void
    /// One line of standard input (answers to "Overwrite (y/n)?", file name prompts), nil at end of input.
    public var readLine: @Sendable () -> String?
    /// A passphrase asked on the terminal without echo.
    public var readPassphrase: @Sendable (_ prompt: String) -> String?
    /// The next chunk of raw standard input, for hashing data to sign or verify: empty at end, nil on error.
    public var readStandardInputChunk: @Sendable () -> [UInt8]?
    /// Where ~/.ssh is (default key paths, known_hosts).
    public var homeDirectory: String
    /// The default key comment, "user@host".
    public var defaultComment: String
    /// Seconds since the epoch, for allowed_signers validity checks.
    public var now: @Sendable () -> Int

    /// Streams and facts given by the caller (tests give their own; `.process` is the real ones).
    public init(
        writeOutput: @escaping @Sendable (String) -> Void,
        writeError: @escaping @Sendable (String) -> Void,
        readLine: @escaping @Sendable () -> String?,
        readPassphrase: @escaping @Sendable (String) -> String?,
        readStandardInputChunk: @escaping @Sendable () -> [UInt8]?,
        homeDirectory: String,
        defaultComment: String,
        now: @escaping @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }
    ) {
        self.writeOutput = writeOutput
        self.writeError = writeError
        self.readLine = readLine
        self.readPassphrase = readPassphrase
        self.readStandardInputChunk = readStandardInputChunk
        self.homeDirectory = homeDirectory
        self.defaultComment = defaultComment
        self.now = now
    }

    /// The real process: stdout, stderr, stdin and /dev/tty.
    public static var process: KeygenIO {
        let environment = ProcessInfo.processInfo.environment
        // ssh-keygen takes the account from the password database, not from $USER.
        let account = getpwuid(getuid())
        let home = account.flatMap { $0.pointee.pw_dir.map { String(cString: $0) } } ?? environment["HOME"] ?? "/"
        let user = account.flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? environment["USER"] ?? "unknown"
        var hostBuffer = [CChar](repeating: 0, count: 256)
        gethostname(&hostBuffer, hostBuffer.count - 1)
        let host = String(decoding: hostBuffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return KeygenIO(
            writeOutput: { TerminalPrompt.writeAll(STDOUT_FILENO, $0) },
            writeError: { TerminalPrompt.writeAll(STDERR_FILENO, $0) },
            readLine: { TerminalPrompt.readLine(fd: STDIN_FILENO) },
            readPassphrase: { TerminalPrompt.readPassphrase(prompt: $0) },
            readStandardInputChunk: { readChunk(fd: STDIN_FILENO) },
            homeDirectory: home,
            defaultComment: "\(user)@\(host)"
        )
    }
}

/// Reads up to 64 KiB from `fd`: empty at end of file, nil on error.
func readChunk(fd: Int32) -> [UInt8]? {
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR { continue }
        if count < 0 { return nil }
        return Array(chunk[0..<count])
    }
}
