// A session channel end to end (RFC 4254 §6): open, exec, data both ways, stderr, exit-status, EOF and close in
// order; directly and through a real transport pair fed byte by byte.
import NIOCore
import SSHProtocol
import Testing

@Suite(.timeLimit(.minutes(10))) struct ConnectionSessionTests {
    enum Carrier: String, CaseIterable, CustomStringConvertible {
        case direct, transport, transportByteByByte
        var description: String { rawValue }
    }

    @Test(arguments: Carrier.allCases)
    func execSession(_ carrier: Carrier) throws {
        var pair = ConnectionPair()
        switch carrier {
        case .direct: break
        case .transport: try pair.useTransport()
        case .transportByteByByte: try pair.useTransport(chunkSize: 1)
        }
        let (clientChannel, serverChannel) = try pair.openSession()

        try pair.client.sendChannelRequest(.environment("LANG", "C.UTF-8"), wantReply: false, on: clientChannel)
        try pair.client.sendChannelRequest(.exec("cat; echo done >&2"), wantReply: true, on: clientChannel)
        pair.run()
        #expect(pair.serverLog.events.suffix(2) == [
            .channelRequest(serverChannel, .environment(name: "LANG", value: Array("C.UTF-8".utf8)), wantReply: false),
            .channelRequest(serverChannel, .exec(command: Array("cat; echo done >&2".utf8)), wantReply: true),
        ])
        #expect(pair.clientLog.events.last == .channelRequestReply(clientChannel, .exec("cat; echo done >&2"), success: true))

        // stdin from the client, then its EOF; stdout and stderr from the server, exit-status, EOF, CLOSE.
        let input = patternBytes(count: 100_000, seed: 1)
        try pair.client.sendData(ByteBuffer(bytes: input), on: clientChannel)
        try pair.client.sendEOF(on: clientChannel)
        pair.run()
        #expect(pair.serverLog.received[serverChannel] == input)
        #expect(pair.serverLog.events.last == .eof(serverChannel))

        try pair.server.sendData(ByteBuffer(bytes: input), on: serverChannel)
        try pair.server.sendExtendedData(ByteBuffer(string: "done\n"), on: serverChannel)
        try pair.server.sendEOF(on: serverChannel)
        try pair.server.sendChannelRequest(.exitStatus(0), wantReply: false, on: serverChannel)
        try pair.server.close(serverChannel)
        pair.run()

        #expect(pair.clientLog.received[clientChannel] == input)
        #expect(pair.clientLog.receivedExtended[clientChannel] == Array("done\n".utf8))
        #expect(pair.clientLog.events.suffix(3) == [
            .eof(clientChannel),
            .channelRequest(clientChannel, .exitStatus(0), wantReply: false),
            .closed(clientChannel),
        ])
        #expect(pair.serverLog.events.last == .closed(serverChannel))
        // On the wire: all data before EOF, EOF before exit-status, CLOSE last.
        let serverWire = pair.serverLog.sent.map(shortName).filter { $0 != "WINDOW_ADJUST" && $0 != "SUCCESS" }
        let tail = Array(serverWire.drop(while: { $0 == "OPEN_CONFIRMATION" }))
        #expect(tail.suffix(3) == ["EOF", "REQUEST exit-status", "CLOSE"])
        #expect(tail.dropLast(3).allSatisfy { $0 == "DATA" || $0 == "EXTENDED_DATA" })
        #expect(pair.clientLog.sent.map(shortName).last == "CLOSE")
        #expect(pair.client.channelCount == 0 && pair.server.channelCount == 0)
        #expect(pair.clientLog.error == nil && pair.serverLog.error == nil)
        #expect(pair.transport.map { $0.clientLog.error == nil && $0.serverLog.error == nil } ?? true)
    }

    @Test func ptyShellWindowChangeAndSignals() throws {
        var pair = ConnectionPair()
        let (clientChannel, serverChannel) = try pair.openSession()
        let pty = SSHPseudoTerminalRequest(terminalType: "xterm-256color", size: SSHTerminalSize(columns: 80, rows: 24),
                                           modes: SSHTerminalModes([.init(opcode: SSHTerminalModes.ECHO, value: 1)]))
        try pair.client.sendChannelRequest(.pseudoTerminal(pty), wantReply: true, on: clientChannel)
        try pair.client.sendChannelRequest(.authAgent, wantReply: true, on: clientChannel)
        try pair.client.sendChannelRequest(.shell, wantReply: true, on: clientChannel)
        try pair.client.sendChannelRequest(.windowChange(SSHTerminalSize(columns: 120, rows: 40)), wantReply: false, on: clientChannel)
        try pair.client.sendChannelRequest(.signal(name: "INT"), wantReply: false, on: clientChannel)
        try pair.client.sendChannelRequest(.break(milliseconds: 300), wantReply: true, on: clientChannel)
        try pair.client.sendChannelRequest(.keepalive, wantReply: true, on: clientChannel)
        pair.run()
        let requests = pair.serverLog.events.compactMap { event -> String? in
            if case .channelRequest(serverChannel, let request, _) = event { return request.name }
            return nil
        }
        #expect(requests == ["pty-req", "auth-agent-req@openssh.com", "shell", "window-change", "signal", "break", "keepalive@openssh.com"])
        let replies = pair.clientLog.events.compactMap { event -> String? in
            if case .channelRequestReply(clientChannel, let request, true) = event { return request.name }
            return nil
        }
        #expect(replies == ["pty-req", "auth-agent-req@openssh.com", "shell", "break", "keepalive@openssh.com"])

        try pair.server.sendChannelRequest(.exitSignal(SSHExitSignal(signalName: "INT")), wantReply: false, on: serverChannel)
        try pair.server.sendChannelRequest(.endOfWrite, wantReply: false, on: serverChannel)
        try pair.server.close(serverChannel)
        pair.run()
        #expect(pair.clientLog.events.suffix(3) == [
            .channelRequest(clientChannel, .exitSignal(SSHExitSignal(signalName: "INT")), wantReply: false),
            .channelRequest(clientChannel, .endOfWrite, wantReply: false),
            .closed(clientChannel),
        ])
    }

    @Test func forwardingChannelTypesTravelInTheirDirection() throws {
        var pair = ConnectionPair()
        let direct = try pair.client.openChannel(.directTCPIP(host: "example.com", port: 80, originatorAddress: "127.0.0.1", originatorPort: 5555))
        let local = try pair.client.openChannel(.directStreamLocal(socketPath: "/run/app.sock"))
        let forwarded = try pair.server.openChannel(.forwardedTCPIP(connectedAddress: "0.0.0.0", connectedPort: 8080, originatorAddress: "10.1.1.1", originatorPort: 999))
        let forwardedLocal = try pair.server.openChannel(.forwardedStreamLocal(socketPath: "/tmp/fwd"))
        let agent = try pair.server.openChannel(.authAgent)
        let x11 = try pair.server.openChannel(.x11(originatorAddress: "127.0.0.1", originatorPort: 6010))
        pair.run()
        #expect(pair.clientLog.events.filter { if case .channelOpened = $0 { true } else { false } }.count == 2)
        #expect(pair.clientLog.events.contains(.channelOpened(direct)) && pair.clientLog.events.contains(.channelOpened(local)))
        for channel in [forwarded, forwardedLocal, agent, x11] {
            #expect(pair.serverLog.events.contains(.channelOpened(channel)))
        }
        let serverSaw = pair.serverLog.events.compactMap { if case .channelOpenRequest(_, let type) = $0 { type.name } else { nil } }
        #expect(serverSaw == ["direct-tcpip", "direct-streamlocal@openssh.com"])
        let clientSaw = pair.clientLog.events.compactMap { if case .channelOpenRequest(_, let type) = $0 { type.name } else { nil } }
        #expect(clientSaw == ["forwarded-tcpip", "forwarded-streamlocal@openssh.com", "auth-agent@openssh.com", "x11"])
    }

    /// RFC 4254 §6.1: a client refuses "session" from a server; each forwarding type has one direction.
    @Test func channelTypesFromTheWrongSideAreRefusedAsUnknown() throws {
        var pair = ConnectionPair()
        let session = try pair.server.openChannel(.session)
        let forwarded = try pair.client.openChannel(.forwardedTCPIP(connectedAddress: "a", connectedPort: 1, originatorAddress: "b", originatorPort: 2))
        let x11 = try pair.client.openChannel(.x11(originatorAddress: "a", originatorPort: 1))
        let custom = try pair.client.openChannel(.unknown(name: "tun@openssh.com", data: ByteBuffer(bytes: [0, 0, 0, 1, 0, 0, 0, 0])))
        pair.run()
        #expect(pair.serverLog.events.contains(.channelOpenFailed(session, reason: .unknownChannelType, description: "unknown channel type session")))
        for channel in [forwarded, x11, custom] {
            #expect(pair.clientLog.events.contains { if case .channelOpenFailed(channel, .unknownChannelType, _) = $0 { true } else { false } })
        }
        // The policy never saw them.
        #expect(!pair.serverLog.events.contains { if case .channelOpenRequest = $0 { true } else { false } })
        #expect(!pair.clientLog.events.contains { if case .channelOpenRequest = $0 { true } else { false } })
        #expect(pair.client.channelCount == 0 && pair.server.channelCount == 0)
    }

    @Test func denyByDefaultRefusesEverything() throws {
        var pair = ConnectionPair()
        pair.serverPolicy = ConnectionPair.denyEverything
        let refused = try pair.client.openChannel(.session)
        try pair.client.sendGlobalRequest(.tcpipForward(address: "", port: 0), wantReply: true)
        try pair.client.sendGlobalRequest(.keepalive, wantReply: true)
        pair.run()
        #expect(pair.clientLog.events.contains(.globalRequestReply(.keepalive, .failure)))
        #expect(pair.clientLog.events.contains(.channelOpenFailed(refused, reason: .administrativelyProhibited, description: "refused by policy")))
        #expect(pair.clientLog.events.contains(.globalRequestReply(.tcpipForward(address: "", port: 0), .failure)))

        // Opens allowed, requests denied: x11-req, exec and unknown ones all get FAILURE, in order.
        pair.serverPolicy = { connection, event in
            if case .channelOpenRequest(let channel, _) = event { try connection.acceptChannelOpen(channel) } else { try connection.deny(event) }
        }
        let (channel, _) = try pair.openSession()
        let x11 = SSHX11ForwardingRequest(singleConnection: false, authenticationProtocol: "MIT-MAGIC-COOKIE-1", authenticationCookie: "00", screenNumber: 0)
        try pair.client.sendChannelRequest(.x11Forwarding(x11), wantReply: true, on: channel)
        try pair.client.sendChannelRequest(.unknown(name: "winadj@putty.projects.tartarus.org", data: ByteBuffer()), wantReply: true, on: channel)
        try pair.client.sendChannelRequest(.exec("id"), wantReply: true, on: channel)
        pair.run()
        #expect(pair.clientLog.events.suffix(3) == [
            .channelRequestReply(channel, .x11Forwarding(x11), success: false),
            .channelRequestReply(channel, .unknown(name: "winadj@putty.projects.tartarus.org", data: ByteBuffer()), success: false),
            .channelRequestReply(channel, .exec("id"), success: false),
        ])
        #expect(pair.server.unansweredPeerRequests == 0)
        #expect(pair.clientLog.error == nil && pair.serverLog.error == nil)
    }
}
