// The server's side of forwarding, as sshd does it: direct-tcpip and direct-streamlocal@openssh.com channels
// (RFC 4254 §7.2, OpenSSH PROTOCOL §2.4) connect where the client asks; tcpip-forward and
// streamlocal-forward@openssh.com (RFC 4254 §7.1) listen and open forwarded-* channels back; each under a policy
// with sshd's meanings (AllowTcpForwarding, AllowStreamLocalForwarding, GatewayPorts, PermitOpen, PermitListen,
// DisableForwarding, and the login's no-port-forwarding, permitopen=, permitlisten=). What must happen with the
// user's rights (a Unix socket connected or created as the user, a privileged port) goes through
// `SSHForwardingHost`; listeners end with their connection.
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SSH
import SSHProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a server lets clients forward. The defaults deny everything (`SSHForwardingPolicy()`); sshd's defaults are
/// `SSHForwardingPolicy.openSSHDefaults`.
public struct SSHForwardingPolicy: Sendable, Equatable {
    /// Which directions a kind of forwarding may go (sshd's yes/no/local/remote/all).
    public enum Directions: Sendable, Equatable {
        /// Neither (no).
        case none
        /// Connections the client asks the server to make: direct-tcpip, direct-streamlocal (-L, -D, -W).
        case local
        /// Listeners on the server: tcpip-forward, streamlocal-forward (-R).
        case remote
        /// Both (yes, all).
        case all

        var allowsLocal: Bool { self == .local || self == .all }
        var allowsRemote: Bool { self == .remote || self == .all }
    }

    /// Where remote forwards listen (sshd's GatewayPorts).
    public enum GatewayPorts: Sendable, Equatable {
        /// Loopback only, whatever the client asks (no).
        case loopbackOnly
        /// Every address, whatever the client asks (yes).
        case allAddresses
        /// The address the client names; "" or "*" for every address (clientspecified).
        case clientSpecified
    }

    /// AllowTcpForwarding.
    public var tcpForwarding: Directions = .none
    /// AllowStreamLocalForwarding.
    public var streamLocalForwarding: Directions = .none
    /// GatewayPorts.
    public var gatewayPorts: GatewayPorts = .loopbackOnly
    /// PermitOpen: "host:port" entries (port `*`, host `*`) direct-tcpip may reach; nil for anywhere (any), empty
    /// for nowhere (none).
    public var permitOpen: [String]?
    /// PermitListen: "[host:]port" entries tcpip-forward may listen on; nil for anything (any), empty for nothing.
    public var permitListen: [String]?
    /// StreamLocalBindUnlink and StreamLocalBindMask, for Unix sockets of remote forwards.
    public var streamLocalBind = SSHStreamLocalBindOptions()
    /// Whether this login may listen on ports below 1024 (sshd: only root logins may).
    public var allowsPrivilegedPorts = false

    /// A policy; the defaults deny every forwarding.
    /// - Parameters:
    ///   - tcpForwarding: AllowTcpForwarding.
    ///   - streamLocalForwarding: AllowStreamLocalForwarding.
    ///   - gatewayPorts: GatewayPorts.
    ///   - permitOpen: PermitOpen entries; nil for any.
    ///   - permitListen: PermitListen entries; nil for any.
    public init(tcpForwarding: Directions = .none, streamLocalForwarding: Directions = .none, gatewayPorts: GatewayPorts = .loopbackOnly,
                permitOpen: [String]? = nil, permitListen: [String]? = nil) {
        self.tcpForwarding = tcpForwarding
        self.streamLocalForwarding = streamLocalForwarding
        self.gatewayPorts = gatewayPorts
        self.permitOpen = permitOpen
        self.permitListen = permitListen
    }

    /// sshd's defaults: TCP and stream-local forwarding both ways, loopback-only remote forwards, anywhere.
    public static let openSSHDefaults = SSHForwardingPolicy(tcpForwarding: .all, streamLocalForwarding: .all)

    /// Whether direct-tcpip may reach host:port (PermitOpen, then the login's permitopen=).
    func permitsOpen(host: String, port: Int, grant: SSHLoginGrant) -> Bool {
        Self.matches(permitOpen, host: host, port: port, barePortMatchesAnyHost: false)
            && Self.matches(grant.permittedOpens, host: host, port: port, barePortMatchesAnyHost: false)
    }

