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
    /// The options as shh resolved them (user, host name, port; paths and commands expanded), for -G.
    var options: SSHClientOptions
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
    /// LocalCommand with its %-tokens expanded, run here once authenticated; nil without PermitLocalCommand yes
    /// (then it is ignored, as ssh ignores it).
    var localCommand: String?
    var sendEnvironment: [(String, String)]
    var preferredAuthentications: [String]
    var passwordPrompts: Int
    var knownHostsName: String
    /// IdentityAgent, else SSH_AUTH_SOCK; nil for none.
    var agent: SSHAgentClient?
    var identitiesOnly: Bool
    /// ProxyJump's hops, first hop first (empty: none): the last is connected to first, through the others.
    var proxyJump: [SSHClientOptions.JumpHost]
    /// The agent socket the server may reach (ForwardAgent), expanded; nil when not forwarding.
    var forwardAgentSocket: String?
    /// The socket of the agent shh itself uses (IdentityAgent, else SSH_AUTH_SOCK): ssh forwards only when that
    /// one answers, whichever socket is forwarded.
    var identityAgentSocket: String?
    /// -L, -R, -D, -W and the options that go with them.
    var forwarding = ForwardingSettings()
    /// ForkAfterAuthentication (-f): go to the background once authenticated and forwarding.
    var forkAfterAuthentication = false
    /// -N, -W or SessionType none: no session channel (forwarding only).
    var noSession = false

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
        let options = try SSHClientOptions(reader.config, commandLinePort: arguments.port)
        diagnostics.level = options.logLevel
        if arguments.verbosity > 0 {
            diagnostics.level = max(diagnostics.level, Diagnostics.Level(rawValue: min(Diagnostics.Level.verbose.rawValue + arguments.verbosity, Diagnostics.Level.debug3.rawValue)) ?? .debug3)
        }
        reader.notes.forEach { diagnostics.debug($0) }

        let port = options.port
        let user = arguments.user ?? options.user ?? account.name
        let hostName = options.hostName.map { PercentTokens.expandHostName($0, host: host) } ?? host
        let tokens = PercentTokens(host: hostName, originalHost: host, port: String(port), remoteUser: user,
                                   localUser: account.name, homeDirectory: account.home, hostKeyAlias: options.hostKeyAlias,
                                   // %j is the last hop's host as ssh keeps it (jump_host), not the whole value.
                                   proxyJump: options.proxyJump.last?.host ?? "")
        func expandPath(_ path: String) throws -> String {
            do {
                return expandTilde(try tokens.expand(path), home: account.home)
            } catch {
                throw ShhFailure("shh: \(path): \(error)")
            }
        }

        try refuseWhatIsNotBuilt(options, arguments: arguments, diagnostics: diagnostics)

        // What shh will use, as -G prints it: the connection's user, host name and port, paths and commands expanded.
        var resolved = options
        resolved.user = user
        resolved.hostName = hostName
        resolved.identityFiles = try options.identityFiles.map(expandPath)
        resolved.certificateFiles = try options.certificateFiles.map(expandPath)
        resolved.userKnownHostsFiles = try options.userKnownHostsFiles.map(expandPath)
        resolved.globalKnownHostsFiles = try options.globalKnownHostsFiles.map(expandPath)
        resolved.remoteCommand = try options.remoteCommand.map { try tokens.expand($0) }
        resolved.proxyCommand = try options.proxyCommand.map { try tokens.expand($0) }
        // Left as written for -G (ssh expands it only once connected); a bad token fails here, before connecting.
        var localCommand: String?
        if options.permitLocalCommand, let command = options.localCommand {
            do {
                localCommand = try tokens.expandLocalCommand(command)
            } catch {
                throw ShhFailure("shh: LocalCommand \(command): \(error)")
            }
        }
        let strict = options.strictHostKeyChecking

        // ssh bounds connecting (ConnectTimeout), never the person answering the host key question or a prompt.
        var client = SSHClient.Configuration(authenticationTimeout: nil)
        client.algorithms = options.algorithms
        if let timeout = options.connectTimeout { client.connectTimeout = .seconds(timeout.components.seconds) }
        client.keepaliveInterval = options.serverAliveInterval.map { .seconds($0.components.seconds) }
        client.keepaliveMaximumUnanswered = options.serverAliveCountMax
        client.rekeyLimits = options.rekeyLimits

        let escapeCharacter = options.escapeCharacter

        // SendEnv's patterns pick from our environment, then SetEnv's fixed values.
        var environment: [(String, String)] = []
        for (name, value) in ProcessEnvironment.variables.sorted(by: { $0.0 < $1.0 })
        where options.sendEnvironmentPatterns.contains(where: { OpenSSHPattern.matches(name, pattern: $0) }) {
            environment.append((name, value))
        }
        environment += options.setEnvironment.map { ($0.name, $0.value) }

        let agentSocket: String? = switch options.identityAgent {
        case .environment(let name): ProcessEnvironment.variables[name]
        case .none: nil
        case .socket(let path): try expandPath(path)
        }
        let forwardAgentSocket: String? = switch options.forwardAgent {
        case .no: nil
        case .yes: agentSocket
        case .environment(let name): ProcessEnvironment.variables[name]
        case .socket(let path): try Self.expandEnvironment(try expandPath(path))
        }
        if case .socket = options.forwardAgent, let path = forwardAgentSocket {
            // ssh says so up front and carries on (the forwarded connections will fail, not the login).
            var status = stat()
            if stat(path, &status) != 0 {
                diagnostics.error("Cannot forward agent socket path \"\(path)\": \(String(cString: strerror(errno)))")
            }
        }
        var settings = ClientSettings(
            originalHost: host, hostName: hostName, port: port, user: user, localUser: account.name,
            homeDirectory: account.home, options: resolved, identityFiles: resolved.identityFiles,
            certificateFiles: resolved.certificateFiles, userKnownHostsFiles: resolved.userKnownHostsFiles,
            globalKnownHostsFiles: resolved.globalKnownHostsFiles, strictHostKeyChecking: strict,
            hashKnownHosts: options.hashKnownHosts, batchMode: options.batchMode, client: client,
            connectionAttempts: options.connectionAttempts, requestTTY: options.requestTTY.rawValue, escapeCharacter: escapeCharacter,
            remoteCommand: resolved.remoteCommand, proxyCommand: resolved.proxyCommand, localCommand: localCommand,
            sendEnvironment: environment, preferredAuthentications: options.preferredAuthentications,
            passwordPrompts: options.numberOfPasswordPrompts,
            // HostKeyAlias is used as written, port and all (ssh does not add the port to an alias).
            knownHostsName: options.hostKeyAlias ?? KnownHosts.hostName(hostName, port: port),
            agent: agentSocket.flatMap { $0.isEmpty ? nil : SSHAgentClient(socketPath: $0) },
            identitiesOnly: options.identitiesOnly, proxyJump: options.proxyJump,
            forwardAgentSocket: forwardAgentSocket.flatMap { $0.isEmpty ? nil : $0 },
            identityAgentSocket: agentSocket.flatMap { $0.isEmpty ? nil : $0 })
        settings.forwarding = try ForwardingSettings.resolve(arguments, config: reader.config)
        settings.forkAfterAuthentication = options.isOn(.forkAfterAuthentication)
        settings.noSession = arguments.noCommand || reader.config["sessiontype"]?.lowercased() == "none"
        return settings
    }

    /// ${NAME} in a path becomes that environment variable's value, as ssh expands ForwardAgent's path; a variable
    /// that is not set is an error, as in ssh.
    static func expandEnvironment(_ text: String) throws -> String {
        var result = ""
        var rest = Substring(text)
        while let start = rest.firstRange(of: "${") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else { throw ShhFailure("shh: \(text): unterminated ${") }
            let name = String(rest[start.upperBound..<end])
            guard let value = ProcessEnvironment.variables[name] else { throw ShhFailure("shh: \(text): env var ${\(name)} has no value") }
            result += value
            rest = rest[rest.index(after: end)...]
        }
        return result + rest
    }

    /// Options shh parses but whose effect is not built yet: each stops the run with a message naming it, so
    /// nothing is silently half-done. Options whose effect does not matter (multiplexing, compression) pass.
    static func refuseWhatIsNotBuilt(_ options: SSHClientOptions, arguments: ShhArguments, diagnostics: Diagnostics) throws {
        if let feature = arguments.notYetSupported.first {
            throw ShhFailure("shh: \(feature) is not supported yet")
        }
        let refusals: [(SSHClientOptions.Feature, String)] = [
            (.forwardX11, "X11 forwarding (ForwardX11 / -X / -Y) is not supported"),
            (.proxyUseFdpass, "ProxyUseFdpass is not supported; a ProxyCommand's standard input and output are used"),
            (.pkcs11Provider, "PKCS#11 keys (PKCS11Provider / -I) are not supported"),
            (.securityKeyProvider, "security keys (SecurityKeyProvider) are not supported"),
            (.knownHostsCommand, "KnownHostsCommand is not supported; use known_hosts files"),
            (.tunnel, "tunnel device forwarding (Tunnel) is not supported yet"),
            (.bindAddress, "BindAddress (-b) is not supported yet"),
            (.bindInterface, "BindInterface (-B) is not supported yet"),
            (.canonicalizeHostname, "CanonicalizeHostname is not supported yet"),
        ]
        for (feature, message) in refusals {
            if let place = options.enabledFeatures[feature] { throw ShhFailure("shh: \(message) (\(place))") }
        }
        for (feature, note) in [(SSHClientOptions.Feature.compression, "compression is not supported; continuing without it"),
                                (.controlMaster, "connection multiplexing is not supported; connecting directly"),
                                (.controlPath, "connection multiplexing is not supported; ControlPath is unused"),
                                (.controlPersist, "connection multiplexing is not supported; ControlPersist is unused"),
                                (.gssapiAuthentication, "GSSAPI authentication is not supported; other methods are tried")]
        where options.isOn(feature) {
            diagnostics.debug(note)
        }
    }

    /// ssh_config's "-o -G" output: lower-case keywords, one per line, with what shh will use.
    func printed() -> String {
        // The forwards as shh resolved them (the command line's too, ClearAllForwardings applied), in ssh -G's form
        // instead of as written; and the forwarding options with their values in effect.
        let resolvedKeywords: Set<Substring> = ["localforward", "remoteforward", "dynamicforward", "clearallforwardings",
                                                 "exitonforwardfailure", "gatewayports", "streamlocalbindunlink",
                                                 "streamlocalbindmask", "permitremoteopen", "enableescapecommandline"]
        var lines = options.printed(host: originalHost).split(separator: "\n").filter { line in
            !resolvedKeywords.contains(line.prefix { $0 != " " })
        }.map(String.init)
        let forwarding = self.forwarding
        func yesNo(_ value: Bool) -> String { value ? "yes" : "no" }
        lines.append("clearallforwardings \(yesNo(forwarding.clearAll))")
        lines.append("exitonforwardfailure \(yesNo(forwarding.exitOnForwardFailure))")
        lines.append("gatewayports \(yesNo(forwarding.gatewayPorts))")
        lines.append("streamlocalbindunlink \(yesNo(forwarding.streamLocal.unlinkExisting))")
        lines.append("streamlocalbindmask 0\(String(forwarding.streamLocal.mask, radix: 8))")
        lines.append("enableescapecommandline \(yesNo(forwarding.escapeCommandLine))")
        lines += forwarding.printed
        let opens = forwarding.permittedRemoteOpens.map { $0.isEmpty ? "none" : $0.map { "\($0.host):\($0.port.map(String.init) ?? "*")" }.joined(separator: " ") }
        lines.append("permitremoteopen \(opens ?? "any")")
        return lines.map { $0 + "\n" }.joined()
    }
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
