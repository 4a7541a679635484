// shhd's privilege broker, both halves of its policy: what the root broker answers (ShhdBrokerPolicy: it holds
// the host private keys and decides logins with shhd's authenticator) and what the network process puts in its
// place (BrokeredAuthenticator, BrokeredHostKeySigner: every decision asked over the broker's socket). The
// protocol and socket are SSHServerHost's (Broker/); the threat model is Broker/THREAT_MODEL.md there.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSSHServerHost
import NIOCore
import SSHPOSIX
import SSH
import SSHForwarding
import SSHKeys
import SSHProtocol
import SSHServerHost
import Synchronization

/// The broker's answers. A connection exists for it from the first exchange hash it signs for it (which it records
/// as that connection's session identifier, as OpenSSH's monitor does) until the network process says it closed.
/// A publickey signature is verified here again, over that recorded identifier: the network process's word that
/// it checked is not taken.
final class ShhdBrokerPolicy: SSHBrokerRequestHandler {
    private struct Connection {
        var sessionIdentifier: [UInt8]
        var authenticatedUser: String?
        /// What the login may do, as the authenticator granted it: applied to every session of the connection,
        /// whatever the network process asks.
        var grant: SSHLoginGrant?
        /// The account and forwarding policy (Match applied) of that login: what the broker does as the user for
        /// forwarding is checked against these, never against the network process's word.
        var account: SystemAccount?
        var forwarding: SSHForwardingPolicy?
        /// Agent sockets made for this connection (only these may be named in SSH_AUTH_SOCK or removed).
        var agentSockets: Set<String> = []
    }

    /// Agent sockets one connection may have at once (one per session that asks; MaxSessions is 10 by default).
    static let maximumAgentSockets = 64

    /// A session the broker started: whose connection it belongs to and how to signal it.
    private struct Session {
        var connection: UInt64
        var signal: @Sendable (Int32) -> Void
    }

    let hostKeys: [SSHServerHostKey]
    let authenticator: ShhdAuthenticator
    /// Starts sessions as their users (nil: none are started, as when shhd is not root).
    let launcher: SSHLocalSessionLauncher?
    /// The server's AcceptEnv, for the client's variables when the grant names none.
    let acceptedEnvironment: [String]
    /// Where notices go (a session's end); nil in tests that only ask questions.
    let notices: SSHBrokerSocket?
    private let sessions = Mutex<[UInt64: Session]>([:])
    private let lastSessionID = Mutex<UInt64>(0)
    /// Connections remembered at once; past it new ones are refused (a network process that never reports closes
    /// cannot grow the broker without bound).
    static let maximumConnections = 100_000
    private let connections = Mutex<[UInt64: Connection]>([:])

    init(hostKeys: [SSHServerHostKey], authenticator: ShhdAuthenticator, launcher: SSHLocalSessionLauncher? = nil,
         acceptedEnvironment: [String] = [], notices: SSHBrokerSocket? = nil) {
        self.hostKeys = hostKeys
        self.authenticator = authenticator
        self.launcher = launcher
        self.acceptedEnvironment = acceptedEnvironment
        self.notices = notices
    }

    /// What the hello tells the network process: the public halves and certificates.
    var announcedHostKeys: [SSHBrokerNotice.HostKey] {
        hostKeys.map { SSHBrokerNotice.HostKey(publicKey: $0.publicKey.wireBlob, certificate: $0.certificate?.wireBlob) }
    }

