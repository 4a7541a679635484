// shh -J / ProxyJump and -A / ForwardAgent against real OpenSSH: two sshd hops, each with its own Host block (user,
// port, key, known_hosts), in front of an sshd or our shhd; the hop's host key checked under its own name; ssh://
// hops; a hop or a target that cannot be reached failing with ssh's very words (OpenSSH's ssh run beside shh on
// the same config); and an ssh-agent reached from the far side through -A, by ssh-add and by a further ssh.
import Foundation
import Testing

/// Two sshd jump hosts and a target sshd, each admitting a different key and user, and an ssh_config naming them.
final class JumpFixture: @unchecked Sendable {
    let hop1: TestSSHD
    let hop2: TestSSHD
    let target: TestSSHD
    let directory: String
    let config: String
    let knownHosts: String
    /// A port nothing listens on.
    let closedPort: Int
    /// Keys by name: hop1, hop2, target, agent.
    let keys: [String: String]

    @available(*, noasync, message: "blocks a cooperative pool thread")
    init(extraConfig: String = "") throws {
        hop1 = try TestSSHD()
        hop2 = try TestSSHD()
        target = try TestSSHD()
        directory = target.directory
        var keys: [String: String] = [:]
        for name in ["hop1", "hop2", "target", "agent"] {
            let path = directory + "/id_\(name)"
            let made = try run(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path])
            guard made.status == 0 else { throw InteropError.missingProgram("ssh-keygen (\(made.stderr))") }
            keys[name] = path
        }
        self.keys = keys
        // Each server admits its own key only; hop2 also admits the agent's (for the forwarded agent's second hop).
        func publicKey(_ name: String) throws -> String { try readText((keys[name] ?? "") + ".pub") }
        try publicKey("hop1").write(toFile: hop1.directory + "/authorized_keys", atomically: true, encoding: .utf8)
        try (publicKey("hop2") + publicKey("agent")).write(toFile: hop2.directory + "/authorized_keys", atomically: true, encoding: .utf8)
        try publicKey("target").write(toFile: target.directory + "/authorized_keys", atomically: true, encoding: .utf8)
        knownHosts = directory + "/known_hosts"
        try [hop1, hop2, target].map { "[127.0.0.1]:\($0.port) \($0.hostKeyPublic)" }.joined(separator: "\n")
            .write(toFile: knownHosts, atomically: true, encoding: .utf8)
        try "".write(toFile: directory + "/empty_known_hosts", atomically: true, encoding: .utf8)
        closedPort = try freeLoopbackPort()
        config = directory + "/ssh_config"
        try """
            Host hop1
                HostName 127.0.0.1
                Port \(hop1.port)
                User root
                IdentityFile \(keys["hop1"] ?? "")
            Host hop2
                HostName 127.0.0.1
                Port \(hop2.port)
                User \(testLogin)
                IdentityFile \(keys["hop2"] ?? "")
            # hop2 again under a name whose known_hosts knows nothing.
            Host hop2-unknown
                HostName 127.0.0.1
                Port \(hop2.port)
                User \(testLogin)
                IdentityFile \(keys["hop2"] ?? "")
                UserKnownHostsFile \(directory)/empty_known_hosts
            # hop1's address with the wrong user and port: a hop written as ssh://root@hop1-wrong:PORT must win.
            Host hop1-wrong
                HostName 127.0.0.1
                Port \(closedPort)
                User nobody-here
                IdentityFile \(keys["hop1"] ?? "")
            Host dead
                HostName 127.0.0.1
                Port \(closedPort)
            Host target
                HostName 127.0.0.1
                Port \(target.port)
                User \(testLogin)
                IdentityFile \(keys["target"] ?? "")
            Host target-via-config
                HostName 127.0.0.1
                Port \(target.port)
                User \(testLogin)
                IdentityFile \(keys["target"] ?? "")
                ProxyJump hop1,hop2
            \(extraConfig)
            Host *
                IdentitiesOnly yes
                BatchMode yes
                StrictHostKeyChecking yes
                UserKnownHostsFile \(knownHosts)
                GlobalKnownHostsFile /dev/null

            """.write(toFile: config, atomically: true, encoding: .utf8)
    }

    func stop() {
        hop1.stop()
        hop2.stop()
        target.stop()
    }

    /// shh with this config; `environment` replaces SSH_AUTH_SOCK (none unless given).
    func shh(_ arguments: [String], agent: String? = nil) async throws -> ProcessResult {
        try await runAsync(shhPath, ["-F", config] + arguments, environment: environment(agent: agent), deadline: 120)
    }

    /// Runs shh as `shh(_:)` does and returns how long shh itself ran, timed by a shell around it: the test's own
    /// clock would also count the wait for a thread to start it on, which a busy suite stretches to many seconds.
    func timedShh(_ arguments: [String]) async throws -> (ProcessResult, seconds: Double) {
        let script = "start=$(date +%s%N); \"$0\" \"$@\"; status=$?; end=$(date +%s%N); "
            + "echo \"shh-ran-for-ns=$((end - start))\" >&2; exit $status"
        var result = try await runAsync("/bin/sh", ["-c", script, shhPath, "-F", config] + arguments, environment: environment(agent: nil),
                                        deadline: 120)
        var seconds = Double.infinity
        if let line = result.stderr.split(separator: "\n").last(where: { $0.hasPrefix("shh-ran-for-ns=") }),
           let nanoseconds = Double(line.dropFirst("shh-ran-for-ns=".count)) {
            seconds = nanoseconds / 1e9
            result.stderr = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasPrefix("shh-ran-for-ns=") }.joined(separator: "\n")
        }
        return (result, seconds)
    }

    /// OpenSSH's ssh with the same config and arguments.
    func ssh(_ arguments: [String], agent: String? = nil) async throws -> ProcessResult {
        try await runAsync("/usr/bin/ssh", ["-F", config] + arguments, environment: environment(agent: agent), deadline: 120)
    }

    private func environment(agent: String?) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["SSH_AUTH_SOCK"] = agent
        return environment
    }

    /// Whether `server`'s log shows `user` logging in with `key`'s public key.
    func accepted(_ server: TestSSHD, user: String, key: String) async throws -> Bool {
        let fingerprint = try await runAsync(try sshKeygenPath(), ["-l", "-E", "sha256", "-f", key + ".pub"]).stdout
            .split(separator: " ").dropFirst().first.map(String.init) ?? "?"
        let log = (try? readText(server.directory + "/sshd.log")) ?? ""
        return log.contains("Accepted publickey for \(user) from 127.0.0.1") && log.contains(fingerprint)
    }
}

