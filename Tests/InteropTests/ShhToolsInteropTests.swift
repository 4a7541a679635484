// shh as other programs use ssh, and against a second server: asyncssh (exec with stdout, stderr and status,
// public keys, a password typed on the terminal, mlkem768x25519-sha256), and git, rsync, sftp and scp running shh
// as their ssh against OpenSSH's sshd, with the arguments each of them adds.
import Crypto
import Foundation
import Testing

private let interopDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path

/// An asyncssh server (asyncssh_shh_server.py) in its own temp dir: ed25519 host key and client key made by
/// ssh-keygen, a known_hosts file that knows the host, and optionally a password.
final class AsyncSSHShhServer {
    let directory: String
    let port: Int
    let identity: String
    let knownHosts: String
    private let pid: pid_t

    /// Starts it off the cooperative thread pool (waiting for its port blocks a thread).
    static func start(password: String? = nil) async throws -> AsyncSSHShhServer {
        try await offThePool { try AsyncSSHShhServer(password: password) }
    }

    @available(*, noasync, message: "blocks a cooperative pool thread")
    init(password: String? = nil) throws {
        directory = try makeTemporaryDirectory()
        let hostKey = directory + "/host_ed25519"
        identity = directory + "/id_ed25519"
        for path in [hostKey, identity] {
            let made = try run(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "", "-f", path])
            guard made.status == 0 else { throw InteropError.missingProgram("ssh-keygen (\(made.stderr))") }
        }
        try FileManager.default.copyItem(atPath: identity + ".pub", toPath: directory + "/authorized_keys")
        let portFile = directory + "/port"
        // Backgrounded with its output in a file, so our pipes reach end-of-file while it serves.
        let started = try run("/bin/sh", ["-c", "python3 \"$0\" \"$1\" \"$2\" \"$3\" \"$4\" </dev/null >\"$5\" 2>&1 & echo $!",
                                          interopDirectory + "/asyncssh_shh_server.py", hostKey, directory + "/authorized_keys",
                                          portFile, password ?? "-", directory + "/server.log"])
        pid = pid_t(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        var port = 0
        let deadline = Date().addingTimeInterval(15)
        while port == 0 && Date() < deadline {
            port = Int((try? readText(portFile)) ?? "") ?? 0
            if port == 0 { usleep(50_000) }
        }
        self.port = port
        knownHosts = directory + "/known_hosts"
        guard pid > 0, port > 0 else {
            stop()
            throw InteropError.missingProgram("a working asyncssh server (python3 -m pip install asyncssh; log: \((try? readText(directory + "/server.log")) ?? ""))")
        }
        try "[127.0.0.1]:\(port) \(try readText(hostKey + ".pub"))".write(toFile: knownHosts, atomically: true, encoding: .utf8)
    }

    /// The options that keep the user's own config and keys out, for this server; identity and batch mode apart.
    var hostOptions: [String] {
        ["-F", "none", "-p", "\(port)", "-o", "UserKnownHostsFile=\(knownHosts)", "-o", "StrictHostKeyChecking=yes", "-o", "IdentityAgent=none"]
    }

    /// shh with the authorized key, never prompting.
    func shh(_ arguments: [String], stdin: [UInt8] = []) async throws -> ProcessResult {
        try await runAsync(shhPath, hostOptions + ["-i", identity, "-o", "BatchMode=yes"] + arguments, stdin: stdin)
    }

    /// asyncssh's debug log: what it negotiated, whom it let in.
    var log: String { (try? readText(directory + "/server.log")) ?? "" }

    /// The key exchange asyncssh chose for its latest connection.
    var lastKeyExchange: String? {
        log.split(separator: "\n").last { $0.contains("Key exchange alg: ") }
            .map { String($0.split(separator: "Key exchange alg: ").last ?? "") }
    }

