// The privilege broker's protocol: what shhd's unprivileged network process may ask of the root broker, and what it
// hears back. One message per datagram of a SOCK_SEQPACKET socket pair (descriptors ride along as SCM_RIGHTS),
// built from RFC 4251 types: a message number, a request identifier (so answers may come back in any order), then
// the fields. The broker treats every byte as hostile (the network process is the part a peer can reach): any
// message that does not decode exactly — unknown number, short or trailing bytes, a field past its limit — ends
// that conversation, never the broker. See Broker/THREAT_MODEL.md.
import NIOCore
import SSHPOSIX
import SSH
import SSHForwarding
import SSHProtocol
import SSHWire

/// Version 1; the broker's hello names it and the network process refuses any other.
public enum SSHBrokerProtocol {
    /// The version this build speaks.
    public static let version: UInt32 = 1
    /// A datagram is never larger (a password, a key and a signature fit many times over).
    public static let maximumMessageSize = 256 << 10
    /// Strings inside messages: user names, methods, addresses.
    static let maximumNameLength = 1024
    /// Lists inside messages: methods, prompts, responses, environment variables.
    static let maximumListLength = 256
}

/// One authentication attempt as the network process passes it on. The broker verifies a publickey signature
/// itself, over the session identifier it recorded for the connection, never trusting the network process's check.
public enum SSHBrokerAttempt: Sendable, Equatable {
    /// The "none" method (RFC 4252 §5.2).
    case none(user: String)
    /// A publickey request: a query without a signature, or an attempt with one (RFC 4252 §7).
    case publicKey(user: String, algorithm: String, keyBlob: [UInt8], signature: [UInt8]?)
    /// A password (RFC 4252 §8).
    case password(user: String, password: String)
    /// keyboard-interactive (RFC 4256): nil for its start, then the user's responses to the prompts.
    case keyboardInteractive(user: String, responses: [String]?)
}

/// What the network process asks.
public enum SSHBrokerRequest: Sendable, Equatable {
    /// Sign an exchange hash with one of the host keys (the first for a connection is its session identifier).
    case signExchangeHash(connection: UInt64, exchangeHash: [UInt8], algorithm: String, hostKey: [UInt8])
    /// Decide an authentication attempt; `completedMethods` are those already passed (for AuthenticationMethods).
    case authenticate(connection: UInt64, attempt: SSHBrokerAttempt, isFirstRequest: Bool, completedMethods: [String],
                      remoteAddress: String, remotePort: UInt16, localAddress: String, localPort: UInt16)
    /// The banner to show this user before authentication (sshd_config's Banner, Match applied), if any.
    case banner(connection: UInt64, user: String, remoteAddress: String, localAddress: String, localPort: UInt16)
    /// How many failed attempts this user has (MaxAuthTries, Match applied).
    case maximumAttempts(connection: UInt64, user: String, remoteAddress: String, localAddress: String, localPort: UInt16)
    /// The connection is gone: the broker forgets what it knew of it.
    case connectionClosed(connection: UInt64)
    /// Start a session as the connection's authenticated user (the broker applies the grant it recorded at login:
    /// a forced command, the variables it sets and accepts). Answered with sessionStarted and its descriptors.
    case startSession(connection: UInt64, SSHBrokerSessionRequest)
    /// Send a signal to a session the broker started for this connection (its process group).
    case signalSession(connection: UInt64, session: UInt64, signal: UInt32)
    /// What the connection's login may forward (sshd_config's forwarding options with its Match blocks applied),
    /// decided by the broker from what it recorded at login. Answered with forwardingPolicy.
    case forwardingPolicy(connection: UInt64)
    /// Connect the Unix socket at `path` as the connection's user (direct-streamlocal@openssh.com). Answered
    /// with descriptor and the connected socket.
    case connectStreamLocal(connection: UInt64, path: String)
    /// Listen on a Unix socket at `path` as the connection's user (streamlocal-forward@openssh.com), with the
    /// StreamLocalBindUnlink and StreamLocalBindMask the broker's policy gives. Answered with descriptor.
    case listenStreamLocal(connection: UInt64, path: String)
    /// Make a private directory and a listening socket in it, owned by the connection's user, for its forwarded
    /// agent. Answered with agentSocket and the listening socket.
    case makeAgentSocket(connection: UInt64)
    /// Remove an agent socket made for this connection, and its directory.
    case removeAgentSocket(connection: UInt64, path: String)
    /// Listen on a TCP port below 1024 (a root login's remote forward): the network process may not. Answered with
    /// descriptor and the listening socket.
    case listenPrivilegedTCP(connection: UInt64, address: String, port: UInt16)
}

