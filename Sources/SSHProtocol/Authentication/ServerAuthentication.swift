// The server side of user authentication, RFC 4252 (§5 requests and the failure list, §5.1 partial success,
// §5.4 banners, §7 publickey with query and PK_OK, §8 password) and RFC 4256 (keyboard-interactive). I/O-free:
// it parses and checks each request (publickey signatures are verified here, against this session's identifier)
// and reports it; the caller's policy answers. Deny is the caller's default; this machine never lets anyone in
// by itself. Failure replies are marked so the network layer can hold every one of them for the same fixed
// delay, whatever the reason (unknown user, wrong password, refused key), against timing probes.
import NIOCore
import SSHKeys
import SSHWire

/// The server side of user authentication (RFC 4252, RFC 4256), without I/O: it parses requests, verifies
/// publickey signatures against the session identifier, counts failures, and asks the caller to decide.
public struct SSHServerAuthentication {
    /// Attempts allowed and public key algorithms accepted.
    public struct Configuration: Sendable {
        /// Failed attempts before the connection is closed (sshd's MaxAuthTries). "none" does not count.
        public var maximumAttempts: Int
        /// Public key algorithms accepted (sshd's PubkeyAcceptedAlgorithms); SHA-1 RSA is never among them.
        public var acceptedPublicKeyAlgorithms: [SSHHostKeyAlgorithm]

        /// sshd's defaults: 6 attempts (MaxAuthTries), the default public key algorithms.
        ///
        /// - Parameters:
        ///   - maximumAttempts: Failed attempts before the connection is closed.
        ///   - acceptedPublicKeyAlgorithms: Public key algorithms accepted.
        public init(maximumAttempts: Int = 6, acceptedPublicKeyAlgorithms: [SSHHostKeyAlgorithm] = SSHHostKeyAlgorithm.defaults) {
            self.maximumAttempts = maximumAttempts
            self.acceptedPublicKeyAlgorithms = acceptedPublicKeyAlgorithms
        }
    }

    /// A request for the policy to decide. Answer each with exactly one decision.
    public enum Request: Sendable, Equatable {
        /// The "none" method: accept only if the user needs no authentication; usually `reject(...)` with the methods allowed.
        case none(user: String)
        /// Would this key be accepted? Answer `acceptPublicKeyQuery()` or `reject(...)`.
        case publicKeyQuery(user: String, key: SSHPresentedKey, algorithm: SSHHostKeyAlgorithm)
        /// The client proved it holds this key (signature verified); is the key authorized for `user`? `signature`
        /// is the blob it sent, for a policy in another process that checks it again (shhd's broker).
        case publicKey(user: String, key: SSHPresentedKey, algorithm: SSHHostKeyAlgorithm, signature: [UInt8])
        /// A password, and a new one when the client answers a change request. Answer `accept()`, `reject(...)` or
        /// `requestPasswordChange(prompt:)`.
        case password(user: String, password: String, newPassword: String?)
        /// Start keyboard-interactive: `sendInfoRequest(_:)` or `reject(...)`.
        case keyboardInteractive(user: String, submethods: String)
        /// Answers to our last info request.
        case keyboardInteractiveResponses(user: String, responses: [String])
    }

    /// What to send. Failures are to be delayed by the caller's fixed failure delay before they leave.
    public enum Output: Sendable {
        /// Send the payload now.
        case send(ByteBuffer)
        /// Send the payload once the failure delay has passed, so a failure takes as long however it was reached.
        case sendAfterFailureDelay(ByteBuffer)
    }

    private enum State: Equatable {
        case awaitingRequest
        case awaitingDecision(method: String, isQuery: Bool, key: SSHPresentedKey?, algorithm: SSHHostKeyAlgorithm?)
        case awaitingInfoResponse
        case authenticated
    }

