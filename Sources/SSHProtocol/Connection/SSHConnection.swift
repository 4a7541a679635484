// The connection protocol (RFC 4254) as an I/O-free state machine, for client and server alike: channels
// (§5.1 open/confirm/refuse, §5.2 windows and data, §5.3 EOF and close, §5.4 requests) and global requests (§4).
// Messages from the transport go in with `receive(_:)`, which returns at most one event for the caller; what we
// send accumulates until `takeOutbound()`, and each payload goes to `SSHTransport.send(_:)` in order.
//
// Contract with the caller:
// - Policy is the caller's: channel opens and want-reply requests come out as events and wait for an answer.
//   Things no caller could want are answered here: unknown channel types, types the peer's role may not open,
//   opens beyond `maximumChannels`, and unknown requests (FAILURE when a reply is wanted).
// - A protocol violation by the peer makes `receive(_:)` throw an `SSHProtocolError`; the connection is then
//   failed (every later call throws) and the caller ends the transport with
//   `disconnect(reason: error.disconnectReason, description: error.description)`.
// - Misuse by the caller (data after our EOF, a reply nobody asked for) throws `.invalidState` and changes nothing.
// - Channel data we are asked to send is never dropped and never exceeds the peer's window or maximum packet:
//   what does not fit waits per channel (`queuedBytes(on:)`), and the caller stops producing when that grows
//   past its limit. Data the peer sends is checked against our window; the caller gives window back with
//   `consumed(_:on:)`.
import NIOCore
import SSHWire

/// The connection protocol (RFC 4254) for one side, without I/O: feed the peer's connection-layer payloads to
/// `receive(_:)`, act on the events, call the operations (open, send, close, requests) and send what
/// `takeOutbound()` returns through the transport. Violations throw `SSHProtocolError` and fail the connection.
public struct SSHConnection: Sendable {
    /// Our role, windows and limits.
    public let configuration: SSHConnectionConfiguration
    /// Why the connection failed, once `receive(_:)` has thrown.
    public private(set) var failure: SSHProtocolError?

    /// The largest data we put in one message, whatever the peer allows: a 256 KiB packet (the limit of OpenSSH's
    /// and our transport) minus headers and padding.
    static let largestDataChunk: UInt32 = 256 * 1024 - 1024

    private var channels: [UInt32: Channel] = [:]
    private var nextLocalID: UInt32
    private var outbound: [ByteBuffer] = []
    /// The peer's want-reply global requests, oldest first; `response` is nil until the caller answers.
    private var peerGlobalRequests: [(request: SSHGlobalRequest, response: SSHGlobalRequestResponse?)] = []
    /// Our want-reply global requests, oldest first.
    private var ourGlobalRequests = CircularBuffer<SSHGlobalRequest>()
    /// Want-reply requests from the peer whose reply has not gone out (global and all channels).
    public private(set) var unansweredPeerRequests = 0
    private var peerSentNoMoreSessions = false

    /// A connection with no channels yet.
    ///
    /// - Parameter configuration: Our role, windows and limits.
    public init(configuration: SSHConnectionConfiguration) {
        self.init(configuration: configuration, firstChannelID: 0)
    }

    /// Starts channel numbering at `firstChannelID`, so tests can see numbering wrap around.
    @_spi(Testing) public init(configuration: SSHConnectionConfiguration, firstChannelID: UInt32) {
        self.configuration = configuration
        nextLocalID = firstChannelID
    }

    /// The number the next channel is tried with; tests move it to where a long-lived connection would be.
    @_spi(Testing) public var nextChannelNumber: UInt32 {
        get { nextLocalID }
        set { nextLocalID = newValue }
    }

    // MARK: State of one channel

    private struct QueuedData: Sendable {
        var type: SSHExtendedDataType?
        var data: ByteBuffer
    }

    private struct Channel: Sendable {
        enum State: Sendable {
            /// We sent CHANNEL_OPEN; waiting for confirmation or failure.
            case opening
            /// The peer sent CHANNEL_OPEN; waiting for the caller to accept or reject.
            case awaitingAcceptance
            /// Confirmed both ways.
            case open
        }

