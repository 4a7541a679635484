// ssh -f (ForkAfterAuthentication): return to the shell once authenticated and forwarding, with the connection
// carrying on in the background. ssh forks there; shh cannot (a process with NIO's threads must not fork and go on
// running Swift), so it starts itself again instead: the foreground shh spawns the same command line with standard
// input from /dev/null and a pipe it is told about in the environment, and exits 0 when the background shh writes
// "ready" on it (after authentication, local listeners and, as ssh waits for them, remote forwards' answers), or
// with the background shh's own status when that one fails first. Prompts (passwords, host keys) work meanwhile:
// the background shh is still in the terminal's session until it is ready, and prompts use /dev/tty.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import SSHPOSIX

enum Background {
    /// The environment variable that tells a shh it is the background half, and on which descriptor to report.
    static let readyVariable = "SHH_BACKGROUND_READY_FD"
    /// The descriptor the background shh gets the pipe on.
    static let readyDescriptor: CInt = 3

    /// In the background shh: the descriptor to report "ready" on, taken out of the environment at once so
    /// nothing shh starts (a ProxyCommand, SendEnv) sees it. Nil in a shh started any other way.
    static func takeReadyDescriptor() -> CInt? {
        guard let text = getenv(readyVariable).map({ String(cString: $0) }) else { return nil }
        unsetenv(readyVariable)
        guard let descriptor = CInt(text), descriptor > 2, fcntl(descriptor, F_GETFD) >= 0 else { return nil }
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        return descriptor
    }

    /// In the foreground shh: starts the background shh with `arguments` and waits until it is ready (0) or has
    /// ended (its status; its messages went to our standard error).
    static func startAndWait(arguments: [String], diagnostics: Diagnostics) async -> Int32 {
        let executable = ownExecutable()
        let pipe: (read: CInt, write: CInt)
        do {
            pipe = try Descriptors.pipe()
        } catch {
            diagnostics.error("shh: cannot go to the background: \(error)")
            return 255
        }
        let pid: pid_t
        do {
            pid = try ProgramSpawn.start(executable, arguments: arguments,
                                         environment: ProcessEnvironment.entries + ["\(readyVariable)=\(readyDescriptor)"],
                                         actions: [.open("/dev/null", flags: O_RDONLY, as: STDIN_FILENO),
                                                   .duplicate(pipe.write, as: readyDescriptor)])
        } catch {
            close(pipe.read)
            close(pipe.write)
            diagnostics.error("shh: cannot go to the background: \(error)")
            return 255
        }
        close(pipe.write)
        // The read blocks until the child writes or ends: on a thread of its own, not the cooperative pool.
        let ready = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            DispatchQueue(label: "shh.background").async {
                var byte: UInt8 = 0
                var count: Int
                repeat { count = read(pipe.read, &byte, 1) } while count < 0 && errno == EINTR
                close(pipe.read)
                continuation.resume(returning: count == 1)
            }
        }
        // Ready: the background shh carries on alone (it is reparented when we exit).
        if ready { return 0 }
        switch await ChildProcess.exit(of: pid) {
        case .exited(let status): return status
        default: return 255
        }
    }

    /// In the background shh, once ready: tells the foreground shh, leaves the terminal's session (as daemon(3)
    /// does, so the terminal's hangup does not end us), and puts /dev/null where ssh does: standard input and
    /// output always, unless a remote command's output goes there; standard error unless debugging to it.
    static func detach(reportingOn descriptor: CInt, keepOutput: Bool, keepErrors: Bool) {
        var byte = UInt8(ascii: "r")
        _ = write(descriptor, &byte, 1)
        close(descriptor)
        _ = setsid()
        let null = open("/dev/null", O_RDWR)
        guard null >= 0 else { return }
        dup2(null, STDIN_FILENO)
        if !keepOutput { dup2(null, STDOUT_FILENO) }
        if !keepErrors { dup2(null, STDERR_FILENO) }
        if null > STDERR_FILENO { close(null) }
    }

    /// This program's path (/proc/self/exe resolved, so `ps` shows a name), or argv[0].
    private static func ownExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if length > 0 { return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return CommandLine.arguments.first ?? "shh"
    }
}
