// Both authentication state machines wired together in memory (RFC 4252, 4256): every method, every key type,
// certificates, partial success, the attempt limit, and hostile requests; and once over a real transport pair,
// one byte at a time.
import NIOCore
import SSHKeys
import SSHProtocol
import SSHWire
import Testing

/// A deny-by-default policy for tests: what it accepts is spelled out.
struct TestPolicy {
    var authorizedKeys: Set<SSHPublicKey> = []
    var certificateAuthority: SSHPublicKey?
    var passwords: [String: String] = [:]
    var expiredPasswords: Set<String> = []
    var keyboardAnswers: [String]?
    /// Methods still required after one succeeded (AuthenticationMethods "publickey,password").
    var requiredMethods: [String] = []
    var methods = ["publickey", "password", "keyboard-interactive"]
}

struct AuthenticationPair {
    var client: SSHClientAuthentication
    var server: SSHServerAuthentication
    var policy: TestPolicy
    var clientEvents: [SSHClientAuthentication.Event] = []
    var delayedFailures = 0
    var serverError: SSHProtocolError?
    private var satisfied: [String] = []

    init(user: String = "alice", policy: TestPolicy, sessionIdentifier: [UInt8] = Array(repeating: 7, count: 32),
         serverSessionIdentifier: [UInt8]? = nil, configuration: SSHServerAuthentication.Configuration = .init()) {
        client = SSHClientAuthentication(user: user, sessionIdentifier: sessionIdentifier)
        server = SSHServerAuthentication(sessionIdentifier: serverSessionIdentifier ?? sessionIdentifier, configuration: configuration)
        self.policy = policy
    }

    /// Moves the client's requests to the server, lets the policy decide, and moves the answers back.
    mutating func pump() throws {
        for payload in client.takeOutbound() {
            do {
                if let request = try server.receive(payload, methodsThatCanContinue: remainingMethods) { try decide(request) }
            } catch let error as SSHProtocolError {
                serverError = error
                return
            }
            for output in server.takeOutputs() {
                switch output {
                case .send(let reply):
                    if let event = try client.receive(reply) { clientEvents.append(event) }
                case .sendAfterFailureDelay(let reply):
                    delayedFailures += 1
                    if let event = try client.receive(reply) { clientEvents.append(event) }
                }
            }
        }
    }

    private var remainingMethods: [String] { policy.methods.filter { !satisfied.contains($0) } }

    private mutating func succeed(_ method: String) throws {
        satisfied.append(method)
        let stillRequired = policy.requiredMethods.filter { !satisfied.contains($0) }
        if stillRequired.isEmpty { try server.accept() } else { try server.reject(methodsThatCanContinue: stillRequired, partialSuccess: true) }
    }

    private mutating func decide(_ request: SSHServerAuthentication.Request) throws {
        switch request {
        case .none:
            try server.reject(methodsThatCanContinue: remainingMethods)
        case .publicKeyQuery(_, let key, _):
            if isAuthorized(key) { try server.acceptPublicKeyQuery() } else { try server.reject(methodsThatCanContinue: remainingMethods) }
        case .publicKey(_, let key, _, _):
            if isAuthorized(key) { try succeed("publickey") } else { try server.reject(methodsThatCanContinue: remainingMethods) }
        case .password(let user, let password, let newPassword):
            if policy.passwords[user] == password {
                if policy.expiredPasswords.contains(user) && newPassword == nil {
                    try server.requestPasswordChange(prompt: "Your password has expired.")
                } else {
                    try succeed("password")
                }
            } else {
                try server.reject(methodsThatCanContinue: remainingMethods)
            }
        case .keyboardInteractive:
            try server.sendInfoRequest(KeyboardInteractiveRequest(name: "", instruction: "Two questions",
                prompts: [KeyboardInteractivePrompt(prompt: "Password: ", echo: false), KeyboardInteractivePrompt(prompt: "Code: ", echo: true)]))
        case .keyboardInteractiveResponses(_, let responses):
            if responses == policy.keyboardAnswers { try succeed("keyboard-interactive") } else { try server.reject(methodsThatCanContinue: remainingMethods) }
        }
    }

