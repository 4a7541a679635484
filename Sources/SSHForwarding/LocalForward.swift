// Local forwarding (ssh -L, RFC 4254 §7.2) and dynamic forwarding (ssh -D): listen here, and carry each accepted
// connection to the server in a direct-tcpip or direct-streamlocal@openssh.com channel (for -D, to where the SOCKS
// client asks).
import Logging
import NIOCore
import NIOPosix
import SSH
import SSHProtocol

/// A listener that carries each connection it accepts through the SSH connection: ssh's -L and -D.
///
/// ```swift
/// let forward = try await client.startLocalForward(listeningOn: .tcp(host: "localhost", port: 5432),
///                                                  to: .endpoint(.tcp(host: "db.internal", port: 5432)))
/// // psql -h localhost now reaches db.internal:5432 from the server's side
/// await forward.close()
/// ```
public final class SSHLocalForward: Sendable {
    /// Where accepted connections go.
    public enum Target: Sendable, Equatable {
        /// A fixed host and port or Unix socket, reached from the server (-L).
        case endpoint(SSHForwardingEndpoint)
        /// Where each SOCKS 4, 4a or 5 client asks (-D).
        case socks
    }

    /// The address as asked for (`localhost:8080`, a socket path).
    public let listeningOn: SSHForwardingEndpoint
    /// Where it goes.
    public let target: Target
    /// The addresses actually listened on (a TCP port asked as 0 shows the port chosen).
    public let boundAddresses: [SocketAddress]
    private let listeners: [any Channel]
    private let connections: ConnectionWork

    /// The TCP port listened on (the one chosen, when 0 was asked for); nil for a Unix socket.
    public var port: Int? {
        if case .unixSocket = listeningOn { return nil }
        return boundAddresses.first?.port
    }

    fileprivate init(listeningOn: SSHForwardingEndpoint, target: Target, listeners: [any Channel], connections: ConnectionWork) {
        self.listeningOn = listeningOn
        self.target = target
        self.listeners = listeners
        self.boundAddresses = listeners.compactMap(\.localAddress)
        self.connections = connections
    }

    /// Stops listening. Connections already forwarded carry on to their end, as after ssh's `~C -KL`, unless
    /// `closingConnections`; a Unix socket file is removed.
    /// - Parameter closingConnections: whether the open forwarded connections are closed too.
    public func close(closingConnections: Bool = false) async {
        for listener in listeners { try? await listener.close() }
        if case .unixSocket(let path) = listeningOn { unlink(path) }
        connections.finish(cancelling: closingConnections)
        if closingConnections { await connections.waitUntilDone() }
    }

    deinit {
        for listener in listeners { listener.close(promise: nil) }
        connections.finish(cancelling: true)
    }
}

/// Runs one forward's connections as child tasks of one task, which ends when the forward is closed and its last
/// connection has ended.
final class ConnectionWork: Sendable {
    private let jobs: AsyncStream<@Sendable () async -> Void>.Continuation
    private let runner: Task<Void, Never>

    init() {
        let (stream, continuation) = AsyncStream.makeStream(of: (@Sendable () async -> Void).self)
        jobs = continuation
        runner = Task {
            await withDiscardingTaskGroup { group in
                for await job in stream { group.addTask { await job() } }
            }
        }
    }

    /// Runs `job` beside the others; false once the work is finished (the caller then drops what it holds).
    @discardableResult
    func submit(_ job: @escaping @Sendable () async -> Void) -> Bool {
        if case .enqueued = jobs.yield(job) { return true }
        return false
    }

    func finish(cancelling: Bool) {
        jobs.finish()
        if cancelling { runner.cancel() }
    }

    func waitUntilDone() async {
        await runner.value
    }
}

/// Work that lives as long as its client (the splices of jumps through it, its forwarded agent's connections): child
/// tasks of one task, cancelled when the client goes.
final class ClientLifetimeWork: Sendable {
    let work = ConnectionWork()
    deinit { work.finish(cancelling: true) }
}

extension SSHClient {
    /// Work tied to this client's lifetime.
    var lifetimeWork: ConnectionWork { packageState { ClientLifetimeWork() }.work }