        var state: State
        var remoteID: UInt32 = 0
        var inbound: InboundWindow
        /// Bytes we may still send (the peer's window).
        var peerWindow: UInt32 = 0
        var peerMaximumPacket: UInt32 = 0
        var queue = CircularBuffer<QueuedData>()
        var queuedBytes = 0
        var eofRequested = false
        var eofSent = false
        var eofReceived = false
        /// The caller closed the channel: CLOSE goes out once queued data (and EOF) has; from now on the only
        /// event for the channel is `.closed`.
        var closeRequested = false
        var closeSent = false
        /// The peer's want-reply requests, oldest first: nil until answered (unknown requests are answered false).
        var peerRequests: [Bool?] = []
        /// Our want-reply requests, oldest first.
        var ourRequests = CircularBuffer<SSHChannelRequest>()

        /// Sends queued data as far as the peer's window and packet size allow, then EOF and CLOSE when asked for
        /// and nothing is left (RFC 4254 §5.3: data before EOF, nothing after CLOSE).
        mutating func flush(into outbound: inout [ByteBuffer]) {
            guard state == .open, !closeSent else { return }
            let packetLimit = min(peerMaximumPacket, SSHConnection.largestDataChunk)
            while !queue.isEmpty {
                let chunk = Int(min(peerWindow, packetLimit))
                if chunk == 0 { break }
                let head = queue.startIndex
                let count = min(chunk, queue[head].data.readableBytes)
                guard var slice = queue[head].data.readSlice(length: count) else { break }
                let type = queue[head].type
                if queue[head].data.readableBytes == 0 { _ = queue.removeFirst() }
                queuedBytes -= count
                peerWindow -= UInt32(count)
                var payload = ByteBuffer()
                payload.reserveCapacity(count + 13)
                if let type {
                    payload.writeSSHByte(SSHMessageNumber.channelExtendedData)
                    payload.writeSSHUInt32(remoteID)
                    payload.writeSSHUInt32(type.rawValue)
                } else {
                    payload.writeSSHByte(SSHMessageNumber.channelData)
                    payload.writeSSHUInt32(remoteID)
                }
                payload.writeSSHUInt32(UInt32(count))
                payload.writeBuffer(&slice)
                outbound.append(payload)
            }
            guard queue.isEmpty else { return }
            if eofRequested && !eofSent {
                eofSent = true
                outbound.append(SSHConnectionMessage.channelEOF(recipientChannel: remoteID).payload)
            }
            if closeRequested {
                closeSent = true
                outbound.append(SSHConnectionMessage.channelClose(recipientChannel: remoteID).payload)
            }
        }

        /// Sends the answered replies at the head of the peer's requests, in order.
        mutating func flushReplies(into outbound: inout [ByteBuffer], unanswered: inout Int) {
            var sent = 0
            while sent < peerRequests.count, let success = peerRequests[sent] {
                sent += 1
                let reply: SSHConnectionMessage = success ? .channelSuccess(recipientChannel: remoteID) : .channelFailure(recipientChannel: remoteID)
                outbound.append(reply.payload)
            }
            if sent > 0 {
                peerRequests.removeFirst(sent)
                unanswered -= sent
            }
        }
    }

    // MARK: Queries

    /// Channels on this connection (ours and the peer's, open or being opened).
    public var channelCount: Int { channels.count }

    /// Whether `channel` exists (it has not been refused, failed or closed both ways).
    ///
    /// - Parameter channel: Our number for the channel.
    /// - Returns: True until the channel is refused, fails or has closed both ways.
    public func isActive(_ channel: SSHChannelID) -> Bool { channels[channel.rawValue] != nil }

    /// Bytes given to `sendData`/`sendExtendedData` that wait for the peer's window (0 for a channel that is gone).
    /// A caller that reads from a source stops reading while this is above its limit, and resumes on
    /// `.windowAdjusted`.
    ///
    /// - Parameter channel: Our number for the channel.
    /// - Returns: The bytes waiting to be sent.
    public func queuedBytes(on channel: SSHChannelID) -> Int { channels[channel.rawValue]?.queuedBytes ?? 0 }

    /// Bytes we may still send on `channel` before the peer must adjust its window (nil for a channel that is gone).
    ///
    /// - Parameter channel: Our number for the channel.
    /// - Returns: The peer's remaining window, or nil.
    public func sendWindow(on channel: SSHChannelID) -> UInt32? { channels[channel.rawValue]?.peerWindow }

