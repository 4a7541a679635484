// sshd_config's options as typed values, for the whole server (`settings(for: nil)`) or one connection (the
// settings a Match context gives): every default in one place (the stored properties below, sshd's defaults as
// shhd uses them), each value checked where it was written. -T's dump is here too, printing values as written.
import SSHKeys
import SSHCommandLine
import SSHProtocol

/// sshd_config's options as typed values, with sshd's defaults where nothing was set: for the whole server
/// (`settings(for: nil)`) or for one connection (the settings its Match context gives).
///
/// Each value is checked where it was written: a bad one throws an ``OpenSSHConfigError`` naming its file and line.
///
/// ```swift
/// let file = try SSHServerConfigFile.read(text: "Port 2222\nPermitRootLogin no\n", path: "sshd_config")
/// let options = try SSHServerOptions(file.settings(for: nil))
/// // options.ports == [2222], options.listeners == [Listener(host: "0.0.0.0", port: 2222)], options.permitRootLogin == .no
/// ```
public struct SSHServerOptions: Sendable, Equatable {
    /// PermitRootLogin: without-password is prohibit-password's older name.
    public enum PermitRootLogin: String, Sendable, CaseIterable {
        /// yes: any method; prohibit-password: not by password or keyboard-interactive; forced-commands-only: only
        /// with a key that has a forced command; no: never.
        case yes, prohibitPassword = "prohibit-password", forcedCommandsOnly = "forced-commands-only", no

        /// The value as sshd reads it (without-password too).
        ///
        /// - Parameter configValue: The value as written, in any case.
        public init?(configValue: String) {
            switch configValue.lowercased() {
            case "yes": self = .yes
            case "prohibit-password", "without-password": self = .prohibitPassword
            case "forced-commands-only": self = .forcedCommandsOnly
            case "no": self = .no
            default: return nil
            }
        }

        static let expected = "yes, prohibit-password, forced-commands-only or no"
    }

    /// AddressFamily: which addresses to listen on.
    public enum AddressFamily: String, Sendable, CaseIterable {
        /// Both, IPv4 only, IPv6 only.
        case any, inet, inet6
    }

    /// One address and port to listen on.
    public struct Listener: Sendable, Equatable {
        /// The address (IPv6 without brackets).
        public var host: String
        /// The port.
        public var port: Int

        /// A listener.
        ///
        /// - Parameters:
        ///   - host: The address.
        ///   - port: The port.
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// MaxStartups start:rate:full.
    public struct MaxStartups: Sendable, Equatable {
        /// Unauthenticated connections allowed before any is refused.
        public var start = SSHStartupLimits().start
        /// The percentage of new connections refused at `start`, rising to 100 at `full`.
        public var rate = SSHStartupLimits().rate
        /// Unauthenticated connections at which every new one is refused.
        public var full = SSHStartupLimits().full

        /// sshd's default, 10:30:100.
        public init() {}

        /// MaxStartups with these values.
        ///
        /// - Parameters:
        ///   - start: Connections before refusing any.
        ///   - rate: The percentage refused at `start`.
        ///   - full: Connections at which all are refused.
        public init(start: Int, rate: Int, full: Int) {
            self.start = start
            self.rate = rate
            self.full = full
        }
    }

    /// PerSourceNetBlockSize: the prefix lengths that make one source.
    public struct NetBlockSize: Sendable, Equatable {
        /// The IPv4 prefix length.
        public var ipv4 = SSHStartupLimits().ipv4PrefixLength
        /// The IPv6 prefix length.
        public var ipv6 = SSHStartupLimits().ipv6PrefixLength

        /// sshd's default, 32:128 (each address is its own source).
        public init() {}

        /// These prefix lengths.
        ///
        /// - Parameters:
        ///   - ipv4: The IPv4 prefix length (0–32).
        ///   - ipv6: The IPv6 prefix length (0–128).
        public init(ipv4: Int, ipv6: Int) {
            self.ipv4 = ipv4
            self.ipv6 = ipv6
        }
    }

    /// AllowTcpForwarding and AllowStreamLocalForwarding: which directions forwarding may go.
    public enum ForwardingDirections: String, Sendable, CaseIterable {
        /// Both (yes and all), neither (no), only the connections the client asks for (local: -L, -D, -W), only
        /// listeners on the server (remote: -R).
        case all = "yes", none = "no", local, remote

        /// The value as sshd reads it (servconf.c's multistate_tcpfwd: yes and all are the same).
        ///
        /// - Parameter configValue: The value as written, in any case.
        public init?(configValue: String) {
            switch configValue.lowercased() {
            case "yes", "all": self = .all
            case "no": self = .none
            case "local": self = .local
            case "remote": self = .remote
            default: return nil
            }
        }

