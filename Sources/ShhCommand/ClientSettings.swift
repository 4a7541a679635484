// From command line and ssh_config to the settings of one connection: where to connect, as whom, how to check the
// host, which identities, which algorithms. Options that would change what shh does in a way it cannot honour yet
// are refused here, by name; options that change nothing that matters are accepted with a note at -v.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import OpenSSHConfig
import SSH
import SSHKeys
import SSHProtocol
import SSHAgent
import SSHPOSIX

struct ClientSettings {
    var originalHost: String
    var hostName: String
    var port: Int
    var user: String
    var localUser: String
    var homeDirectory: String
    var config: SSHClientConfig
    var identityFiles: [String]
    var certificateFiles: [String]
    var userKnownHostsFiles: [String]
    var globalKnownHostsFiles: [String]
    var strictHostKeyChecking: StrictHostKeyChecking
    var hashKnownHosts: Bool
    var batchMode: Bool
    var client: SSHClient.Configuration
    var connectionAttempts: Int
    var requestTTY: String
    var escapeCharacter: EscapeCharacter
    var remoteCommand: String?
    /// ProxyCommand with its %-tokens expanded: run by the shell, its standard input and output carry SSH.
    var proxyCommand: String?
    var sendEnvironment: [(String, String)]
    var preferredAuthentications: [String]
    var passwordPrompts: Int
    var knownHostsName: String
    /// IdentityAgent, else SSH_AUTH_SOCK; nil for none.
    var agent: SSHAgentClient?
    var identitiesOnly: Bool

    static func resolve(_ arguments: ShhArguments, host: String, diagnostics: Diagnostics) throws -> ClientSettings {
        // The user running shh, from the password database (HOME when it has no entry for our uid).
        var account = SystemAccount.current()
        if SystemAccount(uid: account.uid) == nil { account.home = ProcessEnvironment.variables["HOME"] ?? "/" }
        var reader = SSHClientConfigReader(
            destination: .init(originalHost: host, commandLineUser: arguments.user, localUser: account.name, homeDirectory: account.home),
            runCommand: { command in runShellCommand(command) })
        for line in arguments.configLines { try reader.apply(option: line) }
        switch arguments.configFile {
        case "none"?: break
        case let file?: try reader.read(path: expandTilde(file, home: account.home), userConfig: true, required: true)
        case nil:
            try reader.read(path: account.home + "/.ssh/config", userConfig: true, required: false)
            try reader.read(path: "/etc/ssh/ssh_config", userConfig: false, required: false)
        }
        let config = reader.config
        if let level = config["loglevel"] {
            guard let parsed = Diagnostics.Level(name: level) else { throw badValue("LogLevel", level, "QUIET, FATAL, ERROR, INFO, VERBOSE or DEBUG1-3", config) }
            diagnostics.level = parsed
        }
        if arguments.verbosity > 0 {
            diagnostics.level = max(diagnostics.level, Diagnostics.Level(rawValue: min(Diagnostics.Level.verbose.rawValue + arguments.verbosity, Diagnostics.Level.debug3.rawValue)) ?? .debug3)
        }
        reader.notes.forEach { diagnostics.debug($0) }

        let port: Int
        if let given = arguments.port {
            port = given
        } else if let text = config["port"] {
            guard let number = ShhArguments.port(text) else { throw badValue("Port", text, "a port number", config) }
            port = number
        } else {
            port = 22
        }
        let user = arguments.user ?? config["user"] ?? account.name
        let hostName = config["hostname"].map { PercentTokens.expandHostName($0, host: host) } ?? host
        let tokens = PercentTokens(host: hostName, originalHost: host, port: String(port), remoteUser: user,
                                   localUser: account.name, homeDirectory: account.home)
        func expandPath(_ path: String) throws -> String {
            do {
                return expandTilde(try tokens.expand(path), home: account.home)
            } catch {
                throw ShhFailure("shh: \(path): \(error)")
            }
        }

        try refuseWhatIsNotBuilt(config, arguments: arguments, diagnostics: diagnostics)

        let identityLines = config.all("identityfile").compactMap(\.first)
        let identityFiles = identityLines.isEmpty
            ? ["id_rsa", "id_ecdsa", "id_ed25519"].map { account.home + "/.ssh/" + $0 }
            : try identityLines.map(expandPath)
        let certificateFiles = try config.all("certificatefile").compactMap(\.first).map(expandPath)
        let userKnownHosts = try (config.arguments("userknownhostsfile") ?? ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"]).map(expandPath)
        let globalKnownHosts = try (config.arguments("globalknownhostsfile") ?? ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]).map(expandPath)
        let strictText = config["stricthostkeychecking"] ?? "ask"
        guard let strict = StrictHostKeyChecking(configValue: strictText) else {
            throw badValue("StrictHostKeyChecking", strictText, "yes, accept-new, no or ask", config)
        }
        let batchMode = try flag(config, "batchmode", default: false)

        // ssh bounds connecting (ConnectTimeout), never the person answering the host key question or a prompt.
        var client = SSHClient.Configuration(authenticationTimeout: nil)
        client.algorithms = try ConfigValues.algorithms({ keyword in
            config[keyword].map { ($0, config.origins[keyword] ?? "command line") }
        }, over: client.algorithms)
        if let timeout = config["connecttimeout"], timeout.lowercased() != "none" {
            guard let seconds = Int(timeout), seconds > 0 else { throw badValue("ConnectTimeout", timeout, "seconds", config) }
            client.connectTimeout = .seconds(Int64(seconds))
        }
        if let interval = config["serveraliveinterval"] {
            guard let seconds = Int(interval), seconds >= 0 else { throw badValue("ServerAliveInterval", interval, "seconds", config) }
            client.keepaliveInterval = seconds > 0 ? .seconds(Int64(seconds)) : nil
        }
        if let count = config["serveralivecountmax"] {
            guard let number = Int(count), number > 0 else { throw badValue("ServerAliveCountMax", count, "a positive number", config) }
            client.keepaliveMaximumUnanswered = number
        }
        if let limit = config.arguments("rekeylimit") {
            client.rekeyLimits = try ConfigValues.rekeyLimits(limit, origin: config.origins["rekeylimit"] ?? "command line")
        }
        let attemptsText = config["connectionattempts"] ?? "1"
        guard let attempts = Int(attemptsText), attempts > 0 else { throw badValue("ConnectionAttempts", attemptsText, "a positive number", config) }

        let requestTTY = (config["requesttty"] ?? "auto").lowercased()
        guard ["auto", "yes", "no", "force"].contains(requestTTY) else { throw badValue("RequestTTY", requestTTY, "auto, yes, no or force", config) }

        let escapeText = config["escapechar"] ?? "~"
        guard let escapeCharacter = EscapeCharacter(escapeText) else { throw badValue("EscapeChar", escapeText, "one character, ^X or none", config) }

        // SendEnv patterns (a "-pattern" removes earlier ones), then SetEnv's fixed values.
        var patterns: [String] = []
        for occurrence in config.all("sendenv") {
            for pattern in occurrence {
                if pattern.hasPrefix("-") {
                    patterns.removeAll { OpenSSHPattern.matches($0, pattern: String(pattern.dropFirst())) }
                } else {
                    patterns.append(pattern)
                }
            }
        }
        var environment: [(String, String)] = []
        for (name, value) in ProcessEnvironment.variables.sorted(by: { $0.0 < $1.0 }) where patterns.contains(where: { OpenSSHPattern.matches(name, pattern: $0) }) {
            environment.append((name, value))
        }
        for assignment in config.arguments("setenv") ?? [] {
            guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                throw badValue("SetEnv", assignment, "NAME=value", config)
            }
            environment.append((String(assignment[..<equals]), String(assignment[assignment.index(after: equals)...])))
        }

