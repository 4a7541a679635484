// The async server: a ServiceLifecycle Service that accepts connections, runs the transport, authentication
// (deny by default) and the connection protocol, and hands each session (exec, shell, subsystem) to a handler.
import NIOConcurrencyHelpers
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SSHKeys
import SSHProtocol

/// What a session asked to run (RFC 4254 §6.5).
public enum SSHSessionCommand: Sendable, Equatable {
    /// exec: the command as sent (bytes: the client's locale need not be UTF-8).
    case exec([UInt8])
    /// shell: the user's default shell, usually interactive on a terminal.
    case shell
    /// subsystem: a named service such as "sftp"; only names the handler's `acceptsSubsystem(_:)` takes get here.
    case subsystem(String)
}

/// How a session ended, reported to the client as exit-status or exit-signal (RFC 4254 §6.10).
public enum SSHSessionExit: Sendable, Equatable {
    /// The command exited with this status (0 for success).
    case status(Int32)
    /// A signal ended the command.
    case signal(SSHExitSignal)
}

/// One session, from its exec/shell/subsystem request to its end: what an `SSHSessionHandler` is given to run.
///
/// By the time a handler sees it, the client's pty-req and accepted env requests are in `terminal` and
/// `environment`, and `grant` says what the login may do.
public struct SSHServerSession: Sendable {
    /// The authenticated user name.
    public let user: String
    /// What the client asked to run.
    public let command: SSHSessionCommand
    /// Variables the client sent with env requests that the configuration accepts (sshd's AcceptEnv).
    public let environment: [String: [UInt8]]
    /// The terminal the client asked for with pty-req, if any (only when the handler supports terminals).
    public let terminal: SSHPseudoTerminalRequest?
    /// Where the client connects from (for SSH_CLIENT and SSH_CONNECTION); nil when the transport has no address.
    public let remoteAddress: SocketAddress?
    /// The server's address the client connected to (for SSH_CONNECTION); nil when the transport has no address.
    public let localAddress: SocketAddress?
    /// stdin and window-change/signal/break requests in; stdout and stderr out.
    public let channel: SSHChannel
    /// What the login may do (a forced command, variables the server sets), as the authenticator granted it.
    public let grant: SSHLoginGrant
    /// The connection's number in this server (as in SSHServerConnectionInfo.connectionID).
    public let connectionID: UInt64
    /// The connection the session runs on: for channels to the client, such as the forwarded agent's.
    public let connection: SSHServerConnection?
    /// Whether the client asked for its agent (auth-agent-req@openssh.com) and `acceptsAgentForwarding(on:)` said
    /// yes: the handler makes a socket that reaches it (`SSHServerConnection.openChannel(.authAgent)`) and names it
    /// in SSH_AUTH_SOCK.
    public let agentForwarding: Bool
}

/// What a server's log records (one event per line in sshd's style): connections and sessions.
///
/// `SSHServer.Configuration.onEvent` receives each one; the configuration's logger logs them too.
public enum SSHServerEvent: Sendable {
    /// A TCP connection was accepted.
    case connectionOpened(remoteAddress: SocketAddress?, localAddress: SocketAddress?)
    /// A TCP connection was closed as soon as it was accepted, for `reason` (startup limits, a penalty).
    case connectionRefused(remoteAddress: SocketAddress?, localAddress: SocketAddress?, reason: String)
    /// A connection ended; `user` is empty when nobody had authenticated on it. `reason` says why in words (the
    /// peer's DISCONNECT, ours, an error, or the socket closing).
    case connectionClosed(remoteAddress: SocketAddress?, user: String, reason: String)
    /// A session began running its command or shell.
    case sessionStarted(SSHServerSessionRecord)
    /// A session ended with `exit` (nil: the handler failed) and this much data each way; nil traffic when the
    /// connection was gone before the end could be counted.
    case sessionEnded(SSHServerSessionRecord, exit: SSHSessionExit?, bytesReceived: UInt64?, bytesSent: UInt64?)
}

/// Which session an event is about.
public struct SSHServerSessionRecord: Sendable {
    /// The authenticated user the session runs for.
    public var user: String
    /// Where the client connects from; nil when the transport has no address.
    public var remoteAddress: SocketAddress?
    /// The server's number for the channel (sshd's "id").
    public var channel: UInt32
    /// What the session runs.
    public var command: SSHSessionCommand
    /// Whether the session has a pseudo-terminal.
    public var hasTerminal: Bool
}

