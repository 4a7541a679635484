// Runs SSH sessions (RFC 4254 §6.5) as processes, the way sshd does: `$SHELL -c command` for exec, a login shell
// for shell, a clean environment, a pseudo-terminal as the controlling terminal after pty-req (§6.2; window-change
// §6.7), stdin from the channel, stdout as channel data and stderr as extended data, signals (§6.9) to the session's
// process group, then exit-status or exit-signal (§6.10). Pipes are served by NIO (reads straight into
// ByteBuffers, writes that wait for the channel's window), so a slow client slows the command down instead of
// filling memory.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOPosix
import SSH
import SSHProtocol

/// Runs sessions as processes: either all as the account the server runs as, or each as the account the client
/// authenticated as (which needs the server to run as root, and is what shhd does as root).
public struct SSHProcessSessionHandler: SSHSessionHandler {
    /// Whose account a session runs as.
    public enum Accounts: Sendable {
        /// The server's own account, whoever logged in (an embedded server, or sshd run by an ordinary user).
        case serverAccount
        /// The account named by the authenticated user name, its groups, gid and uid (the server must be root to
        /// run anyone else's; a session for a user that does not exist ends with status 254).
        case authenticatedUser
    }

    private let accounts: Accounts
    private let serverAccount: SSHSessionAccount
    private let supportsTerminalSessions: Bool

    /// - Parameters:
    ///   - accounts: whose account sessions run as.
    ///   - shell: the shell to run commands with instead of the account's login shell (from the password
    ///     database; /bin/sh if it has none).
    ///   - terminals: whether pty-req is accepted (default yes).
    ///   - messageOfTheDay: a file (sshd's /etc/motd with PrintMotd) shown before an interactive login shell on
    ///     a terminal, unless the account has ~/.hushlogin; nil: none.
    ///   - blocking: where account lookups, terminal set-up and the spawn run (they block; see SSHBlockingWorkPool).
    ///   - noLoginFiles: while one of these exists, only root's sessions start; anyone else is shown its text and
    ///     the session ends with status 254 (sshd's /etc/nologin; /run/nologin is what systemd makes at shutdown).
    public init(accounts: Accounts = .serverAccount, shell: String? = nil, terminals: Bool = true, messageOfTheDay: String? = nil,
                blocking: SSHBlockingWorkPool = .shared, noLoginFiles: [String] = ["/etc/nologin", "/run/nologin"]) {
        self.noLoginFiles = noLoginFiles
        self.accounts = accounts
        self.blocking = blocking
        self.messageOfTheDay = messageOfTheDay
        var account = SSHSessionAccount.current()
        if let shell { account.shell = shell }
        self.serverAccount = account
        self.shellOverride = shell
        self.supportsTerminalSessions = terminals
    }

    private let shellOverride: String?
    private let noLoginFiles: [String]
    private let messageOfTheDay: String?
    private let blocking: SSHBlockingWorkPool

    public var supportsTerminals: Bool { supportsTerminalSessions }

