// Both transport state machines wired together in memory: every algorithm dimension against defaults,
// byte-at-a-time feeding, rekeying from either side in the middle of traffic, services and ext-info.
import NIOCore
import SSHKeys
import SSHProtocol
import SSHWire
import Testing

@Suite(.timeLimit(.minutes(10))) struct TransportEndToEndTests {
    /// Handshake, then `count` messages each way; checks all arrive in order.
    static func exchange(_ pair: inout TransportPair, count: Int = 20, size: Int = 200) throws {
        try pair.start()
        pair.run()
        #expect(pair.isEstablished, "client: \(String(describing: pair.clientLog.error)), server: \(String(describing: pair.serverLog.error))")
        for index in 0..<count {
            try pair.client.send(testMessage(index, size: size))
            try pair.server.send(testMessage(index, size: size))
        }
        pair.run()
        #expect(pair.serverLog.messages.compactMap(messageIndex) == Array(0..<count))
        #expect(pair.clientLog.messages.compactMap(messageIndex) == Array(0..<count))
    }

    @Test func defaultsNegotiateOpenSSH10Choices() throws {
        var pair = TransportPair()
        try Self.exchange(&pair)
        let negotiated = try #require(pair.client.negotiatedAlgorithms)
        #expect(negotiated.keyExchange == .mlkem768x25519SHA256)
        #expect(negotiated.hostKey.name == "ssh-ed25519")
        #expect(negotiated.cipherClientToServer == .chacha20Poly1305)
        #expect(negotiated.macClientToServer == nil)
        #expect(pair.client.isStrictKeyExchange && pair.server.isStrictKeyExchange)
        #expect(pair.client.sessionIdentifier == pair.server.sessionIdentifier)
        #expect(pair.client.sessionIdentifier?.count == 32)
        #expect(pair.clientLog.hostKeys == [.key(try #require(TestHostKeys.keys[.ed25519]).publicKey)])
    }

    @Test(arguments: SSHKeyExchangeAlgorithm.allCases)
    func eachKeyExchange(_ kex: SSHKeyExchangeAlgorithm) throws {
        var pair = TransportPair(algorithms: SSHAlgorithms(keyExchange: [kex]))
        try Self.exchange(&pair)
        #expect(pair.server.negotiatedAlgorithms?.keyExchange == kex)
        let expectedLength = kex == .ecdhP384 ? 48 : kex == .ecdhP521 ? 64 : 32
        #expect(pair.server.sessionIdentifier?.count == expectedLength)
    }

    @Test(arguments: SSHHostKeyAlgorithm.defaults)
    func eachHostKeyAlgorithm(_ algorithm: SSHHostKeyAlgorithm) throws {
        let key = try #require(TestHostKeys.hostKey(algorithm.keyType, certified: algorithm.isCertificate))
        var pair = TransportPair(algorithms: SSHAlgorithms(hostKey: [algorithm]), hostKeys: [key])
        try Self.exchange(&pair, count: 2)
        #expect(pair.client.negotiatedAlgorithms?.hostKey == algorithm)
        if algorithm.isCertificate {
            #expect(pair.clientLog.hostKeys == [.certificate(try #require(key.certificate))])
        } else {
            #expect(pair.clientLog.hostKeys == [.key(key.publicKey)])
        }
    }

    @Test(arguments: SSHCipherAlgorithm.allCases)
    func eachCipher(_ cipher: SSHCipherAlgorithm) throws {
        var pair = TransportPair(algorithms: SSHAlgorithms(ciphers: [cipher]))
        try Self.exchange(&pair, count: 30, size: 1000)
        #expect(pair.client.negotiatedAlgorithms?.cipherServerToClient == cipher)
    }

    @Test(arguments: SSHMACAlgorithm.allCases)
    func eachMAC(_ mac: SSHMACAlgorithm) throws {
        var pair = TransportPair(algorithms: SSHAlgorithms(ciphers: [.aes128CTR, .aes256CTR], macs: [mac]))
        try Self.exchange(&pair, count: 30, size: 1000)
        #expect(pair.client.negotiatedAlgorithms?.macClientToServer == mac)
        #expect(pair.client.negotiatedAlgorithms?.cipherClientToServer == .aes128CTR)
    }

    @Test(arguments: [SSHCipherAlgorithm.chacha20Poly1305, .aes256GCM, .aes192CTR])
    func oneByteAtATime(_ cipher: SSHCipherAlgorithm) throws {
        var pair = TransportPair(algorithms: SSHAlgorithms(ciphers: [cipher]), chunkSize: 1)
        try Self.exchange(&pair, count: 5, size: 100)
        try pair.client.requestService("ssh-userauth")
        pair.run()
        #expect(pair.clientLog.serviceAccepted == "ssh-userauth")
        #expect(pair.serverLog.serviceAccepted == "ssh-userauth")
    }

    @Test func serverSendsExtensionInfoAndAnswersPing() throws {
        var pair = TransportPair()
        try Self.exchange(&pair, count: 1)
        #expect(pair.client.serverSignatureAlgorithms?.contains("rsa-sha2-512") == true)
        #expect(pair.clientLog.events.contains("extInfo"))
        #expect(try pair.client.sendPing([1, 2, 3]))
        pair.run()
        #expect(pair.clientLog.events.contains("pong:3"))
    }

    @Test(arguments: [true, false])
    func rekeyInTheMiddleOfTraffic(startedByClient: Bool) throws {
        var pair = TransportPair()
        try Self.exchange(&pair, count: 3)
        let before = pair.client.sessionIdentifier
        // Messages queued before, during and after the exchange, in both directions, without pumping between.
        for index in 3..<50 {
            try pair.client.send(testMessage(index, size: 300))
            try pair.server.send(testMessage(index, size: 300))
            if index == 20 {
                if startedByClient { try pair.client.startKeyExchange() } else { try pair.server.startKeyExchange() }
                #expect((startedByClient ? pair.client : pair.server).isKeyExchangeInProgress)
            }
            if index % 7 == 0 { pair.run() }
        }
        pair.run()
        #expect(pair.clientLog.completedExchanges == 2)
        #expect(pair.serverLog.completedExchanges == 2)
        #expect(pair.serverLog.messages.compactMap(messageIndex) == Array(0..<50))
        #expect(pair.clientLog.messages.compactMap(messageIndex) == Array(0..<50))
        #expect(pair.client.sessionIdentifier == before, "the session identifier stays that of the first exchange")
        #expect(pair.clientLog.hostKeys.count == 1, "the host key is validated once")
    }

    @Test func rekeyByByteLimitWhileStreamingByteAtATime() throws {
        let limits = SSHRekeyLimits(bytes: 8 * 1024)
        var pair = TransportPair(
            client: SSHTransportConfiguration(role: .client, rekeyLimits: limits),
            server: SSHTransportConfiguration(role: .server(hostKeys: TestHostKeys.all)),
            chunkSize: 7
        )
        try pair.start()
        pair.run()
        for index in 0..<100 {
            try pair.client.send(testMessage(index, size: 500))
            if index % 3 == 0 { pair.run() }
        }
        pair.run()
        #expect(pair.clientLog.completedExchanges >= 4)
        #expect(pair.serverLog.messages.compactMap(messageIndex) == Array(0..<100))
    }

    @Test func bothSidesStartingARekeyAtOnceConverge() throws {
        var pair = TransportPair()
        try Self.exchange(&pair, count: 1)
        try pair.client.startKeyExchange()
        try pair.server.startKeyExchange()
        try pair.client.send(testMessage(1))
        try pair.server.send(testMessage(1))
        pair.run()
        #expect(pair.clientLog.completedExchanges == 2 && pair.serverLog.completedExchanges == 2)
        #expect(pair.clientLog.error == nil && pair.serverLog.error == nil)
        #expect(pair.serverLog.messages.compactMap(messageIndex) == [0, 1])
    }

    @Test func unknownMessagesGetUnimplementedAndTheConnectionGoesOn() throws {
        var pair = TransportPair()
        try Self.exchange(&pair, count: 1)
        var odd = ByteBuffer()
        odd.writeInteger(UInt8(150))
        try pair.client.send(odd)
        try pair.client.send(testMessage(1))
        pair.run()
        #expect(pair.serverLog.error == nil && pair.clientLog.error == nil)
        #expect(pair.serverLog.messages.compactMap(messageIndex) == [0, 1])
    }

    @Test func disconnectReasonReachesThePeerAsText() throws {
        var pair = TransportPair()
        try Self.exchange(&pair, count: 1)
        pair.server.disconnect(reason: .byApplication, description: "server shutting down")
        pair.run()
        let error = try #require(pair.clientLog.peerDisconnect)
        #expect(error.disconnectReason == .byApplication)
        #expect(error.description.contains("server shutting down"))
        #expect(pair.client.isClosed)
    }

    @Test func unavailableServiceIsRefused() throws {
        var pair = TransportPair()
        try Self.exchange(&pair, count: 1)
        try pair.client.requestService("ssh-connection")
        pair.run()
        #expect(pair.serverLog.error?.disconnectReason == .serviceNotAvailable)
        #expect(pair.clientLog.peerDisconnect?.disconnectReason == .serviceNotAvailable)
    }

    @Test func rejectedHostKeyEndsTheExchange() throws {
        var pair = TransportPair()
        pair.acceptHostKey = false
        try pair.start()
        pair.run()
        #expect(pair.clientLog.completedExchanges == 0)
        #expect(pair.client.isClosed)
        #expect(pair.serverLog.peerDisconnect?.disconnectReason == .hostKeyNotVerifiable)
    }
}