        static let expected = "yes, all, no, local or remote"
    }

    /// GatewayPorts: where remote forwards listen.
    public enum GatewayPorts: String, Sendable, CaseIterable {
        /// Loopback only (no), every address (yes), or the address the client names (clientspecified).
        case no, yes, clientSpecified = "clientspecified"

        /// The value as sshd reads it.
        ///
        /// - Parameter configValue: The value as written, in any case.
        public init?(configValue: String) {
            self.init(rawValue: configValue.lowercased())
        }

        static let expected = "yes, no or clientspecified"
    }

    /// PerSourcePenalties, with sshd's defaults: the server's own type (SSHProtocol's `SSHStartupLimits.Penalties`),
    /// so the defaults are written once.
    public typealias Penalties = SSHStartupLimits.Penalties

    // MARK: The options, with their defaults

    /// Port lines, each port once, or the command line's -p.
    public var ports = [22]
    /// ListenAddress lines as written (address, host:port or [address]:port).
    public var listenAddresses: [String] = []
    /// AddressFamily.
    public var addressFamily: AddressFamily = .any
    /// ListenAddress × Port as sshd pairs them (see `init`).
    public var listeners = [Listener(host: "0.0.0.0", port: 22)]
    /// HostKey lines; the defaults when there is none.
    public var hostKeyFiles = ["/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ed25519_key"]
    /// HostCertificate lines.
    public var hostCertificateFiles: [String] = []
    /// PidFile; nil: none (shhd writes none unless told).
    public var pidFile: String?
    /// LogLevel.
    public var logLevel: LogLevel = .info
    /// Ciphers, MACs, KexAlgorithms and HostKeyAlgorithms over the defaults.
    public var algorithms: SSHAlgorithms = .defaults
    /// RekeyLimit.
    public var rekeyLimits = SSHRekeyLimits()
    /// MaxAuthTries: failed attempts before the connection is closed.
    public var maxAuthTries = 6
    /// MaxSessions: sessions open at once on one connection.
    public var maxSessions = 10
    /// LoginGraceTime; nil: no limit (0).
    public var loginGraceTime: Duration? = .seconds(120)
    /// PubkeyAcceptedAlgorithms.
    public var pubkeyAcceptedAlgorithms = SSHHostKeyAlgorithm.defaults
    /// CASignatureAlgorithms.
    public var caSignatureAlgorithms = ConfigValues.defaultCASignatureAlgorithms
    /// TCPKeepAlive.
    public var tcpKeepAlive = true
    /// AcceptEnv patterns, every line's, in order.
    public var acceptEnvironment: [String] = []
    /// ClientAliveInterval; nil: no keepalives (0, the default).
    public var clientAliveInterval: Duration?
    /// ClientAliveCountMax; 0: unanswered keepalives never end the connection.
    public var clientAliveCountMax = 3
    /// PrintMotd: show /etc/motd before an interactive login shell.
    public var printMotd = true
    /// PermitRootLogin.
    public var permitRootLogin: PermitRootLogin = .prohibitPassword
    /// PubkeyAuthentication.
    public var pubkeyAuthentication = true
    /// PasswordAuthentication.
    public var passwordAuthentication = true
    /// KbdInteractiveAuthentication.
    public var kbdInteractiveAuthentication = true
    /// PermitTTY: whether pty-req is accepted.
    public var permitTTY = true
    /// StrictModes: check the modes and owners of a user's files before reading them.
    public var strictModes = true
    /// AuthorizedKeysFile patterns as written (%-tokens unexpanded, relative to the user's home).
    public var authorizedKeysFiles = [".ssh/authorized_keys", ".ssh/authorized_keys2"]
    /// RequiredRSASize: the smallest RSA key accepted, in bits.
    public var requiredRSASize = 1024
    /// MaxStartups.
    public var maxStartups = MaxStartups()
    /// PerSourceMaxStartups; nil: none. sshd has no limit by default; shhd's is MaxStartups' start, 10.
    public var perSourceMaxStartups: Int? = SSHStartupLimits().perSourceMaximum
    /// PerSourceNetBlockSize.
    public var perSourceNetBlockSize = NetBlockSize()
    /// PerSourcePenalties; nil: no.
    public var perSourcePenalties: Penalties? = Penalties()
    /// PerSourcePenaltyExemptList (comma-separated addresses and CIDR blocks); nil: none.
    public var perSourcePenaltyExemptList: String?
    /// AllowTcpForwarding.
    public var allowTcpForwarding: ForwardingDirections = .all
    /// AllowStreamLocalForwarding.
    public var allowStreamLocalForwarding: ForwardingDirections = .all
    /// AllowAgentForwarding.
    public var allowAgentForwarding = true
    /// DisableForwarding: every kind of forwarding off (TCP, stream-local, agent, X11), whatever the others say.
    public var disableForwarding = false
    /// GatewayPorts.
    public var gatewayPorts: GatewayPorts = .no
    /// PermitOpen: "host:port" entries (host or port may be `*`); nil: any; empty: none.
    public var permitOpen: [String]?
    /// PermitListen: "[host:]port" entries (port may be `*`); nil: any; empty: none.
    public var permitListen: [String]?
    /// StreamLocalBindUnlink: replace a stale socket file when a remote forward listens on a Unix socket.
    public var streamLocalBindUnlink = false
    /// StreamLocalBindMask: permission bits cleared on such a socket file (octal; default 0177, owner only).
    public var streamLocalBindMask: UInt32 = 0o177