        let preferred = (config["preferredauthentications"] ?? "publickey,keyboard-interactive,password")
            .split(separator: ",").map { String($0) }
        let prompts = Int(config["numberofpasswordprompts"] ?? "3") ?? 3
        let agentSocket: String? = switch config["identityagent"] {
        case nil, "SSH_AUTH_SOCK"?: ProcessEnvironment.variables["SSH_AUTH_SOCK"]
        case "none"?: nil
        case let path? where path.hasPrefix("$"): ProcessEnvironment.variables[String(path.dropFirst())]
        case let path?: try expandPath(path)
        }
        return ClientSettings(
            originalHost: host, hostName: hostName, port: port, user: user, localUser: account.name,
            homeDirectory: account.home, config: config, identityFiles: identityFiles, certificateFiles: certificateFiles,
            userKnownHostsFiles: userKnownHosts, globalKnownHostsFiles: globalKnownHosts, strictHostKeyChecking: strict,
            hashKnownHosts: try flag(config, "hashknownhosts", default: false), batchMode: batchMode, client: client,
            connectionAttempts: attempts, requestTTY: requestTTY, escapeCharacter: escapeCharacter,
            remoteCommand: try config["remotecommand"].flatMap { $0.lowercased() == "none" ? nil : try tokens.expand(config.arguments("remotecommand")?.joined(separator: " ") ?? $0) },
            proxyCommand: try config["proxycommand"].flatMap { $0.lowercased() == "none" ? nil : try tokens.expand($0) },
            sendEnvironment: environment, preferredAuthentications: preferred, passwordPrompts: prompts,
            // HostKeyAlias is used as written, port and all (ssh does not add the port to an alias).
            knownHostsName: config["hostkeyalias"] ?? KnownHosts.hostName(hostName, port: port),
            agent: agentSocket.flatMap { $0.isEmpty ? nil : SSHAgentClient(socketPath: $0) },
            identitiesOnly: try flag(config, "identitiesonly", default: false))
    }

    /// Options shh parses but whose effect is not built yet: each stops the run with a message naming it, so
    /// nothing is silently half-done. Options whose effect does not matter (multiplexing, compression) pass.
    static func refuseWhatIsNotBuilt(_ config: SSHClientConfig, arguments: ShhArguments, diagnostics: Diagnostics) throws {
        if let feature = arguments.notYetSupported.first {
            throw ShhFailure("shh: \(feature) is not supported yet")
        }
        func isOn(_ keyword: String) -> Bool {
            guard let value = config[keyword]?.lowercased() else { return false }
            return !["no", "false", "off", "none"].contains(value)
        }
        let refusals: [(String, String)] = [
            ("forwardagent", "agent forwarding (ForwardAgent / -A) is not supported yet"),
            ("forwardx11", "X11 forwarding (ForwardX11 / -X / -Y) is not supported"),
            ("proxyjump", "ProxyJump (-J) is not supported yet"),
            ("proxyusefdpass", "ProxyUseFdpass is not supported; a ProxyCommand's standard input and output are used"),
            ("pkcs11provider", "PKCS#11 keys (PKCS11Provider / -I) are not supported"),
            ("securitykeyprovider", "security keys (SecurityKeyProvider) are not supported"),
            ("knownhostscommand", "KnownHostsCommand is not supported; use known_hosts files"),
            ("tunnel", "tunnel device forwarding (Tunnel) is not supported yet"),
            ("forkafterauthentication", "going to the background (ForkAfterAuthentication / -f) is not supported yet"),
            ("permitlocalcommand", "LocalCommand (PermitLocalCommand) is not supported yet"),
            ("bindaddress", "BindAddress (-b) is not supported yet"),
            ("bindinterface", "BindInterface (-B) is not supported yet"),
            ("canonicalizehostname", "CanonicalizeHostname is not supported yet"),
        ]
        for (keyword, message) in refusals where isOn(keyword) {
            throw ShhFailure("shh: \(message) (\(config.origins[keyword] ?? "command line"))")
        }
        for forward in ["localforward", "remoteforward", "dynamicforward"] where !config.all(forward).isEmpty && !isOn("clearallforwardings") {
            throw ShhFailure("shh: port forwarding (\(forward)) is not supported yet")
        }
        for (keyword, note) in [("compression", "compression is not supported; continuing without it"),
                                ("controlmaster", "connection multiplexing is not supported; connecting directly"),
                                ("controlpath", "connection multiplexing is not supported; ControlPath is unused"),
                                ("controlpersist", "connection multiplexing is not supported; ControlPersist is unused"),
                                ("gssapiauthentication", "GSSAPI authentication is not supported; other methods are tried")]
        where isOn(keyword) {
            diagnostics.debug(note)
        }
    }

    /// ssh_config's "-o -G" output: lower-case keywords, one per line, with what shh will use.
    func printed() -> String {
        var lines = ["host \(originalHost)", "user \(user)", "hostname \(hostName)", "port \(port)"]
        lines.append("stricthostkeychecking \(strictHostKeyChecking == .acceptNew ? "accept-new" : strictHostKeyChecking.rawValue)")
        lines.append("batchmode \(batchMode ? "yes" : "no")")
        lines.append("hashknownhosts \(hashKnownHosts ? "yes" : "no")")
        lines.append("requesttty \(requestTTY)")
        lines.append("ciphers \(client.algorithms.ciphers.map(\.rawValue).joined(separator: ","))")
        lines.append("macs \(client.algorithms.macs.map(\.rawValue).joined(separator: ","))")
        lines.append("kexalgorithms \(client.algorithms.keyExchange.map(\.rawValue).joined(separator: ","))")
        lines.append("hostkeyalgorithms \(client.algorithms.hostKey.map(\.name).joined(separator: ","))")
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
        for keyword in ["sendenv", "localforward", "remoteforward", "dynamicforward"] {
            for arguments in config.all(keyword) { lines.append("\(keyword) \(arguments.joined(separator: " "))") }
        }
        return lines.map { $0 + "\n" }.joined()
    }
}