/// Which higher-layer messages the transport lets through before and after authentication (RFC 4253 §11.4,
/// RFC 4252 §5.1), and what an unauthenticated peer cannot make the server do (answer pings, rekey).
@Suite(.timeLimit(.minutes(10))) struct TransportAuthenticationGateTests {
    static func unauthenticatedPair() throws -> TransportPair {
        var pair = TransportPair()
        pair.authenticateAfterKeyExchange = false
        try pair.start()
        pair.run()
        #expect(pair.isEstablished)
        return pair
    }

    static func authenticate(_ pair: inout TransportPair) throws {
        var success = ByteBuffer()
        success.writeInteger(SSHMessageNumber.userAuthenticationSuccess)
        try pair.server.send(success)
        pair.run()
        #expect(pair.server.isAuthenticated && pair.client.isAuthenticated)
    }

    /// A connection message before authentication gets UNIMPLEMENTED (as sshd answers it) and the connection goes
    /// on; after authentication the same message is delivered, and a number no layer knows (120) gets UNIMPLEMENTED.
    @Test func connectionMessagesWaitForAuthenticationAndUnknownOnesGetUnimplemented() throws {
        var pair = try Self.unauthenticatedPair()
        try pair.client.send(testMessage(1))
        var channelOpen = ByteBuffer()
        channelOpen.writeInteger(SSHMessageNumber.channelOpen)
        channelOpen.writeSSHString("session")
        try pair.client.send(channelOpen)
        pair.run()
        #expect(pair.serverLog.messages.isEmpty, "nothing of the connection layer reaches the server before authentication")
        #expect(pair.serverLog.error == nil && pair.clientLog.error == nil)
        try Self.authenticate(&pair)
        for number: UInt8 in [83, 89, 101, 120, 127] { try pair.client.send(ByteBuffer(bytes: [number, 0, 0, 0, 0])) }
        try pair.client.send(testMessage(2))
        pair.run()
        #expect(pair.serverLog.messages.compactMap(messageIndex) == [2], "only the known message is delivered: \(pair.serverLog.messages)")
        #expect(pair.serverLog.error == nil && pair.clientLog.error == nil, "unknown numbers do not end the connection")
    }

    /// A user authentication request after success is ignored (RFC 4252 §5.1), not answered and not delivered.
    @Test func authenticationRequestsAfterSuccessAreIgnored() throws {
        var pair = try Self.unauthenticatedPair()
        try Self.authenticate(&pair)
        var request = ByteBuffer()
        UserAuthenticationRequest(user: "root", method: .none).encode(into: &request)
        try pair.client.send(request)
        try pair.client.send(testMessage(3))
        pair.run()
        #expect(pair.serverLog.messages.compactMap(messageIndex) == [3])
        #expect(pair.serverLog.messages.count == 1)
    }

    /// ping@openssh.com before authentication gets no pong (an unauthenticated peer gets no free answers).
    @Test func pingsAreAnsweredOnlyAfterAuthentication() throws {
        var pair = try Self.unauthenticatedPair()
        #expect(try pair.client.sendPing([1, 2, 3]))
        pair.run()
        #expect(!pair.clientLog.events.contains("pong:3"))
        try Self.authenticate(&pair)
        #expect(try pair.client.sendPing([1, 2, 3, 4]))
        pair.run()
        #expect(pair.clientLog.events.contains("pong:4"))
    }

    /// A client's re-exchange before authentication is refused with UNIMPLEMENTED (the client says so and stops);
    /// the server starts none itself until then; after authentication either side may rekey.
    @Test func noKeyReExchangeBeforeAuthentication() throws {
        var pair = try Self.unauthenticatedPair()
        try pair.server.startKeyExchange()
        #expect(!pair.server.isKeyExchangeInProgress, "the server does not rekey before authentication")
        try pair.client.startKeyExchange()
        pair.run()
        let error = try #require(pair.clientLog.error)
        #expect(error.description.contains("refused to start a key exchange"), "\(error)")
        #expect(pair.server.completedKeyExchanges == 1)

        var authenticated = try Self.unauthenticatedPair()
        try Self.authenticate(&authenticated)
        try authenticated.server.startKeyExchange()
        authenticated.run()
        #expect(authenticated.server.completedKeyExchanges == 2 && authenticated.clientLog.error == nil)
    }
}

