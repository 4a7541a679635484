// Remote forwarding (ssh -R, RFC 4254 §7.1; streamlocal-forward@openssh.com, OpenSSH PROTOCOL §2.4): the server
// listens and opens a forwarded-tcpip (or forwarded-streamlocal) channel for each connection it accepts; the client
// takes only channels for forwards it asked for, and agent channels only when it forwards its agent.
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SSH
import SSHProtocol

/// A port or socket the server listens on for this client: ssh's -R.
///
/// ```swift
/// let forward = try await client.startRemoteForward(listeningOn: .tcp(host: "localhost", port: 0),
///                                                   to: .endpoint(.tcp(host: "localhost", port: 3000)))
/// print("Allocated port \(forward.boundPort ?? 0) for remote forward to localhost:3000")
/// ```
public final class SSHRemoteForward: Sendable {
    /// Where connections that arrive go.
    public enum Target: Sendable, Equatable {
        /// A host and port or Unix socket reached from this side (-R port:host:hostport).
        case endpoint(SSHForwardingEndpoint)
        /// Where each SOCKS client asks, reached from this side (-R port alone: a reverse dynamic forward).
        case socks
    }

    /// The address as asked for.
    public let listeningOn: SSHForwardingEndpoint
    /// The TCP port the server listens on: the one it chose when 0 was asked for; nil for a Unix socket.
    public let boundPort: Int?
    private let client: SSHClient
    private let key: RemoteForwardKey
    private let connections: ConnectionWork

    fileprivate init(listeningOn: SSHForwardingEndpoint, boundPort: Int?, client: SSHClient, key: RemoteForwardKey, connections: ConnectionWork) {
        self.listeningOn = listeningOn
        self.boundPort = boundPort
        self.client = client
        self.key = key
        self.connections = connections
    }

    /// Asks the server to stop listening (cancel-tcpip-forward, as ssh's `~C -KR`); connections already forwarded
    /// carry on unless `closingConnections`.
    /// - Parameter closingConnections: whether the open forwarded connections are closed too.
    /// - Throws: `SSHForwardingError` when the server refuses to cancel; `SSHError` when the connection is gone.
    public func cancel(closingConnections: Bool = false) async throws {
        client.remoteForwardRouter.remove(key)
        connections.finish(cancelling: closingConnections)
        let request: SSHGlobalRequest = switch key {
        case .tcp(let address, let port): .cancelTCPIPForward(address: address, port: UInt32(clamping: port))
        case .unixSocket(let path): .cancelStreamLocalForward(socketPath: path)
        }
        guard try await client.sendGlobalRequest(request).isSuccess else {
            throw SSHForwardingError(.remoteForwardRefused(address: listeningOn.description))
        }
    }
}

/// One connection the server accepted on a remote forward.
public struct SSHForwardedConnection: Sendable {
    /// The channel, a byte stream both ways.
    public let channel: SSHChannel
    /// Where the connection came from, as the server says ("address port N"; empty for a Unix socket).
    public let originator: String
}

/// How a forwarded channel is found: the address as the client asked for it and the port the server listens on.
enum RemoteForwardKey: Hashable, Sendable {
    case tcp(address: String, port: Int)
    case unixSocket(path: String)
}

/// A client's remote forwards and forwarded agent: decides each channel the server opens.
final class RemoteForwardRouter: Sendable {
    typealias Handler = @Sendable (SSHChannel, String) -> Void
    private let forwards = NIOLockedValueBox<[RemoteForwardKey: Handler]>([:])
    private let agent = NIOLockedValueBox<Handler?>(nil)
    private let installed = NIOLockedValueBox(false)
    let onUnexpected = NIOLockedValueBox<(@Sendable (SSHForwardingEvent) -> Void)?>(nil)

    func add(_ key: RemoteForwardKey, _ handler: @escaping Handler) {
        forwards.withLockedValue { $0[key] = handler }
    }

    func remove(_ key: RemoteForwardKey) {
        _ = forwards.withLockedValue { $0.removeValue(forKey: key) }
    }

    func setAgent(_ handler: Handler?) {
        agent.withLockedValue { $0 = handler }
    }

    /// Installs the router on the connection once.
    func install(on client: SSHClient) async throws {
        guard installed.withLockedValue({ done in defer { done = true }; return !done }) else { return }
        try await client.setPeerChannelRouter { [self] type in decide(type) }
    }

