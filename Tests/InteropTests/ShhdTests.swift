// shhd against OpenSSH's ssh and our shh: the embedded default (a generated host key whose fingerprint ssh-keygen
// agrees with, the running user's keys), a config file with Allow/DenyUsers and Match, a key not listed refused,
// exit statuses, stderr apart, 16 MiB each way, and -t naming file and line for broken configs.
import Crypto
import Foundation
import Testing

/// A key pair made by ssh-keygen, an authorized_keys holding it, and a state directory for shhd's own host key;
/// the directory goes when the test lets go of the fixture.
final class ShhdFixture: Sendable {
    let directory: String
    let identity: String
    let authorizedKeys: String

    @available(*, noasync, message: "blocks a cooperative pool thread")
    init() throws {
        directory = try makeTemporaryDirectory()
        identity = directory + "/id_ed25519"
        let made = try run(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "", "-f", identity])
        guard made.status == 0 else { throw InteropError.missingProgram("ssh-keygen (\(made.stderr))") }
        authorizedKeys = directory + "/authorized_keys"
        try FileManager.default.copyItem(atPath: identity + ".pub", toPath: authorizedKeys)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// shhd with its embedded default (no -f), keeping its state and our keys inside the temp directory.
    func startEmbedded(_ extra: [String] = []) async throws -> TestShhd {
        // StrictModes no: the file lies under /tmp, which everyone may write (sshd would refuse it too).
        try await TestShhd.start(["-o", "AuthorizedKeysFile \(authorizedKeys)", "-o", "StrictModes no"] + extra, directory: directory,
                                 environment: ["XDG_STATE_HOME": directory + "/state"])
    }

    var hostKeyPublic: String { directory + "/state/shhd/ssh_host_ed25519_key.pub" }

