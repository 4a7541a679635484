// shhd's sessions as people and tools use them, against OpenSSH's ssh (and asyncssh where ssh cannot ask): a forced
// terminal of our window's size that is the shell's controlling terminal, a login shell typed at a terminal that
// follows a resize and returns its status, AcceptEnv/SendEnv, SetEnv and environment= with PermitUserEnvironment,
// ForceCommand in a Match block, command= and no-pty, signal requests, nothing left running when a client is killed,
// 50 connections at once and 10 sessions on one, garbage on the port, and git and rsync over it.
import Foundation
import Testing

@Suite("shhd sessions against ssh, asyncssh, git and rsync", .enabled(if: isRootUser, "logging in as root needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct ShhdSessionTests {
    // MARK: - Terminals

    @Test func forcedTerminalHasOurWindowSizeAndIsTheControllingTerminal() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let script = "tty; stty size; echo TERM=$TERM; echo SSH_TTY=$SSH_TTY; "
            + "echo \"pgid=$(ps -o pgid= -p $$ | tr -d ' ') tpgid=$(ps -o tpgid= -p $$ | tr -d ' ')\""
        // An unusual erase character (^H) locally: pty-req's modes must carry it to the remote terminal.
        let terminal = try startTerminal(fixture, server, ["-tt", "\(testLogin)@127.0.0.1", script + "; stty -a"], rows: 40, columns: 100,
                                         eraseCharacter: 0x08)
        let status = await terminal.waitForExit()
        // ssh's goodbye comes last; the screen is read on a thread of its own and may lag behind ssh's exit.
        #expect(await terminal.waitFor("Connection to 127.0.0.1 closed."), "\(terminal.text)")
        let screen = terminal.text
        let lines = screenLines(screen)
        #expect(status == 0, "\(screen) \(server.logText)")
        let tty = lines.first { $0.hasPrefix("/dev/pts/") }
        #expect(tty != nil, "the command has no terminal: \(screen)")
        #expect(lines.contains("40 100"), "stty size differs from the client's 40 × 100: \(screen)")
        #expect(lines.contains("TERM=xterm-256color"), "the client's TERM did not arrive: \(screen)")
        #expect(tty.map { lines.contains("SSH_TTY=\($0)") } == true, "SSH_TTY does not name the terminal: \(screen)")
        // The shell's process group is the terminal's foreground group: it is its controlling terminal (job
        // control, ^C and ^Z reach it).
        let groups = screen.firstMatch(of: /pgid=(\d+) tpgid=(\d+)/)
        #expect(groups != nil && groups?.1 == groups?.2, "not the controlling terminal's foreground group: \(screen)")
        #expect(screen.contains("erase = ^H"), "the local terminal's modes did not reach the remote one: \(screen)")
    }

    @Test func loginShellTypedAtTheTerminalFollowsAResizeAndReturnsItsStatus() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        // No command: a login shell on a pseudo-terminal.
        let terminal = try startTerminal(fixture, server, ["-tt", "\(testLogin)@127.0.0.1"], rows: 40, columns: 100)
        #expect(await waitUntilRaw(terminal), "ssh never started the session: \(terminal.text) \(server.logText)")
        terminal.type("stty size\r")
        #expect(await terminal.waitFor("40 100"), "\(terminal.text)")
        let before = terminal.screenCount
        terminal.resize(rows: 51, columns: 133)
        // The window-change travels beside the typed input (ssh sends it on SIGWINCH); ask until it has arrived.
        var seen = false
        for _ in 0..<20 where !seen {
            terminal.type("stty size\r")
            seen = await terminal.waitFor("51 133", after: before, seconds: 1)
        }
        #expect(seen, "the new size never reached the remote terminal: \(terminal.text)")
        // $0 starting with "-" is how a login shell knows it is one (and reads the profile).
        terminal.type("echo hi-$((6*7)) zero=$0; exit 7\r")
        let status = await terminal.waitForExit()
        #expect(status == 7, "ssh should return the shell's exit status: \(terminal.text) \(server.logText)")
        #expect(await terminal.waitFor("hi-42 zero=-"), "the typed command did not run in a login shell: \(terminal.text)")
    }

    // MARK: - Environment

    @Test func acceptedVariablesArriveAndSetEnvIsNotOverridden() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded(["-o", "AcceptEnv SHH_TEST_* FROM_SERVER", "-o", "SetEnv FROM_SERVER=1"])
        defer { server.terminate() }
        let result = try await runAsync("/usr/bin/ssh",
                                        try sshOptions(fixture, port: server.port)
                                            + ["-o", "SendEnv=SHH_TEST_A", "-o", "SendEnv=SHH_OTHER", "-o", "SendEnv=FROM_SERVER", "\(testLogin)@127.0.0.1",
                                               "echo \"A=${SHH_TEST_A-unset} OTHER=${SHH_OTHER-unset} FROM=${FROM_SERVER-unset}\""],
                                        environment: environment(["SHH_TEST_A": "alpha", "SHH_OTHER": "beta", "FROM_SERVER": "client"]))
        #expect(result.status == 0, "\(result.stderr) \(server.logText)")
        // SHH_TEST_A matches AcceptEnv; SHH_OTHER does not; FROM_SERVER is accepted but SetEnv's value wins.
        #expect(result.stdout == "A=alpha OTHER=unset FROM=1\n", "\(result.stderr)")
    }

    @Test func sentVariablesAreDroppedWithoutAcceptEnv() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let result = try await runAsync("/usr/bin/ssh",
                                        try sshOptions(fixture, port: server.port)
                                            + ["-o", "SendEnv=SHH_TEST_A", "\(testLogin)@127.0.0.1", "echo \"A=${SHH_TEST_A-unset}\""],
                                        environment: environment(["SHH_TEST_A": "alpha"]))
        #expect(result.status == 0, "\(result.stderr) \(server.logText)")
        #expect(result.stdout == "A=unset\n", "a variable no AcceptEnv names arrived: \(result.stdout)")
    }

    @Test func keyEnvironmentArrivesOnlyWithPermitUserEnvironment() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let key = try String(contentsOfFile: fixture.identity + ".pub", encoding: .utf8)
        try "environment=\"KEY_VAR=x\" \(key)".write(toFile: fixture.authorizedKeys, atomically: true, encoding: .utf8)
        for (permit, expected) in [("yes", "KEY_VAR=x\n"), ("no", "KEY_VAR=unset\n")] {
            let server = try await fixture.startEmbedded(["-o", "PermitUserEnvironment \(permit)"])
            defer { server.terminate() }
            let result = try await fixture.ssh(server, ["echo KEY_VAR=${KEY_VAR-unset}"])
            #expect(result.status == 0, "PermitUserEnvironment \(permit): \(result.stderr) \(server.logText)")
            #expect(result.stdout == expected, "PermitUserEnvironment \(permit): \(result.stdout)")
        }
    }

    // MARK: - Forced commands and no-pty

    @Test func forceCommandInAMatchBlockRunsInsteadOfTheClientsCommand() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let (server, hostKey, _) = try await fixture.startWithConfig("""
            Match User nobody
                ForceCommand echo wrong-block
            Match User \(testLogin)
                ForceCommand echo forced:$SSH_ORIGINAL_COMMAND
            """)
        defer { server.terminate() }
        let options = try sshOptions(fixture, port: server.port, hostKeyPublic: hostKey + ".pub")
        let forced = try await runAsync("/usr/bin/ssh", options + ["\(testLogin)@127.0.0.1", "date"])
        #expect(forced.status == 0, "\(forced.stderr) \(server.logText)")
        #expect(forced.stdout == "forced:date\n", "ForceCommand did not replace the command: \(forced.stdout)")
        // No command at all (a shell request): forced too, with an empty SSH_ORIGINAL_COMMAND.
        let shell = try await runAsync("/usr/bin/ssh", options + ["\(testLogin)@127.0.0.1"])
        #expect(shell.status == 0 && shell.stdout == "forced:\n", "\(shell.stdout) \(shell.stderr)")
    }

    @Test func keyCommandRunsInsteadOfTheClientsCommand() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let key = try String(contentsOfFile: fixture.identity + ".pub", encoding: .utf8)
        try "command=\"echo keyforced:$SSH_ORIGINAL_COMMAND\" \(key)".write(toFile: fixture.authorizedKeys, atomically: true, encoding: .utf8)
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let result = try await fixture.ssh(server, ["date"])
        #expect(result.status == 0, "\(result.stderr) \(server.logText)")
        #expect(result.stdout == "keyforced:date\n", "command= did not replace the client's command: \(result.stdout)")
    }

    @Test func noPtyKeyGetsNoTerminal() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let key = try String(contentsOfFile: fixture.identity + ".pub", encoding: .utf8)
        try "no-pty \(key)".write(toFile: fixture.authorizedKeys, atomically: true, encoding: .utf8)
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        // -tt asks explicitly: ssh reports the refusal, and (OpenSSH treats a refused explicit request as fatal, as
        // against sshd) gives up with 255.
        let forced = try await runAsync("/usr/bin/ssh", try sshOptions(fixture, port: server.port) + ["-tt", "\(testLogin)@127.0.0.1", "tty"])
        #expect(forced.stderr.contains("PTY allocation request failed on channel 0"), "\(forced.stderr) \(server.logText)")
        #expect(forced.status == 255, "\(forced.stdout) \(forced.stderr)")
        // At a terminal with no command, ssh only prefers one: the refusal is reported and the login shell runs
        // without a terminal. (ssh's side is raw, so "\n" is what reaches the shell's pipe.)
        let terminal = try startTerminal(fixture, server, ["\(testLogin)@127.0.0.1"])
        #expect(await terminal.waitFor("PTY allocation request failed on channel 0"), "\(terminal.text) \(server.logText)")
        terminal.type("tty; exit 3\n")
        let status = await terminal.waitForExit()
        #expect(status == 3, "\(terminal.text) \(server.logText)")
        #expect(await terminal.waitFor("not a tty"), "the shell of a no-pty key had a terminal: \(terminal.text)")
    }

    // MARK: - Signals

    @Test func signalRequestsReachTheRemoteProcess() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let result = try await asyncSSH(fixture, server, "signal")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines == ["READY ready", "TRAPPED 9 got TERM", "KILLED TERM"], "\(result.stdout) \(result.stderr.suffix(2000)) \(server.logText)")
    }

    // MARK: - Nothing left behind

    /// "up": ssh's input is endless (/dev/zero) and the command reads it; "down": the command writes endlessly.
    @Test(arguments: ["up", "down"])
    func aClientKilledMidTransferLeavesNoProcessBehind(_ direction: String) async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        // A sleep of an unlikely fractional length marks the session's processes (ps shows it; `cat` does not, so the
        // session id the marked shell started is checked too).
        let marker = "1000.\(UInt64.random(in: 100_000_000...999_999_999))"
        let errors = fixture.directory + "/ssh-stderr"
        let command = direction == "up"
            ? "head -c 1048576 >/dev/null; echo mid-transfer >&2; cat >/dev/null; sleep \(marker)"
            : "head -c 1048576 /dev/zero; echo mid-transfer >&2; cat /dev/zero; sleep \(marker)"
        let arguments = try sshOptions(fixture, port: server.port) + ["\(testLogin)@127.0.0.1", command]
        // The client is killed with data still flowing.
        let ssh = try spawnInNewSession("/usr/bin/ssh", arguments, environment: ProcessInfo.processInfo.environment, actions: [
            .open(direction == "up" ? "/dev/zero" : "/dev/null", flags: O_RDONLY, mode: 0, as: 0),
            .open("/dev/null", flags: O_WRONLY, mode: 0, as: 1),
            .open(errors, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600, as: 2),
        ])
        var reaped = false
        defer {
            if !reaped { kill(ssh, SIGKILL); Thread.detachNewThread { var status: Int32 = 0; waitpid(ssh, &status, 0) } }
        }
        let flowing = await waitUntil(seconds: 60) { ((try? readText(errors)) ?? "").contains("mid-transfer") }
        #expect(flowing, "the first MiB never went \(direction): \((try? readText(errors)) ?? "") \(server.logText)")
        await expectNothingLeftBehind(marker: marker, client: ssh, server: server) {
            await killAndReap(ssh, SIGKILL)
            reaped = true
        }
    }

    @Test func aTerminalClientKilledLeavesNoProcessBehind() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let marker = "1000.\(UInt64.random(in: 100_000_000...999_999_999))"
        let terminal = try startTerminal(fixture, server, ["-tt", "\(testLogin)@127.0.0.1", "echo started; sleep \(marker)"])
        #expect(await terminal.waitFor("started"), "\(terminal.text) \(server.logText)")
        await expectNothingLeftBehind(marker: marker, client: terminal.pid, server: server) {
            kill(terminal.pid, SIGKILL)
            _ = await terminal.waitForExit()
        }
    }

    /// Finds the session's processes (marked by `marker`), runs `killClient`, then waits until neither they nor
    /// anything else in their sessions is left (killing any leftover by PID so one failure does not litter the machine).
    func expectNothingLeftBehind(marker: String, client: pid_t, server: TestShhd, killClient: () async -> Void) async {
        var sessions: Set<pid_t> = []
        let started = await waitUntil(seconds: 60) {
            sessions = Set(((try? await offThePool { sessionProcesses(marker: marker, sessions: [], excluding: client) }) ?? []).map(\.session))
            return !sessions.isEmpty
        }
        #expect(started, "the remote command never showed up in ps: \(server.logText)")
        await killClient()
        var left: [(pid: pid_t, session: pid_t, line: String)] = []
        let gone = await waitUntil(seconds: 30) { [sessions] in
            left = (try? await offThePool { sessionProcesses(marker: marker, sessions: sessions, excluding: client) }) ?? []
            return left.isEmpty
        }
        #expect(gone, "processes left behind after the client was killed: \(left.map(\.line)) \(server.logText)")
        for process in left { kill(process.pid, SIGKILL) }
    }

    // MARK: - Many sessions

    @Test func fiftyConnectionsAtOnce() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let options = try sshOptions(fixture, port: server.port)
        let results = try await withThrowingTaskGroup(of: (Int, ProcessResult).self) { group in
            for index in 0..<50 {
                group.addTask { (index, try await runAsync("/usr/bin/ssh", options + ["\(testLogin)@127.0.0.1", "echo \(index)"])) }
            }
            return try await group.reduce(into: [Int: ProcessResult]()) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == 50)
        for (index, result) in results.sorted(by: { $0.key < $1.key }) {
            #expect(result.status == 0 && result.stdout == "\(index)\n", "connection \(index): \(result.status) \(result.stdout) \(result.stderr)")
        }
        // Every session's process was reaped: no zombies (or anything else) left as shhd's children.
        var children: [String] = []
        let reaped = await waitUntil(seconds: 30) {
            // As root, one child is shhd's own network process; every other child would be a session left over.
            let networkProcess = server.networkProcess.map { "\($0) " }
            children = ((try? await offThePool { childProcesses(of: server.pid) }) ?? []).filter { child in
                networkProcess.map { !child.hasPrefix($0) } ?? true
            }
            return children.isEmpty
        }
        #expect(reaped, "shhd still has children after every session ended: \(children)")
    }

    @Test func tenSessionsOnOneConnection() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let result = try await asyncSSH(fixture, server, "multiplex", ["10"])
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let sessions = lines.filter { $0.hasPrefix("SESSION ") }
        #expect(sessions.count == 10, "\(result.stdout) \(result.stderr.suffix(2000)) \(server.logText)")
        for (index, line) in sessions.enumerated() {
            #expect(line.hasPrefix("SESSION 0 session-\(index) 127.0.0.1 "), "\(line)")
        }
        // One connection: every session saw the same client port.
        #expect(Set(sessions.map { $0.split(separator: " ").dropFirst(4).first }).count == 1, "\(sessions)")
        // All ten held open at once, an eleventh is refused (MaxSessions 10, as sshd).
        #expect(lines.contains { $0.hasPrefix("EXTRA REFUSED") }, "\(result.stdout)")
    }

    // MARK: - Garbage

    @Test(arguments: ["", "SSH-2.0-garbage\r\n"])
    func garbageOnThePortIsCutOffAndTheServerGoesOn(_ prefix: String) async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        var generator = SystemRandomNumberGenerator()
        let garbage = Array(prefix.utf8) + (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let (reply, closed) = try await offThePool { try exchangeGarbage(port: server.port, send: garbage) }
        #expect(String(decoding: reply.prefix(8), as: UTF8.self) == "SSH-2.0-", "\(reply.prefix(64))")
        #expect(closed, "shhd kept a connection that sent garbage open: \(reply.count) bytes")
        let after = try await fixture.ssh(server, ["echo still-serving"])
        #expect(after.status == 0 && after.stdout == "still-serving\n", "\(after.stderr) \(server.logText)")
    }

    // MARK: - Tools over ssh

    @Test func gitCloneAndPush() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let directory = fixture.directory
        let git = environment(["GIT_SSH_COMMAND": sshCommandLine(fixture, server), "GIT_CONFIG_NOSYSTEM": "1", "HOME": directory,
                               "GIT_AUTHOR_NAME": "Tester", "GIT_AUTHOR_EMAIL": "tester@example.com",
                               "GIT_COMMITTER_NAME": "Tester", "GIT_COMMITTER_EMAIL": "tester@example.com"])
        func gitRun(_ arguments: [String]) async throws -> ProcessResult {
            let result = try await runAsync("/usr/bin/git", arguments, environment: git)
            #expect(result.status == 0, "git \(arguments.joined(separator: " ")): \(result.stdout) \(result.stderr) \(server.logText)")
            return result
        }
        _ = try await gitRun(["init", "-q", "--bare", "-b", "main", "\(directory)/bare.git"])
        _ = try await gitRun(["clone", "-q", "\(testLogin)@127.0.0.1:\(directory)/bare.git", "\(directory)/work"])
        try "pushed over shhd\n".write(toFile: "\(directory)/work/README", atomically: true, encoding: .utf8)
        _ = try await gitRun(["-C", "\(directory)/work", "add", "README"])
        _ = try await gitRun(["-C", "\(directory)/work", "commit", "-q", "-m", "first commit over shhd"])
        _ = try await gitRun(["-C", "\(directory)/work", "push", "-q", "origin", "HEAD:main"])
        let log = try await gitRun(["--git-dir", "\(directory)/bare.git", "log", "--format=%s", "main"])
        #expect(log.stdout == "first commit over shhd\n", "the push did not reach the bare repository: \(log.stdout)")
        // And back: a fresh clone has the commit's file.
        _ = try await gitRun(["clone", "-q", "\(testLogin)@127.0.0.1:\(directory)/bare.git", "\(directory)/again"])
        #expect(((try? readText("\(directory)/again/README")) ?? "") == "pushed over shhd\n")
    }

    @Test func rsyncUpAndBack() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let directory = fixture.directory
        let tree = directory + "/tree"
        try FileManager.default.createDirectory(atPath: tree + "/sub", withIntermediateDirectories: true)
        try "small\n".write(toFile: tree + "/sub/small.txt", atomically: true, encoding: .utf8)
        try "".write(toFile: tree + "/empty", atomically: true, encoding: .utf8)
        let random = Data(randomBytes(1 << 20))
        try random.write(to: URL(fileURLWithPath: tree + "/random.bin"))
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: tree + "/random.bin")
        try FileManager.default.createSymbolicLink(atPath: tree + "/link", withDestinationPath: "sub/small.txt")

        let shell = sshCommandLine(fixture, server)
        let up = try await runAsync("/usr/bin/rsync", ["-a", "-e", shell, tree + "/", "\(testLogin)@127.0.0.1:\(directory)/remote/"])
        #expect(up.status == 0, "\(up.stdout) \(up.stderr) \(server.logText)")
        let back = try await runAsync("/usr/bin/rsync", ["-a", "-e", shell, "\(testLogin)@127.0.0.1:\(directory)/remote/", directory + "/back/"])
        #expect(back.status == 0, "\(back.stdout) \(back.stderr) \(server.logText)")
        for copy in [directory + "/remote", directory + "/back"] {
            #expect(FileManager.default.contents(atPath: copy + "/random.bin") == random, "\(copy)/random.bin differs")
            #expect(FileManager.default.contents(atPath: copy + "/sub/small.txt") == Data("small\n".utf8), "\(copy)/sub/small.txt")
            #expect(FileManager.default.contents(atPath: copy + "/empty") == Data(), "\(copy)/empty")
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: copy + "/link")) == "sub/small.txt", "\(copy)/link is not the symlink")
            let mode = (try? FileManager.default.attributesOfItem(atPath: copy + "/random.bin")[.posixPermissions] as? Int) ?? nil
            #expect(mode == 0o640, "\(copy)/random.bin lost its mode: \(String(describing: mode))")
        }
    }

    // MARK: - Helpers

    /// ssh's options for a server on `port` whose host key is `hostKeyPublic` (the embedded default's by default).
    func sshOptions(_ fixture: ShhdFixture, port: Int, hostKeyPublic: String? = nil) throws -> [String] {
        let knownHosts = fixture.directory + "/known_hosts-\(port)"
        let key = try String(contentsOfFile: hostKeyPublic ?? fixture.hostKeyPublic, encoding: .utf8)
        try "[127.0.0.1]:\(port) \(key)".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        return ["-F", "/dev/null", "-p", "\(port)", "-i", fixture.identity, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(knownHosts)"]
    }

    /// ssh as one shell word list, for GIT_SSH_COMMAND and rsync -e (the temp paths hold no spaces).
    func sshCommandLine(_ fixture: ShhdFixture, _ server: TestShhd) -> String {
        "/usr/bin/ssh -F /dev/null -p \(server.port) -i \(fixture.identity) -o IdentitiesOnly=yes -o BatchMode=yes "
            + "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
    }

    /// Our environment plus `extra`.
    func environment(_ extra: [String: String]) -> [String: String] {
        ProcessInfo.processInfo.environment.merging(extra) { $1 }
    }

    /// OpenSSH's ssh on a fresh pseudo-terminal of `rows` × `columns`, trusting the embedded host key.
    func startTerminal(_ fixture: ShhdFixture, _ server: TestShhd, _ arguments: [String], rows: UInt16 = 40,
                       columns: UInt16 = 100, eraseCharacter: UInt8? = nil) throws -> PseudoTerminalProcess {
        try PseudoTerminalProcess("/usr/bin/ssh", try sshOptions(fixture, port: server.port) + arguments,
                                  environment: ["TERM": "xterm-256color", "HOME": fixture.directory, "PATH": "/usr/bin:/bin"],
                                  rows: rows, columns: columns, eraseCharacter: eraseCharacter)
    }

    /// Waits for ssh to put the local terminal in raw mode (it has started the session).
    func waitUntilRaw(_ terminal: PseudoTerminalProcess) async -> Bool {
        await waitUntil(seconds: 60) { terminal.modes.c_lflag & tcflag_t(ICANON) == 0 }
    }

    /// The screen's lines without the terminal's carriage returns.
    func screenLines(_ screen: String) -> [String] {
        screen.replacingOccurrences(of: "\r", with: "").split(separator: "\n").map(String.init)
    }

    /// The asyncssh client below, against `server` as the test login.
    func asyncSSH(_ fixture: ShhdFixture, _ server: TestShhd, _ mode: String, _ arguments: [String] = []) async throws -> ProcessResult {
        let knownHosts = fixture.directory + "/known_hosts-asyncssh"
        try "[127.0.0.1]:\(server.port) \(try String(contentsOfFile: fixture.hostKeyPublic, encoding: .utf8))"
            .write(toFile: knownHosts, atomically: true, encoding: .utf8)
        return try await runAsync("/usr/bin/env", ["python3", "-c", asyncSSHClient, mode, "\(server.port)", fixture.identity, knownHosts]
                                  + arguments, environment: ProcessInfo.processInfo.environment.merging(["SHH_TEST_LOGIN": testLogin]) { $1 })
    }
}

