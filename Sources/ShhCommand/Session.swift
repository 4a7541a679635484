// One shh run after its settings are known: connect (ConnectionAttempts), authenticate, open a session, send the
// environment, start the command (or shell, or subsystem), stream standard input to it and its output back, and
// turn its end into our exit status: its own status, or 255 with a message for a signal or a lost connection.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SSHPOSIX
import Dispatch
import NIOCore
import SSH
import SSHCommandLine
import SSHForwarding
import SSHKeys
import SSHProtocol
import Synchronization

struct Session {
    let settings: ClientSettings
    let arguments: ShhArguments
    let diagnostics: Diagnostics
    /// In the background half of -f: where to say "ready" once authenticated and forwarding.
    var readyDescriptor: CInt? = nil

    func run() async throws -> Int32 {
        let command = arguments.command.isEmpty ? settings.remoteCommand : arguments.command.joined(separator: " ")
        if arguments.subsystem && command == nil { throw ShhFailure("shh: -s needs a subsystem name") }
        let connected = try await connect()
        let forwards = ClientForwards(client: connected.client, settings: settings.forwarding, diagnostics: diagnostics)
        // The connection closes first: its channels end with it, so closing the listeners (and removing their
        // socket files) never waits for a forwarded connection a stalled server would keep open.
        do {
            let status = try await run(on: connected.client, command: command, forwards: forwards)
            await connected.close()
            await forwards.close()
            return status
        } catch {
            await connected.close()
            await forwards.close()
            throw error
        }
    }

    /// -f: the foreground shh may return now; as ssh, /dev/null replaces what the background must not hold.
    private func readyForBackground(keepOutput: Bool) {
        guard let readyDescriptor else { return }
        diagnostics.debug("forking to background")
        Background.detach(reportingOn: readyDescriptor, keepOutput: keepOutput,
                          keepErrors: keepOutput || (arguments.verbosity > 0 && arguments.logFile == nil))
    }

    /// -W: standard input and output to a direct-tcpip (or direct-streamlocal) channel until it ends; ssh's
    /// messages and 255 when the server will not open it.
    private func forwardStandardIO(to target: ForwardSpec.Listen, client: SSHClient, forwards: ClientForwards) async throws -> Int32 {
        let destination: SSHForwardingEndpoint = switch target {
        case .port(let host, let port): .tcp(host: host ?? "", port: port)
        case .path(let path): .unixSocket(path: path)
        }
        let tunnel: SSHChannel
        do {
            tunnel = try await client.openTunnel(to: destination)
        } catch let error as SSHError {
            if case .channelOpenFailed(let reason, let description) = error.kind {
                diagnostics.info("channel 0: open failed: \(reason): \(description)")
                throw ShhFailure("stdio forwarding failed")
            }
            throw ShhFailure("shh: \(error)")
        }
        try await forwards.startConfigured(session: false)
        if let localCommand = settings.localCommand { await LocalCommand.run(localCommand, diagnostics: diagnostics) }
        readyForBackground(keepOutput: true)
        // The splice owns what it is given: copies, so standard input and output stay ours to the end.
        let input = dup(STDIN_FILENO), output = dup(STDOUT_FILENO)
        guard input >= 0, output >= 0 else { throw ShhFailure("shh: dup: \(String(cString: strerror(errno)))") }
        do {
            try await tunnel.splice(readingFrom: input, writingTo: output)
        } catch {
            throw ShhFailure("shh: \(error)")
        }
        diagnostics.debug("stdio forwarding: done")
        return 0
    }

    /// A connection and what carries it: a ProxyCommand to hang up, or the jump host's connection (ProxyJump) to
    /// close after it.
    struct Connected: Sendable {
        let client: SSHClient
        var proxy: ProxyCommandProcess? = nil
        /// The jump host's connection (zero or one): the tunnel lives as long as it does.
        var through: [Connected] = []
        /// A jump host's own messages (its LogLevel), for what happens to it later.
        var diagnostics: Diagnostics? = nil

        func close() async {
            await client.close()
            proxy?.hangUp()
            for jump in through { await jump.close() }
        }
    }

