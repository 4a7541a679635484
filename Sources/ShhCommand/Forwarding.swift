// Port forwarding as ssh does it after authentication (ssh.c ssh_init_forwarding, channels.c, clientloop.c
// process_cmdline): local listeners (-L, -D) bound address by address with ssh's messages, remote forwards (-R)
// requested and confirmed, each forwarded connection reported as ssh reports it, and the ~C command line that
// adds and cancels forwards while the session runs.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import OpenSSHConfig
import SSH
import SSHForwarding
import SSHPOSIX
import Synchronization

/// What the command line and ssh_config say about forwarding, resolved.
struct ForwardingSettings: Sendable {
    /// -L, -D, LocalForward and DynamicForward, in order (a dynamic forward's target is SOCKS).
    var local: [ForwardSpec] = []
    /// -R and RemoteForward, in order.
    var remote: [ForwardSpec] = []
    /// -W's target.
    var stdio: ForwardSpec.Listen?
    /// ClearAllForwardings (the default with -W): every forward above was dropped.
    var clearAll = false
    /// GatewayPorts (-g): local listeners without an address listen on every address instead of loopback.
    var gatewayPorts = false
    /// ExitOnForwardFailure: a forward that cannot be set up ends shh with 255 (the default with -W).
    var exitOnForwardFailure = false
    /// StreamLocalBindUnlink and StreamLocalBindMask, for Unix sockets shh listens on.
    var streamLocal = SSHStreamLocalBindOptions()
    /// PermitRemoteOpen: where a reverse dynamic forward (-R port) may connect; nil for anywhere.
    var permittedRemoteOpens: [(host: String, port: Int?)]?
    /// EnableEscapeCommandline: whether ~C opens the command line.
    var escapeCommandLine = false
    /// AddressFamily: which loopback and wildcard addresses local listeners use.
    var addressFamily = "any"

    /// The settings `arguments` and `config` give; ssh's messages for a specification a config line gets wrong.
    static func resolve(_ arguments: ShhArguments, config: SSHClientConfig) throws -> ForwardingSettings {
        var settings = ForwardingSettings()
        settings.stdio = arguments.stdioForward
        let environment = ProcessEnvironment.variables
        settings.local = arguments.localForwards
        settings.remote = arguments.remoteForwards
        for keyword in ["localforward", "dynamicforward", "remoteforward"] {
            for (index, occurrence) in config.all(keyword).enumerated() {
                let place = config.place(of: keyword, occurrence: index)
                let first = occurrence.first ?? ""
                let text: String
                let reading: ForwardSpec.Reading
                switch keyword {
                case "dynamicforward":
                    (text, reading) = (first, .listenOnly)
                case "remoteforward":
                    // Without a target a RemoteForward is a reverse dynamic forward.
                    (text, reading) = occurrence.count > 1 ? ("\(first):\(occurrence[1])", .remote) : (first, .listenOnly)
                default:
                    guard occurrence.count > 1 else {
                        throw OpenSSHConfigError(.syntax("Missing target argument."), file: place.file, line: place.line)
                    }
                    (text, reading) = ("\(first):\(occurrence[1])", .local)
                }
                guard let spec = ForwardSpec.parse(text, reading, environment: environment) else {
                    throw OpenSSHConfigError(.syntax("Bad forwarding specification."), file: place.file, line: place.line)
                }
                if keyword == "remoteforward" { settings.remote.append(spec) } else { settings.local.append(spec) }
            }
        }
        // -W changes two defaults: other forwards are cleared, and a failed forward is fatal.
        let stdio = settings.stdio != nil
        settings.clearAll = try flag(config, "clearallforwardings") ?? stdio
        if settings.clearAll {
            settings.local = []
            settings.remote = []
        }
        settings.exitOnForwardFailure = try flag(config, "exitonforwardfailure") ?? stdio
        settings.gatewayPorts = try flag(config, "gatewayports") ?? false
        settings.escapeCommandLine = try flag(config, "enableescapecommandline") ?? false
        settings.streamLocal.unlinkExisting = try flag(config, "streamlocalbindunlink") ?? false
        if let text = config["streamlocalbindmask"] {
            guard let mask = UInt32(text, radix: 8), mask <= 0o777 else {
                throw badValue(config, "streamlocalbindmask", "StreamLocalBindMask", text, expected: "an octal mask such as 0177")
            }
            settings.streamLocal.mask = mask
        }
        if let text = config["addressfamily"]?.lowercased() { settings.addressFamily = text }
        if let opens = config.arguments("permitremoteopen") {
            let lowered = opens.map { $0.lowercased() }
            if lowered == ["any"] {
                settings.permittedRemoteOpens = nil
            } else if lowered == ["none"] {
                settings.permittedRemoteOpens = []
            } else {
                var permitted: [(host: String, port: Int?)] = []
                for open in opens {
                    guard let (host, port) = splitHostPort(open), !host.isEmpty,
                          port == "*" || (Int(port).map { (1...65535).contains($0) } ?? false) else {
                        throw badValue(config, "permitremoteopen", "PermitRemoteOpen", open, expected: "host:port, [host]:port, any or none")
                    }
                    permitted.append((host, port == "*" ? nil : Int(port)))
                }
                settings.permittedRemoteOpens = permitted
            }
        }
        return settings
    }

