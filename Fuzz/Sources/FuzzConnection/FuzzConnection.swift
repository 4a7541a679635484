// Fuzzes the connection layer (SSHProtocol's SSHConnection: RFC 4254 channels, windows, requests) as the server
// of an authenticated connection: what a hostile client can send after authentication, interleaved with what the
// server's caller does (send data, EOF, close, consume, open channels, send and answer requests).
//
//   header byte: bits 0-1 our window policy (2 MiB/32 KiB, 4096/1024, 64/16, 1/1); bit 2 small limits (4 channels,
//                8 unanswered requests); bit 3 answer each event as it comes (else only when a record says so);
//                bits 4-7 the accept/deny pattern for those answers (bit i of the nibble for the i-th answer, cycling).
//   then records: kind (UInt8), n (UInt16, big-endian), n bytes (fewer if the input ends).
//     kind 0     the bytes are one message payload from the client, fed to receive(_:).
//     kind 1-12  a caller action on the channel the first byte picks (see `act`), arguments from the next bytes.
//
// Beyond "never trap", a shadow model built from the client's messages checks every payload the server sends:
// it decodes; channel data never exceeds the window and maximum packet the client granted for that channel number;
// no data after our EOF, nothing after our CLOSE, one EOF and one CLOSE per channel (checked where the client used
// a channel number once); no more REQUEST_SUCCESS/FAILURE than want-reply global requests; confirmations name the
// client's channel. A thrown error is an SSHProtocolError, the connection is failed and queues nothing more, and
// caller mistakes (`.invalidState`, `.channelLimitReached`) never fail it. Channel and unanswered-request counts stay
// within their limits. `FUZZ_TRACE=1` prints each record, event and outbound message.

import CLibFuzzerDriver
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
@_spi(Testing) import SSHProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard let header = input.first else { return 0 }
    var harness = Harness(header: header)
    var rest = input.dropFirst()[...]
    while rest.count >= 3, !harness.isFailed {
        let kind = rest[rest.startIndex]
        let length = Int(rest[rest.startIndex + 1]) << 8 | Int(rest[rest.startIndex + 2])
        rest = rest.dropFirst(3)
        let bytes = Array(rest.prefix(length))
        rest = rest.dropFirst(bytes.count)
        if kind == 0 {
            harness.receive(bytes)
        } else {
            harness.act(kind, bytes)
        }
        harness.drainAndCheck()
    }
    harness.finish()
    return 0
}

@_cdecl("FuzzConnection_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    shh_fuzz_run_driver(argc, argv, fuzzOneInput)
}

struct Harness {
    var connection: SSHConnection
    let answerAtOnce: Bool
    let acceptPattern: UInt8
    var answers = 0
    /// Channels the caller knows of (ours, and the client's it was told about), in the order it learnt them.
    var known: [SSHChannelID] = []
    /// Events waiting for an answer, oldest first.
    var pending: [SSHConnectionEvent] = []
    var isFailed = false

    // The shadow model, from the client's messages as they were accepted.
    var remoteOf: [UInt32: UInt32] = [:]            // our channel -> the client's number for it
    var granted: [UInt32: UInt64] = [:]             // client's number -> window granted to us, over all channels using it
    var sent: [UInt32: UInt64] = [:]                // client's number -> data bytes we sent to it
    var maximumPacket: [UInt32: UInt32] = [:]       // client's number -> largest maximum packet of a channel using it
    var channelsUsing: [UInt32: Set<UInt32>] = [:]  // client's number -> our channels that used it
    var eofSent: Set<UInt32> = []
    var closeSent: Set<UInt32> = []
    var globalWantReplies = 0
    var globalReplies = 0

    static let windows: [SSHChannelWindowPolicy] = [
        SSHChannelWindowPolicy(),
        SSHChannelWindowPolicy(windowSize: 4096, maximumPacketSize: 1024),
        SSHChannelWindowPolicy(windowSize: 64, maximumPacketSize: 16),
        SSHChannelWindowPolicy(windowSize: 1, maximumPacketSize: 1),
    ]