    public func runSession(_ session: SSHServerSession) async throws -> SSHSessionExit {
        let account: SSHSessionAccount
        switch accounts {
        case .serverAccount:
            account = serverAccount
        case .authenticatedUser:
            let user = session.user
            guard var found = try await blocking.run("the account lookup of \(user)", { SSHSessionAccount(named: user) }) else {
                try await session.channel.writeStderr(ByteBuffer(string: "no account \(session.user) on this server\n"))
                return .status(254)
            }
            if let shellOverride { found.shell = shellOverride }
            account = found
        }
        if account.uid != 0, !noLoginFiles.isEmpty {
            let files = noLoginFiles
            let notice = try await blocking.run("looking for /etc/nologin") { () -> [UInt8]? in
                for path in files where access(path, F_OK) == 0 {
                    return Self.readSmallFile(path) ?? Array("Logins are currently disabled.\n".utf8)
                }
                return nil
            }
            if let notice {
                try await session.channel.writeStderr(ByteBuffer(bytes: notice.isEmpty ? Array("Logins are currently disabled.\n".utf8) : notice))
                return .status(254)
            }
        }
        let changeUser = account.uid != getuid() || account.gid != getgid()

        let shellName = account.shell.split(separator: "/").last.map(String.init) ?? "sh"
        let arguments: [String]
        var originalCommand: String?
        switch (session.command, session.grant.forcedCommand) {
        case (.exec(let command), let forced?):
            originalCommand = String(decoding: command, as: UTF8.self)
            arguments = [shellName, "-c", forced]
        case (_, let forced?):
            arguments = [shellName, "-c", forced]
        case (.exec(let command), nil):
            arguments = [shellName, "-c", String(decoding: command, as: UTF8.self)]
        case (.shell, nil):
            arguments = ["-" + shellName]
        case (.subsystem(let name), nil):
            // Not reached: subsystem requests are refused (acceptsSubsystem). Fail closed all the same.
            try await session.channel.writeStderr(ByteBuffer(string: "subsystem \(name) is not available\n"))
            return .status(1)
        }
        var showsMessageOfTheDay = false
        if session.terminal != nil, case .shell = session.command, session.grant.forcedCommand == nil { showsMessageOfTheDay = true }
        let (request, motdPath) = (session.terminal, showsMessageOfTheDay ? messageOfTheDay : nil)
        // Without a terminal (most exec sessions) there is nothing to set up: no hop to the pool.
        let setUp: TerminalSetUp = request == nil ? TerminalSetUp() : try await blocking.run(
            "opening a terminal for \(account.name)",
            discardLate: { (late: TerminalSetUp) in if let terminal = late.terminal { close(terminal.controller); close(terminal.terminal) } }
        ) { () throws -> TerminalSetUp in
            let terminal = try request.map { try PseudoTerminal.open(request: $0, owner: account) }
            guard let motdPath, !SSHUserFile.exists(account.home + "/.hushlogin", as: account) else { return TerminalSetUp(terminal: terminal) }
            return TerminalSetUp(terminal: terminal, messageOfTheDay: Self.readSmallFile(motdPath))
        }
        let terminal = setUp.terminal
        if let text = setUp.messageOfTheDay {
            // Straight to the client (the terminal would hold it until the shell reads... nothing): a terminal's
            // output turns each newline into CR LF, so the message does too.
            var message = ByteBuffer()
            for byte in text { if byte == 0x0A { message.writeInteger(UInt8(0x0D)) }; message.writeInteger(byte) }
            try? await session.channel.write(message)
        }
        let child: SpawnedChild
        do {
            let variables = environment(for: session, account: account, terminal: terminal, originalCommand: originalCommand)
            child = try await blocking.run("starting \(account.shell) for \(account.name)", discardLate: { (late: SpawnedChild) in
                // Started after the session gave up on it: hung up and reaped, its descriptors closed.
                kill(-late.pid, SIGHUP)
                kill(late.pid, SIGKILL)
                for descriptor in [late.stdin, late.stdout] + (late.stderr.map { [$0] } ?? []) { close(descriptor) }
                Task { _ = await ChildProcess.exit(of: late.pid) }
            }) {
                try ChildProcess.spawn(path: account.shell, arguments: arguments, environment: variables, directory: account.home,
                                       account: account, changeUser: changeUser, terminal: terminal)
            }
        } catch {
            // The terminal was the spawn's to close, whether it failed or is still to run (then `discardLate` ends it).
            try? await session.channel.writeStderr(ByteBuffer(string: "\(error)\n"))
            return .status(254)
        }

        // Each direction is its own child task. The session ends when the command has exited and its output
        // reached EOF (after anything it left running closed it too, as with sshd). With a terminal, whatever is
        // still holding it gets a short moment after the command's exit, then the terminal is hung up, as sshd
        // does. Then input stops.
        enum Finished { case output, input(clientVanished: Bool), exit(ChildExit), hangUp }
        let ended = await withTaskGroup(of: Finished.self) { group -> ChildExit in
            let outputs = child.stderr == nil ? 1 : 2
            let output = OutputEnd()
            group.addTask { try? await self.forward(from: child.stdout, to: session.channel, stderr: false, end: output); return .output }
            if let stderr = child.stderr {
                group.addTask { try? await self.forward(from: stderr, to: session.channel, stderr: true, end: nil); return .output }
            }
            group.addTask {
                let vanished = await self.feed(session.channel, into: child.stdin, signalling: child.pid, terminal: terminal,
                                               closeAtEOF: terminal == nil)
                return .input(clientVanished: vanished)
            }
            group.addTask { .exit(await ChildProcess.exit(of: child.pid)) }
            var exit: ChildExit?
            var openOutputs = outputs
            while exit == nil || openOutputs > 0, let finished = await group.next() {
                switch finished {
                case .output: openOutputs -= 1
                case .input(let clientVanished) where exit == nil || clientVanished:
                    // The channel is gone (the client vanished or closed it) and the command still runs: hang it
                    // up, as a terminal's hang-up would, so nothing is left behind. A client that vanished hangs up
                    // whatever of its session's process group still runs after the shell too: it holds our pipes
                    // (CI once saw a session's last command outlive its killed shell and the connection).
                    kill(-child.pid, SIGHUP)
                case .input, .hangUp: break
                case .exit(let status):
                    exit = status
                    if terminal != nil {
                        group.addTask {
                            // What the shell wrote last is read first (the terminal holds it until read); then the
                            // terminal is closed, hanging up whatever still has it open.
                            await Self.waitUntilDrained(child.stdout)
                            await output.close()
                            return .hangUp
                        }
                    }
                }
            }
            group.cancelAll()
            return exit ?? .signaled(SIGKILL)
        }
        if terminal != nil { kill(-child.pid, SIGHUP) }
        switch ended {
        case .exited(let status): return .status(status)
        case .signaled(let signal): return .signal(SSHExitSignal(signalName: Self.signalName(signal)))
        }
    }

