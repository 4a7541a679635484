// Runs SSH sessions (RFC 4254 §6.5) as processes of the server's own user, the way sshd does for an exec or shell
// request without a terminal: `$SHELL -c command` for exec, a login shell for shell, a clean environment, stdin from
// the channel, stdout as channel data and stderr as extended data, then exit-status or exit-signal. Pipes are served
// by NIO (reads straight into ByteBuffers, writes that wait for the channel's window), so a slow client slows the
// command down instead of filling memory.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOPosix
import SSH
import SSHProtocol

/// Runs every session as the user the server runs as (like sshd started by an ordinary user), with that user's
/// login shell. No terminals yet (pty-req is refused) and no subsystems (refused), so nothing is half-done.
public struct SSHProcessSessionHandler: SSHSessionHandler {
    private let account: Account

    /// - Parameter shell: the shell to run commands with; default the user's login shell from the password
    ///   database (/bin/sh if it has none). The session's pipes are served on its connection's event loop.
    public init(shell: String? = nil) {
        var account = Account.current()
        if let shell { account.shell = shell }
        self.account = account
    }

    public func runSession(_ session: SSHServerSession) async throws -> SSHSessionExit {
        let shellName = account.shell.split(separator: "/").last.map(String.init) ?? "sh"
        let arguments: [String]
        switch session.command {
        case .exec(let command):
            arguments = [shellName, "-c", String(decoding: command, as: UTF8.self)]
        case .shell:
            arguments = ["-" + shellName]
        case .subsystem(let name):
            // Not reached: subsystem requests are refused (acceptsSubsystem). Fail closed all the same.
            try await session.channel.writeStderr(ByteBuffer(string: "subsystem \(name) is not available\n"))
            return .status(1)
        }
        let child = try ChildProcess.spawn(path: account.shell, arguments: arguments, environment: environment(for: session))

        // Each direction is its own child task. The session ends when the command has exited and its output pipes
        // reached EOF (after anything it left running closed them too, as with sshd); then input stops.
        enum Finished { case output, input, exit(ChildExit) }
        let ended = await withTaskGroup(of: Finished.self) { group -> ChildExit in
            group.addTask { try? await self.forward(from: child.stdout, to: session.channel, stderr: false); return .output }
            group.addTask { try? await self.forward(from: child.stderr, to: session.channel, stderr: true); return .output }
            group.addTask { await self.feed(session.channel, into: child.stdin, signalling: child.pid); return .input }
            group.addTask { .exit(await ChildProcess.exit(of: child.pid)) }
            var exit: ChildExit?
            var openOutputs = 2
            while exit == nil || openOutputs > 0, let finished = await group.next() {
                switch finished {
                case .output: openOutputs -= 1
                case .input: break
                case .exit(let status): exit = status
                }
            }
            group.cancelAll()
            return exit ?? .signaled(SIGKILL)
        }
        switch ended {
        case .exited(let status): return .status(status)
        case .signaled(let signal): return .signal(SSHExitSignal(signalName: Self.signalName(signal)))
        }
    }

    /// The environment sshd gives a session (without a terminal): the account's, where the connection comes from,
    /// and the variables the client sent that the server accepts.
    private func environment(for session: SSHServerSession) -> [String] {
        var variables: [String: String] = [
            "HOME": account.home, "USER": account.name, "LOGNAME": account.name, "SHELL": account.shell,
            "PATH": account.uid == 0 ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" : "/usr/local/bin:/usr/bin:/bin:/usr/games",
        ]
        if let remote = session.remoteAddress, let local = session.localAddress,
           let remoteIP = remote.ipAddress, let remotePort = remote.port, let localIP = local.ipAddress, let localPort = local.port {
            variables["SSH_CLIENT"] = "\(remoteIP) \(remotePort) \(localPort)"
            variables["SSH_CONNECTION"] = "\(remoteIP) \(remotePort) \(localIP) \(localPort)"
        }
        for (name, value) in session.environment where variables[name] == nil {
            variables[name] = String(decoding: value, as: UTF8.self)
        }
        return variables.map { "\($0.key)=\($0.value)" }.sorted()
    }

    /// Copies one of the child's output pipes to the channel until EOF, on the connection's event loop: each read
    /// goes straight into the channel, and reading pauses while the channel's queue is full (the client's window
    /// is closed), so a slow client slows the command down instead of filling memory.
    private func forward(from descriptor: CInt, to channel: SSHChannel, stderr: Bool) async throws {
        let finished = channel.eventLoop.makePromise(of: Void.self)
        do {
            _ = try await NIOPipeBootstrap(group: channel.eventLoop)
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
        } catch {
            finished.fail(error)
        }
        try await finished.futureResult.get()
    }

    /// Copies the channel's data to the child's stdin, closing it at the client's EOF; delivers signal requests to
    /// the child's process group. Each write is awaited until it reached the pipe, so a command that does not read
    /// holds the client back through the channel's window, and EOF follows the last byte.
    private func feed(_ channel: SSHChannel, into descriptor: CInt, signalling pid: pid_t) async {
        guard let pipe = try? await NIOPipeBootstrap(group: channel.eventLoop).takingOwnershipOfDescriptor(output: descriptor).get() else {
            close(descriptor)
            return
        }
        var writable = true
        do {
            for try await input in channel.input {
                switch input {
                case .data(let bytes) where writable:
                    // A command that stops reading (or exits) makes writes fail; the rest of stdin is dropped, as sshd does.
                    do { try await pipe.writeAndFlush(bytes) } catch { writable = false }
                case .eof:
                    writable = false
                    try? await pipe.close()
                case .request(.signal(let name)):
                    if let number = Self.signalNumber(name) { kill(-pid, number) }
                default:
                    break
                }
            }
        } catch {}
        try? await pipe.close()
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

    public var supportsTerminals: Bool { false }
}

/// The account the server runs as, from the password database.
struct Account {
    var name: String
    var uid: uid_t
    var home: String
    var shell: String

    static func current() -> Account {
        let uid = getuid()
        guard let entry = getpwuid(uid) else { return Account(name: "\(uid)", uid: uid, home: "/", shell: "/bin/sh") }
        let shell = entry.pointee.pw_shell.map { String(cString: $0) } ?? ""
        return Account(name: String(cString: entry.pointee.pw_name), uid: uid, home: String(cString: entry.pointee.pw_dir),
                       shell: shell.isEmpty ? "/bin/sh" : shell)
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