    /// A known_hosts file naming the host key this fixture's shhd made, for clients other than `ssh(_:_:)`.
    func knownHostsFile(for server: TestShhd) throws -> String {
        let path = directory + "/known_hosts-\(server.port)"
        try "[127.0.0.1]:\(server.port) \(try String(contentsOfFile: hostKeyPublic, encoding: .utf8))".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// shhd with a config file of its own (-f, so the embedded default does not apply): a host key made by
    /// ssh-keygen, loopback, the fixture's authorized_keys (StrictModes no: it lies under /tmp), no PAM, then
    /// `rest` (top-level lines and Match blocks; the common lines are 1-5). Returns the server, the host key's path
    /// and the config's path.
    func startWithConfig(_ rest: String, name: String = "shhd_config") async throws -> (server: TestShhd, hostKey: String, config: String) {
        let hostKey = try await makeKeys(["host_key_\(name)"], in: directory)[0]
        let config = directory + "/" + name
        try """
            HostKey \(hostKey)
            ListenAddress 127.0.0.1
            AuthorizedKeysFile \(authorizedKeys)
            StrictModes no
            UsePAM no
            \(rest)

            """.write(toFile: config, atomically: true, encoding: .utf8)
        return (try await TestShhd.start(["-f", config], directory: directory), hostKey, config)
    }

    /// OpenSSH's ssh to `server` as `user`, trusting the host key shhd generated.
    func ssh(_ server: TestShhd, _ arguments: [String], user: String = testLogin, stdin: [UInt8] = []) async throws -> ProcessResult {
        let knownHosts = try knownHostsFile(for: server)
        return try await runAsync("/usr/bin/ssh", ["-F", "/dev/null", "-p", "\(server.port)", "-i", identity, "-o", "IdentitiesOnly=yes",
                                                   "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                                                   "-o", "UserKnownHostsFile=\(knownHosts)", "\(user)@127.0.0.1"] + arguments, stdin: stdin)
    }
}

@Suite("shhd against ssh and shh", .enabled(if: isRootUser, "logging in as root needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct ShhdTests {
    @Test func embeddedDefaultServesTheRunningUser() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        // The generated host key: announced with its fingerprint, which ssh-keygen computes the same.
        let fingerprint = try await runAsync(try sshKeygenPath(), ["-l", "-f", fixture.hostKeyPublic]).stdout
        let announced = try #require(server.logText.firstMatch(of: /Generated host key \S+: ED25519 (SHA256:\S+)/)?.1)
        #expect(fingerprint.contains(String(announced)), "\(server.logText)")
        #expect(server.logText.contains("Server listening on 127.0.0.1 port \(server.port)."), "\(server.logText)")

        for status in [0, 3] {
            let result = try await fixture.ssh(server, ["echo out; echo err >&2; exit \(status)"])
            #expect(result.status == Int32(status), "\(result.stderr) \(server.logText)")
            #expect(result.stdout == "out\n")
            #expect(withoutShellStartupNoise(result.stderr) == "err\n")
        }
        #expect(server.logText.contains("Accepted publickey for \(testLogin) from 127.0.0.1"), "\(server.logText)")
        // One line per event: the connection, the session's start, its end with status and bytes, the disconnect.
        #expect(server.logText.contains("Connection from 127.0.0.1 port "), "\(server.logText)")
        #expect(server.logText.contains("Starting session: command for \(testLogin) from 127.0.0.1"), "\(server.logText)")
        #expect(server.logText.contains(": exit status 3, received 0 bytes, sent 8 bytes"), "\(server.logText)")
        #expect(server.logText.contains("Disconnected from user \(testLogin) 127.0.0.1 port "), "\(server.logText)")
        // Our own client too.
        let knownHosts = fixture.directory + "/known_hosts-\(server.port)"
        let shh = try await runAsync(shhPath, ["-F", "none", "-p", "\(server.port)", "-i", fixture.identity, "-o", "BatchMode=yes",
                                              "-o", "UserKnownHostsFile=\(knownHosts)", "\(testLogin)@127.0.0.1", "echo", "from-shh"])
        #expect(shh.stdout == "from-shh\n", "\(shh.stderr)")
        // -o ListenAddress and Port replace the default's 127.0.0.1:2222 instead of adding to them.
        let environment = ProcessInfo.processInfo.environment.merging(["XDG_STATE_HOME": fixture.directory + "/state"]) { $1 }
        let printed = try await runAsync(shhdPath, ["-T", "-o", "ListenAddress 127.0.0.2", "-o", "Port 2200"], environment: environment)
        #expect(printed.stdout.contains("listenaddress 127.0.0.2:2200\n") && !printed.stdout.contains("127.0.0.1")
                && !printed.stdout.contains("2222"), "\(printed.stdout) \(printed.stderr)")
        // A restart keeps the same host key.
        #expect(await server.stopped() == 0, "SIGTERM should end shhd cleanly: \(server.logText)")
        let again = try await fixture.startEmbedded()
        defer { again.terminate() }
        #expect(!again.logText.contains("Generated host key"))
        let second = try await runAsync("/usr/bin/ssh", ["-F", "/dev/null", "-p", "\(again.port)", "-i", fixture.identity, "-o", "BatchMode=yes",
                                                         "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=/dev/null",
                                                         "-o", "GlobalKnownHostsFile=/dev/null", "-o", "KnownHostsCommand=/bin/sh -c 'echo [127.0.0.1]:%p $(cat \(fixture.hostKeyPublic))'",
                                                         "\(testLogin)@127.0.0.1", "true"])
        #expect(second.status == 0, "the host key changed across a restart: \(second.stderr)")
    }

    @Test func theBannerIsShownBeforeAuthentication() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let bannerFile = fixture.directory + "/banner"
        try "Authorized use only.\nSecond line.\n".write(toFile: bannerFile, atomically: true, encoding: .utf8)
        let server = try await fixture.startEmbedded(["-o", "Banner \(bannerFile)"])
        defer { server.terminate() }
        let result = try await fixture.ssh(server, ["echo ran"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(withoutShellStartupNoise(result.stderr) == "Authorized use only.\nSecond line.\n", "ssh prints the banner on stderr: \(result.stderr)")
        let shh = try await runAsync(shhPath, ["-F", "none", "-p", "\(server.port)", "-i", fixture.identity, "-o", "BatchMode=yes",
                                              "-o", "UserKnownHostsFile=\(fixture.directory)/known_hosts-\(server.port)", "\(testLogin)@127.0.0.1", "true"])
        #expect(shh.status == 0 && shh.stderr.hasPrefix("Authorized use only.\nSecond line."), "\(shh.stderr)")
    }

    @Test func aMatchBlockChoosesTheBanner() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let directory = fixture.directory
        try "For everyone.\n".write(toFile: directory + "/everyone", atomically: true, encoding: .utf8)
        try "For nobody.\n".write(toFile: directory + "/nobody", atomically: true, encoding: .utf8)
        let (server, _, _) = try await fixture.startWithConfig("""
            Banner \(directory)/everyone
            Match User nobody
                Banner \(directory)/nobody
            Match User daemon
                Banner none
            """, name: "banner_config")
        defer { server.terminate() }
        func banner(as user: String) async throws -> String {
            // Only the banner matters here: host key checking off, the session itself may be refused.
            let result = try await runAsync("/usr/bin/ssh", ["-F", "/dev/null", "-p", "\(server.port)", "-i", fixture.identity, "-o", "IdentitiesOnly=yes",
                                                             "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                                             "\(user)@127.0.0.1", "true"])
            return result.stderr
        }
        let everyone = try await banner(as: testLogin)
        #expect(everyone.contains("For everyone.\n") && !everyone.contains("For nobody"), "\(everyone)")
        let nobody = try await banner(as: "nobody")
        #expect(nobody.contains("For nobody.\n") && !nobody.contains("For everyone"), "\(nobody)")
        let none = try await banner(as: "daemon")
        #expect(!none.contains("For "), "\(none)")
    }

    /// Debian's ssh 9.2 and OpenSSH 10 (in its Debian 13 root; /tmp is shared with it): exec, statuses, stderr,
    /// the key login, and the key exchange each negotiates by default (ML-KEM hybrid for 10).
    @Test(arguments: installationsUnderTest)
    func openSSHReleasesExecAndNegotiate(_ installation: OpenSSHInstallation) async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded(["-o", "LogLevel VERBOSE"])
        defer { server.terminate() }
        let knownHosts = fixture.directory + "/known_hosts-\(server.port)"
        try "[127.0.0.1]:\(server.port) \(try String(contentsOfFile: fixture.hostKeyPublic, encoding: .utf8))"
            .write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let result = try await installation.sshAsync(["-F", "/dev/null", "-v", "-p", "\(server.port)", "-i", fixture.identity, "-o", "IdentitiesOnly=yes",
                                                      "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(knownHosts)",
                                                      "\(testLogin)@127.0.0.1", "echo out; echo err >&2; exit 5"])
        #expect(result.status == 5, "\(installation): \(result.stderr.suffix(2000)) \(server.logText)")
        #expect(result.stdout == "out\n")
        #expect(result.stderr.contains("\nerr\n") || result.stderr.hasPrefix("err\n"))
        // 9.2 has no ML-KEM (and shhd no sntrup761): curve25519 there; 10 and shhd agree on the post-quantum hybrid.
        let expectedKex = installation.chrootRoot == nil ? "curve25519-sha256" : "mlkem768x25519-sha256"
        #expect(result.stderr.contains("kex: algorithm: \(expectedKex)"), "\(installation): \(result.stderr.suffix(3000))")
        #expect(result.stderr.contains("Authenticated to 127.0.0.1") && result.stderr.contains("using \"publickey\""), "\(result.stderr.suffix(2000))")
    }

    @Test(arguments: ["paramiko", "asyncssh", "asyncssh-mlkem"])
    func pythonClients(_ library: String) async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let knownHosts = fixture.directory + "/known_hosts-python"
        try "[127.0.0.1]:\(server.port) \(try String(contentsOfFile: fixture.hostKeyPublic, encoding: .utf8))".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python_exec_client.py").path
        let kex = library == "asyncssh-mlkem" ? "mlkem768x25519-sha256" : "-"
        let result = try await runAsync("/usr/bin/env", ["python3", script, library == "paramiko" ? "paramiko" : "asyncssh", "\(server.port)",
                                                         fixture.identity, knownHosts, kex, "echo hello; echo oops >&2; exit 7", testLogin])
        #expect(result.stdout == "STATUS 7\nSTDOUT hello\nSTDERR oops\n", "\(library): \(result.stdout) \(result.stderr.suffix(2000)) \(server.logText)")
    }

    @Test func sixteenMiBEachWay() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let data = randomBytes(16 << 20)
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        let up = try await fixture.ssh(server, ["sha256sum"], stdin: data)
        #expect(up.stdout.hasPrefix(digest), "\(up.stderr)")
        let down = try await fixture.ssh(server, ["head -c 16777216 /dev/zero"])
        #expect(down.status == 0 && down.stdout.utf8.count == 16 << 20 && down.stdout.utf8.allSatisfy { $0 == 0 })
    }

    @Test func whoMayLogIn() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        // A key that is not listed.
        let stranger = fixture.directory + "/stranger"
        #expect(try await runAsync(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "", "-f", stranger]).status == 0)
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let refused = try await runAsync("/usr/bin/ssh", ["-F", "/dev/null", "-p", "\(server.port)", "-i", stranger, "-o", "IdentitiesOnly=yes",
                                                          "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                                          "\(testLogin)@127.0.0.1", "touch \(fixture.directory)/marker"])
        #expect(refused.status == 255)
        // As root, shhd can check passwords (it reads /etc/shadow) and offers them; otherwise only publickey.
        #expect(refused.stderr.contains(isRootUser ? "Permission denied (publickey,password,keyboard-interactive)" : "Permission denied (publickey)"),
                "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/marker"))
        let other = try await fixture.ssh(server, ["id -un"], user: "nobody")
        if isRootUser {
            // Root runs each session as the account that logged in (this AuthorizedKeysFile is everyone's): nobody's
            // login shell turns it away, as under sshd.
            #expect(other.status == 1 && other.stdout.contains("This account is currently not available"), "\(other.stdout) \(other.stderr)")
        } else {
            // Not root, shhd cannot become anyone else: refused, whoever the key belongs to.
            #expect(other.status == 255)
        }

        // DenyUsers, and AllowUsers that lists someone else, each refuse the test login, and say why in the log.
        for rule in ["DenyUsers \(testLogin)", "AllowUsers somebody"] {
            let denied = try await fixture.startEmbedded(["-o", rule])
            defer { denied.terminate() }
            let result = try await fixture.ssh(denied, ["true"])
            #expect(result.status == 255, "\(rule): \(result.stderr)")
            #expect(denied.logText.contains("User \(testLogin) from 127.0.0.1"), "\(denied.logText)")
        }
    }