    /// Every default.
    public init() {}

    /// Every default (what ``init()`` gives).
    public static let defaults = SSHServerOptions()

    /// The options `config` gives over the defaults (`config` from `SSHServerConfigFile.settings(for:)`). Ports
    /// given on the command line (-p) replace the Port lines. Throws an `OpenSSHConfigError` naming the file and line
    /// of the first value that does not parse.
    ///
    /// - Parameters:
    ///   - config: The values that apply.
    ///   - commandLinePorts: -p's ports; empty to use the Port lines.
    /// - Throws: ``OpenSSHConfigError`` naming the file and line of the first value that does not parse.
    public init(_ config: SSHServerConfig, commandLinePorts: [Int] = []) throws {
        if commandLinePorts.isEmpty {
            var given: [Int] = []
            for (index, arguments) in config.all("port").enumerated() {
                guard let text = arguments.first, let port = Int(text), (1...65535).contains(port) else {
                    throw config.badValue("port", named: "Port", arguments.first ?? "", expected: "a port number", occurrence: index)
                }
                if !given.contains(port) { given.append(port) }
            }
            if !given.isEmpty { ports = given }
        } else {
            var given: [Int] = []
            for port in commandLinePorts {
                guard (1...65535).contains(port) else {
                    throw OpenSSHConfigError.badValue("Port", String(port), expected: "a port number", at: .commandLine)
                }
                if !given.contains(port) { given.append(port) }
            }
            ports = given
        }
        if let text = config["addressfamily"] {
            guard let family = AddressFamily(rawValue: text.lowercased()) else {
                throw config.badValue("addressfamily", named: "AddressFamily", text.lowercased(), expected: "any, inet or inet6")
            }
            addressFamily = family
        }
        listenAddresses = config.all("listenaddress").compactMap(\.first)
        listeners = try Self.listeners(config, addresses: listenAddresses, ports: ports, family: addressFamily)
        let keys = config.all("hostkey").compactMap(\.first)
        if !keys.isEmpty { hostKeyFiles = keys }
        hostCertificateFiles = config.all("hostcertificate").compactMap(\.first)
        if let text = config["pidfile"] { pidFile = text.lowercased() == "none" ? nil : text }
        if let text = config["loglevel"] {
            guard let level = LogLevel(name: text) else {
                throw config.badValue("loglevel", named: "LogLevel", text, expected: LogLevel.expectedNames)
            }
            logLevel = level
        }
        algorithms = try config.algorithms(over: algorithms)
        if let limit = config.arguments("rekeylimit") {
            rekeyLimits = try config.placed("rekeylimit") { try ConfigValues.rekeyLimits(limit, origin: $0) }
        }
        if let text = config["maxauthtries"] {
            guard let number = Int(text), number > 0 else { throw config.badValue("maxauthtries", named: "MaxAuthTries", text, expected: "a positive number") }
            maxAuthTries = number
        }
        if let text = config["pubkeyacceptedalgorithms"] {
            pubkeyAcceptedAlgorithms = try config.placed("pubkeyacceptedalgorithms") { try ConfigValues.publicKeyAlgorithms(text, origin: $0) }
        }
        if let text = config["casignaturealgorithms"] {
            caSignatureAlgorithms = try config.placed("casignaturealgorithms") { try ConfigValues.caSignatureAlgorithms(text, origin: $0) }
        }
        if let text = config["maxsessions"] {
            guard let number = Int(text), number >= 0 else { throw config.badValue("maxsessions", named: "MaxSessions", text, expected: "a number") }
            maxSessions = number
        }
        if let text = config["logingracetime"] {
            guard let seconds = ConfigValues.seconds(text) else {
                throw config.badValue("logingracetime", named: "LoginGraceTime", text, expected: "a time such as 2m")
            }
            loginGraceTime = seconds == 0 ? nil : .seconds(seconds)
        }
        acceptEnvironment = config.all("acceptenv").flatMap { $0 }
        if let text = config["clientaliveinterval"] {
            guard let seconds = ConfigValues.seconds(text) else {
                throw config.badValue("clientaliveinterval", named: "ClientAliveInterval", text, expected: "a time such as 30s")
            }
            clientAliveInterval = seconds == 0 ? nil : .seconds(seconds)
        }
        if let text = config["clientalivecountmax"] {
            guard let number = Int(text), number >= 0 else {
                throw config.badValue("clientalivecountmax", named: "ClientAliveCountMax", text, expected: "a number")
            }
            clientAliveCountMax = number
        }
        tcpKeepAlive = try config.flag("tcpkeepalive", named: "TCPKeepAlive") ?? tcpKeepAlive
        printMotd = try config.flag("printmotd", named: "PrintMotd") ?? printMotd
        pubkeyAuthentication = try config.flag("pubkeyauthentication", named: "PubkeyAuthentication") ?? pubkeyAuthentication
        passwordAuthentication = try config.flag("passwordauthentication", named: "PasswordAuthentication") ?? passwordAuthentication
        kbdInteractiveAuthentication = try config.flag("kbdinteractiveauthentication", named: "KbdInteractiveAuthentication") ?? kbdInteractiveAuthentication
        permitTTY = try config.flag("permittty", named: "PermitTTY") ?? permitTTY
        strictModes = try config.flag("strictmodes", named: "StrictModes") ?? strictModes
        if let text = config["permitrootlogin"] {
            guard let value = PermitRootLogin(configValue: text) else {
                throw config.badValue("permitrootlogin", named: "PermitRootLogin", text, expected: PermitRootLogin.expected)
            }
            permitRootLogin = value
        }
        if let files = config.arguments("authorizedkeysfile") { authorizedKeysFiles = files }
        if let text = config["requiredrsasize"] {
            guard let bits = Int(text), bits >= 0 else { throw config.badValue("requiredrsasize", named: "RequiredRSASize", text, expected: "a number") }
            requiredRSASize = bits
        }
        try readStartupLimits(config)
        try readForwarding(config)
    }

