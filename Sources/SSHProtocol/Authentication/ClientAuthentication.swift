// The client side of user authentication, RFC 4252 (§5 requests and replies, §5.4 banners, §7 publickey with
// its query and PK_OK, §8 password and change requests) and RFC 4256 (keyboard-interactive). I/O-free: the caller
// chooses what to try, signs, and answers prompts; this machine keeps the protocol straight.
import NIOCore
import SSHKeys
import SSHWire

/// The client side of user authentication (RFC 4252, RFC 4256), without I/O: try methods, feed the server's
/// replies to it, send what `takeOutbound()` returns.
public struct SSHClientAuthentication {
    /// What a server reply means for the caller.
    public enum Event: Sendable, Equatable {
        /// A text the server wants shown before authentication (RFC 4252 §5.4).
        case banner(String)
        /// The last attempt did not finish authentication; choose the next from what the server allows.
        /// `partialSuccess` means it worked but the server wants another method too.
        case chooseNextMethod(methodsThatCanContinue: [String], partialSuccess: Bool)
        /// Sign `data` with the key offered for `algorithm`, then call `provideSignature(_:)`.
        case signatureNeeded(algorithm: String, keyBlob: [UInt8], data: [UInt8])
        /// The server wants a new password; call `changePassword(old:new:)` or choose another method.
        case passwordChangeRequested(prompt: String)
        /// Keyboard-interactive questions; answer with `respond(_:)` (zero prompts take zero answers).
        case keyboardInteractive(KeyboardInteractiveRequest)
        /// Authenticated: the connection protocol may start.
        case succeeded
    }

    private enum State: Equatable {
        case idle
        case awaitingNone
        case awaitingPublicKeyQuery(algorithm: String, keyBlob: [UInt8])
        case awaitingSignature(algorithm: String, keyBlob: [UInt8])
        case awaitingPublicKeyResult
        case awaitingPassword(password: String)
        /// PASSWD_CHANGEREQ came: the caller may change the password or try another method.
        case passwordChangeRequested
        case awaitingKeyboardInteractive
        case awaitingInfoAnswers(promptCount: Int)
        case succeeded
    }

    /// The user to log in as.
    public let user: String
    /// The service to start after authentication ("ssh-connection").
    public let service: String
    private let sessionIdentifier: [UInt8]
    private var state: State = .idle
    private var outbound: [ByteBuffer] = []

    /// Authentication for `user` on the connection whose session identifier is given (signatures cover it).
    ///
    /// - Parameters:
    ///   - user: The user to log in as.
    ///   - sessionIdentifier: ``SSHTransport/sessionIdentifier`` of the connection.
    ///   - service: The service to start afterwards.
    public init(user: String, sessionIdentifier: [UInt8], service: String = "ssh-connection") {
        self.user = user
        self.sessionIdentifier = sessionIdentifier
        self.service = service
    }

    /// Whether the server said USERAUTH_SUCCESS.
    public var isAuthenticated: Bool { state == .succeeded }

    /// Messages for the transport to send, in order.
    ///
    /// - Returns: Payloads for ``SSHTransport/send(_:)``; empty when there is nothing to send.
    public mutating func takeOutbound() -> [ByteBuffer] {
        defer { outbound.removeAll() }
        return outbound
    }

    private mutating func send(_ method: UserAuthenticationMethod) {
        var payload = ByteBuffer()
        UserAuthenticationRequest(user: user, service: service, method: method).encode(into: &payload)
        outbound.append(payload)
    }

    private func requireIdle(_ what: String) throws {
        guard state == .idle || state == .passwordChangeRequested else { throw SSHProtocolError(.invalidState("\(what) while another authentication step is in progress")) }
    }

    // MARK: Attempts