    /// The limits in force.
    public private(set) var configuration: Configuration
    private let sessionIdentifier: [UInt8]
    private var state: State = .awaitingRequest
    private var outputs: [Output] = []
    /// Failed attempts so far ("none" probes and key queries do not count).
    public private(set) var failedAttempts = 0
    /// The user and service of the first request; later requests may not change them (as OpenSSH).
    public private(set) var user: String?
    private var service: String?

    /// Authentication for the connection with this session identifier.
    ///
    /// - Parameters:
    ///   - sessionIdentifier: ``SSHTransport/sessionIdentifier`` of the connection, which publickey signatures cover.
    ///   - configuration: The limits.
    public init(sessionIdentifier: [UInt8], configuration: Configuration = Configuration()) {
        self.sessionIdentifier = sessionIdentifier
        self.configuration = configuration
    }

    /// Whether a user has been accepted.
    public var isAuthenticated: Bool { state == .authenticated }

    /// What to send, in order (failures marked to be held for the failure delay).
    ///
    /// - Returns: Payloads for ``SSHTransport/send(_:)``, each marked whether it waits for the failure delay.
    public mutating func takeOutputs() -> [Output] {
        defer { outputs.removeAll() }
        return outputs
    }

    // MARK: Requests

    /// Handles a message from the client; returns the request for the policy, or nil when the machine answered
    /// by itself (an invalid signature, an algorithm we do not accept, an unknown method).
    ///
    /// - Parameters:
    ///   - payload: A message the transport delivered, message number first.
    ///   - methodsThatCanContinue: The methods to list when the machine refuses a request by itself.
    /// - Returns: The request to decide, or nil when the machine has answered it.
    /// - Throws: ``SSHProtocolError``: ``SSHProtocolError/Kind/protocolViolation(_:)`` for a malformed or out-of-turn
    ///   message, ``SSHProtocolError/Kind/serviceNotAvailable(_:)`` for a service other than ssh-connection,
    ///   ``SSHProtocolError/Kind/tooManyAuthenticationFailures(user:attempts:)`` when attempts run out;
    ///   `SSHWireError` for a field that does not decode.
    public mutating func receive(_ payload: ByteBuffer, methodsThatCanContinue: [String]) throws -> Request? {
        guard let number = payload.getInteger(at: payload.readerIndex, as: UInt8.self) else {
            throw SSHProtocolError(.protocolViolation("empty authentication message"))
        }
        if state == .authenticated {
            // RFC 4252 §5.1: requests after success are ignored.
            return nil
        }
        if number == SSHMessageNumber.userAuthenticationInfoResponse {
            guard state == .awaitingInfoResponse, let user else {
                throw SSHProtocolError(.protocolViolation("keyboard-interactive answers without questions"))
            }
            let responses = try KeyboardInteractiveResponse.decode(payload)
            state = .awaitingDecision(method: "keyboard-interactive", isQuery: false, key: nil, algorithm: nil)
            return .keyboardInteractiveResponses(user: user, responses: responses)
        }
        guard number == SSHMessageNumber.userAuthenticationRequest else {
            throw SSHProtocolError(.protocolViolation("unexpected message \(number) during user authentication"))
        }
        // A new request abandons a keyboard-interactive exchange in progress (RFC 4256 §3.4).
        guard state == .awaitingRequest || state == .awaitingInfoResponse else {
            throw SSHProtocolError(.protocolViolation("a new authentication request before the last one was answered"))
        }
        let request = try UserAuthenticationRequest(payload: payload)
        // A C string ends at NUL: the account database would see "name" where every policy sees "name\0x". sshd
        // refuses such a string outright; so do we.
        guard !request.user.utf8.contains(0), !request.service.utf8.contains(0) else {
            throw SSHProtocolError(.protocolViolation("a user or service name with a NUL byte"))
        }
        if let user, let service, user != request.user || service != request.service {
            throw SSHProtocolError(.protocolViolation("the user or service changed during authentication (\(user)/\(service) to \(request.user)/\(request.service))"))
        }
        guard request.service == "ssh-connection" else { throw SSHProtocolError(.serviceNotAvailable(request.service)) }
        user = request.user
        service = request.service

        switch request.method {
        case .none:
            state = .awaitingDecision(method: "none", isQuery: false, key: nil, algorithm: nil)
            return .none(user: request.user)
        case .password(let password, let newPassword):
            state = .awaitingDecision(method: "password", isQuery: false, key: nil, algorithm: nil)
            return .password(user: request.user, password: password, newPassword: newPassword)
        case .keyboardInteractive(let submethods):
            state = .awaitingDecision(method: "keyboard-interactive", isQuery: false, key: nil, algorithm: nil)
            return .keyboardInteractive(user: request.user, submethods: submethods)
        case .other(let name):
            try refuse(method: name, methodsThatCanContinue: methodsThatCanContinue)
            return nil
        case .publicKey(let algorithmName, let blob, let signature):
            guard let algorithm = SSHHostKeyAlgorithm(name: algorithmName),
                  configuration.acceptedPublicKeyAlgorithms.contains(algorithm),
                  let key = try? SSHPresentedKey(blob: blob, algorithm: algorithm),
                  key.publicKey.type == algorithm.keyType
            else {
                try refuse(method: "publickey", methodsThatCanContinue: methodsThatCanContinue)
                return nil
            }
            guard let signature else {
                state = .awaitingDecision(method: "publickey", isQuery: true, key: key, algorithm: algorithm)
                return .publicKeyQuery(user: request.user, key: key, algorithm: algorithm)
            }
            let data = UserAuthenticationRequest.signedData(
                sessionIdentifier: sessionIdentifier, user: request.user, service: request.service, algorithm: algorithmName, keyBlob: blob)
            guard let parsed = try? SSHSignature(wireBlob: signature),
                  parsed.algorithmName == algorithm.signatureAlgorithm.rawValue,
                  key.publicKey.isValidSignature(parsed, for: data, allowedAlgorithms: [algorithm.signatureAlgorithm])
            else {
                // A signature that does not verify (another session's, a forged one) is a failed attempt.
                try refuse(method: "publickey", methodsThatCanContinue: methodsThatCanContinue)
                return nil
            }
            state = .awaitingDecision(method: "publickey", isQuery: false, key: key, algorithm: algorithm)
            return .publicKey(user: request.user, key: key, algorithm: algorithm, signature: signature)
        }
    }

