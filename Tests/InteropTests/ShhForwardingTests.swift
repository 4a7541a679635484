// shh's port forwarding against a real sshd, as a user of ssh would use it: -L to a TCP echo service with 16 MiB
// each way and a half-close, -L to a Unix socket on the server's side and from one on ours, -R 0 with the port ssh
// prints, -R to a local Unix socket, -D through curl's SOCKS, -W as another shh's ProxyCommand, -f -N returning to
// the shell with the tunnel up, ExitOnForwardFailure, ~C adding and cancelling a forward at a terminal, and a
// forward to a closed port failing alone while another keeps working.
import Foundation
import Synchronization
import Testing

/// A service the forwards lead to, and the client that checks what comes back.
struct ForwardingPeer {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("forwarding_peer.py").path

    /// Starts the echo server (TCP on 127.0.0.1:`port`, or a Unix socket at `path`) and waits for its "ready".
    static func startEchoServer(port: Int? = nil, path: String? = nil) async throws -> ForwardingTestProgram {
        let arguments = port.map { ["echo-server", "tcp", "\($0)"] } ?? ["echo-server", "unix", path ?? ""]
        let server = try ForwardingTestProgram("/usr/bin/env", ["python3", script] + arguments)
        guard await waitUntil(seconds: 30, { server.stdout.contains("ready") }) else {
            server.stop()
            throw DeadlineExceeded("the echo server to listen (\(server.stderr))", seconds: 30)
        }
        return server
    }

    /// Sends `size` random bytes through 127.0.0.1:`port` (or the Unix socket `path`), half-closes, reads the echo
    /// to its end: whether every byte came back unchanged, and what the client said.
    static func echo(port: Int? = nil, path: String? = nil, size: Int) async throws -> (ok: Bool, report: String) {
        let arguments = port.map { ["echo-client", "tcp", "127.0.0.1", "\($0)", "\(size)"] } ?? ["echo-client", "unix", path ?? "", "\(size)"]
        let result = try await runAsync("/usr/bin/env", ["python3", script] + arguments, deadline: 180)
        let report = result.stdout + result.stderr
        guard let match = result.stdout.firstMatch(of: /sent=(\w+) received=(\w+) bytes=(\d+)/) else { return (false, report) }
        return (match.1 == match.2 && Int(match.3) == size, report)
    }
}

/// A program left running while a test uses it (a forwarding shh, an echo server), its output in files, killed
/// with everything it started when the test is done.
final class ForwardingTestProgram: Sendable {
    let process: Process
    private let directory: String

    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        directory = try makeTemporaryDirectory()
        _ = FileManager.default.createFile(atPath: directory + "/out", contents: nil)
        _ = FileManager.default.createFile(atPath: directory + "/err", contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: directory + "/out")
        process.standardError = FileHandle(forWritingAtPath: directory + "/err")
        try process.run()
    }

    var stdout: String { (try? readText(directory + "/out")) ?? "" }
    var stderr: String { (try? readText(directory + "/err")) ?? "" }
    var isRunning: Bool { process.isRunning }

    private let stopped = Mutex(false)

    /// Kills it and what it started, once (a second call must not signal a pid the system may have reused).
    func stop() {
        guard !stopped.withLock({ done in defer { done = true }; return done }) else { return }
        killTree(process.processIdentifier)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Waits until 127.0.0.1:`port` accepts a connection (or the Unix socket at `path` does).
func waitUntilAccepting(port: Int? = nil, path: String? = nil, seconds: Double = 60) async -> Bool {
    await waitUntil(seconds: seconds) {
        if let port {
            guard let fd = connectLoopback(port: port, receiveTimeoutSeconds: 1) else { return false }
            close(fd)
            return true
        }
        guard let path, let fd = connectUnixSocket(path) else { return false }
        close(fd)
        return true
    }
}

/// A connected Unix socket, or nil.
func connectUnixSocket(_ path: String) -> Int32? {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        let bytes = Array(path.utf8.prefix(raw.count - 1))
        raw.copyBytes(from: bytes + [0])
    }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
    }
    guard connected else {
        close(fd)
        return nil
    }
    return fd
}

/// The shh processes (the built one, by /proc/PID/exe) with `argument` on their command line: a background shh
/// found by a marker only it was given.
func shhProcesses(withArgument argument: String) -> [pid_t] {
    let executable = URL(fileURLWithPath: shhPath).resolvingSymlinksInPath().path
    return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> pid_t? in
        guard let pid = pid_t(entry),
              let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/exe"),
              URL(fileURLWithPath: exe).resolvingSymlinksInPath().path == executable,
              let line = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
        return line.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == argument } ? pid : nil
    }
}