/// A session as the network process asks for it; the user must be the one the broker let in on that connection.
public struct SSHBrokerSessionRequest: Sendable, Equatable {
    /// The user the session runs as.
    public var user: String
    /// exec, shell or subsystem.
    public var command: SSHSessionCommand
    /// The client's env requests (the broker applies AcceptEnv).
    public var environment: [String: [UInt8]]
    /// The client's pty-req, if any.
    public var terminal: SSHPseudoTerminalRequest?
    /// The client's address, as text.
    public var remoteAddress: String
    /// The client's port.
    public var remotePort: UInt16
    /// The server's address the client connected to.
    public var localAddress: String
    /// The server's port.
    public var localPort: UInt16
    /// The forwarded agent's socket for SSH_AUTH_SOCK: one the broker made for this connection (makeAgentSocket).
    public var agentSocket: String?

    /// A request with these fields.
    ///
    /// - Parameters:
    ///   - user: The user the session runs as.
    ///   - command: What to run.
    ///   - environment: The client's env requests.
    ///   - terminal: The pty-req, if any.
    ///   - remoteAddress: The client's address.
    ///   - remotePort: The client's port.
    ///   - localAddress: The server's address.
    ///   - localPort: The server's port.
    ///   - agentSocket: The forwarded agent's socket, if any.
    public init(user: String, command: SSHSessionCommand, environment: [String: [UInt8]], terminal: SSHPseudoTerminalRequest?,
                remoteAddress: String, remotePort: UInt16, localAddress: String, localPort: UInt16, agentSocket: String? = nil) {
        self.agentSocket = agentSocket
        self.user = user
        self.command = command
        self.environment = environment
        self.terminal = terminal
        self.remoteAddress = remoteAddress
        self.remotePort = remotePort
        self.localAddress = localAddress
        self.localPort = localPort
    }
}

/// The broker's answer to one request.
public enum SSHBrokerReply: Sendable, Equatable {
    /// The signature blob over the exchange hash.
    case signature([UInt8])
    /// The authentication attempt's outcome.
    case decision(SSHAuthenticationDecision)
    /// The banner's text; nil for none.
    case banner(String?)
    /// The attempt limit; nil for the server's default.
    case maximumAttempts(Int?)
    /// Done, nothing to report (a forgotten connection, a delivered signal).
    case done
    /// The session runs: its descriptors came with this reply (with a terminal, one: the controlling side;
    /// without, three: stdin, stdout, stderr), and the message of the day to show first.
    case sessionStarted(session: UInt64, terminal: Bool, messageOfTheDay: [UInt8]?)
    /// The session did not start: the message for the client's stderr and the exit status to report.
    case sessionRefused(message: [UInt8], status: UInt32)
    /// The request was refused (unknown connection, a key the broker does not hold, ...), with why.
    case refused(String)
    /// The connection's forwarding policy.
    case forwardingPolicy(SSHForwardingPolicy)
    /// A socket made as the user: its descriptor came with this reply.
    case descriptor
    /// The forwarded agent's socket: its path, and its listening descriptor with this reply.
    case agentSocket(path: String)
}

/// What the broker says without being asked: first of all its hello.
public enum SSHBrokerNotice: Sendable, Equatable {
    /// The protocol version and the host keys (public halves, each with its certificate if any) to serve.
    case hello(version: UInt32, hostKeys: [HostKey])
    /// A session the broker started has ended: exited with a status, or killed by a signal.
    case sessionExited(session: UInt64, exit: ChildExit)

    /// A host key the network process presents: its public half, and its certificate if it has one.
    public struct HostKey: Sendable, Equatable {
        /// The public key's wire blob.
        public var publicKey: [UInt8]
        /// The certificate's wire blob, if the key has one.
        public var certificate: [UInt8]?
        /// A host key with these blobs.
        ///
        /// - Parameters:
        ///   - publicKey: The public key's wire blob.
        ///   - certificate: The certificate's wire blob, or nil.
        public init(publicKey: [UInt8], certificate: [UInt8]?) {
            self.publicKey = publicKey
            self.certificate = certificate
        }
    }
}

/// One datagram: a request (network process → broker), a reply or a notice (broker → network process).
public enum SSHBrokerMessage: Sendable, Equatable {
    /// A request and the identifier its reply will carry.
    case request(id: UInt32, SSHBrokerRequest)
    /// The reply to the request with this identifier.
    case reply(id: UInt32, SSHBrokerReply)
    /// Something the broker says unasked.
    case notice(SSHBrokerNotice)
}

