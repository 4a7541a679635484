// SSHLocalSessionLauncher, what starts a session's process in an embedded server and in shhd's broker: a forced
// command wins and sees the client's command in SSH_ORIGINAL_COMMAND, the client's variables never override the
// account's, and an unknown user, /etc/nologin or a subsystem is a refusal with a message, not a process.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import SSH
import SSHPOSIX
import SSHServerHost
import Testing

@Suite(.timeLimit(.minutes(10))) struct SessionLauncherTests {
    @Test func aForcedCommandWinsAndSeesTheOriginal() async throws {
        let launcher = SSHLocalSessionLauncher(shell: "/bin/sh", noLoginFiles: [])
        let request = SSHSessionLaunchRequest(
            user: "anyone", command: .exec(Array("rm -rf /tmp/nothing".utf8)),
            environment: ["LC_X": Array("from client".utf8), "HOME": Array("/evil".utf8)],
            remoteAddress: try SocketAddress(ipAddress: "10.0.0.1", port: 5555), localAddress: try SocketAddress(ipAddress: "10.0.0.2", port: 22),
            grant: SSHLoginGrant(forcedCommand: "printf '%s|%s|%s|%s' \"$SSH_ORIGINAL_COMMAND\" \"$LC_X\" \"$GREETING\" \"$SSH_CONNECTION\"; "
                                 + "test \"$HOME\" != /evil || exit 9",
                                 environment: ["GREETING": "set by the server"]))
        let session = try started(await launcher.launch(request))
        close(session.stdin)
        let output = readAll(session.stdout)
        close(session.stdout)
        var errors: [UInt8]?
        if let stderr = session.stderr {
            errors = readAll(stderr)
            close(stderr)
        }
        #expect(output.map { String(decoding: $0, as: UTF8.self) } == "rm -rf /tmp/nothing|from client|set by the server|10.0.0.1 5555 10.0.0.2 22",
                "stderr: \(errors.map { String(decoding: $0, as: UTF8.self) } ?? "")")
        #expect(await exitStatus(session) == .exited(0), "HOME from the client must not replace the account's")
    }

    @Test func anUnknownUserIsRefused() async throws {
        let launcher = SSHLocalSessionLauncher(accounts: .authenticatedUser, shell: "/bin/sh", noLoginFiles: [])
        let outcome = try await launcher.launch(SSHSessionLaunchRequest(user: "shh-no-such-user", command: .shell))
        guard case .refused(let message, let status) = outcome else { Issue.record("started a session for nobody"); return }
        #expect(String(decoding: message, as: UTF8.self) == "no account shh-no-such-user on this server\n")
        #expect(status == 254)
    }

    /// /etc/nologin's text is what a user other than root is told, and no process starts.
    @Test func noLoginRefusesOthersThanRoot() async throws {
        try #require(SystemAccount(named: "nobody") != nil, "needs the nobody account")
        let path = NSTemporaryDirectory() + "shh-nologin-\(UUID().uuidString)"
        try "down for maintenance\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let launcher = SSHLocalSessionLauncher(accounts: .authenticatedUser, shell: "/bin/sh", noLoginFiles: [path])
        let outcome = try await launcher.launch(SSHSessionLaunchRequest(user: "nobody", command: .exec(Array("true".utf8))))
        guard case .refused(let message, let status) = outcome else { Issue.record("nologin did not stop nobody"); return }
        #expect(String(decoding: message, as: UTF8.self) == "down for maintenance\n")
        #expect(status == 254)
    }

    @Test func aSubsystemIsRefused() async throws {
        let launcher = SSHLocalSessionLauncher(shell: "/bin/sh", noLoginFiles: [])
        let outcome = try await launcher.launch(SSHSessionLaunchRequest(user: "anyone", command: .subsystem("sftp")))
        guard case .refused(let message, let status) = outcome else { Issue.record("a subsystem started"); return }
        #expect(String(decoding: message, as: UTF8.self) == "subsystem sftp is not available\n")
        #expect(status == 1)
    }

    /// RFC 4254 §6.10's names both ways; other signals travel as NUMBER@shh.
    @Test func signalNames() {
        for name in ["ABRT", "ALRM", "FPE", "HUP", "ILL", "INT", "KILL", "PIPE", "QUIT", "SEGV", "TERM", "USR1", "USR2"] {
            let number = SSHProcessSessionHandler.signalNumber(name)
            #expect(number != nil, "\(name)")
            if let number { #expect(SSHProcessSessionHandler.signalName(number) == name) }
        }
        #expect(SSHProcessSessionHandler.signalNumber("TERM") == SIGTERM)
        #expect(SSHProcessSessionHandler.signalNumber("term") == nil)
        #expect(SSHProcessSessionHandler.signalName(SIGWINCH) == "\(SIGWINCH)@shh")
    }

    private func started(_ outcome: SSHSessionLaunch) throws -> SSHLaunchedSession {
        guard case .started(let session) = outcome else {
            if case .refused(let message, let status) = outcome {
                Issue.record("refused (\(status)): \(String(decoding: message, as: UTF8.self))")
            }
            throw NotStarted()
        }
        return session
    }

    private struct NotStarted: Error {}

    /// The session's exit, or nil when it did not end within 30 s (it is then killed and reaped).
    private func exitStatus(_ session: SSHLaunchedSession) async -> ChildExit? {
        await withTaskGroup(of: ChildExit?.self) { group in
            group.addTask { await session.exit() }
            group.addTask {
                try? await Task.sleep(for: .seconds(30))
                return nil
            }
            let first = await group.next() ?? nil
            if first == nil { session.signal(SIGKILL) }
            group.cancelAll()
            return first
        }
    }

    /// Everything until end of file, or nil when it does not come within 30 s.
    private func readAll(_ descriptor: CInt) -> [UInt8]? {
        let deadline = ContinuousClock.now + .seconds(30)
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&waiting, 1, 1000)
            if ready < 0 && errno != EINTR { return nil }
            guard ready > 0 else { continue }
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return output }
            output += buffer.prefix(count)
        }
        return nil
    }
}