/// Runs sessions (RFC 4254 §6). There is no default: a server without one refuses every session.
///
/// The server accepts a session channel, records its pty-req (when `supportsTerminals`) and accepted env requests,
/// and calls `runSession(_:)` when exec, shell or subsystem arrives. Sessions run as child tasks of
/// `SSHServer.run()` on Swift's cooperative pool: waiting belongs in `await`, never in a blocking call. SSHServerHost's
/// `SSHProcessSessionHandler` runs them as processes, as sshd does.
///
/// ```swift
/// struct Echo: SSHSessionHandler {
///     func runSession(_ session: SSHServerSession) async throws -> SSHSessionExit {
///         for try await input in session.channel.input {
///             if case .data(let bytes) = input { try await session.channel.write(bytes) }
///             if case .eof = input { break }
///         }
///         return .status(0)
///     }
/// }
/// ```
public protocol SSHSessionHandler: Sendable {
    /// Runs the session to its end; the result goes to the client as exit-status or exit-signal (a thrown error
    /// as exit status 255), followed by EOF and CLOSE.
    /// - Parameter session: the session: its user, command, environment, terminal and channel.
    /// - Returns: how the session ended.
    /// - Throws: anything, to end the session with exit status 255.
    func runSession(_ session: SSHServerSession) async throws -> SSHSessionExit
    /// Whether pty-req is accepted (and the terminal passed in `SSHServerSession.terminal`). Default false: the
    /// request is refused, so clients know they have no terminal.
    var supportsTerminals: Bool { get }
    /// Whether a subsystem request for `name` starts a session. Default false: refused.
    /// - Parameter name: the subsystem the client asked for, such as "sftp".
    /// - Returns: true to start the session with `.subsystem(name)`.
    func acceptsSubsystem(_ name: String) -> Bool
    /// Whether auth-agent-req@openssh.com is accepted for a session on `connection` (sshd's AllowAgentForwarding,
    /// no-agent-forwarding). Default false: refused.
    /// - Parameter connection: the connection, with its user and grant.
    /// - Returns: true to accept; the session then has `agentForwarding` set.
    func acceptsAgentForwarding(on connection: SSHServerConnection) -> Bool
}

extension SSHSessionHandler {
    /// No terminals: pty-req is refused.
    public var supportsTerminals: Bool { false }
    /// No subsystems: every subsystem request is refused.
    /// - Parameter name: the subsystem the client asked for.
    /// - Returns: false.
    public func acceptsSubsystem(_ name: String) -> Bool { false }
    /// No agent forwarding: auth-agent-req@openssh.com is refused.
    /// - Parameter connection: the connection, ignored.
    /// - Returns: false.
    public func acceptsAgentForwarding(on connection: SSHServerConnection) -> Bool { false }
}

