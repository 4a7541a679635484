// Channel flow control (RFC 4254 §5.2): the window we grant the peer, checked on every data message and
// topped up as the caller consumes, and the window the peer grants us. `SSHChannelWindowPolicy` is the one place
// that decides window sizes, their growth while the reader keeps up (as HPN-SSH does) and when a WINDOW_ADJUST goes out.

/// The receive window and packet size we offer on each channel, how far the window may grow, and when consumed
/// bytes are given back.
public struct SSHChannelWindowPolicy: Sendable, Hashable {
    /// Initial window, in bytes of channel data. Default 2 MiB, as OpenSSH (CHAN_SES_WINDOW_DEFAULT).
    public var windowSize: UInt32
    /// Largest data (or extended data) the peer may put in one message. Default 128 KiB (OpenSSH offers 32 KiB):
    /// fewer, larger packets cost less per byte, and the transport allows 256 KiB packets.
    public var maximumPacketSize: UInt32
    /// The window doubles, up to this, at each adjustment while our reader keeps up (a fast sender on a long path
    /// would otherwise wait a round trip for every WINDOW_ADJUST). Default 16 MiB; equal to `windowSize`
    /// keeps the window fixed. It bounds what an unread channel can hold in memory, as `windowSize` does at first.
    public var maximumWindowSize: UInt32

    /// Creates a policy; a `maximumWindowSize` below `windowSize` is raised to it.
    ///
    /// - Parameters:
    ///   - windowSize: The initial window, in bytes.
    ///   - maximumPacketSize: The largest data message the peer may send.
    ///   - maximumWindowSize: How far the window may grow.
    public init(windowSize: UInt32 = 2 * 1024 * 1024, maximumPacketSize: UInt32 = 128 * 1024,
                maximumWindowSize: UInt32 = 16 * 1024 * 1024) {
        self.windowSize = windowSize
        self.maximumPacketSize = maximumPacketSize
        self.maximumWindowSize = max(windowSize, maximumWindowSize)
    }

    /// How much window to give back now, given the bytes the caller consumed since the last WINDOW_ADJUST;
    /// nil to wait. Policy: once at least half the window has been consumed, give all of it back, so adjusts are
    /// rare (one per window/2 bytes) and the peer never stalls while the reader keeps up.
    func windowAdjustment(consumedSinceLastAdjustment consumed: UInt32, window: UInt32) -> UInt32? {
        consumed >= max(1, window / 2) ? consumed : nil
    }

    /// The window after an adjustment: doubled while the reader keeps up (under a quarter of the window delivered
    /// and unread when half of it has been consumed). The receiver cannot see whether the sender waited for the
    /// adjustment (that depends on the path's round trip), so a reader that keeps up is the signal; the maximum
    /// bounds what it costs if the reader stops later.
    func grownWindow(_ window: UInt32, unread: UInt32) -> UInt32 {
        guard window < maximumWindowSize, unread < window / 4 else { return window }
        return UInt32(min(UInt64(window) * 2, UInt64(maximumWindowSize)))
    }
}

/// Our side of one channel's inbound flow: what the peer may still send, and what the caller still holds.
struct InboundWindow: Sendable {
    let policy: SSHChannelWindowPolicy
    /// Bytes the peer may still send before our next WINDOW_ADJUST.
    private(set) var remaining: UInt32
    /// Bytes delivered to the caller and not yet reported as consumed.
    private(set) var unconsumed: UInt32 = 0
    /// Bytes consumed since the last WINDOW_ADJUST.
    private(set) var consumedSinceAdjustment: UInt32 = 0

    /// The window the peer is granted in total (remaining + unconsumed + consumedSinceAdjustment); grows per policy.
    private(set) var window: UInt32

    init(policy: SSHChannelWindowPolicy) {
        self.policy = policy
        remaining = policy.windowSize
        window = policy.windowSize
    }

    /// Accounts for `count` bytes of data from the peer. Beyond our window or our maximum packet size is a
    /// protocol error (OpenSSH allows 10% over the window; we allow nothing: our peers must not need it).
    /// `delivered` is false for data the caller will never see (after it closed the channel).
    mutating func receive(_ count: Int, channel: UInt32, delivered: Bool) throws {
        guard count <= Int(policy.maximumPacketSize) else {
            throw SSHProtocolError(.channelPacketTooLarge(channel: channel, bytes: count, maximum: policy.maximumPacketSize))
        }
        guard count <= Int(remaining) else {
            throw SSHProtocolError(.channelWindowExceeded(channel: channel, bytes: count, window: remaining))
        }
        remaining -= UInt32(count)
        if delivered { unconsumed += UInt32(count) }
    }

    /// The caller consumed `count` delivered bytes; returns the WINDOW_ADJUST to send now, if the policy says so.
    mutating func consume(_ count: Int) throws -> UInt32? {
        guard count >= 0, count <= Int(unconsumed) else {
            throw SSHProtocolError(.invalidState("consumed \(count) bytes, but only \(unconsumed) were delivered and not yet consumed"))
        }
        unconsumed -= UInt32(count)
        consumedSinceAdjustment += UInt32(count)
        guard let adjustment = policy.windowAdjustment(consumedSinceLastAdjustment: consumedSinceAdjustment, window: window) else { return nil }
        consumedSinceAdjustment -= adjustment
        let grown = policy.grownWindow(window, unread: unconsumed)
        let growth = grown - window
        window = grown
        remaining += adjustment + growth
        return adjustment + growth
    }
}