/// ssh's stderr in shh's words ("ssh: connect to host" is "shh: connect to host"), without shell noise and with
/// plain line ends (ssh ends its log lines with "\r\n").
private func asShh(_ stderr: String) -> String {
    withoutCarriageReturns(withoutShellStartupNoise(stderr)).replacing("ssh: ", with: "shh: ")
}

@Suite("shh -J and -A against sshd", .enabled(if: isRootUser, "starting sshd on a test port needs root; CI runs as root"),
       .timeLimit(.minutes(10)))
struct ShhJumpTests {
    @Test func twoHopsEachWithItsOwnHostBlock() async throws {
        let fixture = try await offThePool { try JumpFixture() }
        defer { fixture.stop() }
        let result = try await fixture.shh(["-J", "hop1,hop2", "target", "echo reached; id -un"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "reached\nroot\n", "\(result.stderr)")
        // Each hop logged in as its own block says, with its own key.
        #expect(try await fixture.accepted(fixture.hop1, user: "root", key: fixture.keys["hop1"] ?? ""))
        #expect(try await fixture.accepted(fixture.hop2, user: testLogin, key: fixture.keys["hop2"] ?? ""))
        #expect(try await fixture.accepted(fixture.target, user: testLogin, key: fixture.keys["target"] ?? ""))

        // The same through the destination's own ProxyJump, with the exit status carried back.
        let configured = try await fixture.shh(["target-via-config", "exit 7"])
        #expect(configured.status == 7, "\(configured.stderr)")
        // -J on the command line beats the config's ProxyJump (one hop only here).
        let overridden = try await fixture.shh(["-J", "hop2", "target-via-config", "echo one hop"])
        #expect(overridden.status == 0 && overridden.stdout == "one hop\n", "\(overridden.stderr)")
        // Standard input goes all the way through. Less than a pipe's buffer, so the test's writer is done before shh
        // could fail and close its end (a write to a closed pipe would end the test process with SIGPIPE).
        let input = randomBytes(60_000)
        let counted = try await offThePool {
            try run(shhPath, ["-F", fixture.config, "-J", "hop1,hop2", "target", "wc -c"], stdin: input, deadline: 120)
        }
        #expect(counted.status == 0 && counted.stdout.trimmingCharacters(in: .whitespaces) == "60000\n", "\(counted.stderr)")
    }

    @Test func sshURIHopsBeatTheirHostBlock() async throws {
        let fixture = try await offThePool { try JumpFixture() }
        defer { fixture.stop() }
        // hop1-wrong's block names a closed port and a user that does not exist: the URI's user and port win.
        let result = try await fixture.shh(["-J", "ssh://root@hop1-wrong:\(fixture.hop1.port),ssh://hop2", "target", "echo uri"])
        #expect(result.status == 0 && result.stdout == "uri\n", "\(result.stderr)")
        #expect(try await fixture.accepted(fixture.hop1, user: "root", key: fixture.keys["hop1"] ?? ""))
    }

    /// The hop's key is checked against known_hosts under the hop's own name, and refusing it ends the run as ssh
    /// ends it: the hop's message, then the proxied connection's.
    @Test func anUnknownHopKeyIsRefusedNamingTheHop() async throws {
        let fixture = try await offThePool { try JumpFixture() }
        defer { fixture.stop() }
        let arguments = ["-J", "hop1,hop2-unknown", "target", "echo should not run"]
        let result = try await fixture.shh(arguments)
        #expect(result.status == 255)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("No ED25519 host key is known for [127.0.0.1]:\(fixture.hop2.port) and you have requested strict checking."),
                "\(result.stderr)")
        let ssh = try await fixture.ssh(arguments)
        #expect(ssh.status == 255)
        #expect(result.stderr == asShh(ssh.stderr), "shh:\n\(result.stderr)\nssh:\n\(ssh.stderr)")
    }