    @Test func certificatesBothWays() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let directory = fixture.directory
        let keygen = try sshKeygenPath()
        for name in ["ca", "host_key", "user_key"] {
            #expect(try await runAsync(keygen, ["-q", "-t", "ed25519", "-N", "", "-f", "\(directory)/\(name)"]).status == 0)
        }
        // ssh-keygen signs a user certificate for the test login (serial 42) and a host certificate for 127.0.0.1.
        #expect(try await runAsync(keygen, ["-q", "-s", "\(directory)/ca", "-I", "ops-id", "-n", testLogin, "-z", "42", "\(directory)/user_key.pub"]).status == 0)
        #expect(try await runAsync(keygen, ["-q", "-s", "\(directory)/ca", "-I", "host-id", "-h", "-n", "127.0.0.1", "\(directory)/host_key.pub"]).status == 0)
        let config = """
            ListenAddress 127.0.0.1
            HostKey \(directory)/host_key
            HostCertificate \(directory)/host_key-cert.pub
            TrustedUserCAKeys \(directory)/ca.pub
            AuthorizedKeysFile none
            UsePAM no

            """
        try config.write(toFile: directory + "/certs_config", atomically: true, encoding: .utf8)
        let server = try await TestShhd.start(["-f", directory + "/certs_config"], directory: directory)
        defer { server.terminate() }
        // The client knows only the CA (@cert-authority): the host certificate is what lets it in.
        let caLine = try String(contentsOfFile: directory + "/ca.pub", encoding: .utf8)
        try "@cert-authority 127.0.0.1 \(caLine)".write(toFile: directory + "/ca_known_hosts", atomically: true, encoding: .utf8)
        func ssh(_ identity: String) async throws -> ProcessResult {
            try await runAsync("/usr/bin/ssh", ["-F", "/dev/null", "-p", "\(server.port)", "-i", identity, "-o", "IdentitiesOnly=yes",
                                                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                                                "-o", "UserKnownHostsFile=\(directory)/ca_known_hosts", "\(testLogin)@127.0.0.1", "id -un"])
        }
        let certified = try await ssh(directory + "/user_key")
        #expect(certified.status == 0 && certified.stdout == "root\n", "\(certified.stderr) \(server.logText)")
        #expect(server.logText.contains("ED25519-CERT"), "\(server.logText)")
        #expect(server.logText.contains("ID ops-id (serial 42) CA ED25519"), "\(server.logText)")
        // The bare key, without its certificate, is not listed anywhere (AuthorizedKeysFile none).
        try FileManager.default.moveItem(atPath: directory + "/user_key-cert.pub", toPath: directory + "/moved-cert.pub")
        let bare = try await ssh(directory + "/user_key")
        #expect(bare.status == 255 && bare.stderr.contains("Permission denied"), "\(bare.stderr)")
        // A certificate for another principal is refused.
        #expect(try await runAsync(keygen, ["-q", "-s", "\(directory)/ca", "-I", "other", "-n", "somebody", "\(directory)/user_key.pub"]).status == 0)
        let otherPrincipal = try await ssh(directory + "/user_key")
        #expect(otherPrincipal.status == 255, "\(otherPrincipal.stdout)")
    }

    @Test func aClientThatStopsAnsweringIsDisconnected() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded(["-o", "ClientAliveInterval 1", "-o", "ClientAliveCountMax 2"])
        defer { server.terminate() }
        let knownHosts = fixture.directory + "/known_hosts-\(server.port)"
        try "[127.0.0.1]:\(server.port) \(try String(contentsOfFile: fixture.hostKeyPublic, encoding: .utf8))"
            .write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let client = try spawnInNewSession("/usr/bin/ssh", ["-F", "/dev/null", "-p", "\(server.port)", "-i", fixture.identity, "-o", "BatchMode=yes",
                                                             "-o", "UserKnownHostsFile=\(knownHosts)", "\(testLogin)@127.0.0.1", "sleep 60"],
                                           environment: ProcessInfo.processInfo.environment, actions: [
            .open("/dev/null", flags: O_RDONLY, mode: 0, as: 0),
            .open("/dev/null", flags: O_WRONLY, mode: 0, as: 1),
            .duplicate(1, as: 2),
        ])
        defer {
            kill(client, SIGKILL)
            Thread.detachNewThread { var status: Int32 = 0; waitpid(client, &status, 0) }
        }
        // Once the session runs, the client is stopped: it answers nothing, so after two unanswered keepalives
        // shhd ends the connection (and hangs up the session's sleep).
        func logged(_ text: String, within seconds: Double) async throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if server.logText.contains(text) { return true }
                try await Task.sleep(for: .milliseconds(100))
            }
            return server.logText.contains(text)
        }
        #expect(try await logged("Starting session: command for \(testLogin)", within: 20), "\(server.logText)")
        kill(client, SIGSTOP)
        #expect(try await logged("Timeout, client not responding", within: 30), "\(server.logText)")
        #expect(server.logText.contains("Disconnected from user \(testLogin) 127.0.0.1"), "\(server.logText)")
    }

    @Test func aSessionHoldsOnlyItsStandardDescriptors() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        // The shell's own descriptors (listed into a file, so no pipeline of the shell's adds one): nothing of
        // shhd's (its sockets, other sessions' pipes, host keys) reaches a session, with or without a terminal.
        let listing = fixture.directory + "/fds"
        for terminal in [[], ["-tt"]] {
            // bash lists its own descriptors as it got them: the test login's /bin/sh (dash) keeps copies of its
            // own around redirections, which would say nothing about shhd.
            let result = try await fixture.ssh(server, terminal + ["exec /bin/bash -c 'ls /proc/$$/fd > \(listing); tr \"\\n\" \" \" < \(listing)'"])
            #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0 1 2", "\(terminal): \(result.stdout) \(result.stderr)")
        }
    }

    @Test func brokenConfigurationsNameFileAndLine() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let hostKey = fixture.directory + "/host_key"
        #expect(try await runAsync(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]).status == 0)
        let cases: [(String, String)] = [
            ("HostKey \(hostKey)\nNoSuchOption yes\n", "line 2: Bad configuration option: NoSuchOption"),
            ("HostKey \(hostKey)\nMaxAuthTries many\n", "MaxAuthTries"),
            ("HostKey \(hostKey)\nMatch User root\n    Port 2022\n", "line 3: Directive 'Port' is not allowed within a Match block"),
            ("HostKey \(hostKey)\nUsePAM yes\n", "line 2: UsePAM: PAM is not available in shhd yet"),
            ("HostKey \(hostKey)\nAuthenticationMethods publickey,hostbased\n", "line 2"),
            ("HostKey \(hostKey)\nAuthenticationMethods publickey,publickey\n", "line 2"),
            ("HostKey \(fixture.directory)/missing\n", "no hostkeys available"),
        ]
        for (index, (text, expected)) in cases.enumerated() {
            let config = fixture.directory + "/config\(index)"
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            let result = try await runAsync(shhdPath, ["-t", "-f", config])
            #expect(result.status == 255, "\(text)")
            #expect(result.stderr.contains(expected) && (expected.hasPrefix("line") ? result.stderr.contains(config) : true),
                    "\(text) → \(result.stderr)")
        }
        let good = fixture.directory + "/good"
        try "HostKey \(hostKey)\nPort 2022\nListenAddress 127.0.0.1\nMatch User root\n    MaxSessions 3\n".write(toFile: good, atomically: true, encoding: .utf8)
        let checked = try await runAsync(shhdPath, ["-t", "-f", good])
        #expect(checked.status == 0, "\(checked.stderr)")
        let printed = try await runAsync(shhdPath, ["-T", "-f", good, "-C", "user=root,addr=127.0.0.1"])
        #expect(printed.stdout.contains("port 2022\n") && printed.stdout.contains("maxsessions 3\n"), "\(printed.stdout)")
        let global = try await runAsync(shhdPath, ["-T", "-f", good])
        #expect(global.stdout.contains("maxsessions 10\n"), "\(global.stdout)")
    }
}