    /// Whether tcpip-forward may listen on address:port (PermitListen, then the login's permitlisten=).
    func permitsListen(address: String, port: Int, grant: SSHLoginGrant) -> Bool {
        Self.matches(permitListen, host: address, port: port, barePortMatchesAnyHost: true)
            && Self.matches(grant.permittedListens, host: address, port: port, barePortMatchesAnyHost: true)
    }

    /// sshd's matching of permitopen/permitlisten entries: the port equal or `*`; the host equal (as written,
    /// case-insensitively) or `*`; for listening, a bare port stands for any address.
    static func matches(_ entries: [String]?, host: String, port: Int, barePortMatchesAnyHost: Bool) -> Bool {
        guard let entries else { return true }
        return entries.contains { entry in
            guard let (entryHost, entryPort) = splitHostPort(entry) else {
                return barePortMatchesAnyHost && (entry == "*" || Int(entry) == port)
            }
            let portMatches = entryPort == "*" || Int(entryPort) == port
            let hostMatches = entryHost == "*" || entryHost.lowercased() == host.lowercased()
                || (barePortMatchesAnyHost && entryHost.isEmpty)
            return portMatches && hostMatches
        }
    }

    /// "host:port", "[v6]:port"; nil for a bare port.
    static func splitHostPort(_ entry: String) -> (String, String)? {
        if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") {
            let host = String(entry[entry.index(after: entry.startIndex)..<close])
            let rest = entry[entry.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            return (host, String(rest.dropFirst()))
        }
        guard let colon = entry.lastIndex(of: ":") else { return nil }
        return (String(entry[..<colon]), String(entry[entry.index(after: colon)...]))
    }
}

/// What must be done with the logged-in user's rights rather than the server's: connecting and creating Unix
/// sockets, binding privileged ports. `SSHInProcessForwardingHost` does it in this process, with its own rights; a
/// server running as root hands it to a process that acts as the user (shhd's privilege broker).
public protocol SSHForwardingHost: Sendable {
    /// Connects the Unix socket at `path` as `connection`'s user.
    /// - Parameters:
    ///   - path: the socket.
    ///   - connection: the connection asking, with its user.
    /// - Returns: the connected socket's descriptor, which the caller owns.
    /// - Throws: an error whose description says why (permission denied, no such file).
    func connectStreamLocal(path: String, for connection: SSHServerConnection) async throws -> CInt
    /// Creates and listens on a Unix socket at `path` as `connection`'s user.
    /// - Parameters:
    ///   - path: the socket.
    ///   - options: whether to replace an existing file, and the mode.
    ///   - connection: the connection asking.
    /// - Returns: the listening socket's descriptor, which the caller owns.
    /// - Throws: an error whose description says why.
    func listenStreamLocal(path: String, options: SSHStreamLocalBindOptions, for connection: SSHServerConnection) async throws -> CInt
    /// Makes a private directory owned by `connection`'s user holding a listening Unix socket for its forwarded
    /// agent, as sshd's /tmp/ssh-XXXXXXXXXX/agent.PID.
    /// - Parameter connection: the connection whose user owns it.
    /// - Returns: the socket's path and its listening descriptor, which the caller owns.
    /// - Throws: an error whose description says why.
    func makeAgentSocket(for connection: SSHServerConnection) async throws -> (path: String, descriptor: CInt)
    /// Removes an agent socket and its directory.
    /// - Parameters:
    ///   - path: the path `makeAgentSocket(for:)` returned.
    ///   - connection: the connection whose user owns it.
    func removeAgentSocket(path: String, for connection: SSHServerConnection) async
    /// Listening sockets for a remote forward on a port below 1024 (a root login's), for a server process that may
    /// not bind one itself (shhd's unprivileged network process); nil: the server binds it. Default nil.
    /// - Parameters:
    ///   - host: the address to listen on, as `Listeners` reads it ("" every address, "localhost" both loopbacks).
    ///   - port: the port, 1–1023.
    ///   - connection: the connection asking.
    /// - Returns: the listening descriptors (the caller owns them), or nil.
    /// - Throws: an error whose description says why.
    func listenPrivilegedTCP(host: String, port: Int, for connection: SSHServerConnection) async throws -> [CInt]?
}