/// An SSH server (RFC 4251–4254) as a ServiceLifecycle `Service`: run it in a `ServiceGroup`, or call `run()`.
/// Deny by default: without an authenticator nobody logs in, without a session handler every session is refused,
/// and without a connection delegate every global request and non-session channel is refused.
///
/// Everything a client can reach (packets, key exchange, authentication, channels, and the policies' decisions)
/// runs on NIO's event loops; session handlers and served channels run as child tasks of `run()`.
///
/// ```swift
/// // OneKey and Greeter are the authenticator and session handler of the getting-started article.
/// let hostKey = try SSHKeyFile.loadPrivateKey(atPath: "/etc/my-server/host_ed25519")
/// let server = SSHServer(configuration: .init(host: "0.0.0.0", port: 2222, hostKeys: [SSHServerHostKey(privateKey: hostKey)]),
///                        authenticator: OneKey(key: userKey), sessionHandler: Greeter())
/// let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
public final class SSHServer: Service, Sendable {
    /// What the server listens on, its host keys, algorithms and limits.
    public struct Configuration: Sendable {
        /// The address to listen on (127.0.0.1 by default: listening on every interface is a choice to make).
        public var host: String
        /// The port to listen on; 0 picks a free one (see `listeningPort`).
        public var port: Int
        /// A socket already bound and listening (shhd's network process gets its listeners from the root broker):
        /// served instead of binding `host` and `port`; the server owns it from `run()` on.
        public var listeningSocket: NIOBSDSocket.Handle?
        /// The host keys, one per type; the client's preference picks which one signs.
        public var hostKeys: [SSHServerHostKey]
        /// Key exchange, cipher, MAC and host key algorithms to offer, in order of preference.
        public var algorithms: SSHAlgorithms
        /// When we start a new key exchange (bytes, packets, time).
        public var rekeyLimits: SSHRekeyLimits
        /// Authentication attempts per connection and related limits.
        public var authentication: SSHServerAuthentication.Configuration
        /// Every failed authentication attempt is answered this long after its request arrived (doubled while the
        /// decision took longer), whatever the cause, so timing tells nothing about users or credentials. The
        /// "none" probe, whose answer is the same method list for everyone, is answered at once, as sshd does.
        /// Default 10 ms (sshd: 5–9.2 ms).
        public var authenticationFailureDelay: TimeAmount
        /// A connection not authenticated this long after it was accepted is closed (sshd's LoginGraceTime).
        public var loginGraceTime: TimeAmount
        /// Connections open at once; beyond it new ones are closed as soon as they are accepted. nil: no limit.
        public var maximumConnections: Int?
        /// Session channels open at once on one connection (sshd's MaxSessions); more are refused.
        public var maximumSessionsPerConnection: Int
        /// Windows, channels and unanswered requests per connection.
        public var connection: SSHConnectionConfiguration
        /// Send keepalive@openssh.com after this long without a word from an authenticated client, and end the
        /// connection after `clientAliveCountMax` in a row went unanswered (sshd's ClientAliveInterval and
        /// ClientAliveCountMax). nil (the default): never.
        public var clientAliveInterval: TimeAmount?
        /// Keepalives in a row without an answer before the connection ends (sshd's ClientAliveCountMax, 3).
        public var clientAliveCountMax: Int = 3
        /// Called for each connection and session event, on the connection's event loop (keep it short).
        public var onEvent: (@Sendable (SSHServerEvent) -> Void)?
        /// Where the server logs connections, authentications and sessions, with metadata (peer, user, channel,
        /// bytes). Silent by default.
        public var logger: Logger = .silent
        /// Environment variable names a client may set (sshd's AcceptEnv; none by default), patterns with * and ?.
        public var acceptedEnvironment: [String]
        /// Text shown to every client before it authenticates (sshd's Banner; RFC 4252 §5.4). nil: none.
        public var banner: String?
        /// Limits on connections not yet authenticated (MaxStartups, PerSourceMaxStartups, PerSourcePenalties),
        /// with their live counts: one gate shared by several servers (one per listening address) counts them
        /// all together, as sshd does. nil (the default for an embedded server): none; shhd sets sshd's.
        public var startupGate: SSHStartupGate?
        /// Signs for host keys given without their private half (`SSHServerHostKey(publicKey:)`): shhd's privilege
        /// broker holds its keys in another process. nil: every host key must carry its private key.
        public var hostKeySigner: (any SSHHostKeySigner)?
        /// TCP keepalives on every connection (sshd's TCPKeepAlive, on by default), so a peer that vanished is
        /// noticed even while nothing is being sent.
        public var tcpKeepAlive = true

        /// Listens on 127.0.0.1:22 by default with sshd's limits (MaxAuthTries 6, MaxSessions 10, LoginGraceTime 120 s).
        ///
        /// The other settings (keepalives, events, the logger, the banner, startup limits, the host key signer,
        /// TCP keepalives) are properties to set afterwards.
        /// - Parameters:
        ///   - host: the address to listen on.
        ///   - port: the port to listen on; 0 picks a free one.
        ///   - hostKeys: the host keys, one per type.
        ///   - algorithms: the algorithms to offer, in order of preference.
        ///   - rekeyLimits: when to start a new key exchange.
        ///   - authentication: attempts per connection and related limits.
        ///   - authenticationFailureDelay: how long after its request a failed attempt is answered.
        ///   - loginGraceTime: how long a connection may take to authenticate.
        ///   - maximumConnections: connections open at once; nil for no limit.
        ///   - maximumSessionsPerConnection: session channels open at once on one connection.
        ///   - connection: windows, channels and unanswered requests per connection.
        ///   - acceptedEnvironment: the variable names a client may set, patterns with * and ?.
        public init(host: String = "127.0.0.1", port: Int = 22, hostKeys: [SSHServerHostKey], algorithms: SSHAlgorithms = .defaults,
                    rekeyLimits: SSHRekeyLimits = SSHRekeyLimits(), authentication: SSHServerAuthentication.Configuration = .init(),
                    authenticationFailureDelay: TimeAmount = .milliseconds(10), loginGraceTime: TimeAmount = .seconds(120),
                    maximumConnections: Int? = nil, maximumSessionsPerConnection: Int = 10,
                    connection: SSHConnectionConfiguration = SSHConnectionConfiguration(role: .server), acceptedEnvironment: [String] = []) {
            self.host = host
            self.port = port
            self.hostKeys = hostKeys
            self.algorithms = algorithms
            self.rekeyLimits = rekeyLimits
            self.authentication = authentication
            self.authenticationFailureDelay = authenticationFailureDelay
            self.loginGraceTime = loginGraceTime
            self.maximumConnections = maximumConnections
            self.maximumSessionsPerConnection = maximumSessionsPerConnection
            self.connection = connection
            self.acceptedEnvironment = acceptedEnvironment
        }
    }

