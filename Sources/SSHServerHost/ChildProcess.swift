// Starting and reaping session processes (the POSIX side of RFC 4254 §6.5 exec/shell): posix_spawn with the
// child in a session and process group of its own (so signals reach the whole job), every signal at its default
// disposition and none blocked whatever the server's threads block or ignore, and stdin/stdout/stderr on pipes whose
// other ends are close-on-exec (so no other child inherits them and keeps a session's output open).
//
// Without a terminal and as the server's own user: PTYs, controlling terminals and changing user need the fork-based
// shim of shhd's issue, which slots in beside this.
import CSSHHost
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a session process could not be started or watched.
public struct SSHServerHostError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A system call failed: which, and errno's text.
        case systemCall(String, errno: Int32)
    }

    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }

    public var description: String {
        switch kind {
        case .systemCall(let call, let code): "\(call) failed: \(String(cString: strerror(code)))"
        }
    }
}

/// How a child process ended.
public enum ChildExit: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus status: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import (they are macros).
        let termination = status & 0x7F
        self = termination == 0 ? .exited((status >> 8) & 0xFF) : .signaled(termination)
    }
}

/// A running child and the parent's ends of its standard descriptors.
struct SpawnedChild {
    let pid: pid_t
    /// Write end of the child's stdin.
    let stdin: CInt
    /// Read ends of the child's stdout and stderr.
    let stdout: CInt
    let stderr: CInt
}

enum ChildProcess {
    /// glibc's POSIX_SPAWN_SETSID (2.26+), a GNU extension Swift does not import.
    private static let spawnSetSID = shh_posix_spawn_setsid_flag()

    /// Starts `path` with `arguments` (argv, argv[0] included) and exactly `environment` ("NAME=value").
    static func spawn(path: String, arguments: [String], environment: [String]) throws -> SpawnedChild {
        var opened: [CInt] = []
        func closeAll() { for fd in opened { close(fd) } }
        func makePipe() throws -> [CInt] {
            var ends: [CInt] = [-1, -1]
            guard shh_pipe_cloexec(&ends) == 0 else {
                let code = errno
                closeAll()
                throw SSHServerHostError(.systemCall("pipe2", errno: code))
            }
            opened += ends
            return ends
        }
        let stdinPipe = try makePipe(), stdoutPipe = try makePipe(), stderrPipe = try makePipe()

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
        // Descriptors other code in the process left inheritable (Foundation's pipes, say) must not reach the
        // session: a child holding another session's pipe keeps that session from ever seeing EOF.
        let closing = shh_spawn_file_actions_addclosefrom(&actions, 3)
        guard closing == 0 else {
            closeAll()
            throw SSHServerHostError(.systemCall("posix_spawn_file_actions_addclosefrom_np", errno: closing))
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | spawnSetSID))

        var pid: pid_t = 0
        let result = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in
                posix_spawn(&pid, path, &actions, &attributes, argv, envp)
            }
        }
        // The child's ends are the child's now (or nobody's, if the spawn failed).
        close(stdinPipe[0])
        close(stdoutPipe[1])
        close(stderrPipe[1])
        guard result == 0 else {
            close(stdinPipe[1])
            close(stdoutPipe[0])
            close(stderrPipe[0])
            throw SSHServerHostError(.systemCall("posix_spawn \(path)", errno: result))
        }
        return SpawnedChild(pid: pid, stdin: stdinPipe[1], stdout: stdoutPipe[0], stderr: stderrPipe[0])
    }

    /// Waits for `pid` to end, on a small thread of its own: waitpid on that one pid, so children that other code in
    /// the process started (Foundation's Process, say) are never reaped from under it.
    static func exit(of pid: pid_t) async -> ChildExit {
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
    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return body(pointers)
    }
}