    /// Whether to ask for a pseudo-terminal, decided as ssh decides: -t (RequestTTY yes) or no command asks for
    /// one, -T or -N never; unless forced (-tt), only when standard input is a terminal.
    private func wantsTerminal(command: String?) -> Bool {
        var wanted = settings.requestTTY == "yes" || settings.requestTTY == "force"
        if command == nil { wanted = settings.requestTTY != "no" }
        if settings.requestTTY == "no" || arguments.noCommand { wanted = false }
        if (isatty(STDIN_FILENO) != 1 || arguments.stdinNull) && settings.requestTTY != "force" {
            if wanted { diagnostics.info("Pseudo-terminal will not be allocated because stdin is not a terminal.") }
            wanted = false
        }
        return wanted
    }

    private func run(on client: SSHClient, command: String?, forwards: ClientForwards) async throws -> Int32 {
        if let stdio = settings.forwarding.stdio {
            return try await forwardStandardIO(to: stdio, client: client, forwards: forwards)
        }
        try await forwards.startConfigured(session: !settings.noSession)
        // Authenticated and forwarding, no session yet: where ssh runs LocalCommand (with -N too). It may write to
        // our standard output, so it finishes before the session's output can start.
        if let localCommand = settings.localCommand { await LocalCommand.run(localCommand, diagnostics: diagnostics) }
        if settings.noSession {
            readyForBackground(keepOutput: false)
            // -N: the forwards are the point; they run until the connection ends (or shh is killed).
            await client.waitUntilClosed()
            return 0
        }
        readyForBackground(keepOutput: true)
        let session = try await client.openSession()
        // Output is written where it arrives, on the connection's event loop (no task in between, as ssh writes
        // from its one loop); a closed reader (EPIPE) closes the channel, so the remote command stops too.
        let outputClosed = Atomic(false)
        try await session.eventLoop.submit { [diagnostics] in
            session.syncOperations.setDataHandler { input in
                switch input {
                case .data(let bytes):
                    guard !outputClosed.load(ordering: .relaxed) else { return }
                    if !bytes.withUnsafeReadableBytes({ TerminalPrompt.writeAll(STDOUT_FILENO, $0) }) {
                        diagnostics.debug("shh: standard output: \(String(cString: strerror(errno))); closing the session")
                        outputClosed.store(true, ordering: .relaxed)
                        session.syncOperations.close()
                    }
                case .stderr(let bytes):
                    bytes.withUnsafeReadableBytes { _ = TerminalPrompt.writeAll(STDERR_FILENO, $0) }
                default:
                    break
                }
            }
        }.get()
        try await requestAgentForwarding(on: session, client: client)
        let hasTerminal = wantsTerminal(command: command)
        if hasTerminal {
            let terminalType = settings.sendEnvironment.last { $0.0 == "TERM" }?.1 ?? ProcessEnvironment.variables["TERM"] ?? ""
            let request = SSHPseudoTerminalRequest(terminalType: terminalType, size: LocalTerminal.size(of: STDIN_FILENO),
                                                   modes: LocalTerminal.modes(of: STDIN_FILENO))
            do {
                try await session.request(.pseudoTerminal(request))
            } catch {
                diagnostics.error("PTY allocation request failed on channel 0")
            }
        }
        for (name, value) in settings.sendEnvironment {
            try await session.send(.environment(name: name, value: Array(value.utf8)))
        }
        let request: SSHChannelRequest
        if arguments.subsystem, let command {
            request = .subsystem(name: command)
        } else if let command {
            request = .exec(command: Array(command.utf8))
        } else {
            request = .shell
        }
        diagnostics.debug("Sending command: \(command ?? "(shell)")")
        do {
            try await session.request(request)
        } catch {
            throw ShhFailure(arguments.subsystem ? "shh: subsystem request failed on channel 0" : "shh: exec request failed on channel 0")
        }
        guard hasTerminal else { return try await stream(session, client: client, terminal: nil, outputClosed: outputClosed, forwards: forwards) }

        // The terminal is raw from here to the end, whichever way the end comes.
        let terminal = RawTerminalMode()
        if terminal.enter() { diagnostics.lineEnding = "\r\n" }
        let signals = SessionSignals(terminal: terminal, diagnostics: diagnostics) {
            let size = LocalTerminal.size(of: STDIN_FILENO)
            Task { try? await session.send(.windowChange(size)) }
        }
        defer {
            signals.cancel()
            terminal.restore()
            diagnostics.lineEnding = "\n"
        }
        let status = try await stream(session, client: client, terminal: terminal, outputClosed: outputClosed, forwards: forwards)
        terminal.restore()
        diagnostics.lineEnding = "\n"
        diagnostics.info("Connection to \(settings.hostName) closed.")
        return status
    }