/// Why a datagram was refused; the conversation that sent it ends.
public struct SSHBrokerProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was wrong, in words.
    public let reason: String
    /// An error with this reason.
    public init(_ reason: String) { self.reason = reason }
    /// "privilege broker protocol: " and the reason.
    public var description: String { "privilege broker protocol: \(reason)" }
}

// MARK: Encoding

extension SSHBrokerMessage {
    private enum Number: UInt8 {
        case hello = 1, sessionExited
        case signExchangeHash = 10, authenticate, banner, maximumAttempts, connectionClosed, startSession, signalSession
        case forwardingPolicy = 20, connectStreamLocal, listenStreamLocal, makeAgentSocket, removeAgentSocket, listenPrivilegedTCP
        case replySignature = 40, replyDecision, replyBanner, replyMaximumAttempts, replyDone, replyRefused, replySessionStarted,
             replySessionRefused
        case replyForwardingPolicy = 50, replyDescriptor, replyAgentSocket
    }

    /// The datagram for this message.
    ///
    /// ```swift
    /// let message = SSHBrokerMessage.request(id: 1, .connectionClosed(connection: 7))
    /// let decoded = try SSHBrokerMessage(decoding: message.encode())   // == message
    /// ```
    ///
    /// - Returns: The message's bytes, to send as one datagram.
    public func encode() -> ByteBuffer {
        var buffer = ByteBuffer()
        switch self {
        case .notice(.hello(let version, let hostKeys)):
            buffer.writeSSHByte(Number.hello.rawValue)
            buffer.writeSSHUInt32(version)
            buffer.writeSSHUInt32(UInt32(hostKeys.count))
            for key in hostKeys {
                buffer.writeSSHString(key.publicKey)
                buffer.writeSSHBoolean(key.certificate != nil)
                if let certificate = key.certificate { buffer.writeSSHString(certificate) }
            }
        case .request(let id, let request):
            switch request {
            case .signExchangeHash(let connection, let hash, let algorithm, let hostKey):
                Self.header(&buffer, .signExchangeHash, id, connection)
                buffer.writeSSHString(hash)
                buffer.writeSSHString(algorithm)
                buffer.writeSSHString(hostKey)
            case .authenticate(let connection, let attempt, let first, let completed, let remote, let remotePort, let local, let localPort):
                Self.header(&buffer, .authenticate, id, connection)
                Self.encode(attempt, into: &buffer)
                buffer.writeSSHBoolean(first)
                Self.writeList(completed, into: &buffer)
                buffer.writeSSHString(remote)
                buffer.writeSSHUInt32(UInt32(remotePort))
                buffer.writeSSHString(local)
                buffer.writeSSHUInt32(UInt32(localPort))
            case .banner(let connection, let user, let remote, let local, let localPort):
                Self.header(&buffer, .banner, id, connection)
                buffer.writeSSHString(user)
                buffer.writeSSHString(remote)
                buffer.writeSSHString(local)
                buffer.writeSSHUInt32(UInt32(localPort))
            case .maximumAttempts(let connection, let user, let remote, let local, let localPort):
                Self.header(&buffer, .maximumAttempts, id, connection)
                buffer.writeSSHString(user)
                buffer.writeSSHString(remote)
                buffer.writeSSHString(local)
                buffer.writeSSHUInt32(UInt32(localPort))
            case .connectionClosed(let connection):
                Self.header(&buffer, .connectionClosed, id, connection)
            case .startSession(let connection, let session):
                Self.header(&buffer, .startSession, id, connection)
                Self.encode(session, into: &buffer)
            case .signalSession(let connection, let session, let signal):
                Self.header(&buffer, .signalSession, id, connection)
                buffer.writeSSHUInt64(session)
                buffer.writeSSHUInt32(signal)
            case .forwardingPolicy(let connection):
                Self.header(&buffer, .forwardingPolicy, id, connection)
            case .connectStreamLocal(let connection, let path):
                Self.header(&buffer, .connectStreamLocal, id, connection)
                buffer.writeSSHString(path)
            case .listenStreamLocal(let connection, let path):
                Self.header(&buffer, .listenStreamLocal, id, connection)
                buffer.writeSSHString(path)
            case .makeAgentSocket(let connection):
                Self.header(&buffer, .makeAgentSocket, id, connection)
            case .removeAgentSocket(let connection, let path):
                Self.header(&buffer, .removeAgentSocket, id, connection)
                buffer.writeSSHString(path)
            case .listenPrivilegedTCP(let connection, let address, let port):
                Self.header(&buffer, .listenPrivilegedTCP, id, connection)
                buffer.writeSSHString(address)
                buffer.writeSSHUInt32(UInt32(port))
            }
        case .notice(.sessionExited(let session, let exit)):
            buffer.writeSSHByte(Number.sessionExited.rawValue)
            buffer.writeSSHUInt64(session)
            switch exit {
            case .exited(let status):
                buffer.writeSSHBoolean(false)
                buffer.writeSSHUInt32(UInt32(bitPattern: status))
            case .signaled(let signal):
                buffer.writeSSHBoolean(true)
                buffer.writeSSHUInt32(UInt32(bitPattern: signal))
            }
        case .reply(let id, let reply):
            switch reply {
            case .signature(let blob):
                buffer.writeSSHByte(Number.replySignature.rawValue)
                buffer.writeSSHUInt32(id)
                buffer.writeSSHString(blob)
            case .decision(let decision):
                buffer.writeSSHByte(Number.replyDecision.rawValue)
                buffer.writeSSHUInt32(id)
                Self.encode(decision, into: &buffer)
            case .banner(let text):
                buffer.writeSSHByte(Number.replyBanner.rawValue)
                buffer.writeSSHUInt32(id)
                buffer.writeSSHBoolean(text != nil)
                if let text { buffer.writeSSHString(text) }
            case .maximumAttempts(let count):
                buffer.writeSSHByte(Number.replyMaximumAttempts.rawValue)
                buffer.writeSSHUInt32(id)
                buffer.writeSSHUInt32(count.map { UInt32(clamping: $0) } ?? 0)
            case .done:
                buffer.writeSSHByte(Number.replyDone.rawValue)
                buffer.writeSSHUInt32(id)
            case .refused(let reason):
                buffer.writeSSHByte(Number.replyRefused.rawValue)
                buffer.writeSSHUInt32(id)
                buffer.writeSSHString(reason)
            case .sessionStarted(let session, let terminal, let motd):
                buffer.writeSSHByte(Number.replySessionStarted.rawValue)
                buffer.writeSSHUInt32(id)
                buffer.writeSSHUInt64(session)
                buffer.writeSSHBoolean(terminal)
                buffer.writeSSHBoolean(motd != nil)
                if let motd { buffer.writeSSHString(motd) }
            case .sessionRefused(let message, let status):
                buffer.writeSSHByte(Number.replySessionRefused.rawValue)
                buffer.writeSSHUInt32(id)
                buffer.writeSSHString(message)
                buffer.writeSSHUInt32(status)
            case .forwardingPolicy(let policy):
                buffer.writeSSHByte(Number.replyForwardingPolicy.rawValue)
                buffer.writeSSHUInt32(id)
                Self.encode(policy, into: &buffer)
            case .descriptor:
                buffer.writeSSHByte(Number.replyDescriptor.rawValue)
                buffer.writeSSHUInt32(id)
            case .agentSocket(let path):
                buffer.writeSSHByte(Number.replyAgentSocket.rawValue)
                buffer.writeSSHUInt32(id)
                buffer.writeSSHString(path)
            }
        }
        return buffer
    }