    private static func flag(_ config: SSHClientConfig, _ keyword: String) throws -> Bool? {
        guard let text = config[keyword] else { return nil }
        guard let value = ConfigValues.flag(text) else {
            throw badValue(config, keyword, keyword, text, expected: "yes or no")
        }
        return value
    }

    private static func badValue(_ config: SSHClientConfig, _ keyword: String, _ name: String, _ text: String, expected: String) -> OpenSSHConfigError {
        let place = config.place(of: keyword)
        return OpenSSHConfigError(.badValue(keyword: name, value: text, expected: expected), file: place.file, line: place.line)
    }

    /// Whether PermitRemoteOpen lets a reverse dynamic forward reach `host`:`port` (ssh compares names exactly).
    func permitsRemoteOpen(host: String, port: Int) -> Bool {
        guard let permitted = permittedRemoteOpens else { return true }
        return permitted.contains { ($0.host == "*" || $0.host == host) && ($0.port == nil || $0.port == port) }
    }

    /// The addresses a local listener binds, as ssh's channel_fwd_bind_addr decides: no address means loopback
    /// (every address with GatewayPorts), "" or "*" every address, "localhost" both loopback addresses, anything
    /// else itself. IPv6 first, as getaddrinfo orders them, so a port taken on both loopbacks is reported for
    /// 127.0.0.1 as ssh reports it.
    func localBindAddresses(_ host: String?) -> [String] {
        let loopback = ["::1", "127.0.0.1"], wildcard = ["::", "0.0.0.0"]
        let addresses: [String] = switch host {
        case nil: gatewayPorts ? wildcard : loopback
        case ""?, "*"?: wildcard
        case "localhost"?: loopback
        case let host?: [host]
        }
        switch addressFamily {
        case "inet": return addresses.count > 1 ? addresses.filter { !$0.contains(":") } : addresses
        case "inet6": return addresses.count > 1 ? addresses.filter { $0.contains(":") } : addresses
        default: return addresses
        }
    }

    /// The address a remote forward asks the server for (ssh's channel_rfwd_bind_host): "localhost" when none
    /// was given, "" for every address.
    static func remoteBindAddress(_ host: String?) -> String {
        switch host {
        case nil: "localhost"
        case ""?, "*"?: ""
        case let host?: host
        }
    }

    /// ssh -G's lines for the forwards.
    var printed: [String] {
        local.filter { $0.connect == .socks }.map { "dynamicforward " + $0.printed(showingTarget: false) }
            + local.filter { $0.connect != .socks }.map { "localforward " + $0.printed(showingTarget: true) }
            + remote.map { "remoteforward " + $0.printed(showingTarget: true) }
    }
}

/// The forwards of one connection while it runs: set up, reported, changed from ~C, listed by ~#.
final class ClientForwards: Sendable {
    private struct LocalEntry {
        var spec: ForwardSpec
        var forwards: [SSHLocalForward]
    }

    private struct RemoteEntry {
        var spec: ForwardSpec
        var forward: SSHRemoteForward
    }

    private struct State {
        var local: [LocalEntry] = []
        var remote: [RemoteEntry] = []
    }