    func handle(_ request: SSHBrokerRequest) -> SSHBrokerReply {
        switch request {
        case .signExchangeHash(let connection, let exchangeHash, let algorithmName, let hostKeyBlob):
            return sign(exchangeHash, algorithmName: algorithmName, hostKeyBlob: hostKeyBlob, connection: connection)
        case .authenticate(let connection, let attempt, let isFirst, let completed, let remote, let remotePort, let local, let localPort):
            guard let record = connections.withLock({ $0[connection] }) else { return .refused("connection \(connection) has no key exchange") }
            guard record.authenticatedUser == nil else { return .refused("connection \(connection) has already authenticated") }
            var info = SSHServerConnectionInfo(remoteAddress: try? SocketAddress(ipAddress: remote, port: Int(remotePort)),
                                               localAddress: try? SocketAddress(ipAddress: local, port: Int(localPort)),
                                               completedMethods: completed.map(SSHAuthenticationMethod.init(name:)), isFirstRequest: isFirst,
                                               connectionID: connection)
            guard let decidable = Self.attempt(attempt, sessionIdentifier: record.sessionIdentifier, info: &info) else { return .decision(.reject) }
            let decision = authenticator.decideBlocking(decidable, on: info)
            var granted: SSHLoginGrant?
            if case .publicKey(_, _, true, _) = decidable {} else if case .grant(let grant) = decision {
                granted = grant
            } else if case .accept = decision {
                granted = SSHLoginGrant()
            }
            if let granted {
                // The login's forwarding policy, from the Match blocks for this user and address, on this thread
                // that may block (account and group lookups).
                let forwarding = authenticator.forwardingPolicyBlocking(user: decidable.user, on: info)
                connections.withLock {
                    $0[connection]?.authenticatedUser = decidable.user
                    $0[connection]?.grant = granted
                    $0[connection]?.account = forwarding?.0
                    $0[connection]?.forwarding = forwarding?.1
                }
            }
            return .decision(decision)
        case .banner(let connection, let user, let remote, let local, let localPort):
            guard connections.withLock({ $0[connection] }) != nil else { return .refused("connection \(connection) has no key exchange") }
            return .banner(authenticator.bannerBlocking(for: user, on: Self.info(connection, remote, local, localPort)))
        case .maximumAttempts(let connection, let user, let remote, let local, let localPort):
            guard connections.withLock({ $0[connection] }) != nil else { return .refused("connection \(connection) has no key exchange") }
            return .maximumAttempts(authenticator.maximumAttemptsBlocking(for: user, on: Self.info(connection, remote, local, localPort)))
        case .connectionClosed(let connection):
            let record = connections.withLock { $0.removeValue(forKey: connection) }
            // Agent sockets its sessions did not remove (the network process died, or lost the request) go now.
            if let record, let account = record.account, !record.agentSockets.isEmpty {
                Self.removeAgentSockets(record.agentSockets, as: account)
            }
            return .done
        case .startSession:
            return .refused("a session is started by answer(_:)")
        case .signalSession(let connection, let session, let signal):
            guard let known = sessions.withLock({ $0[session] }), known.connection == connection else {
                return .refused("no session \(session) on connection \(connection)")
            }
            // Only signals a client may send (RFC 4254 §6.9's names) and the hang-up that ends a session.
            guard let number = Int32(exactly: signal), SSHProcessSessionHandler.signalName(number).hasSuffix("@shh") == false else {
                return .refused("signal \(signal) is not one a session may be sent")
            }
            known.signal(number)
            return .done
        case .forwardingPolicy(let connection):
            guard let record = connections.withLock({ $0[connection] }), record.authenticatedUser != nil else {
                return .refused("connection \(connection) has not authenticated")
            }
            // No account (it vanished since the login): nothing may be forwarded.
            return .forwardingPolicy(record.forwarding ?? SSHForwardingPolicy())
        case .removeAgentSocket(let connection, let path):
            let account = connections.withLock { connections -> SystemAccount? in
                guard connections[connection]?.agentSockets.remove(path) != nil else { return nil }
                return connections[connection]?.account
            }
            guard let account else { return .refused("no agent socket \(path) on connection \(connection)") }
            UserSockets.removeAgentSocket(path, as: account)
            return .done
        case .connectStreamLocal, .listenStreamLocal, .makeAgentSocket, .listenPrivilegedTCP:
            return .refused("a socket is made by answer(_:)")
        }
    }

    /// Removes agent sockets as their user, off the thread that asks (each is a fork and a wait).
    private static func removeAgentSockets(_ paths: Set<String>, as account: SystemAccount) {
        Task {
            _ = try? await SSHBlockingWorkPool.shared.run("removing agent sockets of \(account.name)") {
                for path in paths { UserSockets.removeAgentSocket(path, as: account) }
            }
        }
    }

