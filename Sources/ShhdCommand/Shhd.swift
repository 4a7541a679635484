// shhd: what administrators run instead of sshd. Parses sshd's command line, reads sshd_config (or, with none,
// runs the embedded default: 127.0.0.1:2222, a host key of its own, the running user's authorized_keys), checks
// it (-t), prints it (-T), and serves: one event-loop process for every connection, sessions run by
// SSHProcessSessionHandler, SIGTERM a graceful shutdown (no new connections; open sessions run to their end).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore
import OpenSSHConfig
import ServiceLifecycle
import SSH
import SSHCommandLine
import SSHKeys
import SSHServerHost

public enum Shhd {
    public static let version = "shhd_0.1"

    /// Runs shhd with `arguments` (without the program name); returns the exit status.
    public static func run(_ arguments: [String]) async -> Int32 {
        let log = ServerLog()
        let parsed: ShhdArguments
        do {
            parsed = try ShhdArguments.parse(arguments)
        } catch {
            log.error("shhd: \(error)")
            // One log write per line: each is escaped as one line (see ServerLog).
            for line in usage.split(separator: "\n") { log.error(String(line)) }
            return 255
        }
        if parsed.printVersion {
            log.error("\(version), SSH protocols 2.0")
            return 0
        }
        if let logFile = parsed.logFile, !log.redirect(to: logFile) {
            log.error("shhd: cannot open log file \(logFile): \(String(cString: strerror(errno)))")
            return 255
        }
        do {
            let settings = try ServerSettings.resolve(parsed, log: log, checking: parsed.checkOnly || parsed.printConfiguration)
            if let level = settings.global["loglevel"].flatMap(ServerLog.Level.init(name:)) { log.level = level }
            if parsed.debug > 0 { log.level = max(log.level, ServerLog.Level(rawValue: ServerLog.Level.verbose.rawValue + parsed.debug) ?? .debug3) }
            if parsed.quiet { log.level = .quiet }
            if parsed.printConfiguration {
                TerminalPrompt.writeAll(STDOUT_FILENO, try printed(settings, connection: parsed.connectionSpec))
                return 0
            }
            if parsed.checkOnly { return 0 }
            for note in settings.notes { log.info(note) }
            return try await serve(settings, log: log)
        } catch let error as OpenSSHConfigError {
            log.error("shhd: \(error)")
            return 255
        } catch let error as ShhdFailure {
            log.error(error.message)
            return 255
        } catch {
            log.error("shhd: \(error)")
            return 255
        }
    }

    /// How long SIGTERM or SIGINT lets open sessions run before their connections are closed.
    static let shutdownGracePeriod: Duration = .seconds(30)

    static let usage = """
        usage: shhd [-46DdeqTtV] [-C connection_spec] [-c host_cert_file] [-E log_file] [-f config_file]
                    [-g login_grace_time] [-h host_key_file] [-o option] [-p port]
        """

