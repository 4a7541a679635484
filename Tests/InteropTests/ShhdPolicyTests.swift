// shhd's policies as OpenSSH's ssh meets them: MaxAuthTries (wrong keys and wrong passwords), LoginGraceTime (-o and
// -g), what fails closed (direct-tcpip under DisableForwarding, remote forwarding under AllowTcpForwarding local, sftp,
// ChrootDirectory, UsePAM, MaxStartups, agent forwarding under AllowAgentForwarding no), the authorized_keys options from=, expiry-time=, restrict (and pty after it) and cert-authority with
// principals=, and PermitTTY no in a Match block.
import Foundation
import Testing

@Suite("shhd's policies against ssh", .enabled(if: isRootUser, "logging in as root needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct ShhdPolicyTests {
    // MARK: - MaxAuthTries

    /// OpenSSH's ssh offers each key as a query (no signature) before signing with it; sshd counts every refused
    /// offer against MaxAuthTries, so a client with many keys is cut off before it reaches the right one.
    @Test func maxAuthTriesCutsOffAClientOfferingWrongKeys() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let wrong = try await makeKeys(["wrong1", "wrong2", "wrong3"], in: fixture.directory)
        let limited = try await fixture.startEmbedded(["-o", "MaxAuthTries 2"])
        defer { limited.terminate() }
        let refused = try await runAsync("/usr/bin/ssh", try sshOptions(fixture, port: limited.port, identities: wrong + [fixture.identity])
                                         + ["\(testLogin)@127.0.0.1", "echo logged-in"])
        #expect(refused.status == 255, "MaxAuthTries 2 let in a client that offered 3 wrong keys first: \(refused.stdout) \(refused.stderr) \(limited.logText)")
        // sshd: "Received disconnect from … port P:2: Too many authentication failures"; shhd says it in lower case.
        #expect(refused.stderr.lowercased().contains("too many authentication failures"), "\(refused.stderr) \(limited.logText)")
        #expect(!refused.stdout.contains("logged-in"))
        #expect(!limited.logText.contains("Accepted publickey"), "the key after the 2 allowed failures was tried: \(limited.logText)")

        // The default (6): two wrong keys, then the right one.
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let admitted = try await runAsync("/usr/bin/ssh", try sshOptions(fixture, port: server.port, identities: Array(wrong.prefix(2)) + [fixture.identity])
                                          + ["\(testLogin)@127.0.0.1", "echo logged-in"])
        #expect(admitted.status == 0 && admitted.stdout == "logged-in\n", "\(admitted.stderr) \(server.logText)")
    }

    /// Wrong passwords (typed through SSH_ASKPASS): ssh asks twice, then shhd ends the connection.
    @Test func maxAuthTriesCutsOffAClientTypingWrongPasswords() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded(["-o", "MaxAuthTries 2"])
        defer { server.terminate() }
        let askpass = fixture.directory + "/askpass"
        let asked = fixture.directory + "/asked"
        try "#!/bin/sh\necho asked >> \(asked)\necho 'not the password'\n".write(toFile: askpass, atomically: true, encoding: .utf8)
        chmod(askpass, 0o755)
        let environment = ProcessInfo.processInfo.environment.merging(["SSH_ASKPASS": askpass, "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"]) { $1 }
        let result = try await runAsync("/usr/bin/ssh", try sshOptions(fixture, port: server.port, identities: [], batch: false)
                                        + ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
                                           "-o", "NumberOfPasswordPrompts=5", "\(testLogin)@127.0.0.1", "true"],
                                        environment: environment)
        #expect(result.status == 255, "\(result.stderr) \(server.logText)")
        #expect(result.stderr.lowercased().contains("too many authentication failures"), "\(result.stderr) \(server.logText)")
        let prompts = ((try? readText(asked)) ?? "").split(separator: "\n").count
        #expect(prompts == 2, "ssh asked for a password \(prompts) times under MaxAuthTries 2: \(result.stderr) \(server.logText)")
    }

    // MARK: - LoginGraceTime

    /// A client that sends its version line and then nothing is cut off once the grace time is over, set by
    /// LoginGraceTime or by sshd's -g.
    @Test(arguments: [["-o", "LoginGraceTime 1"], ["-g", "1"]])
    func aSilentClientIsCutOffAfterTheLoginGraceTime(_ arguments: [String]) async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded(arguments)
        defer { server.terminate() }
        // Generous: the server must close long before this (it waits 1 s); the point is that it closes at all.
        let (closed, localPort) = try await offThePool { try sendVersionThenNothing(port: server.port, seconds: 30) }
        #expect(closed, "\(arguments): shhd kept a silent connection open: \(server.logText)")
        let line = "Connection closed by 127.0.0.1 port \(localPort) [preauth]"
        #expect(await logged(server, line), "\(arguments): \(server.logText)")
        let reason = server.logText.split(separator: "\n").first { $0.contains(line) }
        #expect(reason?.contains("login grace time") == true, "\(arguments): \(server.logText)")
    }

    // MARK: - Fail closed

    @Test func stdioForwardingIsAdministrativelyProhibitedUnderDisableForwarding() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded(["-o", "DisableForwarding yes"])
        defer { server.terminate() }
        // -W asks for a direct-tcpip channel, the same request -L makes for each forwarded connection.
        let result = try await fixture.ssh(server, ["-W", "127.0.0.1:\(server.port)"])
        #expect(result.status == 255, "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("open failed: administratively prohibited"), "\(result.stderr) \(server.logText)")
        #expect(result.stderr.contains("stdio forwarding failed"), "\(result.stderr)")
        #expect(!result.stdout.hasPrefix("SSH-2.0-"), "the forward reached the port: \(result.stdout)")
    }

    @Test func remoteForwardingFailsUnderAllowTcpForwardingLocal() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded(["-o", "AllowTcpForwarding local"])
        defer { server.terminate() }
        let result = try await fixture.ssh(server, ["-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:\(server.port)", "echo ran"])
        #expect(result.status == 255, "\(result.stdout) \(result.stderr) \(server.logText)")
        #expect(result.stderr.contains("remote port forwarding failed"), "\(result.stderr) \(server.logText)")
        #expect(!result.stdout.contains("ran"), "the command ran although the forward failed: \(result.stdout)")
    }

    /// OpenSSH's sftp, with and without a Subsystem line in the configuration.
    @Test(arguments: [false, true])
    func sftpIsRefused(subsystemConfigured: Bool) async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded(subsystemConfigured ? ["-o", "Subsystem sftp internal-sftp"] : [])
        defer { server.terminate() }
        let options = try sshOptions(fixture, port: server.port, identities: [fixture.identity], portFlag: "-P")
        let result = try await runAsync("/usr/bin/sftp", options + ["-b", "-", "\(testLogin)@127.0.0.1"], stdin: Array("ls\n".utf8))
        #expect(result.status == 255, "Subsystem configured: \(subsystemConfigured): \(result.stdout) \(result.stderr) \(server.logText)")
        #expect(result.stderr.contains("subsystem request failed"), "\(result.stderr) \(server.logText)")
        #expect(!result.stdout.contains("sftp>"), "sftp got as far as running its batch: \(result.stdout)")
        if subsystemConfigured {
            #expect(server.logText.contains("subsystems (sftp) are not built yet"), "\(server.logText)")
        }
    }

    @Test func aChrootDirectoryUserIsRefusedSayingWhy() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let (server, hostKey, config) = try await fixture.startWithConfig("""
            Match User \(testLogin)
                ChrootDirectory /tmp
            """, name: "chroot_config")
        defer { server.terminate() }
        #expect(server.logText.contains("\(config) line 7: ChrootDirectory is not supported yet"), "\(server.logText)")
        let result = try await runAsync("/usr/bin/ssh", try sshOptions(fixture, port: server.port, identities: [fixture.identity], hostKeyPublic: hostKey + ".pub")
                                        + ["\(testLogin)@127.0.0.1", "echo ran"])
        #expect(result.status == 255 && result.stderr.contains("Permission denied"), "\(result.stdout) \(result.stderr) \(server.logText)")
        #expect(!result.stdout.contains("ran"))
        #expect(await logged(server, "User \(testLogin) from 127.0.0.1 port "), "\(server.logText)")
        #expect(server.logText.contains("refused: ChrootDirectory /tmp is not supported yet"), "\(server.logText)")
        #expect(!server.logText.contains("Starting session"), "\(server.logText)")
    }

    @Test func usePAMStopsShhdAtStart() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let environment = ProcessInfo.processInfo.environment.merging(["XDG_STATE_HOME": fixture.directory + "/state"]) { $1 }
        // timeout: should shhd start serving instead, the test fails rather than waits for ever.
        let result = try await runAsync("/usr/bin/timeout", ["-s", "KILL", "60", shhdPath, "-D", "-e", "-p", "\(try freeLoopbackPort())",
                                                             "-o", "AuthorizedKeysFile \(fixture.authorizedKeys)", "-o", "UsePAM yes"],
                                        environment: environment)
        #expect(result.status == 255, "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("UsePAM"), "\(result.stderr)")
        #expect(!result.stderr.contains("Server listening"), "\(result.stderr)")
    }

    /// MaxStartups and the PerSource* settings are enforced (ShhdStartupLimitsTests); a value that does not parse
    /// stops shhd with its line named.
    @Test func startupLimitsAreCheckedAtStart() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded(["-o", "MaxStartups 10:30:100", "-o", "PerSourcePenalties authfail:10s min:20s max:5m"])
        defer { server.terminate() }
        #expect(!server.logText.contains("not enforced"), "\(server.logText)")
        let result = try await fixture.ssh(server, ["echo serving"])
        #expect(result.status == 0 && result.stdout == "serving\n", "\(result.stderr) \(server.logText)")
        for bad in ["MaxStartups 10:30", "PerSourcePenalties authfail:often", "PerSourceNetBlockSize 33", "PerSourceMaxStartups -1"] {
            let checked = try await runAsync(shhdPath, ["-t", "-o", bad], environment: ["XDG_STATE_HOME": fixture.directory + "/state"])
            #expect(checked.status == 255 && checked.stderr.contains("invalid"), "\(bad): \(checked.stderr)")
        }
    }

    @Test func agentForwardingIsNotGrantedUnderAllowAgentForwardingNo() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded(["-o", "AllowAgentForwarding no"])
        defer { server.terminate() }
        let socket = fixture.directory + "/agent.sock"
        let agent = try spawnInNewSession("/usr/bin/ssh-agent", ["-D", "-a", socket], environment: ProcessInfo.processInfo.environment, actions: [
            .open("/dev/null", flags: O_RDONLY, mode: 0, as: 0),
            .open("/dev/null", flags: O_WRONLY, mode: 0, as: 1),
            .duplicate(1, as: 2),
        ])
        // Stopped and reaped before the fixture's directory goes: an agent ending on SIGTERM removes its socket, which
        // would race the directory's removal. SIGKILL (which leaves the socket) if the test throws first.
        var reaped = false
        defer {
            if !reaped { kill(agent, SIGKILL); Thread.detachNewThread { var status: Int32 = 0; waitpid(agent, &status, 0) } }
        }
        #expect(await waitUntil(seconds: 20) { FileManager.default.fileExists(atPath: socket) }, "ssh-agent never made \(socket)")
        let environment = ProcessInfo.processInfo.environment.merging(["SSH_AUTH_SOCK": socket]) { $1 }
        let result = try await runAsync("/usr/bin/ssh", try sshOptions(fixture, port: server.port, identities: [fixture.identity])
                                        + ["-v", "-A", "\(testLogin)@127.0.0.1", "echo ${SSH_AUTH_SOCK:-none}"], environment: environment)
        // ssh did ask (it only does with an agent to forward), and the session has no agent socket.
        #expect(result.stderr.contains("Requesting authentication agent forwarding."), "\(result.stderr.suffix(2000))")
        #expect(result.status == 0, "\(result.stderr.suffix(2000)) \(server.logText)")
        #expect(result.stdout == "none\n", "an agent socket was set up: \(result.stdout)")
        await killAndReap(agent, SIGTERM)
        reaped = true
    }

    // MARK: - authorized_keys options

    /// from= and expiry-time: the refusing form keeps 127.0.0.1 out today, the admitting form lets it in.
    @Test(arguments: [("from=\"10.0.0.0/8\"", "from=\"127.0.0.1\""), ("expiry-time=\"20000101\"", "expiry-time=\"29991231\"")])
    func keyOptionsAdmitOnlyWhatTheyAllow(_ refusing: String, _ admitting: String) async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        try authorize(fixture, options: refusing)
        let refused = try await fixture.ssh(server, ["echo ran"])
        #expect(refused.status == 255 && refused.stderr.contains("Permission denied"), "\(refusing) let root in: \(refused.stdout) \(refused.stderr)")
        #expect(!refused.stdout.contains("ran"))
        try authorize(fixture, options: admitting)
        let admitted = try await fixture.ssh(server, ["echo ran"])
        #expect(admitted.status == 0 && admitted.stdout == "ran\n", "\(admitting): \(admitted.stderr) \(server.logText)")
    }

    @Test func restrictRefusesATerminalUnlessPtyFollows() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        try authorize(fixture, options: "restrict")
        // A command without a terminal still runs: restrict takes the terminal away, not the login.
        let plain = try await fixture.ssh(server, ["echo ran"])
        #expect(plain.status == 0 && plain.stdout == "ran\n", "\(plain.stderr) \(server.logText)")
        let forced = try await fixture.ssh(server, ["-tt", "tty"])
        #expect(forced.stderr.contains("PTY allocation request failed on channel 0"), "\(forced.stdout) \(forced.stderr) \(server.logText)")
        #expect(forced.status == 255, "\(forced.stdout) \(forced.stderr)")
        #expect(!forced.stdout.contains("/dev/pts/"), "a restrict key got a terminal: \(forced.stdout)")
        try authorize(fixture, options: "restrict,pty")
        let allowed = try await fixture.ssh(server, ["-tt", "tty"])
        #expect(allowed.status == 0 && allowed.stdout.hasPrefix("/dev/pts/"), "restrict,pty: \(allowed.stdout) \(allowed.stderr) \(server.logText)")
    }

    @Test func certAuthorityAdmitsOnlyTheListedPrincipals() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let directory = fixture.directory
        let keys = try await makeKeys(["ca", "ops_key", "dev_key"], in: directory)
        let keygen = try sshKeygenPath()
        #expect(try await runAsync(keygen, ["-q", "-s", keys[0], "-I", "ops-id", "-n", "ops", keys[1] + ".pub"]).status == 0)
        #expect(try await runAsync(keygen, ["-q", "-s", keys[0], "-I", "dev-id", "-n", "dev", keys[2] + ".pub"]).status == 0)
        let authority = try String(contentsOfFile: keys[0] + ".pub", encoding: .utf8)
        try "cert-authority,principals=\"ops\" \(authority)".write(toFile: fixture.authorizedKeys, atomically: true, encoding: .utf8)
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        // ssh offers KEY-cert.pub beside KEY by itself.
        let ops = try await runAsync("/usr/bin/ssh", try sshOptions(fixture, port: server.port, identities: [keys[1]]) + ["\(testLogin)@127.0.0.1", "id -un"])
        #expect(ops.status == 0 && ops.stdout == "root\n", "\(ops.stderr) \(server.logText)")
        #expect(server.logText.contains("ED25519-CERT") && server.logText.contains("ID ops-id"), "\(server.logText)")
        let dev = try await runAsync("/usr/bin/ssh", try sshOptions(fixture, port: server.port, identities: [keys[2]]) + ["\(testLogin)@127.0.0.1", "id -un"])
        #expect(dev.status == 255 && dev.stderr.contains("Permission denied"), "a certificate for dev let root in: \(dev.stdout) \(dev.stderr) \(server.logText)")
        #expect(!server.logText.contains("ID dev-id"), "\(server.logText)")
    }

    // MARK: - PermitTTY

    @Test func permitTTYNoInAMatchBlockRefusesTheTerminal() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let (server, hostKey, _) = try await fixture.startWithConfig("""
            Match User \(testLogin)
                PermitTTY no
            """, name: "tty_config")
        defer { server.terminate() }
        let options = try sshOptions(fixture, port: server.port, identities: [fixture.identity], hostKeyPublic: hostKey + ".pub")
        let plain = try await runAsync("/usr/bin/ssh", options + ["\(testLogin)@127.0.0.1", "echo ran"])
        #expect(plain.status == 0 && plain.stdout == "ran\n", "\(plain.stderr) \(server.logText)")
        let forced = try await runAsync("/usr/bin/ssh", options + ["-tt", "\(testLogin)@127.0.0.1", "tty"])
        #expect(forced.stderr.contains("PTY allocation request failed on channel 0"), "\(forced.stdout) \(forced.stderr) \(server.logText)")
        #expect(forced.status == 255, "\(forced.stdout) \(forced.stderr)")
        #expect(!forced.stdout.contains("/dev/pts/"), "PermitTTY no gave root a terminal: \(forced.stdout)")
    }

    // MARK: - Helpers

    /// ssh's options for a server on `port` whose host key is `hostKeyPublic` (the embedded default's by default),
    /// offering exactly `identities` in that order (BatchMode unless `batch` is false); sftp spells -p `-P`.
    func sshOptions(_ fixture: ShhdFixture, port: Int, identities: [String], hostKeyPublic: String? = nil, batch: Bool = true,
                    portFlag: String = "-p") throws -> [String] {
        let knownHosts = fixture.directory + "/known_hosts-\(port)"
        let key = try String(contentsOfFile: hostKeyPublic ?? fixture.hostKeyPublic, encoding: .utf8)
        try "[127.0.0.1]:\(port) \(key)".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        return ["-F", "/dev/null", portFlag, "\(port)", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=\(batch ? "yes" : "no")",
                "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(knownHosts)"]
            + identities.flatMap { ["-i", $0] }
    }

    /// ed25519 key pairs made by ssh-keygen in `directory`, by name; returns the private keys' paths.

    /// Replaces the fixture's authorized_keys with its key behind `options`.
    func authorize(_ fixture: ShhdFixture, options: String) throws {
        let key = try String(contentsOfFile: fixture.identity + ".pub", encoding: .utf8)
        try "\(options) \(key)".write(toFile: fixture.authorizedKeys, atomically: true, encoding: .utf8)
    }

    /// Whether `text` shows up in the server's log within a generous deadline (the log is written as events happen).
    func logged(_ server: TestShhd, _ text: String) async -> Bool {
        await waitUntil(seconds: 20) { server.logText.contains(text) }
    }
}


/// Connects to 127.0.0.1:port, sends an SSH version line and then nothing, and reads (the server's version line and
/// KEXINIT) until the server closes (true) or `seconds` pass with nothing from it (false). Also returns our port.
private func sendVersionThenNothing(port: Int, seconds: Int) throws -> (closed: Bool, localPort: Int) {
    guard let fd = connectLoopback(port: port, receiveTimeoutSeconds: seconds) else {
        throw InteropError.missingProgram("a connection to port \(port)")
    }
    defer { close(fd) }
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    let localPort = Int(UInt16(bigEndian: address.sin_port))
    let version = Array("SSH-2.0-PolicyTest_1.0\r\n".utf8)
    _ = version.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count > 0 { continue }
        if count == 0 { return (true, localPort) }
        if errno == EINTR { continue }
        // A reset is a close too; EAGAIN is the receive timeout: the connection stayed open.
        return (errno == ECONNRESET, localPort)
    }
}