    /// "none": learns the methods the server accepts (or gets in, if it needs nothing).
    ///
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` while another attempt is waiting for the server.
    public mutating func tryNone() throws {
        try requireIdle("none")
        send(.none)
        state = .awaitingNone
    }

    /// Offers a public key. With `query`, asks first whether the server would take it (no signature is made for a
    /// key the server will refuse, and agent keys are not used in vain); otherwise signs at once.
    ///
    /// - Parameters:
    ///   - algorithm: The public key algorithm name, from ``publicKeyAlgorithms(for:serverSignatureAlgorithms:)``.
    ///   - keyBlob: The key or certificate blob.
    ///   - query: Ask before signing.
    /// - Returns: ``Event/signatureNeeded(algorithm:keyBlob:data:)`` at once when `query` is false; nil otherwise, and the
    ///   event comes when the server accepts the key.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` while another attempt is waiting.
    public mutating func tryPublicKey(algorithm: String, keyBlob: [UInt8], query: Bool = true) throws -> Event? {
        try requireIdle("publickey")
        if query {
            send(.publicKey(algorithm: algorithm, keyBlob: keyBlob, signature: nil))
            state = .awaitingPublicKeyQuery(algorithm: algorithm, keyBlob: keyBlob)
            return nil
        }
        state = .awaitingSignature(algorithm: algorithm, keyBlob: keyBlob)
        return .signatureNeeded(algorithm: algorithm, keyBlob: keyBlob, data: signedData(algorithm: algorithm, keyBlob: keyBlob))
    }

    /// The signature blob (SSHSignature.wireBlob) for the data of `.signatureNeeded`.
    ///
    /// - Parameter signature: The `SSHSignature.wireBlob` of the signature over the event's data.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when no signature was asked for.
    public mutating func provideSignature(_ signature: [UInt8]) throws {
        guard case .awaitingSignature(let algorithm, let keyBlob) = state else {
            throw SSHProtocolError(.invalidState("no signature was asked for"))
        }
        send(.publicKey(algorithm: algorithm, keyBlob: keyBlob, signature: signature))
        state = .awaitingPublicKeyResult
    }

    /// Gives up on the key whose signature was asked for (e.g. the agent refused); choose another method.
    ///
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when no signature was asked for.
    public mutating func abandonSignature() throws {
        guard case .awaitingSignature = state else { throw SSHProtocolError(.invalidState("no signature was asked for")) }
        state = .idle
    }

    /// Sends a "password" request.
    ///
    /// - Parameter password: The password.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` while another attempt is waiting.
    public mutating func tryPassword(_ password: String) throws {
        try requireIdle("password")
        send(.password(password, newPassword: nil))
        state = .awaitingPassword(password: password)
    }

    /// Answers `.passwordChangeRequested` (RFC 4252 §8).
    ///
    /// - Parameters:
    ///   - old: The current password.
    ///   - new: The new password.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when no change was requested.
    public mutating func changePassword(old: String, new: String) throws {
        guard state == .passwordChangeRequested else { throw SSHProtocolError(.invalidState("no password change was requested")) }
        send(.password(old, newPassword: new))
        state = .awaitingPassword(password: new)
    }

    /// Starts "keyboard-interactive" (RFC 4256); the questions come as an event.
    ///
    /// - Parameter submethods: Hints for the server (RFC 4256 §3.1), usually empty.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` while another attempt is waiting.
    public mutating func tryKeyboardInteractive(submethods: String = "") throws {
        try requireIdle("keyboard-interactive")
        send(.keyboardInteractive(submethods: submethods))
        state = .awaitingKeyboardInteractive
    }

    /// Answers `.keyboardInteractive`, one answer per prompt.
    ///
    /// - Parameter answers: The answers, in the order of the prompts.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when no questions wait or the count differs.
    public mutating func respond(_ answers: [String]) throws {
        guard case .awaitingInfoAnswers(let count) = state else { throw SSHProtocolError(.invalidState("no questions are waiting")) }
        guard answers.count == count else {
            throw SSHProtocolError(.invalidState("\(answers.count) answers for \(count) questions"))
        }
        var payload = ByteBuffer()
        KeyboardInteractiveResponse.encode(answers, into: &payload)
        outbound.append(payload)
        state = .awaitingKeyboardInteractive
    }