    /// Bytes the peer may still send on `channel` before we adjust our window (nil for a channel that is gone).
    ///
    /// - Parameter channel: Our number for the channel.
    /// - Returns: Our remaining window, or nil.
    public func receiveWindow(on channel: SSHChannelID) -> UInt32? { channels[channel.rawValue]?.inbound.remaining }

    /// Payloads to hand to the transport, in order, since the last call.
    ///
    /// - Returns: Payloads for ``SSHTransport/send(_:)``; empty when there is nothing to send.
    public mutating func takeOutbound() -> [ByteBuffer] {
        guard !outbound.isEmpty else { return [] }
        defer { outbound = [] }
        return outbound
    }

    // MARK: Receiving

    /// Handles one message from the peer (a transport `.message` payload numbered 80–100) and returns what the
    /// caller needs to know, if anything. Throws `SSHProtocolError` for a protocol violation (see the file header).
    ///
    /// - Parameter payload: A connection-protocol message, message number first.
    /// - Returns: The event, or nil when the message needs nothing from the caller (e.g. an answer the connection gave itself).
    /// - Throws: ``SSHProtocolError``: ``SSHProtocolError/Kind/protocolViolation(_:)``, ``SSHProtocolError/Kind/unknownChannel(_:)``,
    ///   ``SSHProtocolError/Kind/channelWindowExceeded(channel:bytes:window:)``,
    ///   ``SSHProtocolError/Kind/channelPacketTooLarge(channel:bytes:maximum:)`` or
    ///   ``SSHProtocolError/Kind/tooManyPendingRequests(limit:)``. After a throw, every call fails.
    public mutating func receive(_ payload: ByteBuffer) throws -> SSHConnectionEvent? {
        try requireNotFailed()
        do {
            return try handle(SSHConnectionMessage(payload: payload))
        } catch let error as SSHProtocolError {
            fail(error)
            throw error
        } catch {
            let failure = SSHProtocolError(.protocolViolation("\(error)"))
            fail(failure)
            throw failure
        }
    }

    private mutating func fail(_ error: SSHProtocolError) {
        failure = error
        channels.removeAll()
        outbound.removeAll()
        peerGlobalRequests.removeAll()
        ourGlobalRequests.removeAll()
        unansweredPeerRequests = 0
    }

    private func requireNotFailed() throws {
        if let failure { throw SSHProtocolError(.invalidState("the connection has failed (\(failure))")) }
    }

    private mutating func handle(_ message: SSHConnectionMessage) throws -> SSHConnectionEvent? {
        switch message {
        case .globalRequest(let message):
            return try handleGlobalRequest(message)
        case .requestSuccess(let data):
            guard let request = ourGlobalRequests.popFirst() else {
                throw SSHProtocolError(.protocolViolation("REQUEST_SUCCESS, but no global request of ours waits for a reply"))
            }
            return .globalRequestReply(request, try SSHGlobalRequestResponse(successData: data, answering: request))
        case .requestFailure:
            guard let request = ourGlobalRequests.popFirst() else {
                throw SSHProtocolError(.protocolViolation("REQUEST_FAILURE, but no global request of ours waits for a reply"))
            }
            return .globalRequestReply(request, .failure)
        case .channelOpen(let message):
            return try handleChannelOpen(message)
        case .channelOpenConfirmation(let message):
            let id = message.recipientChannel
            let channel = try channelWaitingForOpenReply(id, "CHANNEL_OPEN_CONFIRMATION")
            channels[id]?.state = .open
            channels[id]?.remoteID = message.senderChannel
            channels[id]?.peerWindow = message.initialWindowSize
            channels[id]?.peerMaximumPacket = message.maximumPacketSize
            channels[id]?.flush(into: &outbound)
            return channel.closeRequested ? nil : .channelOpened(SSHChannelID(rawValue: id))
        case .channelOpenFailure(let message):
            let id = message.recipientChannel
            let channel = try channelWaitingForOpenReply(id, "CHANNEL_OPEN_FAILURE")
            remove(id)
            return channel.closeRequested
                ? .closed(SSHChannelID(rawValue: id))
                : .channelOpenFailed(SSHChannelID(rawValue: id), reason: message.reason, description: message.description)
        case .channelWindowAdjust(let id, let bytes):
            let channel = try establishedChannel(id, "CHANNEL_WINDOW_ADJUST")
            let (window, overflow) = channel.peerWindow.addingReportingOverflow(bytes)
            guard !overflow else {
                throw SSHProtocolError(.protocolViolation(
                    "channel \(id): a window adjust of \(bytes) bytes takes the window past 2^32-1 (RFC 4254 §5.2)"))
            }
            channels[id]?.peerWindow = window
            channels[id]?.flush(into: &outbound)
            return channel.closeRequested ? nil : .windowAdjusted(SSHChannelID(rawValue: id))
        case .channelData(let id, let data):
            return try handleData(id, type: nil, data)
        case .channelExtendedData(let id, let type, let data):
            return try handleData(id, type: type, data)
        case .channelEOF(let id):
            let channel = try establishedChannel(id, "CHANNEL_EOF")
            channels[id]?.eofReceived = true
            // A second EOF says nothing new; RFC 4254 does not forbid it and OpenSSH only logs it.
            return channel.eofReceived || channel.closeRequested ? nil : .eof(SSHChannelID(rawValue: id))
        case .channelClose(let id):
            let channel = try establishedChannel(id, "CHANNEL_CLOSE")
            if !channel.closeSent {
                // RFC 4254 §5.3: answer with CLOSE. Data still queued cannot reach a peer that has closed.
                outbound.append(SSHConnectionMessage.channelClose(recipientChannel: channel.remoteID).payload)
            }
            remove(id)
            return .closed(SSHChannelID(rawValue: id))
        case .channelRequest(let message):
            return try handleChannelRequest(message)
        case .channelSuccess(let id):
            return try handleChannelReply(id, success: true)
        case .channelFailure(let id):
            return try handleChannelReply(id, success: false)
        }
    }

