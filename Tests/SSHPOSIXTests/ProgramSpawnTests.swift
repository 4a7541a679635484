// ProgramSpawn.start, the way shh starts a ProxyCommand and shhd its network process: the program gets exactly the
// argv and environment given, only the descriptors its actions set up (not whatever this process left without
// close-on-exec), descriptors renumbered even when their numbers collide, and a session of its own when asked.
// Each child here is `sh -c 'read x'` on a pipe this test holds, so it stays put while /proc shows what it has,
// and ends (reaped with a deadline) when the pipe closes.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SSHPOSIX
import Testing

@Suite(.timeLimit(.minutes(10))) struct ProgramSpawnTests {
    static let script = "echo ready; read x; exit 7"

    /// A shell waiting on its standard input, which is `input` (read end); `actions` come after that one. Returns
    /// once the shell has said it runs (so /proc shows the shell, not a process on its way there). In a session of
    /// its own unless told otherwise, so nothing aimed at the test runner's process group reaches it.
    private func waitingShell(input: CInt, arguments: [String] = [], environment: [String] = ["PATH=/bin:/usr/bin"],
                              actions: [SpawnAction] = [], newSession: Bool = true) async throws -> pid_t {
        let ready = try Descriptors.pipe()
        let pid: pid_t
        do {
            pid = try ProgramSpawn.start("/bin/sh", arguments: ["-c", Self.script] + arguments, environment: environment,
                                         actions: [.duplicate(input, as: 0), .duplicate(ready.write, as: 1)] + actions,
                                         newSession: newSession)
        } catch {
            close(ready.read)
            close(ready.write)
            throw error
        }
        close(ready.write)
        let said = await readLine(ready.read, within: .seconds(30))
        close(ready.read)
        try #require(said == "ready", "the shell did not start: \(String(describing: said))")
        return pid
    }

    /// Lets the shell read end of file and checks it exits 7 within the deadline.
    private func finish(_ pid: pid_t, closing input: CInt) async {
        close(input)
        #expect(await childExit(of: pid) == .exited(7))
    }

    /// argv[0] is the path, then the arguments byte for byte (spaces, empty, non-ASCII); the environment is exactly
    /// the list given, in order, nothing of this process's added.
    @Test func argumentsAndEnvironmentExactlyAsGiven() async throws {
        let input = try Descriptors.pipe()
        defer { close(input.read) }
        let arguments = ["zero", "two words", "", "naïve=1", "--"]
        let environment = ["PATH=/bin:/usr/bin", "EMPTY=", "WITH=equals=inside", "LANG=C.UTF-8"]
        let pid = try await waitingShell(input: input.read, arguments: arguments, environment: environment)
        func nulSeparated(_ path: String) throws -> [String] {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            return bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(try nulSeparated("/proc/\(pid)/cmdline") == ["/bin/sh", "-c", Self.script] + arguments)
        #expect(try nulSeparated("/proc/\(pid)/environ") == environment)
        await finish(pid, closing: input.write)
    }

    /// A pipe this process opened without close-on-exec does not reach the child; the descriptor an action set up
    /// does, and so do 0-2.
    @Test func onlyDescriptorsSetUpByActionsSurvive() async throws {
        var leaked: [CInt] = [-1, -1]
        try #require(pipe(&leaked) == 0)
        defer { close(leaked[0]); close(leaked[1]) }
        #expect(fcntl(leaked[0], F_GETFD) & FD_CLOEXEC == 0, "the test's pipe must be inheritable for this to mean anything")
        let leakedTarget = try #require(descriptorTarget(leaked[0], of: getpid()))
        let input = try Descriptors.pipe()
        defer { close(input.read) }
        let pid = try await waitingShell(input: input.read)
        let inputTarget = try #require(descriptorTarget(input.read, of: getpid()))
        let open = try openDescriptors(of: pid)
        #expect(open[0] == inputTarget)
        #expect(!open.values.contains(leakedTarget), "the child holds the test's pipe: \(open)")
        #expect(open.keys.allSatisfy { $0 <= 2 }, "descriptors above 2 in the child: \(open)")
        await finish(pid, closing: input.write)
    }

    /// `renumbering` puts [a, b] at 3 and 4 in the child, and the closing starts above the highest one it set up.
    @Test func renumberingToThreeAndFour() async throws {
        let a = try Descriptors.pipe()
        let b = try Descriptors.pipe()
        defer { for descriptor in [a.read, a.write, b.read, b.write] { close(descriptor) } }
        let input = try Descriptors.pipe()
        defer { close(input.read) }
        let pid = try await waitingShell(input: input.read, actions: SpawnAction.renumbering([a.write, b.write], from: 3))
        let open = try openDescriptors(of: pid)
        #expect(open[3] == descriptorTarget(a.write, of: getpid()))
        #expect(open[4] == descriptorTarget(b.write, of: getpid()))
        #expect(open.keys.allSatisfy { $0 <= 4 }, "descriptors above 4 in the child: \(open)")
        await finish(pid, closing: input.write)
    }

    /// Sources at N and N + 1 moved the other way round (N + 1 to N, N to N + 1): each target is another's source,
    /// and a plain dup2 in order would give the child the same pipe twice.
    @Test func renumberingWhenTargetsAreSources() async throws {
        let a = try Descriptors.pipe()
        let b = try Descriptors.pipe()
        defer { for descriptor in [a.read, a.write, b.read, b.write] { close(descriptor) } }
        // Two adjacent numbers, well above what the test process uses (close-on-exec, as the library's own are).
        let low = fcntl(a.write, F_DUPFD_CLOEXEC, 600)
        try #require(low >= 600)
        defer { close(low) }
        let high = fcntl(b.write, F_DUPFD_CLOEXEC, low + 1)
        defer { close(high) }
        try #require(high == low + 1, "no free number next to \(low)")
        let input = try Descriptors.pipe()
        defer { close(input.read) }
        let pid = try await waitingShell(input: input.read, actions: SpawnAction.renumbering([high, low], from: low))
        let open = try openDescriptors(of: pid)
        let aTarget = try #require(descriptorTarget(a.write, of: getpid()))
        let bTarget = try #require(descriptorTarget(b.write, of: getpid()))
        #expect(aTarget != bTarget)
        #expect(open[low] == bTarget, "\(open)")
        #expect(open[high] == aTarget, "\(open)")
        await finish(pid, closing: input.write)
    }

    /// The same renumbering, checked on a model of dup2 and close: every source lands on its target whatever the
    /// numbers, including targets that are other sources and sources below the first target.
    @Test(arguments: [([5, 3], 3), ([4, 3], 3), ([3, 4, 5], 4), ([9, 8, 7], 7), ([0, 1], 3), ([10, 3, 4], 3)] as [([CInt], CInt)])
    func renumberingModel(sources: [CInt], first: CInt) {
        var table: [CInt: String] = [:]
        for source in sources { table[source] = "file \(source)" }
        for action in SpawnAction.renumbering(sources, from: first) {
            switch action {
            case .duplicate(let source, let target): table[target] = table[source]
            case .move(let source, let target):
                table[target] = table[source]
                if source != target { table[source] = nil }
            case .open: Issue.record("renumbering opened a file")
            }
        }
        for (offset, source) in sources.enumerated() {
            #expect(table[first + CInt(offset)] == "file \(source)", "\(sources) from \(first): \(table)")
        }
    }

    /// newSession: the child leads a session of its own; without it, it stays in ours.
    @Test func newSessionGivesANewSessionID() async throws {
        for newSession in [true, false] {
            let input = try Descriptors.pipe()
            defer { close(input.read) }
            let pid = try await waitingShell(input: input.read, newSession: newSession)
            if newSession {
                #expect(getsid(pid) == pid)
                #expect(getsid(pid) != getsid(0))
            } else {
                #expect(getsid(pid) == getsid(0))
            }
            await finish(pid, closing: input.write)
        }
    }

    /// A program that does not exist: an error that names it, not a child.
    @Test func aMissingProgramIsAnError() throws {
        do {
            _ = try ProgramSpawn.start("/nonexistent/shh-test-program", arguments: [], environment: [])
            Issue.record("a missing program started")
        } catch let error as SSHPOSIXError {
            #expect(error.kind == .systemCall("starting /nonexistent/shh-test-program", errno: ENOENT))
            #expect(error.description.contains("starting /nonexistent/shh-test-program failed"))
        }
    }

    /// Output through a pipe set up by an action: what the child writes is what the parent reads.
    @Test func outputThroughAnAction() async throws {
        let output = try Descriptors.pipe()
        defer { close(output.read) }
        let pid = try ProgramSpawn.start("/bin/sh", arguments: ["-c", "printf '%s|' \"$@\"; printf '%s' \"$GREETING\"", "sh", "a b", "c"],
                                         environment: ["GREETING=hello"], actions: [.duplicate(output.write, as: 1)])
        close(output.write)
        #expect(readAll(output.read).map { String(decoding: $0, as: UTF8.self) } == "a b|c|hello")
        #expect(await childExit(of: pid) == .exited(0))
    }
}

@Suite(.timeLimit(.minutes(10))) struct DescriptorsTests {
    /// Both ends are close-on-exec from the start, and carry bytes from one to the other.
    @Test func pipeIsCloseOnExec() throws {
        let ends = try Descriptors.pipe()
        defer { close(ends.read); close(ends.write) }
        #expect(fcntl(ends.read, F_GETFD) & FD_CLOEXEC != 0)
        #expect(fcntl(ends.write, F_GETFD) & FD_CLOEXEC != 0)
        #expect(write(ends.write, "ping", 4) == 4)
        var buffer = [UInt8](repeating: 0, count: 8)
        #expect(read(ends.read, &buffer, 8) == 4)
        #expect(Array(buffer.prefix(4)) == Array("ping".utf8))
    }

    /// A pipe grows to the size asked for (within the system's limit); anything else is not a pipe.
    @Test func growPipe() throws {
        let ends = try Descriptors.pipe()
        defer { close(ends.read); close(ends.write) }
        let capacity = try #require(Descriptors.growPipe(ends.write, to: 256 * 1024))
        #expect(capacity >= 256 * 1024)
        let file = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(file) }
        #expect(Descriptors.growPipe(file, to: 256 * 1024) == nil)
    }
}