    let client: SSHClient
    let settings: ForwardingSettings
    private let diagnostics: Diagnostics
    private let state = Mutex(State())
    /// ssh numbers its channels; shh's messages number forwarded connections after the listeners and the session
    /// in the same way, so "channel N: open failed" reads as ssh's does.
    private let nextChannel = Atomic(0)

    init(client: SSHClient, settings: ForwardingSettings, diagnostics: Diagnostics) {
        self.client = client
        self.settings = settings
        self.diagnostics = diagnostics
    }

    /// Sets up every configured forward: local listeners, then remote forwards with their replies. Throws the
    /// failure ssh ends with (exit 255) under ExitOnForwardFailure, and when the connection is gone.
    func startConfigured(session: Bool) async throws {
        var started = 0
        for spec in settings.local where await startLocal(spec) { started += 1 }
        if !settings.local.isEmpty && started != settings.local.count && settings.exitOnForwardFailure {
            throw ShhFailure("Could not request local forwarding.")
        }
        if !settings.local.isEmpty && started == 0 { diagnostics.error("Could not request local forwarding.") }
        // Channels are numbered from here on: each listening socket took one, then the session's.
        let listeners = state.withLock { $0.local.reduce(0) { $0 + $1.forwards.reduce(0) { $0 + $1.boundAddresses.count } } }
        nextChannel.store(listeners + (session ? 1 : 0), ordering: .relaxed)
        for spec in settings.remote {
            _ = try await startRemote(spec, failureIsFatal: settings.exitOnForwardFailure)
        }
    }

    /// Closes the local listeners (removing their socket files); the connection's end takes the rest.
    func close() async {
        let entries = state.withLock { state in
            defer { state.local = [] }
            return state.local
        }
        for entry in entries {
            for forward in entry.forwards { await forward.close(closingConnections: true) }
        }
    }

    // MARK: Local (-L, -D)

    /// Starts one local forward; false (with ssh's messages) when nothing could be listened on.
    func startLocal(_ spec: ForwardSpec) async -> Bool {
        let target: SSHLocalForward.Target = switch spec.connect {
        case .socks: .socks
        case .port(let host, let port): .endpoint(.tcp(host: host, port: port))
        case .path(let path): .endpoint(.unixSocket(path: path))
        }
        let onEvent = eventHandler()
        var forwards: [SSHLocalForward] = []
        switch spec.listen {
        case .path(let path):
            diagnostics.debug("Local connections to \(path):-2 forwarded to remote address \(spec.connectDescription)")
            do {
                forwards.append(try await client.startLocalForward(listeningOn: .unixSocket(path: path), to: target,
                                                                   streamLocal: settings.streamLocal, onEvent: onEvent))
            } catch {
                diagnostics.error("unix_listener: cannot bind to path \(path): \(Self.reason(error))")
            }
        case .port(let host, let port):
            let shownHost = host ?? (settings.gatewayPorts ? "*" : "LOCALHOST")
            diagnostics.debug("Local connections to \(shownHost):\(port) forwarded to remote address \(spec.connectDescription)")
            let addresses = settings.localBindAddresses(host)
            for (index, address) in addresses.enumerated() {
                do {
                    forwards.append(try await client.startLocalForward(listeningOn: .tcp(host: address, port: port), to: target,
                                                                       streamLocal: settings.streamLocal, onEvent: onEvent))
                    diagnostics.debug("Local forwarding listening on \(address) port \(port).")
                } catch {
                    // Only the last address's failure is an error, as in ssh: the others are often a family the
                    // machine lacks.
                    let line = "bind [\(address)]:\(port): \(Self.reason(error))"
                    if index == addresses.count - 1 { diagnostics.error(line) } else { diagnostics.debug(line, level: .verbose) }
                }
            }
            if forwards.isEmpty { diagnostics.error("channel_setup_fwd_listener_tcpip: cannot listen to port: \(port)") }
        }
        guard !forwards.isEmpty else { return false }
        state.withLock { $0.local.append(LocalEntry(spec: spec, forwards: forwards)) }
        return true
    }

    /// Stops the local (or dynamic) forward listening on `listen`, leaving its connections; false when there is none.
    func cancelLocal(_ listen: ForwardSpec.Listen, dynamic: Bool) async -> Bool {
        let removed = state.withLock { state -> LocalEntry? in
            guard let index = state.local.firstIndex(where: { ($0.spec.connect == .socks) == dynamic && Self.matches($0.spec.listen, listen) }) else {
                return nil
            }
            return state.local.remove(at: index)
        }
        guard let removed else { return false }
        for forward in removed.forwards { await forward.close(closingConnections: false) }
        return true
    }