    private mutating func handleGlobalRequest(_ message: SSHGlobalRequestMessage) throws -> SSHConnectionEvent? {
        if message.wantReply {
            try countUnansweredRequest()
            peerGlobalRequests.append((message.request, message.request.isUnknown ? .failure : nil))
        }
        if case .noMoreSessions = message.request { peerSentNoMoreSessions = true }
        if message.request.isUnknown {
            flushGlobalReplies()
            return nil
        }
        return .globalRequest(message.request, wantReply: message.wantReply)
    }

    private mutating func handleChannelOpen(_ message: SSHChannelOpenMessage) throws -> SSHConnectionEvent? {
        let type = message.channelType
        guard type.mayBeOpened(by: configuration.role.peer) else {
            refuseOpen(message.senderChannel, .unknownChannelType, "unknown channel type \(type.name)")
            return nil
        }
        if case .session = type, peerSentNoMoreSessions {
            // OpenSSH's sshd disconnects here too: the client promised not to, so someone else is talking.
            throw SSHProtocolError(.protocolViolation("a session channel was opened after no-more-sessions@openssh.com"))
        }
        guard channels.count < configuration.maximumChannels else {
            refuseOpen(message.senderChannel, .resourceShortage, "too many channels (at most \(configuration.maximumChannels))")
            return nil
        }
        let id = allocateChannelID()
        var channel = Channel(state: .awaitingAcceptance, inbound: InboundWindow(policy: configuration.window))
        channel.remoteID = message.senderChannel
        channel.peerWindow = message.initialWindowSize
        channel.peerMaximumPacket = message.maximumPacketSize
        channels[id] = channel
        return .channelOpenRequest(SSHChannelID(rawValue: id), type)
    }

    private mutating func refuseOpen(_ senderChannel: UInt32, _ reason: SSHChannelOpenFailureReason, _ description: String) {
        let failure = SSHChannelOpenFailureMessage(recipientChannel: senderChannel, reason: reason, description: description)
        outbound.append(SSHConnectionMessage.channelOpenFailure(failure).payload)
    }

    private mutating func handleData(_ id: UInt32, type: SSHExtendedDataType?, _ data: ByteBuffer) throws -> SSHConnectionEvent? {
        let channel = try establishedChannel(id, type == nil ? "CHANNEL_DATA" : "CHANNEL_EXTENDED_DATA")
        guard !channel.eofReceived else {
            throw SSHProtocolError(.protocolViolation("channel \(id): data after the peer's EOF"))
        }
        try channels[id]?.inbound.receive(data.readableBytes, channel: id, delivered: !channel.closeRequested)
        if channel.closeRequested || data.readableBytes == 0 { return nil }
        if let type { return .extendedData(SSHChannelID(rawValue: id), type, data) }
        return .data(SSHChannelID(rawValue: id), data)
    }