    private static func header(_ buffer: inout ByteBuffer, _ number: Number, _ id: UInt32, _ connection: UInt64) {
        buffer.writeSSHByte(number.rawValue)
        buffer.writeSSHUInt32(id)
        buffer.writeSSHUInt64(connection)
    }

    private static func encode(_ session: SSHBrokerSessionRequest, into buffer: inout ByteBuffer) {
        buffer.writeSSHString(session.user)
        switch session.command {
        case .shell:
            buffer.writeSSHByte(0)
        case .exec(let command):
            buffer.writeSSHByte(1)
            buffer.writeSSHString(command)
        case .subsystem(let name):
            buffer.writeSSHByte(2)
            buffer.writeSSHString(name)
        }
        writeVariables(session.environment, into: &buffer)
        buffer.writeSSHBoolean(session.terminal != nil)
        if let terminal = session.terminal {
            buffer.writeSSHString(terminal.terminalType)
            buffer.writeSSHUInt32(terminal.size.columns)
            buffer.writeSSHUInt32(terminal.size.rows)
            buffer.writeSSHUInt32(terminal.size.pixelWidth)
            buffer.writeSSHUInt32(terminal.size.pixelHeight)
            buffer.writeSSHString(terminal.modes.encoded)
        }
        buffer.writeSSHString(session.remoteAddress)
        buffer.writeSSHUInt32(UInt32(session.remotePort))
        buffer.writeSSHString(session.localAddress)
        buffer.writeSSHUInt32(UInt32(session.localPort))
        buffer.writeSSHBoolean(session.agentSocket != nil)
        if let agentSocket = session.agentSocket { buffer.writeSSHString(agentSocket) }
    }

    private static func writeOptionalList(_ items: [String]?, into buffer: inout ByteBuffer) {
        buffer.writeSSHBoolean(items != nil)
        if let items { writeList(items, into: &buffer) }
    }

