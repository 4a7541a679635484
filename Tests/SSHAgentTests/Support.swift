// What the SSHAgent tests share: OpenSSH's tools run with a deadline, and a real ssh-agent on a socket of the test's.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

struct ToolError: Error, CustomStringConvertible {
    var description: String
}

/// A fresh directory (the caller removes it). Short, so a socket path in it fits sun_path.
func temporaryDirectory() throws -> String {
    let directory = "/tmp/shh-agent-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return directory
}

/// Runs `path` with `arguments` and exactly `environment`, standard input empty; its exit status and output, or an
/// error when it does not finish within `limit` (it is then killed).
func runTool(_ path: String, _ arguments: [String], environment: [String: String] = ["PATH": "/usr/bin:/bin"],
             within limit: Duration = .seconds(60)) async throws -> (status: Int32, output: String, errors: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.environment = environment
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = FileHandle.nullDevice
    let (exits, exited) = AsyncStream<Int32>.makeStream()
    process.terminationHandler = { finished in
        exited.yield(finished.terminationStatus)
        exited.finish()
    }
    try process.run()
    // Read both pipes to their end beside the wait, so a chatty tool never blocks on a full pipe.
    let outputHandle = output.fileHandleForReading
    let errorHandle = errors.fileHandleForReading
    let outputBytes = Task.detached { outputHandle.readDataToEndOfFile() }
    let errorBytes = Task.detached { errorHandle.readDataToEndOfFile() }
    let status = await withTaskGroup(of: Int32?.self) { group in
        group.addTask {
            for await status in exits { return status }
            return nil
        }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        let first = await group.next() ?? nil
        if first == nil { process.terminate() }
        group.cancelAll()
        return first
    }
    let (out, err) = await (outputBytes.value, errorBytes.value)
    guard let status else { throw ToolError(description: "\(path) \(arguments) did not finish within \(limit)") }
    return (status, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

/// `ssh-keygen -t TYPE -N '' -C COMMENT -f PATH`, failing the test if it does not work.
func makeKey(type: String, bits: Int? = nil, comment: String, path: String) async throws {
    let result = try await runTool("/usr/bin/ssh-keygen", ["-q", "-t", type] + (bits.map { ["-b", "\($0)"] } ?? []) + ["-N", "", "-C", comment, "-f", path])
    guard result.status == 0 else { throw ToolError(description: "ssh-keygen: \(result.errors)") }
}

/// A real OpenSSH agent (`ssh-agent -D -a SOCKET`) for the length of `body`: started, known ready from the line it
/// prints once it listens, stopped and reaped after.
func withAgent<R>(_ body: (_ socket: String, _ directory: String) async throws -> R) async throws -> R {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let socket = directory + "/agent.sock"
    let agent = Process()
    agent.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-agent")
    agent.arguments = ["-D", "-a", socket]
    agent.environment = ["PATH": "/usr/bin:/bin"]
    let output = Pipe()
    agent.standardOutput = output
    agent.standardError = FileHandle.nullDevice
    agent.standardInput = FileHandle.nullDevice
    let (exits, exited) = AsyncStream<Void>.makeStream()
    agent.terminationHandler = { _ in
        exited.yield()
        exited.finish()
    }
    try agent.run()
    func stop() async {
        // SIGKILL, not SIGTERM: a child of this process may inherit a signal mask that blocks SIGTERM (threads of a
        // test process block signals), and the agent keeps nothing worth a clean exit.
        kill(agent.processIdentifier, SIGKILL)
        let ended = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in exits { return true }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(20))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(ended, "ssh-agent was not reaped within 20 s of SIGKILL")
    }
    do {
        // "SSH_AUTH_SOCK=...; export SSH_AUTH_SOCK;" comes once the socket listens.
        let first = readLine(output.fileHandleForReading.fileDescriptor, within: .seconds(30))
        guard let first, first.hasPrefix("SSH_AUTH_SOCK=\(socket);") else {
            throw ToolError(description: "ssh-agent did not report its socket: \(first ?? "nothing within 30 s")")
        }
        let result = try await body(socket, directory)
        await stop()
        return result
    } catch {
        await stop()
        throw error
    }
}

/// One line from `descriptor` (without its newline), nil at end of file or when none comes within `limit`.
private func readLine(_ descriptor: CInt, within limit: Duration) -> String? {
    let deadline = ContinuousClock.now + limit
    var line: [UInt8] = []
    var byte: UInt8 = 0
    while ContinuousClock.now < deadline {
        var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&waiting, 1, 500)
        if ready < 0 && errno != EINTR { return nil }
        guard ready > 0 else { continue }
        let count = read(descriptor, &byte, 1)
        if count < 0 && errno == EINTR { continue }
        guard count == 1 else { return nil }
        if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
        line.append(byte)
    }
    return nil
}