    /// A session's terminal (after pty-req) and the message of the day to show on it.
    private struct TerminalSetUp: Sendable {
        var terminal: PseudoTerminal? = nil
        var messageOfTheDay: [UInt8]? = nil
    }

    /// A file's bytes, up to 64 KiB (nil when unreadable, empty, or larger). Opened without waiting: a FIFO
    /// there must not hold the session.
    private static func readSmallFile(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 64 << 10)
        var total = 0
        while total < bytes.count {
            let count = bytes[total...].withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            total += count
        }
        return total > 0 && total < bytes.count ? Array(bytes.prefix(total)) : nil
    }

    /// Waits until the terminal's controlling side has had nothing to read for two checks in a row (50 ms apart),
    /// or ten seconds: long enough for a slow client to take the last output, short enough that a background job
    /// holding the terminal does not hold the session.
    private static func waitUntilDrained(_ controller: CInt) async {
        var quietChecks = 0
        for _ in 0..<200 where quietChecks < 2 {
            guard (try? await Task.sleep(for: .milliseconds(50))) != nil else { return }
            var pending: CInt = 0
            let empty = ioctl(controller, UInt(FIONREAD), &pending) != 0 || pending == 0
            quietChecks = empty ? quietChecks + 1 : 0
        }
    }

    /// The environment sshd gives a session: the account's, where the connection comes from, the terminal, the
    /// variables the client sent that the server accepts, then what the server sets (SetEnv, environment=), which
    /// nothing overrides.
    private func environment(for session: SSHServerSession, account: SSHSessionAccount, terminal: PseudoTerminal?,
                             originalCommand: String?) -> [String] {
        var variables: [String: String] = [
            "HOME": account.home, "USER": account.name, "LOGNAME": account.name, "SHELL": account.shell,
            "PATH": account.uid == 0 ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" : "/usr/local/bin:/usr/bin:/bin:/usr/games",
            "MAIL": "/var/mail/\(account.name)",
        ]
        if let remote = session.remoteAddress, let local = session.localAddress,
           let remoteIP = remote.ipAddress, let remotePort = remote.port, let localIP = local.ipAddress, let localPort = local.port {
            variables["SSH_CLIENT"] = "\(remoteIP) \(remotePort) \(localPort)"
            variables["SSH_CONNECTION"] = "\(remoteIP) \(remotePort) \(localIP) \(localPort)"
        }
        if let terminal, let request = session.terminal {
            variables["SSH_TTY"] = terminal.path
            variables["TERM"] = request.terminalType
        }
        if let originalCommand { variables["SSH_ORIGINAL_COMMAND"] = originalCommand }
        for (name, value) in session.environment where variables[name] == nil {
            variables[name] = String(decoding: value, as: UTF8.self)
        }
        for (name, value) in session.grant.environment { variables[name] = value }
        return variables.map { "\($0.key)=\($0.value)" }.sorted()
    }

    /// Copies one of the child's output pipes to the channel until EOF, on the connection's event loop: each read
    /// goes straight into the channel, and reading pauses while the channel's queue is full (the client's window
    /// is closed), so a slow client slows the command down instead of filling memory.
    private func forward(from descriptor: CInt, to channel: SSHChannel, stderr: Bool, end: OutputEnd?) async throws {
        let finished = channel.eventLoop.makePromise(of: Void.self)
        do {
            let pipe = try await NIOPipeBootstrap(group: channel.eventLoop)
                .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 65536, maximum: 262_144))
                .channelOption(.autoRead, value: true)
                .channelInitializer { pipeChannel in
                    pipeChannel.eventLoop.makeCompletedFuture {
                        try pipeChannel.pipeline.syncOperations.addHandler(
                            PipeToChannelHandler(channel: channel, stderr: stderr, finished: finished))
                    }
                }
                .takingOwnershipOfDescriptor(input: descriptor)
                .get()
            await end?.attach(pipe)
        } catch {
            finished.fail(error)
        }
        try await finished.futureResult.get()
    }

    /// Copies the channel's data to the child's stdin, closing it at the client's EOF (not a terminal's: closing
    /// it would hang up the session; sshd leaves it open too); delivers signal requests to the child's process
    /// group and window changes to the terminal. Each write is awaited until it reached the pipe, so a command
    /// that does not read holds the client back through the channel's window, and EOF follows the last byte.
    /// Returns whether the input ended because the client vanished (the connection or channel failed) rather than
    /// by EOF and CLOSE.
    private func feed(_ channel: SSHChannel, into descriptor: CInt, signalling pid: pid_t, terminal: PseudoTerminal?,
                      closeAtEOF: Bool) async -> Bool {
        guard let pipe = try? await NIOPipeBootstrap(group: channel.eventLoop).takingOwnershipOfDescriptor(output: descriptor).get() else {
            close(descriptor)
            return false
        }
        var vanished = false
        var writable = true
        do {
            for try await input in channel.input {
                switch input {
                case .data(let bytes) where writable:
                    // A command that stops reading (or exits) makes writes fail; the rest of stdin is dropped, as sshd does.
                    do { try await pipe.writeAndFlush(bytes) } catch { writable = false }
                case .eof where closeAtEOF:
                    writable = false
                    try? await pipe.close()
                case .request(.signal(let name)):
                    if let number = Self.signalNumber(name) { kill(-pid, number) }
                case .request(.windowChange(let size)) where terminal != nil:
                    // Through this task's own descriptor of the terminal, open until it returns.
                    PseudoTerminal.resize(descriptor, to: size)
                default:
                    break
                }
            }
        } catch {
            vanished = true
        }
        try? await pipe.close()
        return vanished
    }

    /// Signal names of RFC 4254 §6.10 and their numbers here.
    private static let signals: [(String, Int32)] = [
        ("ABRT", SIGABRT), ("ALRM", SIGALRM), ("FPE", SIGFPE), ("HUP", SIGHUP), ("ILL", SIGILL), ("INT", SIGINT),
        ("KILL", SIGKILL), ("PIPE", SIGPIPE), ("QUIT", SIGQUIT), ("SEGV", SIGSEGV), ("TERM", SIGTERM), ("USR1", SIGUSR1),
        ("USR2", SIGUSR2),
    ]

    static func signalNumber(_ name: String) -> Int32? { signals.first { $0.0 == name }?.1 }

    /// RFC 4254 names the common signals; others travel as "NUMBER@shh" so they stay recognisable.
    static func signalName(_ number: Int32) -> String { signals.first { $0.1 == number }?.0 ?? "\(number)@shh" }

}