extension SSHForwardingHost {
    /// nil: the server binds privileged ports itself.
    /// - Parameters:
    ///   - host: ignored.
    ///   - port: ignored.
    ///   - connection: ignored.
    /// - Returns: nil.
    public func listenPrivilegedTCP(host: String, port: Int, for connection: SSHServerConnection) async throws -> [CInt]? { nil }
}

/// What happens to forwarding on a server, for its log (sshd's lines).
public enum SSHServerForwardingEvent: Sendable {
    /// A request was refused: `what` was asked ("direct-tcpip to db:5432", "tcpip-forward 0.0.0.0:8080"),
    /// `reason` says why, for the log only (the client hears "administratively prohibited").
    case refused(user: String, remoteAddress: SocketAddress?, what: String, reason: String)
    /// A listener for a remote forward is open.
    case listening(user: String, endpoint: SSHForwardingEndpoint)
    /// A connection to a target failed (direct-tcpip to a closed port).
    case connectFailed(user: String, target: String, reason: String)
}

/// A server's delegate for forwarding: pass it as `SSHServer`'s connection delegate (or call it from yours).
///
/// ```swift
/// let forwarding = SSHServerForwarding(policy: { _ in .openSSHDefaults }, host: SSHInProcessForwardingHost())
/// let server = SSHServer(configuration: configuration, authenticator: authenticator, connectionDelegate: forwarding)
/// ```
public final class SSHServerForwarding: SSHServerConnectionDelegate {
    private let policy: @Sendable (SSHServerConnection) -> SSHForwardingPolicy
    private let host: any SSHForwardingHost
    private let onEvent: (@Sendable (SSHServerForwardingEvent) -> Void)?
    /// Listeners of remote forwards, per connection, by what the client asked for.
    private let listeners = NIOLockedValueBox<[UInt64: [RemoteForwardKey: [any Channel]]]>([:])
    /// Remote forwards a connection may have at once.
    public static let maximumListenersPerConnection = 64

    /// A delegate deciding each request with `policy` (called per request, with the connection: Match blocks and
    /// the login's grant can differ per user) and doing what needs the user's rights through `host`.
    /// - Parameters:
    ///   - policy: the policy for a connection.
    ///   - host: connects and creates Unix sockets as the user.
    ///   - onEvent: told about refusals, listeners and failed connections, for the log.
    public init(policy: @escaping @Sendable (SSHServerConnection) -> SSHForwardingPolicy, host: any SSHForwardingHost,
                onEvent: (@Sendable (SSHServerForwardingEvent) -> Void)? = nil) {
        self.policy = policy
        self.host = host
        self.onEvent = onEvent
    }

    /// Why a kind of forwarding was refused, for the log: the login's no-port-forwarding, else the directive.
    private static func denial(_ directive: String, _ direction: String, _ connection: SSHServerConnection) -> String {
        connection.grant.permitsPortForwarding ? "\(directive) does not allow \(direction) forwarding" : "port forwarding is disabled for this login"
    }

    private func refuse(_ connection: SSHServerConnection, _ what: String, _ reason: String) {
        onEvent?(.refused(user: connection.user, remoteAddress: connection.remoteAddress, what: what, reason: reason))
    }

    // MARK: Channels the client opens