    /// A socket made as the connection's user for forwarding, after the broker's own checks: the connection
    /// authenticated, its login may forward (the grant) in this direction (the policy recorded at login).
    private func socketAnswer(_ request: SSHBrokerRequest) async -> SSHBrokerAnswer {
        let connection: UInt64
        switch request {
        case .connectStreamLocal(let id, _), .listenStreamLocal(let id, _), .makeAgentSocket(let id), .listenPrivilegedTCP(let id, _, _):
            connection = id
        default:
            return SSHBrokerAnswer(.refused("not a socket request"))
        }
        guard let record = connections.withLock({ $0[connection] }), record.authenticatedUser != nil, let grant = record.grant,
              let account = record.account, let policy = record.forwarding else {
            return SSHBrokerAnswer(.refused("connection \(connection) has not authenticated"))
        }
        let work: @Sendable () throws -> SSHBrokerAnswer
        switch request {
        case .connectStreamLocal(_, let path):
            guard grant.permitsPortForwarding, policy.streamLocalForwarding.permitsLocal else {
                return SSHBrokerAnswer(.refused("stream-local forwarding is not permitted for this login"))
            }
            work = { SSHBrokerAnswer(.descriptor, descriptors: [try UserSockets.perform(SHH_SOCKET_CONNECT, path: path, as: account) ?? -1]) }
        case .listenStreamLocal(_, let path):
            guard grant.permitsPortForwarding, policy.streamLocalForwarding.permitsRemote else {
                return SSHBrokerAnswer(.refused("remote stream-local forwarding is not permitted for this login"))
            }
            let bind = policy.streamLocalBind
            work = {
                SSHBrokerAnswer(.descriptor, descriptors: [try UserSockets.perform(SHH_SOCKET_LISTEN, path: path, unlinkExisting: bind.unlinkExisting,
                                                                                   mask: bind.mask, as: account) ?? -1])
            }
        case .makeAgentSocket:
            guard grant.permitsAgentForwarding else { return SSHBrokerAnswer(.refused("agent forwarding is not permitted for this login")) }
            guard record.agentSockets.count < Self.maximumAgentSockets else { return SSHBrokerAnswer(.refused("too many agent sockets")) }
            work = { [self] in
                let (path, descriptor) = try UserSockets.makeAgentSocket(as: account, suffix: connection)
                let kept = self.connections.withLock { connections -> Bool in
                    guard connections[connection] != nil else { return false }
                    connections[connection]?.agentSockets.insert(path)
                    return true
                }
                guard kept else {
                    // The connection ended meanwhile: nobody will remove it later.
                    close(descriptor)
                    UserSockets.removeAgentSocket(path, as: account)
                    return SSHBrokerAnswer(.refused("connection \(connection) is gone"))
                }
                return SSHBrokerAnswer(.agentSocket(path: path), descriptors: [descriptor])
            }
        case .listenPrivilegedTCP(_, let address, let port):
            guard grant.permitsPortForwarding, policy.tcpForwarding.permitsRemote, policy.allowsPrivilegedPorts, account.uid == 0,
                  (1..<1024).contains(port) else {
                return SSHBrokerAnswer(.refused("only root logins may listen on a port below 1024"))
            }
            work = {
                let (descriptor, _) = try PrivilegeSeparation.listen(host: address, port: Int(port))
                return SSHBrokerAnswer(.descriptor, descriptors: [descriptor])
            }
        default:
            return SSHBrokerAnswer(.refused("not a socket request"))
        }
        do {
            return try await SSHBlockingWorkPool.shared.run("a forwarding socket for connection \(connection)", timeout: .seconds(30), discardLate: { (late: SSHBrokerAnswer) in
                late.descriptors.forEach { close($0) }
            }, work)
        } catch {
            return SSHBrokerAnswer(.refused("\(error)"))
        }
    }

    /// What takes no blocking call: a signature (tens of microseconds for ed25519, a few milliseconds for RSA), a
    /// closed connection, a signal. Answered on the broker's reading thread.
    func immediateReply(to request: SSHBrokerRequest) -> SSHBrokerReply? {
        switch request {
        case .signExchangeHash, .connectionClosed, .signalSession, .forwardingPolicy: handle(request)
        case .authenticate, .banner, .maximumAttempts, .startSession, .connectStreamLocal, .listenStreamLocal, .makeAgentSocket,
             .removeAgentSocket, .listenPrivilegedTCP: nil
        }
    }

    func answersAsynchronously(_ request: SSHBrokerRequest) -> Bool {
        switch request {
        case .startSession, .connectStreamLocal, .listenStreamLocal, .makeAgentSocket, .listenPrivilegedTCP: true
        default: false
        }
    }