    func stop() {
        if pid > 0 { killTree(pid) }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// An executable script that runs shh with the fixture's key and known_hosts and then its own arguments, for
/// programs that take an ssh program without arguments (sftp -S, scp -S) or add their own (git, rsync). Each run's
/// arguments are appended to `<script>.log`, so a test can show the tool really went through shh.
private func shhWrapper(_ fixture: ShhFixture) throws -> String {
    // Not named ssh: git must find out by itself (ssh -G) that this is an OpenSSH-compatible program.
    let path = fixture.directory + "/shh-for-tools"
    try """
        #!/bin/sh
        printf '%s\\n' "$*" >> '\(path).log'
        exec '\(shhPath)' -F none -i '\(fixture.identity)' -o 'UserKnownHostsFile=\(fixture.knownHosts)' \
          -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentityAgent=none "$@"

        """.write(toFile: path, atomically: true, encoding: .utf8)
    chmod(path, 0o755)
    return path
}

/// Runs a tool (found in PATH) with a deadline, so a hang fails the test instead of stalling the run.
private func tool(_ name: String, _ arguments: [String], environment: [String: String]? = nil,
                  workingDirectory: String? = nil) async throws -> ProcessResult {
    let command = (workingDirectory.map { ["-C", $0] } ?? []) + [name] + arguments
    // env -C: the working directory, without a shell.
    return try await runAsync("/usr/bin/timeout", ["60", "/usr/bin/env"] + command, environment: environment)
}

/// Every entry under `root` with its type, mode and, for links, target; for files also modification time and
/// SHA-256: two trees with equal listings hold the same things.
private func treeListing(_ root: String) throws -> String {
    let listed = try run("/bin/sh", ["-c", """
        cd "$0" || exit 1
        find . -mindepth 1 \\( -type f -printf '%y %m %P %TY-%Tm-%Td %TT\\n' \\) -o -printf '%y %m %P %l\\n' | LC_ALL=C sort
        find . -type f -exec sha256sum {} + | LC_ALL=C sort -k 2
        """, root])
    guard listed.status == 0 else { return "listing \(root) failed: \(listed.stderr)" }
    return listed.stdout
}

@Suite("shh with asyncssh, git, rsync, sftp and scp", .enabled(if: isRootUser, "starting sshd on a test port needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct ShhToolsInteropTests {
    // MARK: asyncssh as the server

    @Test func asyncSSHExecStatusStreamsAndStdin() async throws {
        let server = try await AsyncSSHShhServer.start()
        for status in [0, 3, 7] {
            let result = try await server.shh(["\(testLogin)@127.0.0.1", "echo out; echo err >&2; exit \(status)"])
            #expect(result.status == Int32(status), "\(result.stderr)\n\(server.log.suffix(2000))")
            #expect(result.stdout == "out\n")
            #expect(result.stderr == "err\n")
        }
        let user = try await server.shh(["127.0.0.1", "-l", "root", "echo \"$ASYNCSSH_USER\""])
        #expect(user.stdout == "root\n", "the user name as given with -l: \(user.stderr)")
        let data = randomBytes(1 << 20)
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        let up = try await server.shh(["\(testLogin)@127.0.0.1", "sha256sum"], stdin: data)
        #expect(up.status == 0, "\(up.stderr)")
        #expect(up.stdout.hasPrefix(digest), "1 MiB of stdin arrived as \(up.stdout)")
    }

    @Test func asyncSSHLetsInOnlyTheAuthorizedKey() async throws {
        let server = try await AsyncSSHShhServer.start()
        let stranger = server.directory + "/id_stranger"
        #expect(try await runAsync(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "", "-f", stranger]).status == 0)
        let marker = server.directory + "/marker"
        let refused = try await runAsync(shhPath, server.hostOptions + ["-i", stranger, "-o", "BatchMode=yes", "\(testLogin)@127.0.0.1", "touch \(marker)"])
        #expect(refused.status == 255)
        #expect(refused.stderr.contains("\(testLogin)@127.0.0.1: Permission denied (publickey"), "\(refused.stderr)")
        #expect(refused.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: marker), "the command ran with a key that is not authorized")
        let allowed = try await server.shh(["\(testLogin)@127.0.0.1", "touch \(marker) && echo in"])
        #expect(allowed.status == 0 && allowed.stdout == "in\n", "\(allowed.stderr)")
        #expect(FileManager.default.fileExists(atPath: marker))
    }

    @Test func asyncSSHWithMLKEM768X25519() async throws {
        let server = try await AsyncSSHShhServer.start()
        // The other algorithm first, so the log check is seen to tell them apart.
        for kex in ["curve25519-sha256", "mlkem768x25519-sha256"] {
            let result = try await server.shh(["-v", "-o", "KexAlgorithms=\(kex)", "\(testLogin)@127.0.0.1", "echo negotiated"])
            #expect(result.status == 0, "\(kex): \(result.stderr)")
            #expect(result.stdout == "negotiated\n")
            #expect(result.stderr.contains("kex: algorithm: \(kex)\n"), "shh -v: \(result.stderr)")
            #expect(server.lastKeyExchange == kex, "asyncssh's log: \(server.log.suffix(3000))")
        }
    }

    /// A password typed on shh's controlling terminal (answer_on_terminal.py plays the person): shh asks on the
    /// terminal, not on stdout or stderr; a wrong password is asked NumberOfPasswordPrompts times, then refused.
    @Test func asyncSSHPasswordTypedOnTheTerminal() async throws {
        let server = try await AsyncSSHShhServer.start(password: "open sesame")
        let marker = server.directory + "/marker"
        struct Outcome: Decodable { var status: Int32; var stdout: String; var stderr: String; var terminal: String; var prompts: Int }
        func typing(_ answer: String, _ arguments: [String]) async throws -> Outcome {
            let result = try await runAsync("/usr/bin/env", ["python3", interopDirectory + "/answer_on_terminal.py", "password: ", answer, shhPath]
                + server.hostOptions + ["-o", "PreferredAuthentications=password"] + arguments)
            #expect(result.status == 0, "answer_on_terminal.py: \(result.stderr)")
            return try JSONDecoder().decode(Outcome.self, from: Data(result.stdout.utf8))
        }
        let right = try await typing("open sesame", ["\(testLogin)@127.0.0.1", "echo by password"])
        #expect(right.status == 0, "\(right)")
        #expect(right.stdout == "by password\n")
        #expect(right.stderr.isEmpty)
        #expect(right.prompts == 1)
        #expect(right.terminal.hasPrefix("\(testLogin)@127.0.0.1's password: "), "\(right.terminal)")
        let wrong = try await typing("open barley", ["-o", "NumberOfPasswordPrompts=2", "\(testLogin)@127.0.0.1", "touch \(marker)"])
        #expect(wrong.status == 255, "\(wrong)")
        #expect(wrong.prompts == 2, "\(wrong.terminal)")
        #expect(wrong.stderr.contains("\(testLogin)@127.0.0.1: Permission denied ("), "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker), "the command ran after a wrong password")
    }

    // MARK: programs that run ssh, against sshd

    /// git clone and push over shh (git's "auto" ssh variant: it runs `shh -G` to learn shh takes OpenSSH's
    /// options, then -p and -o SendEnv=GIT_PROTOCOL); protocol version 2 shows GIT_PROTOCOL reached the server.
    @Test func gitCloneAndPushThroughShh() async throws {
        let fixture = try await offThePool { try ShhFixture(extraConfig: "AcceptEnv GIT_PROTOCOL") }
        defer { fixture.sshd.stop() }
        let wrapper = try shhWrapper(fixture)
        let bare = fixture.directory + "/repo.git", seed = fixture.directory + "/seed", clone = fixture.directory + "/clone"
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "GIT_SSH")
        environment.removeValue(forKey: "GIT_SSH_VARIANT")
        environment.merge([
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
        ]) { $1 }
        // The bare repository with one commit, made locally.
        for step in [["init", "-q", "--bare", "-b", "main", bare], ["init", "-q", "-b", "main", seed]] {
            let made = try await tool("git", step, environment: environment)
            try #require(made.status == 0, "\(made.stderr)")
        }
        try "first\n".write(toFile: seed + "/README", atomically: true, encoding: .utf8)
        for step in [["add", "README"], ["commit", "-q", "-m", "first"], ["push", "-q", bare, "main"]] {
            let done = try await tool("git", step, environment: environment, workingDirectory: seed)
            try #require(done.status == 0, "git \(step): \(done.stderr)")
        }

        var overShh = environment
        overShh["GIT_SSH_COMMAND"] = "'\(wrapper)' -p \(fixture.sshd.port)"
        overShh["GIT_TRACE_PACKET"] = fixture.directory + "/packets"
        let cloned = try await tool("git", ["clone", "-q", "\(testLogin)@127.0.0.1:\(bare)", clone], environment: overShh)
        #expect(cloned.status == 0, "\(cloned.stderr)")
        #expect(try readText(clone + "/README") == "first\n")
        #expect(try readText(fixture.directory + "/packets").contains("clone< version 2"), "GIT_PROTOCOL did not reach git-upload-pack")

        try "second\n".write(toFile: clone + "/NEW", atomically: true, encoding: .utf8)
        for step in [["add", "NEW"], ["commit", "-q", "-m", "second, pushed over shh"]] {
            let done = try await tool("git", step, environment: environment, workingDirectory: clone)
            try #require(done.status == 0, "git \(step): \(done.stderr)")
        }
        let pushed = try await tool("git", ["push", "-q", "origin", "main"], environment: overShh, workingDirectory: clone)
        #expect(pushed.status == 0, "\(pushed.stderr)")
        let local = try await tool("git", ["rev-parse", "HEAD"], environment: environment, workingDirectory: clone)
        let remote = try await tool("git", ["--git-dir", bare, "rev-parse", "main"], environment: environment)
        #expect(remote.stdout == local.stdout && local.stdout.count == 41, "bare repository has \(remote.stdout), clone \(local.stdout)")
        let message = try await tool("git", ["--git-dir", bare, "log", "-1", "--format=%s", "main"], environment: environment)
        #expect(message.stdout == "second, pushed over shh\n")

        let calls = try readText(wrapper + ".log")
        #expect(calls.contains("-G"), "git asks `shh -G` what kind of ssh it is: \(calls)")
        #expect(calls.contains("-o SendEnv=GIT_PROTOCOL \(testLogin)@127.0.0.1 git-upload-pack '\(bare)'"), "\(calls)")
        #expect(calls.contains("\(testLogin)@127.0.0.1 git-receive-pack '\(bare)'"), "\(calls)")
    }

    /// rsync -a up and back down over shh (it runs `shh -p PORT -l root 127.0.0.1 rsync --server ...`): nested
    /// directories, an empty one, modes, times, a symlink and 1 MiB of random bytes arrive as they were. rsync hands
    /// its ssh a non-blocking stdout (ssh copes by polling), so the way down also checks that shh waits when its
    /// stdout is full (EAGAIN) instead of dropping the bytes.
    @Test func rsyncTreeUpAndBack() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let wrapper = try shhWrapper(fixture)
        let tree = fixture.directory + "/tree", remote = fixture.directory + "/remote", back = fixture.directory + "/back"
        let manager = FileManager.default
        try manager.createDirectory(atPath: tree + "/a/b/c", withIntermediateDirectories: true)
        try manager.createDirectory(atPath: tree + "/empty", withIntermediateDirectories: true)
        try "top\n".write(toFile: tree + "/top.txt", atomically: true, encoding: .utf8)
        try "deep\n".write(toFile: tree + "/a/b/c/deep.txt", atomically: true, encoding: .utf8)
        try Data(randomBytes(1 << 20)).write(to: URL(fileURLWithPath: tree + "/a/random.bin"))
        try manager.createSymbolicLink(atPath: tree + "/a/link", withDestinationPath: "b/c/deep.txt")
        chmod(tree + "/top.txt", 0o640)
        let touched = try await runAsync("/usr/bin/touch", ["-d", "2001-02-03 04:05:06", tree + "/top.txt", tree + "/a/random.bin"])
        try #require(touched.status == 0)
        let original = try treeListing(tree)
        try #require(original.contains("l 777 a/link b/c/deep.txt") && original.contains("2001-02-03 04:05:06"), "\(original)")

        let rsh = "\(wrapper) -p \(fixture.sshd.port)"
        let up = try await tool("rsync", ["-a", "-e", rsh, tree + "/", "\(testLogin)@127.0.0.1:\(remote)/"])
        #expect(up.status == 0, "rsync up: \(up.stderr)")
        #expect(try treeListing(remote) == original)
        let down = try await tool("rsync", ["-a", "-e", rsh, "\(testLogin)@127.0.0.1:\(remote)/", back + "/"])
        #expect(down.status == 0, "rsync down: \(down.stderr)")
        #expect(try treeListing(back) == original)

        let calls = try readText(wrapper + ".log")
        #expect(calls.contains("-l \(testLogin) 127.0.0.1 rsync --server "), "\(calls)")
        #expect(calls.contains("rsync --server --sender "), "\(calls)")
    }

    /// OpenSSH's sftp with shh as its ssh (-S): it asks for the sftp subsystem with -s and options of its own.
    @Test func sftpBatchPutListGet() async throws {
        let fixture = try await offThePool { try ShhFixture(extraConfig: "Subsystem sftp internal-sftp") }
        defer { fixture.sshd.stop() }
        let wrapper = try shhWrapper(fixture)
        let local = fixture.directory + "/local.bin", uploaded = fixture.directory + "/uploaded.bin", fetched = fixture.directory + "/fetched.bin"
        let bytes = Data(randomBytes((1 << 20) + 123))
        try bytes.write(to: URL(fileURLWithPath: local))
        let batch = fixture.directory + "/batch"
        try "put \(local) \(uploaded)\nls -l \(uploaded)\nget \(uploaded) \(fetched)\n".write(toFile: batch, atomically: true, encoding: .utf8)
        let result = try await tool("sftp", ["-S", wrapper, "-P", "\(fixture.sshd.port)", "-b", batch, "\(testLogin)@127.0.0.1"])
        #expect(result.status == 0, "\(result.stderr)")
        let listed = result.stdout.split(separator: "\n").first { $0.hasSuffix(" \(uploaded)") && !$0.hasPrefix("sftp>") }
        #expect(listed?.contains(" \(bytes.count) ") == true, "ls -l: \(result.stdout)")
        #expect(fileContents(uploaded) == bytes, "the file put by sftp differs")
        #expect(fileContents(fetched) == bytes, "the file got by sftp differs")
        let calls = try readText(wrapper + ".log")
        #expect(calls.contains("-s -- 127.0.0.1 sftp"), "\(calls)")
    }

    /// OpenSSH's scp with shh as its ssh (-S), both ways, over SFTP (scp's default) and the old scp protocol (-O,
    /// which runs `scp -t` and `scp -f` as remote commands).
    @Test(arguments: [false, true])
    func scpUpAndBack(oldProtocol: Bool) async throws {
        let fixture = try await offThePool { try ShhFixture(extraConfig: "Subsystem sftp internal-sftp") }
        defer { fixture.sshd.stop() }
        let wrapper = try shhWrapper(fixture)
        let local = fixture.directory + "/local.bin", uploaded = fixture.directory + "/uploaded.bin", fetched = fixture.directory + "/fetched.bin"
        let bytes = Data(randomBytes((1 << 20) + 321))
        try bytes.write(to: URL(fileURLWithPath: local))
        let common = (oldProtocol ? ["-O"] : []) + ["-S", wrapper, "-P", "\(fixture.sshd.port)"]
        let up = try await tool("scp", common + [local, "\(testLogin)@127.0.0.1:\(uploaded)"])
        #expect(up.status == 0, "scp up: \(up.stderr)")
        #expect(fileContents(uploaded) == bytes, "the file copied up differs")
        let down = try await tool("scp", common + ["\(testLogin)@127.0.0.1:\(uploaded)", fetched])
        #expect(down.status == 0, "scp down: \(down.stderr)")
        #expect(fileContents(fetched) == bytes, "the file copied back differs")
        let calls = try readText(wrapper + ".log")
        if oldProtocol {
            #expect(calls.contains("127.0.0.1 scp -t \(uploaded)") && calls.contains("127.0.0.1 scp -f \(uploaded)"), "\(calls)")
        } else {
            #expect(calls.split(separator: "\n").count == 2 && calls.split(separator: "\n").allSatisfy { $0.hasSuffix("-s -- 127.0.0.1 sftp") }, "\(calls)")
        }
    }
}

private func fileContents(_ path: String) -> Data? {
    FileManager.default.contents(atPath: path)
}