    private mutating func handleChannelRequest(_ message: SSHChannelRequestMessage) throws -> SSHConnectionEvent? {
        let id = message.recipientChannel
        let channel = try establishedChannel(id, "CHANNEL_REQUEST")
        if channel.closeRequested { return nil }  // We will not answer after our CLOSE; the peer expects none.
        if message.wantReply {
            try countUnansweredRequest()
            channels[id]?.peerRequests.append(message.request.isUnknown ? false : nil)
        }
        if message.request.isUnknown {
            channels[id]?.flushReplies(into: &outbound, unanswered: &unansweredPeerRequests)
            return nil
        }
        return .channelRequest(SSHChannelID(rawValue: id), message.request, wantReply: message.wantReply)
    }

    private mutating func handleChannelReply(_ id: UInt32, success: Bool) throws -> SSHConnectionEvent? {
        let channel = try establishedChannel(id, success ? "CHANNEL_SUCCESS" : "CHANNEL_FAILURE")
        if channel.closeRequested { return nil }
        guard let request = channels[id]?.ourRequests.popFirst() else {
            throw SSHProtocolError(.protocolViolation(
                "channel \(id): \(success ? "CHANNEL_SUCCESS" : "CHANNEL_FAILURE"), but no request of ours waits for a reply"))
        }
        return .channelRequestReply(SSHChannelID(rawValue: id), request, success: success)
    }

    private mutating func countUnansweredRequest() throws {
        guard unansweredPeerRequests < configuration.maximumUnansweredRequests else {
            throw SSHProtocolError(.tooManyPendingRequests(limit: configuration.maximumUnansweredRequests))
        }
        unansweredPeerRequests += 1
    }

    /// The channel a confirmation or failure names: one we opened and the peer has not answered.
    private func channelWaitingForOpenReply(_ id: UInt32, _ name: String) throws -> Channel {
        guard let channel = channels[id] else { throw SSHProtocolError(.unknownChannel(id)) }
        guard channel.state == .opening else {
            throw SSHProtocolError(.protocolViolation("\(name) for channel \(id), which is not waiting for one"))
        }
        return channel
    }

    /// The channel a data, EOF, CLOSE, request or reply message names: it must be confirmed both ways.
    private func establishedChannel(_ id: UInt32, _ name: String) throws -> Channel {
        guard let channel = channels[id] else { throw SSHProtocolError(.unknownChannel(id)) }
        guard channel.state == .open else {
            throw SSHProtocolError(.protocolViolation("\(name) for channel \(id) before it was confirmed"))
        }
        return channel
    }

    private mutating func remove(_ id: UInt32) {
        if let channel = channels.removeValue(forKey: id) {
            unansweredPeerRequests -= channel.peerRequests.count
        }
    }

    /// The next free number: counting up (wrapping at 2^32) and skipping numbers in use, so a number is reused
    /// only after both CLOSEs passed and four billion other channels. Called only below `maximumChannels`.
    private mutating func allocateChannelID() -> UInt32 {
        while channels[nextLocalID] != nil { nextLocalID &+= 1 }
        defer { nextLocalID &+= 1 }
        return nextLocalID
    }

    // MARK: Channels, our side

    /// Opens a channel of `type` with our window and packet size. Data may be queued at once; it goes out when
    /// the peer confirms (`.channelOpened`) or is dropped if it refuses (`.channelOpenFailed`).
    ///
    /// - Parameter type: The channel type, e.g. ``SSHChannelType/session``.
    /// - Returns: Our number for the new channel.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/channelLimitReached(limit:)`` when the connection has
    ///   its maximum of channels (nothing is sent), or ``SSHProtocolError/Kind/invalidState(_:)`` after a failure.
    public mutating func openChannel(_ type: SSHChannelType) throws -> SSHChannelID {
        try requireNotFailed()
        guard channels.count < configuration.maximumChannels else {
            throw SSHProtocolError(.channelLimitReached(limit: configuration.maximumChannels))
        }
        let id = allocateChannelID()
        channels[id] = Channel(state: .opening, inbound: InboundWindow(policy: configuration.window))
        let open = SSHChannelOpenMessage(channelType: type, senderChannel: id, initialWindowSize: configuration.window.windowSize,
                                         maximumPacketSize: configuration.window.maximumPacketSize)
        outbound.append(SSHConnectionMessage.channelOpen(open).payload)
        return SSHChannelID(rawValue: id)
    }