    private func isAuthorized(_ key: SSHPresentedKey) -> Bool {
        switch key {
        case .key(let key): return policy.authorizedKeys.contains(key)
        case .certificate(let certificate):
            return certificate.signatureKey == policy.certificateAuthority && certificate.hasValidSignature
        }
    }

    /// Signs what the client was asked to sign with `key`, and sends it.
    mutating func sign(with key: SSHPrivateKey) throws {
        guard case .signatureNeeded(let algorithm, _, let data)? = clientEvents.last else {
            Issue.record("no signature was asked for: \(clientEvents)")
            return
        }
        let signatureAlgorithm = try #require(SSHHostKeyAlgorithm(name: algorithm)).signatureAlgorithm
        try client.provideSignature(try key.signature(for: data, algorithm: signatureAlgorithm).wireBlob)
        try pump()
    }
}

@Suite(.timeLimit(.minutes(10))) struct AuthenticationTests {
    static let keys: [SSHKeyType: SSHPrivateKey] = TestHostKeys.keys

    @Test func noneThenEachKeyType() throws {
        for type in SSHKeyType.allCases {
            let key = try #require(Self.keys[type])
            var pair = AuthenticationPair(policy: TestPolicy(authorizedKeys: [key.publicKey]))
            try pair.client.tryNone()
            try pair.pump()
            #expect(pair.clientEvents.last == .chooseNextMethod(methodsThatCanContinue: ["publickey", "password", "keyboard-interactive"], partialSuccess: false))
            for algorithm in publicKeyAlgorithms(for: .key(key.publicKey), serverSignatureAlgorithms: nil).prefix(1) {
                #expect(try pair.client.tryPublicKey(algorithm: algorithm.name, keyBlob: key.publicKey.wireBlob) == nil)
                try pair.pump()
                try pair.sign(with: key)
            }
            #expect(pair.clientEvents.last == .succeeded, "\(type)")
            #expect(pair.server.isAuthenticated && pair.client.isAuthenticated)
            #expect(pair.delayedFailures == 1, "only the none probe failed")
            #expect(pair.server.failedAttempts == 0, "none costs no attempt")
        }
    }

    @Test(arguments: ["rsa-sha2-256", "rsa-sha2-512"])
    func rsaWithEachHash(_ algorithm: String) throws {
        let key = try #require(Self.keys[.rsa])
        var pair = AuthenticationPair(policy: TestPolicy(authorizedKeys: [key.publicKey]))
        _ = try pair.client.tryPublicKey(algorithm: algorithm, keyBlob: key.publicKey.wireBlob)
        try pair.pump()
        try pair.sign(with: key)
        #expect(pair.server.isAuthenticated)
    }

    @Test func serverSignatureAlgorithmsChooseTheRSAHash() throws {
        let key = SSHPresentedKey.key(try #require(Self.keys[.rsa]).publicKey)
        #expect(publicKeyAlgorithms(for: key, serverSignatureAlgorithms: ["ssh-ed25519", "rsa-sha2-256"]).map(\.name) == ["rsa-sha2-256"])
        #expect(publicKeyAlgorithms(for: key, serverSignatureAlgorithms: nil).map(\.name) == ["rsa-sha2-512", "rsa-sha2-256"])
    }

    @Test func sha1RSAIsRefusedWithoutAsking() throws {
        let key = try #require(Self.keys[.rsa])
        var pair = AuthenticationPair(policy: TestPolicy(authorizedKeys: [key.publicKey]))
        _ = try pair.client.tryPublicKey(algorithm: "ssh-rsa", keyBlob: key.publicKey.wireBlob)
        try pair.pump()
        guard case .chooseNextMethod? = pair.clientEvents.last else { Issue.record("\(pair.clientEvents)"); return }
        #expect(!pair.server.isAuthenticated)
    }

    @Test func userCertificate() throws {
        let authority = try #require(TestHostKeys.authority)
        let key = try #require(Self.keys[.ecdsaP256])
        let certificate = try SSHCertificate.issue(for: key.publicKey, authority: authority, kind: .user, keyID: "alice", principals: ["alice"])
        var pair = AuthenticationPair(policy: TestPolicy(certificateAuthority: authority.publicKey))
        let algorithm = try #require(publicKeyAlgorithms(for: .certificate(certificate), serverSignatureAlgorithms: nil).first)
        #expect(algorithm.name == "ecdsa-sha2-nistp256-cert-v01@openssh.com")
        _ = try pair.client.tryPublicKey(algorithm: algorithm.name, keyBlob: certificate.wireBlob)
        try pair.pump()
        try pair.sign(with: key)
        #expect(pair.server.isAuthenticated)
    }

    @Test func unauthorizedKeyIsRefusedAtTheQueryAndCountsAsAnAttempt() throws {
        let key = try #require(Self.keys[.ed25519])
        var pair = AuthenticationPair(policy: TestPolicy())
        _ = try pair.client.tryPublicKey(algorithm: "ssh-ed25519", keyBlob: key.publicKey.wireBlob)
        try pair.pump()
        guard case .chooseNextMethod? = pair.clientEvents.last else { Issue.record("\(pair.clientEvents)"); return }
        // As sshd: a refused query is a failed attempt (so key after key meets MaxAuthTries); an accepted one is not.
        #expect(pair.server.failedAttempts == 1)
        let authorized = try #require(Self.keys[.ecdsaP256])
        var accepting = AuthenticationPair(policy: TestPolicy(authorizedKeys: [authorized.publicKey]))
        _ = try accepting.client.tryPublicKey(algorithm: "ecdsa-sha2-nistp256", keyBlob: authorized.publicKey.wireBlob)
        try accepting.pump()
        #expect(accepting.server.failedAttempts == 0, "an accepted query costs no attempt")
    }

    @Test func signatureForAnotherSessionIsAFailedAttempt() throws {
        let key = try #require(Self.keys[.ed25519])
        var pair = AuthenticationPair(policy: TestPolicy(authorizedKeys: [key.publicKey]), serverSessionIdentifier: Array(repeating: 9, count: 32))
        _ = try pair.client.tryPublicKey(algorithm: "ssh-ed25519", keyBlob: key.publicKey.wireBlob, query: false)
        pair.clientEvents.append(.signatureNeeded(algorithm: "ssh-ed25519", keyBlob: key.publicKey.wireBlob,
            data: UserAuthenticationRequest.signedData(sessionIdentifier: Array(repeating: 7, count: 32), user: "alice",
                                                       service: "ssh-connection", algorithm: "ssh-ed25519", keyBlob: key.publicKey.wireBlob)))
        try pair.sign(with: key)
        #expect(!pair.server.isAuthenticated)
        #expect(pair.server.failedAttempts == 1)
        #expect(pair.delayedFailures == 1)
    }

    @Test func passwordAndItsChange() throws {
        var pair = AuthenticationPair(policy: TestPolicy(passwords: ["alice": "old"], expiredPasswords: ["alice"]))
        try pair.client.tryPassword("wrong")
        try pair.pump()
        #expect(pair.server.failedAttempts == 1 && pair.delayedFailures == 1)
        try pair.client.tryPassword("old")
        try pair.pump()
        #expect(pair.clientEvents.last == .passwordChangeRequested(prompt: "Your password has expired."))
        try pair.client.changePassword(old: "old", new: "new")
        try pair.pump()
        #expect(pair.clientEvents.last == .succeeded)
    }

    @Test func keyboardInteractive() throws {
        var pair = AuthenticationPair(policy: TestPolicy(keyboardAnswers: ["secret", "123456"]))
        try pair.client.tryKeyboardInteractive()
        try pair.pump()
        guard case .keyboardInteractive(let request)? = pair.clientEvents.last else { Issue.record("\(pair.clientEvents)"); return }
        #expect(request.prompts.map(\.prompt) == ["Password: ", "Code: "])
        #expect(request.prompts.map(\.echo) == [false, true])
        #expect(throws: SSHProtocolError.self) { try pair.client.respond(["only one"]) }
        try pair.client.respond(["secret", "123456"])
        try pair.pump()
        #expect(pair.clientEvents.last == .succeeded)
    }

    @Test func partialSuccessNeedsTheSecondMethod() throws {
        let key = try #require(Self.keys[.ed25519])
        var policy = TestPolicy(authorizedKeys: [key.publicKey], passwords: ["alice": "pw"])
        policy.requiredMethods = ["publickey", "password"]
        var pair = AuthenticationPair(policy: policy)
        _ = try pair.client.tryPublicKey(algorithm: "ssh-ed25519", keyBlob: key.publicKey.wireBlob)
        try pair.pump()
        try pair.sign(with: key)
        #expect(pair.clientEvents.last == .chooseNextMethod(methodsThatCanContinue: ["password"], partialSuccess: true))
        #expect(pair.delayedFailures == 0, "partial success is not a failure")
        try pair.client.tryPassword("pw")
        try pair.pump()
        #expect(pair.clientEvents.last == .succeeded)
    }

    @Test func attemptsRunOut() throws {
        var pair = AuthenticationPair(policy: TestPolicy(passwords: ["alice": "pw"]), configuration: .init(maximumAttempts: 3))
        for _ in 0..<3 {
            try pair.client.tryPassword("guess")
            try pair.pump()
        }
        let error = try #require(pair.serverError)
        #expect(error.disconnectReason == .noMoreAuthenticationMethodsAvailable)
        #expect(error.description.contains("too many authentication failures for alice"))
    }

    @Test func changingUserMidwayIsAProtocolError() throws {
        var server = SSHServerAuthentication(sessionIdentifier: [1])
        var first = ByteBuffer()
        UserAuthenticationRequest(user: "alice", method: .none).encode(into: &first)
        #expect(try server.receive(first, methodsThatCanContinue: ["password"]) == .none(user: "alice"))
        try server.reject(methodsThatCanContinue: ["password"])
        var second = ByteBuffer()
        UserAuthenticationRequest(user: "root", method: .password("x", newPassword: nil)).encode(into: &second)
        #expect(throws: SSHProtocolError.self) { try server.receive(second, methodsThatCanContinue: ["password"]) }
        var otherService = ByteBuffer()
        UserAuthenticationRequest(user: "bob", service: "ssh-userauth", method: .none).encode(into: &otherService)
        var fresh = SSHServerAuthentication(sessionIdentifier: [1])
        #expect(throws: SSHProtocolError.self) { try fresh.receive(otherService, methodsThatCanContinue: []) }
    }

    /// A C string ends at NUL: "alice\0x" would be "alice" to getpwnam but not to DenyUsers or Match User. Such a
    /// name (or service) never reaches the policy; the connection ends, as sshd ends it.
    @Test(arguments: ["alice\0x", "\0", "alice\0"])
    func aUserNameWithANulIsAProtocolViolation(_ user: String) throws {
        var server = SSHServerAuthentication(sessionIdentifier: [1])
        var request = ByteBuffer()
        UserAuthenticationRequest(user: user, method: .password("secret", newPassword: nil)).encode(into: &request)
        #expect(throws: SSHProtocolError.self) { try server.receive(request, methodsThatCanContinue: ["password"]) }
        var service = ByteBuffer()
        UserAuthenticationRequest(user: "alice", service: "ssh-connection\0", method: .none).encode(into: &service)
        var fresh = SSHServerAuthentication(sessionIdentifier: [1])
        #expect(throws: SSHProtocolError.self) { try fresh.receive(service, methodsThatCanContinue: []) }
    }

    /// MaxAuthTries inside Match: known once the user is, it replaces the connection's limit from there on.
    @Test func aLowerLimitForTheUserEndsTheConnectionSooner() throws {
        var pair = AuthenticationPair(policy: TestPolicy(passwords: ["alice": "right"]))
        pair.server.limitAttempts(to: 2)
        try pair.client.tryPassword("wrong")
        try pair.pump()
        #expect(pair.serverError == nil)
        try pair.client.tryPassword("wrong again")
        try pair.pump()
        let error = try #require(pair.serverError)
        #expect(error.description.contains("too many authentication failures for alice"), "\(error)")
    }

    @Test func unknownMethodIsRefusedWithTheList() throws {
        var server = SSHServerAuthentication(sessionIdentifier: [1])
        var request = ByteBuffer()
        UserAuthenticationRequest(user: "alice", method: .other("hostbased")).encode(into: &request)
        #expect(try server.receive(request, methodsThatCanContinue: ["publickey"]) == nil)
        guard case .sendAfterFailureDelay(var reply)? = server.takeOutputs().first else { Issue.record("no failure"); return }
        #expect(reply.readInteger(as: UInt8.self) == SSHMessageNumber.userAuthenticationFailure)
        #expect(try reply.readSSHNameList() == ["publickey"])
    }

    @Test func verdictsOutOfTurnAreProtocolErrors() throws {
        var client = SSHClientAuthentication(user: "alice", sessionIdentifier: [1])
        var success = ByteBuffer()
        success.writeSSHByte(SSHMessageNumber.userAuthenticationSuccess)
        #expect(throws: SSHProtocolError.self) { try client.receive(success) }
        var banner = ByteBuffer()
        banner.writeSSHByte(SSHMessageNumber.userAuthenticationBanner)
        banner.writeSSHString("Authorized users only")
        banner.writeSSHString("")
        var fresh = SSHClientAuthentication(user: "alice", sessionIdentifier: [1])
        #expect(try fresh.receive(banner) == .banner("Authorized users only"))
    }

    /// Every prefix of every message a server can send fails cleanly at the client (no crash, an error).
    @Test func truncatedServerMessages() throws {
        var messages: [ByteBuffer] = []
        var failure = ByteBuffer()
        UserAuthenticationFailure(methodsThatCanContinue: ["publickey", "password"], partialSuccess: false).encode(into: &failure)
        messages.append(failure)
        var info = ByteBuffer()
        KeyboardInteractiveRequest(prompts: [KeyboardInteractivePrompt(prompt: "Password: ", echo: false)]).encode(into: &info)
        messages.append(info)
        for message in messages {
            let bytes = Array(message.readableBytesView)
            for length in 1..<bytes.count {
                var client = SSHClientAuthentication(user: "alice", sessionIdentifier: [1])
                try client.tryKeyboardInteractive()
                #expect(throws: (any Error).self) { try client.receive(ByteBuffer(bytes: bytes[0..<length])) }
            }
        }
    }

    /// The whole path over a real transport pair fed one byte at a time: ssh-userauth service, none, a key query,
    /// the signature over the transport's actual session identifier, success.
    @Test func overTheTransportOneByteAtATime() throws {
        let key = try #require(Self.keys[.ed25519])
        var pair = TransportPair(chunkSize: 1)
        pair.authenticateAfterKeyExchange = false
        try pair.start()
        pair.run()
        try pair.client.requestService("ssh-userauth")
        pair.run()
        try #require(pair.clientLog.serviceAccepted == "ssh-userauth")
        let sessionIdentifier = try #require(pair.client.sessionIdentifier)
        var client = SSHClientAuthentication(user: "alice", sessionIdentifier: sessionIdentifier)
        var server = SSHServerAuthentication(sessionIdentifier: try #require(pair.server.sessionIdentifier))
        var clientEvents: [SSHClientAuthentication.Event] = []

        func exchange() throws {
            for payload in client.takeOutbound() { try pair.client.send(payload) }
            pair.run()
            for message in pair.serverLog.messages {
                if let request = try server.receive(ByteBuffer(bytes: message), methodsThatCanContinue: ["publickey"]) {
                    switch request {
                    case .publicKeyQuery(_, .key(let offered), _) where offered == key.publicKey: try server.acceptPublicKeyQuery()
                    case .publicKey(_, .key(let offered), _, _) where offered == key.publicKey: try server.accept()
                    default: try server.reject(methodsThatCanContinue: ["publickey"])
                    }
                }
            }
            pair.serverLog.messages.removeAll()
            for output in server.takeOutputs() {
                switch output {
                case .send(let reply), .sendAfterFailureDelay(let reply): try pair.server.send(reply)
                }
            }
            pair.run()
            for message in pair.clientLog.messages {
                if let event = try client.receive(ByteBuffer(bytes: message)) { clientEvents.append(event) }
            }
            pair.clientLog.messages.removeAll()
        }

        try client.tryNone()
        try exchange()
        #expect(clientEvents.last == .chooseNextMethod(methodsThatCanContinue: ["publickey"], partialSuccess: false))
        _ = try client.tryPublicKey(algorithm: "ssh-ed25519", keyBlob: key.publicKey.wireBlob)
        try exchange()
        guard case .signatureNeeded(_, _, let data)? = clientEvents.last else { Issue.record("\(clientEvents)"); return }
        try client.provideSignature(try key.signature(for: data).wireBlob)
        try exchange()
        #expect(clientEvents.last == .succeeded)
        #expect(server.isAuthenticated)
    }
}
