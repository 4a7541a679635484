// The async client: connect, verify the host key, authenticate, then run commands and sessions on channels.
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SSHKeys
import SSHProtocol

/// An SSH client connection (RFC 4251–4254): connected, host key checked and authenticated by `connect`, then
/// commands, sessions and other channels on it. Safe to share between tasks.
///
/// `close()` ends it politely; `withConnection` closes it however its body ends; and a client that is no longer
/// referenced (nor any channel opened on it) closes its connection by itself.
///
/// ```swift
/// let uptime = try await SSHClient.withConnection(
///     host: "example.com", user: "me", credentials: [.privateKey(key)], hostKeyValidator: .knownHosts()
/// ) { client in
///     try await client.run("uptime", check: true)
/// }
/// ```
public final class SSHClient: Sendable {
    /// How the client connects: algorithms, rekey limits, timeouts and keepalives.
    public struct Configuration: Sendable {
        /// Key exchange, cipher, MAC and host key algorithms to offer, in order of preference.
        public var algorithms: SSHAlgorithms
        /// When we start a new key exchange (bytes, packets, time).
        public var rekeyLimits: SSHRekeyLimits
        /// How long connecting and the key exchange may take, up to the moment the server's host key is to be
        /// checked (ssh's ConnectTimeout covers the TCP part and the banner; this also bounds a server that stalls).
        public var connectTimeout: TimeAmount
        /// How long checking the host key and authenticating may take after that; nil for no limit, for a client
        /// that asks a person (host key question, password, passphrase), as ssh does — the server's LoginGraceTime
        /// still bounds it.
        public var authenticationTimeout: TimeAmount?
        /// Send keepalive@openssh.com after this long without a word from the server (ssh's
        /// ServerAliveInterval); nil sends none, as ssh by default.
        public var keepaliveInterval: TimeAmount?
        /// End the connection when this many keepalives in a row went unanswered (ssh's ServerAliveCountMax).
        public var keepaliveMaximumUnanswered: Int
        /// Where the client logs connecting, authenticating, channels and the end of the connection, with metadata
        /// (peer, user, channel). Silent by default.
        public var logger: Logger = .silent

        /// The defaults are OpenSSH's: modern algorithms, rekey after 1 GiB or an hour, no keepalives.
        ///
        /// The logger is not a parameter: set `logger` afterwards.
        ///
        /// ```swift
        /// var configuration = SSHClient.Configuration(connectTimeout: .seconds(10), keepaliveInterval: .seconds(30))
        /// configuration.logger = Logger(label: "my-tool.ssh")
        /// ```
        /// - Parameters:
        ///   - algorithms: the algorithms to offer, in order of preference.
        ///   - rekeyLimits: when to start a new key exchange.
        ///   - connectTimeout: the limit on connecting and the key exchange, up to the host key check.
        ///   - authenticationTimeout: the limit on the host key check and authentication; nil for none.
        ///   - keepaliveInterval: the quiet time after which a keepalive is sent; nil sends none.
        ///   - keepaliveMaximumUnanswered: keepalives in a row without an answer before the connection ends.
        public init(algorithms: SSHAlgorithms = .defaults, rekeyLimits: SSHRekeyLimits = SSHRekeyLimits(),
                    connectTimeout: TimeAmount = .seconds(30), authenticationTimeout: TimeAmount? = .seconds(30),
                    keepaliveInterval: TimeAmount? = nil, keepaliveMaximumUnanswered: Int = 3) {
            self.algorithms = algorithms
            self.rekeyLimits = rekeyLimits
            self.connectTimeout = connectTimeout
            self.authenticationTimeout = authenticationTimeout
            self.keepaliveInterval = keepaliveInterval
            self.keepaliveMaximumUnanswered = keepaliveMaximumUnanswered
        }
    }

