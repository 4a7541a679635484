// ssh_config's options for one connection as typed values: every default in one place (the stored properties
// below, OpenSSH's defaults as shh uses them), each value checked where it was written. Paths and commands are as
// written: %-tokens and "~" are the client's to expand, since they need the connection's user, host and port.
import SSHKeys
import SSHCommandLine
import SSHProtocol

/// ssh_config's options for one connection as typed values, with OpenSSH's defaults where nothing was set.
///
/// Each value is checked where it was written: a bad one throws an ``OpenSSHConfigError`` naming its file and line.
/// Paths and commands stay as written; %-tokens (``PercentTokens``) and "~" are the client's to expand.
///
/// ```swift
/// var reader = SSHClientConfigReader(destination: .init(originalHost: "db", localUser: "me", homeDirectory: "/home/me"),
///                                    runCommand: { _ in false })
/// try reader.read(text: "Host db\n    User postgres\n    ServerAliveInterval 30\n", path: "config", userConfig: true)
/// let options = try SSHClientOptions(reader.config)
/// // options.user == "postgres", options.serverAliveInterval == .seconds(30), options.port == 22
/// ```
public struct SSHClientOptions: Sendable, Equatable {
    /// StrictHostKeyChecking: what to do with a host key known_hosts does not have (raw value: as -G prints it).
    public enum StrictHostKeyChecking: String, Sendable, CaseIterable {
        /// yes: refuse it; accept-new: add it, but refuse a changed one; no: add it and connect, changed or not;
        /// ask: ask the user.
        case yes, acceptNew = "accept-new", no, ask

        /// yes/true, accept-new, no/off/false, ask, in any case.
        ///
        /// - Parameter configValue: The value as written.
        public init?(configValue: String) {
            switch configValue.lowercased() {
            case "yes", "true": self = .yes
            case "accept-new": self = .acceptNew
            case "no", "off", "false": self = .no
            case "ask": self = .ask
            default: return nil
            }
        }
    }

    /// RequestTTY: whether to ask for a terminal.
    public enum RequestTTY: String, Sendable, CaseIterable {
        /// auto: when there is no command and stdin is a terminal; yes: when stdin is a terminal; no: never;
        /// force: always.
        case auto, yes, no, force
    }

    /// EscapeChar: none, one character, or "^X" for a control character.
    public enum EscapeCharacter: Sendable, Equatable {
        /// No escape character.
        case none
        /// This byte (a control character for "^X").
        case character(UInt8)

        /// EscapeChar's value: "none", one byte, or "^" and a letter.
        ///
        /// - Parameter text: The value as written.
        public init?(_ text: String) {
            let bytes = Array(text.utf8)
            if text.lowercased() == "none" {
                self = .none
            } else if bytes.count == 1 {
                self = .character(bytes[0])
            } else if bytes.count == 2, bytes[0] == UInt8(ascii: "^") {
                self = .character(bytes[1] & 31)
            } else {
                return nil
            }
        }
    }

    /// IdentityAgent: none, the socket an environment variable names (SSH_AUTH_SOCK, or "$NAME"), or a socket path
    /// (as written: %-tokens and "~" unexpanded).
    public enum IdentityAgent: Sendable, Equatable {
        /// No agent.
        case none
        /// The socket named by this environment variable.
        case environment(String)
        /// This socket path, as written.
        case socket(String)
    }

    /// ForwardAgent: no, yes (the agent shh authenticates with: IdentityAgent, else SSH_AUTH_SOCK), a socket path
    /// (as written: %-tokens, "~" and ${VAR} unexpanded), or the socket an environment variable names ("$NAME").
    public enum ForwardAgent: Sendable, Equatable {
        /// No forwarding.
        case no
        /// Forward the agent shh uses itself.
        case yes
        /// Forward the agent listening at this path, as written.
        case socket(String)
        /// Forward the agent whose socket this environment variable names; none when it is not set.
        case environment(String)
    }

    /// One SetEnv assignment.
    public struct EnvironmentVariable: Sendable, Equatable {
        /// The variable's name.
        public var name: String
        /// Its value.
        public var value: String

