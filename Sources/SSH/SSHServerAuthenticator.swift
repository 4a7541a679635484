// The server's authentication policy: deny unless an authenticator says otherwise (ARCHITECTURE convention 4).
import SSHKeys
import SSHProtocol

/// One authentication attempt, as the policy sees it (RFC 4252, 4256).
public enum SSHAuthenticationAttempt: Sendable, Equatable {
    case none(user: String)
    /// `isQuery`: the client only asks whether the key would do; otherwise it proved it holds the key.
    case publicKey(user: String, key: SSHPresentedKey, isQuery: Bool)
    case password(user: String, password: String)
    /// `responses` nil when the exchange starts; then the answers to the last questions asked.
    case keyboardInteractive(user: String, responses: [String]?)

    public var user: String {
        switch self {
        case .none(let user), .publicKey(let user, _, _), .password(let user, _), .keyboardInteractive(let user, _): user
        }
    }
}

public enum SSHAuthenticationDecision: Sendable, Equatable {
    case accept
    case reject
    /// This method succeeded but these must still follow (sshd's AuthenticationMethods).
    case partialSuccess(remainingMethods: [String])
    /// Keyboard-interactive: ask these questions.
    case ask(KeyboardInteractiveRequest)
}

public protocol SSHServerAuthenticator: Sendable {
    /// The methods offered in every failure reply; the same for every user, known or not, so the answer does not
    /// tell which users exist.
    var offeredMethods: [String] { get }
    func decide(_ attempt: SSHAuthenticationAttempt) async -> SSHAuthenticationDecision
}

/// Lets nobody in: the default.
public struct DenyAllAuthenticator: SSHServerAuthenticator {
    public init() {}
    public var offeredMethods: [String] { ["publickey"] }
    public func decide(_ attempt: SSHAuthenticationAttempt) async -> SSHAuthenticationDecision { .reject }
}