    /// direct-tcpip and direct-streamlocal@openssh.com; every other type is refused.
    /// - Parameters:
    ///   - type: the channel type and its data.
    ///   - connection: the connection asking.
    /// - Returns: accept with a splice to the target, or reject.
    public func channelOpen(_ type: SSHChannelType, on connection: SSHServerConnection) async -> SSHChannelOpenDecision {
        let policy = self.policy(connection)
        switch type {
        case .directTCPIP(let host, let port, let originator, let originatorPort):
            let what = "direct-tcpip from \(originator) port \(originatorPort) to \(host) port \(port)"
            guard policy.tcpForwarding.allowsLocal, connection.grant.permitsPortForwarding else {
                refuse(connection, what, Self.denial("AllowTcpForwarding", "local", connection))
                return .reject(.administrativelyProhibited, description: "open failed")
            }
            guard port <= 65535, policy.permitsOpen(host: host, port: Int(port), grant: connection.grant) else {
                refuse(connection, what, "not permitted by PermitOpen or permitopen=")
                return .reject(.administrativelyProhibited, description: "open failed")
            }
            return await connect(.tcp(host: host, port: Int(port)), for: connection) { endpoint, eventLoop in
                try await connectSpliced(endpoint, on: eventLoop)
            }
        case .directStreamLocal(let path):
            let what = "direct-streamlocal to \(path)"
            guard policy.streamLocalForwarding.allowsLocal, connection.grant.permitsPortForwarding else {
                refuse(connection, what, Self.denial("AllowStreamLocalForwarding", "local", connection))
                return .reject(.administrativelyProhibited, description: "open failed")
            }
            let host = self.host
            return await connect(.unixSocket(path: path), for: connection) { endpoint, eventLoop in
                let descriptor = try await host.connectStreamLocal(path: path, for: connection)
                return try await adoptSpliced(descriptor, on: eventLoop)
            }
        default:
            refuse(connection, "\(type.name) channel", "unsupported channel type")
            return .reject(.administrativelyProhibited, description: "\(type.name) channels are not allowed")
        }
    }

    private func connect(_ endpoint: SSHForwardingEndpoint, for connection: SSHServerConnection,
                         _ open: (SSHForwardingEndpoint, any EventLoop) async throws -> (any Channel, NIOLoopBound<SpliceHandler>)) async -> SSHChannelOpenDecision {
        let socket: any Channel
        let handler: NIOLoopBound<SpliceHandler>
        do {
            (socket, handler) = try await open(endpoint, connection.eventLoop)
        } catch {
            let reason = readableReason(error)
            onEvent?(.connectFailed(user: connection.user, target: endpoint.description, reason: reason))
            return .reject(.connectFailed, description: reason)
        }
        return .accept { channel in
            await Splice.run(channel, socket: socket, handler: handler)
        }
    }

    // MARK: Listeners

    /// tcpip-forward, cancel-tcpip-forward, streamlocal-forward@openssh.com and its cancel; other requests fail.
    /// - Parameters:
    ///   - request: the request.
    ///   - connection: the connection asking.
    /// - Returns: the answer (with the port chosen for tcpip-forward to port 0).
    public func globalRequest(_ request: SSHGlobalRequest, on connection: SSHServerConnection) async -> SSHGlobalRequestResponse {
        let policy = self.policy(connection)
        switch request {
        case .tcpipForward(let address, let port):
            return await listenTCP(address: address, port: Int(port), policy: policy, connection: connection)
        case .cancelTCPIPForward(let address, let port):
            return await cancel(.tcp(address: address, port: Int(port)), connection: connection)
        case .streamLocalForward(let path):
            return await listenStreamLocal(path: path, policy: policy, connection: connection)
        case .cancelStreamLocalForward(let path):
            return await cancel(.unixSocket(path: path), connection: connection)
        default:
            return .failure
        }
    }