        /// An assignment.
        ///
        /// - Parameters:
        ///   - name: The variable's name.
        ///   - value: Its value.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Options that ask for something, on when set to anything but no, false, off or none (ForwardAgent may name a
    /// socket, ProxyJump a host): the client decides which it refuses and which it only notes.
    public enum Feature: String, Sendable, CaseIterable {
        /// One keyword each (raw value: the lower-case keyword).
        case forwardAgent = "forwardagent", forwardX11 = "forwardx11", proxyJump = "proxyjump"
        /// One keyword each (raw value: the lower-case keyword).
        case proxyUseFdpass = "proxyusefdpass", pkcs11Provider = "pkcs11provider"
        /// One keyword each (raw value: the lower-case keyword).
        case securityKeyProvider = "securitykeyprovider", knownHostsCommand = "knownhostscommand", tunnel
        /// One keyword each (raw value: the lower-case keyword).
        case forkAfterAuthentication = "forkafterauthentication"
        /// One keyword each (raw value: the lower-case keyword).
        case bindAddress = "bindaddress", bindInterface = "bindinterface", canonicalizeHostname = "canonicalizehostname"
        /// One keyword each (raw value: the lower-case keyword).
        case clearAllForwardings = "clearallforwardings", compression, controlMaster = "controlmaster"
        /// One keyword each (raw value: the lower-case keyword).
        case controlPath = "controlpath", controlPersist = "controlpersist", gssapiAuthentication = "gssapiauthentication"
    }

    /// LocalForward, RemoteForward and DynamicForward (raw value: the keyword, as -G prints it).
    public enum Forwarding: String, Sendable, CaseIterable {
        /// LocalForward (-L), RemoteForward (-R), DynamicForward (-D).
        case local = "localforward", remote = "remoteforward", dynamic = "dynamicforward"
    }

    // MARK: The options, with their defaults

    /// LogLevel.
    public var logLevel: LogLevel = .info
    /// Port, or the command line's -p.
    public var port = 22
    /// User; nil: the user given on the command line, else the local user.
    public var user: String?
    /// HostName as written (only %h and %% expand in it); nil: the host as typed.
    public var hostName: String?
    /// IdentityFile lines as written; the defaults when there is none.
    public var identityFiles = ["~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ed25519"]
    /// CertificateFile lines as written.
    public var certificateFiles: [String] = []
    /// UserKnownHostsFile: the files ssh reads and adds keys to.
    public var userKnownHostsFiles = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"]
    /// GlobalKnownHostsFile: the system's files, read only.
    public var globalKnownHostsFiles = ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]
    /// StrictHostKeyChecking.
    public var strictHostKeyChecking: StrictHostKeyChecking = .ask
    /// BatchMode: never ask the user anything.
    public var batchMode = false
    /// HashKnownHosts: write new known_hosts entries with hashed host names.
    public var hashKnownHosts = false
    /// IdentitiesOnly: offer only the configured identities, not every key of the agent.
    public var identitiesOnly = false
    /// Ciphers, MACs, KexAlgorithms and HostKeyAlgorithms over the defaults.
    public var algorithms: SSHAlgorithms = .defaults
    /// ConnectTimeout; nil: none set (the client's own bound on connecting applies).
    public var connectTimeout: Duration?
    /// ServerAliveInterval; nil: no keepalives (0, the default).
    public var serverAliveInterval: Duration?
    /// ServerAliveCountMax: keepalives left unanswered before the connection is given up.
    public var serverAliveCountMax = 3
    /// RekeyLimit.
    public var rekeyLimits = SSHRekeyLimits()
    /// ConnectionAttempts: tries, one a second, before giving up.
    public var connectionAttempts = 1
    /// RequestTTY.
    public var requestTTY: RequestTTY = .auto
    /// EscapeChar.
    public var escapeCharacter: EscapeCharacter = .character(UInt8(ascii: "~"))
    /// SendEnv patterns, a "-pattern" having removed the earlier ones it matches.
    public var sendEnvironmentPatterns: [String] = []
    /// SetEnv's NAME=value pairs, in order.
    public var setEnvironment: [EnvironmentVariable] = []
    /// RemoteCommand as written (nil for none).
    public var remoteCommand: String?
    /// ProxyCommand as written (nil for none).
    public var proxyCommand: String?
    /// ProxyJump's hops, first hop first; empty for none. The first of ProxyJump and ProxyCommand read wins (the
    /// reader drops the other), as in ssh.
    public var proxyJump: [JumpHost] = []
    /// ForwardAgent.
    public var forwardAgent: ForwardAgent = .no
    /// PermitLocalCommand: whether LocalCommand runs (off by default: a config file alone must not run commands
    /// here).
    public var permitLocalCommand = false
    /// LocalCommand as written, tokens unexpanded (nil for none): run on this machine after authenticating, only
    /// with ``permitLocalCommand``.
    public var localCommand: String?
    /// PreferredAuthentications: the methods to try, in order.
    public var preferredAuthentications = ["publickey", "keyboard-interactive", "password"]
    /// NumberOfPasswordPrompts: password tries before giving up.
    public var numberOfPasswordPrompts = 3
    /// HostKeyAlias: the name to look the host key up under, as written.
    public var hostKeyAlias: String?
    /// IdentityAgent.
    public var identityAgent: IdentityAgent = .environment("SSH_AUTH_SOCK")
    /// The features set on, with where.
    public var enabledFeatures: [Feature: OpenSSHConfigOrigin] = [:]
    /// Each forwarding's occurrences (arguments as written).
    public var forwards: [Forwarding: [[String]]] = [:]

