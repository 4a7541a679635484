// Running real programs for the interop tests: OpenSSH's ssh-keygen and our own shh-keygen binary.

import Foundation
import Synchronization
import Testing

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum InteropError: Error, CustomStringConvertible {
    case missingProgram(String)
    var description: String {
        switch self {
        case .missingProgram(let name):
            return "\(name) is not installed; .ci/run installs OpenSSH (apt-get install openssh-client)"
        }
    }
}

/// The directory holding the test binary, where SwiftPM also puts the package's executables.
let productsDirectory: String = {
    let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
    // Inside an .xctest bundle on some platforms; climb out of it.
    while url.path.contains(".xctest") { url = url.deletingLastPathComponent() }
    return url.path
}()

var shhKeygenPath: String { "\(productsDirectory)/shh-keygen" }

func sshKeygenPath() throws -> String {
    for candidate in ["/usr/bin/ssh-keygen", "/usr/local/bin/ssh-keygen"] where FileManager.default.isExecutableFile(atPath: candidate) {
        return candidate
    }
    throw InteropError.missingProgram("ssh-keygen")
}

/// How long a program run by a test may take before it is killed and the test fails naming it. Generous: the
/// slowest programs here move 100 MB through a debug build on a loaded machine.
let defaultProgramDeadline: Double = 300

/// A wait that passed its deadline: says what was waited for.
struct DeadlineExceeded: Error, CustomStringConvertible {
    let description: String
    init(_ what: String, seconds: Double) { description = "timed out after \(Int(seconds)) s waiting for \(what)" }
}

