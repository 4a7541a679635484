// Starting and reaping session processes (the POSIX side of RFC 4254 §6.5 exec/shell): our own spawn shim
// (CSSHPOSIX's shh_spawn_session) puts the child in a session of its own (so signals reach the whole job), with a
// pseudo-terminal as its controlling terminal when the client asked for one, every signal at its default
// disposition and none blocked whatever the server's threads block or ignore, nothing of the server's open but
// descriptors 0-2, and — when the server runs as root — the account's groups, gid and uid. posix_spawn cannot change
// the user or make a controlling terminal, so there is one path for every session.
import CSSHPOSIX
import SSHProtocol
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a session process could not be started or watched.
public struct SSHPOSIXError: Error, Sendable, CustomStringConvertible {
    /// The failures.
    public enum Kind: Sendable, Equatable {
        /// A system call failed: which, and errno's text.
        case systemCall(String, errno: Int32)
        /// Blocking work (an account lookup, a file read) did not finish in time; the attempt it served fails.
        case timedOut(what: String, after: Duration)
    }

    /// What went wrong.
    public var kind: Kind
    /// An error of this kind.
    public init(_ kind: Kind) { self.kind = kind }

    /// The call and the system's text ("pipe2 failed: Too many open files"), or what timed out and after how long.
    public var description: String {
        switch kind {
        case .systemCall(let call, let code): "\(call) failed: \(String(cString: strerror(code)))"
        case .timedOut(let what, let after): "\(what) did not finish within \(after.components.seconds) s (a slow account database or file system?)"
        }
    }
}

/// How a child process ended.
public enum ChildExit: Sendable, Equatable {
    /// It exited with this status (0–255).
    case exited(Int32)
    /// A signal ended it: the signal's number.
    case signaled(Int32)

    init(waitStatus status: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import (they are macros).
        let termination = status & 0x7F
        self = termination == 0 ? .exited((status >> 8) & 0xFF) : .signaled(termination)
    }
}

/// A running child and the parent's ends of its standard descriptors. With a terminal, stdin and stdout are the
/// pseudo-terminal's controlling side (two descriptors of it) and there is no separate stderr.
package struct SpawnedChild: Sendable {
    package let pid: pid_t
    /// Where the child's input is written.
    package let stdin: CInt
    /// Where its output (and, with a terminal, its errors too) is read.
    package let stdout: CInt
    /// Where its errors are read; nil with a terminal.
    package let stderr: CInt?
}

/// A pseudo-terminal opened for a session: the controlling side stays with the server, the terminal side becomes
/// the session's controlling terminal.
package struct PseudoTerminal: Sendable {
    package let controller: CInt
    package let terminal: CInt
    package let path: String

    /// Opens one with the client's modes and window size, owned by `account` (mode 0620, group tty) when the
    /// server runs as root, as sshd's pty_setowner does.
    package static func open(request: SSHPseudoTerminalRequest, owner account: SystemAccount?) throws -> PseudoTerminal {
        var controller: CInt = -1
        var name = [CChar](repeating: 0, count: 128)
        guard shh_open_pseudo_terminal(&controller, &name, name.count) == 0 else {
            throw SSHPOSIXError(.systemCall("posix_openpt", errno: errno))
        }
        let path = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let terminal = Glibc.open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard terminal >= 0 else {
            let code = errno
            close(controller)
            throw SSHPOSIXError(.systemCall("open \(path)", errno: code))
        }
        var settings = termios()
        if tcgetattr(terminal, &settings) == 0 {
            var applied = request.modes.applied(to: settings)
            tcsetattr(terminal, TCSANOW, &applied)
        }
        let opened = PseudoTerminal(controller: controller, terminal: terminal, path: path)
        resize(controller, to: request.size)
        if let account, getuid() == 0 {
            let ttyGroup = Self.ttyGroup ?? account.gid
            _ = fchown(terminal, account.uid, ttyGroup)
            _ = fchmod(terminal, 0o620)
        }
        return opened
    }

    /// The "tty" group's ID, looked up once (getgrnam's buffer is shared; sessions start on many threads).
    private static let ttyGroup: gid_t? = getgrnam("tty")?.pointee.gr_gid

    /// TIOCSWINSZ on a descriptor of the terminal: the size the client's window has now (window-change, RFC 4254
    /// §6.7). The caller must own `descriptor` for the call (a closed number may be someone else's by now).
    package static func resize(_ descriptor: CInt, to size: SSHTerminalSize) {
        var window = winsize(ws_row: UInt16(clamping: size.rows), ws_col: UInt16(clamping: size.columns),
                             ws_xpixel: UInt16(clamping: size.pixelWidth), ws_ypixel: UInt16(clamping: size.pixelHeight))
        _ = ioctl(descriptor, UInt(TIOCSWINSZ), &window)
    }
}

