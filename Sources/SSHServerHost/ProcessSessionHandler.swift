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
import SSHPOSIX
import NIOPosix
import SSH
import SSHForwarding
import SSHProtocol
import Synchronization

/// Runs sessions as processes: either all as the account the server runs as, or each as the account the client
/// authenticated as (which needs the server to run as root, and is what shhd does as root).
///
/// exec runs `$SHELL -c command`, shell a login shell; stdin comes from the channel, stdout goes out as channel
/// data and stderr as extended data, signal requests reach the session's process group, and the session ends with
/// exit-status or exit-signal. A slow client slows the command down instead of filling memory.
///
/// ```swift
/// let handler = SSHProcessSessionHandler(accounts: .authenticatedUser, messageOfTheDay: "/etc/motd")
/// ```
public struct SSHProcessSessionHandler: SSHSessionHandler {
    /// Whose account a session runs as.
    public enum Accounts: Sendable {
        /// The server's own account, whoever logged in (an embedded server, or sshd run by an ordinary user).
        case serverAccount
        /// The account named by the authenticated user name, its groups, gid and uid (the server must be root to
        /// run anyone else's; a session for a user that does not exist ends with status 254).
        case authenticatedUser
    }

    private let launcher: any SSHSessionLauncher
    private let supportsTerminalSessions: Bool
    private var agentForwarding: AgentForwarding?

    /// How sessions get a forwarded agent (OpenSSH PROTOCOL.agent; sshd's session.c does the same): whether a
    /// connection may have one, and who makes its socket with the user's rights.
    public struct AgentForwarding: Sendable {
        /// Makes and removes the socket (as the user: shhd's broker when it runs as root).
        public var host: any SSHForwardingHost
        /// Whether auth-agent-req@openssh.com is accepted on a connection (AllowAgentForwarding, DisableForwarding,
        /// no-agent-forwarding); by default, the login's grant.
        public var permits: @Sendable (SSHServerConnection) -> Bool
        /// Told why a session's agent socket could not be made (the session goes on without it), for the log.
        public var onFailure: (@Sendable (String) -> Void)?

        /// Agent forwarding through `host`, as `permits` allows it.
        ///
        /// - Parameters:
        ///   - host: Makes the socket with the user's rights.
        ///   - permits: Whether a connection may forward its agent; default: its grant's `permitsAgentForwarding`.
        public init(host: any SSHForwardingHost,
                    permits: @escaping @Sendable (SSHServerConnection) -> Bool = { $0.grant.permitsAgentForwarding }) {
            self.host = host
            self.permits = permits
        }
    }

    /// The same handler, forwarding the client's agent into sessions whose connection `agentForwarding` permits:
    /// a socket in a private directory named in SSH_AUTH_SOCK, gone when the session ends.
    ///
    /// - Parameter agentForwarding: The host that makes the socket, and the permission.
    /// - Returns: The handler with agent forwarding.
    public func forwardingAgents(_ agentForwarding: AgentForwarding) -> SSHProcessSessionHandler {
        var handler = self
        handler.agentForwarding = agentForwarding
        return handler
    }

    /// Whether auth-agent-req@openssh.com is accepted: only with agent forwarding set up, as it permits.
    ///
    /// - Parameter connection: The connection asking.
    /// - Returns: Whether the session may have the client's agent.
    public func acceptsAgentForwarding(on connection: SSHServerConnection) -> Bool {
        agentForwarding?.permits(connection) ?? false
    }