    /// One SSHServer per listening address, run as a service group that SIGTERM and SIGINT shut down gracefully.
    static func serve(_ settings: ServerSettings, log: ServerLog) async throws -> Int32 {
        let authenticator = ShhdAuthenticator(file: settings.file, global: settings.global, runningAccount: settings.runningAccount, log: log,
                                              banners: settings.banners)
        // As root, each session runs as the account that logged in; otherwise only shhd's own user gets in.
        let sessions = SSHProcessSessionHandler(
            accounts: settings.runningAccount.uid == 0 ? .authenticatedUser : .serverAccount,
            messageOfTheDay: ConfigValues.flag(settings.global["printmotd"] ?? "yes") == false ? nil : "/etc/motd")
        raiseOpenFileLimit(log: log, limits: settings.startupLimits)
        var servers: [SSHServer] = []
        // One count of startups and one penalty table for every listening address, as sshd keeps them.
        let startupGate = settings.startupLimits.map { SSHStartupGate(limits: $0) }
        for listener in settings.listeners {
            var configuration = settings.configuration
            configuration.startupGate = startupGate
            configuration.onEvent = { event in log.info(describe(event)) }
            configuration.host = listener.host
            configuration.port = listener.port
            servers.append(SSHServer(configuration: configuration, authenticator: authenticator, sessionHandler: sessions))
        }
        if let pidFile = settings.pidFile {
            try? SSHKeyFile.write("\(getpid())\n", toPath: pidFile, mode: 0o644)
        }
        defer { if let pidFile = settings.pidFile { unlink(pidFile) } }
        var quiet = Logger(label: "shhd.lifecycle")
        quiet.logLevel = .critical
        var groupConfiguration = ServiceGroupConfiguration(
            services: servers.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet)
        // sshd's sessions outlive its listener (each is a process of its own); shhd's live in this process, so a
        // stop waits for them only this long, then closes every connection (their sessions are hung up).
        groupConfiguration.maximumGracefulShutdownDuration = shutdownGracePeriod
        let group = ServiceGroup(configuration: groupConfiguration)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            for (server, listener) in zip(servers, settings.listeners) {
                tasks.addTask {
                    do {
                        let port = try await server.listeningPort
                        log.info("Server listening on \(listener.host) port \(port).")
                    } catch {
                        log.error("shhd: cannot listen on \(listener.host) port \(listener.port): \(error)")
                    }
                }
            }
            try await tasks.waitForAll()
        }
        log.info("Received signal; terminating.")
        return 0
    }

    /// Each connection, session pipe and terminal is a descriptor: the soft open-file limit goes up to the hard one
    /// (1024 is a common soft limit), with a warning when even that leaves little room for MaxStartups' connections
    /// and their sessions.
    static func raiseOpenFileLimit(log: ServerLog, limits: SSHStartupLimits?) {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        let wanted = rlim_t(max(4096, (limits?.full ?? 100) * 16))
        if limit.rlim_cur < wanted {
            log.info("shhd: the open-file limit is \(limit.rlim_cur); with MaxStartups \(limits?.full ?? 100) and sessions, \(wanted) or more is advised (ulimit -n)")
        }
    }

    /// One log line per event, worded as sshd words its own where it has one.
    static func describe(_ event: SSHServerEvent) -> String {
        func place(_ address: SocketAddress?) -> String { "\(address?.ipAddress ?? "unknown") port \(address?.port ?? 0)" }
        switch event {
        case .connectionOpened(let remote, let local):
            return "Connection from \(place(remote)) on \(place(local))"
        case .connectionRefused(let remote, let local, let reason):
            return "drop connection from [\(remote?.ipAddress ?? "unknown")]:\(remote?.port ?? 0) on [\(local?.ipAddress ?? "unknown")]:\(local?.port ?? 0) \(reason)"
        case .connectionClosed(let remote, let user, let reason):
            return user.isEmpty ? "Connection closed by \(place(remote)) [preauth]: \(reason)"
                : "Disconnected from user \(user) \(place(remote)): \(reason)"
        case .sessionStarted(let session):
            return "Starting session: \(what(session)) for \(session.user) from \(place(session.remoteAddress)) id \(session.channel)"
        case .sessionEnded(let session, let exit, let received, let sent):
            let status: String
            switch exit {
            case .status(let code)?: status = "exit status \(code)"
            case .signal(let signal)?: status = "killed by signal \(signal.signalName)"
            case nil: status = "failed"
            }
            let traffic = received.map { "received \($0) bytes, sent \(sent ?? 0) bytes" } ?? "connection lost"
            return "Session ended for \(session.user) from \(place(session.remoteAddress)) id \(session.channel): \(status), \(traffic)"
        }
    }

    private static func what(_ session: SSHServerSessionRecord) -> String {
        let terminal = session.hasTerminal ? " on a terminal" : ""
        switch session.command {
        case .exec: return "command\(terminal)"
        case .shell: return "shell\(terminal)"
        case .subsystem(let name): return "subsystem '\(name)'"
        }
    }

    /// -T: the effective configuration, lower-case keywords as sshd -T prints them. With -C, the Match blocks
    /// for that connection (user=, host=, addr=, laddr=, lport=) apply.
    static func printed(_ settings: ServerSettings, connection spec: String?) throws -> String {
        var config = settings.global
        if let spec {
            var context = SSHServerMatchContext()
            for item in spec.split(separator: ",") {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ShhdFailure("shhd: invalid test mode specification \(item)") }
                switch parts[0] {
                case "user":
                    context.user = parts[1]
                    context.groups = SSHSessionAccount(named: parts[1])?.groupNames ?? []
                case "host": context.host = parts[1]
                case "addr": context.address = parts[1]
                case "laddr": context.localAddress = parts[1]
                case "lport": context.localPort = Int(parts[1])
                case "rdomain": context.routingDomain = parts[1]
                default: throw ShhdFailure("shhd: invalid test mode specification \(item)")
                }
            }
            config = settings.file.settings(for: context)
        }
        var lines: [String] = []
        let ports = Set(settings.listeners.map(\.port)).sorted()
        lines += ports.map { "port \($0)" }
        lines += settings.listeners.map { "listenaddress \($0.host.contains(":") ? "[\($0.host)]" : $0.host):\($0.port)" }
        lines += settings.configuration.hostKeys.isEmpty ? [] : config.all("hostkey").compactMap(\.first).map { "hostkey \($0)" }
        let algorithms = settings.configuration.algorithms
        lines.append("ciphers \(algorithms.ciphers.map(\.rawValue).joined(separator: ","))")
        lines.append("macs \(algorithms.macs.map(\.rawValue).joined(separator: ","))")
        lines.append("kexalgorithms \(algorithms.keyExchange.map(\.rawValue).joined(separator: ","))")
        lines.append("hostkeyalgorithms \(algorithms.hostKey.map(\.name).joined(separator: ","))")
        lines.append("maxauthtries \(config["maxauthtries"] ?? "6")")
        lines.append("maxsessions \(config["maxsessions"] ?? "10")")
        lines.append("logingracetime \(settings.configuration.loginGraceTime.nanoseconds / 1_000_000_000)")
        lines.append("permitrootlogin \(config["permitrootlogin"] ?? "without-password")")
        lines.append("pubkeyauthentication \(config["pubkeyauthentication"] ?? "yes")")
        lines.append("passwordauthentication \(config["passwordauthentication"] ?? "yes")")
        lines.append("kbdinteractiveauthentication \(config["kbdinteractiveauthentication"] ?? "yes")")
        lines.append("authorizedkeysfile \((config.arguments("authorizedkeysfile") ?? [".ssh/authorized_keys", ".ssh/authorized_keys2"]).joined(separator: " "))")
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