    init(header: UInt8) {
        let small = header & 4 != 0
        let configuration = SSHConnectionConfiguration(
            role: .server, window: Self.windows[Int(header & 3)],
            maximumChannels: small ? 4 : 64, maximumUnansweredRequests: small ? 8 : 256)
        connection = SSHConnection(configuration: configuration)
        answerAtOnce = header & 8 != 0
        acceptPattern = header >> 4
        trace("header: window \(configuration.window), channels \(configuration.maximumChannels), answer at once \(answerAtOnce), pattern \(acceptPattern)")
    }

    // MARK: The client's messages

    mutating func receive(_ bytes: [UInt8]) {
        let payload = ByteBuffer(bytes: bytes)
        let message = try? SSHConnectionMessage(payload: payload)
        trace("<- \(message.map { "\($0)" } ?? "undecodable \(bytes.prefix(16))")")
        let event: SSHConnectionEvent?
        do {
            event = try connection.receive(payload)
        } catch {
            trace("error: \(error)")
            check(error is SSHProtocolError, "receive threw \(type(of: error)), not SSHProtocolError")
            check(connection.failure != nil, "receive threw but the connection is not failed")
            check(connection.failure.map { "\($0)" } == "\(error)", "failure \(String(describing: connection.failure)) is not the thrown \(error)")
            check(connection.takeOutbound().isEmpty, "a failed connection still has payloads to send")
            check((try? connection.receive(payload)) == nil, "a failed connection accepted a message")
            check(connection.channelCount == 0 && connection.unansweredPeerRequests == 0, "a failed connection keeps state")
            isFailed = true
            return
        }
        check(message != nil, "a payload our own decoder refuses was accepted")
        if let message { learn(from: message, event: event) }
        guard let event else { return }
        trace("event: \(event)")
        if case .channelOpenRequest(let channel, _) = event { known.append(channel) }
        if event.needsAnswer {
            pending.append(event)
            if answerAtOnce { answerOldest(accept: nextAnswer()) }
        }
    }

    /// Updates the shadow model with a message the connection accepted.
    mutating func learn(from message: SSHConnectionMessage, event: SSHConnectionEvent?) {
        switch message {
        case .channelOpen(let open):
            if case .channelOpenRequest(let channel, _)? = event {
                register(channel.rawValue, remote: open.senderChannel, window: open.initialWindowSize, packet: open.maximumPacketSize)
            }
        case .channelOpenConfirmation(let confirmation):
            register(confirmation.recipientChannel, remote: confirmation.senderChannel,
                     window: confirmation.initialWindowSize, packet: confirmation.maximumPacketSize)
        case .channelWindowAdjust(let channel, let bytes):
            if let remote = remoteOf[channel] { granted[remote, default: 0] += UInt64(bytes) }
        case .globalRequest(let request):
            if request.wantReply { globalWantReplies += 1 }
        default:
            break
        }
    }

    mutating func register(_ channel: UInt32, remote: UInt32, window: UInt32, packet: UInt32) {
        remoteOf[channel] = remote
        granted[remote, default: 0] += UInt64(window)
        maximumPacket[remote] = max(maximumPacket[remote] ?? 0, packet)
        channelsUsing[remote, default: []].insert(channel)
    }

    // MARK: The caller

    func pick(_ bytes: [UInt8]) -> SSHChannelID {
        let selector = bytes.first ?? 0
        if known.isEmpty || selector == 0xFF { return SSHChannelID(rawValue: UInt32(selector)) }
        return known[Int(selector) % known.count]
    }

    static func argument(_ bytes: [UInt8], _ index: Int) -> Int { index < bytes.count ? Int(bytes[index]) : 0 }

