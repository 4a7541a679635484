// Asking the person for a secret or an answer, by the rules of ssh's read_passphrase (readpass.c): key passphrases,
// passwords and keyboard-interactive answers all come through here. On the terminal (/dev/tty, never standard input,
// which carries the session's data); through the SSH_ASKPASS program when SSH_ASKPASS_REQUIRE=force, when it is
// "prefer" and a display is set, or when there is no terminal and a display (DISPLAY, WAYLAND_DISPLAY) is set;
// SSH_ASKPASS_REQUIRE=never keeps askpass out. Everything here blocks: callers run it through whilePersonAnswers,
// off the event loops and the cooperative pool.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SSHCommandLine
import SSHPOSIX
import Synchronization

enum ReadPassphrase {
    /// Where one question goes.
    enum Route: Equatable {
        /// /dev/tty.
        case terminal
        /// This askpass program, with the prompt as its argument.
        case askpass(String)
        /// Nowhere: no terminal, and askpass not allowed. No answer.
        case nowhere
    }

    /// ssh's askpass when SSH_ASKPASS is unset (Debian builds OpenSSH with this path; the upstream default,
    /// /usr/X11R6/bin/ssh-askpass, exists nowhere current).
    static let defaultAskpass = "/usr/bin/ssh-askpass"

    /// read_passphrase's choice for a prompt without RP_ALLOW_STDIN (ssh's password, passphrase and
    /// keyboard-interactive prompts): askpass is allowed by a display or by SSH_ASKPASS_REQUIRE=force (never by
    /// "never"), and used when forced, when preferred, or when there is no terminal.
    ///
    /// - Parameters:
    ///   - environment: The process's environment.
    ///   - hasTerminal: Whether /dev/tty opens.
    static func route(environment: [String: String], hasTerminal: Bool) -> Route {
        var allowAskpass = !(environment["DISPLAY"] ?? "").isEmpty || !(environment["WAYLAND_DISPLAY"] ?? "").isEmpty
        var useAskpass = false
        switch environment["SSH_ASKPASS_REQUIRE"]?.lowercased() {
        case "force"?:
            useAskpass = true
            allowAskpass = true
        case "prefer"?:
            useAskpass = allowAskpass
        case "never"?:
            allowAskpass = false
        default:
            break
        }
        if !useAskpass && !hasTerminal { useAskpass = true }
        if useAskpass && allowAskpass { return .askpass(environment["SSH_ASKPASS"] ?? defaultAskpass) }
        return hasTerminal ? .terminal : .nowhere
    }

    /// Asks `prompt` where ``route(environment:hasTerminal:)`` says. Blocks until answered.
    ///
    /// - Parameters:
    ///   - prompt: The question, shown as it is (text from a server must be made safe first).
    ///   - echo: Whether typing is shown (keyboard-interactive says per prompt; askpass gets the prompt either way,
    ///     as ssh passes it no hint).
    /// - Returns: The answer; nil when the person gave none — end of input at the terminal, no terminal and no
    ///   askpass, or an askpass that failed, exited non-zero or printed nothing (its Cancel button).
    static func ask(_ prompt: String, echo: Bool) -> String? {
        let terminal = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        if terminal >= 0 { close(terminal) }
        switch route(environment: ProcessEnvironment.variables, hasTerminal: terminal >= 0) {
        case .terminal: return TerminalPrompt.askOnTerminal(prompt, echo: echo)
        case .askpass(let program): return runAskpass(program, prompt: prompt)
        case .nowhere: return nil
        }
    }

    /// Runs the askpass program with the prompt as its argument and takes the first line of its output (up to 1023
    /// bytes, as ssh). nil when it cannot start, does not exit 0, or answers with an empty line.
    static func runAskpass(_ program: String, prompt: String) -> String? {
        guard let path = executablePath(program), let output = try? Descriptors.pipe() else { return nil }
        let pid: pid_t
        do {
            // Only its standard output is ours to read; standard input and error stay shh's, as with ssh.
            pid = try ProgramSpawn.start(path, arguments: [prompt], environment: ProcessEnvironment.entries,
                                         actions: [.duplicate(output.write, as: STDOUT_FILENO)])
        } catch {
            close(output.read)
            close(output.write)
            return nil
        }
        close(output.write)
        // Read first, reap after (as ssh): closing our end before the wait means a program that prints more than
        // we take gets EPIPE instead of blocking us both.
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1023)
        while answer.count < 1023 {
            let count = buffer.withUnsafeMutableBytes { read(output.read, $0.baseAddress, 1023 - answer.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            answer += buffer[0..<count]
        }
        close(output.read)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 { guard errno == EINTR else { return nil } }
        // Exited (WIFEXITED) with status 0 (WEXITSTATUS); Swift does not import the macros.
        guard status & 0x7f == 0 && (status >> 8) & 0xff == 0 else { return nil }
        let line = answer.prefix { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") }
        return line.isEmpty ? nil : String(decoding: line, as: UTF8.self)
    }

    /// `program` as execlp would find it: a name with a slash as it is, else the first executable of that name in
    /// PATH (/usr/bin:/bin when unset).
    static func executablePath(_ program: String) -> String? {
        guard !program.isEmpty else { return nil }
        if program.contains("/") { return program }
        for directory in (ProcessEnvironment.variables["PATH"] ?? "/usr/bin:/bin").split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + program
            var information = stat()
            if stat(candidate, &information) == 0, information.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }
}

/// The questions of one login — passwords and keyboard-interactive answers, asked through ``ReadPassphrase``. Once
/// the person gives no answer (cancels the askpass dialog, ends input at the terminal, or there is nowhere to ask),
/// nothing more is asked: the remaining password tries are skipped and keyboard-interactive prompts are answered
/// empty, so a cancelled askpass is not shown NumberOfPasswordPrompts times.
final class LoginQuestions: Sendable {
    private let cancelled = Atomic(false)
    private let ask: @Sendable (String, Bool) -> String?

    /// - Parameter ask: Asks one question (prompt, echo); ``ReadPassphrase/ask(_:echo:)`` unless a test says.
    init(ask: @escaping @Sendable (String, Bool) -> String? = { ReadPassphrase.ask($0, echo: $1) }) {
        self.ask = ask
    }

    /// Whether the person has declined to answer.
    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    /// The answer to `prompt`, or nil (without asking, once cancelled). Blocks.
    func answer(_ prompt: String, echo: Bool) -> String? {
        guard !isCancelled else { return nil }
        guard let answer = ask(prompt, echo) else {
            cancelled.store(true, ordering: .relaxed)
            return nil
        }
        return answer
    }
}