    let channel: any Channel
    let connection: NIOLoopBound<ConnectionHandler>
    /// Closes the connection once neither this client nor any of its channels is referenced.
    let lifetime: SSHConnectionLifetime
    /// The configuration's logger, with the peer in its metadata.
    package let logger: Logger
    /// What the first key exchange settled on, with the session identifier.
    public let negotiatedAlgorithms: SSHNegotiatedAlgorithms

    private init(channel: any Channel, connection: NIOLoopBound<ConnectionHandler>, negotiatedAlgorithms: SSHNegotiatedAlgorithms,
                 logger: Logger, peer: String) {
        self.channel = channel
        self.connection = connection
        self.negotiatedAlgorithms = negotiatedAlgorithms
        var logger = logger
        logger[metadataKey: "peer"] = "\(peer)"
        self.logger = logger
        lifetime = SSHConnectionLifetime(channel: channel)
        channel.closeFuture.whenComplete { [logger] _ in logger.info("disconnected") }
    }

    /// Connects as `connect(host:port:user:credentials:hostKeyValidator:...)` does, runs `body` with the client,
    /// and closes the connection however `body` ends (returning, throwing or cancelled).
    ///
    /// Prefer it to `connect` when the connection serves one piece of work: nothing can leave it open.
    ///
    /// ```swift
    /// let key = try SSHKeyFile.loadPrivateKey(atPath: "/home/me/.ssh/id_ed25519")
    /// let kernel = try await SSHClient.withConnection(
    ///     host: "example.com", user: "me", credentials: [.privateKey(key)], hostKeyValidator: .knownHosts()
    /// ) { client in
    ///     try await client.run("uname -s", check: true)
    /// }
    /// ```
    /// - Parameters:
    ///   - host: the server's name or address.
    ///   - port: the server's TCP port.
    ///   - user: the account to log in as.
    ///   - credentials: what to authenticate with, tried in order.
    ///   - hostKeyValidator: decides whether the server's host key is the expected one.
    ///   - configuration: algorithms, timeouts, keepalives and the logger.
    ///   - body: the work to do on the connection.
    /// - Returns: what `body` returns.
    /// - Throws: `SSHError` when connecting fails, or what `body` throws.
    public static func withConnection<Result: Sendable>(
        host: String, port: Int = 22, user: String, credentials: [SSHClientCredential],
        hostKeyValidator: any SSHHostKeyValidator, configuration: Configuration = Configuration(),
        _ body: (SSHClient) async throws -> Result
    ) async throws -> Result {
        let client = try await connect(host: host, port: port, user: user, credentials: credentials,
                                       hostKeyValidator: hostKeyValidator, configuration: configuration)
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }

    /// Connects over TCP, checks the server's host key with `hostKeyValidator`, and authenticates `user` with the
    /// first of `credentials` the server accepts.
    ///
    /// Credentials the server does not allow are skipped; each one it allows is tried once, in order. The
    /// connection stays open until `close()`, until the server ends it, or until neither the client nor any of
    /// its channels is referenced any more.
    ///
    /// ```swift
    /// let client = try await SSHClient.connect(
    ///     host: "example.com", port: 2222, user: "me",
    ///     credentials: [.privateKey(key), .passwordPrompt { readPassword() }],
    ///     hostKeyValidator: .knownHosts(unknownHosts: .acceptAndRecord))
    /// print(try await client.run("uptime"))
    /// await client.close()
    /// ```
    /// - Parameters:
    ///   - host: the server's name or address.
    ///   - port: the server's TCP port.
    ///   - user: the account to log in as.
    ///   - credentials: what to authenticate with, tried in order.
    ///   - hostKeyValidator: decides whether the server's host key is the expected one.
    ///   - configuration: algorithms, timeouts, keepalives and the logger.
    ///   - onBanner: called with the server's banner text (RFC 4252 §5.4), if it sends one. The text is the
    ///     server's, unfiltered: show it through SSHProtocol's `PeerText.forTerminal(_:)`.
    ///   - onAuthenticationProgress: called as authentication goes on, for a client that reports it.
    ///   - eventLoopGroup: where the connection's event loop comes from.
    /// - Returns: the connected, authenticated client.
    /// - Throws: `SSHError`: `connectFailed`, `unresolvableHost`, `timedOut`, `hostKeyRejected`,
    ///   `authenticationFailed`, `credentialFailed`, `disconnected`, `protocolFailure`, ...;
    ///   `CancellationError` when the calling task is cancelled.
    public static func connect(
        host: String, port: Int = 22, user: String, credentials: [SSHClientCredential],
        hostKeyValidator: any SSHHostKeyValidator, configuration: Configuration = Configuration(),
        onBanner: (@Sendable (String) -> Void)? = nil,
        onAuthenticationProgress: (@Sendable (SSHClientAuthenticationProgress) -> Void)? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> SSHClient {
        try await establish(host: host, port: port, user: user, credentials: credentials, hostKeyValidator: hostKeyValidator,
                            configuration: configuration, onBanner: onBanner, onProgress: onAuthenticationProgress,
                            eventLoop: eventLoopGroup.next()) { eventLoop, initializer in
            try await ClientBootstrap(group: eventLoop)
                .connectTimeout(configuration.connectTimeout)
                .channelInitializer(initializer)
                .connect(host: host, port: port).get()
        }
    }

    /// Runs SSH over descriptors that already lead to the server, such as a ProxyCommand's standard output
    /// (`input`) and standard input (`output`), or one socket given twice. The client owns them from here and
    /// closes them with the connection.
    ///
    /// Everything after the transport is as `connect(host:port:user:credentials:hostKeyValidator:...)` does it.
    /// - Parameters:
    ///   - input: the descriptor the server's bytes are read from.
    ///   - output: the descriptor our bytes are written to; the same as `input` for a socket.
    ///   - host: the server's name, for the host key check and for messages; nothing connects to it.
    ///   - port: the server's port, for the host key check and for messages.
    ///   - user: the account to log in as.
    ///   - credentials: what to authenticate with, tried in order.
    ///   - hostKeyValidator: decides whether the server's host key is the expected one.
    ///   - configuration: algorithms, timeouts, keepalives and the logger.
    ///   - onBanner: called with the server's banner text, if it sends one.
    ///   - onAuthenticationProgress: called as authentication goes on, for a client that reports it.
    ///   - eventLoopGroup: where the connection's event loop comes from.
    /// - Returns: the connected, authenticated client.
    /// - Throws: `SSHError` saying what failed; `CancellationError` when the calling task is cancelled.
    public static func connect(
        readingFrom input: CInt, writingTo output: CInt, host: String, port: Int = 22, user: String,
        credentials: [SSHClientCredential], hostKeyValidator: any SSHHostKeyValidator,
        configuration: Configuration = Configuration(), onBanner: (@Sendable (String) -> Void)? = nil,
        onAuthenticationProgress: (@Sendable (SSHClientAuthenticationProgress) -> Void)? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> SSHClient {
        try await establish(host: host, port: port, user: user, credentials: credentials, hostKeyValidator: hostKeyValidator,
                            configuration: configuration, onBanner: onBanner, onProgress: onAuthenticationProgress,
                            eventLoop: eventLoopGroup.next()) { eventLoop, initializer in
            let bootstrap = NIOPipeBootstrap(group: eventLoop).channelInitializer(initializer)
            return try await (input == output
                ? bootstrap.takingOwnershipOfDescriptor(inputOutput: input)
                : bootstrap.takingOwnershipOfDescriptors(input: input, output: output)).get()
        }
    }

    /// The SSH pipeline on a channel `makeChannel` opens, then the handshake and authentication under the
    /// connect timeout.
    private static func establish(
        host: String, port: Int, user: String, credentials: [SSHClientCredential],
        hostKeyValidator: any SSHHostKeyValidator, configuration: Configuration,
        onBanner: (@Sendable (String) -> Void)?, onProgress: (@Sendable (SSHClientAuthenticationProgress) -> Void)?,
        eventLoop: any EventLoop,
        makeChannel: (any EventLoop, @escaping @Sendable (any Channel) -> EventLoopFuture<Void>) async throws -> any Channel
    ) async throws -> SSHClient {
        let authenticated = eventLoop.makePromise(of: SSHNegotiatedAlgorithms.self)
        let transport = SSHTransportConfiguration(role: .client, algorithms: configuration.algorithms, rekeyLimits: configuration.rekeyLimits)
        let channel: any Channel
        let connectionPromise = eventLoop.makePromise(of: NIOLoopBound<ConnectionHandler>.self)
        // The timeouts and the end of authentication all happen on the connection's event loop, so a timeout can
        // tell whether it is still needed: it must never fail a connection that authenticated just before it
        // fired, while the connecting task had not yet been scheduled to see it.
        let authenticationEnded = NIOLoopBoundBox.makeBoxSendingValue(false, as: Bool.self, eventLoop: eventLoop)
        let hostKeyReached = NIOLoopBoundBox.makeBoxSendingValue(false, as: Bool.self, eventLoop: eventLoop)
        authenticated.futureResult.whenComplete { _ in authenticationEnded.value = true }
        // The connect timeout ends where the host key is to be checked; the authentication timeout (if any) starts.
        let validator = HostKeyCheckMilestone(base: hostKeyValidator, eventLoop: eventLoop) {
            hostKeyReached.value = true
            guard let limit = configuration.authenticationTimeout else { return }
            eventLoop.scheduleTask(in: limit) {
                guard !authenticationEnded.value else { return }
                authenticated.fail(SSHError(.timedOut(phase: .authentication, host: host, port: port)))
            }
        }
        do {
            channel = try await makeChannel(eventLoop) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SSHTransportHandler(client: transport, hostKeyValidator: validator,
                                                                                           server: SSHHostAddress(host: host, port: port)))
                    try channel.pipeline.syncOperations.addHandler(
                        ClientAuthenticationHandler(user: user, credentials: credentials, authenticated: authenticated, onBanner: onBanner,
                                                    onProgress: onProgress))
                    let connection = ConnectionHandler(configuration: SSHConnectionConfiguration(role: .client))
                    try channel.pipeline.syncOperations.addHandler(connection)
                    connectionPromise.succeed(NIOLoopBound(connection, eventLoop: channel.eventLoop))
                }
            }
        } catch {
            authenticated.fail(error)
            connectionPromise.fail(error)
            throw SSHError.connecting(to: host, port: port, failure: error)
        }
        let timeout = eventLoop.scheduleTask(in: configuration.connectTimeout) {
            guard !authenticationEnded.value, !hostKeyReached.value else { return }
            authenticated.fail(SSHError(.timedOut(phase: .handshake, host: host, port: port)))
            channel.close(promise: nil)
        }
        defer { timeout.cancel() }
        do {
            // Cancelling the connecting task closes the socket and ends the wait at once.
            let negotiated = try await withTaskCancellationHandler {
                try await authenticated.futureResult.get()
            } onCancel: {
                authenticated.fail(CancellationError())
                channel.close(promise: nil)
            }
            let connection = try await connectionPromise.futureResult.get()
            configuration.logger.info("connected", metadata: [
                "peer": "\(host):\(port)", "user": "\(user)", "kex": "\(negotiated.keyExchange.rawValue)",
                "cipher": "\(negotiated.cipherClientToServer.rawValue)", "host_key": "\(negotiated.hostKey.name)",
            ])
            if let interval = configuration.keepaliveInterval {
                let maximum = configuration.keepaliveMaximumUnanswered
                eventLoop.execute { connection.value.startKeepalive(interval: interval, maximumUnanswered: maximum) }
            }
            return SSHClient(channel: channel, connection: connection, negotiatedAlgorithms: negotiated,
                             logger: configuration.logger, peer: "\(host):\(port)")
        } catch {
            configuration.logger.debug("connecting failed", metadata: ["peer": "\(host):\(port)", "user": "\(user)", "error": "\(error)"])
            try? await channel.close()
            throw error
        }
    }

    /// The connection's event loop: sockets spliced to its channels (forwarded connections) are cheapest on it.
    public var eventLoop: any EventLoop { channel.eventLoop }

    /// State other modules of this package keep per connection (SSHForwarding's remote forwards), made on first use.
    private let packageState = NIOLockedValueBox<[ObjectIdentifier: any Sendable]>([:])

    /// The per-connection state of type `State`, made by `make` the first time.
    package func packageState<State: AnyObject & Sendable>(_ make: () -> State) -> State {
        packageState.withLockedValue { states in
            if let state = states[ObjectIdentifier(State.self)] as? State { return state }
            let state = make()
            states[ObjectIdentifier(State.self)] = state
            return state
        }
    }

    /// Decides the channels the server opens (forwarded-tcpip, forwarded-streamlocal, auth-agent), on the event
    /// loop; without a router every one is refused.
    package func setPeerChannelRouter(_ router: @escaping @Sendable (SSHChannelType) -> SSHPeerChannelDecision) async throws {
        try await channel.eventLoop.submit { [connection] in connection.value.peerChannelRouter = router }.get()
    }

    /// Returns when the connection has ended, whoever ended it.
    public func waitUntilClosed() async {
        try? await channel.closeFuture.get()
    }

    /// Starts a new key exchange now (ssh's ~R escape), whatever the rekey limits say; channels carry on once it
    /// completes. Does nothing while one is already running.
    public func rekey() {
        channel.writeAndFlush(SSHTransportCommand.startKeyExchange, promise: nil)
    }

    /// Says goodbye (DISCONNECT by application) and closes the connection.
    public func close() async {
        channel.writeAndFlush(SSHTransportCommand.disconnect(.byApplication, "disconnected by user"), promise: nil)
        try? await channel.closeFuture.get()
    }

    // MARK: Channels

    /// Opens a session channel (RFC 4254 §6.1); send it pty-req/env/exec/shell/subsystem requests next.
    ///
    /// Read the channel's `input` until it ends: a server may send exit-status while output still waits for
    /// window, so a loop that stops at `.exitStatus` loses output.
    ///
    /// ```swift
    /// let session = try await client.openSession()
    /// try await session.request(.exec("tail -n 100 /var/log/syslog"))
    /// for try await input in session.input {
    ///     switch input {
    ///     case .data(let bytes): print(String(buffer: bytes), terminator: "")
    ///     case .exitStatus(let status): print("exit status", status)
    ///     default: break
    ///     }
    /// }
    /// ```
    /// - Returns: the open channel.
    /// - Throws: `SSHError`: `channelOpenFailed` when the server refuses (too many sessions, say),
    ///   `connectionClosed` when the connection is gone; `CancellationError` when the calling task is cancelled.
    public func openSession() async throws -> SSHChannel {
        try await openChannel(.session)
    }

    /// Opens a channel of any type (direct-tcpip for a tunnel, ...) and waits for the server to confirm it
    /// (RFC 4254 §5.1). A channel whose `input` is abandoned (its reading task cancelled, or the channel dropped)
    /// is closed.
    ///
    /// ```swift
    /// let tunnel = try await client.openChannel(.directTCPIP(host: "db.internal", port: 5432,
    ///                                                        originatorAddress: "127.0.0.1", originatorPort: 0))
    /// ```
    /// - Parameter type: the channel type and the data it carries.
    /// - Returns: the open channel.
    /// - Throws: `SSHError`: `channelOpenFailed` with the server's reason when it refuses, `connectionClosed` when
    ///   the connection is gone; `CancellationError` when the calling task is cancelled.
    public func openChannel(_ type: SSHChannelType) async throws -> SSHChannel {
        logger.debug("channel opening", metadata: ["type": "\(type.name)"])
        return try await SSH.openChannel(type, on: connection, eventLoop: channel.eventLoop, lifetime: lifetime)
    }

    /// Sends a global request (RFC 4254 §4) and waits for the server's answer.
    ///
    /// Replies carry no identifier, so the server answers requests in the order they were sent.
    /// - Parameter request: the request, such as tcpip-forward.
    /// - Returns: the server's answer; `.failure` when it refuses.
    /// - Throws: `SSHError` when the connection is gone before the answer.
    public func sendGlobalRequest(_ request: SSHGlobalRequest) async throws -> SSHGlobalRequestResponse {
        let connection = self.connection
        let eventLoop = channel.eventLoop
        return try await eventLoop.flatSubmit { () -> EventLoopFuture<SSHGlobalRequestResponse> in
            do {
                return try connection.value.sendGlobalRequest(request, wantReply: true) ?? eventLoop.makeSucceededFuture(.failure)
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
        }.get()
    }

    /// Runs `command` as `ssh host command` does: `stdin` is sent then closed, and stdout, stderr and the exit
    /// status or signal come back (whole; use `openSession()` to stream).
    ///
    /// A command that exits non-zero is not an error here: look at `exitStatus` and `exitSignal`.
    ///
    /// ```swift
    /// let result = try await client.execute("sort", stdin: Array("b\na\n".utf8))
    /// print(String(decoding: result.stdout, as: UTF8.self), result.exitStatus ?? -1)   // "a\nb\n" 0
    /// ```
    /// - Parameters:
    ///   - command: the command line, run by the server (sshd runs it with the user's shell).
    ///   - stdin: bytes for the command's standard input, followed by EOF.
    /// - Returns: the command's output, error output and how it ended.
    /// - Throws: `SSHError` when the session cannot be opened, the server refuses exec, or the connection ends;
    ///   `CancellationError` when the calling task is cancelled.
    public func execute(_ command: String, stdin: [UInt8] = []) async throws -> SSHExecutionResult {
        do {
            return try await collect(command, stdin: stdin)
        } catch {
            // Whatever a cancelled task ran into on the way out (a channel it closed itself), the cause is the
            // cancellation.
            if Task.isCancelled { throw CancellationError() }
            throw error
        }
    }

    /// Runs `command` and returns its standard output as text (UTF-8; invalid bytes become U+FFFD), as AsyncSSH's
    /// `run` does. With `check`, a command that does not exit 0 throws `SSHError.Kind.commandFailed` with its status
    /// and the end of its standard error; without it the output comes back whatever the status (use `execute` to
    /// see the status and standard error).
    ///
    /// ```swift
    /// let kernel = try await client.run("uname -r", check: true)
    /// ```
    /// - Parameters:
    ///   - command: the command line, run by the server (sshd runs it with the user's shell).
    ///   - check: whether a command that does not exit 0 throws.
    ///   - stdin: bytes for the command's standard input, followed by EOF.
    /// - Returns: the command's standard output as text.
    /// - Throws: `SSHError`: `commandFailed` with `check` when the command did not exit 0, or what `execute`
    ///   throws; `CancellationError` when the calling task is cancelled.
    public func run(_ command: String, check: Bool = false, stdin: [UInt8] = []) async throws -> String {
        let result = try await execute(command, stdin: stdin)
        if check && (result.exitStatus != 0 || result.exitSignal != nil) {
            let stderr = String(decoding: result.stderr.suffix(2048), as: UTF8.self)
            throw SSHError(.commandFailed(command: command, exitStatus: result.exitStatus, signal: result.exitSignal?.signalName,
                                          stderr: stderr.trimmingSuffix { $0 == "\n" }))
        }
        return String(decoding: result.stdout, as: UTF8.self)
    }

    private func collect(_ command: String, stdin: [UInt8]) async throws -> SSHExecutionResult {
        let session = try await openSession()
        do {
            try await session.request(.exec(command))
        } catch {
            await session.close()
            throw error
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var offset = 0
                while offset < stdin.count {
                    let end = min(offset + 128 * 1024, stdin.count)
                    try await session.write(ByteBuffer(bytes: stdin[offset..<end]))
                    offset = end
                }
                try await session.sendEOF()
            }
            var result = SSHExecutionResult()
            for try await input in session.input {
                switch input {
                case .data(let bytes): result.stdout += bytes.readableBytesView
                case .stderr(let bytes): result.stderr += bytes.readableBytesView
                case .exitStatus(let status): result.exitStatus = status
                case .exitSignal(let signal): result.exitSignal = signal
                case .eof, .request: break
                }
            }
            // The remote side may close before reading all of stdin (like `true < bigfile`); that is not our error.
            while !group.isEmpty { _ = try? await group.next() }
            await session.close()
            // A cancelled wait ends the input early: report the cancellation, never a truncated result.
            try Task.checkCancellation()
            return result
        }
    }
}