    private static func encode(_ policy: SSHForwardingPolicy, into buffer: inout ByteBuffer) {
        func directions(_ value: SSHForwardingPolicy.Directions) -> UInt8 {
            switch value {
            case .none: 0
            case .local: 1
            case .remote: 2
            case .all: 3
            }
        }
        buffer.writeSSHByte(directions(policy.tcpForwarding))
        buffer.writeSSHByte(directions(policy.streamLocalForwarding))
        switch policy.gatewayPorts {
        case .loopbackOnly: buffer.writeSSHByte(0)
        case .allAddresses: buffer.writeSSHByte(1)
        case .clientSpecified: buffer.writeSSHByte(2)
        }
        writeOptionalList(policy.permitOpen, into: &buffer)
        writeOptionalList(policy.permitListen, into: &buffer)
        buffer.writeSSHBoolean(policy.streamLocalBind.unlinkExisting)
        buffer.writeSSHUInt32(policy.streamLocalBind.mask)
        buffer.writeSSHBoolean(policy.allowsPrivilegedPorts)
    }

    /// Variables in increasing order of name: one encoding per set (the decoder insists on the order).
    private static func writeVariables(_ variables: [String: [UInt8]], into buffer: inout ByteBuffer) {
        buffer.writeSSHUInt32(UInt32(variables.count))
        for (name, value) in variables.sorted(by: { $0.key < $1.key }) {
            buffer.writeSSHString(name)
            buffer.writeSSHString(value)
        }
    }

    private static func writeList(_ items: [String], into buffer: inout ByteBuffer) {
        buffer.writeSSHUInt32(UInt32(items.count))
        for item in items { buffer.writeSSHString(item) }
    }

    private static func encode(_ attempt: SSHBrokerAttempt, into buffer: inout ByteBuffer) {
        switch attempt {
        case .none(let user):
            buffer.writeSSHByte(0)
            buffer.writeSSHString(user)
        case .publicKey(let user, let algorithm, let blob, let signature):
            buffer.writeSSHByte(1)
            buffer.writeSSHString(user)
            buffer.writeSSHString(algorithm)
            buffer.writeSSHString(blob)
            buffer.writeSSHBoolean(signature != nil)
            if let signature { buffer.writeSSHString(signature) }
        case .password(let user, let password):
            buffer.writeSSHByte(2)
            buffer.writeSSHString(user)
            buffer.writeSSHString(password)
        case .keyboardInteractive(let user, let responses):
            buffer.writeSSHByte(3)
            buffer.writeSSHString(user)
            buffer.writeSSHBoolean(responses != nil)
            if let responses { writeList(responses, into: &buffer) }
        }
    }

    private static func encode(_ decision: SSHAuthenticationDecision, into buffer: inout ByteBuffer) {
        switch decision {
        case .accept:
            buffer.writeSSHByte(0)
        case .reject:
            buffer.writeSSHByte(1)
        case .partialSuccess(let methods):
            buffer.writeSSHByte(2)
            writeList(methods.map(\.name), into: &buffer)
        case .ask(let request):
            buffer.writeSSHByte(3)
            buffer.writeSSHString(request.name)
            buffer.writeSSHString(request.instruction)
            buffer.writeSSHUInt32(UInt32(request.prompts.count))
            for prompt in request.prompts {
                buffer.writeSSHString(prompt.prompt)
                buffer.writeSSHBoolean(prompt.echo)
            }
        case .grant(let grant):
            buffer.writeSSHByte(4)
            buffer.writeSSHString(grant.method?.name ?? "")
            buffer.writeSSHBoolean(grant.forcedCommand != nil)
            if let command = grant.forcedCommand { buffer.writeSSHString(command) }
            buffer.writeSSHBoolean(grant.permitsTerminal)
            writeVariables(grant.environment.mapValues { Array($0.utf8) }, into: &buffer)
            buffer.writeSSHBoolean(grant.acceptedEnvironment != nil)
            if let accepted = grant.acceptedEnvironment { writeList(accepted, into: &buffer) }
            buffer.writeSSHUInt32(grant.maximumSessions.map { UInt32(clamping: $0) } ?? 0)
            // The login's forwarding restrictions (no-port-forwarding, no-agent-forwarding, permitopen=,
            // permitlisten=, restrict; AllowAgentForwarding and DisableForwarding as Match left them).
            buffer.writeSSHBoolean(grant.permitsPortForwarding)
            buffer.writeSSHBoolean(grant.permitsAgentForwarding)
            writeOptionalList(grant.permittedOpens, into: &buffer)
            writeOptionalList(grant.permittedListens, into: &buffer)
        }
    }
}

