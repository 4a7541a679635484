// Two connection-protocol state machines wired together in memory (ARCHITECTURE convention 1): the payloads one
// side queues are handed to the other, directly or through a real SSHTransport pair (encrypted, byte by byte if
// asked), and each side's events are collected. Each side answers events with a policy closure.
import NIOCore
import SSHProtocol
import SSHWire
import Testing

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// What one side saw.
struct ConnectionSideLog {
    /// Every event except data and extended data, in order.
    var events: [SSHConnectionEvent] = []
    /// Data and extended data as they arrived, per channel and data type (nil: ordinary data).
    var received: [SSHChannelID: [UInt8]] = [:]
    var receivedExtended: [SSHChannelID: [UInt8]] = [:]
    /// Bytes delivered and not yet reported as consumed (when the pair does not consume by itself).
    var unconsumed: [SSHChannelID: Int] = [:]
    /// Every payload this side sent, for wire-order checks.
    var sent: [SSHConnectionMessage] = []
    var error: SSHProtocolError?
}

typealias ConnectionPolicy = @Sendable (inout SSHConnection, SSHConnectionEvent) throws -> Void

struct ConnectionPair {
    var client: SSHConnection
    var server: SSHConnection
    var clientLog = ConnectionSideLog()
    var serverLog = ConnectionSideLog()
    /// How each side answers events that need an answer. Default: accept every open, succeed every request.
    var clientPolicy: ConnectionPolicy = ConnectionPair.acceptEverything
    var serverPolicy: ConnectionPolicy = ConnectionPair.acceptEverything
    /// Report data as consumed as soon as it arrives (true), or leave that to the test (`ConnectionSideLog.unconsumed`).
    var consumeAtOnce = true
    /// Carry payloads through an established transport pair instead of handing them over directly.
    var transport: TransportPair?

    init(client: SSHConnectionConfiguration = SSHConnectionConfiguration(role: .client),
         server: SSHConnectionConfiguration = SSHConnectionConfiguration(role: .server)) {
        self.client = SSHConnection(configuration: client)
        self.server = SSHConnection(configuration: server)
    }

    static let acceptEverything: ConnectionPolicy = { connection, event in
        switch event {
        case .channelOpenRequest(let channel, _):
            try connection.acceptChannelOpen(channel)
        case .channelRequest(let channel, _, wantReply: true):
            try connection.replyToChannelRequest(on: channel, success: true)
        case .globalRequest(let request, wantReply: true):
            if case .tcpipForward(_, 0) = request {
                try connection.replyToGlobalRequest(.boundPort(40000))
            } else {
                try connection.replyToGlobalRequest(.success)
            }
        default:
            break
        }
    }

    static let denyEverything: ConnectionPolicy = { connection, event in try connection.deny(event) }

    /// Answers nothing: the test answers by hand.
    static let answerNothing: ConnectionPolicy = { _, _ in }

    /// Sets up a transport pair (default algorithms, chunked delivery if asked) to carry the payloads.
    mutating func useTransport(chunkSize: Int? = nil) throws {
        var pair = TransportPair(chunkSize: chunkSize)
        try pair.start()
        pair.run()
        guard pair.isEstablished else { throw HarnessError("the transport pair did not establish") }
        transport = pair
    }

    /// Moves payloads both ways until neither side has anything to send. Returns the number of rounds.
    @discardableResult
    mutating func run(maxRounds: Int = 1_000_000) -> Int {
        for round in 0..<maxRounds {
            let fromClient = client.takeOutbound()
            let fromServer = server.takeOutbound()
            if fromClient.isEmpty && fromServer.isEmpty { return round }
            deliver(fromClient, toServer: true)
            deliver(fromServer, toServer: false)
        }
        return maxRounds
    }

    /// Hands one side's payloads to the other (through the transport pair if there is one).
    mutating func deliver(_ payloads: [ByteBuffer], toServer: Bool) {
        for payload in payloads {
            if let message = try? SSHConnectionMessage(payload: payload) {
                if toServer { clientLog.sent.append(message) } else { serverLog.sent.append(message) }
            }
        }
        guard var transport else {
            for payload in payloads { receive(payload, atServer: toServer) }
            return
        }
        for payload in payloads {
            do {
                if toServer { try transport.client.send(payload) } else { try transport.server.send(payload) }
            } catch {
                preconditionFailure("the transport refused a connection payload: \(error)")
            }
        }
        transport.run()
        let arrived = toServer ? transport.serverLog.messages : transport.clientLog.messages
        if toServer { transport.serverLog.messages.removeAll() } else { transport.clientLog.messages.removeAll() }
        self.transport = transport
        // The pair's own USERAUTH_SUCCESS (see authenticateAfterKeyExchange) is not the connection's.
        for bytes in arrived where bytes != [SSHMessageNumber.userAuthenticationSuccess] { receive(ByteBuffer(bytes: bytes), atServer: toServer) }
    }

