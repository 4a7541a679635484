// Order at the connection layer: queued data before our EOF and CLOSE (RFC 4254 §5.3), EOF after the peer's EOF,
// channels freed only when both CLOSEs have passed, closing unconfirmed opens, replies to channel and global
// requests exactly once and in order (§4, §5.4), and channel numbers that are reused only safely.
import NIOCore
@_spi(Testing) import SSHProtocol
import Testing

@Suite(.timeLimit(.minutes(10))) struct ConnectionOrderingTests {
    // MARK: EOF and CLOSE

    @Test func queuedDataGoesBeforeEOFAndClose() throws {
        var pair = ConnectionPair(server: SSHConnectionConfiguration(role: .server, window: SSHChannelWindowPolicy(windowSize: 4000, maximumPacketSize: 1000)))
        pair.consumeAtOnce = false
        let (clientChannel, serverChannel) = try pair.openSession()
        let content = patternBytes(count: 10_000, seed: 9)
        try pair.client.sendData(ByteBuffer(bytes: content), on: clientChannel)
        try pair.client.sendEOF(on: clientChannel)
        try pair.client.close(clientChannel)
        #expect(throws: SSHProtocolError.self) { try pair.client.sendData(ByteBuffer(string: "late"), on: clientChannel) }
        pair.run()
        // Window exhausted: neither EOF nor CLOSE may have gone out yet.
        #expect(!pair.clientLog.sent.contains { if case .channelEOF = $0 { true } else { false } })
        #expect(!pair.clientLog.sent.contains { if case .channelClose = $0 { true } else { false } })
        #expect(pair.client.channelCount == 1)
        while pair.client.queuedBytes(on: clientChannel) > 0 {
            try pair.consume(upTo: 2000, on: serverChannel, atServer: true)
            pair.run()
        }
        try pair.consume(upTo: 10_000, on: serverChannel, atServer: true)
        pair.run()
        #expect(pair.serverLog.received[serverChannel] == content)
        let wire = pair.clientLog.sent.map(shortName).filter { $0 == "DATA" || $0 == "EOF" || $0 == "CLOSE" }
        #expect(wire.suffix(2) == ["EOF", "CLOSE"])
        #expect(wire.dropLast(2).allSatisfy { $0 == "DATA" })
        #expect(pair.serverLog.events.suffix(2) == [.eof(serverChannel), .closed(serverChannel)])
        // After close(), the only event the client sees for the channel is .closed.
        #expect(pair.clientLog.events.filter { $0 != .channelOpened(clientChannel) }.allSatisfy {
            if case .windowAdjusted = $0 { false } else { true }
        })
        #expect(pair.clientLog.events.last == .closed(clientChannel))
        #expect(pair.client.channelCount == 0 && pair.server.channelCount == 0)
    }

    @Test func closeDiscardingQueuedDataGoesAtOnce() throws {
        var pair = ConnectionPair(server: SSHConnectionConfiguration(role: .server, window: SSHChannelWindowPolicy(windowSize: 1000, maximumPacketSize: 1000)))
        pair.consumeAtOnce = false
        let (clientChannel, serverChannel) = try pair.openSession()
        try pair.client.sendData(ByteBuffer(bytes: [UInt8](repeating: 1, count: 5000)), on: clientChannel)
        pair.run()
        #expect(pair.client.queuedBytes(on: clientChannel) == 4000)
        try pair.client.close(clientChannel, discardingQueuedData: true)
        #expect(pair.client.queuedBytes(on: clientChannel) == 0)
        pair.run()
        #expect(pair.serverLog.events.last == .closed(serverChannel))
        #expect(pair.clientLog.events.last == .closed(clientChannel))
        #expect(pair.serverLog.received[serverChannel]?.count == 1000)
    }

    @Test func peerCloseDropsWhatWeStillHadQueued() throws {
        var pair = ConnectionPair(client: SSHConnectionConfiguration(role: .client, window: SSHChannelWindowPolicy(windowSize: 1000, maximumPacketSize: 1000)))
        pair.consumeAtOnce = false
        let (clientChannel, serverChannel) = try pair.openSession()
        try pair.server.sendData(ByteBuffer(bytes: [UInt8](repeating: 1, count: 3000)), on: serverChannel)
        try pair.server.sendEOF(on: serverChannel)
        pair.run()
        try pair.client.close(clientChannel)
        pair.run()
        // The client's CLOSE reached a server still waiting to send: it answers CLOSE without EOF or more data.
        #expect(pair.serverLog.events.last == .closed(serverChannel))
        #expect(pair.serverLog.sent.map(shortName).suffix(2) == ["DATA", "CLOSE"])
        #expect(pair.clientLog.events.last == .closed(clientChannel))
        #expect(pair.client.channelCount == 0 && pair.server.channelCount == 0)
    }

    @Test func eofAfterThePeersEOFAndDataBothWaysUntilClose() throws {
        var pair = ConnectionPair()
        let (clientChannel, serverChannel) = try pair.openSession()
        try pair.server.sendEOF(on: serverChannel)
        try pair.server.sendEOF(on: serverChannel)  // a second call does nothing
        pair.run()
        #expect(pair.clientLog.events.last == .eof(clientChannel))
        #expect(pair.serverLog.sent.filter { if case .channelEOF = $0 { true } else { false } }.count == 1)
        // The client may go on sending after the server's EOF, then send its own.
        try pair.client.sendData(ByteBuffer(string: "still talking"), on: clientChannel)
        try pair.client.sendEOF(on: clientChannel)
        pair.run()
        #expect(pair.serverLog.received[serverChannel] == Array("still talking".utf8))
        #expect(pair.serverLog.events.last == .eof(serverChannel))
        // The server can still send requests after its EOF (exit-status), then close.
        try pair.server.sendChannelRequest(.exitStatus(3), wantReply: false, on: serverChannel)
        try pair.server.close(serverChannel)
        pair.run()
        #expect(pair.clientLog.events.suffix(2) == [.channelRequest(clientChannel, .exitStatus(3), wantReply: false), .closed(clientChannel)])
        #expect(pair.clientLog.error == nil && pair.serverLog.error == nil)
    }

    @Test func channelIsFreedOnlyWhenBothClosesPassed() throws {
        var pair = ConnectionPair()
        let (clientChannel, serverChannel) = try pair.openSession()
        try pair.client.close(clientChannel)
        // Our CLOSE is out but the peer's has not come: the number is still taken.
        pair.deliver(pair.client.takeOutbound(), toServer: true)
        #expect(pair.client.isActive(clientChannel) && pair.client.channelCount == 1)
        #expect(!pair.server.isActive(serverChannel))  // the server got our CLOSE and answered it
        // In flight before the server saw our CLOSE: data and a request. They are swallowed without error.
        #expect(try pair.client.receive(SSHConnectionMessage.channelData(recipientChannel: clientChannel.rawValue, data: ByteBuffer(string: "x")).payload) == nil)
        #expect(try pair.client.receive(SSHConnectionMessage.channelRequest(SSHChannelRequestMessage(recipientChannel: clientChannel.rawValue, request: .exitStatus(0), wantReply: true)).payload) == nil)
        pair.run()
        #expect(pair.clientLog.events.last == .closed(clientChannel))
        #expect(!pair.client.isActive(clientChannel))
        #expect(pair.client.takeOutbound().isEmpty, "no reply after our CLOSE")
        // The next channel gets a new number.
        let next = try pair.client.openChannel(.session)
        #expect(next != clientChannel)
    }

    @Test func closingAnOpenBeforeItIsConfirmed() throws {
        var pair = ConnectionPair()
        let accepted = try pair.client.openChannel(.session)
        try pair.client.sendData(ByteBuffer(string: "queued first"), on: accepted)
        try pair.client.close(accepted)
        #expect(decodedOutbound(pair.client.takeOutbound()).map(shortName) == ["OPEN session"])
        // Hand over the open again (takeOutbound consumed it): the server accepts, the client then sends the
        // queued data and CLOSE; the client's caller sees only .closed.
        pair.deliver([SSHConnectionMessage.channelOpen(SSHChannelOpenMessage(channelType: .session, senderChannel: accepted.rawValue, initialWindowSize: 1 << 21, maximumPacketSize: 32768)).payload], toServer: true)
        pair.run()
        #expect(pair.clientLog.events == [.closed(accepted)])
        guard case .channelOpenRequest(let serverChannel, _)? = pair.serverLog.events.first else { Issue.record("no open"); return }
        #expect(pair.serverLog.received[serverChannel] == Array("queued first".utf8))
        #expect(pair.serverLog.events.last == .closed(serverChannel))

        // Closed before the server refuses it: still just .closed.
        pair.serverPolicy = ConnectionPair.denyEverything
        let refused = try pair.client.openChannel(.session)
        try pair.client.close(refused)
        pair.run()
        #expect(pair.clientLog.events.last == .closed(refused))
        #expect(pair.client.channelCount == 0 && pair.server.channelCount == 0)
    }

    @Test func closingAPeersOpenBeforeAnsweringRefusesIt() throws {
        var pair = ConnectionPair()
        pair.serverPolicy = ConnectionPair.answerNothing
        let channel = try pair.client.openChannel(.session)
        pair.run()
        guard case .channelOpenRequest(let pending, _)? = pair.serverLog.events.last else { Issue.record("no open"); return }
        try pair.server.close(pending)
        try pair.server.close(pending)  // closing what is gone does nothing
        pair.run()
        #expect(pair.clientLog.events.last == .channelOpenFailed(channel, reason: .administrativelyProhibited, description: "closed"))
    }

    // MARK: Replies

    @Test func channelRequestRepliesComeOnceAndInOrder() throws {
        var pair = ConnectionPair()
        pair.serverPolicy = { connection, event in
            if case .channelOpenRequest(let channel, _) = event { try connection.acceptChannelOpen(channel) }
        }
        let (clientChannel, serverChannel) = try pair.openSession()
        let pty = SSHChannelRequest.pseudoTerminal(SSHPseudoTerminalRequest(terminalType: "vt100", size: SSHTerminalSize(columns: 80, rows: 24)))
        let unknown = SSHChannelRequest.unknown(name: "simple@putty.projects.tartarus.org", data: ByteBuffer())
        try pair.client.sendChannelRequest(pty, wantReply: true, on: clientChannel)
        try pair.client.sendChannelRequest(unknown, wantReply: true, on: clientChannel)
        try pair.client.sendChannelRequest(.environment("A", "1"), wantReply: true, on: clientChannel)
        try pair.client.sendChannelRequest(.shell, wantReply: true, on: clientChannel)
        pair.run()
        // Nothing answered yet: the unknown request's FAILURE must not overtake the pty-req's answer.
        #expect(!pair.serverLog.sent.contains { if case .channelFailure = $0 { true } else { false } })
        #expect(pair.server.unansweredPeerRequests == 4)
        try pair.server.replyToChannelRequest(on: serverChannel, success: true)   // pty-req
        try pair.server.replyToChannelRequest(on: serverChannel, success: false)  // env
        try pair.server.replyToChannelRequest(on: serverChannel, success: true)   // shell
        #expect(throws: SSHProtocolError.self) { try pair.server.replyToChannelRequest(on: serverChannel, success: true) }
        pair.run()
        #expect(pair.serverLog.sent.map(shortName).suffix(4) == ["SUCCESS", "FAILURE", "FAILURE", "SUCCESS"])
        #expect(pair.clientLog.events.suffix(4) == [
            .channelRequestReply(clientChannel, pty, success: true),
            .channelRequestReply(clientChannel, unknown, success: false),
            .channelRequestReply(clientChannel, .environment("A", "1"), success: false),
            .channelRequestReply(clientChannel, .shell, success: true),
        ])
        #expect(pair.server.unansweredPeerRequests == 0)
        // A reply on a channel that has gone meanwhile is dropped quietly.
        try pair.client.close(clientChannel)
        pair.run()
        try pair.server.replyToChannelRequest(on: serverChannel, success: true)
        #expect(pair.server.takeOutbound().isEmpty)
    }

    @Test func globalRequestRepliesInOrderWithTheBoundPort() throws {
        var pair = ConnectionPair()
        pair.serverPolicy = ConnectionPair.answerNothing
        try pair.client.sendGlobalRequest(.tcpipForward(address: "localhost", port: 0), wantReply: true)
        try pair.client.sendGlobalRequest(.unknown(name: "who@example", data: ByteBuffer()), wantReply: true)
        try pair.client.sendGlobalRequest(.tcpipForward(address: "localhost", port: 8022), wantReply: true)
        try pair.client.sendGlobalRequest(.hostKeysProve([[1, 2], [3]]), wantReply: true)
        try pair.client.sendGlobalRequest(.cancelTCPIPForward(address: "localhost", port: 8022), wantReply: true)
        try pair.client.sendGlobalRequest(.keepalive, wantReply: false)
        pair.run()
        #expect(pair.serverLog.events == [
            .globalRequest(.tcpipForward(address: "localhost", port: 0), wantReply: true),
            .globalRequest(.tcpipForward(address: "localhost", port: 8022), wantReply: true),
            .globalRequest(.hostKeysProve([[1, 2], [3]]), wantReply: true),
            .globalRequest(.cancelTCPIPForward(address: "localhost", port: 8022), wantReply: true),
            .globalRequest(.keepalive, wantReply: false),
        ])
        #expect(pair.server.takeOutbound().isEmpty)
        // A port-0 forward succeeds only with the port.
        #expect(throws: SSHProtocolError.self) { try pair.server.replyToGlobalRequest(.success) }
        try pair.server.replyToGlobalRequest(success: true, boundPort: 40022)
        try pair.server.replyToGlobalRequest(success: false)
        try pair.server.replyToGlobalRequest(.hostKeySignatures([[9, 9, 9], [8]]))
        try pair.server.replyToGlobalRequest(success: true)
        #expect(throws: SSHProtocolError.self) { try pair.server.replyToGlobalRequest(success: true) }
        pair.run()
        #expect(pair.serverLog.sent.map(shortName) == ["REQUEST_SUCCESS", "REQUEST_FAILURE", "REQUEST_FAILURE", "REQUEST_SUCCESS", "REQUEST_SUCCESS"])
        #expect(pair.clientLog.events == [
            .globalRequestReply(.tcpipForward(address: "localhost", port: 0), .boundPort(40022)),
            .globalRequestReply(.unknown(name: "who@example", data: ByteBuffer()), .failure),
            .globalRequestReply(.tcpipForward(address: "localhost", port: 8022), .failure),
            .globalRequestReply(.hostKeysProve([[1, 2], [3]]), .hostKeySignatures([[9, 9, 9], [8]])),
            .globalRequestReply(.cancelTCPIPForward(address: "localhost", port: 8022), .success),
        ])
    }

    @Test func aBoundPortReplyMustCarryThePort() throws {
        var client = SSHConnection(configuration: SSHConnectionConfiguration(role: .client))
        try client.sendGlobalRequest(.tcpipForward(address: "", port: 0), wantReply: true)
        #expect(throws: SSHProtocolError.self) { _ = try client.receive(SSHConnectionMessage.requestSuccess(responseData: ByteBuffer()).payload) }
    }

    // MARK: Channel numbers

    @Test func channelNumbersWrapAndSkipThoseInUse() throws {
        var pair = ConnectionPair()
        pair.client = SSHConnection(configuration: SSHConnectionConfiguration(role: .client), firstChannelID: UInt32.max - 1)
        let a = try pair.client.openChannel(.session)
        let b = try pair.client.openChannel(.session)
        let c = try pair.client.openChannel(.session)
        #expect([a, b, c].map(\.rawValue) == [UInt32.max - 1, UInt32.max, 0])
        pair.run()
        #expect([a, b, c].allSatisfy { pair.clientLog.events.contains(.channelOpened($0)) })
        // Four billion channels later the counter is back at max - 1: numbers in use are skipped, freed ones reused.
        try pair.client.close(b)
        pair.run()
        pair.client.nextChannelNumber = UInt32.max - 1
        let d = try pair.client.openChannel(.session)
        let e = try pair.client.openChannel(.session)
        #expect(d.rawValue == UInt32.max && e.rawValue == 1)
        // A number closed on our side but not yet by the peer is still in use.
        try pair.client.close(e)
        pair.client.nextChannelNumber = 1
        let f = try pair.client.openChannel(.session)
        #expect(f.rawValue == 2)
        pair.run()
        #expect(pair.clientLog.error == nil && pair.serverLog.error == nil)
        #expect([a, c, d, f].allSatisfy { pair.client.isActive($0) } && !pair.client.isActive(e))
    }
}
