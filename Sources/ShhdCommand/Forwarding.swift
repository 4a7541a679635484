// shhd's forwarding (issue 18; RFC 4254 §7, OpenSSH PROTOCOL §2.4 and PROTOCOL.agent): sshd_config's
// AllowTcpForwarding, AllowStreamLocalForwarding, GatewayPorts, PermitOpen, PermitListen, StreamLocalBind* and
// DisableForwarding become an SSHForwardingPolicy per login (Match blocks applied for that user and address, as
// sshd applies them after authentication), decided where the account database is: in this process when shhd is not
// root, by the broker when it is (the network process is chrooted, without /etc/group). What must happen with the
// user's rights — Unix sockets connected and made, the agent's socket, a root login's privileged port — goes
// through an SSHForwardingHost: this process's own when it is the user's, the broker's otherwise.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSSHServerHost
import NIOCore
import OpenSSHConfig
import SSH
import SSHForwarding
import SSHPOSIX
import SSHProtocol
import SSHServerHost
import Synchronization

extension SSHServerOptions {
    /// What these options (one login's, Match applied) let it forward; `uid` is the login's account (only root
    /// may listen on ports below 1024, as sshd: serverloop.c's check of the login's uid).
    func forwardingPolicy(uid: uid_t) -> SSHForwardingPolicy {
        func directions(_ value: ForwardingDirections) -> SSHForwardingPolicy.Directions {
            // DisableForwarding overrides every Allow*Forwarding (servconf.c: "disable_forwarding").
            if disableForwarding { return .none }
            switch value {
            case .all: return .all
            case .none: return .none
            case .local: return .local
            case .remote: return .remote
            }
        }
        let gateway: SSHForwardingPolicy.GatewayPorts = switch gatewayPorts {
        case .no: .loopbackOnly
        case .yes: .allAddresses
        case .clientSpecified: .clientSpecified
        }
        var policy = SSHForwardingPolicy(tcpForwarding: directions(allowTcpForwarding), streamLocalForwarding: directions(allowStreamLocalForwarding),
                                         gatewayPorts: gateway, permitOpen: permitOpen, permitListen: permitListen)
        policy.streamLocalBind = SSHStreamLocalBindOptions(unlinkExisting: streamLocalBindUnlink, mask: streamLocalBindMask)
        policy.allowsPrivilegedPorts = uid == 0
        return policy
    }
}

extension SSHForwardingPolicy.Directions {
    /// Connections the client asks for (-L, -D, -W).
    var permitsLocal: Bool { self == .local || self == .all }
    /// Listeners on the server (-R).
    var permitsRemote: Bool { self == .remote || self == .all }
}

extension ShhdAuthenticator {
    /// The forwarding policy of `user` logging in from this connection, with the account it runs as; nil when the
    /// account is gone. Blocks (account and group lookups): on a pool for blocking work or the broker's thread.
    func forwardingPolicyBlocking(user: String, on connection: SSHServerConnectionInfo) -> (SystemAccount, SSHForwardingPolicy)? {
        guard let account = lookUpAccount(user) else { return nil }
        let settings = matchSettings(user: user, groups: account.groupNames, connection: connection)
        return (account, settings.options.forwardingPolicy(uid: account.uid))
    }
}

/// Forwarding policies of the connections that used forwarding, each decided once (its first forwarding request)
/// and forgotten when the connection ends.
final class ForwardingPolicies: Sendable {
    private let table = Mutex<[UInt64: SSHForwardingPolicy]>([:])

    /// The recorded policy; nobody forwards anything on a connection without one (fail closed).
    func recorded(_ connection: SSHServerConnection) -> SSHForwardingPolicy {
        table.withLock { $0[connection.connectionID] } ?? SSHForwardingPolicy()
    }

    /// Records `policy` unless there is one; the record goes with the connection.
    func record(_ policy: SSHForwardingPolicy, for connection: SSHServerConnection) {
        let id = connection.connectionID
        let first = table.withLock { table -> Bool in
            guard table[id] == nil else { return false }
            table[id] = policy
            return true
        }
        // Registered after the insertion: on a connection already closed it runs at once and removes it.
        if first { connection.onClose { [self] in _ = table.withLock { $0.removeValue(forKey: id) } } }
    }

    func isRecorded(_ connection: SSHServerConnection) -> Bool { table.withLock { $0[connection.connectionID] != nil } }

    var count: Int { table.withLock { $0.count } }
}