    mutating func act(_ kind: UInt8, _ bytes: [UInt8]) {
        let channel = pick(bytes)
        let b = Self.argument(bytes, 1), c = Self.argument(bytes, 2)
        let wasFailed = connection.failure != nil
        do {
            switch kind % 16 {
            case 1:
                trace("caller: \(b << 8 | c) bytes of data on \(channel)")
                try connection.sendData(ByteBuffer(repeating: 0x44, count: b << 8 | c), on: channel)
            case 2:
                trace("caller: \(b << 8 | c) bytes of stderr on \(channel)")
                try connection.sendExtendedData(ByteBuffer(repeating: 0x45, count: b << 8 | c), on: channel)
            case 3:
                trace("caller: EOF on \(channel)")
                try connection.sendEOF(on: channel)
            case 4:
                trace("caller: close \(channel)\(b & 1 == 1 ? ", discarding queued data" : "")")
                try connection.close(channel, discardingQueuedData: b & 1 == 1)
            case 5:
                trace("caller: consumed \(b << 8 | c) on \(channel)")
                try connection.consumed(b << 8 | c, on: channel)
            case 6:
                let types: [SSHChannelType] = [
                    .forwardedTCPIP(connectedAddress: "127.0.0.1", connectedPort: 8080, originatorAddress: "10.0.0.1", originatorPort: 5000),
                    .forwardedStreamLocal(socketPath: "/tmp/s"), .authAgent, .x11(originatorAddress: "127.0.0.1", originatorPort: 6000),
                    .session,
                ]
                let type = types[b % types.count]
                let opened = try connection.openChannel(type)
                trace("caller: opened \(opened) (\(type.name))")
                known.append(opened)
            case 7:
                let requests: [SSHChannelRequest] = [.exitStatus(UInt32(c)), .exitSignal(SSHExitSignal(signalName: "TERM")), .keepalive, .endOfWrite]
                trace("caller: request \(requests[b % requests.count].name) on \(channel)")
                try connection.sendChannelRequest(requests[b % requests.count], wantReply: c & 1 == 1, on: channel)
            case 8:
                let requests: [SSHGlobalRequest] = [.keepalive, .hostKeys([[1, 2, 3]]), .hostKeysProve([[4]]), .tcpipForward(address: "", port: 0)]
                trace("caller: global request \(requests[b % requests.count].name)")
                try connection.sendGlobalRequest(requests[b % requests.count], wantReply: c & 1 == 1)
            case 9:
                answerOldest(accept: b & 1 == 1)
            case 10:
                while !pending.isEmpty { answerOldest(accept: nextAnswer()) }
            case 11:
                // An answer the caller should not give: a reply on a channel with no request waiting, an accept twice.
                trace("caller: stray answers on \(channel)")
                try? connection.replyToChannelRequest(on: channel, success: b & 1 == 1)
                try? connection.acceptChannelOpen(channel)
                try? connection.replyToGlobalRequest(success: b & 1 == 1, boundPort: b & 2 == 2 ? 1 : nil)
            case 12:
                try connection.deny(.channelOpenRequest(channel, .session))
            default:
                break
            }
        } catch let error as SSHProtocolError {
            trace("caller error: \(error)")
            switch error.kind {
            case .invalidState, .channelLimitReached: break
            default: check(false, "a caller action threw \(error)")
            }
        } catch {
            check(false, "a caller action threw \(type(of: error)): \(error)")
        }
        check(wasFailed || connection.failure == nil, "a caller action failed the connection")
    }

    mutating func nextAnswer() -> Bool {
        defer { answers += 1 }
        return (acceptPattern >> (answers % 4)) & 1 == 1
    }

    /// Answers the oldest event waiting for one: accepting (as a permissive policy would) or denying.
    mutating func answerOldest(accept: Bool) {
        guard !pending.isEmpty else { return }
        let event = pending.removeFirst()
        trace("caller: \(accept ? "accept" : "deny") \(event)")
        do {
            guard accept else {
                try connection.deny(event)
                return
            }
            switch event {
            case .channelOpenRequest(let channel, _):
                try connection.acceptChannelOpen(channel)
            case .channelRequest(let channel, _, _):
                try connection.replyToChannelRequest(on: channel, success: true)
            case .globalRequest(.tcpipForward(_, 0), _):
                try connection.replyToGlobalRequest(.boundPort(40000))
            case .globalRequest(.hostKeysProve(let keys), _):
                try connection.replyToGlobalRequest(.hostKeySignatures(keys.map { _ in [0x53] }))
            case .globalRequest:
                try connection.replyToGlobalRequest(.success)
            default:
                check(false, "\(event) was pending but needs no answer")
            }
        } catch let error as SSHProtocolError {
            // The caller closed the channel of a pending open meanwhile.
            trace("answer error: \(error)")
            guard case .invalidState = error.kind else { check(false, "answering threw \(error)"); return }
        } catch {
            check(false, "answering threw \(type(of: error))")
        }
    }