    /// ForwardAgent: connect the server's auth-agent@openssh.com channels to the agent, and ask for it on the
    /// session (want-reply false, so a server that refuses says nothing), before the terminal and the command as
    /// ssh does. As ssh's check_agent_present, only while shh's own agent (IdentityAgent, else SSH_AUTH_SOCK)
    /// answers, whichever socket is forwarded; without one ssh silently forwards nothing, and so does shh.
    private func requestAgentForwarding(on session: SSHChannel, client: SSHClient) async throws {
        guard let socket = settings.forwardAgentSocket else { return }
        guard let own = settings.identityAgentSocket, let probe = try? await UnixSockets.connect(own) else {
            diagnostics.debug("No agent to forward: \(settings.identityAgentSocket ?? "SSH_AUTH_SOCK is not set") does not answer", level: .debug2)
            return
        }
        close(probe)
        try await client.forwardAgent(toSocket: socket)
        diagnostics.debug("Requesting agent forwarding on channel 0 via auth-agent-req@openssh.com")
        try await session.send(.authAgent)
    }

    /// Connects (through ProxyCommand or ProxyJump when set) and authenticates, trying ConnectionAttempts times
    /// (once a second) before giving up.
    func connect() async throws -> Connected {
        let validator = KnownHostsVerifier(
            knownHostsName: settings.knownHostsName, host: settings.hostName, userFiles: settings.userKnownHostsFiles,
            globalFiles: settings.globalKnownHostsFiles, policy: settings.strictHostKeyChecking,
            hashNewEntries: settings.hashKnownHosts, batchMode: settings.batchMode, diagnostics: diagnostics)
        let credentials = await Identities.credentials(settings, diagnostics: diagnostics)
        diagnostics.debug("Connecting to \(settings.hostName) port \(settings.port) as \(settings.user).")
        var attempt = 1
        while true {
            let onBanner: @Sendable (String) -> Void = { [diagnostics] banner in
                diagnostics.info(banner.hasSuffix("\n") ? String(banner.dropLast()) : banner)
            }
            let onProgress: @Sendable (SSHClientAuthenticationProgress) -> Void = { [diagnostics] progress in
                switch progress {
                case .methodsThatCanContinue(let methods, let partial):
                    if partial { diagnostics.debug("Authenticated using a method with partial success.") }
                    diagnostics.debug("Authentications that can continue: \(methods.joined(separator: ","))")
                case .trying(let method, let key?):
                    diagnostics.debug("Next authentication method: \(method)")
                    diagnostics.debug("Offering public key: \(key.publicKey.type.displayName) \(key.publicKey.fingerprint())\(key.isCertificate ? " certificate" : "")")
                case .trying(let method, nil):
                    diagnostics.debug("Next authentication method: \(method)")
                case .keyAccepted(let key):
                    diagnostics.debug("Server accepts key: \(key.publicKey.type.displayName) \(key.publicKey.fingerprint())")
                case .succeeded(let method):
                    diagnostics.debug("Authentication succeeded (\(method)).")
                }
            }
            var proxy: ProxyCommandProcess?
            var through: [Connected] = []
            do {
                let client: SSHClient
                if let hop = settings.proxyJump.last {
                    let jump = try await JumpHosts.connect(hop, through: settings.proxyJump.dropLast(), toward: settings,
                                                          arguments: arguments, diagnostics: diagnostics)
                    through = [jump]
                    client = try await JumpHosts.connect(
                        to: settings, through: jump, credentials: credentials, hostKeyValidator: validator, onBanner: onBanner,
                        onAuthenticationProgress: onProgress)
                } else if let command = settings.proxyCommand {
                    diagnostics.debug("Executing proxy command: exec \(command)")
                    let started = try ProxyCommandProcess.start(command)
                    proxy = started
                    client = try await SSHClient.connect(
                        readingFrom: started.fromProxy, writingTo: started.toProxy, host: settings.hostName, port: settings.port,
                        user: settings.user, credentials: credentials, hostKeyValidator: validator,
                        configuration: settings.client, onBanner: onBanner, onAuthenticationProgress: onProgress)
                } else {
                    client = try await SSHClient.connect(
                        host: settings.hostName, port: settings.port, user: settings.user, credentials: credentials,
                        hostKeyValidator: validator, configuration: settings.client, onBanner: onBanner,
                        onAuthenticationProgress: onProgress)
                }
                let negotiated = client.negotiatedAlgorithms
                diagnostics.debug("kex: algorithm: \(negotiated.keyExchange.rawValue)")
                diagnostics.debug("kex: host key algorithm: \(negotiated.hostKey.name)")
                diagnostics.debug("kex: server->client cipher: \(negotiated.cipherServerToClient.rawValue)")
                diagnostics.debug("kex: client->server cipher: \(negotiated.cipherClientToServer.rawValue)")
                diagnostics.debug("Authenticated to \(settings.hostName) ([\(settings.hostName)]:\(settings.port)).")
                return Connected(client: client, proxy: proxy, through: through)
            } catch let error as SSHError {
                proxy?.hangUp()
                for jump in through { await jump.close() }
                if validator.refused.withLock({ $0 }) { throw HostKeyVerificationFailed() }
                if case .connectFailed = error.kind, attempt < settings.connectionAttempts {
                    attempt += 1
                    try await Task.sleep(for: .seconds(1))
                    continue
                }
                throw ShhFailure(message(for: error))
            } catch {
                proxy?.hangUp()
                for jump in through { await jump.close() }
                if error is HostKeyVerificationFailed || error is ShhFailure { throw error }
                throw ShhFailure("shh: \(error)")
            }
        }
    }

