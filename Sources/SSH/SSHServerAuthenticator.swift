// The server's authentication policy: deny unless an authenticator says otherwise (ARCHITECTURE convention 4).
import NIOCore
import SSHKeys
import SSHProtocol

/// The connection an authentication attempt arrives on (for from= options, Match Address and logs).
public struct SSHServerConnectionInfo: Sendable, Equatable {
    /// Where the client connects from; nil when the transport has no address.
    public var remoteAddress: SocketAddress?
    /// The server's address the client connected to (Match LocalAddress); nil when the transport has no address.
    public var localAddress: SocketAddress?
    /// Methods that already succeeded on this connection with `.partialSuccess` (in order), for policies that
    /// need more than one (sshd's AuthenticationMethods).
    public var completedMethods: [SSHAuthenticationMethod]
    /// Whether this is the connection's first authentication request (whatever its method): where sshd logs
    /// what it found out about the user ("Invalid user", "not allowed because ...").
    public var isFirstRequest: Bool
    /// The server's number for this connection, unique while the server runs (what a privilege broker keys its
    /// record of the connection by).
    public var connectionID: UInt64 = 0
    /// For a signed publickey attempt: the signature blob the client sent (already verified here), so a policy in
    /// another process can verify it again over its own record of the session identifier.
    public var publicKeySignature: [UInt8]?

    /// Information about one connection; the server makes these, tests and other processes may too.
    /// - Parameters:
    ///   - remoteAddress: where the client connects from.
    ///   - localAddress: the server's address the client connected to.
    ///   - completedMethods: methods that already succeeded with `.partialSuccess`, in order.
    ///   - isFirstRequest: whether this is the connection's first authentication request.
    ///   - connectionID: the server's number for the connection.
    public init(remoteAddress: SocketAddress? = nil, localAddress: SocketAddress? = nil, completedMethods: [SSHAuthenticationMethod] = [],
                isFirstRequest: Bool = false, connectionID: UInt64 = 0) {
        self.connectionID = connectionID
        self.remoteAddress = remoteAddress
        self.localAddress = localAddress
        self.completedMethods = completedMethods
        self.isFirstRequest = isFirstRequest
    }
}

/// One authentication attempt, as the policy sees it (RFC 4252, 4256).
public enum SSHAuthenticationAttempt: Sendable, Equatable {
    /// "none" (RFC 4252 §5.2): the client asks which methods may continue. Accepting it lets the user in with
    /// no credential at all.
    case none(user: String)
    /// `isQuery`: the client only asks whether the key would do; otherwise it proved it holds the key.
    /// `algorithm`: the signature algorithm it names (rsa-sha2-512 for an RSA key, say), for per-user algorithm
    /// lists (PubkeyAcceptedAlgorithms inside Match).
    case publicKey(user: String, key: SSHPresentedKey, isQuery: Bool, algorithm: SSHHostKeyAlgorithm)
    /// "password" (RFC 4252 §8): the password in clear text, inside the encrypted connection.
    case password(user: String, password: String)
    /// `responses` nil when the exchange starts; then the answers to the last questions asked.
    case keyboardInteractive(user: String, responses: [String]?)

    /// The method tried (RFC 4252 §5).
    public var method: SSHAuthenticationMethod {
        switch self {
        case .none: .none
        case .publicKey: .publicKey
        case .password: .password
        case .keyboardInteractive: .keyboardInteractive
        }
    }

    /// The user name the client asked to log in as.
    public var user: String {
        switch self {
        case .none(let user), .publicKey(let user, _, _, _), .password(let user, _), .keyboardInteractive(let user, _): user
        }
    }
}