    /// Listens on `endpoint` and forwards each connection accepted there to `target` through this connection, as
    /// `ssh -L` (an endpoint) or `ssh -D` (SOCKS) does. A connection the server refuses is closed and reported
    /// through `onEvent`; the others are not disturbed.
    ///
    /// TCP: `localhost` listens on both loopback addresses, an empty host or `*` on every address (ssh's
    /// GatewayPorts, `-g`), port 0 on a free port (`port` says which).
    /// - Parameters:
    ///   - endpoint: where to listen.
    ///   - target: where connections go.
    ///   - streamLocal: how a Unix socket to listen on is made.
    ///   - onEvent: told about each forwarded connection, and each that failed.
    /// - Returns: the running forward.
    /// - Throws: `SSHForwardingError` with `listenFailed` when nothing could be listened on.
    public func startLocalForward(listeningOn endpoint: SSHForwardingEndpoint, to target: SSHLocalForward.Target,
                                  streamLocal: SSHStreamLocalBindOptions = SSHStreamLocalBindOptions(),
                                  onEvent: (@Sendable (SSHForwardingEvent) -> Void)? = nil) async throws -> SSHLocalForward {
        let work = ConnectionWork()
        let listenDescription = endpoint.description
        let listeners: [any Channel]
        do {
            listeners = try await Listeners.bind(endpoint, on: eventLoop, streamLocal: streamLocal) { [self] socket in
                socket.eventLoop.makeCompletedFuture {
                    switch target {
                    case .endpoint(let destination):
                        let handler = try Splice.install(on: socket)
                        let bound = NIOLoopBound(handler, eventLoop: socket.eventLoop)
                        let originator = Originator(socket.remoteAddress)
                        let submitted = work.submit { [self] in
                            await forwardAccepted(socket, handler: bound, to: destination, originator: originator,
                                                  listening: listenDescription, onEvent: onEvent)
                        }
                        if !submitted { socket.close(promise: nil) }
                    case .socks:
                        let originator = Originator(socket.remoteAddress)
                        let front = SOCKSFrontHandler { [self] request, leftover in
                            let submitted = work.submit { [self] in
                                await forwardSOCKS(socket, request: request, leftover: leftover, originator: originator,
                                                   listening: listenDescription, onEvent: onEvent)
                            }
                            if !submitted { socket.close(promise: nil) }
                        } onRefused: { reason in
                            onEvent?(.failed(SSHForwardedConnectionInfo(channelType: "dynamic", from: "\(originator.address):\(originator.port)",
                                                                       to: listenDescription),
                                             error: SSHForwardingError(.socks(reason))))
                        }
                        try socket.pipeline.syncOperations.addHandler(front)
                    }
                }
            }
        } catch {
            work.finish(cancelling: true)
            throw error
        }
        logger.debug("local forward listening", metadata: ["listen": "\(endpoint)", "target": "\(target)"])
        return SSHLocalForward(listeningOn: endpoint, target: target, listeners: listeners, connections: work)
    }

    /// Runs `body` with a local forward from `endpoint` to `target`, and closes it (with its connections) however
    /// `body` ends.
    ///
    /// ```swift
    /// let status = try await client.withLocalForward(listeningOn: .tcp(host: "localhost", port: 0),
    ///                                                to: .endpoint(.tcp(host: "intranet", port: 80))) { forward in
    ///     try await fetchStatusPage(port: forward.port ?? 0)
    /// }
    /// ```
    /// - Parameters:
    ///   - endpoint: where to listen.
    ///   - target: where connections go.
    ///   - body: the work that uses the forward.
    /// - Returns: what `body` returns.
    /// - Throws: `SSHForwardingError` when listening fails, or what `body` throws.
    public func withLocalForward<Result: Sendable>(listeningOn endpoint: SSHForwardingEndpoint, to target: SSHLocalForward.Target,
                                                   _ body: (SSHLocalForward) async throws -> Result) async throws -> Result {
        let forward = try await startLocalForward(listeningOn: endpoint, to: target)
        do {
            let result = try await body(forward)
            await forward.close(closingConnections: true)
            return result
        } catch {
            await forward.close(closingConnections: true)
            throw error
        }
    }

    /// Opens a channel to `destination` on the server's side: direct-tcpip (RFC 4254 §7.2) or
    /// direct-streamlocal@openssh.com, with `originator` as the connection's source.
    ///
    /// ```swift
    /// let tunnel = try await client.openTunnel(to: .tcp(host: "db.internal", port: 5432))
    /// try await tunnel.write(ByteBuffer(string: "hello"))
    /// ```
    /// - Parameters:
    ///   - destination: where the server connects.
    ///   - originator: where the connection comes from, as the server is told (its log says it); nil for none.
    /// - Returns: the channel, a byte stream both ways (`write`, `sendEOF`, `input`).
    /// - Throws: `SSHError` with `channelOpenFailed` and the server's reason when it refuses or cannot connect.
    public func openTunnel(to destination: SSHForwardingEndpoint, originator: SocketAddress? = nil) async throws -> SSHChannel {
        try await openChannel(channelType(to: destination, originator: Originator(originator)))
    }

    func channelType(to destination: SSHForwardingEndpoint, originator: Originator) -> SSHChannelType {
        switch destination {
        case .tcp(let host, let port):
            .directTCPIP(host: host, port: UInt32(clamping: port), originatorAddress: originator.address,
                         originatorPort: UInt32(clamping: originator.port))
        case .unixSocket(let path):
            .directStreamLocal(socketPath: path)
        }
    }

    /// One accepted connection of -L: open the channel, then splice until both sides end.
    private func forwardAccepted(_ socket: any Channel, handler: NIOLoopBound<SpliceHandler>, to destination: SSHForwardingEndpoint,
                                 originator: Originator, listening: String, onEvent: (@Sendable (SSHForwardingEvent) -> Void)?) async {
        let type = channelType(to: destination, originator: originator)
        let info = SSHForwardedConnectionInfo(channelType: type.name, from: "\(originator.address) port \(originator.port)",
                                              to: "\(destination) (listening on \(listening))")
        let channel: SSHChannel
        do {
            channel = try await openChannel(type)
        } catch {
            onEvent?(.failed(info, error: error))
            socket.close(promise: nil)
            return
        }
        await runForwarded(channel, socket: socket, handler: handler, info: info, onEvent: onEvent)
    }
}