    // MARK: Forwarding

    /// AllowTcpForwarding, AllowStreamLocalForwarding, AllowAgentForwarding, DisableForwarding, GatewayPorts,
    /// PermitOpen, PermitListen, StreamLocalBindUnlink and StreamLocalBindMask, as servconf.c reads them (the first
    /// PermitOpen or PermitListen line wins, its arguments all taken; "any" and "none" stand alone).
    private mutating func readForwarding(_ config: SSHServerConfig) throws {
        if let text = config["allowtcpforwarding"] {
            guard let value = ForwardingDirections(configValue: text) else {
                throw config.badValue("allowtcpforwarding", named: "AllowTcpForwarding", text, expected: ForwardingDirections.expected)
            }
            allowTcpForwarding = value
        }
        if let text = config["allowstreamlocalforwarding"] {
            guard let value = ForwardingDirections(configValue: text) else {
                throw config.badValue("allowstreamlocalforwarding", named: "AllowStreamLocalForwarding", text, expected: ForwardingDirections.expected)
            }
            allowStreamLocalForwarding = value
        }
        allowAgentForwarding = try config.flag("allowagentforwarding", named: "AllowAgentForwarding") ?? allowAgentForwarding
        disableForwarding = try config.flag("disableforwarding", named: "DisableForwarding") ?? disableForwarding
        streamLocalBindUnlink = try config.flag("streamlocalbindunlink", named: "StreamLocalBindUnlink") ?? streamLocalBindUnlink
        if let text = config["gatewayports"] {
            guard let value = GatewayPorts(configValue: text) else {
                throw config.badValue("gatewayports", named: "GatewayPorts", text, expected: GatewayPorts.expected)
            }
            gatewayPorts = value
        }
        if let text = config["streamlocalbindmask"] {
            guard let mask = Self.octalMask(text) else {
                throw config.badValue("streamlocalbindmask", named: "StreamLocalBindMask", text, expected: "an octal mask such as 0177")
            }
            streamLocalBindMask = mask
        }
        if let arguments = config.arguments("permitopen") {
            guard let list = Self.permitList(arguments, entry: Self.isPermitOpenEntry) else {
                throw config.badValue("permitopen", named: "PermitOpen", arguments.joined(separator: " "), expected: "any, none or host:port entries")
            }
            permitOpen = list
        }
        if let arguments = config.arguments("permitlisten") {
            guard let list = Self.permitList(arguments, entry: Self.isPermitListenEntry) else {
                throw config.badValue("permitlisten", named: "PermitListen", arguments.joined(separator: " "), expected: "any, none or [host:]port entries")
            }
            permitListen = list
        }
    }