extension String {
    fileprivate func trimmingSuffix(while predicate: (Character) -> Bool) -> String {
        var text = self
        while let last = text.last, predicate(last) { text.removeLast() }
        return text
    }
}

/// What a command run with `SSHClient.execute(_:stdin:)` produced.
public struct SSHExecutionResult: Sendable, Equatable {
    /// Everything the command wrote to its standard output.
    public var stdout: [UInt8] = []
    /// Everything the command wrote to its standard error (extended data type 1).
    public var stderr: [UInt8] = []
    /// The exit status, when the command exited normally.
    public var exitStatus: Int32?
    /// The signal that ended the command, when one did.
    public var exitSignal: SSHExitSignal?
}

/// Passes host key checks to `base`, first telling the connection that the handshake has got that far (the connect
/// timeout ends there).
private struct HostKeyCheckMilestone: SSHHostKeyValidator {
    let base: any SSHHostKeyValidator
    let eventLoop: any EventLoop
    let reached: @Sendable () -> Void

    func validateHostKey(_ hostKey: SSHPresentedKey, of server: SSHHostAddress) async throws {
        // The milestone is recorded on the connection's loop, where the timeouts read it.
        try await eventLoop.submit(reached).get()
        try await base.validateHostKey(hostKey, of: server)
    }
}