@Suite(.timeLimit(.minutes(10))) struct ChildExitTests {
    /// An exit status and a signal come back as such, as the client sees them (exit-status / exit-signal).
    @Test func statusAndSignal() async throws {
        let exits = try ProgramSpawn.start("/bin/sh", arguments: ["-c", "exit 3"], environment: [])
        #expect(await childExit(of: exits) == .exited(3))
        let large = try ProgramSpawn.start("/bin/sh", arguments: ["-c", "exit 255"], environment: [])
        #expect(await childExit(of: large) == .exited(255))
        let killed = try ProgramSpawn.start("/bin/sh", arguments: ["-c", "kill -TERM $$"], environment: [])
        #expect(await childExit(of: killed) == .signaled(SIGTERM))
        let input = try Descriptors.pipe()
        defer { close(input.read) }
        let hung = try ProgramSpawn.start("/bin/sh", arguments: ["-c", "read x"], environment: [], actions: [.duplicate(input.read, as: 0)])
        kill(hung, SIGKILL)
        #expect(await childExit(of: hung) == .signaled(SIGKILL))
        close(input.write)
    }

    /// A child someone else has already reaped reads as killed ("gone"), instead of waiting for ever.
    @Test func anAlreadyReapedChildIsGone() async throws {
        let pid = try ProgramSpawn.start("/bin/sh", arguments: ["-c", "exit 0"], environment: [])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        #expect(await childExit(of: pid) == .signaled(SIGKILL))
    }
}