    /// StreamLocalBindMask's octal value (0 to 0777).
    static func octalMask(_ text: String) -> UInt32? {
        guard !text.isEmpty, let value = UInt32(text, radix: 8), value <= 0o777 else { return nil }
        return value
    }

    /// PermitOpen or PermitListen's arguments: nil (any) for "any", [] for "none", else the entries; nil when one
    /// does not read (the outer optional: the list could not be read).
    static func permitList(_ arguments: [String], entry: (String) -> Bool) -> [String]?? {
        if arguments.count == 1 {
            switch arguments[0].lowercased() {
            case "any": return .some(nil)
            case "none": return .some([])
            default: break
            }
        }
        guard arguments.allSatisfy(entry) else { return nil }
        return .some(arguments)
    }

    /// host:port, [v6]:port; the port a number or `*`.
    static func isPermitOpenEntry(_ entry: String) -> Bool {
        guard let (host, port) = splitHostPort(entry), !host.isEmpty else { return false }
        return isPort(port, allowingZero: false)
    }

    /// port or host:port; the port a number or `*` (0 too: a listener whose port the server picks).
    static func isPermitListenEntry(_ entry: String) -> Bool {
        guard let (host, port) = splitHostPort(entry) else { return isPort(entry, allowingZero: true) }
        return !host.isEmpty && isPort(port, allowingZero: true)
    }

    private static func isPort(_ text: String, allowingZero: Bool) -> Bool {
        if text == "*" { return true }
        guard let number = Int(text) else { return false }
        return (allowingZero ? 0 : 1)...65535 ~= number
    }

    private static func splitHostPort(_ entry: String) -> (String, String)? {
        if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") {
            let rest = entry[entry.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            return (String(entry[entry.index(after: entry.startIndex)..<close]), String(rest.dropFirst()))
        }
        guard let colon = entry.lastIndex(of: ":") else { return nil }
        return (String(entry[..<colon]), String(entry[entry.index(after: colon)...]))
    }

    // MARK: Listening

