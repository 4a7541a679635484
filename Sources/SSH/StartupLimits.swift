// What a server admits before anyone has authenticated, as sshd's MaxStartups, PerSourceMaxStartups,
// PerSourceNetBlockSize and PerSourcePenalties (OpenSSH 9.8+) define it: unauthenticated connections cost key
// exchanges and memory and prove nothing, so their number is bounded, per source and in all, and a source whose
// connections keep failing authentication, time out or leave without trying is refused for a while.
//
// One departure from sshd, to keep one flooding source from locking everyone out: MaxStartups' random early drop
// (between `start` and `full`) falls only on sources that already have a connection being set up; a source with
// none in progress is admitted until `full`. A flood needs connections in progress, so it is still shed; a user
// arriving during it is not dropped at random. `full` stays a hard cap for everyone.
import NIOCore
import SSHKeys
import SSHProtocol
import Synchronization


/// How a connection admitted as a startup stopped being one, for PerSourcePenalties.
public enum SSHStartupOutcome: Sendable {
    /// It authenticated: no penalty.
    case authenticated
    /// It ended after failed attempts, none successful (authfail).
    case authenticationFailed
    /// It ended without trying to authenticate (noauth).
    case noAuthenticationAttempted
    /// LoginGraceTime ran out (grace-exceeded).
    case graceExceeded
    /// A session's process crashed (crash).
    case crashed
}

/// The live counts and penalties behind `SSHStartupLimits`, shared by every event loop of the servers given it.
///
/// `SSHServer` calls `admit(_:now:)` for each accepted connection and `finished(_:outcome:now:)` when it
/// authenticates or ends. Give one gate to several servers (one per listening address) to count them together.
public final class SSHStartupGate: Sendable {
    struct Source: Hashable {
        var bytes: [UInt8]
        var isIPv6: Bool { bytes.count == 16 }
    }

    private struct Penalty {
        var expiry: ContinuousClock.Instant
        var active: Bool
        var reason: String
    }

    private struct State {
        var startups = 0
        var startupsBySource: [Source: Int] = [:]
        /// Penalties by family (so each family's table size is known without counting).
        var penalties4: [Source: Penalty] = [:]
        var penalties6: [Source: Penalty] = [:]

        subscript(penalty source: Source) -> Penalty? {
            get { source.isIPv6 ? penalties6[source] : penalties4[source] }
            set { if source.isIPv6 { penalties6[source] = newValue } else { penalties4[source] = newValue } }
        }

        func penaltyCount(ipv6: Bool) -> Int { ipv6 ? penalties6.count : penalties4.count }

        mutating func dropExpiredPenalties(ipv6: Bool, now: ContinuousClock.Instant) {
            if ipv6 { penalties6 = penalties6.filter { $0.value.expiry > now } } else { penalties4 = penalties4.filter { $0.value.expiry > now } }
        }
    }

    /// The limits the gate applies.
    public let limits: SSHStartupLimits
    private let state = Mutex(State())
    private let random: @Sendable (Int) -> Int

    /// A gate with no connections counted and no penalties.
    /// - Parameters:
    ///   - limits: the limits to apply.
    ///   - random: `random(n)` picks the random early drop (a number below n); tests make it predictable.
    public init(limits: SSHStartupLimits, random: @escaping @Sendable (Int) -> Int = { Int.random(in: 0..<$0) }) {
        self.limits = limits
        self.random = random
    }

    /// The source a peer address counts as (its netblock), nil for addresses that are not IP (tests' embedded).
    func source(of address: SocketAddress?) -> Source? {
        switch address {
        case .v4(let v4)?:
            let bytes = withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
            return Source(bytes: Self.masked(bytes, prefixLength: limits.ipv4PrefixLength))
        case .v6(let v6)?:
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            return Source(bytes: Self.masked(bytes, prefixLength: limits.ipv6PrefixLength))
        default:
            return nil
        }
    }