/// shhd's connection delegate: the library's forwarding (SSHServerForwarding) under each login's policy, which is
/// fetched (asynchronously: it needs the account database) before a connection's first forwarding request is
/// decided, and the decisions logged as sshd logs them.
final class ShhdForwarding: SSHServerConnectionDelegate {
    private let forwarding: SSHServerForwarding
    private let policies: ForwardingPolicies
    private let resolve: @Sendable (SSHServerConnection) async -> SSHForwardingPolicy

    /// - Parameters:
    ///   - host: does what needs the user's rights.
    ///   - log: where refusals and failures go.
    ///   - resolve: a login's policy (Match applied), asked once per connection that forwards.
    init(host: any SSHForwardingHost, log: ServerLog, resolve: @escaping @Sendable (SSHServerConnection) async -> SSHForwardingPolicy) {
        let policies = ForwardingPolicies()
        self.policies = policies
        self.resolve = resolve
        forwarding = SSHServerForwarding(policy: { policies.recorded($0) }, host: host) { event in
            log.write(Self.describe(event), at: Self.level(of: event))
        }
    }

    private func ensurePolicy(_ connection: SSHServerConnection) async {
        guard !policies.isRecorded(connection) else { return }
        policies.record(await resolve(connection), for: connection)
    }

    func globalRequest(_ request: SSHGlobalRequest, on connection: SSHServerConnection) async -> SSHGlobalRequestResponse {
        await ensurePolicy(connection)
        return await forwarding.globalRequest(request, on: connection)
    }

    func channelOpen(_ type: SSHChannelType, on connection: SSHServerConnection) async -> SSHChannelOpenDecision {
        await ensurePolicy(connection)
        return await forwarding.channelOpen(type, on: connection)
    }

    /// Refusals and failed connections at INFO (sshd logs a refused forward with logit/verbose and why), listeners
    /// at VERBOSE.
    static func level(of event: SSHServerForwardingEvent) -> ServerLog.Level {
        if case .listening = event { return .verbose }
        return .info
    }

    /// One line per event, worded after sshd's ("refused local port forward: ...", "connect_to ... failed").
    static func describe(_ event: SSHServerForwardingEvent) -> String {
        func place(_ address: SocketAddress?) -> String { "\(address?.ipAddress ?? "unknown") port \(address?.port ?? 0)" }
        switch event {
        case .refused(let user, let remote, let what, let reason):
            return "Refused \(what) for \(user) from \(place(remote)): \(reason)"
        case .listening(let user, let endpoint):
            return "Forwarding for \(user): listening on \(endpoint)"
        case .connectFailed(let user, let target, let reason):
            return "connect_to \(target) for \(user) failed: \(reason)"
        }
    }
}

// MARK: Hosts

/// The network process's forwarding host: the broker acts as the user and passes descriptors back.
struct BrokeredForwardingHost: SSHForwardingHost {
    let broker: SSHBrokerClient

    func descriptor(_ request: SSHBrokerRequest, failure: (String) -> SSHForwardingError) async throws -> (SSHBrokerReply, CInt) {
        let (reply, descriptors) = try await broker.requestWithDescriptors(request)
        switch reply {
        case .descriptor, .agentSocket:
            guard descriptors.count == 1 else {
                descriptors.forEach { close($0) }
                throw failure("the broker sent \(descriptors.count) descriptors")
            }
            return (reply, descriptors[0])
        case .refused(let why):
            descriptors.forEach { close($0) }
            throw failure(why)
        default:
            descriptors.forEach { close($0) }
            throw failure("the broker answered with \(reply)")
        }
    }

    func connectStreamLocal(path: String, for connection: SSHServerConnection) async throws -> CInt {
        try await descriptor(.connectStreamLocal(connection: connection.connectionID, path: path)) {
            SSHForwardingError(.connectFailed(target: path, reason: $0))
        }.1
    }

    /// The options are the broker's own (its record of the login's policy), not the network process's word.
    func listenStreamLocal(path: String, options: SSHStreamLocalBindOptions, for connection: SSHServerConnection) async throws -> CInt {
        try await descriptor(.listenStreamLocal(connection: connection.connectionID, path: path)) {
            SSHForwardingError(.listenFailed(address: path, reason: $0))
        }.1
    }