    /// Accepts the peer's channel open (`.channelOpenRequest`) with our window and packet size.
    ///
    /// - Parameter channel: The channel from the event.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when no open waits under that number.
    public mutating func acceptChannelOpen(_ channel: SSHChannelID) throws {
        let (id, remoteID) = try channelAwaitingAcceptance(channel)
        channels[id]?.state = .open
        let confirmation = SSHChannelOpenConfirmationMessage(
            recipientChannel: remoteID, senderChannel: id,
            initialWindowSize: configuration.window.windowSize, maximumPacketSize: configuration.window.maximumPacketSize)
        outbound.append(SSHConnectionMessage.channelOpenConfirmation(confirmation).payload)
    }

    /// Refuses the peer's channel open (`.channelOpenRequest`) with an RFC 4254 §5.1 reason; the number is freed.
    ///
    /// - Parameters:
    ///   - channel: The channel from the event.
    ///   - reason: The reason code.
    ///   - description: Text for a person.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when no open waits under that number.
    public mutating func rejectChannelOpen(_ channel: SSHChannelID, reason: SSHChannelOpenFailureReason = .administrativelyProhibited,
                                           description: String = "") throws {
        let (id, remoteID) = try channelAwaitingAcceptance(channel)
        remove(id)
        refuseOpen(remoteID, reason, description)
    }

    /// Our number and the peer's for a channel the peer asked to open and that waits for our answer.
    private func channelAwaitingAcceptance(_ channel: SSHChannelID) throws -> (id: UInt32, remoteID: UInt32) {
        try requireNotFailed()
        guard let waiting = channels[channel.rawValue], waiting.state == .awaitingAcceptance else {
            throw SSHProtocolError(.invalidState("\(channel) has no open request waiting for an answer"))
        }
        return (channel.rawValue, waiting.remoteID)
    }

    /// Queues channel data; it goes out in messages no larger than the peer's maximum packet, never beyond its
    /// window. What does not fit waits (`queuedBytes(on:)`). Not after `sendEOF` or `close`.
    ///
    /// - Parameters:
    ///   - data: The bytes to send.
    ///   - channel: Our number for the channel.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` for a channel that is not open, is
    ///   closing, or has sent EOF.
    public mutating func sendData(_ data: ByteBuffer, on channel: SSHChannelID) throws {
        try enqueue(data, type: nil, on: channel)
    }

    /// Queues extended data (stderr by default), in order with the channel's data and sharing its window.
    ///
    /// - Parameters:
    ///   - data: The bytes to send.
    ///   - type: The data type code.
    ///   - channel: Our number for the channel.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)``, as ``sendData(_:on:)`` does.
    public mutating func sendExtendedData(_ data: ByteBuffer, type: SSHExtendedDataType = .stderr, on channel: SSHChannelID) throws {
        try enqueue(data, type: type, on: channel)
    }

    private mutating func enqueue(_ data: ByteBuffer, type: SSHExtendedDataType?, on channel: SSHChannelID) throws {
        let id = try usableChannel(channel, for: "send data")
        guard channels[id]?.eofRequested == false else {
            throw SSHProtocolError(.invalidState("\(channel): data after our EOF"))
        }
        guard data.readableBytes > 0 else { return }
        channels[id]?.queue.append(QueuedData(type: type, data: data))
        channels[id]?.queuedBytes += data.readableBytes
        channels[id]?.flush(into: &outbound)
    }

    /// Sends EOF once the queued data has gone (RFC 4254 §5.3). The peer may go on sending; a second call does nothing.
    ///
    /// - Parameter channel: Our number for the channel.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` for a channel that is not open or is closing.
    public mutating func sendEOF(on channel: SSHChannelID) throws {
        let id = try usableChannel(channel, for: "send EOF")
        channels[id]?.eofRequested = true
        channels[id]?.flush(into: &outbound)
    }