    /// Where an accepted connection is in its startup (see SSHStartupLimits).
    private final class StartupRecord {
        var finished = false
        var graceExceeded = false
    }

    /// One accepted connection, for limits and shutdown.
    private struct OpenConnection {
        var channel: any Channel
        var handler: NIOLoopBound<ConnectionHandler>
    }

    /// The configuration the server was made with.
    public let configuration: Configuration
    private let authenticator: any SSHServerAuthenticator
    private let sessionHandler: (any SSHSessionHandler)?
    private let connectionDelegate: (any SSHServerConnectionDelegate)?
    private let group: any EventLoopGroup
    private let bound: EventLoopPromise<Int>
    private let connections = NIOLockedValueBox<[ObjectIdentifier: OpenConnection]>([:])
    /// The last connection number given out (SSHServerConnectionInfo.connectionID).
    private let lastConnectionID = NIOLockedValueBox<UInt64>(0)

    /// A server with its policies; nothing listens until `run()`.
    /// - Parameters:
    ///   - configuration: what to listen on, the host keys, algorithms and limits.
    ///   - authenticator: who may log in (default: nobody).
    ///   - sessionHandler: runs exec, shell and subsystem sessions (default: none; sessions are refused).
    ///   - connectionDelegate: decides global requests and channels other than sessions (default: all refused).
    ///   - eventLoopGroup: the event loops connections run on.
    public init(configuration: Configuration, authenticator: any SSHServerAuthenticator = DenyAllAuthenticator(),
                sessionHandler: (any SSHSessionHandler)? = nil, connectionDelegate: (any SSHServerConnectionDelegate)? = nil,
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.authenticator = authenticator
        self.sessionHandler = sessionHandler
        self.connectionDelegate = connectionDelegate
        group = eventLoopGroup
        bound = eventLoopGroup.any().makePromise(of: Int.self)
    }

    /// The port the server listens on, once `run()` has bound it (useful with port 0). Waits until then.
    ///
    /// Throws what binding threw when `run()` could not listen.
    public var listeningPort: Int {
        get async throws { try await bound.futureResult.get() }
    }

    /// Connections open right now.
    public var connectionCount: Int { connections.withLockedValue { $0.count } }