    /// ListenAddress × Port as sshd pairs them: an address with its own port keeps it; the others get every Port.
    /// Without ListenAddress: every IPv4 address (and every IPv6 one for AddressFamily inet6). sshd also binds "::"
    /// beside 0.0.0.0 with IPV6_V6ONLY; until shhd sets that option, IPv6 needs an explicit ListenAddress.
    private static func listeners(_ config: SSHServerConfig, addresses: [String], ports: [Int], family: AddressFamily) throws -> [Listener] {
        var result: [Listener] = []
        for (index, address) in (addresses.isEmpty ? (family == .inet6 ? ["::"] : ["0.0.0.0"]) : addresses).enumerated() {
            func badAddress() -> OpenSSHConfigError {
                config.badValue("listenaddress", named: "ListenAddress", address, expected: "address[:port]", occurrence: index)
            }
            if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
                let host = String(address[address.index(after: address.startIndex)..<close])
                let rest = address[address.index(after: close)...]
                if rest.hasPrefix(":") {
                    guard let port = Int(rest.dropFirst()), (1...65535).contains(port) else { throw badAddress() }
                    result.append(Listener(host: host, port: port))
                } else {
                    result += ports.map { Listener(host: host, port: $0) }
                }
            } else if address.filter({ $0 == ":" }).count == 1, let colon = address.firstIndex(of: ":") {
                guard let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port) else { throw badAddress() }
                result.append(Listener(host: String(address[..<colon]), port: port))
            } else {
                result += ports.map { Listener(host: address, port: $0) }
            }
        }
        return result.filter { listener in
            family == .any || (family == .inet) == !listener.host.contains(":")
        }
    }

    // MARK: Startups

    /// MaxStartups start[:rate:full], PerSourceMaxStartups, PerSourceNetBlockSize v4[:v6], PerSourcePenalties and
    /// PerSourcePenaltyExemptList.
    private mutating func readStartupLimits(_ config: SSHServerConfig) throws {
        if let text = config["maxstartups"] {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
            let numbers = parts.compactMap { $0 }
            switch (parts.count, numbers.count) {
            case (1, 1) where numbers[0] > 0:
                maxStartups = MaxStartups(start: numbers[0], rate: 100, full: numbers[0])
            case (3, 3) where numbers[0] > 0 && (1...100).contains(numbers[1]) && numbers[2] >= numbers[0]:
                maxStartups = MaxStartups(start: numbers[0], rate: numbers[1], full: numbers[2])
            default:
                throw config.badValue("maxstartups", named: "MaxStartups", text, expected: "start:rate:full (such as 10:30:100) or a number")
            }
        }
        if let text = config["persourcemaxstartups"] {
            if text.lowercased() == "none" {
                perSourceMaxStartups = nil
            } else {
                guard let number = Int(text), number > 0 else {
                    throw config.badValue("persourcemaxstartups", named: "PerSourceMaxStartups", text, expected: "a number or none")
                }
                perSourceMaxStartups = number
            }
        }
        if let text = config["persourcenetblocksize"] {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...2).contains(parts.count), let v4 = parts[0], (0...32).contains(v4),
                  parts.count == 1 || (parts[1].map { (0...128).contains($0) } ?? false) else {
                throw config.badValue("persourcenetblocksize", named: "PerSourceNetBlockSize", text,
                                      expected: "an IPv4 prefix length, optionally :IPv6 (such as 32:128)")
            }
            perSourceNetBlockSize.ipv4 = v4
            if parts.count == 2, let v6 = parts[1] { perSourceNetBlockSize.ipv6 = v6 }
        }
        if let words = config.arguments("persourcepenalties") {
            switch words.first?.lowercased() {
            case "no"?: perSourcePenalties = nil
            case "yes"?: perSourcePenalties = Penalties()
            default:
                var penalties = Penalties()
                for word in words {
                    let pair = word.split(separator: ":", maxSplits: 1).map(String.init)
                    func bad(_ expected: String) -> OpenSSHConfigError {
                        config.badValue("persourcepenalties", named: "PerSourcePenalties", word, expected: expected)
                    }
                    func duration() throws -> Duration {
                        guard pair.count == 2, let seconds = ConfigValues.seconds(pair[1]) else { throw bad("name:time (such as authfail:5s)") }
                        return .seconds(seconds)
                    }
                    func count() throws -> Int {
                        guard pair.count == 2, let number = Int(pair[1]), number > 0 else { throw bad("name:count") }
                        return number
                    }
                    func denyAll() throws -> Bool {
                        guard pair.count == 2, ["deny-all", "permissive"].contains(pair[1].lowercased()) else {
                            throw bad("overflow:deny-all or overflow:permissive")
                        }
                        return pair[1].lowercased() == "deny-all"
                    }
                    switch pair[0].lowercased() {
                    case "crash": penalties.crash = try duration()
                    case "authfail": penalties.authenticationFailure = try duration()
                    case "noauth": penalties.noAuthentication = try duration()
                    case "grace-exceeded": penalties.graceExceeded = try duration()
                    case "max": penalties.maximum = try duration()
                    case "min": penalties.minimum = try duration()
                    case "max-sources4": penalties.maximumSourcesIPv4 = try count()
                    case "max-sources6": penalties.maximumSourcesIPv6 = try count()
                    case "overflow": penalties.denyAllOnOverflowIPv4 = try denyAll()
                    case "overflow6": penalties.denyAllOnOverflowIPv6 = try denyAll()
                    default: throw bad("crash, authfail, noauth, grace-exceeded, max, min, max-sources4/6 or overflow/overflow6")
                    }
                }
                perSourcePenalties = penalties
            }
        }
        if let list = config.arguments("persourcepenaltyexemptlist"), list.first?.lowercased() != "none" {
            perSourcePenaltyExemptList = list.joined(separator: ",")
        }
    }
}

// MARK: -T