    /// Closes a channel: CLOSE goes out after the queued data (and EOF, if asked for), or at once with
    /// `discardingQueuedData`. From now on the only event for the channel is `.closed`, when the peer's CLOSE has
    /// come too. A channel we opened and the peer has not confirmed is closed as soon as it is. A peer's open the
    /// caller has not answered is refused. Closing a channel that is closing or gone does nothing.
    ///
    /// - Parameters:
    ///   - channel: Our number for the channel.
    ///   - discardingQueuedData: Drop data still waiting for window instead of sending it first.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` after the connection failed.
    public mutating func close(_ channel: SSHChannelID, discardingQueuedData: Bool = false) throws {
        try requireNotFailed()
        let id = channel.rawValue
        guard let state = channels[id]?.state, channels[id]?.closeRequested == false else { return }
        if state == .awaitingAcceptance {
            try rejectChannelOpen(channel, reason: .administrativelyProhibited, description: "closed")
            return
        }
        if discardingQueuedData {
            channels[id]?.queue.removeAll()
            channels[id]?.queuedBytes = 0
        }
        channels[id]?.closeRequested = true
        // Requests we have not answered will not be: nothing may follow our CLOSE.
        unansweredPeerRequests -= channels[id]?.peerRequests.count ?? 0
        channels[id]?.peerRequests.removeAll()
        channels[id]?.flush(into: &outbound)
    }

    /// Sends a channel request. With `wantReply`, the peer's answer comes as `.channelRequestReply`.
    ///
    /// - Parameters:
    ///   - request: The request.
    ///   - wantReply: Whether the peer must answer.
    ///   - channel: Our number for the channel.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` for a channel that is not confirmed or is closing.
    public mutating func sendChannelRequest(_ request: SSHChannelRequest, wantReply: Bool, on channel: SSHChannelID) throws {
        let id = try usableChannel(channel, for: "send a request")
        guard let remoteID = channels[id]?.remoteID, channels[id]?.state == .open else {
            throw SSHProtocolError(.invalidState("\(channel) is not confirmed yet; send requests after .channelOpened"))
        }
        if wantReply { channels[id]?.ourRequests.append(request) }
        let message = SSHChannelRequestMessage(recipientChannel: remoteID, request: request, wantReply: wantReply)
        outbound.append(SSHConnectionMessage.channelRequest(message).payload)
    }

    /// Answers the oldest unanswered want-reply request on `channel` (answer in the order the events came).
    /// Does nothing if the channel has closed meanwhile (the peer no longer expects a reply).
    ///
    /// - Parameters:
    ///   - channel: Our number for the channel.
    ///   - success: SUCCESS or FAILURE.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when no request waits on the channel.
    public mutating func replyToChannelRequest(on channel: SSHChannelID, success: Bool) throws {
        try requireNotFailed()
        let id = channel.rawValue
        guard let requests = channels[id]?.peerRequests, channels[id]?.closeRequested == false else { return }
        guard let index = requests.firstIndex(where: { $0 == nil }) else {
            throw SSHProtocolError(.invalidState("\(channel) has no request waiting for a reply"))
        }
        channels[id]?.peerRequests[index] = success
        channels[id]?.flushReplies(into: &outbound, unanswered: &unansweredPeerRequests)
    }

    /// Reports that the caller has used `bytes` of the data delivered on `channel`; the window goes back to the
    /// peer by the policy in `SSHChannelWindowPolicy`. Does nothing for a channel that is closing or gone.
    ///
    /// - Parameters:
    ///   - bytes: Bytes of data and extended data the caller has finished with.
    ///   - channel: Our number for the channel.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` after the connection failed.
    public mutating func consumed(_ bytes: Int, on channel: SSHChannelID) throws {
        try requireNotFailed()
        let id = channel.rawValue
        guard let state = channels[id]?.state, state == .open, channels[id]?.closeRequested == false else { return }
        guard let adjustment = try channels[id]?.inbound.consume(bytes) else { return }
        // After the peer's EOF no data comes, so the window does not matter any more.
        guard let channel = channels[id], !channel.eofReceived else { return }
        outbound.append(SSHConnectionMessage.channelWindowAdjust(recipientChannel: channel.remoteID, bytesToAdd: adjustment).payload)
    }