// MARK: Decoding

extension SSHBrokerMessage {
    /// Decodes one datagram; anything but an exact, well-formed message throws.
    ///
    /// - Parameter datagram: One received datagram, whole.
    /// - Throws: ``SSHBrokerProtocolError`` for an unknown message number, a short or overlong field, a list past
    ///   its limit, a NUL in a name, a boolean other than 0 or 1, or bytes after the message.
    public init(decoding datagram: ByteBuffer) throws {
        guard datagram.readableBytes <= SSHBrokerProtocol.maximumMessageSize else {
            throw SSHBrokerProtocolError("a message of \(datagram.readableBytes) bytes")
        }
        var reader = Reader(buffer: datagram)
        let raw = try reader.byte()
        guard let number = Number(rawValue: raw) else { throw SSHBrokerProtocolError("unknown message \(raw)") }
        switch number {
        case .hello:
            let version = try reader.uint32()
            let count = try reader.count()
            var keys: [SSHBrokerNotice.HostKey] = []
            for _ in 0..<count {
                let publicKey = try reader.bytes()
                let certificate = try reader.boolean() ? try reader.bytes() : nil
                keys.append(.init(publicKey: publicKey, certificate: certificate))
            }
            self = .notice(.hello(version: version, hostKeys: keys))
        case .sessionExited:
            let session = try reader.uint64()
            let signaled = try reader.boolean()
            let value = Int32(bitPattern: try reader.uint32())
            self = .notice(.sessionExited(session: session, exit: signaled ? .signaled(value) : .exited(value)))
        case .signExchangeHash, .authenticate, .banner, .maximumAttempts, .connectionClosed, .startSession, .signalSession,
             .forwardingPolicy, .connectStreamLocal, .listenStreamLocal, .makeAgentSocket, .removeAgentSocket, .listenPrivilegedTCP:
            let id = try reader.uint32()
            let connection = try reader.uint64()
            switch number {
            case .signExchangeHash:
                let hash = try reader.bytes(limit: 64)
                self = .request(id: id, .signExchangeHash(connection: connection, exchangeHash: hash, algorithm: try reader.name(),
                                                          hostKey: try reader.bytes()))
            case .authenticate:
                let attempt = try Self.decodeAttempt(&reader)
                let first = try reader.boolean()
                let completed = try reader.names()
                self = .request(id: id, .authenticate(connection: connection, attempt: attempt, isFirstRequest: first, completedMethods: completed,
                                                      remoteAddress: try reader.name(), remotePort: try reader.port(),
                                                      localAddress: try reader.name(), localPort: try reader.port()))
            case .banner:
                self = .request(id: id, .banner(connection: connection, user: try reader.name(), remoteAddress: try reader.name(),
                                                localAddress: try reader.name(), localPort: try reader.port()))
            case .maximumAttempts:
                self = .request(id: id, .maximumAttempts(connection: connection, user: try reader.name(), remoteAddress: try reader.name(),
                                                         localAddress: try reader.name(), localPort: try reader.port()))
            case .startSession:
                self = .request(id: id, .startSession(connection: connection, try Self.decodeSession(&reader)))
            case .signalSession:
                self = .request(id: id, .signalSession(connection: connection, session: try reader.uint64(), signal: try reader.uint32()))
            case .forwardingPolicy:
                self = .request(id: id, .forwardingPolicy(connection: connection))
            case .connectStreamLocal:
                self = .request(id: id, .connectStreamLocal(connection: connection, path: try reader.name()))
            case .listenStreamLocal:
                self = .request(id: id, .listenStreamLocal(connection: connection, path: try reader.name()))
            case .makeAgentSocket:
                self = .request(id: id, .makeAgentSocket(connection: connection))
            case .removeAgentSocket:
                self = .request(id: id, .removeAgentSocket(connection: connection, path: try reader.name()))
            case .listenPrivilegedTCP:
                self = .request(id: id, .listenPrivilegedTCP(connection: connection, address: try reader.name(), port: try reader.port()))
            default:
                self = .request(id: id, .connectionClosed(connection: connection))
            }
        case .replySignature:
            self = .reply(id: try reader.uint32(), .signature(try reader.bytes()))
        case .replyDecision:
            let id = try reader.uint32()
            self = .reply(id: id, .decision(try Self.decodeDecision(&reader)))
        case .replyBanner:
            let id = try reader.uint32()
            self = .reply(id: id, .banner(try reader.boolean() ? try reader.text() : nil))
        case .replyMaximumAttempts:
            let id = try reader.uint32()
            let count = try reader.uint32()
            self = .reply(id: id, .maximumAttempts(count == 0 ? nil : Int(count)))
        case .replyDone:
            self = .reply(id: try reader.uint32(), .done)
        case .replyRefused:
            self = .reply(id: try reader.uint32(), .refused(try reader.text()))
        case .replySessionStarted:
            let id = try reader.uint32()
            let session = try reader.uint64()
            let terminal = try reader.boolean()
            self = .reply(id: id, .sessionStarted(session: session, terminal: terminal, messageOfTheDay: try reader.boolean() ? try reader.bytes() : nil))
        case .replySessionRefused:
            let id = try reader.uint32()
            self = .reply(id: id, .sessionRefused(message: try reader.bytes(), status: try reader.uint32()))
        case .replyForwardingPolicy:
            let id = try reader.uint32()
            self = .reply(id: id, .forwardingPolicy(try Self.decodePolicy(&reader)))
        case .replyDescriptor:
            self = .reply(id: try reader.uint32(), .descriptor)
        case .replyAgentSocket:
            let id = try reader.uint32()
            self = .reply(id: id, .agentSocket(path: try reader.name()))
        }
        guard reader.buffer.readableBytes == 0 else { throw SSHBrokerProtocolError("\(reader.buffer.readableBytes) bytes after the message") }
    }