    /// Sessions: started here, as the user the connection authenticated as, with the grant recorded at login.
    func answer(_ request: SSHBrokerRequest) async -> SSHBrokerAnswer? {
        switch request {
        case .connectStreamLocal, .listenStreamLocal, .makeAgentSocket, .listenPrivilegedTCP: return await socketAnswer(request)
        default: break
        }
        guard case .startSession(let connection, let asked) = request else { return nil }
        guard let launcher else { return SSHBrokerAnswer(.refused("this broker starts no sessions")) }
        guard let record = connections.withLock({ $0[connection] }), let user = record.authenticatedUser, let grant = record.grant else {
            return SSHBrokerAnswer(.refused("connection \(connection) has not authenticated"))
        }
        guard asked.user == user else { return SSHBrokerAnswer(.refused("connection \(connection) authenticated as another user")) }
        if let agentSocket = asked.agentSocket, !record.agentSockets.contains(agentSocket) {
            return SSHBrokerAnswer(.refused("\(agentSocket) is not an agent socket of connection \(connection)"))
        }
        if asked.terminal != nil && !grant.permitsTerminal { return SSHBrokerAnswer(.refused("no terminal for this login")) }
        let accepted = grant.acceptedEnvironment ?? acceptedEnvironment
        let environment = asked.environment.filter { name, _ in
            grant.environment[name] == nil && accepted.contains { OpenSSHPattern.matches(name, pattern: $0) }
        }
        let launch: SSHSessionLaunch
        do {
            launch = try await launcher.launch(SSHSessionLaunchRequest(
                user: user, command: asked.command, environment: environment, terminal: asked.terminal,
                remoteAddress: try? SocketAddress(ipAddress: asked.remoteAddress, port: Int(asked.remotePort)),
                localAddress: try? SocketAddress(ipAddress: asked.localAddress, port: Int(asked.localPort)), grant: grant,
                connectionID: connection, agentSocket: asked.agentSocket))
        } catch {
            return SSHBrokerAnswer(.sessionRefused(message: Array("\(error)\n".utf8), status: 254))
        }
        switch launch {
        case .refused(let message, let status):
            return SSHBrokerAnswer(.sessionRefused(message: message, status: UInt32(bitPattern: status)))
        case .started(let session):
            let id = lastSessionID.withLock { last -> UInt64 in last += 1; return last }
            sessions.withLock { $0[id] = Session(connection: connection, signal: session.signal) }
            let notices = self.notices
            Task {
                let exit = await session.exit()
                self.sessions.withLock { _ = $0.removeValue(forKey: id) }
                // Without waiting where the socket has room (it nearly always has); on the blocking pool where not.
                let notice = SSHBrokerMessage.notice(.sessionExited(session: id, exit: exit))
                if (try? notices?.send(notice, waiting: false)) == nil {
                    _ = try? await SSHBlockingWorkPool.shared.run("telling the network process a session ended") { try notices?.send(notice) }
                }
            }
            if session.hasTerminal {
                // One descriptor of the terminal's controlling side travels; the network process makes its own second.
                close(session.stdin)
                return SSHBrokerAnswer(.sessionStarted(session: id, terminal: true, messageOfTheDay: session.messageOfTheDay),
                                       descriptors: [session.stdout])
            }
            return SSHBrokerAnswer(.sessionStarted(session: id, terminal: false, messageOfTheDay: session.messageOfTheDay),
                                   descriptors: [session.stdin, session.stdout] + (session.stderr.map { [$0] } ?? []))
        }
    }

    /// The network process is gone: every session it served is hung up, as a closing terminal would.
    func networkProcessEnded() {
        for session in sessions.withLock({ Array($0.values) }) { session.signal(SIGHUP) }
        // Its connections are gone, and with them their agent sockets.
        let records = connections.withLock { connections -> [Connection] in
            defer { connections.removeAll() }
            return Array(connections.values)
        }
        for record in records where !record.agentSockets.isEmpty {
            if let account = record.account { Self.removeAgentSockets(record.agentSockets, as: account) }
        }
    }

    private func sign(_ exchangeHash: [UInt8], algorithmName: String, hostKeyBlob: [UInt8], connection: UInt64) -> SSHBrokerReply {
        // Only what an exchange hash can be: a SHA-256, -384 or -512 digest.
        guard [32, 48, 64].contains(exchangeHash.count) else { return .refused("\(exchangeHash.count) bytes are no exchange hash") }
        guard let algorithm = SSHHostKeyAlgorithm(name: algorithmName),
              let hostKey = hostKeys.first(where: { $0.publicKey.wireBlob == hostKeyBlob && $0.publicKey.type == algorithm.keyType }),
              let privateKey = hostKey.privateKey else {
            return .refused("no host key for \(algorithmName) here")
        }
        let recorded = connections.withLock { connections -> Bool in
            if connections[connection] != nil { return true }
            guard connections.count < Self.maximumConnections else { return false }
            connections[connection] = Connection(sessionIdentifier: exchangeHash)
            return true
        }
        guard recorded else { return .refused("too many connections") }
        do {
            return .signature(try privateKey.signature(for: exchangeHash, algorithm: algorithm.signatureAlgorithm).wireBlob)
        } catch {
            return .refused("signing failed: \(error)")
        }
    }