    /// A hop that cannot be reached, and a destination a hop cannot reach: 255 and ssh's messages, line for line.
    @Test(arguments: [["-J", "dead", "target", "true"], ["-J", "hop1", "dead", "true"], ["-J", "hop1,dead", "target", "true"],
                      ["-J", "dead,hop1", "target", "true"]])
    func unreachableHopsFailAsSSHDoes(_ arguments: [String]) async throws {
        let fixture = try await offThePool { try JumpFixture() }
        defer { fixture.stop() }
        let result = try await fixture.shh(arguments)
        let ssh = try await fixture.ssh(arguments)
        #expect(result.status == 255 && ssh.status == 255)
        #expect(result.stderr.contains("kex_exchange_identification: Connection closed by remote host\nConnection closed by UNKNOWN port 65535\n"))
        #expect(result.stderr == asShh(ssh.stderr), "shh:\n\(result.stderr)\nssh:\n\(ssh.stderr)")
    }

    /// ConnectTimeout is each hop's own: a hop that never answers (a listening socket that never speaks) is given up
    /// after its block's ConnectTimeout, with 255.
    @Test func connectTimeoutAppliesPerHop() async throws {
        let silent = try await offThePool { () -> (Int32, Int) in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let port = try freeLoopbackPort()
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            listen(fd, 8)
            return (fd, port)
        }
        defer { close(silent.0) }
        let fixture = try await offThePool {
            try JumpFixture(extraConfig: "Host silent\n    HostName 127.0.0.1\n    Port \(silent.1)\n    ConnectTimeout 2\n")
        }
        defer { fixture.stop() }
        let (result, seconds) = try await fixture.timedShh(["-J", "silent", "target", "true"])
        #expect(result.status == 255, "\(result.stderr)")
        #expect(seconds < 20, "the hop's ConnectTimeout 2 did not bound it (the default is 30 s): shh ran for \(seconds) s")
        #expect(result.stderr.contains("kex_exchange_identification: Connection closed by remote host"), "\(result.stderr)")
    }

    /// sshd hops in front of our own server: shhd needs no forwarding to be the destination.
    @Test func sshdHopsInFrontOfShhd() async throws {
        let shhdFixture = try await offThePool { try ShhdFixture() }
        let server = try await shhdFixture.startEmbedded()
        defer { server.terminate() }
        let knownHostLine = "[127.0.0.1]:\(server.port) \(try readText(shhdFixture.hostKeyPublic))"
        let fixture = try await offThePool {
            try JumpFixture(extraConfig: """
                Host shhd
                    HostName 127.0.0.1
                    Port \(server.port)
                    User \(testLogin)
                    IdentityFile \(shhdFixture.identity)
                """)
        }
        defer { fixture.stop() }
        let handle = try #require(FileHandle(forWritingAtPath: fixture.knownHosts))
        handle.seekToEndOfFile()
        handle.write(Data(("\n" + knownHostLine).utf8))
        try handle.close()
        let oneHop = try await fixture.shh(["-J", "hop1", "shhd", "echo served by shhd"])
        #expect(oneHop.status == 0 && oneHop.stdout == "served by shhd\n", "\(oneHop.stderr) \(server.logText)")
        let twoHops = try await fixture.shh(["-J", "hop1,hop2", "shhd", "exit 3"])
        #expect(twoHops.status == 3, "\(twoHops.stderr) \(server.logText)")
    }

    // MARK: - Agent forwarding