    // MARK: Remote (-R)

    /// Asks for one remote forward and waits for the server's answer. A refusal is ssh's warning, or with
    /// `failureIsFatal` ssh's error (thrown); false when it was refused.
    func startRemote(_ spec: ForwardSpec, failureIsFatal: Bool) async throws -> Bool {
        let endpoint: SSHForwardingEndpoint
        let listened: String
        switch spec.listen {
        case .path(let path):
            endpoint = .unixSocket(path: path)
            listened = "listen path \(path)"
        case .port(let host, let port):
            endpoint = .tcp(host: ForwardingSettings.remoteBindAddress(host), port: port)
            listened = "listen port \(port)"
        }
        let target: SSHRemoteForward.Target = switch spec.connect {
        case .socks: .socks
        case .port(let host, let port): .endpoint(.tcp(host: host, port: port))
        case .path(let path): .endpoint(.unixSocket(path: path))
        }
        let settings = self.settings
        var permitting: (@Sendable (String, Int) -> Bool)?
        if settings.permittedRemoteOpens != nil {
            permitting = { @Sendable host, port in settings.permitsRemoteOpen(host: host, port: port) }
        }
        let forward: SSHRemoteForward
        do {
            forward = try await client.startRemoteForward(listeningOn: endpoint, to: target, permitting: permitting,
                                                          onEvent: eventHandler())
        } catch let error as SSHForwardingError {
            guard case .remoteForwardRefused = error.kind else { throw ShhFailure("shh: \(error)") }
            diagnostics.debug("remote forward failure for: listen \(spec.printed(showingTarget: false)), connect \(spec.connectDescription)")
            if failureIsFatal { throw ShhFailure("Error: remote port forwarding failed for \(listened)") }
            diagnostics.info("Warning: remote port forwarding failed for \(listened)")
            return false
        } catch {
            throw ShhFailure("shh: \(error)")
        }
        diagnostics.debug("remote forward success for: listen \(spec.printed(showingTarget: false)), connect \(spec.connectDescription)")
        if case .port(_, 0) = spec.listen, let port = forward.boundPort {
            diagnostics.info("Allocated port \(port) for remote forward to \(spec.connectDescription)")
        }
        state.withLock { $0.remote.append(RemoteEntry(spec: spec, forward: forward)) }
        return true
    }

    /// Asks the server to stop the remote forward on `listen` (the port asked for, or the one it allocated);
    /// false when there is none or the server refuses.
    func cancelRemote(_ listen: ForwardSpec.Listen) async -> Bool {
        let removed = state.withLock { state -> RemoteEntry? in
            guard let index = state.remote.firstIndex(where: { entry in
                if Self.matches(entry.spec.listen, listen) { return true }
                // A forward asked for on port 0 is known by the port the server chose.
                guard case .port(let host, 0) = entry.spec.listen, let bound = entry.forward.boundPort else { return false }
                return Self.matches(.port(host: host, port: bound), listen)
            }) else { return nil }
            return state.remote.remove(at: index)
        }
        guard let removed else { return false }
        do {
            try await removed.forward.cancel()
            return true
        } catch {
            return false
        }
    }

    /// A cancel request's listen part matches a forward's: same path, or same port and (when the request names
    /// one) the same address.
    private static func matches(_ forward: ForwardSpec.Listen, _ request: ForwardSpec.Listen) -> Bool {
        switch (forward, request) {
        case (.path(let a), .path(let b)): a == b
        case (.port(let host, let port), .port(let wanted, let wantedPort)): port == wantedPort && (wanted == nil || wanted == host)
        default: false
        }
    }

    // MARK: What happens to connections

    /// ssh's messages for forwarded connections: a channel the server would not open, a local target that would
    /// not connect; the others carry on.
    private func eventHandler() -> @Sendable (SSHForwardingEvent) -> Void {
        // Weak: the forwards hold the handler, and these forwards hold them.
        { [weak self] event in self?.report(event) }
    }