    func makeAgentSocket(for connection: SSHServerConnection) async throws -> (path: String, descriptor: CInt) {
        let (reply, descriptor) = try await descriptor(.makeAgentSocket(connection: connection.connectionID)) {
            SSHForwardingError(.listenFailed(address: "the agent socket", reason: $0))
        }
        guard case .agentSocket(let path) = reply else {
            close(descriptor)
            throw SSHForwardingError(.listenFailed(address: "the agent socket", reason: "the broker answered with \(reply)"))
        }
        return (path, descriptor)
    }

    func removeAgentSocket(path: String, for connection: SSHServerConnection) async {
        _ = try? await broker.request(.removeAgentSocket(connection: connection.connectionID, path: path))
    }
}

/// Unix sockets as a user, truly (see shh_socket_as_user): a forked child with the user's groups, gid and uid.
/// Blocking: called from the broker's pool.
enum UserSockets {
    struct Failure: Error, CustomStringConvertible {
        var step: String
        var code: Int32
        var description: String { "\(step): \(String(cString: strerror(code)))" }
    }

    /// Runs one operation as `account`; the descriptor (nil for a removal).
    static func perform(_ operation: shh_socket_operation, path: String, directory: String? = nil, unlinkExisting: Bool = false, mask: UInt32 = 0o177,
                        as account: SystemAccount) throws -> CInt? {
        let groups = account.groupIDs
        var failedStep: UnsafePointer<CChar>?
        let result = path.withCString { path in
            (directory ?? "").withCString { directory in
                groups.withUnsafeBufferPointer { groups in
                    var request = shh_socket_as_user_request(operation: Int32(operation.rawValue), path: path, directory: directory,
                                                             unlink_existing: unlinkExisting ? 1 : 0, mask: mode_t(mask & 0o777),
                                                             uid: account.uid, gid: account.gid, groups: groups.baseAddress,
                                                             group_count: groups.count)
                    return shh_socket_as_user(&request, &failedStep)
                }
            }
        }
        guard result >= 0 else { throw Failure(step: failedStep.map { String(cString: $0) } ?? "?", code: errno) }
        return operation == SHH_SOCKET_REMOVE ? nil : result
    }

    /// sshd's agent directory: /tmp/ssh-XXXXXXXXXX (0700, the user's) with agent.N in it. The name is drawn
    /// here; the child only makes it, and a name taken by someone else means another draw.
    static func makeAgentSocket(as account: SystemAccount, suffix: UInt64) throws -> (path: String, descriptor: CInt) {
        let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        var lastFailure: Failure?
        for _ in 0..<8 {
            let directory = "/tmp/ssh-" + String((0..<10).map { _ in letters[Int(generator.next(upperBound: UInt(letters.count)))] })
            let path = directory + "/agent.\(suffix)"
            do {
                guard let descriptor = try perform(SHH_SOCKET_MAKE_DIRECTORY_AND_LISTEN, path: path, directory: directory, as: account) else { break }
                return (path, descriptor)
            } catch let failure as Failure where failure.step == "mkdir" && failure.code == EEXIST {
                lastFailure = failure
            }
        }
        throw lastFailure ?? Failure(step: "mkdir", code: EEXIST)
    }

    /// Removes an agent socket and its directory as the user.
    static func removeAgentSocket(_ path: String, as account: SystemAccount) {
        guard let slash = path.lastIndex(of: "/") else { return }
        _ = try? perform(SHH_SOCKET_REMOVE, path: path, directory: String(path[..<slash]), as: account)
    }
}

extension BrokeredForwardingHost {
    /// A root login's remote forward below port 1024: the broker binds each address (the network process may not).
    func listenPrivilegedTCP(host: String, port: Int, for connection: SSHServerConnection) async throws -> [CInt]? {
        let addresses: [String] = switch host {
        case "", "*": ["0.0.0.0", "::"]
        case "localhost": ["127.0.0.1", "::1"]
        default: [host]
        }
        var descriptors: [CInt] = []
        var firstFailure: (any Error)?
        for address in addresses {
            do {
                descriptors.append(try await descriptor(.listenPrivilegedTCP(connection: connection.connectionID, address: address,
                                                                             port: UInt16(clamping: port))) {
                    SSHForwardingError(.listenFailed(address: "\(address) port \(port)", reason: $0))
                }.1)
            } catch {
                // As ssh and sshd: one address that cannot be bound (no IPv6 here) leaves the others.
                firstFailure = firstFailure ?? error
            }
        }
        if descriptors.isEmpty, let firstFailure { throw firstFailure }
        return descriptors
    }
}