extension OpenSSHKeywordValues where Keywords == ServerKeywords {
    /// sshd -T's output: lower-case keywords as sshd prints them. `listeners`, `algorithms` and `loginGraceTime`
    /// as the server applies them (the whole server's; they cannot be set in Match), host keys only when they were
    /// loaded; everything else as written, or its default.
    ///
    /// - Parameters:
    ///   - listeners: The addresses the server listens on.
    ///   - hostKeysLoaded: Whether to print the HostKey lines (only once the keys loaded).
    ///   - algorithms: The algorithms the server offers.
    ///   - loginGraceTime: The grace time the server applies.
    /// - Returns: The lines, each ending in a newline.
    public func printed(listeners: [SSHServerOptions.Listener], hostKeysLoaded: Bool, algorithms: SSHAlgorithms, loginGraceTime: Duration) -> String {
        let defaults = SSHServerOptions.defaults
        let config = self
        func yesNo(_ value: Bool) -> String { value ? "yes" : "no" }
        var lines: [String] = []
        lines += Set(listeners.map(\.port)).sorted().map { "port \($0)" }
        lines += listeners.map { "listenaddress \($0.host.contains(":") ? "[\($0.host)]" : $0.host):\($0.port)" }
        lines += hostKeysLoaded ? config.all("hostkey").compactMap(\.first).map { "hostkey \($0)" } : []
        lines.append("ciphers \(algorithms.ciphers.map(\.rawValue).joined(separator: ","))")
        lines.append("macs \(algorithms.macs.map(\.rawValue).joined(separator: ","))")
        lines.append("kexalgorithms \(algorithms.keyExchange.map(\.rawValue).joined(separator: ","))")
        lines.append("hostkeyalgorithms \(algorithms.hostKey.map(\.name).joined(separator: ","))")
        lines.append("maxauthtries \(config["maxauthtries"] ?? String(defaults.maxAuthTries))")
        lines.append("maxsessions \(config["maxsessions"] ?? String(defaults.maxSessions))")
        lines.append("logingracetime \(loginGraceTime.components.seconds)")
        // sshd -T names the default by its older name.
        lines.append("permitrootlogin \(config["permitrootlogin"] ?? (defaults.permitRootLogin == .prohibitPassword ? "without-password" : defaults.permitRootLogin.rawValue))")
        lines.append("pubkeyauthentication \(config["pubkeyauthentication"] ?? yesNo(defaults.pubkeyAuthentication))")
        lines.append("passwordauthentication \(config["passwordauthentication"] ?? yesNo(defaults.passwordAuthentication))")
        lines.append("kbdinteractiveauthentication \(config["kbdinteractiveauthentication"] ?? yesNo(defaults.kbdInteractiveAuthentication))")
        lines.append("authorizedkeysfile \((config.arguments("authorizedkeysfile") ?? defaults.authorizedKeysFiles).joined(separator: " "))")
        // Forwarding, as written or sshd -T's default (the mask in octal with a leading 0).
        lines.append("allowtcpforwarding \(config["allowtcpforwarding"] ?? defaults.allowTcpForwarding.rawValue)")
        lines.append("allowstreamlocalforwarding \(config["allowstreamlocalforwarding"] ?? defaults.allowStreamLocalForwarding.rawValue)")
        lines.append("allowagentforwarding \(config["allowagentforwarding"] ?? yesNo(defaults.allowAgentForwarding))")
        lines.append("disableforwarding \(config["disableforwarding"] ?? yesNo(defaults.disableForwarding))")
        lines.append("gatewayports \(config["gatewayports"] ?? defaults.gatewayPorts.rawValue)")
        lines.append("permitopen \(config.arguments("permitopen")?.joined(separator: " ") ?? "any")")
        lines.append("permitlisten \(config.arguments("permitlisten")?.joined(separator: " ") ?? "any")")
        lines.append("streamlocalbindunlink \(config["streamlocalbindunlink"] ?? yesNo(defaults.streamLocalBindUnlink))")
        let mask = config["streamlocalbindmask"].flatMap(SSHServerOptions.octalMask) ?? defaults.streamLocalBindMask
        lines.append("streamlocalbindmask 0\(String(mask, radix: 8))")
        let shown = Set(lines.map { String($0.prefix { $0 != " " }) })
        for (keyword, arguments) in config.values.sorted(by: { $0.key < $1.key }) where !shown.contains(keyword) {
            lines.append("\(keyword) \(arguments.joined(separator: " "))")
        }
        for (keyword, occurrences) in config.lists.sorted(by: { $0.key < $1.key }) where !shown.contains(keyword) {
            for arguments in occurrences { lines.append("\(keyword) \(arguments.joined(separator: " "))") }
        }
        return lines.map { $0 + "\n" }.joined()
    }
}

// MARK: Checking every directive