    /// Feeds one payload to a side, records the event and lets the side's policy answer it.
    mutating func receive(_ payload: ByteBuffer, atServer: Bool) {
        var connection = atServer ? server : client
        var log = atServer ? serverLog : clientLog
        let policy = atServer ? serverPolicy : clientPolicy
        defer {
            if atServer { server = connection; serverLog = log } else { client = connection; clientLog = log }
        }
        guard log.error == nil else { return }
        do {
            guard let event = try connection.receive(payload) else { return }
            switch event {
            case .data(let channel, let data):
                log.received[channel, default: []] += data.readableBytesView
                try consume(data.readableBytes, on: channel, connection: &connection, log: &log)
            case .extendedData(let channel, _, let data):
                log.receivedExtended[channel, default: []] += data.readableBytesView
                try consume(data.readableBytes, on: channel, connection: &connection, log: &log)
            default:
                log.events.append(event)
            }
            try policy(&connection, event)
        } catch let error as SSHProtocolError {
            log.error = error
        } catch {
            preconditionFailure("not an SSHProtocolError: \(error)")
        }
    }

    private func consume(_ count: Int, on channel: SSHChannelID, connection: inout SSHConnection, log: inout ConnectionSideLog) throws {
        if consumeAtOnce {
            try connection.consumed(count, on: channel)
        } else {
            log.unconsumed[channel, default: 0] += count
        }
    }

    /// Reports up to `limit` unconsumed bytes of `channel` as consumed on one side (for slow readers).
    mutating func consume(upTo limit: Int, on channel: SSHChannelID, atServer: Bool) throws {
        var log = atServer ? serverLog : clientLog
        let count = min(limit, log.unconsumed[channel] ?? 0)
        guard count > 0 else { return }
        log.unconsumed[channel]! -= count
        if atServer {
            serverLog = log
            try server.consumed(count, on: channel)
        } else {
            clientLog = log
            try client.consumed(count, on: channel)
        }
    }

    /// Opens a session from the client and runs until the server has accepted it.
    mutating func openSession() throws -> (client: SSHChannelID, server: SSHChannelID) {
        let clientChannel = try client.openChannel(.session)
        run()
        guard case .channelOpenRequest(let serverChannel, .session)? = serverLog.events.last(where: {
            if case .channelOpenRequest = $0 { return true } else { return false }
        }) else { throw HarnessError("the server saw no session open (server error: \(String(describing: serverLog.error)))") }
        guard clientLog.events.contains(.channelOpened(clientChannel)) else {
            throw HarnessError("the client's session was not confirmed (errors: \(String(describing: clientLog.error)), \(String(describing: serverLog.error)))")
        }
        return (clientChannel, serverChannel)
    }
}

/// Decodes the payloads a side queued (without handing them over), for checks on what would go out.
func decodedOutbound(_ payloads: [ByteBuffer], sourceLocation: SourceLocation = #_sourceLocation) -> [SSHConnectionMessage] {
    payloads.compactMap { payload in
        do {
            return try SSHConnectionMessage(payload: payload)
        } catch {
            Issue.record("a queued payload does not decode: \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }
}

/// A short name for a message, for order checks: "DATA", "EOF", "REQUEST exit-status", ...
func shortName(_ message: SSHConnectionMessage) -> String {
    switch message {
    case .globalRequest(let request): "GLOBAL \(request.request.name)"
    case .requestSuccess: "REQUEST_SUCCESS"
    case .requestFailure: "REQUEST_FAILURE"
    case .channelOpen(let open): "OPEN \(open.channelType.name)"
    case .channelOpenConfirmation: "OPEN_CONFIRMATION"
    case .channelOpenFailure: "OPEN_FAILURE"
    case .channelWindowAdjust: "WINDOW_ADJUST"
    case .channelData: "DATA"
    case .channelExtendedData: "EXTENDED_DATA"
    case .channelEOF: "EOF"
    case .channelClose: "CLOSE"
    case .channelRequest(let request): "REQUEST \(request.request.name)"
    case .channelSuccess: "SUCCESS"
    case .channelFailure: "FAILURE"
    }
}

/// Deterministic bytes (xorshift), so a transfer's content and order can be checked.
func patternBytes(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    var bytes = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        bytes[index] = UInt8(truncatingIfNeeded: state)
    }
    return bytes
}

/// A payload from raw fields, for messages a correct SSHConnection would never send.
func rawPayload(_ number: UInt8, _ build: (inout ByteBuffer) -> Void = { _ in }) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeSSHByte(number)
    build(&buffer)
    return buffer
}
