// The shh command without a terminal (its own session: no /dev/tty) against a real sshd: passwords and
// keyboard-interactive answers through SSH_ASKPASS, as ssh's read_passphrase takes them, an askpass that cancels
// (asked once, then "Permission denied" and 255); and LocalCommand, run after authentication only with
// PermitLocalCommand yes.
import Foundation
import Testing

@Suite("shh: askpass for passwords, LocalCommand", .enabled(if: isRootUser, "starting sshd on a test port and adding accounts needs root; CI runs as root"),
       .timeLimit(.minutes(10)))
struct ShhAskpassAndLocalCommandTests {
    /// A known_hosts for `sshd` and an askpass script that records each prompt in `asked` (one per line) and then
    /// runs `answer` (shell).
    struct Askpass {
        let knownHosts: String
        let program: String
        let asked: String

        init(_ sshd: TestSSHD, answer: String) throws {
            knownHosts = sshd.directory + "/known_hosts"
            try "[127.0.0.1]:\(sshd.port) \(sshd.hostKeyPublic)".write(toFile: knownHosts, atomically: true, encoding: .utf8)
            asked = sshd.directory + "/asked"
            program = sshd.directory + "/askpass"
            try "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '\(asked)'\n\(answer)\n".write(toFile: program, atomically: true, encoding: .utf8)
            chmod(program, 0o755)
        }

        /// The prompts askpass was given, in order.
        var prompts: [String] {
            ((try? readText(asked)) ?? "").split(separator: "\n").map(String.init)
        }

        /// Our environment without anything that would decide for askpass, plus `extra`.
        func environment(_ extra: [String: String]) -> [String: String] {
            var environment = ProcessInfo.processInfo.environment
            for name in ["SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "DISPLAY", "WAYLAND_DISPLAY", "SSH_AUTH_SOCK"] { environment[name] = nil }
            environment["SSH_ASKPASS"] = program
            return environment.merging(extra) { $1 }
        }

        /// shh as `user` with only `method` (no keys of this machine's root), no terminal (`run` starts it in a
        /// session of its own), BatchMode off so it may ask.
        func shh(_ sshd: TestSSHD, user: String, method: String, environment extra: [String: String], _ command: String) async throws -> ProcessResult {
            try await runAsync(shhPath, ["-F", "none", "-p", "\(sshd.port)", "-o", "UserKnownHostsFile=\(knownHosts)",
                                         "-o", "StrictHostKeyChecking=yes", "-o", "PreferredAuthentications=\(method)",
                                         "-o", "IdentityAgent=none", "\(user)@127.0.0.1", command], environment: environment(extra))
        }
    }

    /// SSH_ASKPASS_REQUIRE=force, or no terminal and a DISPLAY: askpass gets ssh's password prompt and its answer
    /// logs in.
    @Test(arguments: [["SSH_ASKPASS_REQUIRE": "force"], ["DISPLAY": ":0"]])
    func passwordThroughAskpass(_ environment: [String: String]) async throws {
        try await ClientFlowInteropTests.withTestAccount(.system) { user, password in
            let sshd = try await offThePool { try TestSSHD(passwordAuthentication: true) }
            defer { sshd.stop() }
            let askpass = try Askpass(sshd, answer: "echo '\(password)'")
            let result = try await askpass.shh(sshd, user: user, method: "password", environment: environment, "id -un")
            #expect(result.status == 0, "\(environment): \(result.stderr)")
            #expect(result.stdout == "\(user)\n", "\(environment): \(result.stderr)")
            #expect(askpass.prompts == ["\(user)@127.0.0.1's password: "], "\(environment)")
        }
    }

    /// An askpass that exits 1 is a cancel: asked once (not NumberOfPasswordPrompts times), then ssh's
    /// "Permission denied" and 255.
    @Test func cancelledAskpassAsksOnceAndFails() async throws {
        try await ClientFlowInteropTests.withTestAccount(.system) { user, _ in
            let sshd = try await offThePool { try TestSSHD(passwordAuthentication: true) }
            defer { sshd.stop() }
            let askpass = try Askpass(sshd, answer: "exit 1")
            let result = try await askpass.shh(sshd, user: user, method: "password", environment: ["SSH_ASKPASS_REQUIRE": "force"],
                                               "echo should not run")
            #expect(result.status == 255, "\(result.stderr)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.contains("\(user)@127.0.0.1: Permission denied ("), "\(result.stderr)")
            #expect(!result.stderr.contains("please try again"), "\(result.stderr)")
            #expect(askpass.prompts.count == 1, "\(askpass.prompts)")
        }
    }

    /// Keyboard-interactive through PAM: askpass gets the server's prompt with ssh's "(user@host) " before it.
    @Test func keyboardInteractiveThroughAskpass() async throws {
        try await ClientFlowInteropTests.withTestAccount(.system) { user, password in
            let sshd = try await offThePool { try TestSSHD(keyboardInteractiveAuthentication: true, usePAM: true) }
            defer { sshd.stop() }
            let askpass = try Askpass(sshd, answer: "echo '\(password)'")
            let result = try await askpass.shh(sshd, user: user, method: "keyboard-interactive",
                                               environment: ["SSH_ASKPASS_REQUIRE": "force"], "id -un")
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "\(user)\n", "\(result.stderr)")
            #expect(askpass.prompts.count == 1 && askpass.prompts.allSatisfy { $0.hasPrefix("(\(user)@127.0.0.1) ") && $0.lowercased().contains("password") },
                    "\(askpass.prompts)")
        }
    }

    // MARK: LocalCommand

    /// With PermitLocalCommand yes, LocalCommand runs here with its tokens expanded, after authentication and before
    /// the session's output.
    @Test func localCommandRunsWhenPermitted() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let file = fixture.directory + "/local-command"
        let result = try await fixture.shh(["-o", "PermitLocalCommand=yes", "-o", "LocalCommand=echo local %r@%h:%p > '\(file)'",
                                            "\(testLogin)@127.0.0.1", "echo remote"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "remote\n")
        #expect((try? readText(file)) == "local \(testLogin)@127.0.0.1:\(fixture.sshd.port)\n")
        // Its standard output is shh's, and it has finished before the session's output starts.
        let ordered = try await fixture.shh(["-o", "PermitLocalCommand=yes", "-o", "LocalCommand=sleep 0.3; echo local",
                                             "\(testLogin)@127.0.0.1", "echo remote"])
        #expect(ordered.stdout == "local\nremote\n", "\(ordered.stderr)")
    }

    /// Without PermitLocalCommand yes LocalCommand is ignored, silently; nor does it run when authentication fails.
    @Test func localCommandIgnoredWithoutPermission() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let file = fixture.directory + "/local-command"
        for permit in [[], ["-o", "PermitLocalCommand=no"]] {
            let result = try await fixture.shh(permit + ["-o", "LocalCommand=echo local > '\(file)'", "\(testLogin)@127.0.0.1", "echo remote"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "remote\n")
            #expect(withoutShellStartupNoise(result.stderr).isEmpty, "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: file), "\(permit)")
        }
        let refused = try await fixture.shh(["-o", "PermitLocalCommand=yes", "-o", "LocalCommand=echo local > '\(file)'",
                                             "no-such-user-here@127.0.0.1", "echo remote"])
        #expect(refused.status == 255)
        #expect(!FileManager.default.fileExists(atPath: file), "LocalCommand ran although authentication failed")
    }
}