    private func decide(_ type: SSHChannelType) -> SSHPeerChannelDecision {
        let handler: Handler?
        let originator: String
        switch type {
        case .forwardedTCPIP(let address, let port, let from, let fromPort):
            // As ssh matches: the address as we asked for it and the port the server listens on.
            handler = forwards.withLockedValue { forwards in
                forwards[.tcp(address: address, port: Int(port))]
                    ?? forwards.first { key, _ in if case .tcp(_, Int(port)) = key { true } else { false } }?.value
            }
            originator = "\(from) port \(fromPort)"
        case .forwardedStreamLocal(let path):
            handler = forwards.withLockedValue { $0[.unixSocket(path: path)] }
            originator = ""
        case .authAgent:
            handler = agent.withLockedValue { $0 }
            originator = ""
        default:
            handler = nil
            originator = ""
        }
        guard let handler else {
            let description = "\(type.name) channel for a forward this client did not ask for"
            onUnexpected.withLockedValue { $0 }?(.unexpectedChannel(type: type.name, description: "\(type)"))
            return .reject(.administrativelyProhibited, description: description)
        }
        return .accept { channel in handler(channel, originator) }
    }
}

extension SSHClient {
    var remoteForwardRouter: RemoteForwardRouter { packageState { RemoteForwardRouter() } }

    /// Asks the server to listen on `endpoint` (tcpip-forward, or streamlocal-forward@openssh.com for a Unix
    /// socket) and connects each connection it accepts to `target` from this side, as `ssh -R` does.
    ///
    /// What the server may bind is up to it: sshd listens on loopback only unless its GatewayPorts allows more.
    /// - Parameters:
    ///   - endpoint: where the server listens; port 0 lets it choose (`boundPort` says which).
    ///   - target: where connections go.
    ///   - permitting: for `.socks`, whether a SOCKS client may reach a host and port (ssh's PermitRemoteOpen);
    ///     one it may not is refused with a SOCKS failure and reported through `onEvent`. Nil permits everything.
    ///   - onEvent: told about each forwarded connection, each that failed, and channels the server opens that no
    ///     forward asked for.
    /// - Returns: the forward.
    /// - Throws: `SSHForwardingError` with `remoteForwardRefused` when the server says no; `SSHError` when the
    ///   connection is gone.
    public func startRemoteForward(listeningOn endpoint: SSHForwardingEndpoint, to target: SSHRemoteForward.Target,
                                   permitting: (@Sendable (_ host: String, _ port: Int) -> Bool)? = nil,
                                   onEvent: (@Sendable (SSHForwardingEvent) -> Void)? = nil) async throws -> SSHRemoteForward {
        try await requestRemoteForward(listeningOn: endpoint, onEvent: onEvent) { [self] connection in
            await serveForwarded(connection, to: target, listening: endpoint, permitting: permitting, onEvent: onEvent)
        }
    }

    /// Asks the server to listen on `endpoint`, and hands each connection it accepts to `handle`, which owns the
    /// channel (a child task of the forward; return to end it).
    ///
    /// ```swift
    /// let forward = try await client.requestRemoteForward(listeningOn: .tcp(host: "localhost", port: 8080)) { connection in
    ///     for try await input in connection.channel.input { ... }
    /// }
    /// ```
    /// - Parameters:
    ///   - endpoint: where the server listens; port 0 lets it choose.
    ///   - onEvent: told about channels the server opens that no forward asked for.
    ///   - handle: serves one forwarded connection.
    /// - Returns: the forward.
    /// - Throws: `SSHForwardingError` with `remoteForwardRefused` when the server says no; `SSHError` when the
    ///   connection is gone.
    public func requestRemoteForward(listeningOn endpoint: SSHForwardingEndpoint, onEvent: (@Sendable (SSHForwardingEvent) -> Void)? = nil,
                                     handle: @escaping @Sendable (SSHForwardedConnection) async -> Void) async throws -> SSHRemoteForward {
        let router = remoteForwardRouter
        if let onEvent { router.onUnexpected.withLockedValue { $0 = onEvent } }
        try await router.install(on: self)
        let request: SSHGlobalRequest = switch endpoint {
        case .tcp(let host, let port): .tcpipForward(address: host, port: UInt32(clamping: port))
        case .unixSocket(let path): .streamLocalForward(socketPath: path)
        }
        let work = ConnectionWork()
        // Registered before asking (a server may open the first channel right after its answer); for port 0 the
        // key is only known from the answer, and no channel can come before it.
        var key: RemoteForwardKey
        var boundPort: Int?
        let handler: RemoteForwardRouter.Handler = { channel, originator in
            let submitted = work.submit { await handle(SSHForwardedConnection(channel: channel, originator: originator)) }
            if !submitted { channel.syncOperations.close() }
        }
        switch endpoint {
        case .tcp(let host, let port):
            key = .tcp(address: host, port: port)
            boundPort = port
        case .unixSocket(let path):
            key = .unixSocket(path: path)
        }
        if boundPort != 0 { router.add(key, handler) }
        let response: SSHGlobalRequestResponse
        do {
            response = try await sendGlobalRequest(request)
        } catch {
            router.remove(key)
            work.finish(cancelling: true)
            throw error
        }
        guard response.isSuccess else {
            router.remove(key)
            work.finish(cancelling: true)
            throw SSHForwardingError(.remoteForwardRefused(address: endpoint.description))
        }
        if case .boundPort(let port) = response, case .tcp(let host, 0) = endpoint {
            boundPort = Int(port)
            key = .tcp(address: host, port: Int(port))
            router.add(key, handler)
        }
        logger.debug("remote forward requested", metadata: ["listen": "\(endpoint)", "port": "\(boundPort.map(String.init) ?? "-")"])
        return SSHRemoteForward(listeningOn: endpoint, boundPort: boundPort, client: self, key: key, connections: work)
    }