/// Polls `condition` every 50 ms; the last check starts after the deadline (a busy test process may resume late).
/// Processes other than `excluding` whose command line contains `marker` or whose session is one of `sessions`
/// (zombies included: shhd must reap what it started), read from /proc.
private func sessionProcesses(marker: String, sessions: Set<pid_t>, excluding: pid_t) -> [(pid: pid_t, session: pid_t, line: String)] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> (pid: pid_t, session: pid_t, line: String)? in
        guard let pid = pid_t(entry), pid != excluding, pid != getpid(),
              let stat = try? readText("/proc/\(entry)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        // "pid (comm) state ppid pgrp session ...": the fields after the command name, which may hold spaces.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 3, let session = pid_t(fields[3]) else { return nil }
        let command = ((try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline"))) ?? Data())
            .map { $0 == 0 ? UInt8(ascii: " ") : $0 }
        let line = String(decoding: command, as: UTF8.self)
        guard line.contains(marker) || sessions.contains(session) else { return nil }
        return (pid, session, "\(pid) session \(session) state \(fields[0]): \(line)")
    }
}

/// The processes whose parent is `parent`, as "PID STATE: command line", read from /proc.
private func childProcesses(of parent: pid_t) -> [String] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> String? in
        guard pid_t(entry) != nil, let stat = try? readText("/proc/\(entry)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, pid_t(fields[1]) == parent else { return nil }
        let command = ((try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline"))) ?? Data())
            .map { $0 == 0 ? UInt8(ascii: " ") : $0 }
        return "\(entry) \(fields[0]): \(String(decoding: command, as: UTF8.self))"
    }
}

/// Sends `bytes` to 127.0.0.1:port and reads until the server closes (true) or 30 s pass without it (false).
private func exchangeGarbage(port: Int, send bytes: [UInt8]) throws -> (reply: [UInt8], closed: Bool) {
    guard let fd = connectLoopback(port: port, receiveTimeoutSeconds: 30) else {
        throw InteropError.missingProgram("a connection to port \(port)")
    }
    defer { close(fd) }
    // MSG_NOSIGNAL: the server may close before all of it is sent.
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count > 0 {
            received += buffer[0..<count]
        } else if count == 0 {
            return (received, true)
        } else if errno != EINTR {
            // Closed with our garbage unread, the kernel resets the connection; a timeout means it stayed open.
            return (received, errno == ECONNRESET)
        }
    }
}

/// asyncssh as a client of shhd, for what OpenSSH's ssh cannot ask for (run with python3 -c; arguments follow):
///   signal PORT KEYFILE KNOWN_HOSTS: a "signal" request (RFC 4254 §6.9) reaching a shell that traps TERM, then a
///       plain command killed by it (exit-signal, §6.10)
///   multiplex PORT KEYFILE KNOWN_HOSTS COUNT: COUNT sessions open at once on one connection, one more tried while
///       they are, then each one answered
private let asyncSSHClient = #"""
import asyncio
import os
import sys

import asyncssh

mode, port, key_file, known_hosts = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


async def signal(connection):
    # The trap is set before "ready", so the TERM sent after it is the shell's to handle; the background sleep is
    # in the session's process group too, so nothing waits out its 30 s.
    process = await connection.create_process("trap 'echo got TERM; exit 9' TERM; echo ready; sleep 30 & wait")
    print("READY", (await process.stdout.readline()).strip())
    process.send_signal("TERM")
    result = await process.wait(check=False)
    print("TRAPPED", result.exit_status, result.stdout.strip())
    process = await connection.create_process("echo ready; exec sleep 30")
    await process.stdout.readline()
    process.send_signal("TERM")
    result = await process.wait(check=False)
    print("KILLED", result.exit_signal[0] if result.exit_signal else "no exit-signal, status %s" % result.exit_status)


async def multiplex(connection, count):
    processes = [await connection.create_process('read line; echo "$line $SSH_CLIENT"') for _ in range(count)]
    try:
        extra = await connection.create_process("echo one too many")
        result = await extra.wait(check=False)
        print("EXTRA OPENED", result.stdout.strip())
    except asyncssh.ChannelOpenError as error:
        print("EXTRA REFUSED", error.code, error.reason)
    for index, process in enumerate(processes):
        process.stdin.write("session-%d\n" % index)
    for process in processes:
        result = await process.wait(check=False)
        print("SESSION", result.exit_status, result.stdout.strip())


async def main():
    options = dict(known_hosts=known_hosts, username=os.environ.get("SHH_TEST_LOGIN", "root"), client_keys=[key_file], agent_path=None)
    async with asyncssh.connect("127.0.0.1", port, **options) as connection:
        if mode == "signal":
            await signal(connection)
        else:
            await multiplex(connection, int(sys.argv[5]))


asyncio.run(main())
"""#