    /// The attempt for shhd's authenticator; nil when it must be refused here (a key that does not parse, a
    /// signature that does not verify over this connection's session identifier).
    static func attempt(_ attempt: SSHBrokerAttempt, sessionIdentifier: [UInt8], info: inout SSHServerConnectionInfo) -> SSHAuthenticationAttempt? {
        switch attempt {
        case .none(let user):
            return .none(user: user)
        case .password(let user, let password):
            return .password(user: user, password: password)
        case .keyboardInteractive(let user, let responses):
            return .keyboardInteractive(user: user, responses: responses)
        case .publicKey(let user, let algorithmName, let blob, let signature):
            guard let algorithm = SSHHostKeyAlgorithm(name: algorithmName), let key = try? SSHPresentedKey(blob: blob, algorithm: algorithm),
                  key.publicKey.type == algorithm.keyType else { return nil }
            guard let signature else { return .publicKey(user: user, key: key, isQuery: true, algorithm: algorithm) }
            let data = UserAuthenticationRequest.signedData(sessionIdentifier: sessionIdentifier, user: user, service: "ssh-connection",
                                                            algorithm: algorithmName, keyBlob: blob)
            guard let parsed = try? SSHSignature(wireBlob: signature), parsed.algorithmName == algorithm.signatureAlgorithm.rawValue,
                  key.publicKey.isValidSignature(parsed, for: data, allowedAlgorithms: [algorithm.signatureAlgorithm]) else { return nil }
            info.publicKeySignature = signature
            return .publicKey(user: user, key: key, isQuery: false, algorithm: algorithm)
        }
    }

    private static func info(_ connection: UInt64, _ remote: String, _ local: String, _ localPort: UInt16) -> SSHServerConnectionInfo {
        SSHServerConnectionInfo(remoteAddress: try? SocketAddress(ipAddress: remote, port: 0),
                                localAddress: try? SocketAddress(ipAddress: local, port: Int(localPort)), connectionID: connection)
    }
}

/// The network process's authenticator: every decision is the broker's. A banner and an attempt limit that cannot
/// depend on the user's account (no Banner or MaxAuthTries inside Match) are answered here, from the configuration
/// and banner texts read before the chroot: two round trips fewer per login.
struct BrokeredAuthenticator: SSHServerAuthenticator {
    let broker: SSHBrokerClient
    let offeredMethods: [SSHAuthenticationMethod]
    /// shhd's own authenticator over the same configuration, for what needs no account (never for a decision).
    var local: ShhdAuthenticator?

    func decide(_ attempt: SSHAuthenticationAttempt, on connection: SSHServerConnectionInfo) async -> SSHAuthenticationDecision {
        let passed: SSHBrokerAttempt
        switch attempt {
        case .none(let user): passed = .none(user: user)
        case .password(let user, let password): passed = .password(user: user, password: password)
        case .keyboardInteractive(let user, let responses): passed = .keyboardInteractive(user: user, responses: responses)
        case .publicKey(let user, let key, let isQuery, let algorithm):
            if !isQuery && connection.publicKeySignature == nil { return .reject }
            passed = .publicKey(user: user, algorithm: algorithm.name, keyBlob: key.wireBlob, signature: isQuery ? nil : connection.publicKeySignature)
        }
        let request = SSHBrokerRequest.authenticate(
            connection: connection.connectionID, attempt: passed, isFirstRequest: connection.isFirstRequest, completedMethods: connection.completedMethods.map(\.name),
            remoteAddress: connection.remoteAddress?.ipAddress ?? "", remotePort: UInt16(clamping: connection.remoteAddress?.port ?? 0),
            localAddress: connection.localAddress?.ipAddress ?? "", localPort: UInt16(clamping: connection.localAddress?.port ?? 0))
        guard case .decision(let decision)? = try? await broker.request(request) else { return .reject }
        return decision
    }