/// A socket listening on 127.0.0.1:`port`, so a forward cannot have it. The caller closes it.
func occupyLoopbackPort(_ port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard bound, listen(fd, 8) == 0 else {
        close(fd)
        return nil
    }
    return fd
}

@Suite("shh port forwarding against sshd", .enabled(if: isRootUser, "starting sshd on a test port needs root; CI runs as root"),
       .timeLimit(.minutes(10)))
struct ShhForwardingTests {
    /// shh's common arguments for the fixture's sshd.
    func common(_ fixture: ShhFixture) -> [String] {
        ["-F", "none", "-p", "\(fixture.sshd.port)", "-i", fixture.identity, "-o", "UserKnownHostsFile=\(fixture.knownHosts)",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]
    }

    /// shh left running with `arguments` (forwarding with -N, usually).
    func startShh(_ fixture: ShhFixture, _ arguments: [String]) throws -> ForwardingTestProgram {
        try ForwardingTestProgram(shhPath, common(fixture) + arguments)
    }

    @Test func localForwardCarriesSixteenMiBEachWayAndAHalfClose() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let servicePort = try freeLoopbackPort(), localPort = try freeLoopbackPort()
        let service = try await ForwardingPeer.startEchoServer(port: servicePort)
        defer { service.stop() }
        let shh = try startShh(fixture, ["-N", "-L", "\(localPort):127.0.0.1:\(servicePort)", "\(testLogin)@127.0.0.1"])
        defer { shh.stop() }
        #expect(await waitUntilAccepting(port: localPort), "shh never listened: \(shh.stderr)")
        // The client half-closes after its last byte and still reads the whole echo: EOF crosses the tunnel one
        // way while the other way goes on.
        let (ok, report) = try await ForwardingPeer.echo(port: localPort, size: 16 << 20)
        #expect(ok, "\(report) \(shh.stderr)")
        // Each connection is its own: two more at once, both whole.
        async let first = ForwardingPeer.echo(port: localPort, size: 1 << 20)
        async let second = ForwardingPeer.echo(port: localPort, size: 1 << 20)
        let (a, b) = try await (first, second)
        #expect(a.ok && b.ok, "\(a.report) \(b.report)")
    }

    @Test func localForwardsToAndFromUnixSockets() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let serverSocket = fixture.directory + "/service.sock", localSocket = fixture.directory + "/local.sock"
        let service = try await ForwardingPeer.startEchoServer(path: serverSocket)
        defer { service.stop() }
        let localPort = try freeLoopbackPort()
        // TCP here to the server's Unix socket, and our Unix socket to it too.
        let shh = try startShh(fixture, ["-N", "-L", "\(localPort):\(serverSocket)", "-L", "\(localSocket):\(serverSocket)",
                                         "\(testLogin)@127.0.0.1"])
        defer { shh.stop() }
        #expect(await waitUntilAccepting(port: localPort), "\(shh.stderr)")
        #expect(await waitUntilAccepting(path: localSocket), "\(shh.stderr)")
        let viaPort = try await ForwardingPeer.echo(port: localPort, size: 4 << 20)
        #expect(viaPort.ok, "\(viaPort.report) \(shh.stderr)")
        let viaSocket = try await ForwardingPeer.echo(path: localSocket, size: 4 << 20)
        #expect(viaSocket.ok, "\(viaSocket.report) \(shh.stderr)")
        // Only its owner may connect (StreamLocalBindMask 0177).
        let mode = (try FileManager.default.attributesOfItem(atPath: localSocket)[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o600, "mode \(String(mode, radix: 8))")
        shh.stop()

        // A socket file left behind: refused as ssh refuses it, unless StreamLocalBindUnlink; StreamLocalBindMask
        // sets the mode.
        let stale = fixture.directory + "/stale.sock"
        let leftover = try await ForwardingPeer.startEchoServer(path: stale)
        leftover.stop()
        let refused = try await fixture.shh(["-L", "\(stale):\(serverSocket)", "\(testLogin)@127.0.0.1", "echo", "ran"])
        #expect(refused.status == 0 && refused.stdout == "ran\n", "\(refused.stderr)")
        #expect(refused.stderr.contains("unix_listener: cannot bind to path \(stale): Address already in use"), "\(refused.stderr)")
        let replacing = try startShh(fixture, ["-N", "-o", "StreamLocalBindUnlink=yes", "-o", "StreamLocalBindMask=0111",
                                               "-L", "\(stale):\(serverSocket)", "\(testLogin)@127.0.0.1"])
        defer { replacing.stop() }
        #expect(await waitUntilAccepting(path: stale), "\(replacing.stderr)")
        let replaced = try await ForwardingPeer.echo(path: stale, size: 1 << 20)
        #expect(replaced.ok, "\(replaced.report) \(replacing.stderr)")
        let newMode = (try FileManager.default.attributesOfItem(atPath: stale)[.posixPermissions] as? Int) ?? 0
        #expect(newMode == 0o666 & ~0o111, "mode \(String(newMode, radix: 8))")
    }

    @Test func remoteForwardOnPortZeroPrintsThePortAndCarries() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let servicePort = try freeLoopbackPort()
        let service = try await ForwardingPeer.startEchoServer(port: servicePort)
        defer { service.stop() }
        let shh = try startShh(fixture, ["-N", "-R", "0:127.0.0.1:\(servicePort)", "\(testLogin)@127.0.0.1"])
        defer { shh.stop() }
        let expected = "for remote forward to 127.0.0.1:\(servicePort)"
        var allocated: Int?
        _ = await waitUntil(seconds: 60) {
            allocated = shh.stderr.split(separator: "\n").first(where: { $0.contains(expected) })
                .flatMap { $0.firstMatch(of: /Allocated port (\d+)/) }.flatMap { Int($0.1) }
            return allocated != nil
        }
        let port = try #require(allocated, "no allocated port line: \(shh.stderr)")
        let (ok, report) = try await ForwardingPeer.echo(port: port, size: 4 << 20)
        #expect(ok, "\(report) \(shh.stderr)")
    }

    @Test func remoteForwardToALocalUnixSocket() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let localSocket = fixture.directory + "/here.sock"
        let service = try await ForwardingPeer.startEchoServer(path: localSocket)
        defer { service.stop() }
        let remotePort = try freeLoopbackPort()
        let shh = try startShh(fixture, ["-N", "-R", "\(remotePort):\(localSocket)", "\(testLogin)@127.0.0.1"])
        defer { shh.stop() }
        #expect(await waitUntilAccepting(port: remotePort), "sshd never listened: \(shh.stderr)")
        let (ok, report) = try await ForwardingPeer.echo(port: remotePort, size: 4 << 20)
        #expect(ok, "\(report) \(shh.stderr)")
    }

    @Test func dynamicForwardServesCurlThroughSOCKS5AndSOCKS4a() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        try "through the SOCKS forward\n".write(toFile: fixture.directory + "/page.txt", atomically: true, encoding: .utf8)
        let httpPort = try freeLoopbackPort(), socksPort = try freeLoopbackPort()
        let http = try ForwardingTestProgram("/usr/bin/env", ["python3", "-m", "http.server", "\(httpPort)", "--bind", "127.0.0.1",
                                                          "--directory", fixture.directory])
        defer { http.stop() }
        #expect(await waitUntilAccepting(port: httpPort), "\(http.stderr)")
        let shh = try startShh(fixture, ["-N", "-D", "127.0.0.1:\(socksPort)", "\(testLogin)@127.0.0.1"])
        defer { shh.stop() }
        #expect(await waitUntilAccepting(port: socksPort), "\(shh.stderr)")
        for proxy in ["--socks5-hostname", "--socks4a"] {
            let fetched = try await runAsync("/usr/bin/curl", ["-sS", "--max-time", "60", proxy, "127.0.0.1:\(socksPort)",
                                                              "http://localhost:\(httpPort)/page.txt"])
            #expect(fetched.stdout == "through the SOCKS forward\n", "\(proxy): \(fetched.stderr) \(shh.stderr)")
        }
        // Bytes both ways and a half-close through SOCKS5 by name (the suite's own client), to the echo service.
        let echoPort = try freeLoopbackPort()
        let echo = try await ForwardingPeer.startEchoServer(port: echoPort)
        defer { echo.stop() }
        let socksClient = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("socks5_client.py").path
        let text = String(repeating: "through -D\n", count: 20_000)
        let relayed = try await runAsync("/usr/bin/env", ["python3", socksClient, "\(socksPort)", "localhost", "\(echoPort)"],
                                         stdin: Array(text.utf8), deadline: 120)
        #expect(relayed.status == 0 && relayed.stdout == text, "\(relayed.stderr) \(shh.stderr)")
    }

    @Test func reverseDynamicForwardHonoursPermitRemoteOpen() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        try "reverse\n".write(toFile: fixture.directory + "/page.txt", atomically: true, encoding: .utf8)
        let httpPort = try freeLoopbackPort(), remotePort = try freeLoopbackPort()
        let http = try ForwardingTestProgram("/usr/bin/env", ["python3", "-m", "http.server", "\(httpPort)", "--bind", "127.0.0.1",
                                                          "--directory", fixture.directory])
        defer { http.stop() }
        #expect(await waitUntilAccepting(port: httpPort), "\(http.stderr)")
        let shh = try startShh(fixture, ["-N", "-R", "\(remotePort)", "-o", "PermitRemoteOpen=127.0.0.1:\(httpPort)", "\(testLogin)@127.0.0.1"])
        defer { shh.stop() }
        #expect(await waitUntilAccepting(port: remotePort), "\(shh.stderr)")
        let allowed = try await runAsync("/usr/bin/curl", ["-sS", "--max-time", "60", "--socks5", "127.0.0.1:\(remotePort)",
                                                          "http://127.0.0.1:\(httpPort)/page.txt"])
        #expect(allowed.stdout == "reverse\n", "\(allowed.stderr) \(shh.stderr)")
        let refused = try await runAsync("/usr/bin/curl", ["-sS", "--max-time", "60", "--socks5", "127.0.0.1:\(remotePort)",
                                                          "http://127.0.0.1:\(fixture.sshd.port)/"])
        #expect(refused.status != 0, "PermitRemoteOpen did not refuse: \(refused.stdout)")
    }

    @Test func stdioForwardingAsAnotherShhsProxyCommand() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let jump = ([shhPath] + common(fixture) + ["-W", "%h:%p", "\(testLogin)@127.0.0.1"]).joined(separator: " ")
        let through = try await runAsync(shhPath, common(fixture) + ["-o", "ProxyCommand=\(jump)", "\(testLogin)@127.0.0.1", "echo", "via-W"])
        #expect(through.status == 0, "\(through.stderr)")
        #expect(through.stdout == "via-W\n", "\(through.stderr)")

        // Bytes both ways, and the end of our input is the end of the tunnel's: the echo comes back whole, then 0.
        let servicePort = try freeLoopbackPort()
        let service = try await ForwardingPeer.startEchoServer(port: servicePort)
        defer { service.stop() }
        let text = String(repeating: "stdio forwarding line\n", count: 50_000)
        let echoed = try await fixture.shh(["-W", "127.0.0.1:\(servicePort)", "\(testLogin)@127.0.0.1"], stdin: Array(text.utf8))
        #expect(echoed.status == 0, "\(echoed.stderr)")
        #expect(echoed.stdout == text, "\(echoed.stdout.utf8.count) of \(text.utf8.count) bytes came back")

        // A target nobody listens on: ssh's two lines and 255.
        let closedPort = try freeLoopbackPort()
        let refused = try await fixture.shh(["-W", "127.0.0.1:\(closedPort)", "\(testLogin)@127.0.0.1"])
        #expect(refused.status == 255)
        #expect(refused.stderr == "channel 0: open failed: connect failed: Connection refused\nstdio forwarding failed\n", "\(refused.stderr)")
    }

    @Test func backgroundAfterAuthenticationLeavesTheTunnelUp() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let servicePort = try freeLoopbackPort(), localPort = try freeLoopbackPort()
        let service = try await ForwardingPeer.startEchoServer(port: servicePort)
        defer { service.stop() }
        let marker = "shh-background-\(UUID().uuidString)"
        // Returns to the shell (exit 0) with the forward listening; the remote forward's answer is awaited first.
        let started = try await fixture.shh(["-f", "-N", "-o", "ExitOnForwardFailure=yes", "-P", marker,
                                             "-L", "\(localPort):127.0.0.1:\(servicePort)", "-R", "0:127.0.0.1:\(servicePort)",
                                             "\(testLogin)@127.0.0.1"])
        let pids = shhProcesses(withArgument: marker)
        defer { for pid in pids { kill(pid, SIGKILL) } }
        #expect(started.status == 0, "\(started.stderr)")
        #expect(started.stderr.contains("Allocated port"), "\(started.stderr)")
        #expect(pids.count == 1, "background shh: \(pids)")
        let (ok, report) = try await ForwardingPeer.echo(port: localPort, size: 1 << 20)
        #expect(ok, "\(report)")
        for pid in pids { kill(pid, SIGKILL) }
        #expect(await waitUntil(seconds: 30) { shhProcesses(withArgument: marker).isEmpty }, "the background shh did not end")

        // Without a command or -N there is nothing to go to the background for.
        let nothing = try await fixture.shh(["-f", "\(testLogin)@127.0.0.1"])
        #expect(nothing.status == 255)
        #expect(nothing.stderr == "Cannot fork into background without a command to execute.\n", "\(nothing.stderr)")
        // A failure before it is ready is the foreground's exit status and message.
        let failed = try await fixture.shh(["-f", "-N", "-R", "127.0.0.1:\(fixture.sshd.port):127.0.0.1:1", "-o", "ExitOnForwardFailure=yes",
                                            "\(testLogin)@127.0.0.1"])
        #expect(failed.status == 255)
        #expect(failed.stderr.contains("Error: remote port forwarding failed for listen port \(fixture.sshd.port)"), "\(failed.stderr)")
    }

    @Test func exitOnForwardFailureWithATakenPort() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let takenPort = try freeLoopbackPort()
        let taken = try #require(occupyLoopbackPort(takenPort))
        defer { close(taken) }
        // An explicit 127.0.0.1: one address, so its failure is the error ssh prints (localhost would try ::1 too).
        let spec = "127.0.0.1:\(takenPort):127.0.0.1:22"
        let fatal = try await fixture.shh(["-o", "ExitOnForwardFailure=yes", "-L", spec, "\(testLogin)@127.0.0.1", "echo", "ran"])
        #expect(fatal.status == 255)
        #expect(fatal.stdout == "")
        #expect(fatal.stderr == """
            bind [127.0.0.1]:\(takenPort): Address already in use
            channel_setup_fwd_listener_tcpip: cannot listen to port: \(takenPort)
            Could not request local forwarding.

            """, "\(fatal.stderr)")
        // Without it: the same warnings, and the command runs.
        let warned = try await fixture.shh(["-L", spec, "\(testLogin)@127.0.0.1", "echo", "ran"])
        #expect(warned.status == 0, "\(warned.stderr)")
        #expect(warned.stdout == "ran\n")
        #expect(warned.stderr.contains("bind [127.0.0.1]:\(takenPort): Address already in use"), "\(warned.stderr)")
        #expect(warned.stderr.contains("Could not request local forwarding."), "\(warned.stderr)")
        // A remote forward the server cannot listen on (sshd's own port): a warning, or with the option 255.
        let remoteSpec = "127.0.0.1:\(fixture.sshd.port):127.0.0.1:22"
        let remoteWarned = try await fixture.shh(["-R", remoteSpec, "\(testLogin)@127.0.0.1", "echo", "ran"])
        #expect(remoteWarned.status == 0 && remoteWarned.stdout == "ran\n", "\(remoteWarned.stderr)")
        #expect(remoteWarned.stderr.contains("Warning: remote port forwarding failed for listen port \(fixture.sshd.port)"), "\(remoteWarned.stderr)")
        let remoteFatal = try await fixture.shh(["-o", "ExitOnForwardFailure=yes", "-R", remoteSpec, "\(testLogin)@127.0.0.1", "echo", "ran"])
        #expect(remoteFatal.status == 255 && remoteFatal.stdout == "", "\(remoteFatal.stderr)")
        #expect(remoteFatal.stderr.contains("Error: remote port forwarding failed for listen port \(fixture.sshd.port)"), "\(remoteFatal.stderr)")
    }

    @Test func aFailedConnectionLeavesTheOtherForwardsWorking() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let servicePort = try freeLoopbackPort(), closedPort = try freeLoopbackPort()
        let deadPort = try freeLoopbackPort(), livePort = try freeLoopbackPort()
        let service = try await ForwardingPeer.startEchoServer(port: servicePort)
        defer { service.stop() }
        let shh = try startShh(fixture, ["-N", "-L", "\(deadPort):127.0.0.1:\(closedPort)", "-L", "\(livePort):127.0.0.1:\(servicePort)",
                                         "\(testLogin)@127.0.0.1"])
        defer { shh.stop() }
        #expect(await waitUntilAccepting(port: livePort), "\(shh.stderr)")
        // The dead one accepts, then closes once the server says it could not connect.
        let fd = try #require(connectLoopback(port: deadPort, receiveTimeoutSeconds: 30))
        var byte: UInt8 = 0
        #expect(read(fd, &byte, 1) == 0, "the connection to a closed port was not closed")
        close(fd)
        #expect(await waitUntil(seconds: 30) { shh.stderr.contains("open failed: connect failed: Connection refused") }, "\(shh.stderr)")
        #expect(shh.stderr.firstMatch(of: /channel \d+: open failed: connect failed: Connection refused/) != nil, "\(shh.stderr)")
        let (ok, report) = try await ForwardingPeer.echo(port: livePort, size: 1 << 20)
        #expect(ok, "\(report) \(shh.stderr)")
        #expect(shh.isRunning)
    }

    @Test func escapeCommandLineAddsAndCancelsAForward() async throws {
        let fixture = try await offThePool { try ShhFixture() }
        defer { fixture.sshd.stop() }
        let servicePort = try freeLoopbackPort(), localPort = try freeLoopbackPort()
        let service = try await ForwardingPeer.startEchoServer(port: servicePort)
        defer { service.stop() }
        let terminal = try PseudoTerminalProcess(
            shhPath, common(fixture) + ["-o", "EnableEscapeCommandline=yes", "-tt", "\(testLogin)@127.0.0.1", "cat"],
            environment: ["TERM": "xterm", "HOME": fixture.directory, "PATH": "/usr/bin:/bin"])
        let raw = await waitUntil(seconds: 60) { terminal.modes.c_lflag & tcflag_t(ICANON) == 0 }
        #expect(raw, "\(terminal.text)")
        terminal.type("~?")
        #expect(await terminal.waitFor("C   - open a command line"), "\(terminal.text)")
        terminal.type("~C")
        #expect(await terminal.waitFor("ssh> "), "\(terminal.text)")
        terminal.type("-L \(localPort):127.0.0.1:\(servicePort)\r")
        #expect(await terminal.waitFor("Forwarding port."), "\(terminal.text)")
        let (ok, report) = try await ForwardingPeer.echo(port: localPort, size: 1 << 20)
        #expect(ok, "\(report) \(terminal.text)")
        let before = terminal.screenCount
        terminal.type("\r~#")
        #expect(await terminal.waitFor("The following connections are open:", after: before), "\(terminal.text)")
        terminal.type("\r~C")
        #expect(await terminal.waitFor("ssh> ", after: before), "\(terminal.text)")
        terminal.type("-KL \(localPort)\r")
        #expect(await terminal.waitFor("Canceled forwarding.", after: before), "\(terminal.text)")
        #expect(await waitUntil(seconds: 10) { connectLoopback(port: localPort, receiveTimeoutSeconds: 1).map { close($0); return false } ?? true })
        terminal.type("\r~.")
        #expect(await terminal.waitForExit(seconds: 60) == 255, "\(terminal.text)")
    }

    @Test func dashGPrintsTheForwardsAsSSHDoes() async throws {
        let printed = try await runAsync(shhPath, ["-F", "none", "-G", "-L", "8080:db:5432", "-R", "0:localhost:80", "-R", "1080",
                                                   "-D", "[::1]:9050", "-o", "LocalForward 8081 db2:1", "h"])
        #expect(printed.status == 0, "\(printed.stderr)")
        for line in ["dynamicforward [::1]:9050", "localforward 8080 [db]:5432", "localforward 8081 [db2]:1",
                     "remoteforward 0 [localhost]:80", "remoteforward 1080 [socks]:0", "clearallforwardings no",
                     "exitonforwardfailure no", "gatewayports no", "streamlocalbindmask 0177", "permitremoteopen any"] {
            #expect(printed.stdout.contains(line + "\n"), "\(line) missing from \(printed.stdout)")
        }
        let stdio = try await runAsync(shhPath, ["-F", "none", "-G", "-W", "a:1", "-L", "8080:db:5432", "h"])
        #expect(!stdio.stdout.contains("localforward"), "-W clears the other forwards: \(stdio.stdout)")
        #expect(stdio.stdout.contains("clearallforwardings yes\n") && stdio.stdout.contains("exitonforwardfailure yes\n"))
    }
}
