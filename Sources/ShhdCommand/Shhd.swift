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
import SSHPOSIX
import NIOPosix
import OpenSSHConfig
import ServiceLifecycle
import SSH
import SSHCommandLine
import SSHForwarding
import SSHKeys
import SSHProtocol
import SSHServerHost
import Synchronization
import UnixSignals

/// shhd, the server, runnable in-process: what the `shhd` executable calls.
public enum Shhd {
    /// What -V prints, and the name in the server's version string.
    public static let version = "shhd_0.1"

    /// Runs shhd with `arguments` (without the program name); returns the exit status. `relaunchPrefix`: what goes
    /// between this program's path and `arguments` to run shhd again (the network process): nothing for shhd
    /// itself, `["shhd"]` for a program that runs shhd as a subcommand.
    public static func run(_ arguments: [String], relaunchPrefix: [String] = []) async -> Int32 {
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
            let networkProcess = PrivilegeSeparation.networkProcess
            let settings = try ServerSettings.resolve(parsed, log: log, checking: parsed.checkOnly || parsed.printConfiguration,
                                                      loadingHostKeys: networkProcess == nil)
            log.level = settings.options.logLevel
            if parsed.debug > 0 { log.level = max(log.level, ServerLog.Level(rawValue: ServerLog.Level.verbose.rawValue + parsed.debug) ?? .debug3) }
            if parsed.quiet { log.level = .quiet }
            if parsed.printConfiguration {
                TerminalPrompt.writeAll(STDOUT_FILENO, try printed(settings, connection: parsed.connectionSpec))
                return 0
            }
            if parsed.checkOnly { return 0 }
            if let networkProcess { return try await serveAsNetworkProcess(settings, networkProcess, log: log) }
            for note in settings.notes { log.info(note) }
            // As root, shhd splits: see PrivilegeSeparation.
            if settings.runningAccount.uid == 0 { return try await serveSeparated(settings, arguments: relaunchPrefix + arguments, log: log) }
            return try await serve(settings, log: log, serving: inProcess(settings, log: log))
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

    /// `run`, with the main thread waiting for it instead of leaving (call it from a main.swift without top-level
    /// `await`, whose code runs on the main thread). An async main ends the main thread
    /// (dispatch_main's pthread_exit); the network process's later change of credentials then never reaches it, and
    /// /proc (ps, top) goes on showing the process as root. A waiting main thread takes the change with the others.
    public static func runWithMainThreadWaiting(_ arguments: [String], relaunchPrefix: [String] = []) -> Int32 {
        final class Outcome: @unchecked Sendable {
            // Written once by the task, read after the semaphore says it was.
            var status: Int32 = 255
            let done = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        }
        // The network process runs its tasks on NIO's threads (see NetworkProcessExecutor), installed before the first.
        if PrivilegeSeparation.networkProcess != nil && !NetworkProcessExecutor.install() {
            ServerLog().error("shhd: network process: this Swift runtime does not let shhd run its tasks off libdispatch's pool")
            return 255
        }
        let outcome = Outcome()
        sem_init(outcome.done, 0, 0)
        Task.detached {
            outcome.status = await run(arguments, relaunchPrefix: relaunchPrefix)
            sem_post(outcome.done)
        }
        while sem_wait(outcome.done) != 0 && errno == EINTR {}
        return outcome.status
    }

    /// How long SIGTERM or SIGINT lets open sessions run before their connections are closed.
    static let shutdownGracePeriod: Duration = .seconds(30)

    static let usage = """
        usage: shhd [-46DdeqTtV] [-C connection_spec] [-c host_cert_file] [-E log_file] [-f config_file]
                    [-g login_grace_time] [-h host_key_file] [-o option] [-p port]
        """

    /// Who decides, signs and starts sessions for the servers: shhd itself (not root), or the broker (the network
    /// process), which also hands in the listening sockets.
    struct Serving {
        var authenticator: any SSHServerAuthenticator
        var sessions: SSHProcessSessionHandler
        var hostKeys: [SSHServerHostKey]?
        var hostKeySigner: (any SSHHostKeySigner)?
        var listeningSockets: [CInt]?
        /// Forwarding: direct-tcpip, tcpip-forward and their stream-local kin (ShhdForwarding).
        var connectionDelegate: (any SSHServerConnectionDelegate)?
    }

    /// Everything in this process: shhd not run as root (sessions are its own user's). Only the running user logs
    /// in, so this process's rights are the user's (SSHInProcessForwardingHost), and its account database answers
    /// the Match blocks of each login's forwarding policy.
    static func inProcess(_ settings: ServerSettings, log: ServerLog) -> Serving {
        let authenticator = authenticator(settings, log: log)
        let host = SSHInProcessForwardingHost()
        let forwarding = ShhdForwarding(host: host, log: log) { connection in
            let info = SSHServerConnectionInfo(remoteAddress: connection.remoteAddress, localAddress: connection.localAddress,
                                               connectionID: connection.connectionID)
            let user = connection.user
            do {
                return try await SSHBlockingWorkPool.shared.run("the forwarding policy of \(user)", timeout: authenticator.decisionTimeout) {
                    authenticator.forwardingPolicyBlocking(user: user, on: info)?.1 ?? SSHForwardingPolicy()
                }
            } catch {
                log.error("Refused forwarding for \(user): \(error)")
                return SSHForwardingPolicy()
            }
        }
        return Serving(authenticator: authenticator,
                       sessions: SSHProcessSessionHandler(accounts: .serverAccount, messageOfTheDay: messageOfTheDay(settings))
                           .forwardingAgents(agentForwarding(host: host, log: log)),
                       connectionDelegate: forwarding)
    }

    /// Agent forwarding as the login's grant allows it (no-agent-forwarding, AllowAgentForwarding and
    /// DisableForwarding are folded into it at login), failures logged.
    static func agentForwarding(host: any SSHForwardingHost, log: ServerLog) -> SSHProcessSessionHandler.AgentForwarding {
        var agent = SSHProcessSessionHandler.AgentForwarding(host: host)
        agent.onFailure = { log.error($0) }
        return agent
    }

    /// shhd's authenticator over the settings: the one that decides (in-process, or in the broker), and the network
    /// process's copy for what needs no account.
    static func authenticator(_ settings: ServerSettings, log: ServerLog) -> ShhdAuthenticator {
        ShhdAuthenticator(file: settings.file, global: settings.global, runningAccount: settings.runningAccount, log: log, banners: settings.banners)
    }

    static func messageOfTheDay(_ settings: ServerSettings) -> String? {
        settings.options.printMotd ? "/etc/motd" : nil
    }

    /// One SSHServer per listening address, run as a service group that SIGTERM and SIGINT shut down gracefully.
    static func serve(_ settings: ServerSettings, log: ServerLog, serving: Serving) async throws -> Int32 {
        let authenticator = serving.authenticator
        let sessions = serving.sessions
        if serving.listeningSockets == nil { raiseOpenFileLimit(log: log, limits: settings.startupLimits) }
        var servers: [SSHServer] = []
        // One count of startups and one penalty table for every listening address, as sshd keeps them.
        let startupGate = settings.startupLimits.map { SSHStartupGate(limits: $0) }
        for (index, listener) in settings.listeners.enumerated() {
            var configuration = settings.configuration
            if let hostKeys = serving.hostKeys { configuration.hostKeys = hostKeys }
            configuration.hostKeySigner = serving.hostKeySigner
            configuration.listeningSocket = serving.listeningSockets?[index]
            configuration.startupGate = startupGate
            configuration.onEvent = { event in log.info(describe(event)) }
            configuration.host = listener.host
            configuration.port = listener.port
            servers.append(SSHServer(configuration: configuration, authenticator: authenticator, sessionHandler: sessions,
                                     connectionDelegate: serving.connectionDelegate))
        }
        // The network process's broker writes the PID file and says where it listens.
        let pidFile = serving.listeningSockets == nil ? settings.pidFile : nil
        if let pidFile { try? SSHKeyFile.write("\(getpid())\n", toPath: pidFile, mode: 0o644) }
        defer { if let pidFile { unlink(pidFile) } }
        var quiet = Logger(label: "shhd.lifecycle")
        quiet.logLevel = .critical
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: servers.map { .init(service: $0) }, logger: quiet))
        // SIGTERM and SIGINT start a graceful shutdown. sshd's sessions outlive its listener (each is a process of its
        // own); shhd's are served here, so a stop waits for them only shutdownGracePeriod, then closes every
        // connection (their sessions are hung up). The timer is NIO's, not ServiceGroup's Task.sleep: nothing in the
        // network process may wait on libdispatch's pool (see NetworkProcessExecutor).
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let runner = Task { try await group.run() }
        let shutdown = Task {
            for await _ in signals {
                await group.triggerGracefulShutdown()
                MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .seconds(shutdownGracePeriod.components.seconds)) { runner.cancel() }
            }
        }
        defer { shutdown.cancel() }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await withTaskCancellationHandler { try await runner.value } onCancel: { runner.cancel() } }
            for (server, listener) in zip(servers, settings.listeners) where serving.listeningSockets == nil {
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

    // MARK: Privilege separation

    /// The root half: listens, then runs the network process (restarting it when it dies) and answers it.
    static func serveSeparated(_ settings: ServerSettings, arguments: [String], log: ServerLog) async throws -> Int32 {
        let identity = try PrivilegeSeparation.networkProcessIdentity()
        var listeners: [CInt] = []
        defer { listeners.forEach { close($0) } }
        for listener in settings.listeners {
            let (descriptor, port) = try PrivilegeSeparation.listen(host: listener.host, port: listener.port)
            listeners.append(descriptor)
            log.info("Server listening on \(listener.host) port \(port).")
        }
        // Before the first start: the network process inherits the limit (it cannot raise it once unprivileged).
        raiseOpenFileLimit(log: log, limits: settings.startupLimits)
        let networkProcess = PrivilegeSeparation.NetworkProcess(uid: identity.uid, gid: identity.gid, root: identity.root,
                                                                listenerCount: listeners.count)
        let authenticator = authenticator(settings, log: log)
        let launcher = SSHLocalSessionLauncher(accounts: .authenticatedUser, messageOfTheDay: messageOfTheDay(settings))
        if let pidFile = settings.pidFile { try? SSHKeyFile.write("\(getpid())\n", toPath: pidFile, mode: 0o644) }
        defer { if let pidFile = settings.pidFile { unlink(pidFile) } }

        // SIGTERM and SIGINT: the network process shuts down gracefully (it has the connections), then we end.
        let stopping = Atomic<Bool>(false)
        let running = Atomic<pid_t>(0)
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let signalWatcher = Task {
            for await _ in signals {
                stopping.store(true, ordering: .sequentiallyConsistent)
                let pid = running.load(ordering: .sequentiallyConsistent)
                if pid > 0 { kill(pid, SIGTERM) }
            }
        }
        defer { signalWatcher.cancel() }

        var quickDeaths = 0
        while true {
            let (brokerEnd, networkEnd) = try SSHBrokerSocket.pair()
            let pid: pid_t
            do {
                pid = try PrivilegeSeparation.spawnNetworkProcess(arguments: arguments, identity: networkProcess, broker: networkEnd.descriptor,
                                                                  listeners: listeners)
            } catch {
                networkEnd.close()
                brokerEnd.close()
                throw error
            }
            networkEnd.close()
            running.store(pid, ordering: .sequentiallyConsistent)
            // A signal that came between the spawn and the store above would have missed it.
            if stopping.load(ordering: .sequentiallyConsistent) { kill(pid, SIGTERM) }
            let started = ContinuousClock.now
            let policy = ShhdBrokerPolicy(hostKeys: settings.configuration.hostKeys, authenticator: authenticator, launcher: launcher,
                                          acceptedEnvironment: settings.configuration.acceptedEnvironment, notices: brokerEnd)
            let service = Task {
                do {
                    try await SSHBrokerService.serve(brokerEnd, hostKeys: policy.announcedHostKeys, handler: policy)
                } catch {
                    // The network process broke the protocol: it is not to be trusted with another request.
                    log.error("shhd: \(error); the network process is stopped")
                    kill(pid, SIGKILL)
                }
            }
            let exit = await ChildProcess.exit(of: pid)
            running.store(0, ordering: .sequentiallyConsistent)
            brokerEnd.shutDown()
            await service.value
            brokerEnd.close()
            policy.networkProcessEnded()
            if stopping.load(ordering: .sequentiallyConsistent) { return 0 }
            switch exit {
            case .exited(let status) where status != 0:
                // It stopped on its own and said why (a configuration it refused, a failure to start).
                return status
            case .exited:
                log.error("shhd: the network process ended; starting a new one")
            case .signaled(let signal):
                log.error("shhd: the network process was killed by signal \(signal) (its connections are lost); starting a new one")
            }
            quickDeaths = ContinuousClock.now - started < .seconds(10) ? quickDeaths + 1 : 0
            if quickDeaths >= 5 {
                log.error("shhd: the network process died \(quickDeaths) times in a row within seconds of starting; giving up")
                return 255
            }
            if quickDeaths > 1 { try? await Task.sleep(for: .seconds(1)) }
        }
    }

    /// The unprivileged half: the broker's host keys (public halves), then root given up, then the servers.
    static func serveAsNetworkProcess(_ settings: ServerSettings, _ part: PrivilegeSeparation.NetworkProcess, log: ServerLog) async throws -> Int32 {
        guard part.listenerCount == settings.listeners.count else {
            throw ShhdFailure("shhd: network process: \(part.listenerCount) listening sockets for \(settings.listeners.count) addresses")
        }
        let broker = SSHBrokerClient(socket: SSHBrokerSocket(descriptor: PrivilegeSeparation.brokerDescriptor))
        let hostKeys = try await broker.hostKeys().map { announced in
            SSHServerHostKey(publicKey: try SSHPublicKey(wireBlob: announced.publicKey),
                             certificate: try announced.certificate.map { try SSHCertificate(wireBlob: $0) })
        }
        // (The open-file limit was raised by the broker before it started this process.)
        try PrivilegeSeparation.drop(to: part)
        // Without its broker this process can decide, sign and start nothing: it ends.
        Task {
            await broker.waitUntilClosed()
            log.error("shhd: network process: the broker is gone; exiting")
            Glibc.exit(255)
        }
        let local = authenticator(settings, log: log)
        // Forwarding: the broker decides each login's policy (it has the account database) and makes what needs the
        // user's rights; TCP connections, and listeners above port 1023, are made here.
        let host = BrokeredForwardingHost(broker: broker)
        let forwarding = ShhdForwarding(host: host, log: log) { connection in
            guard case .forwardingPolicy(let policy)? = try? await broker.request(.forwardingPolicy(connection: connection.connectionID)) else {
                return SSHForwardingPolicy()
            }
            return policy
        }
        let serving = Serving(authenticator: BrokeredAuthenticator(broker: broker, offeredMethods: local.offeredMethods, local: local),
                              sessions: SSHProcessSessionHandler(launcher: BrokeredSessionLauncher(broker: broker))
                                  .forwardingAgents(agentForwarding(host: host, log: log)),
                              hostKeys: hostKeys, hostKeySigner: BrokeredHostKeySigner(broker: broker),
                              listeningSockets: part.listenerDescriptors, connectionDelegate: forwarding)
        return try await serve(settings, log: log, serving: serving)
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
                    context.groups = SystemAccount(named: parts[1])?.groupNames ?? []
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
        return config.printed(listeners: settings.listeners.map { SSHServerOptions.Listener(host: $0.host, port: $0.port) },
                              hostKeysLoaded: !settings.configuration.hostKeys.isEmpty, algorithms: settings.configuration.algorithms,
                              loginGraceTime: .nanoseconds(settings.configuration.loginGraceTime.nanoseconds))
    }
}
