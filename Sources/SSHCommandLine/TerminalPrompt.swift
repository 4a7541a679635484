// Asking the person at the terminal: passphrases without echo (like readpassphrase(3)) and yes/no questions.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading answers from the controlling terminal, falling back to standard input when there is none.
public enum TerminalPrompt {
    /// Prompts on /dev/tty with echo off and reads one line. Without a terminal, it reads a line from
    /// standard input (as ssh-keygen does for RP_ALLOW_STDIN). Returns nil at end of input.
    public static func readPassphrase(prompt: String) -> String? {
        ask(prompt, echo: false, allowStandardInput: true)
    }

    /// Asks on /dev/tty only (a client whose standard input carries data must never read answers from it):
    /// nil when there is no terminal or at end of input.
    public static func askOnTerminal(_ prompt: String, echo: Bool) -> String? {
        ask(prompt, echo: echo, allowStandardInput: false)
    }

    private static func ask(_ prompt: String, echo: Bool, allowStandardInput: Bool) -> String? {
        let tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard tty >= 0 else {
            guard allowStandardInput else { return nil }
            writeAll(STDERR_FILENO, prompt)
            return readLine(fd: STDIN_FILENO)
        }
        defer { close(tty) }
        var saved = termios()
        let haveTermios = !echo && tcgetattr(tty, &saved) == 0
        if haveTermios {
            // Ctrl-C (or any fatal signal) while echo is off must not leave the terminal silent.
            EchoRestorer.arm(fd: tty, state: saved)
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO | ECHONL)
            quiet.c_lflag |= tcflag_t(ICANON)
            _ = tcsetattr(tty, TCSAFLUSH, &quiet)
        }
        writeAll(tty, prompt)
        let line = readLine(fd: tty)
        if haveTermios {
            _ = tcsetattr(tty, TCSAFLUSH, &saved)
            EchoRestorer.disarm()
        }
        if !echo { writeAll(tty, "\n") }
        return line
    }

    /// Reads one line from `fd` without buffering past it (so the rest stays for the next reader).
    /// Stops at 64 KiB so a stream without newlines cannot grow it without bound.
    public static func readLine(fd: Int32) -> String? {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while bytes.count < 65_536 {
            let count = read(fd, &byte, 1)
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if byte == UInt8(ascii: "\n") { break }
            bytes.append(byte)
        }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes all of `text` to `fd`, retrying short writes.
    public static func writeAll(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { _ = writeAll(fd, $0) }
    }

    /// Writes all of `bytes` to `fd`, retrying after interruptions and short writes and waiting while a
    /// non-blocking descriptor is full (programs such as rsync hand us non-blocking pipes). False when the
    /// descriptor refuses (EPIPE: the reader is gone), with errno set.
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, base + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&ready, 1, -1)
                    continue
                }
                return false
            }
            offset += written
        }
        return true
    }
}

/// Restores the terminal's echo if a signal ends the process during a passphrase prompt, the way
/// readpassphrase(3) does: the handler only calls tcsetattr, signal and raise, all async-signal-safe.
private enum EchoRestorer {
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU]

    static func arm(fd: Int32, state: termios) {
        echoRestoreFD = fd
        echoRestoreState = state
        for signalNumber in signals {
            signal(signalNumber, restoreEchoAndResignal)
        }
    }

    static func disarm() {
        for signalNumber in signals {
            signal(signalNumber, SIG_DFL)
        }
        echoRestoreFD = -1
    }
}

// Plain globals: a C signal handler cannot capture context.
nonisolated(unsafe) private var echoRestoreFD: Int32 = -1
nonisolated(unsafe) private var echoRestoreState = termios()

private func restoreEchoAndResignal(_ signalNumber: Int32) {
    if echoRestoreFD >= 0 {
        _ = tcsetattr(echoRestoreFD, TCSAFLUSH, &echoRestoreState)
    }
    signal(signalNumber, SIG_DFL)
    raise(signalNumber)
}
