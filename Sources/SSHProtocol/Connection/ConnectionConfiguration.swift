// Settings, channel identifiers and events of the connection-protocol state machine (SSHConnection, RFC 4254).
import NIOCore

/// Settings of one side of the connection protocol.
public struct SSHConnectionConfiguration: Sendable, Hashable {
    /// Which end of the connection we are; it decides which channel types the peer may open (RFC 4254 §6.1:
    /// a client refuses "session" from a server; a server refuses "forwarded-tcpip", "x11", ... from a client).
    public enum Role: Sendable, Hashable {
        /// The client: it opens sessions and may be offered forwarded connections.
        case client
        /// The server: it accepts sessions and forwarding requests, as its caller's policy allows.
        case server

        var peer: Role { self == .client ? .server : .client }
    }

    /// Which end we are.
    public var role: Role
    /// Our receive window and maximum packet size per channel, and the WINDOW_ADJUST policy.
    public var window: SSHChannelWindowPolicy
    /// Channels at once on this connection, ours and the peer's, including opens not yet answered. The peer's
    /// opens beyond it are refused with OPEN_FAILURE "resource shortage"; ours throw `.channelLimitReached`.
    /// Default 1024: a forward carries one channel per connection (100 tunnels at once are ordinary), and each
    /// channel holds at most its window of unread data. OpenSSH's own cap is 16384.
    public var maximumChannels: Int
    /// Want-reply requests from the peer (global and channel) whose reply has not gone out yet, because the
    /// caller has not answered them or an earlier one. More than this ends the connection: a peer that floods
    /// requests faster than we answer would otherwise grow the queue without bound. Default 256.
    public var maximumUnansweredRequests: Int

    /// Creates a configuration. Defaults: 2 MiB windows growing to 16 MiB while the reader keeps up, 128 KiB packets, 64 channels, 256
    /// unanswered requests.
    ///
    /// - Parameters:
    ///   - role: Which end we are.
    ///   - window: Our window policy per channel.
    ///   - maximumChannels: Channels at once, ours and the peer's.
    ///   - maximumUnansweredRequests: Want-reply requests from the peer that may wait for our answer.
    public init(role: Role, window: SSHChannelWindowPolicy = SSHChannelWindowPolicy(), maximumChannels: Int = 1024,
                maximumUnansweredRequests: Int = 256) {
        self.role = role
        self.window = window
        self.maximumChannels = maximumChannels
        self.maximumUnansweredRequests = maximumUnansweredRequests
    }
}

/// Our number for a channel (the "sender channel" we gave the peer). Numbers are not reused until 2^32 channels
/// later, so an identifier held after its channel closed never names another channel.
public struct SSHChannelID: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The channel number as sent.
    public var rawValue: UInt32
    /// Wraps a channel number.
    ///
    /// - Parameter rawValue: The number.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// "channel N", for messages.
    public var description: String { "channel \(rawValue)" }
}

/// What a received message means for the caller. Events marked "answer" wait for the caller: every one must be
/// answered (accepted or refused), and replies go out in the order the events came. `SSHConnection.deny(_:)`
/// answers any event with the refusal, which is the right default.
public enum SSHConnectionEvent: Sendable, Equatable {
    /// Answer: the peer wants to open a channel. `acceptChannelOpen(_:)` or `rejectChannelOpen(_:reason:description:)`.
    case channelOpenRequest(SSHChannelID, SSHChannelType)
    /// The peer confirmed a channel we opened; its window is known and queued data is on its way.
    case channelOpened(SSHChannelID)
    /// The peer refused a channel we opened; the channel is gone.
    case channelOpenFailed(SSHChannelID, reason: SSHChannelOpenFailureReason, description: String)
    /// Channel data. Report it with `consumed(_:on:)` once it has been used, or the peer's window runs dry.
    case data(SSHChannelID, ByteBuffer)
    /// Extended data (stderr). Report it with `consumed(_:on:)` too: it shares the window.
    case extendedData(SSHChannelID, SSHExtendedDataType, ByteBuffer)
    /// The peer will send no more data on the channel (it may still send requests, e.g. exit-status).
    case eof(SSHChannelID)
    /// Both sides have closed the channel; it is gone, and this is the last event for it.
    case closed(SSHChannelID)
    /// The peer gave us more window; queued data has been sent as far as it allows (`queuedBytes(on:)`).
    case windowAdjusted(SSHChannelID)
    /// A channel request. Answer (`replyToChannelRequest(on:success:)`) when `wantReply` is true.
    case channelRequest(SSHChannelID, SSHChannelRequest, wantReply: Bool)
    /// The peer's reply to one of our want-reply channel requests (replies come in the order we asked).
    case channelRequestReply(SSHChannelID, SSHChannelRequest, success: Bool)
    /// A global request. Answer (`replyToGlobalRequest(_:)`) when `wantReply` is true.
    case globalRequest(SSHGlobalRequest, wantReply: Bool)
    /// The peer's reply to one of our want-reply global requests (in the order we asked).
    case globalRequestReply(SSHGlobalRequest, SSHGlobalRequestResponse)

    /// Whether the caller must answer this event.
    public var needsAnswer: Bool {
        switch self {
        case .channelOpenRequest: true
        case .channelRequest(_, _, let wantReply), .globalRequest(_, let wantReply): wantReply
        default: false
        }
    }
}
