// The numbers behind a server's limits on connections not yet authenticated (sshd's MaxStartups,
// PerSourceMaxStartups, PerSourceNetBlockSize and PerSourcePenalties), beside the other configuration values the
// SSH module and the config reader share (SSHAlgorithms, SSHRekeyLimits): their defaults live here once. The SSH
// module's SSHStartupGate applies them.

/// Limits on connections not yet authenticated, as sshd's MaxStartups, PerSourceMaxStartups,
/// PerSourceNetBlockSize and PerSourcePenalties. Defaults are sshd's, with PerSourceMaxStartups 10.
///
/// A server applies them through an `SSHStartupGate` made from them, given as `SSHServer.Configuration.startupGate`.
///
/// ```swift
/// var limits = SSHStartupLimits()
/// limits.full = 50
/// configuration.startupGate = SSHStartupGate(limits: limits)
/// ```
public struct SSHStartupLimits: Sendable, Equatable {
    /// MaxStartups' start: from this many unauthenticated connections on, new ones may be dropped at random.
    public var start = 10
    /// MaxStartups' rate: the percentage dropped at `start`, rising linearly to 100 at `full`.
    public var rate = 30
    /// MaxStartups' full: with this many unauthenticated connections, every new one is refused.
    public var full = 100
    /// PerSourceMaxStartups: unauthenticated connections at once from one source netblock; nil: no limit. sshd has
    /// none by default; 10 (as `start`) keeps one source from holding the startups everyone shares.
    public var perSourceMaximum: Int? = 10
    /// PerSourceNetBlockSize for IPv4: the prefix length of what counts as one source (32, one address).
    public var ipv4PrefixLength = 32
    /// PerSourceNetBlockSize for IPv6: the prefix length of what counts as one source (128, one address).
    public var ipv6PrefixLength = 128
    /// PerSourcePenalties; nil: none.
    public var penalties: Penalties? = Penalties()
    /// PerSourcePenaltyExemptList: addresses and CIDR blocks never penalised (a monitoring host, say).
    public var penaltyExemptions: String?

    /// Seconds each kind of failure adds to its source's penalty (sshd's defaults), how long a penalty must be
    /// before it refuses anyone (`minimum`), its cap, and how many sources are remembered.
    public struct Penalties: Sendable, Equatable {
        /// A session's process crashed (sshd's crash, 90 s).
        public var crash: Duration = .seconds(90)
        /// A connection ended after failed authentication attempts and none succeeded (authfail, 5 s).
        public var authenticationFailure: Duration = .seconds(5)
        /// A connection ended without even trying to authenticate (noauth, 1 s).
        public var noAuthentication: Duration = .seconds(1)
        /// LoginGraceTime ran out (grace-exceeded, 10 s).
        public var graceExceeded: Duration = .seconds(10)
        /// The longest a source's penalty can grow to (max, 600 s).
        public var maximum: Duration = .seconds(600)
        /// A penalty refuses connections only once it is this long (min, 15 s): one failure alone refuses nobody.
        public var minimum: Duration = .seconds(15)
        /// max-sources4: IPv4 sources remembered.
        public var maximumSourcesIPv4 = 65536
        /// max-sources6: IPv6 sources remembered.
        public var maximumSourcesIPv6 = 65536
        /// overflow: when the IPv4 table is full, false is "permissive" (penalise nobody new), true denies every
        /// IPv4 source until it has room again.
        public var denyAllOnOverflowIPv4 = false
        /// overflow6: the same for IPv6.
        public var denyAllOnOverflowIPv6 = false

        /// sshd's default penalties.
        public init() {}
    }

    /// sshd's defaults, with PerSourceMaxStartups 10 and sshd's penalties.
    public init() {}
}