    /// ssh's wording for what went wrong while connecting.
    private func message(for error: SSHError) -> String {
        switch error.kind {
        case .connectFailed, .unresolvableHost:
            return "shh: \(error)"
        case .authenticationFailed(let user, _, let allowed):
            return "\(user)@\(settings.hostName): Permission denied (\(allowed.map(\.name).joined(separator: ",")))."
        case .protocolFailure(let failure):
            if case .noCommonAlgorithm(let category, _, let theirs) = failure.kind {
                // ssh names ciphers and MACs without their direction.
                let what = category.replacing(" client->server", with: "").replacing(" server->client", with: "")
                return "Unable to negotiate with \(settings.hostName) port \(settings.port): no matching \(what) found. Their offer: \(theirs.joined(separator: ","))"
            }
            return "shh: \(error)"
        default:
            return "shh: \(error)"
        }
    }

    /// Standard input to the channel (EOF at its end), the channel's output to our standard output and error.
    /// With a terminal, typed input goes through the escape filter first (unless EscapeChar is none).
    private func stream(_ session: SSHChannel, client: SSHClient, terminal: RawTerminalMode?, outputClosed: borrowing Atomic<Bool>,
                        forwards: ClientForwards) async throws -> Int32 {
        let disconnectedByEscape = Mutex(false)
        // Escapes only on a session with a terminal, as in ssh.
        var escapeFilter: EscapeFilter? = nil
        if terminal != nil, case .character(let character) = settings.escapeCharacter {
            escapeFilter = EscapeFilter(escapeCharacter: character, commandLine: settings.forwarding.escapeCommandLine)
        }
        // Output into a pipe (`shh host tar c . | tar x`): a 1 MiB pipe lets us write ahead of the reader.
        if terminal == nil { Descriptors.growPipe(STDOUT_FILENO, to: 1 << 20) }
        if escapeFilter == nil && !arguments.stdinNull {
            // Plain data: straight from the reading thread to the channel's event loop, no task in between.
            StandardInput.pump(into: session)
        }
        let stdinTask = Task { [escapeFilter] in
            if arguments.stdinNull {
                try? await session.sendEOF()
                return
            }
            guard var escapes = escapeFilter else { return }
            let input = StandardInput()
            for await chunk in input.chunks {
                let actions = escapes.feed(chunk)
                for action in actions {
                    if case .send(let bytes) = action {
                        do { try await session.write(ByteBuffer(bytes: bytes)) } catch { return }
                    } else if await perform(action, session: session, client: client, terminal: terminal, forwards: forwards) {
                        disconnectedByEscape.withLock { $0 = true }
                        await client.close()
                        return
                    }
                }
                input.consumed()
            }
            try? await session.sendEOF()
        }
        defer { stdinTask.cancel() }
        var exitStatus: Int32?
        var exitSignal: SSHExitSignal?
        do {
            for try await input in session.input {
                switch input {
                case .data, .stderr: break  // written by the data handler, on the event loop
                case .exitStatus(let status): exitStatus = status
                case .exitSignal(let signal): exitSignal = signal
                case .eof, .request: break
                }
            }
        } catch {
            if disconnectedByEscape.withLock({ $0 }) || outputClosed.load(ordering: .relaxed) { return 255 }
            diagnostics.error("shh: \(error)")
            return 255
        }
        // Our reader went away (`shh host yes | head -1`): 255, as ssh, whatever the remote command made of it.
        if outputClosed.load(ordering: .relaxed) { return 255 }
        if let exitStatus { return exitStatus }
        if let exitSignal {
            diagnostics.error("shh: remote command killed by signal \(exitSignal.signalName)\(exitSignal.coreDumped ? " (core dumped)" : "")")
            return 255
        }
        return 255
    }