/// The output side of a terminal session, closed by the session once its command has exited and had its moment.
private actor OutputEnd {
    private var channel: (any Channel)?
    private var closed = false

    func attach(_ channel: any Channel) {
        if closed { channel.close(promise: nil) } else { self.channel = channel }
    }

    func close() {
        closed = true
        channel?.close(promise: nil)
    }
}

/// Moves a pipe's bytes into an SSH channel on their shared event loop; completes `finished` once, at the pipe's
/// EOF (or when either side fails).
private final class PipeToChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let channel: SSHChannel
    private let stderr: Bool
    private let finished: EventLoopPromise<Void>
    private var ended = false

    init(channel: SSHChannel, stderr: Bool, finished: EventLoopPromise<Void>) {
        self.channel = channel
        self.stderr = stderr
        self.finished = finished
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            guard let drained = try channel.syncOperations.write(unwrapInboundIn(data), stderr: stderr) else { return }
            // The client's window is closed: read nothing more from the pipe until the queue drains (turning
            // autoRead back on reads again).
            context.channel.setOption(.autoRead, value: false).whenSuccess {}
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            drained.whenComplete { result in
                let (handler, context) = bound.value
                switch result {
                case .success: context.channel.setOption(.autoRead, value: true).whenSuccess {}
                case .failure(let error): handler.end(context, error)
                }
            }
        } catch {
            end(context, error)
        }
    }

    /// The pipe's EOF closes its channel (no half-closure on a read-only pipe): all output has been queued.
    func channelInactive(context: ChannelHandlerContext) {
        end(context, nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        end(context, error)
    }

    private func end(_ context: ChannelHandlerContext, _ error: (any Error)?) {
        guard !ended else { return }
        ended = true
        if let error { finished.fail(error) } else { finished.succeed() }
        context.close(promise: nil)
    }
}
