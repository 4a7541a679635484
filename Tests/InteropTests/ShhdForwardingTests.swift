// shhd's forwarding (issue 18) as OpenSSH's ssh uses it: -L to TCP and Unix-socket services (16 MiB each way,
// SHA-256 both ends), -R with a port the server picks and to a Unix socket, -D for curl's SOCKS5 and SOCKS4a, -W as
// a ProxyCommand and with a half-close; sshd's policies (AllowTcpForwarding, PermitOpen, PermitListen, GatewayPorts,
// DisableForwarding, authorized_keys' no-port-forwarding, permitopen=, restrict) refused and allowed as sshd does,
// with the log line; a Unix socket reached with the user's rights only; agent forwarding; 1000 refused opens on one
// connection. The peers are forward_peer.py.
import Crypto
import Foundation
import NIOCore
import SSH
import SSHForwarding
import SSHKeys
import Synchronization
import Testing

/// A program left running in the background (ssh -N, a forward_peer server), its output in files; killed by PID.
final class BackgroundProgram: Sendable {
    let pid: pid_t
    let outputPath: String
    let errorsPath: String

    init(_ executable: String, _ arguments: [String], directory: String, name: String, environment: [String: String] = [:]) throws {
        outputPath = directory + "/\(name).out"
        errorsPath = directory + "/\(name).err"
        pid = try spawnInNewSession(executable, arguments, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, actions: [
            .open("/dev/null", flags: O_RDONLY, mode: 0, as: 0),
            .open(outputPath, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600, as: 1),
            .open(errorsPath, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600, as: 2),
        ])
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOfFile: errorsPath, encoding: .utf8)) ?? "" }

    var isRunning: Bool { kill(pid, 0) == 0 && !((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") Z ") ?? true) }

    func stop() {
        killTree(pid)
        let child = pid
        Thread.detachNewThread { var status: Int32 = 0; while waitpid(child, &status, 0) < 0 && errno == EINTR {} }
    }
}

/// Host keys of servers started from a config file, by port.
let hostKeys = Mutex<[Int: String]>([:])

let forwardPeer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("forward_peer.py").path

/// A forward_peer server on a TCP port of 127.0.0.1; returns it and the port.
func startTCPPeer(_ kind: String, directory: String) async throws -> (BackgroundProgram, Int) {
    let peer = try BackgroundProgram("/usr/bin/env", ["python3", forwardPeer, "serve", kind, "tcp"], directory: directory, name: "peer-\(kind)-\(UUID())")
    var port: Int?
    _ = await waitUntil(seconds: 20) { port = Int(peer.output.split(separator: "\n").first ?? ""); return port != nil }
    guard let port else {
        peer.stop()
        throw InteropError.missingProgram("forward_peer.py serving \(kind): \(peer.errors)")
    }
    return (peer, port)
}

/// A forward_peer server on a Unix socket at `path` (mode `mode`, octal, if given).
func startUnixPeer(_ kind: String, path: String, mode: String? = nil, directory: String) async throws -> BackgroundProgram {
    let peer = try BackgroundProgram("/usr/bin/env", ["python3", forwardPeer, "serve", kind, "unix", path] + (mode.map { [$0] } ?? []),
                                     directory: directory, name: "peer-unix-\(UUID())")
    guard await waitUntil(seconds: 20, { peer.output.contains("ready") }) else {
        peer.stop()
        throw InteropError.missingProgram("forward_peer.py on \(path): \(peer.errors)")
    }
    return peer
}

/// Whether a TCP connection to address:port is accepted (a listener is there).
func accepts(_ address: String, _ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var target = sockaddr_in()
    target.sin_family = sa_family_t(AF_INET)
    target.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, address, &target.sin_addr)
    return withUnsafePointer(to: &target) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// forward_peer's "send": `size` bytes out, what comes back read to the end; the SHA-256 of each direction.
struct Transfer: Equatable {
    var sent: String
    var received: String
    var bytes: Int

    init?(_ output: String) {
        guard let match = output.firstMatch(of: /sent ([0-9a-f]{64}) received ([0-9a-f]{64}) bytes (\d+)/), let bytes = Int(match.3) else { return nil }
        (sent, received, self.bytes) = (String(match.1), String(match.2), bytes)
    }
}

func send(_ target: [String], size: Int) async throws -> (Transfer?, ProcessResult) {
    let result = try await runAsync("/usr/bin/env", ["python3", forwardPeer, "send"] + target + ["\(size)"], deadline: 120)
    return (Transfer(result.stdout), result)
}