    private static func decodeSession(_ reader: inout Reader) throws -> SSHBrokerSessionRequest {
        let user = try reader.name()
        let command: SSHSessionCommand
        switch try reader.byte() {
        case 0: command = .shell
        case 1: command = .exec(try reader.bytes())
        case 2: command = .subsystem(try reader.name())
        case let other: throw SSHBrokerProtocolError("unknown session command kind \(other)")
        }
        let environment = try reader.variables { try $0.bytes() }
        var terminal: SSHPseudoTerminalRequest?
        if try reader.boolean() {
            let type = try reader.name()
            let size = SSHTerminalSize(columns: try reader.uint32(), rows: try reader.uint32(), pixelWidth: try reader.uint32(),
                                       pixelHeight: try reader.uint32())
            terminal = SSHPseudoTerminalRequest(terminalType: type, size: size, modes: SSHTerminalModes(encoded: try reader.bytes(limit: 4096)))
        }
        return SSHBrokerSessionRequest(user: user, command: command, environment: environment, terminal: terminal,
                                       remoteAddress: try reader.name(), remotePort: try reader.port(),
                                       localAddress: try reader.name(), localPort: try reader.port(),
                                       agentSocket: try reader.boolean() ? try reader.name() : nil)
    }

    private static func decodePolicy(_ reader: inout Reader) throws -> SSHForwardingPolicy {
        func directions(_ value: UInt8) throws -> SSHForwardingPolicy.Directions {
            switch value {
            case 0: return .none
            case 1: return .local
            case 2: return .remote
            case 3: return .all
            default: throw SSHBrokerProtocolError("unknown forwarding directions \(value)")
            }
        }
        var policy = SSHForwardingPolicy(tcpForwarding: try directions(try reader.byte()), streamLocalForwarding: try directions(try reader.byte()))
        switch try reader.byte() {
        case 0: policy.gatewayPorts = .loopbackOnly
        case 1: policy.gatewayPorts = .allAddresses
        case 2: policy.gatewayPorts = .clientSpecified
        case let other: throw SSHBrokerProtocolError("unknown GatewayPorts \(other)")
        }
        policy.permitOpen = try reader.boolean() ? try reader.names() : nil
        policy.permitListen = try reader.boolean() ? try reader.names() : nil
        let unlink = try reader.boolean()
        let mask = try reader.uint32()
        guard mask <= 0o777 else { throw SSHBrokerProtocolError("a socket mask of \(String(mask, radix: 8))") }
        policy.streamLocalBind = SSHStreamLocalBindOptions(unlinkExisting: unlink, mask: mask)
        policy.allowsPrivilegedPorts = try reader.boolean()
        return policy
    }

    private static func decodeAttempt(_ reader: inout Reader) throws -> SSHBrokerAttempt {
        switch try reader.byte() {
        case 0: return .none(user: try reader.name())
        case 1:
            let user = try reader.name()
            let algorithm = try reader.name()
            let blob = try reader.bytes()
            return .publicKey(user: user, algorithm: algorithm, keyBlob: blob, signature: try reader.boolean() ? try reader.bytes() : nil)
        case 2: return .password(user: try reader.name(), password: try reader.text())
        case 3:
            let user = try reader.name()
            return .keyboardInteractive(user: user, responses: try reader.boolean() ? try reader.texts() : nil)
        case let other: throw SSHBrokerProtocolError("unknown attempt kind \(other)")
        }
    }

