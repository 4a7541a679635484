// shhd started by a test: our own build of the server on a free loopback port, its log in a temp directory,
// spawned directly (its own session, no descriptors of ours beyond 0-2, default signals) and stopped by PID.
import SSHPOSIX
import Foundation

var shhdPath: String { "\(productsDirectory)/shhd" }

/// Unchecked: a test drives its server from one task at a time.
final class TestShhd: @unchecked Sendable {
    let directory: String
    let port: Int
    let pid: pid_t
    let log: String
    private var reaped = false

    /// Starts `shhd -D -e -p PORT` plus `arguments` (a config with -f, -o options...), with `environment` added
    /// to ours; waits until it logs that it listens and the port answers "SSH-2.0-". A port someone else took between
    /// our choosing it and shhd's bind (CI saw it once, origin unknown) means another port, up to three times.
    @available(*, noasync, message: "blocks a cooperative pool thread; use TestShhd.start")
    init(_ arguments: [String], directory: String, environment: [String: String] = [:]) throws {
        self.directory = directory
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        // The whole suite connects from 127.0.0.1, many times at once and many times failing on purpose: shhd's
        // startup limits and penalties (sshd's defaults) would refuse it. Tests of those limits set them with -o.
        var arguments = arguments
        if !arguments.contains(where: { $0.localizedCaseInsensitiveContains("MaxStartups") || $0.localizedCaseInsensitiveContains("PerSource") }) {
            arguments += ["-o", "MaxStartups 1000", "-o", "PerSourceMaxStartups none", "-o", "PerSourcePenalties no"]
        }
        var attempt = 0
        while true {
            attempt += 1
            let port = try freeLoopbackPort()
            let log = directory + "/shhd-\(port).log"
            let pid = try spawnInNewSession(shhdPath, ["-D", "-e", "-p", "\(port)"] + arguments, environment: merged, actions: [
                .open("/dev/null", flags: O_RDONLY, mode: 0, as: 0),
                .open(log, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o600, as: 1),
                .duplicate(1, as: 2),
            ])
            switch Self.waitUntilListening(pid: pid, port: port, log: log) {
            case .listening:
                (self.port, self.pid, self.log) = (port, pid, log)
                return
            case .exited(let text) where text.contains("Address already in use") && attempt < 3:
                continue
            case .exited(let text):
                throw InteropError.missingProgram("a working shhd (exited: \(text))")
            case .silent(let text):
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                throw InteropError.missingProgram("a working shhd (no banner on port \(port): \(text))")
            }
        }
    }

    private enum StartOutcome { case listening, exited(String), silent(String) }

    /// Its own log line too, not just a banner on the port: a banner could be another server's.
    private static func waitUntilListening(pid: pid_t, port: Int, log: String) -> StartOutcome {
        func text() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if text().contains("Server listening on 127.0.0.1 port \(port)."), let banner = try? readBanner(port: port),
               banner.hasPrefix("SSH-2.0-") { return .listening }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return .exited(text()) }
            usleep(50_000)
        }
        return .silent(text())
    }

    /// Starts it off the cooperative thread pool (waiting for the banner blocks a thread).
    static func start(_ arguments: [String], directory: String, environment: [String: String] = [:]) async throws -> TestShhd {
        try await offThePool { try TestShhd(arguments, directory: directory, environment: environment) }
    }

    /// Kills shhd and every session it started, reaped on a thread of its own (for `defer`, where nothing waits
    /// for the exit status).
    func terminate() {
        guard !reaped else { return }
        killTree(pid)
        let child = pid
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        }
    }

    /// `stop` off the cooperative pool.
    func stopped(seconds: Double = 10) async -> Int32? {
        (try? await offThePool { [self] in stop(seconds: seconds) }) ?? nil
    }

    var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// shhd's resident memory in KiB: the broker's plus, as root, the network process's (which holds the
    /// connections); nil once shhd is gone.
    var totalResidentKiB: Int? {
        guard let broker = residentKiB(of: pid) else { return nil }
        return broker + (networkProcess.flatMap { residentKiB(of: $0) } ?? 0)
    }

    /// The network process (shhd run as root splits in two): shhd's child that is shhd itself, not a session. Nil when
    /// there is none right now (not root, or it is being restarted).
    var networkProcess: pid_t? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.lazy.compactMap { pid_t($0) }.first { candidate in
            parentProcess(of: candidate) == self.pid && executablePath(of: candidate) == executablePath(of: self.pid)
        }
    }

    /// SIGTERM, then the exit status (nil if it did not exit within `seconds`; it is killed then).
    @discardableResult
    @available(*, noasync, message: "blocks a cooperative pool thread; use await stopped()")
    func stop(seconds: Double = 10) -> Int32? {
        // Its sessions as they are now: whatever of them outlives shhd's own exit is killed after it.
        let sessions = descendants(of: pid)
        defer { for session in sessions { kill(session, SIGKILL); kill(-session, SIGKILL) } }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        while Date() < deadline {
            if waitpid(pid, &status, WNOHANG) == pid {
                reaped = true
                return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            }
            usleep(20_000)
        }
        killTree(pid)
        waitpid(pid, &status, 0)
        reaped = true
        return nil
    }
}

/// Spawns `executable` in a session of its own with default signal handling and no descriptors of ours beyond
/// what `descriptors` sets up for 0, 1 and 2 (threads in the test process block signals, and children would
/// inherit that mask and our pipes otherwise). Returns its PID; the caller reaps it.
func spawnInNewSession(_ executable: String, _ arguments: [String], environment: [String: String],
                       actions: [SpawnAction]) throws -> pid_t {
    do {
        return try ProgramSpawn.start(executable, arguments: arguments, environment: environment.map { "\($0.key)=\($0.value)" },
                                      actions: actions, newSession: true)
    } catch {
        throw InteropError.missingProgram("\(executable) (\(error))")
    }
}

/// Sends `signal` to a child of this process and waits for it (on a thread of its own, not the pool).
func killAndReap(_ pid: pid_t, _ signal: Int32) async {
    kill(pid, signal)
    _ = try? await offThePool { var status: Int32 = 0; return waitpid(pid, &status, 0) }
}

/// ed25519 key pairs made by ssh-keygen (no passphrase) in `directory`; returns their private keys' paths.
func makeKeys(_ names: [String], in directory: String) async throws -> [String] {
    var paths: [String] = []
    for name in names {
        let path = directory + "/" + name
        let made = try await runAsync(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "", "-f", path])
        guard made.status == 0 else { throw InteropError.missingProgram("ssh-keygen (\(made.stderr))") }
        paths.append(path)
    }
    return paths
}

/// The parent of `pid` as /proc says (nil when it is gone).
func parentProcess(of pid: pid_t) -> pid_t? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return fields.count > 1 ? pid_t(fields[1]) : nil
}

/// The program `pid` runs (/proc/PID/exe), nil when unreadable.
func executablePath(of pid: pid_t) -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/\(pid)/exe", &buffer, buffer.count - 1)
    guard length > 0 else { return nil }
    return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