    /// What was read, for -G.
    var config = SSHClientConfig()

    /// Every default.
    public init() {}

    /// Every default (what ``init()`` gives).
    public static let defaults = SSHClientOptions()

    /// Whether `feature` was set on.
    ///
    /// - Parameter feature: The feature's keyword.
    /// - Returns: True when it was set to anything but no, false, off or none.
    public func isOn(_ feature: Feature) -> Bool { enabledFeatures[feature] != nil }

    /// Compression (shh offers none; -G and -v report it).
    public var compression: Bool { isOn(.compression) }

    /// The options `config` gives, over the defaults. A port given on the command line (-p) is used instead of
    /// Port.
    ///
    /// - Parameters:
    ///   - config: What ``SSHClientConfigReader`` read.
    ///   - commandLinePort: -p's port, if given.
    /// - Throws: ``OpenSSHConfigError`` naming the file and line of the first value that does not parse.
    public init(_ config: SSHClientConfig, commandLinePort: Int? = nil) throws {
        self.config = config
        if let text = config["loglevel"] {
            guard let level = LogLevel(name: text) else {
                throw config.badValue("loglevel", named: "LogLevel", text, expected: LogLevel.expectedNames)
            }
            logLevel = level
        }
        if let commandLinePort {
            port = commandLinePort
        } else if let text = config["port"] {
            guard let number = Int(text), (1...65535).contains(number) else { throw config.badValue("port", named: "Port", text, expected: "a port number") }
            port = number
        }
        user = config["user"]
        hostName = config["hostname"]
        let identities = config.all("identityfile").compactMap(\.first)
        if !identities.isEmpty { identityFiles = identities }
        certificateFiles = config.all("certificatefile").compactMap(\.first)
        if let files = config.arguments("userknownhostsfile") { userKnownHostsFiles = files }
        if let files = config.arguments("globalknownhostsfile") { globalKnownHostsFiles = files }
        if let text = config["stricthostkeychecking"] {
            guard let value = StrictHostKeyChecking(configValue: text) else {
                throw config.badValue("stricthostkeychecking", named: "StrictHostKeyChecking", text, expected: "yes, accept-new, no or ask")
            }
            strictHostKeyChecking = value
        }
        batchMode = try Self.flag(config, "batchmode", named: "BatchMode") ?? batchMode
        hashKnownHosts = try Self.flag(config, "hashknownhosts", named: "HashKnownHosts") ?? hashKnownHosts
        identitiesOnly = try Self.flag(config, "identitiesonly", named: "IdentitiesOnly") ?? identitiesOnly

        algorithms = try config.algorithms(over: algorithms)
        if let text = config["connecttimeout"], text.lowercased() != "none" {
            guard let seconds = Int(text), seconds > 0 else { throw config.badValue("connecttimeout", named: "ConnectTimeout", text, expected: "seconds") }
            connectTimeout = .seconds(seconds)
        }
        if let text = config["serveraliveinterval"] {
            guard let seconds = Int(text), seconds >= 0 else {
                throw config.badValue("serveraliveinterval", named: "ServerAliveInterval", text, expected: "seconds")
            }
            serverAliveInterval = seconds > 0 ? .seconds(seconds) : nil
        }
        if let text = config["serveralivecountmax"] {
            guard let number = Int(text), number > 0 else {
                throw config.badValue("serveralivecountmax", named: "ServerAliveCountMax", text, expected: "a positive number")
            }
            serverAliveCountMax = number
        }
        if let limit = config.arguments("rekeylimit") {
            rekeyLimits = try config.placed("rekeylimit") { try ConfigValues.rekeyLimits(limit, origin: $0) }
        }
        if let text = config["connectionattempts"] {
            guard let number = Int(text), number > 0 else {
                throw config.badValue("connectionattempts", named: "ConnectionAttempts", text, expected: "a positive number")
            }
            connectionAttempts = number
        }
        if let text = config["requesttty"] {
            guard let value = RequestTTY(rawValue: text.lowercased()) else {
                throw config.badValue("requesttty", named: "RequestTTY", text.lowercased(), expected: "auto, yes, no or force")
            }
            requestTTY = value
        }
        if let text = config["escapechar"] {
            guard let value = EscapeCharacter(text) else {
                throw config.badValue("escapechar", named: "EscapeChar", text, expected: "one character, ^X or none")
            }
            escapeCharacter = value
        }
        for occurrence in config.all("sendenv") {
            for pattern in occurrence {
                if pattern.hasPrefix("-") {
                    sendEnvironmentPatterns.removeAll { OpenSSHPattern.matches($0, pattern: String(pattern.dropFirst())) }
                } else {
                    sendEnvironmentPatterns.append(pattern)
                }
            }
        }
        for assignment in config.arguments("setenv") ?? [] {
            guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                throw config.badValue("setenv", named: "SetEnv", assignment, expected: "NAME=value")
            }
            setEnvironment.append(EnvironmentVariable(name: String(assignment[..<equals]), value: String(assignment[assignment.index(after: equals)...])))
        }
        if let text = config["remotecommand"], text.lowercased() != "none" {
            remoteCommand = config.arguments("remotecommand")?.joined(separator: " ") ?? text
        }
        if let text = config["proxycommand"], text.lowercased() != "none" { proxyCommand = text }
        if let text = config.arguments("proxyjump")?.joined(separator: " ") {
            // The reader has checked every occurrence; this one won.
            guard let hops = Self.jumpHosts(text) else { throw config.badValue("proxyjump", named: "ProxyJump", text, expected: Self.jumpHostsExpected) }
            proxyJump = hops
        }
        if let text = config["forwardagent"] {
            switch text.lowercased() {
            case "yes", "true": forwardAgent = .yes
            case "no", "false": forwardAgent = .no
            case _ where text.hasPrefix("$") && !text.hasPrefix("${"):
                let name = text.dropFirst()
                guard let first = name.first, first == "_" || (first.isASCII && first.isLetter),
                      name.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }) else {
                    throw config.badValue("forwardagent", named: "ForwardAgent", text, expected: "yes, no, a socket path or $VARIABLE")
                }
                forwardAgent = .environment(String(name))
            default: forwardAgent = .socket(text)
            }
        }
        permitLocalCommand = try Self.flag(config, "permitlocalcommand", named: "PermitLocalCommand") ?? permitLocalCommand
        if let text = config["localcommand"], text.lowercased() != "none" { localCommand = text }
        if let text = config["preferredauthentications"] { preferredAuthentications = text.split(separator: ",").map { String($0) } }
        // ssh fails on a bad NumberOfPasswordPrompts; shh has always taken the default instead.
        if let text = config["numberofpasswordprompts"] { numberOfPasswordPrompts = Int(text) ?? numberOfPasswordPrompts }
        hostKeyAlias = config["hostkeyalias"]
        switch config["identityagent"] {
        case nil: break
        case "none"?: identityAgent = .none
        case "SSH_AUTH_SOCK"?: identityAgent = .environment("SSH_AUTH_SOCK")
        case let text? where text.hasPrefix("$"): identityAgent = .environment(String(text.dropFirst()))
        case let text?: identityAgent = .socket(text)
        }
        for feature in Feature.allCases {
            guard let value = config[feature.rawValue]?.lowercased(), !["no", "false", "off", "none"].contains(value) else { continue }
            enabledFeatures[feature] = config.place(of: feature.rawValue)
        }
        for forwarding in Forwarding.allCases where !config.all(forwarding.rawValue).isEmpty {
            forwards[forwarding] = config.all(forwarding.rawValue)
        }
    }

    /// What a ProxyJump value should look like, for messages.
    static let jumpHostsExpected = "[user@]host[:port] or ssh://[user@]host[:port], comma-separated, or none"

    /// yes/true/on or no/false/off; nil when not set.
    private static func flag(_ config: SSHClientConfig, _ keyword: String, named name: String) throws -> Bool? {
        guard let text = config[keyword] else { return nil }
        switch text.lowercased() {
        case "yes", "true", "on": return true
        case "no", "false", "off": return false
        default: throw config.badValue(keyword, named: name, text, expected: "yes or no")
        }
    }

    // MARK: -G

    /// ssh -G's output for `host` (as typed): lower-case keywords, one per line, with what the client will use —
    /// these options as the client resolved them (user, host name, port, paths and commands expanded), then every
    /// other keyword as written.
    ///
    /// - Parameter host: The host as typed.
    /// - Returns: The lines, each ending in a newline.
    public func printed(host: String) -> String {
        var lines = ["host \(host)", "user \(user ?? "")", "hostname \(hostName ?? host)", "port \(port)"]
        lines.append("stricthostkeychecking \(strictHostKeyChecking.rawValue)")
        lines.append("batchmode \(batchMode ? "yes" : "no")")
        lines.append("hashknownhosts \(hashKnownHosts ? "yes" : "no")")
        lines.append("requesttty \(requestTTY.rawValue)")
        lines.append("ciphers \(algorithms.ciphers.map(\.rawValue).joined(separator: ","))")
        lines.append("macs \(algorithms.macs.map(\.rawValue).joined(separator: ","))")
        lines.append("kexalgorithms \(algorithms.keyExchange.map(\.rawValue).joined(separator: ","))")
        lines.append("hostkeyalgorithms \(algorithms.hostKey.map(\.name).joined(separator: ","))")
        lines.append("userknownhostsfile \(userKnownHostsFiles.joined(separator: " "))")
        lines.append("globalknownhostsfile \(globalKnownHostsFiles.joined(separator: " "))")
        lines.append("connectionattempts \(connectionAttempts)")
        lines += identityFiles.map { "identityfile \($0)" }
        lines += certificateFiles.map { "certificatefile \($0)" }
        if let remoteCommand { lines.append("remotecommand \(remoteCommand)") }
        if let proxyCommand { lines.append("proxycommand \(proxyCommand)") }
        // As ssh -G: PermitLocalCommand always, LocalCommand as written (ssh expands it only once connected).
        lines.append("permitlocalcommand \(permitLocalCommand ? "yes" : "no")")
        if let localCommand { lines.append("localcommand \(localCommand)") }
        let shown = Set(lines.map { String($0.prefix { $0 != " " }) })
        for (keyword, arguments) in config.values.sorted(by: { $0.key < $1.key }) where !shown.contains(keyword) {
            lines.append("\(keyword) \(arguments.joined(separator: " "))")
        }
        for keyword in ["sendenv"] + Forwarding.allCases.map(\.rawValue) {
            for arguments in config.all(keyword) { lines.append("\(keyword) \(arguments.joined(separator: " "))") }
        }
        return lines.map { $0 + "\n" }.joined()
    }
}
