// Where shh's messages go: standard error (or the -E file), filtered by LogLevel and -v as ssh does: errors always
// (unless QUIET), "debug1:" lines from -v on.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SSHCommandLine
import SSHProtocol

final class Diagnostics: @unchecked Sendable {
    typealias Level = LogLevel

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

    /// What reaches the terminal: server banners, disconnect texts and names come from the peer and must not drive
    /// the terminal (see PeerText); in raw mode each line also needs its carriage return.
    private func shown(_ message: String) -> String {
        let safe = PeerText.forTerminal(message)
        return lineEnding == "\n" ? safe : safe.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: lineEnding)
    }

    /// A message a user must see (failures): printed at every level but QUIET.
    func error(_ message: String) {
        guard level >= .fatal else { return }
        TerminalPrompt.writeAll(descriptor, shown(message) + lineEnding)
    }

    /// Warnings ssh prints at the default level (a host added to known_hosts).
    func info(_ message: String) {
        guard level >= .info else { return }
        TerminalPrompt.writeAll(descriptor, shown(message) + lineEnding)
    }

    func debug(_ message: @autoclosure () -> String, level wanted: Level = .debug1) {
        guard level >= wanted else { return }
        let tag = wanted == .verbose ? "" : "debug\(wanted.rawValue - Level.verbose.rawValue): "
        TerminalPrompt.writeAll(descriptor, tag + shown(message()) + lineEnding)
    }
}