    /// Serves until cancelled or told to shut down gracefully. A graceful shutdown stops accepting, refuses new
    /// channels, lets the open ones run to their end and closes each connection when its last channel has closed
    /// (unauthenticated and idle connections at once); `run()` returns when every connection is gone. Cancelling
    /// closes every connection at once.
    ///
    /// Session handlers and channels a delegate serves run as child tasks of this call: `run()` returns only
    /// after they have ended.
    /// - Throws: the error that kept the server from listening (the address in use, a bad listening socket).
    public func run() async throws {
        var configuration = self.configuration
        // Every event goes to the caller's callback and to the logger.
        let callback = configuration.onEvent
        let logger = configuration.logger
        configuration.onEvent = { event in
            callback?(event)
            event.log(to: logger)
        }
        let transport = SSHTransportConfiguration(role: .server(hostKeys: configuration.hostKeys), algorithms: configuration.algorithms,
                                                  rekeyLimits: configuration.rekeyLimits)
        let authenticator = self.authenticator
        let sessionHandler = self.sessionHandler
        let connectionDelegate = self.connectionDelegate
        let connections = self.connections
        let startupGate = configuration.startupGate
        let lastConnectionID = self.lastConnectionID
        let (jobs, jobSink) = AsyncStream.makeStream(of: ServerJob.self)
        let work = ServerWorkQueue(continuation: jobSink)
        let listener: any Channel
        do {
            listener = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.so_keepalive), value: configuration.tcpKeepAlive ? 1 : 0)
                .childChannelInitializer { [configuration] child in
                    child.eventLoop.makeCompletedFuture {
                        if let maximum = configuration.maximumConnections, connections.withLockedValue({ $0.count }) >= maximum {
                            throw SSHError(.connectionClosed)
                        }
                        if let startupGate, let refusal = startupGate.admit(child.remoteAddress) {
                            configuration.onEvent?(.connectionRefused(remoteAddress: child.remoteAddress, localAddress: child.localAddress, reason: refusal))
                            throw SSHError(.connectionClosed)
                        }
                        // Counted as a startup until it authenticates or ends; how it ended may earn its source a penalty.
                        let startup = NIOLoopBound(StartupRecord(), eventLoop: child.eventLoop)
                        let remote = child.remoteAddress
                        @Sendable func finishStartup(_ outcome: SSHStartupOutcome) {
                            guard !startup.value.finished else { return }
                            startup.value.finished = true
                            startupGate?.finished(remote, outcome: outcome)
                        }
                        // A pipeline that cannot be set up closes the connection before its close handler below
                        // exists: its startup is given back here, or MaxStartups would count it for ever.
                        var setUp = false
                        defer { if !setUp { finishStartup(.noAuthenticationAttempted) } }
                        let connectionID = lastConnectionID.withLockedValue { last -> UInt64 in last += 1; return last }
                        let transportHandler = SSHTransportHandler(server: transport, hostKeySigner: configuration.hostKeySigner, connectionID: connectionID)
                        try child.pipeline.syncOperations.addHandler(transportHandler)
                        let authenticationHandler = ServerAuthenticationHandler(
                            authenticator: authenticator, configuration: configuration.authentication,
                            failureDelay: configuration.authenticationFailureDelay, banner: configuration.banner, connectionID: connectionID,
                            logger: logger)
                        try child.pipeline.syncOperations.addHandler(authenticationHandler)
                        let boundAuthentication = NIOLoopBound(authenticationHandler, eventLoop: child.eventLoop)
                        let connection = ConnectionHandler(configuration: configuration.connection)
                        connection.onAuthenticated = { finishStartup(.authenticated) }
                        if let sessionHandler {
                            connection.serverPolicy = SessionController(handler: sessionHandler, acceptedEnvironment: configuration.acceptedEnvironment,
                                                                        maximumSessions: configuration.maximumSessionsPerConnection,
                                                                        eventLoop: child.eventLoop, work: work, connectionID: connectionID,
                                                                        onEvent: configuration.onEvent)
                        }
                        connection.serverDelegate = connectionDelegate
                        connection.connectionID = connectionID
                        connection.serverWork = work
                        if let interval = configuration.clientAliveInterval {
                            connection.keepaliveAfterAuthentication = (interval, max(1, configuration.clientAliveCountMax))
                        }
                        try child.pipeline.syncOperations.addHandler(connection)
                        let handler = NIOLoopBound(connection, eventLoop: child.eventLoop)
                        let graceTimer = child.eventLoop.scheduleTask(in: configuration.loginGraceTime) {
                            guard handler.value.user.isEmpty else { return }
                            startup.value.graceExceeded = true
                            let milliseconds = configuration.loginGraceTime.nanoseconds / 1_000_000
                            child.writeAndFlush(SSHTransportCommand.disconnect(
                                .byApplication, "not authenticated within the login grace time (\(milliseconds) ms)"), promise: nil)
                        }
                        let key = ObjectIdentifier(child)
                        connections.withLockedValue { $0[key] = OpenConnection(channel: child, handler: handler) }
                        let remoteAddress = child.remoteAddress
                        configuration.onEvent?(.connectionOpened(remoteAddress: remoteAddress, localAddress: child.localAddress))
                        let boundTransport = NIOLoopBound(transportHandler, eventLoop: child.eventLoop)
                        child.closeFuture.whenComplete { _ in
                            configuration.hostKeySigner?.connectionClosed(connectionID)
                            if startup.value.graceExceeded { finishStartup(.graceExceeded) }
                            else if boundAuthentication.value.failedAttempts > 0 { finishStartup(.authenticationFailed) }
                            else { finishStartup(.noAuthenticationAttempted) }
                            configuration.onEvent?(.connectionClosed(remoteAddress: remoteAddress, user: handler.value.user,
                                                                     reason: boundTransport.value.closeReason ?? "connection closed"))
                            graceTimer.cancel()
                            _ = connections.withLockedValue { $0.removeValue(forKey: key) }
                        }
                        setUp = true
                    }
                }
                .bindOrAdopt(configuration)
        } catch {
            bound.fail(error)
            throw error
        }
        bound.succeed(listener.localAddress?.port ?? configuration.port)
        // Sessions and served channels run as children of this task: cancelling run() cancels them, and run()
        // returns once they have ended.
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                defer { jobSink.finish() }
                try await Self.serve(listener: listener, connections: connections)
            }
            for await job in jobs {
                group.addTask { await job.run() }
            }
        }
    }

    /// Waits while the listener is open, then lets the open connections finish (graceful) unless cancelled.
    private static func serve(listener: any Channel, connections: NIOLockedValueBox<[ObjectIdentifier: OpenConnection]>) async throws {
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await listener.closeFuture.get()
            } onCancel: {
                listener.close(promise: nil)
            }
        } onGracefulShutdown: {
            listener.close(promise: nil)
        }
        let open = connections.withLockedValue { Array($0.values) }
        await withTaskCancellationHandler {
            for connection in open {
                connection.channel.eventLoop.execute { connection.handler.value.beginGracefulShutdown() }
            }
            for connection in open { try? await connection.channel.closeFuture.get() }
        } onCancel: {
            for connection in open { connection.channel.close(promise: nil) }
        }
    }
}