    private static func decodeDecision(_ reader: inout Reader) throws -> SSHAuthenticationDecision {
        switch try reader.byte() {
        case 0: return .accept
        case 1: return .reject
        case 2: return .partialSuccess(remainingMethods: try reader.names().map(SSHAuthenticationMethod.init(name:)))
        case 3:
            let name = try reader.text()
            let instruction = try reader.text()
            let count = try reader.count()
            var prompts: [KeyboardInteractivePrompt] = []
            for _ in 0..<count { prompts.append(KeyboardInteractivePrompt(prompt: try reader.text(), echo: try reader.boolean())) }
            return .ask(KeyboardInteractiveRequest(name: name, instruction: instruction, prompts: prompts))
        case 4:
            let method = try reader.name()
            var grant = SSHLoginGrant(method: method.isEmpty ? nil : SSHAuthenticationMethod(name: method))
            grant.forcedCommand = try reader.boolean() ? try reader.text() : nil
            grant.permitsTerminal = try reader.boolean()
            grant.environment = try reader.variables { try $0.text() }
            grant.acceptedEnvironment = try reader.boolean() ? try reader.names() : nil
            let sessions = try reader.uint32()
            grant.maximumSessions = sessions == 0 ? nil : Int(sessions)
            grant.permitsPortForwarding = try reader.boolean()
            grant.permitsAgentForwarding = try reader.boolean()
            grant.permittedOpens = try reader.boolean() ? try reader.names() : nil
            grant.permittedListens = try reader.boolean() ? try reader.names() : nil
            return .grant(grant)
        case let other: throw SSHBrokerProtocolError("unknown decision kind \(other)")
        }
    }

    /// Reads fields with the protocol's limits; every failure is an SSHBrokerProtocolError.
    private struct Reader {
        var buffer: ByteBuffer

        mutating func byte() throws -> UInt8 { try wire { try $0.readSSHByte() } }
        /// 0 or 1 exactly: RFC 4251 reads any non-zero byte as true, but the broker keeps one encoding per message.
        mutating func boolean() throws -> Bool {
            switch try byte() {
            case 0: return false
            case 1: return true
            case let other: throw SSHBrokerProtocolError("a boolean of \(other)")
            }
        }
        mutating func uint32() throws -> UInt32 { try wire { try $0.readSSHUInt32() } }
        mutating func uint64() throws -> UInt64 { try wire { try $0.readSSHUInt64() } }

        mutating func port() throws -> UInt16 {
            let value = try uint32()
            guard let port = UInt16(exactly: value) else { throw SSHBrokerProtocolError("port \(value)") }
            return port
        }

        mutating func count() throws -> Int {
            let value = try uint32()
            guard value <= SSHBrokerProtocol.maximumListLength else { throw SSHBrokerProtocolError("a list of \(value) items") }
            return Int(value)
        }

        mutating func bytes(limit: Int = SSHBrokerProtocol.maximumMessageSize) throws -> [UInt8] {
            let bytes = try wire { try $0.readSSHStringBytes() }
            guard bytes.count <= limit else { throw SSHBrokerProtocolError("a field of \(bytes.count) bytes") }
            return bytes
        }

        /// Text of any length the message allows (a password, a banner), valid UTF-8.
        mutating func text() throws -> String { try wire { try $0.readSSHUTF8String() } }

        /// A name: valid UTF-8, no NUL, at most maximumNameLength bytes.
        mutating func name() throws -> String {
            let value = try text()
            guard value.utf8.count <= SSHBrokerProtocol.maximumNameLength, !value.utf8.contains(0) else {
                throw SSHBrokerProtocolError("a name that is too long or holds a NUL")
            }
            return value
        }

        /// Name-value pairs in increasing order of name, as they are encoded: one encoding per set, no name twice.
        mutating func variables<Value>(_ value: (inout Reader) throws -> Value) throws -> [String: Value] {
            let count = try count()
            var variables: [String: Value] = [:]
            var previous: String?
            for _ in 0..<count {
                let name = try name()
                if let previous, !(previous < name) { throw SSHBrokerProtocolError("variable \(name) out of order") }
                previous = name
                variables[name] = try value(&self)
            }
            return variables
        }

        mutating func names() throws -> [String] {
            let count = try count()
            return try (0..<count).map { _ in try name() }
        }

        mutating func texts() throws -> [String] {
            let count = try count()
            return try (0..<count).map { _ in try text() }
        }

        private mutating func wire<T>(_ read: (inout ByteBuffer) throws -> T) throws -> T {
            do {
                return try read(&buffer)
            } catch {
                throw SSHBrokerProtocolError("\(error)")
            }
        }
    }
}