    /// Sessions started in this process by an ``SSHLocalSessionLauncher``.
    ///
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
        self.init(launcher: SSHLocalSessionLauncher(accounts: accounts, shell: shell, messageOfTheDay: messageOfTheDay, blocking: blocking,
                                                    noLoginFiles: noLoginFiles),
                  terminals: terminals)
    }

    /// Serves sessions that `launcher` starts (shhd's network process: the root broker starts them).
    ///
    /// - Parameters:
    ///   - launcher: Starts each session's process.
    ///   - terminals: Whether pty-req is accepted.
    public init(launcher: any SSHSessionLauncher, terminals: Bool = true) {
        self.launcher = launcher
        self.supportsTerminalSessions = terminals
    }

    /// Whether pty-req is accepted (the `terminals` given at creation).
    public var supportsTerminals: Bool { supportsTerminalSessions }

    /// Starts the session's process through the launcher and serves it until it has exited and its output is
    /// drained. A refused launch writes its message to the client's stderr.
    ///
    /// - Parameter session: The session the client opened.
    /// - Returns: The process's exit status, or the signal that ended it.
    /// - Throws: What the launcher throws, or the failed write of a refusal's message; a channel that fails
    ///   mid-session hangs the process up instead.
    public func runSession(_ session: SSHServerSession) async throws -> SSHSessionExit {
        var request = SSHSessionLaunchRequest(session)
        // The agent's socket lives as long as the session (sshd: as long as the connection's first session that
        // asked; per session is the tighter bound). One that cannot be made leaves the session without it, as sshd.
        var agent: SSHForwardedAgentListener?
        if session.agentForwarding, let agentForwarding, let connection = session.connection {
            do {
                agent = try await SSHForwardedAgentListener.start(for: connection, host: agentForwarding.host)
                request.agentSocket = agent?.path
            } catch {
                agentForwarding.onFailure?("agent forwarding for \(session.user): \(error)")
            }
        }
        do {
            let exit = try await runSession(session, request: request)
            await agent?.close()
            return exit
        } catch {
            await agent?.close()
            throw error
        }
    }

    private func runSession(_ session: SSHServerSession, request: SSHSessionLaunchRequest) async throws -> SSHSessionExit {
        let child: SSHLaunchedSession
        switch try await launcher.launch(request) {
        case .refused(let message, let status):
            try await session.channel.writeStderr(ByteBuffer(bytes: message))
            return .status(status)
        case .started(let started):
            child = started
        }
        let hasTerminal = child.hasTerminal
        if let text = child.messageOfTheDay {
            // Straight to the client (the terminal would hold it until the shell reads... nothing): a terminal's
            // output turns each newline into CR LF, so the message does too.
            var message = ByteBuffer()
            for byte in text { if byte == 0x0A { message.writeInteger(UInt8(0x0D)) }; message.writeInteger(byte) }
            try? await session.channel.write(message)
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
                let vanished = await self.feed(session.channel, into: child.stdin, signal: child.signal, terminal: hasTerminal,
                                               closeAtEOF: !hasTerminal)
                return .input(clientVanished: vanished)
            }
            group.addTask { .exit(await Self.exitUnlessCancelled(child.exit)) }
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
                    child.signal(SIGHUP)
                case .input, .hangUp: break
                case .exit(let status):
                    exit = status
                    if hasTerminal {
                        group.addTask {
                            // What the shell wrote last is read first (the terminal holds it until read); then the
                            // terminal is closed, hanging up whatever still has it open.
                            await Self.waitUntilDrained(child.stdout, on: session.channel.eventLoop)
                            await output.close()
                            return .hangUp
                        }
                    }
                }
            }
            group.cancelAll()
            return exit ?? .signaled(SIGKILL)
        }
        if hasTerminal { child.signal(SIGHUP) }
        switch ended {
        case .exited(let status): return .status(status)
        case .signaled(let signal): return .signal(SSHExitSignal(signalName: Self.signalName(signal)))
        }
    }

    /// Waits until the terminal's controlling side has had nothing to read for two checks in a row (50 ms apart),
    /// or ten seconds: long enough for a slow client to take the last output, short enough that a background job
    /// holding the terminal does not hold the session.
    /// The pauses are the event loop's timers rather than Task.sleep, which waits on libdispatch's pool (shhd's
    /// chrooted network process must not; see its NetworkProcessExecutor).
    private static func waitUntilDrained(_ controller: CInt, on eventLoop: any EventLoop) async {
        var quietChecks = 0
        for _ in 0..<200 where quietChecks < 2 {
            guard !Task.isCancelled, (try? await eventLoop.scheduleTask(in: .milliseconds(50)) {}.futureResult.get()) != nil else { return }
            var pending: CInt = 0
            let empty = ioctl(controller, UInt(FIONREAD), &pending) != 0 || pending == 0
            quietChecks = empty ? quietChecks + 1 : 0
        }
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
        // Cancelled (the server stopping hard): stop forwarding now; a process that keeps the pipe open must not
        // hold the session, and so the server's run(), open.
        try await withTaskCancellationHandler {
            try await finished.futureResult.get()
        } onCancel: {
            finished.fail(CancellationError())
        }
    }

    /// The child's exit; or, when the session is cancelled (the server stopping hard), `.signaled(SIGHUP)` at once:
    /// the process has been hung up, and one that ignores that must not keep the server's `run()` from returning.
    /// It is left to end on its own, as sshd leaves it, and its reaper still collects it then.
    private static func exitUnlessCancelled(_ exit: @escaping @Sendable () async -> ChildExit) async -> ChildExit {
        let waiter = ExitWaiter()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiter.continuation.withLock { $0 = continuation }
                if Task.isCancelled { waiter.resume(.signaled(SIGHUP)) }
                // Unstructured on purpose, and the only such task: it does nothing but wait for the process, and
                // ends when the process does.
                Task { waiter.resume(await exit()) }
            }
        } onCancel: {
            waiter.resume(.signaled(SIGHUP))
        }
    }

    /// Copies the channel's data to the child's stdin, closing it at the client's EOF (not a terminal's: closing
    /// it would hang up the session; sshd leaves it open too); delivers signal requests to the child's process
    /// group and window changes to the terminal. Each write is awaited until it reached the pipe, so a command
    /// that does not read holds the client back through the channel's window, and EOF follows the last byte.
    /// Returns whether the input ended because the client vanished (the connection or channel failed) rather than
    /// by EOF and CLOSE.
    private func feed(_ channel: SSHChannel, into descriptor: CInt, signal: @Sendable (Int32) -> Void, terminal: Bool,
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
                    if let number = Self.signalNumber(name) { signal(number) }
                case .request(.windowChange(let size)) where terminal:
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

    /// The number of a signal named as RFC 4254 §6.10 names it ("TERM", "HUP").
    ///
    /// - Parameter name: The name without "SIG".
    /// - Returns: Its number here, or nil for a name outside the RFC's list.
    public static func signalNumber(_ name: String) -> Int32? { signals.first { $0.0 == name }?.1 }

    /// RFC 4254 names the common signals; others travel as "NUMBER@shh" so they stay recognisable.
    ///
    /// - Parameter number: A signal number.
    /// - Returns: The name exit-signal carries.
    public static func signalName(_ number: Int32) -> String { signals.first { $0.1 == number }?.0 ?? "\(number)@shh" }

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

/// Whoever comes first — the process's exit or the session's cancellation — resumes the waiting session.
private final class ExitWaiter: Sendable {
    let continuation = Mutex<CheckedContinuation<ChildExit, Never>?>(nil)

    func resume(_ exit: ChildExit) {
        continuation.withLock { $0.take() }?.resume(returning: exit)
    }
}
