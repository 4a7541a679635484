// Channel flow control (RFC 4254 §5.2): data split to the peer's maximum packet, never beyond its window, queued
// per channel and released by WINDOW_ADJUST; our window given back as the caller consumes; a 4 MiB transfer each
// way (16 MiB in the long tier) through 64 KiB windows with slow readers keeps every byte, in order, with bounded
// queues.
import Foundation
import NIOCore
import SSHProtocol
import Testing

@Suite(.timeLimit(.minutes(10))) struct ConnectionFlowControlTests {
    static func pair(clientWindow: SSHChannelWindowPolicy = SSHChannelWindowPolicy(),
                     serverWindow: SSHChannelWindowPolicy = SSHChannelWindowPolicy()) -> ConnectionPair {
        ConnectionPair(client: SSHConnectionConfiguration(role: .client, window: clientWindow),
                       server: SSHConnectionConfiguration(role: .server, window: serverWindow))
    }

    static func dataSizes(_ messages: [SSHConnectionMessage]) -> [Int] {
        messages.compactMap { message in
            switch message {
            case .channelData(_, let data), .channelExtendedData(_, _, let data): data.readableBytes
            default: nil
            }
        }
    }

    /// 4 MiB is 64 windows each way, every one of them refilled: 16 MiB took 25 s of CPU in a debug build, all of
    /// it holding a thread of the cooperative pool every test shares, so the full size is the long tier's.
    @Test func megabytesEachWayThroughSmallWindowsWithSlowReaders() throws {
        let window = SSHChannelWindowPolicy(windowSize: 64 * 1024, maximumPacketSize: 16 * 1024)
        var pair = Self.pair(clientWindow: window, serverWindow: window)
        pair.consumeAtOnce = false
        let (clientChannel, serverChannel) = try pair.openSession()

        let total = ProcessInfo.processInfo.environment["SHH_LONG_TESTS"] == "1" ? 16 << 20 : 4 << 20
        let download = patternBytes(count: total, seed: 7)
        let upload = patternBytes(count: total, seed: 11)
        let piece = 8 * 1024
        let sourceLimit = 128 * 1024  // what each writer lets queue before it stops reading its source
        var downloadOffset = 0, uploadOffset = 0
        var largestQueue = 0, largestUnconsumed = 0
        var rounds = 0
        while (pair.clientLog.received[clientChannel]?.count ?? 0) < total || (pair.serverLog.received[serverChannel]?.count ?? 0) < total {
            rounds += 1
            guard rounds < 200_000, pair.clientLog.error == nil, pair.serverLog.error == nil else { break }
            // Writers: produce while their channel's queue is below the limit (the NIO layer's backpressure).
            while downloadOffset < total && pair.server.queuedBytes(on: serverChannel) < sourceLimit {
                try pair.server.sendData(ByteBuffer(bytes: download[downloadOffset..<min(downloadOffset + piece, total)]), on: serverChannel)
                downloadOffset += piece
            }
            while uploadOffset < total && pair.client.queuedBytes(on: clientChannel) < sourceLimit {
                try pair.client.sendData(ByteBuffer(bytes: upload[uploadOffset..<min(uploadOffset + piece, total)]), on: clientChannel)
                uploadOffset += piece
            }
            largestQueue = max(largestQueue, pair.server.queuedBytes(on: serverChannel), pair.client.queuedBytes(on: clientChannel))
            pair.deliver(pair.server.takeOutbound(), toServer: false)
            pair.deliver(pair.client.takeOutbound(), toServer: true)
            largestUnconsumed = max(largestUnconsumed, pair.clientLog.unconsumed[clientChannel] ?? 0, pair.serverLog.unconsumed[serverChannel] ?? 0)
            // Slow readers: a few KiB per round, the client slower than the server.
            try pair.consume(upTo: 5000, on: clientChannel, atServer: false)
            try pair.consume(upTo: 7000, on: serverChannel, atServer: true)
        }
        #expect(pair.clientLog.error == nil && pair.serverLog.error == nil)
        #expect(pair.clientLog.received[clientChannel] == download)
        #expect(pair.serverLog.received[serverChannel] == upload)
        // The queues held what the writers chose to put there (one piece over the limit at most), and the
        // writers were held back; what a reader holds unconsumed never exceeds the window it granted.
        #expect(largestQueue <= sourceLimit + piece)
        #expect(largestQueue >= sourceLimit)
        #expect(largestUnconsumed <= 64 * 1024)
        #expect(Self.dataSizes(pair.serverLog.sent).allSatisfy { $0 <= 16 * 1024 })
        #expect(Self.dataSizes(pair.clientLog.sent).allSatisfy { $0 <= 16 * 1024 })
        // A WINDOW_ADJUST once half the window (or a little more) has been consumed, never per packet.
        let adjusts = pair.clientLog.sent.filter { if case .channelWindowAdjust = $0 { true } else { false } }.count
        #expect(adjusts >= total / (64 * 1024) && adjusts <= total / (32 * 1024))
    }

    /// A reader that keeps up: the window doubles at each adjustment, up to the policy's maximum and never past it.
    /// A fixed policy (maximum = initial) never grows; a slow reader's window never grows either (the transfer test
    /// above holds unconsumed bytes to the initial 64 KiB).
    @Test(arguments: [512 * 1024, 64 * 1024])
    func windowGrowsWhileTheReaderKeepsUp(maximumWindow: Int) throws {
        let policy = SSHChannelWindowPolicy(windowSize: 64 * 1024, maximumPacketSize: 16 * 1024, maximumWindowSize: UInt32(maximumWindow))
        var pair = Self.pair(serverWindow: policy)
        let (clientChannel, serverChannel) = try pair.openSession()
        let total = 8 << 20
        let content = patternBytes(count: total, seed: 13)
        var offset = 0
        var largestWindow: UInt32 = 0
        while offset < total || pair.client.queuedBytes(on: clientChannel) > 0 {
            if offset < total {
                try pair.client.sendData(ByteBuffer(bytes: content[offset..<(offset + 256 * 1024)]), on: clientChannel)
                offset += 256 * 1024
            }
            pair.run()
            largestWindow = max(largestWindow, pair.server.receiveWindow(on: serverChannel) ?? 0)
            guard pair.clientLog.error == nil, pair.serverLog.error == nil else { break }
        }
        #expect(pair.serverLog.received[serverChannel] == content)
        #expect(largestWindow <= UInt32(maximumWindow), "the window grew past the policy's maximum")
        if maximumWindow > 64 * 1024 {
            #expect(largestWindow > UInt32(maximumWindow / 2), "the window did not grow to its maximum (largest \(largestWindow))")
        }
    }

    @Test func dataIsSplitToThePeersMaximumPacket() throws {
        var pair = Self.pair(serverWindow: SSHChannelWindowPolicy(windowSize: 1 << 20, maximumPacketSize: 1000))
        let (clientChannel, serverChannel) = try pair.openSession()
        try pair.client.sendData(ByteBuffer(bytes: patternBytes(count: 4500, seed: 3)), on: clientChannel)
        try pair.client.sendExtendedData(ByteBuffer(bytes: patternBytes(count: 1200, seed: 4)), on: clientChannel)
        pair.run()
        #expect(Self.dataSizes(pair.clientLog.sent) == [1000, 1000, 1000, 1000, 500, 1000, 200])
        #expect(pair.serverLog.received[serverChannel] == patternBytes(count: 4500, seed: 3))
        #expect(pair.serverLog.receivedExtended[serverChannel] == patternBytes(count: 1200, seed: 4))
    }

    @Test func dataBeyondThePeersWindowWaitsForWindowAdjust() throws {
        var pair = Self.pair(serverWindow: SSHChannelWindowPolicy(windowSize: 3000, maximumPacketSize: 1000))
        pair.consumeAtOnce = false
        let (clientChannel, serverChannel) = try pair.openSession()
        let content = patternBytes(count: 10_000, seed: 5)
        try pair.client.sendData(ByteBuffer(bytes: content), on: clientChannel)
        pair.run()
        #expect(pair.serverLog.received[serverChannel]?.count == 3000)
        #expect(pair.client.queuedBytes(on: clientChannel) == 7000)
        #expect(pair.client.sendWindow(on: clientChannel) == 0)
        #expect(pair.server.receiveWindow(on: serverChannel) == 0)

        // Less than half the window consumed: no WINDOW_ADJUST yet.
        try pair.consume(upTo: 1499, on: serverChannel, atServer: true)
        #expect(pair.server.takeOutbound().isEmpty)
        // Half of it: the consumed bytes go back in one adjust, and as much queued data follows.
        try pair.consume(upTo: 1, on: serverChannel, atServer: true)
        pair.run()
        #expect(pair.clientLog.events.last == .windowAdjusted(clientChannel))
        #expect(pair.serverLog.received[serverChannel]?.count == 4500)
        #expect(pair.client.queuedBytes(on: clientChannel) == 5500)

        while pair.client.queuedBytes(on: clientChannel) > 0 || (pair.serverLog.unconsumed[serverChannel] ?? 0) > 0 {
            try pair.consume(upTo: 700, on: serverChannel, atServer: true)
            pair.run()
        }
        #expect(pair.serverLog.received[serverChannel] == content)
        #expect(pair.clientLog.error == nil && pair.serverLog.error == nil)
    }

    @Test func dataQueuedBeforeConfirmationGoesOutAfterIt() throws {
        var pair = ConnectionPair()
        let channel = try pair.client.openChannel(.session)
        try pair.client.sendData(ByteBuffer(string: "early"), on: channel)
        #expect(pair.client.queuedBytes(on: channel) == 5)
        #expect(decodedOutbound(pair.client.takeOutbound()).map(shortName) == ["OPEN session"])
        // Hand over the open by hand so the data's place can be seen.
        let open = SSHConnectionMessage.channelOpen(SSHChannelOpenMessage(
            channelType: .session, senderChannel: channel.rawValue, initialWindowSize: 1 << 21, maximumPacketSize: 32768))
        pair.receive(open.payload, atServer: true)
        let confirmation = pair.server.takeOutbound()
        #expect(decodedOutbound(confirmation).map(shortName) == ["OPEN_CONFIRMATION"])
        pair.deliver(confirmation, toServer: false)
        #expect(decodedOutbound(pair.client.takeOutbound()) == [.channelData(recipientChannel: 0, data: ByteBuffer(string: "early"))])
    }

    @Test func ourChunksStayBelowTheTransportLimitWhateverThePeerAllows() throws {
        var client = SSHConnection(configuration: SSHConnectionConfiguration(role: .client))
        let channel = try client.openChannel(.session)
        _ = client.takeOutbound()
        let confirmation = SSHConnectionMessage.channelOpenConfirmation(SSHChannelOpenConfirmationMessage(
            recipientChannel: channel.rawValue, senderChannel: 9, initialWindowSize: .max, maximumPacketSize: .max))
        #expect(try client.receive(confirmation.payload) == .channelOpened(channel))
        try client.sendData(ByteBuffer(bytes: [UInt8](repeating: 1, count: 1 << 20)), on: channel)
        let sizes = Self.dataSizes(decodedOutbound(client.takeOutbound()))
        #expect(sizes.reduce(0, +) == 1 << 20)
        #expect(sizes.allSatisfy { $0 <= 256 * 1024 - 1024 })
    }

    @Test func consumingMoreThanDeliveredIsTheCallersMistake() throws {
        var pair = ConnectionPair()
        pair.consumeAtOnce = false
        let (clientChannel, serverChannel) = try pair.openSession()
        try pair.client.sendData(ByteBuffer(string: "12345"), on: clientChannel)
        pair.run()
        #expect(throws: SSHProtocolError.self) { try pair.server.consumed(6, on: serverChannel) }
        #expect(throws: SSHProtocolError.self) { try pair.server.consumed(-1, on: serverChannel) }
        try pair.server.consumed(5, on: serverChannel)
        #expect(pair.server.failure == nil)
        // A report for a channel that has gone is harmless.
        try pair.server.consumed(5, on: SSHChannelID(rawValue: 77))
    }

    @Test func windowAdjustsStopAfterThePeersEOF() throws {
        var pair = Self.pair(serverWindow: SSHChannelWindowPolicy(windowSize: 2000, maximumPacketSize: 1000))
        pair.consumeAtOnce = false
        let (clientChannel, serverChannel) = try pair.openSession()
        try pair.client.sendData(ByteBuffer(bytes: [UInt8](repeating: 2, count: 2000)), on: clientChannel)
        try pair.client.sendEOF(on: clientChannel)
        pair.run()
        try pair.consume(upTo: 2000, on: serverChannel, atServer: true)
        #expect(pair.server.takeOutbound().isEmpty)
    }
}
