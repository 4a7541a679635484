// A broken or hostile peer at the connection layer: data beyond the window or the maximum packet, messages for
// channels that do not exist (or are not confirmed), data after EOF, window overflow, replies nobody asked for,
// request floods and 1000 channel opens. Each violation fails the connection with the right disconnect reason;
// each resource limit refuses without failing.
import NIOCore
import SSHProtocol
import SSHWire
import Testing

@Suite(.timeLimit(.minutes(10))) struct ConnectionBadInputTests {
    /// A server with one accepted session; raw payloads are then fed to it directly.
    static func serverWithSession(window: SSHChannelWindowPolicy = SSHChannelWindowPolicy()) throws -> (pair: ConnectionPair, channel: UInt32) {
        var pair = ConnectionPair(server: SSHConnectionConfiguration(role: .server, window: window))
        let (_, serverChannel) = try pair.openSession()
        return (pair, serverChannel.rawValue)
    }

    static func data(_ channel: UInt32, count: Int, extended: Bool = false) -> ByteBuffer {
        let data = ByteBuffer(bytes: [UInt8](repeating: 0x41, count: count))
        return extended
            ? SSHConnectionMessage.channelExtendedData(recipientChannel: channel, dataType: .stderr, data: data).payload
            : SSHConnectionMessage.channelData(recipientChannel: channel, data: data).payload
    }

    /// Feeds `payload` and returns the error it caused, checking the connection is failed afterwards.
    static func failure(_ connection: inout SSHConnection, _ payload: ByteBuffer) -> SSHProtocolError? {
        do {
            _ = try connection.receive(payload)
            return nil
        } catch let error as SSHProtocolError {
            #expect(connection.failure == error)
            #expect(connection.takeOutbound().isEmpty, "nothing more goes out once failed")
            #expect(throws: SSHProtocolError.self) { _ = try connection.receive(Self.data(0, count: 1)) }
            #expect(throws: SSHProtocolError.self) { _ = try connection.openChannel(.session) }
            return error
        } catch {
            Issue.record("not an SSHProtocolError: \(error)")
            return nil
        }
    }

    @Test(arguments: [false, true])
    func dataBeyondTheWindowIsAProtocolError(_ extended: Bool) throws {
        var (pair, channel) = try Self.serverWithSession(window: SSHChannelWindowPolicy(windowSize: 1000, maximumPacketSize: 1000))
        #expect(try pair.server.receive(Self.data(channel, count: 600, extended: extended)) != nil)
        let error = Self.failure(&pair.server, Self.data(channel, count: 401, extended: extended))
        #expect(error?.kind == .channelWindowExceeded(channel: channel, bytes: 401, window: 400))
        #expect(error?.disconnectReason == .protocolError)
    }

    @Test(arguments: [false, true])
    func dataBeyondTheMaximumPacketIsAProtocolError(_ extended: Bool) throws {
        var (pair, channel) = try Self.serverWithSession(window: SSHChannelWindowPolicy(windowSize: 1 << 20, maximumPacketSize: 1000))
        #expect(try pair.server.receive(Self.data(channel, count: 1000, extended: extended)) != nil)
        let error = Self.failure(&pair.server, Self.data(channel, count: 1001, extended: extended))
        #expect(error?.kind == .channelPacketTooLarge(channel: channel, bytes: 1001, maximum: 1000))
        #expect(error?.disconnectReason == .protocolError)
    }

    /// The whole path: the server's connection fails, its transport sends DISCONNECT with the error's reason, and
    /// the client's transport reports it.
    @Test func windowViolationDisconnectsThroughTheTransport() throws {
        var pair = ConnectionPair(server: SSHConnectionConfiguration(role: .server, window: SSHChannelWindowPolicy(windowSize: 500, maximumPacketSize: 500)))
        try pair.useTransport()
        let (_, serverChannel) = try pair.openSession()
        pair.deliver([Self.data(serverChannel.rawValue, count: 501)], toServer: true)
        let error = try #require(pair.serverLog.error)
        #expect(error.kind == .channelPacketTooLarge(channel: serverChannel.rawValue, bytes: 501, maximum: 500))
        var transport = try #require(pair.transport)
        transport.server.disconnect(reason: error.disconnectReason, description: error.description)
        transport.run()
        #expect(transport.clientLog.peerDisconnect?.kind == .disconnectedByPeer(reason: SSHDisconnectReason.protocolError.rawValue, message: error.description))
    }

    @Test func messagesForAChannelThatDoesNotExist() throws {
        let payloads: [ByteBuffer] = [
            Self.data(42, count: 1),
            Self.data(42, count: 1, extended: true),
            SSHConnectionMessage.channelWindowAdjust(recipientChannel: 42, bytesToAdd: 1).payload,
            SSHConnectionMessage.channelEOF(recipientChannel: 42).payload,
            SSHConnectionMessage.channelClose(recipientChannel: 42).payload,
            SSHConnectionMessage.channelRequest(SSHChannelRequestMessage(recipientChannel: 42, request: .shell, wantReply: true)).payload,
            SSHConnectionMessage.channelSuccess(recipientChannel: 42).payload,
            SSHConnectionMessage.channelFailure(recipientChannel: 42).payload,
            SSHConnectionMessage.channelOpenConfirmation(SSHChannelOpenConfirmationMessage(recipientChannel: 42, senderChannel: 0, initialWindowSize: 1, maximumPacketSize: 1)).payload,
            SSHConnectionMessage.channelOpenFailure(SSHChannelOpenFailureMessage(recipientChannel: 42, reason: .connectFailed, description: "")).payload,
        ]
        for payload in payloads {
            var (pair, _) = try Self.serverWithSession()
            let error = Self.failure(&pair.server, payload)
            #expect(error?.kind == .unknownChannel(42), "\(payload.readableBytesView.first ?? 0)")
            #expect(error?.disconnectReason == .protocolError)
        }
    }

    @Test func dataAfterThePeersEOF() throws {
        for extended in [false, true] {
            var (pair, channel) = try Self.serverWithSession()
            #expect(try pair.server.receive(SSHConnectionMessage.channelEOF(recipientChannel: channel).payload) == .eof(SSHChannelID(rawValue: channel)))
            // A second EOF says nothing new: no event, no error.
            #expect(try pair.server.receive(SSHConnectionMessage.channelEOF(recipientChannel: channel).payload) == nil)
            // Requests after EOF are fine (exit-status comes after it).
            #expect(try pair.server.receive(SSHConnectionMessage.channelRequest(SSHChannelRequestMessage(recipientChannel: channel, request: .signal(name: "TERM"), wantReply: false)).payload) != nil)
            guard case .protocolViolation? = Self.failure(&pair.server, Self.data(channel, count: 1, extended: extended))?.kind else {
                Issue.record("data after EOF was not a protocol violation")
                continue
            }
        }
    }

    @Test func windowAdjustPastTwoToTheThirtyTwo() throws {
        var (pair, channel) = try Self.serverWithSession()
        // The client granted 2 MiB; adding 2^32 - 2 MiB + 1 overflows.
        let error = Self.failure(&pair.server, SSHConnectionMessage.channelWindowAdjust(recipientChannel: channel, bytesToAdd: UInt32.max - (2 << 20) + 2).payload)
        guard case .protocolViolation? = error?.kind else { Issue.record("overflow accepted: \(String(describing: error))"); return }
    }

    @Test func closeTwice() throws {
        var (pair, channel) = try Self.serverWithSession()
        #expect(try pair.server.receive(SSHConnectionMessage.channelClose(recipientChannel: channel).payload) == .closed(SSHChannelID(rawValue: channel)))
        #expect(Self.failure(&pair.server, SSHConnectionMessage.channelClose(recipientChannel: channel).payload)?.kind == .unknownChannel(channel))
    }

    @Test func repliesNobodyAskedFor() throws {
        for payload in [SSHConnectionMessage.requestSuccess(responseData: ByteBuffer()).payload, SSHConnectionMessage.requestFailure.payload] {
            var (pair, _) = try Self.serverWithSession()
            guard case .protocolViolation? = Self.failure(&pair.server, payload)?.kind else { Issue.record("accepted"); continue }
        }
        for success in [true, false] {
            var (pair, channel) = try Self.serverWithSession()
            let payload = (success ? SSHConnectionMessage.channelSuccess(recipientChannel: channel) : .channelFailure(recipientChannel: channel)).payload
            guard case .protocolViolation? = Self.failure(&pair.server, payload)?.kind else { Issue.record("accepted"); continue }
        }
    }

    @Test func messagesBeforeAChannelIsConfirmed() throws {
        // The peer's open, not yet accepted by the caller: the peer cannot know our number yet.
        var pair = ConnectionPair()
        pair.serverPolicy = ConnectionPair.answerNothing
        _ = try pair.client.openChannel(.session)
        pair.run()
        guard case .channelOpenRequest(let pending, _)? = pair.serverLog.events.last else { Issue.record("no open"); return }
        guard case .protocolViolation? = Self.failure(&pair.server, Self.data(pending.rawValue, count: 1))?.kind else { Issue.record("accepted"); return }

        // Our open, not yet confirmed: only a confirmation or a failure may name it.
        var client = SSHConnection(configuration: SSHConnectionConfiguration(role: .client))
        let channel = try client.openChannel(.session)
        guard case .protocolViolation? = Self.failure(&client, SSHConnectionMessage.channelEOF(recipientChannel: channel.rawValue).payload)?.kind else {
            Issue.record("accepted")
            return
        }
    }

    @Test func confirmationsForChannelsNotWaitingForOne() throws {
        var (pair, channel) = try Self.serverWithSession()
        // The server's channel was opened by the peer: it cannot be confirmed by the peer.
        let confirmation = SSHConnectionMessage.channelOpenConfirmation(SSHChannelOpenConfirmationMessage(
            recipientChannel: channel, senderChannel: 5, initialWindowSize: 100, maximumPacketSize: 100))
        guard case .protocolViolation? = Self.failure(&pair.server, confirmation.payload)?.kind else { Issue.record("accepted"); return }

        var client = ConnectionPair()
        let (clientChannel, _) = try client.openSession()
        let again = SSHConnectionMessage.channelOpenFailure(SSHChannelOpenFailureMessage(recipientChannel: clientChannel.rawValue, reason: .connectFailed, description: ""))
        guard case .protocolViolation? = Self.failure(&client.client, again.payload)?.kind else { Issue.record("accepted"); return }
    }

    @Test func messagesOutsideTheConnectionProtocol() throws {
        for number in [UInt8(2), 50, 52, 60, 83, 101, 127] {
            var connection = SSHConnection(configuration: SSHConnectionConfiguration(role: .server))
            guard case .protocolViolation? = Self.failure(&connection, rawPayload(number) { $0.writeSSHUInt32(0) })?.kind else {
                Issue.record("message \(number) accepted")
                continue
            }
        }
        var connection = SSHConnection(configuration: SSHConnectionConfiguration(role: .server))
        guard case .protocolViolation? = Self.failure(&connection, ByteBuffer())?.kind else { Issue.record("empty payload accepted"); return }
    }

    @Test func sessionAfterNoMoreSessionsIsAnAttack() throws {
        var pair = ConnectionPair()
        try pair.client.sendGlobalRequest(.noMoreSessions, wantReply: false)
        _ = try pair.client.openChannel(.directTCPIP(host: "localhost", port: 22, originatorAddress: "127.0.0.1", originatorPort: 1))
        pair.run()
        #expect(pair.serverLog.events.first == .globalRequest(.noMoreSessions, wantReply: false))
        #expect(pair.serverLog.error == nil && pair.server.channelCount == 1)
        _ = try pair.client.openChannel(.session)
        pair.run()
        guard case .protocolViolation? = pair.serverLog.error?.kind else { Issue.record("a session after no-more-sessions was allowed"); return }
    }

    @Test func requestFloodWhileTheCallerDecides() throws {
        var pair = ConnectionPair(server: SSHConnectionConfiguration(role: .server, maximumUnansweredRequests: 4))
        pair.serverPolicy = { connection, event in
            // Opens are accepted at once; requests wait for an answer that does not come.
            if case .channelOpenRequest(let channel, _) = event { try connection.acceptChannelOpen(channel) }
        }
        let (channel, _) = try pair.openSession()
        // Requests without want-reply never count.
        for _ in 0..<20 { try pair.client.sendChannelRequest(.windowChange(SSHTerminalSize(columns: 1, rows: 1)), wantReply: false, on: channel) }
        try pair.client.sendChannelRequest(.shell, wantReply: true, on: channel)
        try pair.client.sendGlobalRequest(.keepalive, wantReply: true)
        // Unknown requests are answered at once, but their FAILURE waits behind the shell's answer.
        try pair.client.sendChannelRequest(.unknown(name: "x@example", data: ByteBuffer()), wantReply: true, on: channel)
        try pair.client.sendChannelRequest(.unknown(name: "y@example", data: ByteBuffer()), wantReply: true, on: channel)
        pair.run()
        #expect(pair.serverLog.error == nil)
        #expect(pair.server.unansweredPeerRequests == 4)
        try pair.client.sendGlobalRequest(.unknown(name: "z@example", data: ByteBuffer()), wantReply: true)
        pair.run()
        #expect(pair.serverLog.error?.kind == .tooManyPendingRequests(limit: 4))
        #expect(pair.serverLog.error?.disconnectReason == .protocolError)
    }

    /// 1000 opens from one peer against a server allowing 64: the first 64 reach the caller, the rest are refused
    /// with "resource shortage", and the connection goes on working; closed channels make room again.
    @Test func thousandChannelOpensFromOnePeer() throws {
        var pair = ConnectionPair(client: SSHConnectionConfiguration(role: .client, maximumChannels: 2000),
                                  server: SSHConnectionConfiguration(role: .server, maximumChannels: 64))
        var opened: [SSHChannelID] = []
        for _ in 0..<1000 { opened.append(try pair.client.openChannel(.session)) }
        pair.run()
        #expect(pair.serverLog.error == nil && pair.clientLog.error == nil)
        #expect(pair.server.channelCount == 64)
        let requests = pair.serverLog.events.filter { if case .channelOpenRequest = $0 { true } else { false } }
        #expect(requests.count == 64)
        let confirmed = opened.filter { pair.clientLog.events.contains(.channelOpened($0)) }
        let refused = opened.filter { channel in
            pair.clientLog.events.contains { if case .channelOpenFailed(channel, .resourceShortage, _) = $0 { true } else { false } }
        }
        #expect(confirmed.count == 64 && refused.count == 936)
        #expect(pair.client.channelCount == 64)

        // Still working: a command on the first channel, and room again after closing ten.
        try pair.client.sendChannelRequest(.exec("true"), wantReply: true, on: confirmed[0])
        pair.run()
        #expect(pair.clientLog.events.last == .channelRequestReply(confirmed[0], .exec("true"), success: true))
        for channel in confirmed.prefix(10) { try pair.client.close(channel) }
        pair.run()
        #expect(pair.server.channelCount == 54)
        var more: [SSHChannelID] = []
        for _ in 0..<11 { more.append(try pair.client.openChannel(.session)) }
        pair.run()
        #expect(more.prefix(10).allSatisfy { pair.clientLog.events.contains(.channelOpened($0)) })
        #expect(pair.clientLog.events.contains { if case .channelOpenFailed(more[10], .resourceShortage, _) = $0 { true } else { false } })
        #expect(pair.serverLog.error == nil && pair.clientLog.error == nil)
    }

    @Test func ourOwnOpensBeyondTheLimitThrowWithoutFailing() throws {
        var connection = SSHConnection(configuration: SSHConnectionConfiguration(role: .client, maximumChannels: 3))
        for _ in 0..<3 { _ = try connection.openChannel(.session) }
        #expect(throws: SSHProtocolError(.channelLimitReached(limit: 3))) { _ = try connection.openChannel(.session) }
        #expect(connection.failure == nil && connection.channelCount == 3)
        #expect(SSHProtocolError(.channelLimitReached(limit: 3)).disconnectReason == .byApplication)
    }
}