    func banner(for user: String, on connection: SSHServerConnectionInfo) async -> String? {
        if let local, !local.bannerNeedsAccount { return await local.banner(for: user, on: connection) }
        let request = SSHBrokerRequest.banner(connection: connection.connectionID, user: user, remoteAddress: connection.remoteAddress?.ipAddress ?? "",
                                              localAddress: connection.localAddress?.ipAddress ?? "",
                                              localPort: UInt16(clamping: connection.localAddress?.port ?? 0))
        guard case .banner(let text)? = try? await broker.request(request) else { return nil }
        return text
    }

    func maximumAttempts(for user: String, on connection: SSHServerConnectionInfo) async -> Int? {
        if let local, !local.attemptLimitNeedsAccount { return nil }
        let request = SSHBrokerRequest.maximumAttempts(connection: connection.connectionID, user: user,
                                                       remoteAddress: connection.remoteAddress?.ipAddress ?? "",
                                                       localAddress: connection.localAddress?.ipAddress ?? "",
                                                       localPort: UInt16(clamping: connection.localAddress?.port ?? 0))
        guard case .maximumAttempts(let count)? = try? await broker.request(request) else { return nil }
        return count
    }
}

/// The network process's session launcher: the broker starts each session and passes its descriptors back.
struct BrokeredSessionLauncher: SSHSessionLauncher {
    let broker: SSHBrokerClient

    func launch(_ request: SSHSessionLaunchRequest) async throws -> SSHSessionLaunch {
        let asked = SSHBrokerSessionRequest(
            user: request.user, command: request.command, environment: request.environment, terminal: request.terminal,
            remoteAddress: request.remoteAddress?.ipAddress ?? "", remotePort: UInt16(clamping: request.remoteAddress?.port ?? 0),
            localAddress: request.localAddress?.ipAddress ?? "", localPort: UInt16(clamping: request.localAddress?.port ?? 0),
            agentSocket: request.agentSocket)
        let (reply, descriptors) = try await broker.requestWithDescriptors(.startSession(connection: request.connectionID, asked))
        func refuse(_ why: String) -> SSHSessionLaunch {
            descriptors.forEach { close($0) }
            return .refused(message: Array("\(why)\n".utf8), status: 254)
        }
        switch reply {
        case .sessionRefused(let message, let status):
            descriptors.forEach { close($0) }
            return .refused(message: message, status: Int32(bitPattern: status))
        case .sessionStarted(let session, let terminal, let motd):
            guard descriptors.count == (terminal ? 1 : 3) else { return refuse("the broker sent \(descriptors.count) descriptors for a session") }
            let broker = self.broker
            let connection = request.connectionID
            let signal: @Sendable (Int32) -> Void = { number in
                broker.post(.signalSession(connection: connection, session: session, signal: UInt32(bitPattern: number)))
            }
            let exit: @Sendable () async -> ChildExit = { await broker.sessionExit(session) }
            if terminal {
                let input = dup(descriptors[0])
                guard input >= 0 else {
                    signal(SIGHUP)
                    return refuse("dup: \(String(cString: strerror(errno)))")
                }
                return .started(SSHLaunchedSession(stdin: input, stdout: descriptors[0], stderr: nil, messageOfTheDay: motd, signal: signal, exit: exit))
            }
            return .started(SSHLaunchedSession(stdin: descriptors[0], stdout: descriptors[1], stderr: descriptors[2], messageOfTheDay: motd,
                                               signal: signal, exit: exit))
        case .refused(let why):
            return refuse("the session was refused: \(why)")
        default:
            return refuse("the broker answered a session with \(reply)")
        }
    }
}

/// The network process's host-key signer: the broker holds the keys.
struct BrokeredHostKeySigner: SSHHostKeySigner {
    let broker: SSHBrokerClient

    func sign(exchangeHash: [UInt8], algorithm: SSHHostKeyAlgorithm, hostKey: SSHPublicKey, connection: SSHServerConnectionInfo) async throws -> SSHSignature {
        let reply = try await broker.request(.signExchangeHash(connection: connection.connectionID, exchangeHash: exchangeHash,
                                                               algorithm: algorithm.name, hostKey: hostKey.wireBlob))
        switch reply {
        case .signature(let blob): return try SSHSignature(wireBlob: blob)
        case .refused(let reason): throw SSHBrokerProtocolError("the broker refused to sign: \(reason)")
        default: throw SSHBrokerProtocolError("the broker answered a signing request with \(reply)")
        }
    }

    func connectionClosed(_ connectionID: UInt64) {
        // On the event loop: sent without waiting, its reply not awaited.
        broker.post(.connectionClosed(connection: connectionID))
    }
}
