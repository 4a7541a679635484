// A program run the way a user at a terminal runs it: in its own session, with a fresh pseudo-terminal as its
// standard input, output and error and as its controlling terminal (so /dev/tty works). The test plays the user:
// it types, reads what the screen got, resizes the window and checks the terminal's modes afterwards.
import CSSHPOSIX
import Foundation
import Synchronization

final class PseudoTerminalProcess: Sendable {
    let pid: pid_t
    private let controller: Int32
    /// Shared with the reading and reaping threads.
    private final class Shared: Sendable {
        let screen = Mutex<[UInt8]>([])
        let exitStatus = Mutex<Int32?>(nil)
        /// The terminal side is closed by everyone and everything written to it has been read.
        let screenComplete = Mutex(false)
    }
    private let shared = Shared()

    init(_ executable: String, _ arguments: [String], environment: [String: String], rows: UInt16 = 24, columns: UInt16 = 80,
         eraseCharacter: UInt8? = nil) throws {
        var controller: Int32 = -1
        var pathBytes = [CChar](repeating: 0, count: 128)
        guard shh_open_pseudo_terminal(&controller, &pathBytes, pathBytes.count) == 0 else {
            throw InteropError.missingProgram("a pseudo-terminal (\(String(cString: strerror(errno))))")
        }
        let terminalPath = String(decoding: pathBytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var window = winsize(ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(controller, UInt(TIOCSWINSZ), &window)
        if let eraseCharacter {
            var settings = termios()
            _ = tcgetattr(controller, &settings)
            withUnsafeMutableBytes(of: &settings.c_cc) { $0[Int(VERASE)] = eraseCharacter }
            _ = tcsetattr(controller, TCSANOW, &settings)
        }

        // The terminal side is opened after setsid (glibc starts the session before the file actions), so it
        // becomes the controlling terminal of the new session.
        let pid: pid_t
        do {
            pid = try spawnInNewSession(executable, arguments, environment: environment, actions: [
                .open(terminalPath, flags: O_RDWR, mode: 0, as: 0),
                .duplicate(0, as: 1),
                .duplicate(0, as: 2),
            ])
        } catch {
            close(controller)
            throw error
        }
        self.pid = pid
        self.controller = controller

        // The screen: everything the program writes, read until the terminal side is closed by everyone (EIO).
        let shared = self.shared
        let reading = controller
        let child = pid
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(reading, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                shared.screen.withLock { $0 += buffer[0..<count] }
            }
            shared.screenComplete.withLock { $0 = true }
        }
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            // WIFEXITED / WEXITSTATUS, and 128 + signal for a signal, as a shell reports it.
            let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            shared.exitStatus.withLock { $0 = code }
        }
    }

    deinit {
        if shared.exitStatus.withLock({ $0 }) == nil { kill(pid, SIGKILL) }
        close(controller)
    }

    /// What the program has written so far, as text.
    var text: String { String(decoding: shared.screen.withLock { $0 }, as: UTF8.self) }

    /// Types `text` (use "\r" for Return, as a terminal sends it).
    func type(_ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { _ = write(controller, $0.baseAddress, $0.count) }
    }

    /// Resizes the window; the kernel sends SIGWINCH to the terminal's foreground process group.
    func resize(rows: UInt16, columns: UInt16) {
        var window = winsize(ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(controller, UInt(TIOCSWINSZ), &window)
    }

    /// The terminal's current modes (the controller side reports the terminal side's).
    var modes: termios {
        var settings = termios()
        _ = tcgetattr(controller, &settings)
        return settings
    }

    /// Waits until the screen shows `expected` (after `from` bytes, if given); false at the deadline.
    func waitFor(_ expected: String, after offset: Int = 0, seconds: Double = 60) async -> Bool {
        // Checked once more after the deadline: a test process whose cooperative threads are all busy (the long
        // tier) may resume this task only after the deadline has passed.
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let shown = shared.screen.withLock { String(decoding: $0.dropFirst(offset), as: UTF8.self) }
            if shown.contains(expected) { return true }
            if Date() >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Bytes on the screen so far (to wait for what comes after them).
    var screenCount: Int { shared.screen.withLock { $0.count } }

    /// Waits for the program to exit and returns its status; nil at the deadline. The screen then holds all it
    /// wrote: the reader is given until it reaches the terminal's end (up to 5 s more, for a process that keeps the
    /// terminal open after the program), since being reaped and being read to the end race each other.
    func waitForExit(seconds: Double = 60) async -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32?
        while true {
            status = shared.exitStatus.withLock { $0 }
            if status != nil || Date() >= deadline { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        guard let status else { return nil }
        let screenDeadline = Date().addingTimeInterval(5)
        while !shared.screenComplete.withLock({ $0 }) && Date() < screenDeadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return status
    }
}
