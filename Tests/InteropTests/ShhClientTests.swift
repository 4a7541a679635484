// The shh command against a real sshd (OpenSSH 9.2 here, and 10 through the Debian 13 root for exec and
// authentication): exit statuses, stdout and stderr apart, stdin streamed, arguments as typed, options after the
// host, known_hosts decisions, ssh_config with Host, Match, Include and %-tokens, encrypted keys through
// SSH_ASKPASS, and ssh's errors with exit 255.
import Crypto
import Foundation
import SSHKeys
import Testing

var shhPath: String { "\(productsDirectory)/shh" }

/// One sshd and the files a user of shh would have: a key allowed in, and a known_hosts file that knows the host.
struct ShhFixture {
    let sshd: TestSSHD
    let directory: String
    let identity: String
    let knownHosts: String

    @available(*, noasync, message: "blocks a cooperative pool thread")
    init(_ installation: OpenSSHInstallation = .system, extraConfig: String = "") throws {
        let extra = extraConfig + (installation.chrootRoot == nil ? "" : "\nPerSourcePenalties no")
        sshd = try TestSSHD(chrootRoot: installation.chrootRoot, extraConfig: extra)
        directory = sshd.directory
        identity = directory + "/id_ed25519"
        let made = try run(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "", "-f", identity])
        guard made.status == 0 else { throw InteropError.missingProgram("ssh-keygen (\(made.stderr))") }
        try FileManager.default.copyItem(atPath: identity + ".pub", toPath: directory + "/authorized_keys")
        knownHosts = directory + "/known_hosts"
        try "[127.0.0.1]:\(sshd.port) \(sshd.hostKeyPublic)".write(toFile: knownHosts, atomically: true, encoding: .utf8)
    }

    /// shh as root to this sshd with the fixture's key and known_hosts; `arguments` go after the common ones.
    /// Off the cooperative thread pool (a blocked pool thread stalls every async test in the process).
    func shh(_ arguments: [String], stdin: [UInt8] = [], environment: [String: String]? = nil) async throws -> ProcessResult {
        try await runAsync(shhPath, ["-F", "none", "-p", "\(sshd.port)", "-i", identity, "-o", "UserKnownHostsFile=\(knownHosts)",
                          "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"] + arguments, stdin: stdin, environment: environment)
    }
}

