// shhd's log: one line per event (connection, authentication result, session start and end), never a secret, to
// standard error (or the -E file), filtered by LogLevel as sshd filters it.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SSHCommandLine
import SSHProtocol
import Synchronization

final class ServerLog: Sendable {
    typealias Level = LogLevel

    private let state = Mutex<(level: Level, descriptor: Int32)>((.info, STDERR_FILENO))

    var level: Level {
        get { state.withLock { $0.level } }
        set { state.withLock { $0.level = newValue } }
    }

    /// -E: append to `path` instead of standard error.
    func redirect(to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        state.withLock { $0.descriptor = fd }
        return true
    }

    func write(_ message: String, at wanted: Level) {
        let (level, descriptor) = state.withLock { ($0.level, $0.descriptor) }
        guard level >= wanted else { return }
        // A log line is one line whatever a peer put in the names and texts it carries (see PeerText).
        TerminalPrompt.writeAll(descriptor, PeerText.forLogLine(message) + "\n")
    }

    func error(_ message: String) { write(message, at: .error) }
    func info(_ message: String) { write(message, at: .info) }
    func verbose(_ message: String) { write(message, at: .verbose) }
    func debug(_ message: String) { write("debug1: " + message, at: .debug1) }
}