@Suite("shhd's forwarding against ssh", .enabled(if: isRootUser, "logging in as root needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct ShhdForwardingTests {
    /// ssh's options for `server` (the fixture's key, its known_hosts), then `arguments`, as root@127.0.0.1.
    func sshArguments(_ fixture: ShhdFixture, _ server: TestShhd, _ arguments: [String], user: String = testLogin) throws -> [String] {
        // The embedded default's generated key, or the HostKey of a config made by startWithConfig (its .pub).
        let knownHosts = fixture.directory + "/known_hosts-\(server.port)"
        let configured = hostKeys.withLock { $0[server.port] }
        let key = try String(contentsOfFile: configured ?? fixture.hostKeyPublic, encoding: .utf8)
        try "[127.0.0.1]:\(server.port) \(key)".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        return ["-F", "/dev/null", "-p", "\(server.port)", "-i", fixture.identity, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(knownHosts)", "-o", "ExitOnForwardFailure=yes"]
            + arguments + ["\(user)@127.0.0.1"]
    }

    /// `ssh -N` with these forwards, running until stopped; returns once `ready` holds (a listener answers, a line
    /// is printed) or throws with what ssh said.
    func forwardingSSH(_ fixture: ShhdFixture, _ server: TestShhd, _ forwards: [String], user: String = testLogin,
                       ready: @escaping (BackgroundProgram) -> Bool) async throws -> BackgroundProgram {
        let ssh = try BackgroundProgram("/usr/bin/ssh", try sshArguments(fixture, server, ["-N"] + forwards, user: user), directory: fixture.directory,
                                        name: "ssh-\(UUID())")
        guard await waitUntil(seconds: 30, { ready(ssh) || !ssh.isRunning }), ssh.isRunning else {
            ssh.stop()
            throw InteropError.missingProgram("ssh \(forwards) (\(ssh.errors); shhd: \(server.logText))")
        }
        return ssh
    }

    /// shhd with a config file (startWithConfig), its host key remembered for sshArguments.
    func startWithConfig(_ fixture: ShhdFixture, _ rest: String, name: String) async throws -> TestShhd {
        let (server, hostKey, _) = try await fixture.startWithConfig(rest, name: name)
        hostKeys.withLock { $0[server.port] = hostKey + ".pub" }
        return server
    }

    func logged(_ server: TestShhd, _ text: String) async -> Bool {
        await waitUntil(seconds: 20) { server.logText.contains(text) }
    }

    // MARK: - Forwarding works

    @Test func localForwardsCarry16MiBEachWayToTCPAndUnixServices() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let (echo, echoPort) = try await startTCPPeer("echo", directory: fixture.directory)
        defer { echo.stop() }
        let socketPath = fixture.directory + "/echo.sock"
        let unixEcho = try await startUnixPeer("echo", path: socketPath, directory: fixture.directory)
        defer { unixEcho.stop() }
        let (tcpPort, unixPort) = (try freeLoopbackPort(), try freeLoopbackPort())
        let ssh = try await forwardingSSH(fixture, server, ["-L", "\(tcpPort):127.0.0.1:\(echoPort)", "-L", "\(unixPort):\(socketPath)"]) { _ in
            accepts("127.0.0.1", tcpPort) && accepts("127.0.0.1", unixPort)
        }
        defer { ssh.stop() }
        let size = 16 << 20
        let (tcp, tcpRun) = try await send(["tcp", "127.0.0.1", "\(tcpPort)"], size: size)
        #expect(tcp != nil && tcp?.sent == tcp?.received && tcp?.bytes == size, "\(tcpRun.stdout) \(tcpRun.stderr) \(ssh.errors) \(server.logText)")
        let (unix, unixRun) = try await send(["tcp", "127.0.0.1", "\(unixPort)"], size: 1 << 20)
        #expect(unix != nil && unix?.sent == unix?.received && unix?.bytes == 1 << 20, "\(unixRun.stdout) \(unixRun.stderr) \(ssh.errors) \(server.logText)")
    }

    @Test func remoteForwardsOnAPortTheServerPicksAndOnAUnixSocket() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let (echo, echoPort) = try await startTCPPeer("echo", directory: fixture.directory)
        defer { echo.stop() }
        let (digest, digestPort) = try await startTCPPeer("digest", directory: fixture.directory)
        defer { digest.stop() }
        let remoteSocket = fixture.directory + "/remote.sock"
        let ssh = try await forwardingSSH(fixture, server, ["-R", "0:127.0.0.1:\(echoPort)", "-R", "\(remoteSocket):127.0.0.1:\(digestPort)"]) { ssh in
            ssh.errors.contains("Allocated port") && FileManager.default.fileExists(atPath: remoteSocket)
        }
        defer { ssh.stop() }
        let allocated = try #require(ssh.errors.firstMatch(of: /Allocated port (\d+) for remote forward to 127\.0\.0\.1:(\d+)/))
        #expect(Int(allocated.2) == echoPort)
        let port = try #require(Int(allocated.1))
        let (transfer, run) = try await send(["tcp", "127.0.0.1", "\(port)"], size: 4 << 20)
        #expect(transfer != nil && transfer?.sent == transfer?.received && transfer?.bytes == 4 << 20, "\(run.stdout) \(run.stderr) \(server.logText)")
        // Through the Unix socket to the digest service: its answer is the SHA-256 of what went in, sent after
        // our half-close travelled through as EOF.
        let (throughSocket, socketRun) = try await send(["unix", remoteSocket], size: 1 << 20)
        let expected = try #require(throughSocket?.sent)
        #expect(socketRun.stdout.contains("sent \(expected)") && throughSocket?.bytes == 65, "\(socketRun.stdout) \(socketRun.stderr) \(server.logText)")
        ssh.stop()
        // The listeners end with the connection.
        #expect(await waitUntil(seconds: 20) { !accepts("127.0.0.1", port) }, "the remote forward outlived its connection")
    }

    @Test func dynamicForwardingServesCurlOverSOCKS5AndSOCKS4a() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let (http, httpPort) = try await startTCPPeer("http", directory: fixture.directory)
        defer { http.stop() }
        let socksPort = try freeLoopbackPort()
        let ssh = try await forwardingSSH(fixture, server, ["-D", "127.0.0.1:\(socksPort)"]) { _ in accepts("127.0.0.1", socksPort) }
        defer { ssh.stop() }
        for proxy in ["--socks5-hostname", "--socks4a"] {
            let result = try await runAsync("/usr/bin/curl", ["-sS", "--max-time", "30", proxy, "127.0.0.1:\(socksPort)", "http://127.0.0.1:\(httpPort)/"])
            #expect(result.status == 0 && result.stdout == "forwarded-http-ok\n", "\(proxy): \(result.stdout) \(result.stderr) \(ssh.errors) \(server.logText)")
        }
    }

    @Test func stdioForwardingAsAProxyCommandAndWithAHalfClose() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        // ssh -W as the ProxyCommand of a second ssh to the same server.
        let inner = try sshArguments(fixture, server, ["-W", "%h:%p"]).map { "'\($0)'" }.joined(separator: " ")
        let proxied = try await runAsync("/usr/bin/ssh", try sshArguments(fixture, server, ["-o", "ProxyCommand=/usr/bin/ssh \(inner)"]) + ["echo via-proxy"])
        #expect(proxied.status == 0 && proxied.stdout == "via-proxy\n", "\(proxied.stderr) \(server.logText)")
        // nc -N style: what we send, then our end of input; the digest service answers only after that EOF.
        let (digest, digestPort) = try await startTCPPeer("digest", directory: fixture.directory)
        defer { digest.stop() }
        let bytes = randomBytes(1 << 20)
        let answered = try await runAsync("/usr/bin/ssh", try sshArguments(fixture, server, ["-W", "127.0.0.1:\(digestPort)"]), stdin: bytes)
        let expected = SHA256Digest.hex(bytes)
        #expect(answered.stdout == expected + "\n", "\(answered.stdout) \(answered.stderr) \(server.logText)")
    }

    @Test func aForwardToAClosedPortFailsToConnect() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let closed = try freeLoopbackPort()
        let result = try await runAsync("/usr/bin/ssh", try sshArguments(fixture, server, ["-W", "127.0.0.1:\(closed)"]))
        #expect(result.status == 255 && result.stderr.contains("open failed: connect failed"), "\(result.stderr) \(server.logText)")
        #expect(await logged(server, "connect_to 127.0.0.1:\(closed) for \(testLogin) failed"), "\(server.logText)")
    }

    // MARK: - Policies

    /// One forwarding attempt and what it came to.
    enum Attempt { case local, remote }

    func attempt(_ kind: Attempt, _ fixture: ShhdFixture, _ server: TestShhd, targetPort: Int) async throws -> Bool {
        switch kind {
        case .local:
            let result = try await runAsync("/usr/bin/ssh", try sshArguments(fixture, server, ["-W", "127.0.0.1:\(targetPort)"]), stdin: Array("x".utf8))
            return result.status == 0 && result.stdout.count == 65
        case .remote:
            let result = try await runAsync("/usr/bin/ssh", try sshArguments(fixture, server, ["-R", "0:127.0.0.1:\(targetPort)"]) + ["echo forwarded"])
            return result.status == 0 && result.stdout == "forwarded\n"
        }
    }

    @Test(arguments: [
        ("AllowTcpForwarding no", false, false, "AllowTcpForwarding does not allow local forwarding"),
        ("AllowTcpForwarding local", true, false, "AllowTcpForwarding does not allow remote forwarding"),
        ("AllowTcpForwarding remote", false, true, "AllowTcpForwarding does not allow local forwarding"),
        ("DisableForwarding yes", false, false, "port forwarding is disabled for this login"),
        ("PermitOpen 127.0.0.1:1", false, true, "not permitted by PermitOpen or permitopen="),
        ("PermitListen none", true, false, "not permitted by PermitListen or permitlisten="),
    ])
    func serverPolicies(_ option: String, _ local: Bool, _ remote: Bool, _ logLine: String) async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        // Inside Match too: the policy is the login's, Match applied.
        let server = try await startWithConfig(fixture, "Match User \(testLogin)\n    \(option)\n", name: "policy")
        defer { server.terminate() }
        let (digest, digestPort) = try await startTCPPeer("digest", directory: fixture.directory)
        defer { digest.stop() }
        #expect(try await attempt(.local, fixture, server, targetPort: digestPort) == local, "\(option): local: \(server.logText)")
        #expect(try await attempt(.remote, fixture, server, targetPort: digestPort) == remote, "\(option): remote: \(server.logText)")
        #expect(await logged(server, logLine), "\(option): \(server.logText)")
        // -T prints it.
        let printed = try await runAsync(shhdPath, ["-T", "-f", fixture.directory + "/policy", "-C", "user=\(testLogin),addr=127.0.0.1"])
        #expect(printed.stdout.contains(option.lowercased() + "\n"), "\(printed.stdout) \(printed.stderr)")
    }

    @Test func permitOpenAndPermitListenAdmitWhatTheyName() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let (digest, digestPort) = try await startTCPPeer("digest", directory: fixture.directory)
        defer { digest.stop() }
        let listenPort = try freeLoopbackPort()
        let server = try await startWithConfig(fixture, "PermitOpen 127.0.0.1:\(digestPort)\nPermitListen \(listenPort)\n", name: "permit")
        defer { server.terminate() }
        #expect(try await attempt(.local, fixture, server, targetPort: digestPort), "\(server.logText)")
        let elsewhere = try await runAsync("/usr/bin/ssh", try sshArguments(fixture, server, ["-W", "127.0.0.1:\(server.port)"]))
        #expect(elsewhere.stderr.contains("administratively prohibited"), "\(elsewhere.stderr)")
        let allowed = try await runAsync("/usr/bin/ssh", try sshArguments(fixture, server, ["-R", "\(listenPort):127.0.0.1:\(digestPort)"]) + ["echo forwarded"])
        #expect(allowed.status == 0 && allowed.stdout == "forwarded\n", "\(allowed.stderr) \(server.logText)")
        let other = try await runAsync("/usr/bin/ssh", try sshArguments(fixture, server, ["-R", "0:127.0.0.1:\(digestPort)"]) + ["echo forwarded"])
        #expect(other.status == 255 && other.stderr.contains("remote port forwarding failed"), "\(other.stderr) \(server.logText)")
    }

    /// GatewayPorts no binds loopback whatever the client names; clientspecified binds the address it names.
    @Test func gatewayPortsDecidesTheListeningAddress() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let (echo, echoPort) = try await startTCPPeer("echo", directory: fixture.directory)
        defer { echo.stop() }
        for (setting, listening, notListening) in [("no", "127.0.0.1", "127.0.0.2"), ("clientspecified", "127.0.0.2", "127.0.0.1")] {
            let server = try await startWithConfig(fixture, "GatewayPorts \(setting)\n", name: "gateway-\(setting)")
            defer { server.terminate() }
            let port = try freeLoopbackPort()
            let ssh = try await forwardingSSH(fixture, server, ["-R", "127.0.0.2:\(port):127.0.0.1:\(echoPort)"]) { _ in accepts(listening, port) }
            #expect(accepts(listening, port) && !accepts(notListening, port), "GatewayPorts \(setting): \(server.logText)")
            ssh.stop()
        }
    }

    @Test(arguments: [
        ("no-port-forwarding", false, "port forwarding is disabled for this login"),
        ("restrict", false, "port forwarding is disabled for this login"),
        ("restrict,port-forwarding", true, ""),
        ("permitopen=\"127.0.0.1:1\"", false, "not permitted by PermitOpen or permitopen="),
    ])
    func authorizedKeysOptions(_ options: String, _ permitted: Bool, _ logLine: String) async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let key = try String(contentsOfFile: fixture.identity + ".pub", encoding: .utf8)
        try "\(options) \(key)".write(toFile: fixture.authorizedKeys, atomically: true, encoding: .utf8)
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let (digest, digestPort) = try await startTCPPeer("digest", directory: fixture.directory)
        defer { digest.stop() }
        #expect(try await attempt(.local, fixture, server, targetPort: digestPort) == permitted, "\(options): \(server.logText)")
        if !logLine.isEmpty { #expect(await logged(server, logLine), "\(options): \(server.logText)") }
    }

    // MARK: - The user's rights

    /// A user's forward to a Unix socket is made with the user's rights and credentials: a socket only root may
    /// open is refused, and the service sees the user's uid, not the broker's root.
    @Test func unixSocketsAreReachedAsTheUser() async throws {
        try await withTestAccount { fixture, account in
            let server = try await TestShhd.start([], directory: fixture.directory, environment: ["XDG_STATE_HOME": fixture.directory + "/state"])
            defer { server.terminate() }
            // A directory everyone may enter, with a socket only root may connect to and one anyone may.
            let shared = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: shared) }
            chmod(shared, 0o755)
            let rootOnly = try await startUnixPeer("whoami", path: shared + "/root-only.sock", mode: "600", directory: fixture.directory)
            defer { rootOnly.stop() }
            let open = try await startUnixPeer("whoami", path: shared + "/open.sock", mode: "666", directory: fixture.directory)
            defer { open.stop() }
            let (openPort, rootPort) = (try freeLoopbackPort(), try freeLoopbackPort())
            let ssh = try await forwardingSSH(fixture, server, ["-L", "\(openPort):\(shared)/open.sock", "-L", "\(rootPort):\(shared)/root-only.sock"],
                                              user: account.name) { _ in accepts("127.0.0.1", openPort) && accepts("127.0.0.1", rootPort) }
            defer { ssh.stop() }
            let answer = try await runAsync("/usr/bin/env", ["python3", "-c", """
                import socket, sys
                s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
                s.shutdown(socket.SHUT_WR)
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk: break
                    data += chunk
                print(data.decode().strip())
                """, "\(openPort)"])
            #expect(answer.stdout == "uid=\(account.uid)\n", "\(answer.stdout) \(answer.stderr) \(ssh.errors) \(server.logText)")
            let refused = try await runAsync("/usr/bin/env", ["python3", "-c", """
                import socket, sys
                s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
                print(len(s.recv(4096)))
                """, "\(rootPort)"])
            #expect(refused.stdout == "0\n", "the user reached a socket only root may open: \(refused.stdout)")
            #expect(await logged(server, "Permission denied"), "\(ssh.errors) \(server.logText)")
        }
    }

    /// A free TCP port below 1024 on 127.0.0.1 (the tests run as root).
    func freePrivilegedPort() throws -> Int {
        for port in (600..<1024).shuffled() {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound == 0 { return port }
        }
        throw InteropError.missingProgram("a free port below 1024")
    }

    /// Ports below 1024: a root login's -R gets one (bound by the broker: the network process may not), anyone
    /// else's is refused, as sshd.
    @Test func onlyRootLoginsListenBelow1024() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let (echo, echoPort) = try await startTCPPeer("echo", directory: fixture.directory)
        defer { echo.stop() }
        let low = try freePrivilegedPort()
        let ssh = try await forwardingSSH(fixture, server, ["-R", "\(low):127.0.0.1:\(echoPort)"]) { _ in accepts("127.0.0.1", low) }
        defer { ssh.stop() }
        let (transfer, run) = try await send(["tcp", "127.0.0.1", "\(low)"], size: 1 << 16)
        #expect(transfer != nil && transfer?.sent == transfer?.received, "\(run.stdout) \(run.stderr) \(server.logText)")
        try await withTestAccount { accountFixture, account in
            let userServer = try await TestShhd.start([], directory: accountFixture.directory, environment: ["XDG_STATE_HOME": accountFixture.directory + "/state"])
            defer { userServer.terminate() }
            let other = try freePrivilegedPort()
            let refused = try await runAsync("/usr/bin/ssh", try sshArguments(accountFixture, userServer, ["-R", "\(other):127.0.0.1:\(echoPort)"],
                                                                               user: account.name) + ["echo forwarded"])
            #expect(refused.status == 255 && refused.stderr.contains("remote port forwarding failed"), "\(refused.stderr) \(userServer.logText)")
            #expect(await logged(userServer, "only root may listen on a port below 1024"), "\(userServer.logText)")
        }
    }

    // MARK: - Agent forwarding

    @Test func theAgentIsForwardedForTheSessionOnly() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let socket = fixture.directory + "/agent.sock"
        let agent = try BackgroundProgram("/usr/bin/ssh-agent", ["-D", "-a", socket], directory: fixture.directory, name: "agent")
        defer { agent.stop() }
        #expect(await waitUntil(seconds: 20) { FileManager.default.fileExists(atPath: socket) }, "ssh-agent never made \(socket)")
        let environment = ProcessInfo.processInfo.environment.merging(["SSH_AUTH_SOCK": socket]) { $1 }
        let added = try await runAsync("/usr/bin/ssh-add", [fixture.identity], environment: environment)
        #expect(added.status == 0, "\(added.stderr)")
        let fingerprint = try await runAsync(try sshKeygenPath(), ["-l", "-f", fixture.identity + ".pub"]).stdout
        let listed = try await runAsync("/usr/bin/ssh", try sshArguments(fixture, server, ["-A"]) + ["ssh-add -l; echo \"socket=$SSH_AUTH_SOCK\""],
                                        environment: environment)
        #expect(listed.status == 0, "\(listed.stderr) \(server.logText)")
        let keyFingerprint = String(fingerprint.split(separator: " ").dropFirst().first ?? "none")
        #expect(listed.stdout.contains(keyFingerprint), "the forwarded agent did not list the key: \(listed.stdout) \(listed.stderr) \(server.logText)")
        let path = try #require(listed.stdout.firstMatch(of: /socket=(\/tmp\/ssh-[^\n]+)/)?.1)
        #expect(await waitUntil(seconds: 20) { !FileManager.default.fileExists(atPath: String(path)) }, "\(path) outlived the session")
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
        #expect(await waitUntil(seconds: 20) { !FileManager.default.fileExists(atPath: directory) }, "\(directory) outlived the session")
        // AllowAgentForwarding no: no socket.
        let refusing = try await startWithConfig(fixture, "AllowAgentForwarding no\n", name: "noagent")
        defer { refusing.terminate() }
        let none = try await runAsync("/usr/bin/ssh", try sshArguments(fixture, refusing, ["-A"]) + ["echo ${SSH_AUTH_SOCK:-none}"], environment: environment)
        #expect(none.stdout == "none\n", "\(none.stdout) \(none.stderr)")
    }

    // MARK: - Bad input

    /// 1000 direct-tcpip opens refused by PermitOpen on one connection: each refused, the connection still serves.
    @Test func aThousandRefusedOpensLeaveTheConnectionWorking() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded(["-o", "PermitOpen 127.0.0.1:1"])
        defer { server.terminate() }
        let key = try SSHKeyFile.loadPrivateKey(atPath: fixture.identity)
        let hostKey = try SSHPublicKeyLine(parsing: try String(contentsOfFile: fixture.hostKeyPublic, encoding: .utf8)).key
        let (digest, digestPort) = try await startTCPPeer("digest", directory: fixture.directory)
        defer { digest.stop() }
        try await SSHClient.withConnection(host: "127.0.0.1", port: server.port, user: testLogin, credentials: [.privateKey(key)],
                                           hostKeyValidator: .pinned([hostKey])) { client in
            var refused = 0
            for _ in 0..<1000 {
                do {
                    _ = try await client.openTunnel(to: .tcp(host: "127.0.0.1", port: digestPort))
                } catch {
                    refused += 1
                }
            }
            #expect(refused == 1000)
            let output = try await client.run("echo still-here", check: true)
            #expect(output == "still-here\n")
        }
    }
}

enum SHA256Digest {
    static func hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}