    private func signedData(algorithm: String, keyBlob: [UInt8]) -> [UInt8] {
        UserAuthenticationRequest.signedData(sessionIdentifier: sessionIdentifier, user: user, service: service, algorithm: algorithm, keyBlob: keyBlob)
    }

    // MARK: Replies

    /// Handles an authentication message from the server (numbers 50–79).
    ///
    /// - Parameter payload: A message the transport delivered, message number first.
    /// - Returns: What the reply means, or nil for a banner that arrives after success.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/protocolViolation(_:)`` for a message out of turn;
    ///   `SSHWireError` for a field that does not decode.
    public mutating func receive(_ payload: ByteBuffer) throws -> Event? {
        guard let number = payload.getInteger(at: payload.readerIndex, as: UInt8.self) else {
            throw SSHProtocolError(.protocolViolation("empty authentication message"))
        }
        switch number {
        case SSHMessageNumber.userAuthenticationBanner:
            var buffer = payload
            buffer.moveReaderIndex(forwardBy: 1)
            // Shown as text whatever the server sent; control characters are the caller's to filter.
            let text = String(decoding: try buffer.readSSHStringBytes(field: "banner"), as: UTF8.self)
            return state == .succeeded ? nil : .banner(text)
        case SSHMessageNumber.userAuthenticationSuccess:
            guard isAwaitingServer else {
                throw SSHProtocolError(.protocolViolation("USERAUTH_SUCCESS without a request"))
            }
            state = .succeeded
            return .succeeded
        case SSHMessageNumber.userAuthenticationFailure:
            guard isAwaitingServer else {
                throw SSHProtocolError(.protocolViolation("USERAUTH_FAILURE without a request"))
            }
            let failure = try UserAuthenticationFailure(payload: payload)
            state = .idle
            return .chooseNextMethod(methodsThatCanContinue: failure.methodsThatCanContinue, partialSuccess: failure.partialSuccess)
        case SSHMessageNumber.userAuthenticationMethodSpecific60:
            return try receiveMethodSpecific(payload)
        default:
            throw SSHProtocolError(.protocolViolation("unexpected message \(number) during user authentication"))
        }
    }

    /// True while a request of ours waits for the server's verdict (otherwise a verdict is out of turn).
    private var isAwaitingServer: Bool {
        switch state {
        case .awaitingNone, .awaitingPublicKeyQuery, .awaitingPublicKeyResult, .awaitingPassword, .awaitingKeyboardInteractive: true
        case .idle, .awaitingSignature, .awaitingInfoAnswers, .passwordChangeRequested, .succeeded: false
        }
    }

    private mutating func receiveMethodSpecific(_ payload: ByteBuffer) throws -> Event? {
        var buffer = payload
        buffer.moveReaderIndex(forwardBy: 1)
        switch state {
        case .awaitingPublicKeyQuery(let algorithm, let keyBlob):
            // SSH_MSG_USERAUTH_PK_OK echoes the algorithm and key we asked about.
            let echoedAlgorithm = try buffer.readSSHUTF8String(field: "PK_OK algorithm")
            let echoedBlob = try buffer.readSSHStringBytes(field: "PK_OK key blob")
            guard echoedAlgorithm == algorithm, echoedBlob == keyBlob else {
                throw SSHProtocolError(.protocolViolation("PK_OK for a key we did not offer"))
            }
            state = .awaitingSignature(algorithm: algorithm, keyBlob: keyBlob)
            return .signatureNeeded(algorithm: algorithm, keyBlob: keyBlob, data: signedData(algorithm: algorithm, keyBlob: keyBlob))
        case .awaitingPassword:
            let prompt = String(decoding: try buffer.readSSHStringBytes(field: "password change prompt"), as: UTF8.self)
            state = .passwordChangeRequested
            return .passwordChangeRequested(prompt: prompt)
        case .awaitingKeyboardInteractive:
            let request = try KeyboardInteractiveRequest(payload: payload)
            state = .awaitingInfoAnswers(promptCount: request.prompts.count)
            return .keyboardInteractive(request)
        default:
            throw SSHProtocolError(.protocolViolation("unexpected message 60 during user authentication"))
        }
    }
}