/// A server whose host key is held by another process (shhd's privilege broker): the transport asks for each
/// exchange hash's signature and waits, and checks what it gets.
@Suite(.timeLimit(.minutes(10))) struct ExternalHostKeyTests {
    static func pair(chunkSize: Int? = nil) throws -> (TransportPair, SSHPrivateKey) {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        var pair = TransportPair(
            client: SSHTransportConfiguration(role: .client),
            server: SSHTransportConfiguration(role: .server(hostKeys: [SSHServerHostKey(publicKey: key.publicKey)])),
            chunkSize: chunkSize)
        pair.externalHostKeys = [key.publicKey: key]
        return (pair, key)
    }

    @Test(arguments: [nil, 1])
    func aSignerElsewhereCompletesTheExchangeAndRekeys(chunkSize: Int?) throws {
        var (pair, key) = try Self.pair(chunkSize: chunkSize)
        try pair.start()
        pair.run()
        #expect(pair.isEstablished, "\(String(describing: pair.clientLog.error)) \(String(describing: pair.serverLog.error))")
        #expect(pair.clientLog.hostKeys == [.key(key.publicKey)])
        try pair.server.startKeyExchange()
        pair.run()
        #expect(pair.serverLog.events.filter { $0 == "sign" }.count == 2, "one signature per exchange: \(pair.serverLog.events)")
        #expect(pair.client.completedKeyExchanges == 2 && pair.clientLog.error == nil)
    }

    @Test func aSignatureThatDoesNotVerifyEndsTheConnection() throws {
        var (pair, _) = try Self.pair()
        let impostor = try SSHPrivateKey.generate(type: .ed25519)
        pair.externalHostKeys = [pair.externalHostKeys.keys.first!: impostor]
        try pair.start()
        pair.run()
        #expect(!pair.isEstablished)
        #expect(pair.serverLog.error == nil, "the failure is reported by provideHostKeySignature, not by an event")
        #expect(pair.server.isClosed)
        #expect(pair.clientLog.peerDisconnect != nil || pair.clientLog.error != nil)
    }

    @Test func noSignerEndsTheConnection() throws {
        var (pair, _) = try Self.pair()
        pair.externalHostKeys = [:]
        try pair.start()
        pair.run()
        #expect(!pair.isEstablished && pair.server.isClosed)
        #expect(pair.clientLog.peerDisconnect.map { "\($0)".contains("signing with the host key failed") } == true,
                "\(String(describing: pair.clientLog.peerDisconnect))")
    }

    @Test func nothingElseIsProcessedWhileTheSignatureIsAwaited() throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        var client = SSHTransport(configuration: SSHTransportConfiguration(role: .client))
        var server = SSHTransport(configuration: SSHTransportConfiguration(role: .server(hostKeys: [SSHServerHostKey(publicKey: key.publicKey)])))
        try client.start()
        try server.start()
        var asked: [UInt8]?
        for _ in 0..<10 {
            if let bytes = client.takeOutbound() { server.receive(bytes) }
            while let event = try server.nextEvent() {
                if case .hostKeySignatureNeeded(let hash, _, _) = event { asked = hash }
            }
            if let bytes = server.takeOutbound() { client.receive(bytes) }
            while let event = try client.nextEvent() {
                if case .hostKeyToValidate = event { try client.acceptHostKey() }
            }
        }
        let hash = try #require(asked)
        #expect(server.isKeyExchangeInProgress && server.completedKeyExchanges == 0)
        #expect(throws: SSHProtocolError.self) { try server.provideHostKeySignature(try key.signature(for: hash + [0], algorithm: .ed25519)) }
        #expect(server.isClosed)
    }
}
