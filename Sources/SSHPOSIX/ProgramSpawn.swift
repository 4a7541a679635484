// Starting helper programs (a ProxyCommand, shhd's network process, a test's peer) with posix_spawn: exactly the
// descriptors asked for, every signal at its default and none blocked (threads of a NIO process block some, and a
// child would inherit that mask), optionally in a session of its own. Sessions as a user go through
// `ChildProcess.spawn` instead, which can also change the user and give a controlling terminal.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSSHPOSIX

/// What happens to one descriptor in the child before the program runs, in the order given.
public enum SpawnAction: Sendable, Equatable {
    /// Opens `path` with `flags` (and `mode` when it creates the file) as descriptor `target`.
    case open(_ path: String, flags: CInt, mode: mode_t = 0, as: CInt)
    /// Makes `target` a copy of `source` (dup2; the copy is not close-on-exec).
    case duplicate(_ source: CInt, as: CInt)
    /// Makes `target` a copy of `source`, then closes `source`.
    case move(_ source: CInt, as: CInt)

    /// Moves `sources` to `first`, `first + 1`, ... whatever their numbers: each goes to a high number first, so
    /// one's target never overwrites another's source.
    ///
    /// - Parameters:
    ///   - sources: The descriptors to pass, in the order they should arrive.
    ///   - first: The number the first of them gets in the child (3 for descriptors after stdin, stdout, stderr).
    /// - Returns: The actions to give ``ProgramSpawn/start(_:arguments:environment:actions:newSession:)``.
    public static func renumbering(_ sources: [CInt], from first: CInt) -> [SpawnAction] {
        let high = max(sources.max() ?? 0, first + CInt(sources.count)) + 64
        let toHigh = sources.enumerated().map { SpawnAction.duplicate($0.element, as: high + CInt($0.offset)) }
        let toTarget = sources.indices.map { SpawnAction.move(high + CInt($0), as: first + CInt($0)) }
        return toHigh + toTarget
    }

    var target: CInt {
        switch self {
        case .open(_, _, _, let target), .duplicate(_, let target), .move(_, let target): target
        }
    }
}

/// posix_spawn with the discipline every helper program needs.
public enum ProgramSpawn {
    /// Starts `path` with `arguments` (argv[0] is `path`) and exactly `environment` ("NAME=value"). The child gets
    /// `actions` applied in order; every descriptor above the highest one they set up (and at least from 3) is
    /// closed, whatever this process left without close-on-exec.
    ///
    /// ```swift
    /// let pid = try ProgramSpawn.start("/bin/sh", arguments: ["-c", "echo hi >&2"], environment: ["PATH=/usr/bin:/bin"],
    ///                                  actions: [.open("/dev/null", flags: O_RDONLY, as: 0)])
    /// _ = await ChildProcess.exit(of: pid)
    /// ```
    ///
    /// - Parameters:
    ///   - path: The program's absolute path (no PATH search).
    ///   - arguments: The arguments after argv[0].
    ///   - environment: The child's whole environment, as "NAME=value" entries.
    ///   - actions: What to do with descriptors in the child, in order; descriptors 0–2 not set up here are
    ///     inherited.
    ///   - newSession: Start a new session (setsid), so signals to this process's group miss the child and the
    ///     child's job can be signalled as a whole.
    /// - Returns: The child's pid; the caller reaps it (``ChildProcess/exit(of:)``).
    /// - Throws: ``SSHPOSIXError`` of kind ``SSHPOSIXError/Kind/systemCall(_:errno:)`` naming the program when it
    ///   cannot be started.
    public static func start(_ path: String, arguments: [String], environment: [String], actions: [SpawnAction] = [],
                             newSession: Bool = false) throws -> pid_t {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        var open: Set<CInt> = []
        for action in actions {
            switch action {
            case .open(let file, let flags, let mode, let target):
                posix_spawn_file_actions_addopen(&fileActions, target, file, flags, mode)
            case .duplicate(let source, let target):
                posix_spawn_file_actions_adddup2(&fileActions, source, target)
            case .move(let source, let target):
                posix_spawn_file_actions_adddup2(&fileActions, source, target)
                posix_spawn_file_actions_addclose(&fileActions, source)
                open.remove(source)
            }
            open.insert(action.target)
        }
        let highestTarget = max(2, open.max() ?? 2)
        _ = shh_spawn_file_actions_addclosefrom(&fileActions, highestTarget + 1)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        let sessionFlag = newSession ? shh_posix_spawn_setsid_flag() : 0
        posix_spawnattr_setflags(&attributes, Int16(sessionFlag | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &fileActions, &attributes, argv, envp)
        guard result == 0 else { throw SSHPOSIXError(.systemCall("starting \(path)", errno: result)) }
        return pid
    }
}

/// Descriptor calls Swift does not import (GNU extensions).
public enum Descriptors {
    /// A pipe whose two ends are close-on-exec from the start (pipe2 with O_CLOEXEC), so a program another thread
    /// starts meanwhile cannot inherit them.
    /// - Returns: The read end and the write end.
    /// - Throws: ``SSHPOSIXError`` of kind ``SSHPOSIXError/Kind/systemCall(_:errno:)`` ("pipe2") when the process
    ///   is out of descriptors.
    public static func pipe() throws -> (read: CInt, write: CInt) {
        var ends: [CInt] = [-1, -1]
        guard shh_pipe_cloexec(&ends) == 0 else { throw SSHPOSIXError(.systemCall("pipe2", errno: errno)) }
        return (ends[0], ends[1])
    }

    /// Lets the pipe `descriptor` hold `size` bytes (F_SETPIPE_SZ), so a bulk writer and reader wake each other
    /// less often.
    ///
    /// - Parameters:
    ///   - descriptor: Either end of a pipe.
    ///   - size: The capacity wanted, in bytes (the kernel rounds it up to a power of two pages).
    /// - Returns: The new capacity, or nil when it is not a pipe or the system's limit is lower.
    @discardableResult
    public static func growPipe(_ descriptor: CInt, to size: Int) -> Int? {
        let capacity = shh_grow_pipe(descriptor, CInt(clamping: size))
        return capacity < 0 ? nil : Int(capacity)
    }
}

/// This process's environment, read from `environ` each time (so a change by setenv is seen).
public enum ProcessEnvironment {
    /// Every entry as "NAME=value", in `environ`'s order.
    public static var entries: [String] {
        var result: [String] = []
        var pointer = environ
        while let entry = pointer.pointee {
            result.append(String(cString: entry))
            pointer += 1
        }
        return result
    }

    /// Every entry by name (a name given twice keeps its last value).
    public static var variables: [String: String] {
        var result: [String: String] = [:]
        for entry in entries {
            if let equals = entry.firstIndex(of: "=") { result[String(entry[..<equals])] = String(entry[entry.index(after: equals)...]) }
        }
        return result
    }
}