/// The per-connection session policy: accepts session channels, records pty-req and accepted env, and starts the
/// handler on exec/shell/subsystem; when it returns, sends exit-status or exit-signal, EOF and CLOSE.
final class SessionController: ServerSessionPolicy {
    private struct Pending {
        var stream: AsyncThrowingStream<SSHChannelInput, any Error>
        var closed: EventLoopFuture<Void>
        var environment: [String: [UInt8]] = [:]
        var terminal: SSHPseudoTerminalRequest?
        var agentForwarding = false
        var started = false
    }

    private let handler: any SSHSessionHandler
    private let acceptedEnvironment: [String]
    private let maximumSessions: Int
    private let eventLoop: any EventLoop
    private let onEvent: (@Sendable (SSHServerEvent) -> Void)?
    private var sessions: [SSHChannelID: Pending] = [:]

    private let connectionID: UInt64
    /// Runs session handlers as child tasks of the server's `run()`.
    private let work: ServerWorkQueue

    init(handler: any SSHSessionHandler, acceptedEnvironment: [String], maximumSessions: Int, eventLoop: any EventLoop,
         work: ServerWorkQueue, connectionID: UInt64 = 0, onEvent: (@Sendable (SSHServerEvent) -> Void)? = nil) {
        self.work = work
        self.handler = handler
        self.connectionID = connectionID
        self.onEvent = onEvent
        self.acceptedEnvironment = acceptedEnvironment
        self.maximumSessions = maximumSessions
        self.eventLoop = eventLoop
    }