    // MARK: Decisions

    /// Authenticated: USERAUTH_SUCCESS.
    ///
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when no request waits for a decision.
    public mutating func accept() throws {
        guard case .awaitingDecision(_, let isQuery, _, _) = state, !isQuery else {
            throw SSHProtocolError(.invalidState("no authentication request to accept"))
        }
        var payload = ByteBuffer()
        payload.writeSSHByte(SSHMessageNumber.userAuthenticationSuccess)
        outputs.append(.send(payload))
        state = .authenticated
    }

    /// The key of a query would be accepted: SSH_MSG_USERAUTH_PK_OK.
    ///
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when no key query waits.
    public mutating func acceptPublicKeyQuery() throws {
        guard case .awaitingDecision(_, true, let key?, let algorithm?) = state else {
            throw SSHProtocolError(.invalidState("no public key query to accept"))
        }
        var payload = ByteBuffer()
        payload.writeSSHByte(SSHMessageNumber.userAuthenticationMethodSpecific60)
        payload.writeSSHString(algorithm.name)
        payload.writeSSHString(key.wireBlob)
        outputs.append(.send(payload))
        state = .awaitingRequest
    }

    /// Not (yet) authenticated. `partialSuccess` when this method succeeded but more are required
    /// (AuthenticationMethods); it does not count as a failed attempt. Throws when attempts are exhausted: the
    /// caller disconnects with the error's reason.
    ///
    /// - Parameters:
    ///   - methodsThatCanContinue: The methods the client may try next.
    ///   - partialSuccess: True when this method succeeded but another is required.
    /// - Throws: ``SSHProtocolError``: ``SSHProtocolError/Kind/tooManyAuthenticationFailures(user:attempts:)`` when
    ///   attempts are exhausted (the failure is still queued), ``SSHProtocolError/Kind/invalidState(_:)`` when no request waits.
    public mutating func reject(methodsThatCanContinue: [String], partialSuccess: Bool = false) throws {
        guard case .awaitingDecision(let method, _, _, _) = state else {
            throw SSHProtocolError(.invalidState("no authentication request to reject"))
        }
        state = .awaitingRequest
        var payload = ByteBuffer()
        UserAuthenticationFailure(methodsThatCanContinue: methodsThatCanContinue, partialSuccess: partialSuccess).encode(into: &payload)
        if partialSuccess {
            outputs.append(.send(payload))
            return
        }
        // As sshd's userauth_finish: "none" only probes for the method list and costs nothing; every other
        // refusal counts, a refused key query too (an accepted query is answered with PK_OK and costs nothing, its
        // signed attempt is what counts). Otherwise a client offering key after key would never meet MaxAuthTries.
        if method != "none" { failedAttempts += 1 }
        outputs.append(.sendAfterFailureDelay(payload))
        try checkAttempts()
    }