/// Child processes: how each ends. (Sessions are started through it inside this package; other programs start
/// with ``ProgramSpawn``.)
public enum ChildProcess {
    /// Starts `path` with `arguments` (argv, argv[0] included) and exactly `environment` ("NAME=value"), in
    /// `directory`; as `account` (its groups, gid, uid) when `changeUser`; on `terminal` when given (the caller's
    /// terminal side is closed here either way).
    package static func spawn(path: String, arguments: [String], environment: [String], directory: String,
                      account: SystemAccount?, changeUser: Bool, terminal: PseudoTerminal?) throws -> SpawnedChild {
        var opened: [CInt] = []
        func closeAll() { for fd in opened { close(fd) } }
        defer { if let terminal { close(terminal.terminal) } }
        func makePipe() throws -> [CInt] {
            var ends: [CInt] = [-1, -1]
            guard shh_pipe_cloexec(&ends) == 0 else {
                let code = errno
                closeAll()
                throw SSHPOSIXError(.systemCall("pipe2", errno: code))
            }
            opened += ends
            return ends
        }
        var stdinPipe: [CInt] = [-1, -1], stdoutPipe: [CInt] = [-1, -1], stderrPipe: [CInt] = [-1, -1]
        if terminal == nil {
            stdinPipe = try makePipe()
            stdoutPipe = try makePipe()
            stderrPipe = try makePipe()
        }
        let groups = changeUser ? (account?.groupIDs ?? []) : []
        var failedStep: UnsafePointer<CChar>?
        let pid = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in
                groups.withUnsafeBufferPointer { groupIDs in
                    path.withCString { pathPointer in
                        directory.withCString { directoryPointer in
                            var spawn = shh_session_spawn(
                                path: pathPointer, argv: argv, envp: envp,
                                stdin_fd: stdinPipe[0], stdout_fd: stdoutPipe[1], stderr_fd: stderrPipe[1],
                                terminal_fd: terminal?.terminal ?? -1, change_user: changeUser && account != nil ? 1 : 0,
                                uid: account?.uid ?? 0, gid: account?.gid ?? 0, groups: groupIDs.baseAddress, group_count: groupIDs.count,
                                directory: directoryPointer)
                            return shh_spawn_session(&spawn, &failedStep)
                        }
                    }
                }
            }
        }
        let code = errno
        guard pid > 0 else {
            closeAll()
            if let terminal { close(terminal.controller) }
            let step = failedStep.map { String(cString: $0) } ?? "spawn"
            throw SSHPOSIXError(.systemCall(step == "exec" ? "exec \(path)" : step, errno: code))
        }
        if let terminal {
            let input = dup(terminal.controller)
            guard input >= 0 else {
                close(terminal.controller)
                kill(-pid, SIGHUP)
                throw SSHPOSIXError(.systemCall("dup", errno: errno))
            }
            return SpawnedChild(pid: pid, stdin: input, stdout: terminal.controller, stderr: nil)
        }
        // The child's ends are the child's now.
        close(stdinPipe[0])
        close(stdoutPipe[1])
        close(stderrPipe[1])
        return SpawnedChild(pid: pid, stdin: stdinPipe[1], stdout: stdoutPipe[0], stderr: stderrPipe[0])
    }

    /// Waits for `pid` to end, on a small thread of its own: waitpid on that one pid, so children that other code in
    /// the process started (Foundation's Process, say) are never reaped from under it.
    ///
    /// ```swift
    /// let pid = try ProgramSpawn.start("/bin/true", arguments: [], environment: [])
    /// let exit = await ChildProcess.exit(of: pid)   // .exited(0)
    /// ```
    ///
    /// - Parameter pid: A child of this process that nobody else reaps.
    /// - Returns: How it ended; ``ChildExit/signaled(_:)`` with SIGKILL when it was no longer ours to wait for.
    public static func exit(of pid: pid_t) async -> ChildExit {
        await withCheckedContinuation { continuation in
            startThread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 {
                    guard errno == EINTR else {
                        // Not our child any more (someone else reaped it): nothing to report but "gone".
                        continuation.resume(returning: .signaled(SIGKILL))
                        return
                    }
                }
                continuation.resume(returning: ChildExit(waitStatus: status))
            }
        }
    }

    private final class ThreadBody {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// A detached thread with a 64 KiB stack (it only waits).
    private static func startThread(_ body: @escaping () -> Void) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, 64 * 1024)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, &attributes, { context in
            guard let context else { return nil }
            Unmanaged<ThreadBody>.fromOpaque(context).takeRetainedValue().run()
            return nil
        }, context)
        if created != 0 {
            // No thread: wait here instead (rare; costs the caller's thread for the child's life).
            Unmanaged<ThreadBody>.fromOpaque(context).takeRetainedValue().run()
        }
    }

    /// A NULL-terminated array of C strings for the length of `body`.
    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