    /// ssh-agent on a socket in the fixture's directory, with `key` added; stopped by the caller.
    private func startAgent(in directory: String, adding key: String) async throws -> (pid: pid_t, socket: String) {
        let socket = directory + "/agent.sock"
        let agent = try spawnInNewSession("/usr/bin/ssh-agent", ["-D", "-a", socket], environment: ProcessInfo.processInfo.environment, actions: [
            .open("/dev/null", flags: O_RDONLY, mode: 0, as: 0),
            .open("/dev/null", flags: O_WRONLY, mode: 0, as: 1),
            .duplicate(1, as: 2),
        ])
        guard await waitUntil(seconds: 20, { FileManager.default.fileExists(atPath: socket) }) else {
            await killAndReap(agent, SIGKILL)
            throw DeadlineExceeded("ssh-agent to make \(socket)", seconds: 20)
        }
        let environment = ProcessInfo.processInfo.environment.merging(["SSH_AUTH_SOCK": socket]) { $1 }
        let added = try await runAsync("/usr/bin/ssh-add", [key], environment: environment, deadline: 30)
        guard added.status == 0 else {
            await killAndReap(agent, SIGKILL)
            throw InteropError.missingProgram("ssh-add (\(added.stderr))")
        }
        return (agent, socket)
    }

    @Test func forwardedAgentListsItsKeyAndLogsInFurther() async throws {
        let fixture = try await offThePool { try JumpFixture() }
        defer { fixture.stop() }
        let agentKey = fixture.keys["agent"] ?? ""
        let agent = try await startAgent(in: fixture.directory, adding: agentKey)
        // Stopped before the directory goes: a SIGTERMed agent removes its socket.
        var reaped = false
        defer { if !reaped { kill(agent.pid, SIGKILL); Thread.detachNewThread { var status: Int32 = 0; waitpid(agent.pid, &status, 0) } } }
        let fingerprint = try await runAsync(try sshKeygenPath(), ["-l", "-f", agentKey + ".pub"]).stdout
            .split(separator: " ").dropFirst().first.map(String.init) ?? "?"

        let listed = try await fixture.shh(["-A", "target", "ssh-add -l"], agent: agent.socket)
        #expect(listed.status == 0 && listed.stdout.contains(fingerprint), "\(listed.stdout) \(listed.stderr)")
        // Through jump hosts too (forwarded to the destination, not to the hops).
        let jumped = try await fixture.shh(["-A", "-J", "hop1", "target", "ssh-add -l"], agent: agent.socket)
        #expect(jumped.status == 0 && jumped.stdout.contains(fingerprint), "\(jumped.stdout) \(jumped.stderr)")
        // ForwardAgent naming the socket as a variable, the agent shh uses itself being there too.
        let byVariable = try await runAsync(shhPath, ["-F", fixture.config, "-o", "ForwardAgent=$SHH_TEST_AGENT", "target", "ssh-add -l"],
                                            environment: ProcessInfo.processInfo.environment.merging(
                                                ["SSH_AUTH_SOCK": agent.socket, "SHH_TEST_AGENT": agent.socket]) { $1 }, deadline: 120)
        #expect(byVariable.status == 0 && byVariable.stdout.contains(fingerprint), "\(byVariable.stdout) \(byVariable.stderr)")

        // The agent's key is only admitted by hop2: an ssh run on the destination gets there with the forwarded
        // agent alone (the test login's home has no keys).
        let further = "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=\(fixture.knownHosts) "
            + "-p \(fixture.hop2.port) \(testLogin)@127.0.0.1 echo second hop by agent"
        let second = try await fixture.shh(["-A", "target", further], agent: agent.socket)
        #expect(second.status == 0 && second.stdout == "second hop by agent\n", "\(second.stdout) \(second.stderr)")
        #expect(try await fixture.accepted(fixture.hop2, user: testLogin, key: agentKey))

        // Without -A (and with -a after -A) the session has no agent, as with ssh: ssh-add exits 2.
        for arguments in [["target"], ["-A", "-a", "target"]] {
            let without = try await fixture.shh(arguments + ["ssh-add -l"], agent: agent.socket)
            #expect(without.status == 2, "\(arguments): \(without.stdout) \(without.stderr)")
            #expect(without.stderr.contains("Could not open a connection to your authentication agent"), "\(without.stderr)")
        }
        await killAndReap(agent.pid, SIGTERM)
        reaped = true

        // -A with no agent at all: ssh says nothing and forwards nothing; so does shh.
        let noAgent = try await fixture.shh(["-A", "target", "ssh-add -l; echo status $?"])
        #expect(noAgent.status == 0 && noAgent.stdout == "status 2\n", "\(noAgent.stdout) \(noAgent.stderr)")
        #expect(!withoutShellStartupNoise(noAgent.stderr).contains("shh"), "\(noAgent.stderr)")
    }
}