/// Opens a channel on a connection (either side) and waits for the peer to confirm it; a cancelled wait closes it.
func openChannel(_ type: SSHChannelType, on connection: NIOLoopBound<ConnectionHandler>, eventLoop: any EventLoop,
                 lifetime: SSHConnectionLifetime?) async throws -> SSHChannel {
    let (stream, continuation) = AsyncThrowingStream.makeStream(of: SSHChannelInput.self)
    let (id, opened, closed, windowSize) = try await eventLoop.submit {
        try connection.value.openChannel(type, input: continuation)
    }.get()
    let channel = SSHChannel(id: id, handler: connection, eventLoop: eventLoop, stream: stream, closed: closed,
                             windowSize: windowSize, lifetime: lifetime)
    do {
        try await withTaskCancellationHandler {
            try await opened.get()
        } onCancel: {
            eventLoop.execute { connection.value.close(id) }
        }
        // Confirmed, but the caller is gone (the close from onCancel is on its way).
        try Task.checkCancellation()
    } catch {
        throw Task.isCancelled ? CancellationError() : error
    }
    return channel
}

/// Owns a client connection's lifetime: when the last `SSHClient` or `SSHChannel` holding it goes, the connection
/// is closed (a client dropped without `close()` must not stay connected).
final class SSHConnectionLifetime: Sendable {
    let channel: any Channel

    init(channel: any Channel) {
        self.channel = channel
    }

    deinit {
        channel.close(promise: nil)
    }
}