func flag(_ config: SSHClientConfig, _ keyword: String, default value: Bool) throws -> Bool {
    guard let text = config[keyword] else { return value }
    switch text.lowercased() {
    case "yes", "true", "on": return true
    case "no", "false", "off": return false
    default: throw badValue(keyword, text, "yes or no", config)
    }
}

func badValue(_ keyword: String, _ value: String, _ expected: String, _ config: SSHClientConfig) -> ShhFailure {
    ShhFailure("shh: \(config.origins[keyword.lowercased()] ?? "command line"): invalid \(keyword) \"\(value)\": expected \(expected)")
}


/// Match exec: `/bin/sh -c command`, true when it exits 0 (its output goes where ours does).
func runShellCommand(_ command: String) -> Bool {
    runToSuccess("/bin/sh", ["-c", command], fileActions: nil)
}

/// Spawns `program` (searched in PATH) with `arguments` and waits: true when it exited with status 0.
func runToSuccess(_ program: String, _ arguments: [String], fileActions: UnsafePointer<posix_spawn_file_actions_t>?) -> Bool {
    var argv = ([program] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    guard posix_spawnp(&pid, program, fileActions, nil, &argv, environ) == 0 else { return false }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 { guard errno == EINTR else { return false } }
    return status & 0x7f == 0 && (status >> 8) & 0xff == 0
}