    /// Carries out one escape command typed at the start of a line; true when it ends the connection (~.).
    private func perform(_ action: EscapeFilter.Action, session: SSHChannel, client: SSHClient, terminal: RawTerminalMode?,
                         forwards: ClientForwards) async -> Bool {
        guard case .character(let escape) = settings.escapeCharacter else { return false }
        let shown = escape < 32 ? "^" + String(UnicodeScalar(escape + 64)) : String(UnicodeScalar(escape))
        func say(_ text: String) { TerminalPrompt.writeAll(STDERR_FILENO, text) }
        switch action {
        case .send:
            return false
        case .disconnect:
            say("\(shown).\r\n")
            return true
        case .help:
            say("\(shown)?\r\n" + EscapeFilter.help(escape: shown, commandLine: settings.forwarding.escapeCommandLine))
        case .listConnections:
            let session = "  #0 client-session (\(arguments.subsystem ? "subsystem" : settings.remoteCommand == nil && arguments.command.isEmpty ? "shell" : "exec"))"
            say("\(shown)#\r\nThe following connections are open:\r\n" + ([session] + forwards.openConnectionLines()).map { $0 + "\r\n" }.joined())
        case .openCommandLine:
            // As ssh: the terminal cooked (echo and line editing) while the line is typed.
            terminal?.restore()
            diagnostics.lineEnding = "\n"
            say("\r\nssh> ")
        case .commandLine(let line):
            for message in await forwards.commandLine(line) { diagnostics.info(message) }
            if terminal?.enter() == true { diagnostics.lineEnding = "\r\n" }
        case .sendBreak:
            say("\(shown)B\r\n")
            try? await session.send(.break(milliseconds: 1000))
        case .rekey:
            say("\(shown)R\r\n")
            client.rekey()
        case .changeVerbosity(let louder):
            let levels: [Diagnostics.Level] = [.quiet, .fatal, .error, .info, .verbose, .debug1, .debug2, .debug3]
            let index = levels.firstIndex(of: diagnostics.level) ?? 3
            diagnostics.level = levels[louder ? min(index + 1, levels.count - 1) : max(index - 1, 0)]
            say("\(shown)\(louder ? "v" : "V") [LogLevel \(diagnostics.level.name)]\r\n")
        case .suspend:
            say("\(shown)^Z [suspend shh]\r\n")
            terminal?.restore()
            kill(getpid(), SIGTSTP)
            // Continued (fg): raw again, and the window may have changed meanwhile.
            terminal?.enter()
            try? await session.send(.windowChange(LocalTerminal.size(of: STDIN_FILENO)))
        case .notAvailable("C"):
            // OpenSSH's default since 9.2 (EnableEscapeCommandline no).
            say("commandline disabled\r\n")
        case .notAvailable(let escapeName):
            say("\(shown)\(escapeName) is not available in shh\r\n")
        }
        return false
    }
}