/// Runs a program to completion with optional standard input, in its own session (so it has no
/// controlling terminal and can never stop to prompt on /dev/tty). Past `deadline` seconds it is killed with
/// everything it started, and `DeadlineExceeded` names it.
@discardableResult
@available(*, noasync, message: "blocks a thread of the cooperative pool (two on CI); use runAsync")
func run(_ executable: String, _ arguments: [String], stdin: [UInt8] = [], environment: [String: String]? = nil,
         deadline: Double = defaultProgramDeadline) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
    process.arguments = ["--wait", executable] + arguments
    if let environment { process.environment = environment }
    let input = Pipe(), output = Pipe(), error = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = error
    try process.run()
    // Read both pipes concurrently so a chatty child cannot block on a full pipe.
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    group.enter()
    Thread.detachNewThread { outData = output.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    Thread.detachNewThread { errData = error.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    // Written on a thread of its own too: a child that never reads its input must not hold us past the deadline.
    Thread.detachNewThread {
        // A child that exits before reading all of it must cost an EPIPE here, not the test process: SIGPIPE from
        // a write goes to the writing thread, and blocked it stays pending there and dies with the thread.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
        try? input.fileHandleForWriting.write(contentsOf: stdin)
        try? input.fileHandleForWriting.close()
    }
    // A watchdog kills it (with everything it started) once the deadline passes; then the wait below ends too.
    let pid = process.processIdentifier
    let finished = Atomic(false), killed = Atomic(false)
    DispatchQueue.global().asyncAfter(deadline: .now() + deadline) {
        guard !finished.load(ordering: .acquiring) else { return }
        killed.store(true, ordering: .releasing)
        killTree(pid)
    }
    process.waitUntilExit()
    finished.store(true, ordering: .releasing)
    if killed.load(ordering: .acquiring) {
        _ = group.wait(timeout: .now() + 10)
        let command = ([executable] + arguments).joined(separator: " ")
        throw DeadlineExceeded("`\(command.prefix(200))` to exit (killed)", seconds: deadline)
    }
    // The output pipes end when the last holder closes them: what the program left running is not waited for.
    if group.wait(timeout: .now() + 10) == .timedOut {
        killTree(process.processIdentifier)
        _ = group.wait(timeout: .now() + 5)
    }
    return ProcessResult(status: process.terminationStatus,
                         stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// Every process below `root`, children before grandchildren (from /proc: per-connection sshd processes are
/// children and grandchildren of the listener; shhd's sessions are its children).
func descendants(of root: pid_t) -> [pid_t] {
    var parents: [pid_t: pid_t] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 1, let parent = pid_t(fields[1]) { parents[pid] = parent }
    }
    var found: [pid_t] = [], frontier = [root]
    while !frontier.isEmpty {
        let next = frontier.removeFirst()
        let children = parents.filter { $0.value == next }.map(\.key)
        found += children
        frontier += children
    }
    return found
}

/// SIGKILL to `root` and everything below it (found first, so nothing is orphaned out of reach), process groups
/// included: what a test started must not outlive it.
func killTree(_ root: pid_t) {
    let all = [root] + descendants(of: root)
    for pid in all { kill(pid, SIGKILL) }
    // A session's process group (a shell's background jobs) may have left the tree already.
    for pid in all { kill(-pid, SIGKILL) }
}

/// Waits until `condition` holds, checking every 20 ms, for at most `seconds`.
func eventually(_ seconds: Double = 10, _ condition: () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}

/// A fresh temporary directory, removed by the caller's defer.
func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "shh-interop-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

let fixtureDirectory: String = {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/keys").path
}()

let fixturePassphrase = "correct horse"

/// Copies fixtures into `directory` with private-key permissions (git does not keep 0600).
func copyFixtures(_ names: [String], to directory: String) throws {
    for name in names {
        for suffix in ["", ".pub"] {
            let source = "\(fixtureDirectory)/\(name)\(suffix)"
            guard FileManager.default.fileExists(atPath: source) else { continue }
            let destination = "\(directory)/\(name)\(suffix)"
            try FileManager.default.copyItem(atPath: source, toPath: destination)
            try FileManager.default.setAttributes([.posixPermissions: suffix.isEmpty ? 0o600 : 0o644], ofItemAtPath: destination)
        }
    }
}

func readText(_ path: String) throws -> String {
    String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
}

/// OpenSSH's log functions end stderr lines with "\r\n" (safe on a raw terminal); we write plain "\n".
func withoutCarriageReturns(_ text: String) -> String {
    text.replacingOccurrences(of: "\r\n", with: "\n")
}

/// Runs blocking work (a process, a server's start) on a thread of its own (dispatch's pool is limited too). Async tests must not block the cooperative
/// thread pool (two threads on this machine; Swift Testing runs synchronous tests there too): an in-process server
/// or client they talk to needs it, and a queue of blocked threads starved an authentication past its 30 s bound.
func offThePool<T>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// `run` off the cooperative pool.
func runAsync(_ executable: String, _ arguments: [String], stdin: [UInt8] = [], environment: [String: String]? = nil,
              deadline: Double = defaultProgramDeadline) async throws -> ProcessResult {
    try await offThePool { try run(executable, arguments, stdin: stdin, environment: environment, deadline: deadline) }
}

/// The program and arguments that run `executable` with default signal handling: threads in the test process
/// block signals and children inherit that mask, so a long-lived peer (sshd and the sessions it starts) would
/// otherwise ignore SIGTERM and friends. A two-line Python trampoline unblocks and resets them, then execs.
func withDefaultSignals(_ executable: String, _ arguments: [String]) -> (String, [String]) {
    let trampoline = "import os, signal, sys\nsignal.pthread_sigmask(signal.SIG_SETMASK, [])\n"
        + "[signal.signal(s, signal.SIG_DFL) for s in (1, 2, 3, 13, 15)]\nos.execv(sys.argv[1], sys.argv[1:])"
    return ("/usr/bin/env", ["python3", "-c", trampoline, executable] + arguments)
}

/// `count` random bytes from the kernel (/dev/urandom, read whole), fast at any size: building them a byte at a
/// time in a debug build took 8 s per 16 MiB, all of it on a cooperative pool thread.
func randomBytes(_ count: Int) -> [UInt8] {
    guard let source = FileHandle(forReadingAtPath: "/dev/urandom") else { preconditionFailure("no /dev/urandom") }
    defer { try? source.close() }
    return Array(source.readData(ofLength: count))
}

/// A session's stderr without what root's shell start-up files on the CI image add: bash reads ~/.bashrc under
/// ssh even for a command, and that .bashrc runs `pyenv init`, whose rehash complains when two sessions run it at
/// once ("pyenv: cannot rehash", "rm: cannot remove '/root/.pyenv/shims/…'"). sshd's sessions and ours alike.
func withoutShellStartupNoise(_ stderr: String) -> String {
    stderr.split(separator: "\n", omittingEmptySubsequences: false)
        .filter { !$0.hasPrefix("pyenv: ") && !$0.contains("/.pyenv/") }
        .joined(separator: "\n")
}

/// A process's resident memory (VmRSS) in KiB, nil once it is gone.
func residentKiB(of pid: pid_t) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
    return Int(line.split(separator: " ").dropFirst().first ?? "")
}

/// Polls `condition` every 50 ms until it holds (true) or `seconds` pass (false). The last check starts after the
/// deadline: a busy test process may resume late.
func waitUntil(seconds: Double, _ condition: () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        let expired = Date() >= deadline
        if await condition() { return true }
        if expired { return false }
        try? await Task.sleep(for: .milliseconds(50))
    }
}
