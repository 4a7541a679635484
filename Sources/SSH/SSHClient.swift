// The async client: connect, verify the host key, authenticate, then run commands and sessions on channels.
import NIOCore
import NIOPosix
import SSHKeys
import SSHProtocol

public final class SSHClient: Sendable {
    public struct Configuration: Sendable {
        public var algorithms: SSHAlgorithms
        public var rekeyLimits: SSHRekeyLimits
        /// How long connecting, the key exchange and authentication may take together (ssh's ConnectTimeout
        /// covers only the TCP part; this also bounds a server that stalls).
        public var connectTimeout: TimeAmount

        public init(algorithms: SSHAlgorithms = .defaults, rekeyLimits: SSHRekeyLimits = SSHRekeyLimits(),
                    connectTimeout: TimeAmount = .seconds(30)) {
            self.algorithms = algorithms
            self.rekeyLimits = rekeyLimits
            self.connectTimeout = connectTimeout
        }
    }

    let channel: any Channel
    let connection: NIOLoopBound<ConnectionHandler>
    /// What the first key exchange settled on, with the session identifier.
    public let negotiatedAlgorithms: SSHNegotiatedAlgorithms

    private init(channel: any Channel, connection: NIOLoopBound<ConnectionHandler>, negotiatedAlgorithms: SSHNegotiatedAlgorithms) {
        self.channel = channel
        self.connection = connection
        self.negotiatedAlgorithms = negotiatedAlgorithms
    }

    /// Connects, checks the server's host key with `hostKeyValidator`, and authenticates `user` with the first of
    /// `credentials` the server accepts. Throws `SSHError` saying what failed.
    public static func connect(
        host: String, port: Int = 22, user: String, credentials: [SSHClientCredential],
        hostKeyValidator: any SSHHostKeyValidator, configuration: Configuration = Configuration(),
        onBanner: (@Sendable (String) -> Void)? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> SSHClient {
        let eventLoop = eventLoopGroup.next()
        let authenticated = eventLoop.makePromise(of: SSHNegotiatedAlgorithms.self)
        let transport = SSHTransportConfiguration(role: .client, algorithms: configuration.algorithms, rekeyLimits: configuration.rekeyLimits)
        let channel: any Channel
        let connectionPromise = eventLoop.makePromise(of: NIOLoopBound<ConnectionHandler>.self)
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(configuration.connectTimeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(SSHTransportHandler(client: transport, hostKeyValidator: hostKeyValidator))
                        try channel.pipeline.syncOperations.addHandler(
                            ClientAuthenticationHandler(user: user, credentials: credentials, authenticated: authenticated, onBanner: onBanner))
                        let connection = ConnectionHandler(configuration: SSHConnectionConfiguration(role: .client))
                        try channel.pipeline.syncOperations.addHandler(connection)
                        connectionPromise.succeed(NIOLoopBound(connection, eventLoop: channel.eventLoop))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            authenticated.fail(error)
            connectionPromise.fail(error)
            throw SSHError(.connectFailed(host: host, port: port, reason: "\(error)"))
        }
        let timeout = eventLoop.scheduleTask(in: configuration.connectTimeout) {
            authenticated.fail(SSHError(.connectFailed(host: host, port: port, reason: "timed out during the SSH handshake")))
            channel.close(promise: nil)
        }
        defer { timeout.cancel() }
        do {
            let negotiated = try await authenticated.futureResult.get()
            return SSHClient(channel: channel, connection: try await connectionPromise.futureResult.get(), negotiatedAlgorithms: negotiated)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// Says goodbye (DISCONNECT by application) and closes the connection.
    public func close() async {
        channel.writeAndFlush(SSHTransportCommand.disconnect(.byApplication, "disconnected by user"), promise: nil)
        try? await channel.closeFuture.get()
    }

    // MARK: Channels

    /// Opens a session channel (RFC 4254 §6.1); send it pty-req/env/exec/shell/subsystem requests next.
    public func openSession() async throws -> SSHChannel {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: SSHChannelInput.self)
        let connection = self.connection
        let (id, opened, closed) = try await channel.eventLoop.submit {
            try connection.value.openChannel(.session, input: continuation)
        }.get()
        try await opened.get()
        return SSHChannel(id: id, handler: connection, eventLoop: channel.eventLoop, stream: stream, closed: closed)
    }

    /// Runs `command` as `ssh host command` does: `stdin` is sent then closed, and stdout, stderr and the exit
    /// status or signal come back (whole; use `openSession()` to stream).
    public func execute(_ command: String, stdin: [UInt8] = []) async throws -> SSHExecutionResult {
        let session = try await openSession()
        try await session.request(.exec(command))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var offset = 0
                while offset < stdin.count {
                    let end = min(offset + 32 * 1024, stdin.count)
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
            return result
        }
    }
}

/// What a command run with `SSHClient.execute(_:stdin:)` produced.
public struct SSHExecutionResult: Sendable, Equatable {
    public var stdout: [UInt8] = []
    public var stderr: [UInt8] = []
    /// The exit status, when the command exited normally.
    public var exitStatus: Int32?
    /// The signal that ended the command, when one did.
    public var exitSignal: SSHExitSignal?
}