    private func report(_ event: SSHForwardingEvent) {
        switch event {
        case .opened(let info):
            let number = nextChannel.add(1, ordering: .relaxed).oldValue
            diagnostics.debug("channel \(number): new [\(info.channelType)] from \(info.from) to \(info.to)")
        case .closed:
            break
        case .failed(let info, let error):
            let number = nextChannel.add(1, ordering: .relaxed).oldValue
            if let error = error as? SSHError, case .channelOpenFailed(let reason, let description) = error.kind {
                diagnostics.info("channel \(number): open failed: \(reason): \(description)")
            } else if let error = error as? SSHForwardingError, case .connectFailed(let target, let reason) = error.kind {
                diagnostics.debug("channel \(number): connection failed: \(reason)")
                diagnostics.error("connect_to \(Self.hostAndPort(target)): failed.")
            } else {
                diagnostics.debug("channel \(number): \(info.channelType) from \(info.from) refused: \(error)")
            }
        case .unexpectedChannel(let type, let description):
            diagnostics.error("WARNING: Server requests forwarding for unknown listen_port (\(type): \(description))")
        }
    }

    /// "host:port" (IPv6 in brackets) as ssh's connect_to message shows it: "host port N"; a path as "path port -2".
    private static func hostAndPort(_ target: String) -> String {
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]) else {
            return "\(target) port -2"
        }
        var host = String(target[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return "\(host) port \(port)"
    }

    /// The system's reason in a listen failure ("Address already in use").
    private static func reason(_ error: any Error) -> String {
        if let error = error as? SSHForwardingError, case .listenFailed(_, let reason) = error.kind { return reason }
        return "\(error)"
    }

    /// ~#'s lines for the forwarded connections, numbered after the session's #0.
    func openConnectionLines() -> [String] {
        client.forwardedConnections.enumerated().map { index, info in
            "  #\(index + 1) \(info.channelType): \(info.from) to \(info.to) (open)"
        }
    }

    // MARK: ~C

    /// Carries out one ~C command line (`-L spec`, `-R spec`, `-D spec`, `-KL`/`-KR`/`-KD [bind:]port`, `?`) and
    /// returns ssh's messages for it.
    func commandLine(_ text: String) async -> [String] {
        var rest = Substring(text).drop { $0.isWhitespace }
        if rest.hasPrefix("-") { rest = rest.dropFirst() }
        guard let first = rest.first else { return [] }
        if "hH?".contains(first) {
            return [
                "Commands:",
                "      -L[bind_address:]port:host:hostport    Request local forward",
                "      -R[bind_address:]port:host:hostport    Request remote forward",
                "      -D[bind_address:]port                  Request dynamic forward",
                "      -KL[bind_address:]port                 Cancel local forward",
                "      -KR[bind_address:]port                 Cancel remote forward",
                "      -KD[bind_address:]port                 Cancel dynamic forward",
            ]
        }
        let cancel = first == "K"
        if cancel { rest = rest.dropFirst() }
        guard let kind = rest.first, "LRD".contains(kind) else { return ["Invalid command."] }
        let spec = String(rest.dropFirst().drop { $0.isWhitespace })
        let environment = ProcessEnvironment.variables
        if cancel {
            guard let parsed = ForwardSpec.parse(spec, .listenOnly, environment: environment) else {
                return ["Bad forwarding close specification."]
            }
            let canceled = switch kind {
            case "R": await cancelRemote(parsed.listen)
            case "D": await cancelLocal(parsed.listen, dynamic: true)
            default: await cancelLocal(parsed.listen, dynamic: false)
            }
            return [canceled ? "Canceled forwarding." : "Unknown port forwarding."]
        }
        switch kind {
        case "R":
            guard let parsed = ForwardSpec.parse(spec, .remote, environment: environment) else {
                return ["Bad remote forwarding specification."]
            }
            // ssh does not wait for the server's answer here; shh does, so a refusal is not silent.
            let started = (try? await startRemote(parsed, failureIsFatal: false)) ?? false
            return [started ? "Forwarding port." : "Port forwarding failed."]
        default:
            guard let parsed = ForwardSpec.parse(spec, kind == "D" ? .listenOnly : .local, environment: environment) else {
                return ["Bad local forwarding specification."]
            }
            return [await startLocal(parsed) ? "Forwarding port." : "Port forwarding failed."]
        }
    }
}