    /// The channel for a caller's send, EOF or request: it exists, is ours to use, and is not closing.
    private func usableChannel(_ channel: SSHChannelID, for action: String) throws -> UInt32 {
        try requireNotFailed()
        guard let state = channels[channel.rawValue]?.state else {
            throw SSHProtocolError(.invalidState("cannot \(action): \(channel) is closed"))
        }
        guard state != .awaitingAcceptance else {
            throw SSHProtocolError(.invalidState("cannot \(action): \(channel) has not been accepted yet"))
        }
        guard channels[channel.rawValue]?.closeRequested == false else {
            throw SSHProtocolError(.invalidState("cannot \(action): \(channel) is closing"))
        }
        return channel.rawValue
    }

    // MARK: Global requests

    /// Sends a global request. With `wantReply`, the peer's answer comes as `.globalRequestReply`.
    ///
    /// - Parameters:
    ///   - request: The request.
    ///   - wantReply: Whether the peer must answer.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` after the connection failed.
    public mutating func sendGlobalRequest(_ request: SSHGlobalRequest, wantReply: Bool) throws {
        try requireNotFailed()
        if wantReply { ourGlobalRequests.append(request) }
        outbound.append(SSHConnectionMessage.globalRequest(SSHGlobalRequestMessage(request, wantReply: wantReply)).payload)
    }

    /// Answers the oldest unanswered want-reply global request (answer in the order the events came). A
    /// tcpip-forward for port 0 needs `.boundPort` to succeed.
    ///
    /// - Parameter response: The answer.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when no request waits, or for a
    ///   port-0 tcpip-forward answered with success but no port.
    public mutating func replyToGlobalRequest(_ response: SSHGlobalRequestResponse) throws {
        try requireNotFailed()
        guard let index = peerGlobalRequests.firstIndex(where: { $0.response == nil }) else {
            throw SSHProtocolError(.invalidState("no global request is waiting for a reply"))
        }
        if peerGlobalRequests[index].request.repliesWithBoundPort, response.isSuccess {
            guard case .boundPort = response else {
                throw SSHProtocolError(.invalidState("a tcpip-forward for port 0 succeeds only with the port that was bound"))
            }
        }
        peerGlobalRequests[index].response = response
        flushGlobalReplies()
    }

    /// Answers the oldest unanswered want-reply global request: success or failure, with the bound port for a
    /// tcpip-forward that asked for port 0.
    ///
    /// - Parameters:
    ///   - success: SUCCESS or FAILURE.
    ///   - boundPort: The port bound for a tcpip-forward to port 0.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)``, as ``replyToGlobalRequest(_:)`` does.
    public mutating func replyToGlobalRequest(success: Bool, boundPort: UInt32? = nil) throws {
        try replyToGlobalRequest(success ? boundPort.map { .boundPort($0) } ?? .success : .failure)
    }

    private mutating func flushGlobalReplies() {
        var sent = 0
        while sent < peerGlobalRequests.count, let response = peerGlobalRequests[sent].response {
            outbound.append(response.message.payload)
            sent += 1
        }
        if sent > 0 {
            peerGlobalRequests.removeFirst(sent)
            unansweredPeerRequests -= sent
        }
    }

    // MARK: Deny by default

    /// Answers an event with a refusal: a channel open is rejected ("administratively prohibited"), a want-reply
    /// request gets FAILURE. Events that need no answer are left alone. This is the answer for anything the caller's
    /// policy does not explicitly allow.
    ///
    /// - Parameter event: An event from ``receive(_:)``.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when the event was answered already.
    public mutating func deny(_ event: SSHConnectionEvent) throws {
        switch event {
        case .channelOpenRequest(let channel, _):
            try rejectChannelOpen(channel, reason: .administrativelyProhibited, description: "refused by policy")
        case .channelRequest(let channel, _, wantReply: true):
            try replyToChannelRequest(on: channel, success: false)
        case .globalRequest(_, wantReply: true):
            try replyToGlobalRequest(.failure)
        default:
            break
        }
    }
}

extension SSHChannelType {
    /// Which types a peer may open towards us. RFC 4254 §6.1: a client SHOULD refuse "session" from a server;
    /// each of the others has one direction too (OpenSSH's client and server refuse the rest as unknown).
    func mayBeOpened(by peerRole: SSHConnectionConfiguration.Role) -> Bool {
        switch (self, peerRole) {
        case (.session, .client), (.directTCPIP, .client), (.directStreamLocal, .client): true
        case (.forwardedTCPIP, .server), (.forwardedStreamLocal, .server), (.x11, .server), (.authAgent, .server): true
        default: false
        }
    }
}