    private func listenTCP(address: String, port: Int, policy: SSHForwardingPolicy, connection: SSHServerConnection) async -> SSHGlobalRequestResponse {
        let what = "tcpip-forward listen \(address) port \(port)"
        guard policy.tcpForwarding.allowsRemote, connection.grant.permitsPortForwarding else {
            refuse(connection, what, Self.denial("AllowTcpForwarding", "remote", connection))
            return .failure
        }
        guard port <= 65535 else {
            refuse(connection, what, "no such port")
            return .failure
        }
        guard policy.permitsListen(address: address, port: port, grant: connection.grant) else {
            refuse(connection, what, "not permitted by PermitListen or permitlisten=")
            return .failure
        }
        guard port == 0 || port >= 1024 || policy.allowsPrivilegedPorts else {
            refuse(connection, what, "only root may listen on a port below 1024")
            return .failure
        }
        let bindHost: String = switch policy.gatewayPorts {
        case .loopbackOnly: "localhost"
        case .allAddresses: ""
        case .clientSpecified: address == "*" ? "" : address
        }
        let key = RemoteForwardKey.tcp(address: address, port: port)
        guard reserveListener(key, on: connection) else {
            refuse(connection, what, "already forwarded, or too many forwards")
            return .failure
        }
        let channels: [any Channel]
        do {
            let initializer: @Sendable (any Channel) -> EventLoopFuture<Void> = { socket in
                Self.acceptedConnection(socket, connection: connection) { originator, boundPort in
                    .forwardedTCPIP(connectedAddress: address, connectedPort: UInt32(clamping: boundPort),
                                    originatorAddress: originator.address, originatorPort: UInt32(clamping: originator.port))
                }
            }
            if port > 0 && port < 1024, let descriptors = try await host.listenPrivilegedTCP(host: bindHost, port: port, for: connection) {
                var adopted: [any Channel] = []
                do {
                    for (index, descriptor) in descriptors.enumerated() {
                        do {
                            adopted.append(try await ServerBootstrap(group: connection.eventLoop, childGroup: connection.eventLoop)
                                .childChannelOption(.allowRemoteHalfClosure, value: true)
                                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                                .childChannelInitializer(initializer)
                                .withBoundSocket(descriptor).get())
                        } catch {
                            for rest in descriptors[(index + 1)...] { close(rest) }
                            throw error
                        }
                    }
                } catch {
                    for channel in adopted { channel.close(promise: nil) }
                    throw error
                }
                channels = adopted
            } else {
                channels = try await Listeners.bind(.tcp(host: bindHost, port: port), on: connection.eventLoop, streamLocal: policy.streamLocalBind,
                                                    childInitializer: initializer)
            }
        } catch {
            releaseListener(key, on: connection)
            refuse(connection, what, "\(error)")
            return .failure
        }
        let boundPort = channels.first?.localAddress?.port ?? port
        // A cancel for port 0 names the port that was chosen.
        let finalKey = port == 0 ? RemoteForwardKey.tcp(address: address, port: boundPort) : key
        releaseListener(key, on: connection)
        guard storeListener(finalKey, channels, on: connection) else {
            for channel in channels { channel.close(promise: nil) }
            return .failure
        }
        onEvent?(.listening(user: connection.user, endpoint: .tcp(host: bindHost, port: boundPort)))
        return port == 0 ? .boundPort(UInt32(boundPort)) : .success
    }

    private func listenStreamLocal(path: String, policy: SSHForwardingPolicy, connection: SSHServerConnection) async -> SSHGlobalRequestResponse {
        let what = "streamlocal-forward listen \(path)"
        guard policy.streamLocalForwarding.allowsRemote, connection.grant.permitsPortForwarding else {
            refuse(connection, what, Self.denial("AllowStreamLocalForwarding", "remote", connection))
            return .failure
        }
        let key = RemoteForwardKey.unixSocket(path: path)
        guard reserveListener(key, on: connection) else {
            refuse(connection, what, "already forwarded, or too many forwards")
            return .failure
        }
        let channel: any Channel
        do {
            let descriptor = try await host.listenStreamLocal(path: path, options: policy.streamLocalBind, for: connection)
            channel = try await ServerBootstrap(group: connection.eventLoop, childGroup: connection.eventLoop)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { socket in
                    Self.acceptedConnection(socket, connection: connection) { _, _ in .forwardedStreamLocal(socketPath: path) }
                }
                .withBoundSocket(descriptor).get()
        } catch {
            releaseListener(key, on: connection)
            refuse(connection, what, readableReason(error))
            return .failure
        }
        releaseListener(key, on: connection)
        guard storeListener(key, [channel], on: connection) else {
            channel.close(promise: nil)
            return .failure
        }
        onEvent?(.listening(user: connection.user, endpoint: .unixSocket(path: path)))
        return .success
    }

    /// A connection accepted on a remote forward: a forwarded-* channel to the client, then the splice.
    private static func acceptedConnection(_ socket: any Channel, connection: SSHServerConnection,
                                           type: @escaping @Sendable (Originator, Int) -> SSHChannelType) -> EventLoopFuture<Void> {
        socket.eventLoop.makeCompletedFuture {
            let handler = NIOLoopBound(try Splice.install(on: socket), eventLoop: socket.eventLoop)
            let channelType = type(Originator(socket.remoteAddress), socket.localAddress?.port ?? 0)
            connection.spawn {
                let channel: SSHChannel
                do {
                    channel = try await connection.openChannel(channelType)
                } catch {
                    try? await socket.close()
                    return
                }
                await Splice.run(channel, socket: socket, handler: handler)
            }
        }
    }