    /// Connects one forwarded connection to its target here and splices (for `.socks`, after reading the SOCKS
    /// request from the channel).
    private func serveForwarded(_ connection: SSHForwardedConnection, to target: SSHRemoteForward.Target, listening: SSHForwardingEndpoint,
                                permitting: (@Sendable (String, Int) -> Bool)?, onEvent: (@Sendable (SSHForwardingEvent) -> Void)?) async {
        let channel = connection.channel
        var leftover = ByteBuffer()
        let destination: SSHForwardingEndpoint
        var socksRequest: SOCKSConnectRequest?
        var reader: SSHChannelInputSequence.AsyncIterator?
        switch target {
        case .endpoint(let endpoint):
            destination = endpoint
        case .socks:
            do {
                let (request, rest, iterator) = try await SOCKSOverChannel.readRequest(from: channel)
                socksRequest = request
                leftover = rest
                reader = iterator
                destination = .tcp(host: request.host, port: Int(request.port))
            } catch {
                let info = SSHForwardedConnectionInfo(channelType: "forwarded-tcpip", from: connection.originator, to: "SOCKS (listening on \(listening))")
                onEvent?(.failed(info, error: error))
                await channel.close()
                return
            }
        }
        let info = SSHForwardedConnectionInfo(channelType: listening.isUnixSocket ? "forwarded-streamlocal" : "forwarded-tcpip",
                                              from: connection.originator, to: "\(destination) (server listening on \(listening))")
        if let socksRequest, let permitting, !permitting(socksRequest.host, Int(socksRequest.port)) {
            // Refused before any connection is tried, as ssh refuses what PermitRemoteOpen does not list.
            let refusal = SSHForwardingError(.socks("connecting to \(destination) is not permitted (PermitRemoteOpen)"))
            onEvent?(.failed(info, error: refusal))
            try? await channel.write(socksRequest.failureReply(.notAllowed))
            await channel.close()
            return
        }
        let socket: any Channel
        let handler: NIOLoopBound<SpliceHandler>
        do {
            (socket, handler) = try await connectSpliced(destination, on: channel.eventLoop)
        } catch {
            onEvent?(.failed(info, error: SSHForwardingError(.connectFailed(target: destination.description, reason: readableReason(error)), underlying: error)))
            if let socksRequest { try? await channel.write(socksRequest.failureReply(Self.socksFailure(for: error))) }
            await channel.close()
            return
        }
        if let socksRequest { try? await channel.write(socksRequest.successReply()) }
        if leftover.readableBytes > 0 { socket.writeAndFlush(leftover, promise: nil) }
        await runForwarded(channel, socket: socket, handler: handler, info: info, onEvent: onEvent, continuing: reader)
    }
}

/// Connects `destination` on `eventLoop` with a splice handler in its pipeline from the start.
func connectSpliced(_ destination: SSHForwardingEndpoint, on eventLoop: any EventLoop) async throws -> (any Channel, NIOLoopBound<SpliceHandler>) {
    try await Splice.socket(on: eventLoop, what: destination.description) { initializer in
        try await destination.connect(on: eventLoop, initializer: initializer)
    }
}

extension SSHForwardingEndpoint {
    var isUnixSocket: Bool {
        if case .unixSocket = self { return true }
        return false
    }
}

/// A SOCKS request read from a channel's input (a reverse dynamic forward: the SOCKS client is on the server's side).
enum SOCKSOverChannel {
    static let maximumRequestBytes = 4096

    /// Reads until the request is complete; returns it, the bytes after it, and the iterator to go on with.
    static func readRequest(from channel: SSHChannel) async throws -> (SOCKSConnectRequest, ByteBuffer, SSHChannelInputSequence.AsyncIterator) {
        var parser = SOCKSRequestParser()
        var buffered = ByteBuffer()
        var iterator = channel.input.makeAsyncIterator()
        while let input = try await iterator.next() {
            guard case .data(var bytes) = input else {
                if case .eof = input { break }
                continue
            }
            buffered.writeBuffer(&bytes)
            parsing: while true {
                switch try parser.feed(&buffered) {
                case .needMoreBytes:
                    guard buffered.readableBytes <= maximumRequestBytes else { throw SSHForwardingError(.socks("request too long")) }
                    break parsing
                case .reply(let reply):
                    try await channel.write(reply)
                case .connect(let request):
                    return (request, buffered, iterator)
                case .refuse(let reply, let error):
                    try? await channel.write(reply)
                    throw error
                }
            }
        }
        throw SSHForwardingError(.socks("the client closed before its request was complete"))
    }
}
