// shh at a terminal against a real sshd, driven through a pseudo-terminal as a user would drive it: -tt gives the
// remote command a controlling terminal of our window's size, an interactive shell takes typed commands and
// returns its exit status, a resize reaches the remote side, the escapes work, the host-key question is
// answered at the terminal, and the terminal's modes are back as they were however shh ends.
import Foundation
import Testing

@Suite("shh at a terminal against sshd", .enabled(if: isRootUser, "starting sshd on a test port needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct ShhTerminalTests {
    /// shh on a fresh pseudo-terminal of `rows` × `columns`, with the fixture's key and known_hosts.
    func start(_ fixture: ShhFixture, _ arguments: [String], rows: UInt16 = 40, columns: UInt16 = 100,
               strictHostKeyChecking: String = "yes", knownHosts: String? = nil, eraseCharacter: UInt8? = nil) throws -> PseudoTerminalProcess {
        try PseudoTerminalProcess(
            shhPath,
            ["-F", "none", "-p", "\(fixture.sshd.port)", "-i", fixture.identity, "-o", "UserKnownHostsFile=\(knownHosts ?? fixture.knownHosts)",
             "-o", "StrictHostKeyChecking=\(strictHostKeyChecking)"] + arguments,
            environment: ["TERM": "xterm-256color", "HOME": fixture.directory, "PATH": "/usr/bin:/bin"],
            rows: rows, columns: columns, eraseCharacter: eraseCharacter)
    }

    /// Whether the terminal is in its ordinary (cooked) mode: echo and line editing on.
    func isCooked(_ terminal: PseudoTerminalProcess) -> Bool {
        let modes = terminal.modes
        return modes.c_lflag & tcflag_t(ECHO) != 0 && modes.c_lflag & tcflag_t(ICANON) != 0
    }

    /// Waits for shh to put the terminal in raw mode (it has connected and started the session); typed before
    /// that, input would be edited and echoed by the local terminal.
    func waitUntilRaw(_ terminal: PseudoTerminalProcess) async -> Bool {
        let deadline = Date().addingTimeInterval(60)
        while true {
            if !isCooked(terminal) { return true }
            if Date() >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func forcedTerminalIsTheControllingTerminalAtOurWindowSize() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let script = "tty; stty size; echo \"pgid=$(ps -o pgid= -p $$ | tr -d ' ') tpgid=$(ps -o tpgid= -p $$ | tr -d ' ')\"; echo TERM=$TERM; stty -a"
        // An unusual erase character (^H) locally: pty-req's modes must carry it to the remote terminal.
        let terminal = try start(fixture, ["-tt", "\(testLogin)@127.0.0.1", script], rows: 40, columns: 100, eraseCharacter: 0x08)
        let status = await terminal.waitForExit()
        let screen = terminal.text
        #expect(status == 0, "\(screen)")
        #expect(screen.contains("/dev/pts/"), "no terminal: \(screen)")
        #expect(screen.contains("40 100"), "stty size differs from the client's 40 × 100: \(screen)")
        #expect(screen.contains("TERM=xterm-256color"), "\(screen)")
        #expect(screen.contains("erase = ^H"), "the local terminal's modes did not reach the remote one: \(screen)")
        // The shell's process group is the terminal's foreground group: it is the controlling terminal.
        let groups = screen.firstMatch(of: /pgid=(\d+) tpgid=(\d+)/)
        #expect(groups != nil && groups?.1 == groups?.2, "not the controlling terminal: \(screen)")
        #expect(isCooked(terminal), "the local terminal was left raw")
    }

    @Test func interactiveShellTypedAtTheTerminal() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let terminal = try start(fixture, ["\(testLogin)@127.0.0.1"])
        // No command and a terminal: ssh's default is a login shell on a pseudo-terminal.
        #expect(await waitUntilRaw(terminal), "\(terminal.text)")
        terminal.type("echo typed$((6*7)); tty; exit 7\r")
        let status = await terminal.waitForExit()
        let screen = terminal.text
        #expect(status == 7, "\(screen)")
        #expect(screen.contains("typed42"), "\(screen)")
        #expect(screen.contains("/dev/pts/"), "\(screen)")
        #expect(screen.contains("Connection to 127.0.0.1 closed."), "\(screen)")
        #expect(isCooked(terminal), "the local terminal was left raw")
    }

    @Test func aResizeReachesTheRemoteSide() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let terminal = try start(fixture, ["\(testLogin)@127.0.0.1"], rows: 40, columns: 100)
        #expect(await waitUntilRaw(terminal), "\(terminal.text)")
        terminal.type("stty size\r")
        #expect(await terminal.waitFor("40 100"), "\(terminal.text)")
        let before = terminal.screenCount
        terminal.resize(rows: 51, columns: 133)
        // The window-change travels beside the typed input; ask until the remote side has it.
        var seen = false
        for _ in 0..<20 where !seen {
            terminal.type("stty size\r")
            seen = await terminal.waitFor("51 133", after: before, seconds: 1)
        }
        #expect(seen, "the new size never reached the remote terminal: \(terminal.text)")
        terminal.type("exit\r")
        #expect(await terminal.waitForExit() == 0)
    }

    @Test func escapesAtTheStartOfALine() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let terminal = try start(fixture, ["-tt", "\(testLogin)@127.0.0.1", "cat"])
        #expect(await waitUntilRaw(terminal), "\(terminal.text)")
        // ~? lists the escapes and sends nothing; ~~ sends one ~; a ~ inside a line is plain text.
        terminal.type("~?")
        #expect(await terminal.waitFor("Supported escape sequences"), "\(terminal.text)")
        terminal.type("~~line a~b\r")
        #expect(await terminal.waitFor("~line a~b"), "\(terminal.text)")
        #expect(!terminal.text.contains("~~line"), "~~ sent two escape characters: \(terminal.text)")
        // ~. ends the connection at once, even though cat would run forever: 255, as ssh.
        terminal.type("\r~.")
        let status = await terminal.waitForExit(seconds: 60)
        #expect(status == 255, "\(terminal.text)")
        #expect(terminal.text.contains("Connection to 127.0.0.1 closed."), "\(terminal.text)")
        #expect(isCooked(terminal), "the local terminal was left raw after ~.")
    }

    @Test func aTerminatingSignalRestoresTheTerminal() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let terminal = try start(fixture, ["-tt", "\(testLogin)@127.0.0.1", "echo started; sleep 60"])
        #expect(await terminal.waitFor("started"), "\(terminal.text)")
        #expect(!isCooked(terminal), "shh should have put the terminal in raw mode")
        kill(terminal.pid, SIGTERM)
        #expect(await terminal.waitForExit(seconds: 60) == 255, "\(terminal.text)")
        #expect(isCooked(terminal), "SIGTERM left the local terminal raw")
    }

    @Test func theHostKeyQuestionIsAnsweredAtTheTerminal() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let knownHosts = fixture.directory + "/known_hosts_asked"
        #expect(FileManager.default.createFile(atPath: knownHosts, contents: Data()))
        let terminal = try start(fixture, ["\(testLogin)@127.0.0.1", "echo asked-and-ran"], strictHostKeyChecking: "ask", knownHosts: knownHosts)
        #expect(await terminal.waitFor("(yes/no/[fingerprint])?"), "\(terminal.text)")
        #expect(terminal.text.contains("ED25519 key fingerprint is SHA256:"), "\(terminal.text)")
        terminal.type("yes\r")
        #expect(await terminal.waitForExit() == 0, "\(terminal.text)")
        #expect(terminal.text.contains("asked-and-ran"))
        let written = (try? String(contentsOfFile: knownHosts, encoding: .utf8)) ?? ""
        #expect(written.contains("[127.0.0.1]:\(fixture.sshd.port) ssh-ed25519 "), "known_hosts after yes: \(written)")
    }
}