/// What an accepted login may do, decided by the authenticator and enforced for the whole connection: the
/// restrictions of an authorized_keys line or certificate, and the server configuration that applies to this user
/// (sshd's ForceCommand, PermitTTY, SetEnv, AcceptEnv inside Match). The session handler sees it in
/// `SSHServerSession.grant`; the connection itself refuses pty-req when `permitsTerminal` is false.
///
/// ```swift
/// // authorized_keys' command="/usr/local/bin/backup" with no-pty:
/// let decision = SSHAuthenticationDecision.grant(
///     SSHLoginGrant(forcedCommand: "/usr/local/bin/backup", permitsTerminal: false))
/// ```
public struct SSHLoginGrant: Sendable, Equatable {
    /// Runs instead of whatever the client asks (exec, shell or subsystem); the request's command is passed as
    /// SSH_ORIGINAL_COMMAND (command=, a certificate's force-command, ForceCommand).
    public var forcedCommand: String?
    /// Whether pty-req is granted (no-pty, PermitTTY no).
    public var permitsTerminal: Bool
    /// Variables the server sets in every session (environment=, SetEnv); the client's env requests cannot
    /// override them.
    public var environment: [String: String]
    /// Which of the client's env requests are taken (patterns, `*` and `?`); nil: the server's configured list.
    public var acceptedEnvironment: [String]?
    /// How the user proved who they are, for logs; nil until the server fills in the method that succeeded.
    public var method: SSHAuthenticationMethod?
    /// Sessions this login may have open at once (sshd's MaxSessions inside Match); nil: the server's limit.
    public var maximumSessions: Int?
    /// Whether port and stream-local forwarding may be used at all (false: no-port-forwarding, restrict).
    public var permitsPortForwarding = true
    /// Whether the agent may be forwarded (false: no-agent-forwarding, restrict).
    public var permitsAgentForwarding = true
    /// Where direct-tcpip may connect ("host:port", port `*`), narrowing the server's own PermitOpen
    /// (permitopen=); nil: no narrowing.
    public var permittedOpens: [String]?
    /// Where tcpip-forward may listen ("[host:]port"), narrowing the server's own PermitListen (permitlisten=); nil: no
    /// narrowing.
    public var permittedListens: [String]?

    /// A grant; the defaults restrict nothing beyond the server's configuration.
    /// - Parameters:
    ///   - forcedCommand: the command run instead of the client's; nil for none.
    ///   - permitsTerminal: whether pty-req is granted.
    ///   - environment: variables the server sets in every session.
    ///   - acceptedEnvironment: which env requests are taken; nil for the server's configured list.
    ///   - method: how the user authenticated, for logs; the server fills it in when nil.
    ///   - maximumSessions: sessions open at once; nil for the server's limit.
    public init(forcedCommand: String? = nil, permitsTerminal: Bool = true, environment: [String: String] = [:],
                acceptedEnvironment: [String]? = nil, method: SSHAuthenticationMethod? = nil, maximumSessions: Int? = nil) {
        self.maximumSessions = maximumSessions
        self.forcedCommand = forcedCommand
        self.permitsTerminal = permitsTerminal
        self.environment = environment
        self.acceptedEnvironment = acceptedEnvironment
        self.method = method
    }
}

/// What an `SSHServerAuthenticator` says to one attempt.
public enum SSHAuthenticationDecision: Sendable, Equatable {
    /// Let the user in with no restrictions beyond the server's configuration (`grant(SSHLoginGrant())`).
    case accept
    /// Let the user in, with what the login may do.
    case grant(SSHLoginGrant)
    /// Refuse this attempt; the client may try another credential until the attempts run out. Every refusal is
    /// answered after the same delay, so it tells the client nothing about why.
    case reject
    /// This method succeeded but these must still follow (sshd's AuthenticationMethods).
    case partialSuccess(remainingMethods: [SSHAuthenticationMethod])
    /// Keyboard-interactive: ask these questions.
    case ask(KeyboardInteractiveRequest)
}