    static func masked(_ bytes: [UInt8], prefixLength: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = max(0, min(8, prefixLength - index * 8))
            return bits == 8 ? byte : byte & ~(UInt8(0xFF) >> bits)
        }
    }

    /// Admits a new connection (counting it as a startup) or says why not.
    /// - Parameters:
    ///   - address: the peer's address; an address that is not IP counts only towards MaxStartups.
    ///   - now: the time, for penalties.
    /// - Returns: nil when admitted (then call `finished(_:outcome:now:)` once); otherwise the reason for a log.
    public func admit(_ address: SocketAddress?, now: ContinuousClock.Instant = .now) -> String? {
        let source = source(of: address)
        let exempt = isExempt(address)
        return state.withLock { state -> String? in
            if let source, !exempt {
                if let penalty = state[penalty: source] {
                    if penalty.expiry <= now {
                        state[penalty: source] = nil
                    } else if penalty.active {
                        return "penalty: \(penalty.reason)"
                    }
                }
                if let penalties = limits.penalties, source.isIPv6 ? penalties.denyAllOnOverflowIPv6 : penalties.denyAllOnOverflowIPv4 {
                    let capacity = source.isIPv6 ? penalties.maximumSourcesIPv6 : penalties.maximumSourcesIPv4
                    if state.penaltyCount(ipv6: source.isIPv6) >= capacity { state.dropExpiredPenalties(ipv6: source.isIPv6, now: now) }
                    if state.penaltyCount(ipv6: source.isIPv6) >= capacity { return "penalty table full (PerSourcePenalties overflow deny-all)" }
                }
            }
            let fromSource = source.map { state.startupsBySource[$0] ?? 0 } ?? 0
            if let maximum = limits.perSourceMaximum, source != nil, fromSource >= maximum {
                return "past PerSourceMaxStartups \(maximum)"
            }
            if state.startups >= limits.full { return "past MaxStartups" }
            if state.startups >= limits.start, fromSource > 0 {
                // sshd's drop probability: rate% at start, rising linearly to 100% at full.
                let span = max(1, limits.full - limits.start)
                let percent = limits.rate + (100 - limits.rate) * (state.startups - limits.start) / span
                if random(100) < percent { return "past MaxStartups" }
            }
            state.startups += 1
            if let source { state.startupsBySource[source, default: 0] += 1 }
            return nil
        }
    }

    /// A connection admitted by `admit` stopped being a startup: it authenticated, or it ended. An ending
    /// without authentication may add to its source's penalty.
    /// - Parameters:
    ///   - address: the peer's address, as given to `admit(_:now:)`.
    ///   - outcome: how the startup ended.
    ///   - now: the time, for penalties.
    public func finished(_ address: SocketAddress?, outcome: SSHStartupOutcome, now: ContinuousClock.Instant = .now) {
        let source = source(of: address)
        let exempt = isExempt(address)
        state.withLock { state in
            state.startups = max(0, state.startups - 1)
            if let source, let count = state.startupsBySource[source] {
                state.startupsBySource[source] = count > 1 ? count - 1 : nil
            }
            guard let source, !exempt, let penalties = limits.penalties else { return }
            let (seconds, reason): (Duration, String)
            switch outcome {
            case .authenticated: return
            case .authenticationFailed: (seconds, reason) = (penalties.authenticationFailure, "failed authentication")
            case .noAuthenticationAttempted: (seconds, reason) = (penalties.noAuthentication, "no authentication attempted")
            case .graceExceeded: (seconds, reason) = (penalties.graceExceeded, "exceeded LoginGraceTime")
            case .crashed: (seconds, reason) = (penalties.crash, "caused a crash")
            }
            guard seconds > .zero else { return }
            var penalty: Penalty
            if let existing = state[penalty: source], existing.expiry > now {
                penalty = existing
                penalty.expiry = min(existing.expiry + seconds, now + penalties.maximum)
                penalty.reason = reason
            } else {
                let capacity = source.isIPv6 ? penalties.maximumSourcesIPv6 : penalties.maximumSourcesIPv4
                if state.penaltyCount(ipv6: source.isIPv6) >= capacity {
                    // Make room from what has expired; permissive overflow penalises nobody new.
                    state.dropExpiredPenalties(ipv6: source.isIPv6, now: now)
                    if state.penaltyCount(ipv6: source.isIPv6) >= capacity { return }
                }
                penalty = Penalty(expiry: now + min(seconds, penalties.maximum), active: false, reason: reason)
            }
            if penalty.expiry - now >= penalties.minimum { penalty.active = true }
            state[penalty: source] = penalty
        }
    }

    /// Unauthenticated connections open right now (for tests and logs).
    public var startups: Int { state.withLock { $0.startups } }

    private func isExempt(_ address: SocketAddress?) -> Bool {
        guard let list = limits.penaltyExemptions, let ip = address?.ipAddress else { return false }
        return HostAddressPattern.addressMatches(ip, patterns: list)
    }
}
