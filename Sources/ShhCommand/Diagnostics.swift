// Where shh's messages go: standard error (or the -E file), filtered by LogLevel and -v as ssh does: errors always
// (unless QUIET), "debug1:" lines from -v on.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SSHCommandLine

final class Diagnostics: @unchecked Sendable {
    enum Level: Int, Comparable {
        case quiet = 0, fatal, error, info, verbose, debug1, debug2, debug3
        static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        init?(logLevel: String) {
            switch logLevel.uppercased() {
            case "QUIET": self = .quiet
            case "FATAL": self = .fatal
            case "ERROR": self = .error
            case "INFO": self = .info
            case "VERBOSE": self = .verbose
            case "DEBUG", "DEBUG1": self = .debug1
            case "DEBUG2": self = .debug2
            case "DEBUG3": self = .debug3
            default: return nil
            }
        }

        /// The LogLevel keyword for this level.
        var name: String {
            switch self {
            case .quiet: "QUIET"
            case .fatal: "FATAL"
            case .error: "ERROR"
            case .info: "INFO"
            case .verbose: "VERBOSE"
            case .debug1: "DEBUG1"
            case .debug2: "DEBUG2"
            case .debug3: "DEBUG3"
            }
        }
    }

    var level: Level = .info
    /// "\r\n" while the terminal is raw (no output processing turns "\n" into a new line there).
    var lineEnding = "\n"
    private var descriptor: Int32 = STDERR_FILENO

    /// -E: append to `path` instead of standard error.
    func redirect(to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        descriptor = fd
        return true
    }

    /// A message a user must see (failures): printed at every level but QUIET.
    func error(_ message: String) {
        guard level >= .fatal else { return }
        TerminalPrompt.writeAll(descriptor, message + lineEnding)
    }

    /// Warnings ssh prints at the default level (a host added to known_hosts).
    func info(_ message: String) {
        guard level >= .info else { return }
        TerminalPrompt.writeAll(descriptor, message + lineEnding)
    }

    func debug(_ message: @autoclosure () -> String, level wanted: Level = .debug1) {
        guard level >= wanted else { return }
        let tag = wanted == .verbose ? "" : "debug\(wanted.rawValue - Level.verbose.rawValue): "
        TerminalPrompt.writeAll(descriptor, tag + message() + lineEnding)
    }
}