extension StandardInput {
    /// Reads standard input on its own thread straight into buffers that go to `session` on its event loop, at
    /// most four 64 KiB chunks ahead of what the channel has taken (the reader waits for the channel's window, so
    /// a slow server slows the reading instead of filling memory), then sends EOF. No task sits between the read
    /// and the channel: for bulk uploads that hop cost a third of the throughput.
    static func pump(into session: SSHChannel) {
        let permits = DispatchSemaphore(value: 0)
        for _ in 0..<4 { permits.signal() }
        let failed = Atomic(false)
        let eventLoop = session.eventLoop
        DispatchQueue(label: "shh.stdin").async {
            let allocator = ByteBufferAllocator()
            // From a pipe (`tar c . | shh host ...`), a 1 MiB pipe lets the writer run ahead and a read take up to
            // 256 KiB: four times fewer reads, hand-overs and wake-ups than 64 KiB. Files and terminals are left as
            // they are (the call fails on them).
            let chunkSize = (Descriptors.growPipe(STDIN_FILENO, to: 1 << 20) ?? 0) >= 256 * 1024 ? 256 * 1024 : 64 * 1024
            while true {
                permits.wait()
                if failed.load(ordering: .relaxed) { return }
                var buffer = allocator.buffer(capacity: chunkSize)
                var count = 0
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: chunkSize) { free in
                    count = readStandardInput(free)
                    return max(count, 0)
                }
                guard count > 0 else { break }
                let chunk = buffer
                eventLoop.execute {
                    do {
                        if let drained = try session.syncOperations.write(chunk) {
                            drained.whenComplete { _ in permits.signal() }
                        } else {
                            permits.signal()
                        }
                    } catch {
                        // The channel is gone (closed, or the connection lost): stop reading.
                        failed.store(true, ordering: .relaxed)
                        permits.signal()
                    }
                }
            }
            eventLoop.execute { try? session.syncOperations.sendEOF() }
        }
    }
}

/// One read of standard input into `buffer`: bytes read, 0 at its end, -1 on an error. Interrupted reads are
/// retried, and a non-blocking standard input is waited on instead of its "nothing yet" being taken for the end.
private func readStandardInput(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
    while true {
        let count = read(STDIN_FILENO, buffer.baseAddress, buffer.count)
        if count >= 0 { return count }
        switch errno {
        case EINTR: continue
        case EAGAIN, EWOULDBLOCK:
            var ready = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
            _ = poll(&ready, 1, -1)
        default: return -1
        }
    }
}

/// Standard input read on its own dispatch thread (a blocking read must not hold one of the few cooperative
/// threads), at most `inFlight` chunks ahead of the channel: the reader waits for the writer, so a slow server
/// slows the reading instead of filling memory.
final class StandardInput: Sendable {
    // Created at zero and raised: libdispatch traps when a semaphore is freed below its initial value.
    private let permits = DispatchSemaphore(value: 0)
    let chunks: AsyncStream<[UInt8]>

    init() {
        for _ in 0..<4 { permits.signal() }
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        chunks = stream
        DispatchQueue(label: "shh.stdin").async { [permits] in
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                permits.wait()
                let count = buffer.withUnsafeMutableBytes { readStandardInput($0) }
                guard count > 0 else { break }
                continuation.yield(Array(buffer[0..<count]))
            }
            continuation.finish()
        }
    }

    /// The writer is done with one chunk.
    func consumed() { permits.signal() }
}
