// Terrapin (CVE-2023-48795) and OpenSSH's strict key exchange (PROTOCOL §1.10, kex-strict-*-v00@openssh.com): a man
// in the middle can add plaintext packets before NEWKEYS, which shifts the receiver's sequence numbers; deleting as
// many encrypted packets afterwards goes unnoticed unless sequence numbers reset at NEWKEYS and nothing unexpected
// is allowed during the initial exchange. These tests play the man in the middle with TransportPair's tamper hook.
import NIOCore
@testable import SSHProtocol
import Testing

@Suite(.timeLimit(.minutes(10))) struct StrictKeyExchangeTests {
    static func configurations(clientStrict: Bool = true, serverStrict: Bool = true, cipher: SSHCipherAlgorithm = .chacha20Poly1305)
        -> (SSHTransportConfiguration, SSHTransportConfiguration) {
        let algorithms = SSHAlgorithms(ciphers: [cipher])
        return (SSHTransportConfiguration(role: .client, algorithms: algorithms, offersStrictKeyExchange: clientStrict),
                SSHTransportConfiguration(role: .server(hostKeys: TestHostKeys.all), algorithms: algorithms, offersStrictKeyExchange: serverStrict))
    }

    static func pair(clientStrict: Bool = true, serverStrict: Bool = true, cipher: SSHCipherAlgorithm = .chacha20Poly1305) -> TransportPair {
        let (client, server) = configurations(clientStrict: clientStrict, serverStrict: serverStrict, cipher: cipher)
        return TransportPair(client: client, server: server)
    }

    // MARK: Strict KEX on (the default)

    @Test(arguments: [SSHCipherAlgorithm.chacha20Poly1305, .aes256GCM, .aes128CTR])
    func ignoreInFrontOfTheServersNewKeysIsFatal(_ cipher: SSHCipherAlgorithm) throws {
        var pair = Self.pair(cipher: cipher)
        pair.inject(plaintextPacket(ignorePayload), fromClient: false, before: SSHMessageNumber.newKeys)
        try pair.start()
        pair.run()
        #expect(pair.client.isStrictKeyExchange)
        let error = try #require(pair.clientLog.error)
        #expect(error.disconnectReason == .protocolError)
        #expect(error.description.contains("strict key exchange"), "\(error)")
        #expect(error.description.contains("unexpected message 2"), "\(error)")
        #expect(pair.client.isClosed)
        #expect(pair.clientLog.completedExchanges == 0)
        #expect(pair.clientLog.extensionInfo == nil)
        // The client's DISCONNECT (under its new keys, after its own NEWKEYS) reaches the server.
        #expect(pair.serverLog.peerDisconnect?.disconnectReason == .protocolError)
        #expect(pair.serverLog.peerDisconnect?.description.contains("strict key exchange") == true)
    }

    @Test func ignoreInFrontOfTheClientsNewKeysIsFatal() throws {
        var pair = Self.pair()
        pair.inject(plaintextPacket(ignorePayload), fromClient: true, before: SSHMessageNumber.newKeys)
        try pair.start()
        pair.run()
        let error = try #require(pair.serverLog.error)
        #expect(error.disconnectReason == .protocolError)
        #expect(error.description.contains("strict key exchange"), "\(error)")
        #expect(pair.server.isClosed)
        #expect(pair.serverLog.completedExchanges == 0)
        #expect(pair.clientLog.peerDisconnect?.disconnectReason == .protocolError)
    }

    /// Strict KEX: KEXINIT must be the first packet; anything before it, even an IGNORE, ends the connection.
    @Test(arguments: [false, true])
    func packetBeforeKexinitIsFatal(intoClientStream: Bool) throws {
        var pair = Self.pair()
        pair.inject(plaintextPacket(ignorePayload), fromClient: intoClientStream, before: SSHMessageNumber.keyExchangeInit)
        try pair.start()
        pair.run()
        let (failed, failedLog, otherLog) = intoClientStream
            ? (pair.server, pair.serverLog, pair.clientLog) : (pair.client, pair.clientLog, pair.serverLog)
        let error = try #require(failedLog.error)
        #expect(error.disconnectReason == .protocolError)
        #expect(error.description.contains("before KEXINIT"), "\(error)")
        #expect(failed.isClosed)
        #expect(otherLog.completedExchanges == 0)
        // Before keys, the DISCONNECT is plaintext: the peer reads it even in the middle of its key exchange.
        #expect(otherLog.peerDisconnect?.disconnectReason == .protocolError)
    }

    // MARK: Strict KEX off (one side does not offer it)

    /// Without strict KEX the key exchange accepts a packet before KEXINIT, and nothing notices until the receiver's
    /// sequence numbers, now one ahead, meet the first encrypted packet in that direction: with chacha20-poly1305
    /// (nonce = sequence number) it decrypts to a garbage length or fails its MAC. The message is never delivered.
    @Test(arguments: [false, true])
    func withoutStrictKEXAPacketBeforeKexinitDesynchronisesSequenceNumbers(intoClientStream: Bool) throws {
        var pair = Self.pair(serverStrict: false)
        pair.inject(plaintextPacket(ignorePayload), fromClient: intoClientStream, before: SSHMessageNumber.keyExchangeInit)
        try pair.start()
        pair.run()
        #expect(!pair.client.isStrictKeyExchange && !pair.server.isStrictKeyExchange)
        #expect(pair.clientLog.completedExchanges == 1 && pair.serverLog.completedExchanges == 1, "the key exchange itself accepted it")
        if intoClientStream {
            // The client has sent nothing encrypted yet; its first message shows the damage.
            #expect(pair.serverLog.error == nil)
            try pair.client.send(testMessage(0))
            pair.run()
        }
        let receiverLog = intoClientStream ? pair.serverLog : pair.clientLog
        Self.expectDesynchronised(receiverLog)
        #expect(receiverLog.messages.isEmpty && receiverLog.extensionInfo == nil)
    }

    /// What a receiver one sequence number ahead sees in chacha20-poly1305's first encrypted packet: the length
    /// decrypts to garbage (almost always refused), or, if the garbage happens to be a valid length, a bad MAC once
    /// that many bytes arrive, or (chance about 2^-17) a wait for bytes that never come. Never a message.
    static func expectDesynchronised(_ log: SideLog, sourceLocation: SourceLocation = #_sourceLocation) {
        switch log.error?.kind {
        case .badPacketLength?, .badMessageAuthenticationCode?, nil:
            break
        default:
            Issue.record("unexpected \(String(describing: log.error))", sourceLocation: sourceLocation)
        }
        #expect(log.messages.isEmpty, sourceLocation: sourceLocation)
    }

    /// The Terrapin prefix truncation (Bäumer, Brinkmann, Schwenk 2023), with chacha20-poly1305: an IGNORE slipped
    /// in before the server's NEWKEYS raises the client's receive sequence number by one, and deleting the server's
    /// first encrypted packet (EXT_INFO) brings it back in step. Without strict KEX nothing notices: the connection
    /// works and the client has silently lost EXT_INFO (server-sig-algs, ping). With strict KEX the IGNORE is fatal.
    @Test(arguments: [(true, false), (false, true), (true, true)])
    func prefixTruncation(clientStrict: Bool, serverStrict: Bool) throws {
        var pair = Self.pair(clientStrict: clientStrict, serverStrict: serverStrict)
        pair.tamperFirstFlight(fromClient: false, containing: SSHMessageNumber.newKeys) { bytes, packets in
            // The server's flight is KEX_ECDH_REPLY ‖ NEWKEYS ‖ EXT_INFO (its only encrypted packet here, see
            // SSHTransport.sendNewKeys): insert before NEWKEYS, cut everything after it.
            let newKeys = packets.first { $0.messageNumber == SSHMessageNumber.newKeys }!
            #expect(newKeys.range.upperBound < bytes.count, "an encrypted packet follows NEWKEYS")
            return Array(bytes[..<newKeys.range.lowerBound]) + plaintextPacket(ignorePayload)
                + Array(bytes[newKeys.range.lowerBound..<newKeys.range.upperBound])
        }
        try pair.start()
        pair.run()
        if clientStrict && serverStrict {
            #expect(pair.clientLog.error?.disconnectReason == .protocolError)
            #expect(pair.clientLog.error?.description.contains("strict key exchange") == true)
            #expect(pair.serverLog.peerDisconnect?.disconnectReason == .protocolError)
            return
        }
        // Not caught: both sides think all is well.
        #expect(pair.isEstablished, "client: \(String(describing: pair.clientLog.error)), server: \(String(describing: pair.serverLog.error))")
        #expect(pair.serverLog.extensionInfo == nil && pair.clientLog.extensionInfo == nil,
                "the client never saw the server's EXT_INFO")
        #expect(pair.client.serverSignatureAlgorithms == nil)
        for index in 0..<5 {
            try pair.client.send(testMessage(index))
            try pair.server.send(testMessage(index))
        }
        pair.run()
        #expect(pair.clientLog.error == nil && pair.serverLog.error == nil)
        #expect(pair.clientLog.messages.compactMap(messageIndex) == Array(0..<5))
        #expect(pair.serverLog.messages.compactMap(messageIndex) == Array(0..<5))
        // The same connection without the attack does get EXT_INFO: the loss is the attack's doing.
        var clean = Self.pair(clientStrict: clientStrict, serverStrict: serverStrict)
        try clean.start()
        clean.run()
        #expect(clean.clientLog.extensionInfo != nil)
    }

    /// The same prefix truncation (strict KEX off) against the other packet protections. AES-GCM's nonce is its own
    /// per-packet counter, which the deleted packet also advanced: the next packet fails its tag. AES-CTR's keystream
    /// position likewise runs on across packets, so the next packet decrypts to garbage: with a plain MAC (over the
    /// plaintext) that is refused; with -etm the MAC (over sequence number and ciphertext) passes, as the sequence
    /// numbers were put back in step, and garbage reaches the packet parser. No cipher delivers the message intact.
    @Test(arguments: [(SSHCipherAlgorithm.aes256GCM, SSHMACAlgorithm?.none), (.aes128CTR, .hmacSHA256), (.aes128CTR, .hmacSHA256ETM)])
    func prefixTruncationAgainstOtherCiphers(_ cipher: SSHCipherAlgorithm, _ mac: SSHMACAlgorithm?) throws {
        let algorithms = SSHAlgorithms(ciphers: [cipher], macs: mac.map { [$0] } ?? SSHMACAlgorithm.defaults)
        var pair = TransportPair(
            client: SSHTransportConfiguration(role: .client, algorithms: algorithms),
            server: SSHTransportConfiguration(role: .server(hostKeys: TestHostKeys.all), algorithms: algorithms, offersStrictKeyExchange: false))
        pair.authenticateAfterKeyExchange = false  // the first packet after NEWKEYS is the test's
        pair.tamperFirstFlight(fromClient: false, containing: SSHMessageNumber.newKeys) { bytes, packets in
            let newKeys = packets.first { $0.messageNumber == SSHMessageNumber.newKeys }!
            return Array(bytes[..<newKeys.range.lowerBound]) + plaintextPacket(ignorePayload)
                + Array(bytes[newKeys.range.lowerBound..<newKeys.range.upperBound])
        }
        try pair.start()
        pair.run()
        #expect(pair.isEstablished, "the key exchange does not notice")
        #expect(pair.clientLog.extensionInfo == nil)
        try pair.server.send(testMessage(0))
        pair.run()
        #expect(!pair.clientLog.messages.contains(testMessage(0).allBytes), "the message does not arrive intact")
        switch (cipher.isAEAD, mac?.isEncryptThenMAC) {
        case (true, _):
            #expect(pair.clientLog.error?.kind == .badMessageAuthenticationCode)
        case (false, false?):
            Self.expectDesynchronised(pair.clientLog)  // garbage length or a MAC failure
        default:
            break  // -etm: whatever the garbage decodes to
        }
    }

    /// Only the IGNORE, nothing deleted, strict KEX off: the client's sequence numbers are one ahead of the server's.
    /// chacha20-poly1305 takes its nonce from the sequence number, so the first encrypted packet (EXT_INFO) does not
    /// decrypt: the desynchronisation shows, but only as a broken packet, not as the attack it is.
    @Test func withoutStrictKEXAnInjectedIgnoreShowsOnlyAsABrokenPacketWithChaCha20() throws {
        var pair = Self.pair(serverStrict: false)
        pair.inject(plaintextPacket(ignorePayload), fromClient: false, before: SSHMessageNumber.newKeys)
        try pair.start()
        pair.run()
        #expect(!pair.client.isStrictKeyExchange)
        #expect(pair.clientLog.completedExchanges == 1)
        Self.expectDesynchronised(pair.clientLog)
        #expect(pair.clientLog.extensionInfo == nil)
    }

    /// Only the IGNORE, strict KEX off, AES-GCM (whose nonce is its own counter, not the sequence number): the
    /// key exchange completes and traffic flows, but the client's receive sequence numbers are now one ahead of the
    /// server's send sequence numbers, which shows in the number the client puts in SSH_MSG_UNIMPLEMENTED.
    /// Strict KEX turns the same injection into a protocol error.
    @Test(arguments: [false, true])
    func injectedIgnoreShiftsSequenceNumbersWithAESGCM(serverStrict: Bool) throws {
        var connection = try ScriptedConnection(cipher: .aes128GCM, serverStrict: serverStrict)
        connection.tamperKeyExchangeReply = { bytes in
            let newKeys = plaintextPackets(in: bytes).first { $0.messageNumber == SSHMessageNumber.newKeys }!
            var rewritten = bytes
            rewritten.insert(contentsOf: plaintextPacket(ignorePayload), at: newKeys.range.lowerBound)
            return rewritten
        }
        try connection.handshake()
        if serverStrict {
            #expect(connection.clientLog.error?.disconnectReason == .protocolError)
            #expect(connection.clientLog.completedExchanges == 0)
            return
        }
        #expect(connection.clientLog.error == nil && connection.clientLog.completedExchanges == 1)
        let sent = try connection.serverSends([150])
        try connection.clientToServer()
        let reply = try #require(connection.serverReceived.last)
        #expect(reply.payload == [SSHMessageNumber.unimplemented] + bigEndianBytes(sent + 1),
                "the client counted the injected IGNORE: its sequence numbers are one ahead")
    }
}