/// Slow shhd checks (SHH_LONG_TESTS=1).
@Suite("shhd long tier", .enabled(if: isRootUser && longTestsEnabled, "set SHH_LONG_TESTS=1 (as root) to run the long tier"), .timeLimit(.minutes(30)))
struct ShhdLongTierTests {
    /// SIGTERM: no new connections; a session that finishes within the grace period ends normally, one that does
    /// not is hung up when the period (30 s) is over, and shhd exits 0.
    @Test func sigtermWaitsForSessionsThenClosesThem() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        async let short = fixture.ssh(server, ["sleep 3; echo finished"])
        async let long = fixture.ssh(server, ["sleep 300; echo never"])
        // SIGTERM once both sessions run (shhd logs each start), not after a guess at how long that takes.
        let bothStarted = await eventually(30) {
            server.logText.components(separatedBy: "Starting session: command for \(testLogin)").count - 1 >= 2
        }
        #expect(bothStarted, "\(server.logText)")
        kill(server.pid, SIGTERM)
        // The listener closes soon after the signal: from then on, new connections are refused.
        var refused = ProcessResult(status: 0, stdout: "", stderr: "")
        let refusing = await eventually(15) {
            refused = (try? await fixture.ssh(server, ["true"])) ?? refused
            return refused.status == 255
        }
        #expect(refusing, "a new connection after SIGTERM: \(refused.stderr)")
        let finished = try await short
        #expect(finished.status == 0 && finished.stdout == "finished\n", "\(finished.stderr)")
        let cut = try await long
        #expect(cut.status != 0 && !cut.stdout.contains("never"), "\(cut.stdout) \(cut.stderr)")
        #expect(await server.stopped(seconds: 60) == 0, "\(server.logText)")
    }
}