    // MARK: Checks on what we send

    mutating func drainAndCheck() {
        for payload in connection.takeOutbound() {
            guard let message = try? SSHConnectionMessage(payload: payload) else {
                check(false, "we sent a payload that does not decode: \(payload.readableBytesView.prefix(32))")
                return
            }
            trace("-> \(message)")
            check(message, payload: payload)
        }
        check(connection.channelCount <= connection.configuration.maximumChannels, "\(connection.channelCount) channels")
        check(connection.unansweredPeerRequests >= 0
              && connection.unansweredPeerRequests <= connection.configuration.maximumUnansweredRequests,
              "\(connection.unansweredPeerRequests) unanswered requests")
        for channel in known { check(connection.queuedBytes(on: channel) >= 0, "negative queue on \(channel)") }
    }

    /// Whether the client used `remote` for one channel only, so per-channel order checks apply to it.
    func isUnique(_ remote: UInt32) -> Bool { (channelsUsing[remote]?.count ?? 0) == 1 }

    mutating func check(_ message: SSHConnectionMessage, payload: ByteBuffer) {
        switch message {
        case .channelData(let remote, let data), .channelExtendedData(let remote, _, let data):
            let count = data.readableBytes
            sent[remote, default: 0] += UInt64(count)
            check(count > 0, "empty data message")
            check(count <= Int(maximumPacket[remote] ?? 0), "\(count) bytes to \(remote) beyond its maximum packet \(maximumPacket[remote] ?? 0)")
            check(sent[remote]! <= granted[remote] ?? 0, "\(sent[remote]!) bytes to \(remote), beyond the \(granted[remote] ?? 0) granted")
            if isUnique(remote) {
                check(!eofSent.contains(remote) && !closeSent.contains(remote), "data to \(remote) after our EOF or CLOSE")
            }
        case .channelEOF(let remote):
            if isUnique(remote) {
                check(!eofSent.contains(remote) && !closeSent.contains(remote), "EOF to \(remote) twice or after CLOSE")
            }
            eofSent.insert(remote)
        case .channelClose(let remote):
            if isUnique(remote) { check(!closeSent.contains(remote), "CLOSE to \(remote) twice") }
            closeSent.insert(remote)
        case .channelRequest(let request):
            if isUnique(request.recipientChannel) { check(!closeSent.contains(request.recipientChannel), "a request after our CLOSE") }
        case .channelSuccess(let remote), .channelFailure(let remote), .channelWindowAdjust(let remote, _):
            if isUnique(remote) { check(!closeSent.contains(remote), "\(message) after our CLOSE") }
        case .requestSuccess, .requestFailure:
            globalReplies += 1
            check(globalReplies <= globalWantReplies, "\(globalReplies) global replies to \(globalWantReplies) want-reply requests")
        case .channelOpenConfirmation(let confirmation):
            check(remoteOf[confirmation.senderChannel] == confirmation.recipientChannel, "a confirmation naming the wrong channel")
        case .channelOpen(let open):
            check(open.initialWindowSize == connection.configuration.window.windowSize, "an open with another window")
        case .globalRequest, .channelOpenFailure:
            break
        }
    }

    /// Still open at the end: what a caller does on shutdown must not trap either.
    mutating func finish() {
        guard !isFailed else { return }
        while !pending.isEmpty { answerOldest(accept: false) }
        for channel in known {
            do {
                try connection.close(channel, discardingQueuedData: true)
            } catch {
                check(false, "close on shutdown threw \(error)")
            }
        }
        drainAndCheck()
        check(connection.failure == nil, "shutdown failed the connection")
    }

    func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("connection invariant failed: \(message())") }
    }
}

let tracing = getenv("FUZZ_TRACE").map { String(cString: $0) == "1" } ?? false

func trace(_ line: @autoclosure () -> String) {
    if tracing { print(line()) }
}