extension SSHServerConfigFile {
    /// Checks the values sshd checks as it reads, in every directive (Match blocks included, whether or not any
    /// connection will select them): yes/no flags, PermitRootLogin, forwarding, LogLevel, counts, algorithm lists
    /// and Subsystem.
    ///
    /// - Throws: ``OpenSSHConfigError`` for the first value that does not parse, naming its file and line.
    public func checkValues() throws {
        for directive in blocks.flatMap(\.directives) {
            let value = directive.arguments[0]
            func bad(_ expected: String) -> OpenSSHConfigError {
                OpenSSHConfigError(.badValue(keyword: directive.spelling, value: value, expected: expected), file: directive.file, line: directive.line)
            }
            switch directive.keyword {
            case "pubkeyauthentication", "passwordauthentication", "kbdinteractiveauthentication", "strictmodes", "printmotd",
                 "x11forwarding", "allowagentforwarding", "permittty", "usedns", "tcpkeepalive", "ignorerhosts", "disableforwarding",
                 "streamlocalbindunlink":
                guard ConfigValues.flag(value) != nil else { throw bad("yes or no") }
            case "permitrootlogin":
                guard SSHServerOptions.PermitRootLogin(configValue: value) != nil else { throw bad(SSHServerOptions.PermitRootLogin.expected) }
            case "allowtcpforwarding", "allowstreamlocalforwarding":
                guard SSHServerOptions.ForwardingDirections(configValue: value) != nil else { throw bad("yes, no, local or remote") }
            case "gatewayports":
                guard SSHServerOptions.GatewayPorts(configValue: value) != nil else { throw bad(SSHServerOptions.GatewayPorts.expected) }
            case "streamlocalbindmask":
                guard SSHServerOptions.octalMask(value) != nil else { throw bad("an octal mask such as 0177") }
            case "permitopen":
                guard SSHServerOptions.permitList(directive.arguments, entry: SSHServerOptions.isPermitOpenEntry) != nil else {
                    throw bad("any, none or host:port entries")
                }
            case "permitlisten":
                guard SSHServerOptions.permitList(directive.arguments, entry: SSHServerOptions.isPermitListenEntry) != nil else {
                    throw bad("any, none or [host:]port entries")
                }
            case "loglevel":
                guard LogLevel(name: value) != nil else { throw bad(LogLevel.expectedNames) }
            case "maxauthtries", "maxsessions", "requiredrsasize":
                guard let number = Int(value), number >= 0 else { throw bad("a number") }
            case "pubkeyacceptedalgorithms":
                _ = try directive.placed { try ConfigValues.publicKeyAlgorithms(value, origin: $0) }
            case "casignaturealgorithms":
                _ = try directive.placed { try ConfigValues.caSignatureAlgorithms(value, origin: $0) }
            case "subsystem":
                guard directive.arguments.count >= 2 else {
                    throw OpenSSHConfigError(.missingArgument(keyword: "\(directive.spelling) (name and command)"), file: directive.file, line: directive.line)
                }
            default:
                break
            }
        }
    }

    /// Every public key algorithm some connection may be allowed: `global`'s list, then those of every Match
    /// block's PubkeyAcceptedAlgorithms (the protocol lets them all through; each login is held to its own list).
    ///
    /// - Parameter global: The whole server's options.
    /// - Returns: The algorithms, each once, `global`'s first.
    /// - Throws: ``OpenSSHConfigError`` for a Match block's list that does not parse.
    public func publicKeyAlgorithmsAnyMatchMayAccept(global: SSHServerOptions) throws -> [SSHHostKeyAlgorithm] {
        var result: [SSHHostKeyAlgorithm] = []
        for algorithm in global.pubkeyAcceptedAlgorithms where !result.contains(algorithm) { result.append(algorithm) }
        for directive in matchDirectives where directive.keyword == "pubkeyacceptedalgorithms" {
            for algorithm in try directive.placed({ try ConfigValues.publicKeyAlgorithms(directive.arguments[0], origin: $0) })
            where !result.contains(algorithm) {
                result.append(algorithm)
            }
        }
        return result
    }

    /// Every Banner file named (top level and Match blocks, "none" left out), each once, with where it was first
    /// named.
    public var bannerFiles: [(path: String, place: OpenSSHConfigOrigin)] {
        var result: [(path: String, place: OpenSSHConfigOrigin)] = []
        for directive in blocks.flatMap(\.directives) where directive.keyword == "banner" {
            let path = directive.arguments[0]
            guard path.lowercased() != "none", !result.contains(where: { $0.path == path }) else { continue }
            result.append((path, directive.place))
        }
        return result
    }
}

extension SSHServerConfigFile.Directive {
    /// Runs `parse` with where this directive was written ("file line N") and gives an error it throws about that
    /// place the file and line apart.
    func placed<T>(_ parse: (String) throws -> T) throws -> T {
        do {
            return try parse(place.description)
        } catch let error as OpenSSHConfigError where error.line == 0 && error.file == place.description {
            throw OpenSSHConfigError(error.kind, file: place.file, line: place.line, wording: .fileLine)
        }
    }
}