@Suite("shh against sshd", .enabled(if: isRootUser, "starting sshd on a test port needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct ShhClientTests {
    @Test(arguments: installationsUnderTest)
    func exitStatusesAndStderrApart(_ installation: OpenSSHInstallation) async throws {
        let fixture = try await offThePool { try ShhFixture(installation) }
        defer { fixture.sshd.stop() }
        for status in [0, 3, 255] {
            let result = try await fixture.shh(["\(testLogin)@127.0.0.1", "echo out; echo err >&2; exit \(status)"])
            #expect(result.status == Int32(status), "\(installation): \(result.stderr)")
            #expect(result.stdout == "out\n")
            #expect(withoutShellStartupNoise(result.stderr) == "err\n")
        }
    }

    @Test(arguments: installationsUnderTest)
    func sixteenMiBEachWay(_ installation: OpenSSHInstallation) async throws {
        let fixture = try await offThePool { try ShhFixture(installation) }
        defer { fixture.sshd.stop() }
        let data = randomBytes(16 << 20)
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        let up = try await fixture.shh(["\(testLogin)@127.0.0.1", "sha256sum"], stdin: data)
        #expect(up.status == 0, "\(up.stderr)")
        #expect(up.stdout.hasPrefix(digest), "\(installation): 16 MiB up arrived as \(up.stdout)")
        let down = try await fixture.shh(["\(testLogin)@127.0.0.1", "head -c 16777216 /dev/zero"])
        #expect(down.status == 0)
        #expect(down.stdout.utf8.count == 16 << 20 && down.stdout.utf8.allSatisfy { $0 == 0 }, "\(installation): 16 MiB down")
    }

    @Test(.enabled(if: longTestsEnabled, "set SHH_LONG_TESTS=1 for the 100 MiB transfers"), arguments: installationsUnderTest)
    func hundredMiBEachWay(_ installation: OpenSSHInstallation) async throws {
        let fixture = try await offThePool { try ShhFixture(installation) }
        defer { fixture.sshd.stop() }
        let data = randomBytes(100 << 20)
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        let up = try await fixture.shh(["\(testLogin)@127.0.0.1", "sha256sum"], stdin: data)
        #expect(up.status == 0, "\(up.stderr)")
        #expect(up.stdout.hasPrefix(digest), "\(installation): 100 MiB up arrived as \(up.stdout)")
        // Down: random bytes whose digest the remote side prints on stderr, hashed here as they arrive (bash on the
        // remote side for its process substitution: the test login's shell is /bin/sh).
        let common = ["-F", "none", "-p", "\(fixture.sshd.port)", "-i", fixture.identity, "-o", "UserKnownHostsFile=\(fixture.knownHosts)",
                      "-o", "BatchMode=yes", "\(testLogin)@127.0.0.1"].joined(separator: " ")
        let down = try await runAsync("/bin/bash", ["-c", "\(shhPath) \(common) 'exec bash -c \"head -c 104857600 /dev/urandom | tee >(sha256sum >&2)\"' | sha256sum"])
        #expect(down.status == 0, "\(down.stderr)")
        let sent = down.stderr.prefix(64), received = down.stdout.prefix(64)
        #expect(sent.count == 64 && sent == received, "\(installation): 100 MiB down: sent \(down.stderr), received \(down.stdout)")
    }

    @Test func argumentsAsTypedAndOptionsAfterTheHost() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        // ssh joins the words with spaces and the remote shell splits them again, quotes and all.
        let result = try await fixture.shh(["127.0.0.1", "-l", testLogin, "printf", "'%s|'", "'two words'", "\"ünïcödé\"", "a\\\"b"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "two words|ünïcödé|a\"b|")
        let uri = try await runAsync(shhPath, ["-F", "none", "-i", fixture.identity, "-o", "UserKnownHostsFile=\(fixture.knownHosts)",
                                    "-o", "StrictHostKeyChecking=yes", "ssh://\(testLogin)@127.0.0.1:\(fixture.sshd.port)", "echo", "uri"])
        #expect(uri.stdout == "uri\n", "\(uri.stderr)")
    }

    @Test func stdinToEndOfFileAndTheEnvironment() async throws {
        let fixture = try await offThePool { try ShhFixture(extraConfig: "AcceptEnv SHH_TEST_*") }
        defer { fixture.sshd.stop() }
        let tarLike = try await fixture.shh(["-o", "SendEnv=SHH_TEST_*", "-o", "SetEnv=SHH_TEST_FIXED=fixed", "\(testLogin)@127.0.0.1",
                                       "cat > /dev/null; echo \"$SHH_TEST_SENT $SHH_TEST_FIXED\""],
                                      stdin: Array("ignored".utf8), environment: ProcessInfo.processInfo.environment.merging(["SHH_TEST_SENT": "sent"]) { $1 })
        #expect(tarLike.stdout == "sent fixed\n", "\(tarLike.stderr)")
        // -n: stdin is /dev/null even when ours has data.
        let null = try await fixture.shh(["-n", "\(testLogin)@127.0.0.1", "wc -c"], stdin: Array("abc".utf8))
        #expect(null.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    @Test func terminalRequestsWithStandardInputFromAPipe() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        // -tt forces a terminal even though stdin is a pipe; what we send still arrives.
        let forced = try await fixture.shh(["-tt", "\(testLogin)@127.0.0.1", "tty; head -c 6"], stdin: Array("hello\n".utf8))
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stdout.contains("/dev/pts/"), "\(forced.stdout)")
        #expect(forced.stdout.contains("hello"))
        // -t alone does not, and says so as ssh does; neither does a shell without a command.
        let asked = try await fixture.shh(["-t", "\(testLogin)@127.0.0.1", "tty"])
        #expect(asked.stdout == "not a tty\n")
        #expect(asked.stderr.contains("Pseudo-terminal will not be allocated because stdin is not a terminal."), "\(asked.stderr)")
        let shell = try await fixture.shh(["\(testLogin)@127.0.0.1"], stdin: Array("tty; exit 4\n".utf8))
        #expect(shell.status == 4)
        #expect(shell.stdout.contains("not a tty"), "\(shell.stdout)")
    }

    @Test func proxyCommandCarriesTheConnection() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let relay = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("tcp_relay.py").path
        let log = fixture.directory + "/relay.log"
        // HostName and Port reach the command as %h and %p; the line is kept whole, quotes included, for the shell.
        let config = fixture.directory + "/proxy_config"
        try """
            Host viaproxy
                HostName 127.0.0.1
                Port \(fixture.sshd.port)
                ProxyCommand python3 \(relay) %h %p "\(log)"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await runAsync(shhPath, ["-F", config, "-i", fixture.identity, "-o", "UserKnownHostsFile=\(fixture.knownHosts)",
                                                  "-o", "HostKeyAlias=[127.0.0.1]:\(fixture.sshd.port)", "-o", "BatchMode=yes",
                                                  "\(testLogin)@viaproxy", "echo", "through-the-proxy"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "through-the-proxy\n")
        #expect(result.stderr.contains("relay: connecting to 127.0.0.1 port \(fixture.sshd.port)"), "the proxy's stderr is ours: \(result.stderr)")
        let logged = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(logged == "127.0.0.1 \(fixture.sshd.port) \(log)\n", "the relay was not used as configured: \(logged)")

        // A proxy that dies at once is a failed connection: one message, exit 255, nothing run.
        let failed = try await runAsync(shhPath, ["-F", "none", "-o", "ProxyCommand=false", "-o", "BatchMode=yes",
                                                  "-o", "UserKnownHostsFile=\(fixture.knownHosts)", "\(testLogin)@127.0.0.1", "echo", "ran"])
        #expect(failed.status == 255)
        #expect(failed.stdout.isEmpty)
        #expect(failed.stderr.hasPrefix("shh: ") && failed.stderr.split(separator: "\n").count == 1, "\(failed.stderr)")
    }

    @Test func aClosedOutputEndsTheRemoteCommand() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        // `shh host yes | head -1`: once head is gone, shh must not drain yes forever.
        let script = "\(shhPath) -F none -p \(fixture.sshd.port) -i \(fixture.identity) -o UserKnownHostsFile=\(fixture.knownHosts) -o BatchMode=yes \(testLogin)@127.0.0.1 yes | head -1; echo \"status ${PIPESTATUS[0]}\""
        let result = try await runAsync("/usr/bin/timeout", ["30", "/bin/bash", "-c", script])
        #expect(result.stdout == "y\nstatus 255\n", "\(result.stdout) \(result.stderr)")
    }

    @Test func verboseShowsTheAlgorithmsAndEachAuthenticationStep() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let fingerprint = try SSHPublicKeyLine(parsing: String(contentsOfFile: fixture.identity + ".pub", encoding: .utf8)).key.fingerprint()
        let result = try await fixture.shh(["-v", "-o", "KexAlgorithms=curve25519-sha256", "\(testLogin)@127.0.0.1", "true"])
        #expect(result.status == 0, "\(result.stderr)")
        for line in ["debug1: kex: algorithm: curve25519-sha256", "debug1: kex: host key algorithm: ssh-ed25519",
                     "debug1: Authentications that can continue: publickey",
                     "debug1: Next authentication method: publickey",
                     "debug1: Offering public key: ED25519 \(fingerprint)",
                     "debug1: Server accepts key: ED25519 \(fingerprint)",
                     "debug1: Authentication succeeded (publickey)."] {
            #expect(result.stderr.contains(line), "missing \"\(line)\" in: \(result.stderr)")
        }
    }

    @Test(arguments: installationsUnderTest)
    func noCommonAlgorithmIsSaidAsSshSaysIt(_ installation: OpenSSHInstallation) async throws {
        let fixture = try await offThePool { try ShhFixture(installation, extraConfig: "KexAlgorithms curve25519-sha256\nCiphers aes256-gcm@openssh.com") }
        defer { fixture.sshd.stop() }
        let kex = try await fixture.shh(["-o", "KexAlgorithms=ecdh-sha2-nistp256", "\(testLogin)@127.0.0.1", "true"])
        #expect(kex.status == 255)
        // sshd's offer as it sent it, strict-KEX marker included, as ssh prints it.
        #expect(kex.stderr.hasPrefix("Unable to negotiate with 127.0.0.1 port \(fixture.sshd.port): no matching key exchange method found. Their offer: curve25519-sha256"),
                "\(installation): \(kex.stderr)")
        let cipher = try await fixture.shh(["-c", "chacha20-poly1305@openssh.com", "\(testLogin)@127.0.0.1", "true"])
        #expect(cipher.status == 255)
        #expect(cipher.stderr.hasPrefix("Unable to negotiate with 127.0.0.1 port \(fixture.sshd.port): no matching cipher found. Their offer: aes256-gcm@openssh.com"),
                "\(installation): \(cipher.stderr)")
    }

    @Test func remoteSignalIsExit255WithAMessage() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let result = try await fixture.shh(["\(testLogin)@127.0.0.1", "kill -TERM $$"])
        #expect(result.status == 255)
        #expect(result.stderr.contains("signal TERM"), "\(result.stderr)")
    }

    @Test func knownHostsAcceptNewThenStrictAndHashed() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let fresh = fixture.directory + "/fresh_known_hosts"
        let common = ["-F", "none", "-p", "\(fixture.sshd.port)", "-i", fixture.identity, "-o", "UserKnownHostsFile=\(fresh)", "-o", "BatchMode=yes"]
        // yes: an unknown host is refused, nothing written.
        let strict = try await runAsync(shhPath, common + ["-o", "StrictHostKeyChecking=yes", "\(testLogin)@127.0.0.1", "true"])
        #expect(strict.status == 255)
        #expect(strict.stderr.contains("Host key verification failed."))
        #expect(!FileManager.default.fileExists(atPath: fresh))
        // accept-new with HashKnownHosts: added (hashed), with ssh's warning; then strict checking finds it.
        let added = try await runAsync(shhPath, common + ["-o", "StrictHostKeyChecking=accept-new", "-o", "HashKnownHosts=yes", "\(testLogin)@127.0.0.1", "true"])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stderr.contains("Permanently added '[127.0.0.1]:\(fixture.sshd.port)'"))
        let line = try readText(fresh)
        #expect(line.hasPrefix("|1|") && line.contains(fixture.sshd.hostKeyPublic.split(separator: " ")[1]))
        let again = try await runAsync(shhPath, common + ["-o", "StrictHostKeyChecking=yes", "\(testLogin)@127.0.0.1", "echo known"])
        #expect(again.stdout == "known\n", "\(again.stderr)")
        // ask without a terminal (BatchMode): refused.
        let other = fixture.directory + "/other_known_hosts"
        let ask = try await runAsync(shhPath, ["-F", "none", "-p", "\(fixture.sshd.port)", "-i", fixture.identity, "-o", "UserKnownHostsFile=\(other)",
                                    "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=ask", "\(testLogin)@127.0.0.1", "true"])
        #expect(ask.status == 255)
        #expect(!FileManager.default.fileExists(atPath: other))
    }

    @Test func aChangedHostKeyRunsNothing() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let impostor = try SSHPrivateKey.generate(type: .ed25519)
        try "# a comment\n[127.0.0.1]:\(fixture.sshd.port) \(impostor.publicKey)\n".write(toFile: fixture.knownHosts, atomically: true, encoding: .utf8)
        let marker = fixture.directory + "/marker"
        for policy in ["yes", "no", "accept-new"] {
            let result = try await fixture.shh(["-o", "StrictHostKeyChecking=\(policy)", "\(testLogin)@127.0.0.1", "touch \(marker)"])
            #expect(result.status == 255)
            #expect(result.stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"))
            #expect(result.stderr.contains("\(fixture.knownHosts):2"), "the warning names the known_hosts line: \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: marker), "the command ran despite a changed host key (\(policy))")
        }
    }

    @Test func sshConfigWithHostMatchIncludeAndTokens() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let config = fixture.directory + "/config"
        try """
            Include \(fixture.directory)/included*.conf
            Host web
              HostName 127.0.0.1
              Port \(fixture.sshd.port)
            Match originalhost web exec "test %n = web"
              SetEnv SHH_TEST_MATCHED=%h
            Host *
              User nobody
              StrictHostKeyChecking yes
              BatchMode yes
            """.write(toFile: config, atomically: true, encoding: .utf8)
        try """
            Host web
              User \(testLogin)
              IdentityFile \(fixture.directory)/id_%k
              IdentityFile %d/../..\(fixture.identity)
              UserKnownHostsFile \(fixture.knownHosts)
            """.replacingOccurrences(of: "id_%k", with: "id_missing").write(toFile: fixture.directory + "/included1.conf", atomically: true, encoding: .utf8)
        try "AcceptEnv SHH_TEST_*\n".write(toFile: fixture.directory + "/unused", atomically: true, encoding: .utf8)
        let result = try await runAsync(shhPath, ["-F", config, "web", "echo $USER"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "\(testLogin)\n")
        let printed = try await runAsync(shhPath, ["-F", config, "-G", "web"])
        #expect(printed.stdout.contains("hostname 127.0.0.1\n"))
        #expect(printed.stdout.contains("port \(fixture.sshd.port)\n"))
        #expect(printed.stdout.contains("user \(testLogin)\n"))
        #expect(printed.stdout.contains("setenv SHH_TEST_MATCHED=%h"), "Match exec held: \(printed.stdout)")
        // An unknown keyword stops shh, naming file and line.
        try "Host *\n  Bogus yes\n".write(toFile: config, atomically: true, encoding: .utf8)
        let bad = try await runAsync(shhPath, ["-F", config, "web", "true"])
        #expect(bad.status == 255)
        #expect(bad.stderr.contains("\(config): line 2: Bad configuration option: Bogus"), "\(bad.stderr)")
    }

    @Test func encryptedKeyThroughAskpass() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let locked = fixture.directory + "/locked"
        #expect(try await runAsync(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "secret words", "-f", locked]).status == 0)
        try FileManager.default.copyItem(atPath: locked + ".pub", toPath: fixture.directory + "/authorized_keys.new")
        try FileManager.default.removeItem(atPath: fixture.directory + "/authorized_keys")
        try FileManager.default.moveItem(atPath: fixture.directory + "/authorized_keys.new", toPath: fixture.directory + "/authorized_keys")
        let askpass = fixture.directory + "/askpass"
        try "#!/bin/sh\necho \"$1\" >> \(fixture.directory)/asked\necho 'secret words'\n".write(toFile: askpass, atomically: true, encoding: .utf8)
        chmod(askpass, 0o755)
        var environment = ProcessInfo.processInfo.environment
        environment["SSH_ASKPASS"] = askpass
        environment["SSH_ASKPASS_REQUIRE"] = "force"
        let result = try await runAsync(shhPath, ["-F", "none", "-p", "\(fixture.sshd.port)", "-i", locked, "-o", "UserKnownHostsFile=\(fixture.knownHosts)",
                                       "-o", "StrictHostKeyChecking=yes", "\(testLogin)@127.0.0.1", "echo unlocked"], environment: environment)
        #expect(result.stdout == "unlocked\n", "\(result.stderr)")
        #expect(try readText(fixture.directory + "/asked").contains("Enter passphrase for key '\(locked)'"))
    }

    /// A real ssh-agent holding ed25519 and RSA keys (ssh-add): shh signs through it (RSA with the rsa-sha2 flags),
    /// offers nothing from it with IdentitiesOnly when the identity file is another key, and none with
    /// IdentityAgent none.
    @Test func keysFromARealSSHAgent() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let socket = fixture.directory + "/agent.sock"
        // The daemon must not keep the descriptor Foundation's Process watches for our child's exit, nor the
        // signal mask of our threads (SIGTERM would never reach it): close everything above stderr, unblock every
        // signal, then become ssh-agent.
        let agent = try await runAsync("/usr/bin/env", ["python3", "-c",
            "import os, signal, sys; os.closerange(3, 65536); signal.pthread_sigmask(signal.SIG_SETMASK, []); "
                + "os.execv('/usr/bin/ssh-agent', ['ssh-agent', '-a', sys.argv[1], '-s'])", socket])
        try #require(agent.status == 0, "ssh-agent: \(agent.stderr)")
        let pidText = agent.stdout.split(separator: ";").first { $0.contains("SSH_AGENT_PID=") }?.split(separator: "=").last
        let agentPID = pid_t(pidText.map(String.init) ?? "") ?? 0
        defer { if agentPID > 0 { kill(agentPID, SIGTERM) } }
        var environment = ProcessInfo.processInfo.environment
        environment["SSH_AUTH_SOCK"] = socket
        for type in ["ed25519", "rsa"] {
            let key = fixture.directory + "/agent_\(type)"
            #expect(try await runAsync(try sshKeygenPath(), ["-q", "-t", type, "-N", "", "-f", key]).status == 0)
            let added = try await runAsync("/usr/bin/ssh-add", ["-q", key], environment: environment)
            #expect(added.status == 0, "ssh-add: \(added.stderr)")
            try FileManager.default.removeItem(atPath: key)  // only the agent has it now
            try FileManager.default.removeItem(atPath: fixture.directory + "/authorized_keys")
            try FileManager.default.copyItem(atPath: key + ".pub", toPath: fixture.directory + "/authorized_keys")
            let common = ["-F", "none", "-p", "\(fixture.sshd.port)", "-o", "UserKnownHostsFile=\(fixture.knownHosts)",
                          "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]
            let signed = try await runAsync(shhPath, common + ["\(testLogin)@127.0.0.1", "echo agent \(type)"], environment: environment)
            #expect(signed.stdout == "agent \(type)\n", "\(type) through the agent: \(signed.stderr)")
            let only = try await runAsync(shhPath, common + ["-i", fixture.identity, "-o", "IdentitiesOnly=yes", "\(testLogin)@127.0.0.1", "true"],
                                          environment: environment)
            #expect(only.status == 255, "IdentitiesOnly offered an agent key that is not the identity file")
            let none = try await runAsync(shhPath, common + ["-o", "IdentityAgent=none", "\(testLogin)@127.0.0.1", "true"], environment: environment)
            #expect(none.status == 255)
        }
    }

    @Test func errorsReadLikeSSHAndExit255() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let closedPort = try freeLoopbackPort()
        let refused = try await runAsync(shhPath, ["-F", "none", "-p", "\(closedPort)", "127.0.0.1", "true"])
        #expect(refused.status == 255)
        #expect(refused.stderr == "shh: connect to host 127.0.0.1 port \(closedPort): Connection refused\n")
        let stranger = try SSHPrivateKey.generate(type: .ed25519)
        let strangerPath = fixture.directory + "/stranger"
        try OpenSSHPrivateKeyFormat.fileText(stranger, passphrase: nil).write(toFile: strangerPath, atomically: true, encoding: .utf8)
        chmod(strangerPath, 0o600)
        let denied = try await runAsync(shhPath, ["-F", "none", "-p", "\(fixture.sshd.port)", "-i", strangerPath, "-o", "IdentitiesOnly=yes",
                                       "-o", "UserKnownHostsFile=\(fixture.knownHosts)", "-o", "BatchMode=yes", "\(testLogin)@127.0.0.1", "true"])
        #expect(denied.status == 255)
        #expect(denied.stderr.contains("\(testLogin)@127.0.0.1: Permission denied (publickey)."), "\(denied.stderr)")
        let forwarding = try await fixture.shh(["-L", "8080:db:0", "\(testLogin)@127.0.0.1", "true"])
        #expect(forwarding.status == 255)
        #expect(forwarding.stderr == "Bad local forwarding specification '8080:db:0'\n", "\(forwarding.stderr)")
        let version = try await runAsync(shhPath, ["-V"])
        #expect(version.status == 0 && version.stderr.hasPrefix("shh_"))
        let query = try await runAsync(shhPath, ["-Q", "cipher"])
        #expect(query.stdout.contains("chacha20-poly1305@openssh.com\n"))
    }
}
