// ssh_config's options for one connection as typed values: every default in one place (the stored properties
// below, OpenSSH's defaults as shh uses them), each value checked where it was written. Paths and commands are as
// written: %-tokens and "~" are the client's to expand, since they need the connection's user, host and port.
import SSHKeys
import SSHProtocol

public struct SSHClientOptions: Sendable, Equatable {
    public enum StrictHostKeyChecking: String, Sendable, CaseIterable {
        case yes, acceptNew = "accept-new", no, ask

        /// yes/true, accept-new, no/off/false, ask, in any case.
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

    public enum RequestTTY: String, Sendable, CaseIterable {
        case auto, yes, no, force
    }

    /// EscapeChar: none, one character, or "^X" for a control character.
    public enum EscapeCharacter: Sendable, Equatable {
        case none
        case character(UInt8)

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
        case none
        case environment(String)
        case socket(String)
    }

    public struct EnvironmentVariable: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Options that ask for something, on when set to anything but no, false, off or none (ForwardAgent may name a
    /// socket, ProxyJump a host): the client decides which it refuses and which it only notes.
    public enum Feature: String, Sendable, CaseIterable {
        case forwardAgent = "forwardagent", forwardX11 = "forwardx11", proxyJump = "proxyjump"
        case proxyUseFdpass = "proxyusefdpass", pkcs11Provider = "pkcs11provider"
        case securityKeyProvider = "securitykeyprovider", knownHostsCommand = "knownhostscommand", tunnel
        case forkAfterAuthentication = "forkafterauthentication", permitLocalCommand = "permitlocalcommand"
        case bindAddress = "bindaddress", bindInterface = "bindinterface", canonicalizeHostname = "canonicalizehostname"
        case clearAllForwardings = "clearallforwardings", compression, controlMaster = "controlmaster"
        case controlPath = "controlpath", controlPersist = "controlpersist", gssapiAuthentication = "gssapiauthentication"
    }

    /// LocalForward, RemoteForward and DynamicForward (raw value: the keyword, as -G prints it).
    public enum Forwarding: String, Sendable, CaseIterable {
        case local = "localforward", remote = "remoteforward", dynamic = "dynamicforward"
    }

    // MARK: The options, with their defaults

    public var logLevel: OpenSSHLogLevel = .info
    public var port = 22
    /// User; nil: the user given on the command line, else the local user.
    public var user: String?
    /// HostName as written (only %h and %% expand in it); nil: the host as typed.
    public var hostName: String?
    public var identityFiles = ["~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ed25519"]
    public var certificateFiles: [String] = []
    public var userKnownHostsFiles = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"]
    public var globalKnownHostsFiles = ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]
    public var strictHostKeyChecking: StrictHostKeyChecking = .ask
    public var batchMode = false
    public var hashKnownHosts = false
    public var identitiesOnly = false
    /// Ciphers, MACs, KexAlgorithms and HostKeyAlgorithms over the defaults.
    public var algorithms: SSHAlgorithms = .defaults
    /// ConnectTimeout; nil: none set (the client's own bound on connecting applies).
    public var connectTimeout: Duration?
    /// ServerAliveInterval; nil: no keepalives (0, the default).
    public var serverAliveInterval: Duration?
    public var serverAliveCountMax = 3
    public var rekeyLimits = SSHRekeyLimits()
    public var connectionAttempts = 1
    public var requestTTY: RequestTTY = .auto
    public var escapeCharacter: EscapeCharacter = .character(UInt8(ascii: "~"))
    /// SendEnv patterns, a "-pattern" having removed the earlier ones it matches.
    public var sendEnvironmentPatterns: [String] = []
    /// SetEnv's NAME=value pairs, in order.
    public var setEnvironment: [EnvironmentVariable] = []
    /// RemoteCommand as written (nil for none).
    public var remoteCommand: String?
    /// ProxyCommand as written (nil for none).
    public var proxyCommand: String?
    public var preferredAuthentications = ["publickey", "keyboard-interactive", "password"]
    public var numberOfPasswordPrompts = 3
    /// HostKeyAlias: the name to look the host key up under, as written.
    public var hostKeyAlias: String?
    public var identityAgent: IdentityAgent = .environment("SSH_AUTH_SOCK")
    /// The features set on, with where.
    public var enabledFeatures: [Feature: OpenSSHConfigOrigin] = [:]
    /// Each forwarding's occurrences (arguments as written).
    public var forwards: [Forwarding: [[String]]] = [:]

    /// What was read, for -G.
    var config = SSHClientConfig()

    /// Every default.
    public init() {}

    public static let defaults = SSHClientOptions()

    public func isOn(_ feature: Feature) -> Bool { enabledFeatures[feature] != nil }

    /// Compression (shh offers none; -G and -v report it).
    public var compression: Bool { isOn(.compression) }

    /// The options `config` gives, over the defaults. A port given on the command line (-p) is used instead of
    /// Port. Throws an `OpenSSHConfigError` naming the file and line of the first value that does not parse.
    public init(_ config: SSHClientConfig, commandLinePort: Int? = nil) throws {
        self.config = config
        if let text = config["loglevel"] {
            guard let level = OpenSSHLogLevel(name: text) else {
                throw config.badValue("loglevel", named: "LogLevel", text, expected: OpenSSHLogLevel.expected)
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