/// Decides who may log in (RFC 4252). Public key signatures are verified before `decide` is asked; the
/// authenticator only says whether that key (or password, ...) lets the user in. There is no default that lets
/// anyone in: `SSHServer` without one uses `DenyAllAuthenticator`.
///
/// `decide` and `banner` run on the connection's event loop, so they must not block: account lookups, file reads,
/// password hashing and anything else that can wait belong on a pool made for blocking work (SSHPOSIX's
/// `SSHBlockingWorkPool`), awaited from here.
///
/// ```swift
/// struct OneKey: SSHServerAuthenticator {
///     let key: SSHPublicKey
///     var offeredMethods: [SSHAuthenticationMethod] { [.publicKey] }
///     func decide(_ attempt: SSHAuthenticationAttempt, on connection: SSHServerConnectionInfo) async -> SSHAuthenticationDecision {
///         if case .publicKey(_, .key(let offered), _, _) = attempt, offered == key { return .accept }
///         return .reject
///     }
/// }
/// ```
public protocol SSHServerAuthenticator: Sendable {
    /// The methods offered in every failure reply; the same for every user, known or not, so the answer does not
    /// tell which users exist.
    var offeredMethods: [SSHAuthenticationMethod] { get }
    /// What to do with one attempt on `connection` (where it comes from, what already succeeded on it).
    ///
    /// A publickey attempt with `isQuery` asks only whether the key would do: `.accept` then tells the client to
    /// sign, and the signed attempt is decided again.
    /// - Parameters:
    ///   - attempt: the method, the user and the credential.
    ///   - connection: the connection the attempt arrived on.
    /// - Returns: the decision.
    func decide(_ attempt: SSHAuthenticationAttempt, on connection: SSHServerConnectionInfo) async -> SSHAuthenticationDecision
    /// The banner for this user and connection (sshd's Banner inside Match); nil: the server's configured banner.
    /// - Parameters:
    ///   - user: the user name of the connection's first request.
    ///   - connection: the connection.
    /// - Returns: the banner text (RFC 4252 §5.4), or nil.
    func banner(for user: String, on connection: SSHServerConnectionInfo) async -> String?
    /// Failed attempts this user may make on this connection (sshd's MaxAuthTries inside Match), asked once with
    /// the first request; nil: the server's configured limit.
    /// - Parameters:
    ///   - user: the user name of the connection's first request.
    ///   - connection: the connection.
    /// - Returns: the number of failed attempts allowed, or nil.
    func maximumAttempts(for user: String, on connection: SSHServerConnectionInfo) async -> Int?
}

extension SSHServerAuthenticator {
    /// No banner of the authenticator's own: the server's configured one.
    /// - Parameters:
    ///   - user: the user name, ignored.
    ///   - connection: the connection, ignored.
    /// - Returns: nil.
    public func banner(for user: String, on connection: SSHServerConnectionInfo) async -> String? { nil }
    /// No limit of the authenticator's own: the server's configured one.
    /// - Parameters:
    ///   - user: the user name, ignored.
    ///   - connection: the connection, ignored.
    /// - Returns: nil.
    public func maximumAttempts(for user: String, on connection: SSHServerConnectionInfo) async -> Int? { nil }
}

/// Signs exchange hashes for host keys whose private half is not in this process (`SSHServerHostKey(publicKey:)`),
/// such as shhd's privilege broker. Called on the connection's event loop: it must not block.
///
/// The signature proves to the client that the server holds the host key (RFC 4253 §8).
public protocol SSHHostKeySigner: Sendable {
    /// Signs a key exchange's hash with the private half of `hostKey`.
    /// - Parameters:
    ///   - exchangeHash: the exchange hash H to sign.
    ///   - algorithm: the host key algorithm the key exchange settled on (rsa-sha2-512 for an RSA key, say).
    ///   - hostKey: the public host key whose private half signs.
    ///   - connection: the connection the key exchange runs on.
    /// - Returns: the signature.
    /// - Throws: anything, to fail the key exchange and close the connection.
    func sign(exchangeHash: [UInt8], algorithm: SSHHostKeyAlgorithm, hostKey: SSHPublicKey,
              connection: SSHServerConnectionInfo) async throws -> SSHSignature
    /// The connection is gone (whatever the signer recorded of it can go). Called on its event loop.
    /// - Parameter connectionID: the server's number for the connection.
    func connectionClosed(_ connectionID: UInt64)
}

extension SSHHostKeySigner {
    /// Records nothing, so there is nothing to forget.
    /// - Parameter connectionID: the server's number for the connection, ignored.
    public func connectionClosed(_ connectionID: UInt64) {}
}

/// Lets nobody in: the default.
public struct DenyAllAuthenticator: SSHServerAuthenticator {
    /// The policy that lets nobody in.
    public init() {}
    /// Offers publickey, so clients get an ordinary "permission denied".
    public var offeredMethods: [SSHAuthenticationMethod] { [.publicKey] }
    /// Rejects every attempt.
    /// - Parameters:
    ///   - attempt: the attempt, ignored.
    ///   - connection: the connection, ignored.
    /// - Returns: `.reject`.
    public func decide(_ attempt: SSHAuthenticationAttempt, on connection: SSHServerConnectionInfo) async -> SSHAuthenticationDecision {
        .reject
    }
}