    /// Keyboard-interactive: ask questions (RFC 4256 §3.2). The answers come as `.keyboardInteractiveResponses`.
    ///
    /// - Parameter request: The questions.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` outside a keyboard-interactive exchange.
    public mutating func sendInfoRequest(_ request: KeyboardInteractiveRequest) throws {
        guard case .awaitingDecision("keyboard-interactive", _, _, _) = state else {
            throw SSHProtocolError(.invalidState("no keyboard-interactive exchange in progress"))
        }
        var payload = ByteBuffer()
        request.encode(into: &payload)
        outputs.append(.send(payload))
        state = .awaitingInfoResponse
    }

    /// Password: the password is right but expired; ask for a new one (RFC 4252 §8).
    ///
    /// - Parameter prompt: The text to show the user.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when no password request waits.
    public mutating func requestPasswordChange(prompt: String) throws {
        guard case .awaitingDecision("password", _, _, _) = state else {
            throw SSHProtocolError(.invalidState("no password request to answer"))
        }
        var payload = ByteBuffer()
        payload.writeSSHByte(SSHMessageNumber.userAuthenticationMethodSpecific60)
        payload.writeSSHString(prompt)
        payload.writeSSHString("")
        outputs.append(.send(payload))
        state = .awaitingRequest
    }

    /// Changes the number of failed attempts allowed (sshd's MaxAuthTries inside Match, known once the user is);
    /// the next failure past it ends the connection.
    ///
    /// - Parameter maximum: Failed attempts allowed; at least 1.
    public mutating func limitAttempts(to maximum: Int) {
        configuration.maximumAttempts = max(1, maximum)
    }

    /// A banner (RFC 4252 §5.4), allowed any time before success; ignored after it.
    ///
    /// - Parameter text: The banner text.
    public mutating func sendBanner(_ text: String) {
        guard state != .authenticated else { return }
        var payload = ByteBuffer()
        payload.writeSSHByte(SSHMessageNumber.userAuthenticationBanner)
        payload.writeSSHString(text)
        payload.writeSSHString("")
        outputs.append(.send(payload))
    }

    private mutating func refuse(method: String, methodsThatCanContinue: [String]) throws {
        state = .awaitingDecision(method: method, isQuery: false, key: nil, algorithm: nil)
        try reject(methodsThatCanContinue: methodsThatCanContinue)
    }

    private func checkAttempts() throws {
        if failedAttempts >= configuration.maximumAttempts {
            throw SSHProtocolError(.tooManyAuthenticationFailures(user: user ?? "", attempts: failedAttempts))
        }
    }
}
