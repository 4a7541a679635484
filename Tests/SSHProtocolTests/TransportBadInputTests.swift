// Hostile or broken input to the transport (issue 4's "Bad input"): each case must end in SSH_MSG_DISCONNECT with the
// right RFC 4253 §11.1 reason code and an error that says what happened, and must never hand tampered data to the
// layer above. Before keys the DISCONNECT is plaintext, so its bytes are decoded here; after keys the peer decodes it.
import NIOCore
import SSHKeys
@testable import SSHProtocol
import Testing

@Suite(.timeLimit(.minutes(10))) struct TransportBadInputTests {
    // MARK: Helpers

    static func server() -> SSHTransport {
        SSHTransport(configuration: SSHTransportConfiguration(role: .server(hostKeys: TestHostKeys.all)))
    }

    static func client() -> SSHTransport {
        SSHTransport(configuration: SSHTransportConfiguration(role: .client))
    }

    /// Starts `transport` (its identification and KEXINIT go nowhere), feeds `input` in chunks of `chunk` bytes and
    /// returns the error it fails with and the bytes it queued afterwards (the DISCONNECT).
    static func fail(_ transport: inout SSHTransport, with input: [UInt8], chunk: Int? = nil) throws -> (SSHProtocolError, [UInt8]) {
        try transport.start()
        _ = transport.takeOutbound()
        var thrown: SSHProtocolError?
        let step = chunk ?? max(input.count, 1)
        var offset = 0
        feeding: while offset < input.count {
            transport.receive(ByteBuffer(bytes: input[offset..<min(offset + step, input.count)]))
            offset += step
            do {
                while try transport.nextEvent() != nil {}
            } catch let error as SSHProtocolError {
                thrown = error
                break feeding
            }
        }
        let error = try #require(thrown, "no error after \(input.count) bytes")
        #expect(transport.isClosed)
        return (error, transport.takeOutbound()?.allBytes ?? [])
    }

    /// The plaintext DISCONNECT in `bytes` carries `reason` and the error's own text.
    static func expectDisconnect(_ bytes: [UInt8], _ reason: SSHDisconnectReason, _ error: SSHProtocolError,
                                 sourceLocation: SourceLocation = #_sourceLocation) {
        let message = plaintextDisconnect(in: bytes)
        #expect(message?.reason == reason.rawValue, "DISCONNECT reason", sourceLocation: sourceLocation)
        #expect(message?.description == error.description, sourceLocation: sourceLocation)
        #expect(error.disconnectReason == reason, sourceLocation: sourceLocation)
    }

    // MARK: Version exchange (RFC 4253 §4.2)

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func randomBytesInsteadOfAVersionLineToTheServer(seed: UInt64) throws {
        var random = SeededBytes(state: seed)
        var server = Self.server()
        let (error, sent) = try Self.fail(&server, with: random.bytes(4096))
        guard case .badIdentification(let detail) = error.kind else { Issue.record("\(error)"); return }
        #expect(detail.hasPrefix("expected \"SSH-2.0-...\", got \"") || detail == "a line longer than 255 bytes", "\(detail)")
        #expect(error.description.hasPrefix("the peer is not an SSH 2.0 server or client"))
        Self.expectDisconnect(sent, .protocolVersionNotSupported, error)
    }

    /// A client skips lines before the server's identification (RFC 4253 §4.2), but not without limit: random bytes
    /// soon give a line that is too long or holds a NUL.
    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func randomBytesInsteadOfAVersionLineToTheClient(seed: UInt64) throws {
        var random = SeededBytes(state: seed)
        var client = Self.client()
        let (error, sent) = try Self.fail(&client, with: random.bytes(64 * 1024))
        guard case .badIdentification(let detail) = error.kind else { Issue.record("\(error)"); return }
        // Seeds 1 and 6 hit a NUL in a short line first.
        #expect(detail == "a line longer than 255 bytes" || detail.contains("contains a NUL byte"), "\(detail)")
        Self.expectDisconnect(sent, .protocolVersionNotSupported, error)
    }

    /// A NUL in a line before the server's identification is refused (OpenSSH does too), and the error says so
    /// rather than blaming the line limit.
    @Test func preambleLineWithNULIsNamed() throws {
        var client = Self.client()
        let (error, sent) = try Self.fail(&client, with: Array("220 mail.example.com\r\nbanner\u{0}\r\n".utf8))
        Self.expectDisconnect(sent, .protocolVersionNotSupported, error)
        #expect(error.description.contains("NUL"), "\(error)")
    }

    @Test func tooManyPreambleLines() throws {
        var client = Self.client()
        let lines = [UInt8](String(repeating: "Welcome\r\n", count: 1025).utf8)
        let (error, sent) = try Self.fail(&client, with: lines)
        #expect(error.description.contains("no identification string after 1025 lines"), "\(error)")
        Self.expectDisconnect(sent, .protocolVersionNotSupported, error)
    }

    @Test(arguments: [false, true], [nil, 1])
    func overlongIdentificationLine(toClient: Bool, chunk: Int?) throws {
        var transport = toClient ? Self.client() : Self.server()
        let line = Array(("SSH-2.0-" + String(repeating: "x", count: 300) + "\r\n").utf8)
        let (error, sent) = try Self.fail(&transport, with: line, chunk: chunk)
        guard case .badIdentification(let detail) = error.kind else { Issue.record("\(error)"); return }
        #expect(detail.contains("255 bytes"), "\(detail)")
        Self.expectDisconnect(sent, .protocolVersionNotSupported, error)
    }

    /// 255 bytes with CR LF is the longest allowed identification line (RFC 4253 §4.2).
    @Test func identificationLineOfExactly255BytesIsAccepted() throws {
        var server = Self.server()
        try server.start()
        let line = "SSH-2.0-" + String(repeating: "y", count: 255 - 2 - 8)
        server.receive(ByteBuffer(bytes: Array((line + "\r\n").utf8)))
        #expect(try server.nextEvent() == nil)
        #expect(server.peerIdentification == line)
    }

    @Test(arguments: [false, true])
    func sshVersion1IsRefused(toClient: Bool) throws {
        var transport = toClient ? Self.client() : Self.server()
        let (error, sent) = try Self.fail(&transport, with: Array("SSH-1.5-OpenSSH_2.0\r\n".utf8))
        #expect(error.description.contains("protocol version 1.5 is not supported"), "\(error)")
        Self.expectDisconnect(sent, .protocolVersionNotSupported, error)
    }

    // MARK: Packet lengths (RFC 4253 §6.1)

    /// Before NEWKEYS a whole packet may be at most 35 000 bytes; packet_length 35 000 makes 35 004.
    @Test func packetLengthOf35000BeforeKeys() throws {
        var server = Self.server()
        let input = Array("SSH-2.0-test\r\n".utf8) + bigEndianBytes(35_000) + [4] + [UInt8](repeating: 0, count: 64)
        let (error, sent) = try Self.fail(&server, with: input)
        #expect(error.kind == .badPacketLength(35_000))
        #expect(error.description.contains("bad packet length 35000"))
        Self.expectDisconnect(sent, .protocolError, error)
    }

    @Test func packetLengthLimitsAtTheOpener() throws {
        func check(_ opener: PacketOpener, _ length: UInt32) -> Bool? {
            var opener = opener
            var input = ByteBuffer(bytes: bigEndianBytes(length))
            do { return try opener.openPacket(from: &input) == nil ? true : nil } catch { return false }
        }
        let plaintext = PacketOpener()
        #expect(check(plaintext, 34_996) == true, "4 + 34 996 = 35 000 bytes: waits for the rest")
        #expect(check(plaintext, 35_000) == false)
        var keyed = PacketOpener()
        keyed.changeKeys(to: try AESGCMProtection(key: [UInt8](repeating: 1, count: 16), iv: [UInt8](repeating: 2, count: 12)),
                         resetSequenceNumber: false)
        #expect(check(keyed, 35_008) == true, "after keys the 35 000-byte limit no longer applies")
        #expect(check(keyed, 256 * 1024) == true)
        #expect(check(keyed, 256 * 1024 + 16) == false)
        #expect(check(keyed, UInt32.max - 15) == false)
    }

    /// The cipher configurations whose packets are attacked below (one per kind of packet protection).
    static let protections: [(SSHCipherAlgorithm, SSHMACAlgorithm?)] = [
        (.chacha20Poly1305, nil), (.aes256GCM, nil), (.aes128CTR, .hmacSHA256), (.aes128CTR, .hmacSHA256ETM),
    ]

    static func establishedPair(_ cipher: SSHCipherAlgorithm, _ mac: SSHMACAlgorithm?) throws -> TransportPair {
        var pair = TransportPair(algorithms: SSHAlgorithms(ciphers: [cipher], macs: mac.map { [$0] } ?? SSHMACAlgorithm.defaults))
        try pair.start()
        pair.run()
        try #require(pair.isEstablished)
        #expect(pair.server.negotiatedAlgorithms?.cipherClientToServer == cipher)
        #expect(pair.server.negotiatedAlgorithms?.macClientToServer == mac)
        try pair.client.send(testMessage(0))
        pair.run()
        #expect(pair.serverLog.messages.compactMap(messageIndex) == [0])
        return pair
    }

    static func tagLength(_ cipher: SSHCipherAlgorithm, _ mac: SSHMACAlgorithm?) -> Int {
        mac.map { $0 == .hmacSHA256 || $0 == .hmacSHA256ETM ? 32 : 64 } ?? 16
    }

    /// packet_length 2^32 − 16 once keys are in use. The length is clear (GCM, -etm) or encrypted with a stream
    /// cipher (chacha20, CTR), so a man in the middle who knows the real length sets any value by XOR.
    @Test(arguments: protections)
    func packetLengthOf2To32Minus16AfterKeys(_ cipher: SSHCipherAlgorithm, _ mac: SSHMACAlgorithm?) throws {
        var pair = try Self.establishedPair(cipher, mac)
        let target: UInt32 = UInt32.max - 15
        pair.tamper = { fromClient, bytes in
            guard fromClient else { return bytes }
            let length = UInt32(bytes.count - 4 - Self.tagLength(cipher, mac))  // one packet in this flight
            let mask = bigEndianBytes(length ^ target)
            return zip(bytes.prefix(4), mask).map { $0 ^ $1 } + bytes.dropFirst(4)
        }
        try pair.client.send(testMessage(1))
        pair.run()
        let error = try #require(pair.serverLog.error)
        #expect(error.kind == .badPacketLength(target), "\(error)")
        #expect(error.description.contains("bad packet length 4294967280"))
        #expect(pair.clientLog.peerDisconnect?.disconnectReason == .protocolError)
        #expect(pair.serverLog.messages.compactMap(messageIndex) == [0])
    }

    // MARK: Integrity

    /// One flipped bit in an encrypted packet: the packet fails its MAC/tag, its payload never reaches the layer
    /// above, and the peer gets DISCONNECT with reason MAC error.
    @Test(arguments: protections)
    func flippedBitFailsTheMAC(_ cipher: SSHCipherAlgorithm, _ mac: SSHMACAlgorithm?) throws {
        var pair = try Self.establishedPair(cipher, mac)
        pair.tamper = { fromClient, bytes in
            guard fromClient else { return bytes }
            var bytes = bytes
            bytes[40] ^= 0x10  // inside the encrypted payload, past the (possibly encrypted) length block
            return bytes
        }
        try pair.client.send(testMessage(1, size: 200))
        try pair.client.send(testMessage(2))
        pair.run()
        let error = try #require(pair.serverLog.error)
        #expect(error.kind == .badMessageAuthenticationCode)
        #expect(error.description.contains("corrupted MAC"))
        #expect(pair.server.isClosed)
        #expect(pair.serverLog.messages.compactMap(messageIndex) == [0], "neither the tampered packet nor anything after it is delivered")
        #expect(pair.serverLog.messages.allSatisfy { $0.count == 64 })
        #expect(pair.clientLog.peerDisconnect?.disconnectReason == .macError)
        #expect(pair.client.isClosed)
    }

    // MARK: Key exchange

    @Test func kexinitWithNothingInCommon() throws {
        var client = SSHTransport(configuration: SSHTransportConfiguration(role: .client, algorithms: SSHAlgorithms(ciphers: [.aes128CTR])))
        var server = SSHTransport(configuration: SSHTransportConfiguration(
            role: .server(hostKeys: TestHostKeys.all), algorithms: SSHAlgorithms(ciphers: [.aes256GCM])))
        try client.start()
        try server.start()
        let clientFlight = client.takeOutbound()
        let serverFlight = server.takeOutbound()
        let toServer = try #require(clientFlight)
        let toClient = try #require(serverFlight)
        client.receive(toClient)
        server.receive(toServer)
        for (transport, ours, theirs) in [(client, "aes128-ctr", "aes256-gcm@openssh.com"), (server, "aes256-gcm@openssh.com", "aes128-ctr")] {
            var transport = transport
            var thrown: SSHProtocolError?
            do { _ = try transport.nextEvent() } catch let error as SSHProtocolError { thrown = error }
            let error = try #require(thrown)
            #expect(error.kind == .noCommonAlgorithm(category: "cipher client->server", ours: [ours], theirs: [theirs]))
            #expect(error.description == "no matching cipher client->server found: we offer \(ours), the peer offers \(theirs)")
            Self.expectDisconnect(transport.takeOutbound()?.allBytes ?? [], .keyExchangeFailed, error)
        }
    }

    /// The server's signature over H does not verify (one bit of it flipped in KEX_ECDH_REPLY): the client refuses
    /// before it asks anyone about the host key, and tells the server why.
    @Test(arguments: ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512"])
    func hostKeySignatureThatDoesNotVerify(_ algorithmName: String) throws {
        let algorithm = try #require(SSHHostKeyAlgorithm(name: algorithmName))
        var pair = TransportPair(algorithms: SSHAlgorithms(hostKey: [algorithm]))
        pair.tamperFirstFlight(fromClient: false, containing: SSHMessageNumber.keyExchangeECDHReply) { bytes, packets in
            let reply = packets.first { $0.messageNumber == SSHMessageNumber.keyExchangeECDHReply }!
            let padding = Int(bytes[reply.range.lowerBound + 4])
            var rewritten = bytes
            rewritten[reply.range.upperBound - padding - 1] ^= 0x01  // the last byte of the payload: in the signature
            return rewritten
        }
        try pair.start()
        pair.run()
        let error = try #require(pair.clientLog.error)
        #expect(error.kind == .hostKeySignatureInvalid(algorithm: algorithmName))
        #expect(error.disconnectReason == .keyExchangeFailed)
        #expect(error.description.contains("signature"), "\(error)")
        #expect(pair.clientLog.hostKeys.isEmpty, "the host key is not offered for validation")
        #expect(pair.serverLog.peerDisconnect?.disconnectReason == .keyExchangeFailed)
        #expect(pair.serverLog.peerDisconnect?.description.contains("signature") == true)
    }

    /// A public value that must be refused (RFC 8731 §3: an all-zero X25519 result; RFC 5656 §4: a point not on the
    /// curve; FIPS 203 §7.2: an ML-KEM encapsulation key with a coefficient ≥ q), in KEX_ECDH_INIT (the server
    /// refuses) or KEX_ECDH_REPLY (the client refuses). The bytes are rewritten in place in the plaintext packet.
    @Test(arguments: [
        (SSHKeyExchangeAlgorithm.curve25519SHA256, true), (.curve25519SHA256, false), (.ecdhP256, true), (.ecdhP384, false),
        (.mlkem768x25519SHA256, true), (.mlkem768x25519SHA256, false),
    ])
    func invalidEphemeralPublicValue(_ algorithm: SSHKeyExchangeAlgorithm, fromClient: Bool) throws {
        var pair = TransportPair(algorithms: SSHAlgorithms(keyExchange: [algorithm]))
        let number = fromClient ? SSHMessageNumber.keyExchangeECDHInit : SSHMessageNumber.keyExchangeECDHReply
        pair.tamperFirstFlight(fromClient: fromClient, containing: number) { bytes, packets in
            let packet = packets.first { $0.messageNumber == number }!
            var offset = packet.range.lowerBound + 5 + 1
            if !fromClient {  // skip K_S
                let length = Int(bytes[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                offset += 4 + length
            }
            let valueStart = offset + 4
            var rewritten = bytes
            switch algorithm {
            case .curve25519SHA256, .curve25519SHA256LibSSH:
                for index in valueStart..<valueStart + 32 { rewritten[index] = 0 }  // the identity: low order
            case .ecdhP256, .ecdhP384, .ecdhP521:
                rewritten[valueStart + 1] ^= 0x01  // x changes, y stays: off the curve
            case .mlkem768x25519SHA256:
                if fromClient {
                    rewritten[valueStart] = 0xFF  // first coefficient 0x?FF | ... ≥ 3329
                    rewritten[valueStart + 1] |= 0x0F
                } else {
                    for index in (valueStart + 1088)..<(valueStart + 1088 + 32) { rewritten[index] = 0 }  // X25519 half
                }
            }
            return rewritten
        }
        try pair.start()
        pair.run()
        let (failedLog, otherLog) = fromClient ? (pair.serverLog, pair.clientLog) : (pair.clientLog, pair.serverLog)
        let error = try #require(failedLog.error)
        guard case .keyExchangeFailed(let detail) = error.kind else { Issue.record("\(error)"); return }
        #expect(detail.contains(fromClient ? "client" : "server") || detail.contains("low order"), "\(detail)")
        #expect(error.disconnectReason == .keyExchangeFailed)
        #expect(otherLog.peerDisconnect?.disconnectReason == .keyExchangeFailed)
        #expect(pair.clientLog.completedExchanges == 0 && pair.serverLog.completedExchanges == 0)
    }

    // MARK: Message numbers

    /// RFC 4253 §11.4: an unknown message gets SSH_MSG_UNIMPLEMENTED carrying the packet's sequence number, and
    /// the connection goes on. Checked with and without strict KEX (sequence numbers reset at NEWKEYS or not).
    @Test(arguments: [true, false], [UInt8(8), 29, 150, 200])
    func unknownMessageGetsUnimplementedWithItsSequenceNumber(strict: Bool, number: UInt8) throws {
        var connection = try ScriptedConnection(serverStrict: strict)
        try connection.handshake()
        try #require(connection.clientLog.completedExchanges == 1, "\(String(describing: connection.clientLog.error))")
        // Authenticated, so connection-layer messages are delivered (before it they get UNIMPLEMENTED too).
        _ = try connection.serverSends([SSHMessageNumber.userAuthenticationSuccess])
        for _ in 0..<3 { try connection.serverSends(ignorePayload) }
        let sent = try connection.serverSends([number, 1, 2, 3])
        #expect(sent == (strict ? 4 : 7), "KEXINIT, REPLY, NEWKEYS, then SUCCESS and three IGNOREs")
        try connection.clientToServer()
        #expect(connection.serverReceived.last == ScriptedServer.Received(
            sequenceNumber: strict ? 0 : 3, payload: [SSHMessageNumber.unimplemented] + bigEndianBytes(sent)))
        #expect(connection.clientLog.error == nil)
        #expect(connection.clientLog.messages == [[SSHMessageNumber.userAuthenticationSuccess]])
        // The connection goes on.
        try connection.serverSends(Array(testMessage(7).allBytes))
        #expect(connection.clientLog.messages.last.flatMap(messageIndex) == 7)
        #expect(connection.clientLog.error == nil)
    }

    /// A key exchange method message (30–49) outside any key exchange (e.g. SSH_MSG_KEX_DH_GEX_REQUEST, 34) gets
    /// SSH_MSG_UNIMPLEMENTED (RFC 4253 §11.4), as OpenSSH's kex_protocol_error answers, and the connection goes on.
    @Test func keyExchangeMessageOutsideAKeyExchange() throws {
        var connection = try ScriptedConnection()
        try connection.handshake()
        try #require(connection.clientLog.completedExchanges == 1)
        let sent = try connection.serverSends([34, 0, 0, 8, 0])
        try connection.clientToServer()
        #expect(connection.clientLog.error == nil, "\(String(describing: connection.clientLog.error))")
        #expect(connection.serverReceived.last?.payload == [SSHMessageNumber.unimplemented] + bigEndianBytes(sent))
    }

    /// A higher-layer message (50 and up) in the middle of the initial key exchange, in either direction, with and
    /// without strict KEX: a protocol error.
    @Test(arguments: [false, true], [false, true])
    func upperLayerMessageDuringTheInitialKeyExchange(intoClientStream: Bool, strict: Bool) throws {
        let algorithms = SSHAlgorithms()
        var pair = TransportPair(
            client: SSHTransportConfiguration(role: .client, algorithms: algorithms, offersStrictKeyExchange: strict),
            server: SSHTransportConfiguration(role: .server(hostKeys: TestHostKeys.all), algorithms: algorithms))
        let message: [UInt8] = intoClientStream
            ? [SSHMessageNumber.userAuthenticationRequest] + [0, 0, 0, 4] + Array("root".utf8)
            : Array(testMessage(99, size: 16).allBytes)
        pair.inject(plaintextPacket(message), fromClient: intoClientStream, before: SSHMessageNumber.newKeys)
        try pair.start()
        pair.run()
        let (failedLog, otherLog) = intoClientStream ? (pair.serverLog, pair.clientLog) : (pair.clientLog, pair.serverLog)
        let error = try #require(failedLog.error)
        #expect(error.disconnectReason == .protocolError)
        #expect(error.description.contains("message \(message[0])"), "\(error)")
        #expect(error.description.contains(strict ? "strict key exchange" : "during key exchange"), "\(error)")
        #expect(failedLog.messages.isEmpty)
        #expect(otherLog.peerDisconnect?.disconnectReason == .protocolError)
    }

    /// Without strict KEX, a higher-layer message before the peer's KEXINIT is refused too.
    @Test func upperLayerMessageBeforeKexinitWithoutStrictKEX() throws {
        let (client, server) = StrictKeyExchangeTests.configurations(serverStrict: false)
        var pair = TransportPair(client: client, server: server)
        pair.inject(plaintextPacket(Array(testMessage(5, size: 16).allBytes)), fromClient: false, before: SSHMessageNumber.keyExchangeInit)
        try pair.start()
        pair.run()
        let error = try #require(pair.clientLog.error)
        #expect(error.disconnectReason == .protocolError)
        #expect(error.description.contains("before the initial key exchange completed"), "\(error)")
        #expect(pair.clientLog.messages.isEmpty)
    }

    // MARK: Isolation

    /// One connection's garbage does not touch another's: each connection is its own value.
    @Test func serverKeepsServingOtherConnections() throws {
        let configuration = SSHTransportConfiguration(role: .server(hostKeys: TestHostKeys.all))
        var broken = SSHTransport(configuration: configuration)
        var random = SeededBytes(state: 99)
        _ = try Self.fail(&broken, with: random.bytes(1000))
        var pair = TransportPair(client: SSHTransportConfiguration(role: .client), server: configuration)
        try TransportEndToEndTests.exchange(&pair, count: 3)
        #expect(pair.isEstablished)
    }
}