    func acceptSession(_ channel: SSHChannelID, handler connection: ConnectionHandler) -> Bool {
        guard sessions.count < connection.grant.maximumSessions ?? maximumSessions else { return false }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: SSHChannelInput.self)
        guard let closed = connection.attach(channel, input: continuation) else { return false }
        sessions[channel] = Pending(stream: stream, closed: closed)
        // The future completes on this connection's event loop, where the controller lives.
        let controller = NIOLoopBound(self, eventLoop: eventLoop)
        closed.whenComplete { _ in controller.value.sessions.removeValue(forKey: channel) }
        return true
    }

    private func accepts(_ name: String, grant: SSHLoginGrant) -> Bool {
        (grant.acceptedEnvironment ?? acceptedEnvironment).contains { pattern in
            OpenSSHPattern.matches(name, pattern: pattern)
        } && grant.environment[name] == nil
    }

    static let maximumEnvironmentVariables = 128
    static let maximumEnvironmentBytes = 256 << 10
    static let maximumUnreadRequests = 64

    func sessionRequest(_ request: SSHChannelRequest, on channel: SSHChannelID, handler connection: ConnectionHandler) -> SessionRequestVerdict {
        guard var pending = sessions[channel] else { return .refuse }
        switch request {
        case .pseudoTerminal(let terminal) where !pending.started && handler.supportsTerminals && connection.grant.permitsTerminal:
            pending.terminal = terminal
        case .environment(let name, let value) where !pending.started:
            guard accepts(name, grant: connection.grant) else { return .refuse }
            // At most 128 variables (as sshd) and 256 KiB of them: each is held until the session starts.
            let size = pending.environment.reduce(0) { $0 + $1.key.utf8.count + $1.value.count }
            guard pending.environment[name] != nil || pending.environment.count < Self.maximumEnvironmentVariables,
                  size + name.utf8.count + value.count <= Self.maximumEnvironmentBytes else { return .refuse }
            pending.environment[name] = value
        case .exec(let command) where !pending.started:
            start(&pending, .exec(command), channel: channel, connection: connection)
        case .shell where !pending.started:
            start(&pending, .shell, channel: channel, connection: connection)
        case .authAgent where !pending.started:
            guard let serverConnection = connection.serverConnection(connectionID: connectionID),
                  handler.acceptsAgentForwarding(on: serverConnection) else { return .refuse }
            pending.agentForwarding = true
        case .subsystem(let name) where !pending.started && handler.acceptsSubsystem(name):
            start(&pending, .subsystem(name), channel: channel, connection: connection)
        case .windowChange, .signal, .break:
            // Delivered to the session's input, which its handler may not read soon: past a cap they are refused.
            return pending.started && connection.unreadRequests(on: channel) < Self.maximumUnreadRequests ? .acceptAndDeliver : .refuse
        default:
            // x11-req and anything unknown are refused.
            return .refuse
        }
        sessions[channel] = pending
        return .accept
    }

    private func start(_ pending: inout Pending, _ command: SSHSessionCommand, channel id: SSHChannelID, connection: ConnectionHandler) {
        pending.started = true
        let bound = NIOLoopBound(connection, eventLoop: eventLoop)
        let channel = SSHChannel(id: id, handler: bound, eventLoop: eventLoop, stream: pending.stream, closed: pending.closed,
                                 windowSize: connection.connection.configuration.window.windowSize)
        let session = SSHServerSession(user: connection.user, command: command, environment: pending.environment,
                                       terminal: pending.terminal, remoteAddress: connection.remoteAddress,
                                       localAddress: connection.localAddress, channel: channel, grant: connection.grant,
                                       connectionID: connectionID, connection: connection.serverConnection(connectionID: connectionID),
                                       agentForwarding: pending.agentForwarding)
        let handler = self.handler
        let record = SSHServerSessionRecord(user: connection.user, remoteAddress: connection.remoteAddress, channel: id.rawValue,
                                            command: command, hasTerminal: pending.terminal != nil)
        let onEvent = self.onEvent
        onEvent?(.sessionStarted(record))
        let finished = eventLoop.makePromise(of: SSHSessionExit.self)
        let ran = eventLoop.makePromise(of: Void.self)
        ran.futureResult.whenFailure { finished.fail($0) }
        work.submit(done: ran) { finished.succeed(try await handler.runSession(session)) }
        finished.futureResult.whenComplete { result in
            if let onEvent {
                let traffic = bound.value.traffic(on: id)
                onEvent(.sessionEnded(record, exit: try? result.get(), bytesReceived: traffic?.received, bytesSent: traffic?.sent))
            }
            switch result {
            case .success(.status(let status)): bound.value.sendFinal(.exitStatus(UInt32(bitPattern: status)), on: id)
            case .success(.signal(let signal)): bound.value.sendFinal(.exitSignal(signal), on: id)
            case .failure: bound.value.sendFinal(.exitStatus(255), on: id)
            }
        }
    }
}

extension ServerBootstrap {
    /// Binds the configured address, or takes over the listening socket the configuration hands in.
    fileprivate func bindOrAdopt(_ configuration: SSHServer.Configuration) async throws -> any Channel {
        if let socket = configuration.listeningSocket {
            return try await withBoundSocket(socket).get()
        }
        return try await bind(host: configuration.host, port: configuration.port).get()
    }
}