    // MARK: The listeners' records

    /// Claims `key` for a listener being set up; false when it is taken or the connection has too many. The first
    /// listener of a connection arranges for all of them to close with it.
    private func reserveListener(_ key: RemoteForwardKey, on connection: SSHServerConnection) -> Bool {
        let (reserved, first) = listeners.withLockedValue { all -> (Bool, Bool) in
            let first = all[connection.connectionID] == nil
            var mine = all[connection.connectionID] ?? [:]
            guard mine[key] == nil, mine.count < Self.maximumListenersPerConnection else { return (false, false) }
            mine[key] = []
            all[connection.connectionID] = mine
            return (true, first)
        }
        if first {
            let listeners = self.listeners
            connection.onClose {
                let closing = listeners.withLockedValue { $0.removeValue(forKey: connection.connectionID) } ?? [:]
                for channels in closing.values { for channel in channels { channel.close(promise: nil) } }
            }
        }
        return reserved
    }

    private func releaseListener(_ key: RemoteForwardKey, on connection: SSHServerConnection) {
        listeners.withLockedValue { all in
            if all[connection.connectionID]?[key]?.isEmpty == true { all[connection.connectionID]?[key] = nil }
        }
    }

    /// Records a bound listener; false when the connection ended meanwhile.
    private func storeListener(_ key: RemoteForwardKey, _ channels: [any Channel], on connection: SSHServerConnection) -> Bool {
        listeners.withLockedValue { all in
            guard all[connection.connectionID] != nil else { return false }
            all[connection.connectionID]?[key] = channels
            return true
        }
    }

    private func cancel(_ key: RemoteForwardKey, connection: SSHServerConnection) async -> SSHGlobalRequestResponse {
        let channels = listeners.withLockedValue { all -> [any Channel]? in
            guard let channels = all[connection.connectionID]?[key], !channels.isEmpty else { return nil }
            all[connection.connectionID]?[key] = nil
            return channels
        }
        guard let channels else { return .failure }
        for channel in channels { try? await channel.close() }
        return .success
    }
}

/// Does what `SSHForwardingHost` asks in this process, with its own rights: for a server that is not root, or
/// whose users may do whatever the server may.
public struct SSHInProcessForwardingHost: SSHForwardingHost {
    /// A host acting with this process's rights.
    public init() {}

    /// Connects the socket.
    /// - Parameters:
    ///   - path: the socket.
    ///   - connection: the connection asking, ignored.
    /// - Returns: the connected descriptor.
    /// - Throws: `SSHForwardingError` with `connectFailed` and the system's reason.
    public func connectStreamLocal(path: String, for connection: SSHServerConnection) async throws -> CInt {
        try await UnixSockets.connect(path)
    }

    /// Creates and listens on the socket.
    /// - Parameters:
    ///   - path: the socket.
    ///   - options: whether to replace an existing file, and the mode.
    ///   - connection: the connection asking, ignored.
    /// - Returns: the listening descriptor.
    /// - Throws: `SSHForwardingError` with `listenFailed` and the system's reason.
    public func listenStreamLocal(path: String, options: SSHStreamLocalBindOptions, for connection: SSHServerConnection) async throws -> CInt {
        try await UnixSockets.listen(path, options: options)
    }

    /// Makes a private directory in the temporary directory with a listening socket in it.
    /// - Parameter connection: the connection, ignored.
    /// - Returns: the socket's path and descriptor.
    /// - Throws: `SSHForwardingError` with `listenFailed` and the system's reason.
    public func makeAgentSocket(for connection: SSHServerConnection) async throws -> (path: String, descriptor: CInt) {
        try await UnixSockets.makeAgentSocket()
    }

    /// Removes the socket and its directory.
    /// - Parameters:
    ///   - path: the socket.
    ///   - connection: the connection, ignored.
    public func removeAgentSocket(path: String, for connection: SSHServerConnection) async {
        UnixSockets.removeAgentSocket(path)
    }
}
