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
        let tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard tty >= 0 else {
            writeAll(STDERR_FILENO, prompt)
            return readLine(fd: STDIN_FILENO)
        }
        defer { close(tty) }
        var saved = termios()
        let haveTermios = tcgetattr(tty, &saved) == 0
        if haveTermios {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO | ECHONL)
            quiet.c_lflag |= tcflag_t(ICANON)
            _ = tcsetattr(tty, TCSAFLUSH, &quiet)
        }
        writeAll(tty, prompt)
        let line = readLine(fd: tty)
        if haveTermios {
            _ = tcsetattr(tty, TCSAFLUSH, &saved)
        }
        writeAll(tty, "\n")
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
        var offset = 0
        while offset < bytes.count {
            let result = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if result < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += result
        }
    }
}
