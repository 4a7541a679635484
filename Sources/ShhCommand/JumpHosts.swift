// ProxyJump (-J) as ssh does it, in this process. ssh turns `-J a,b` into the ProxyCommand
// `ssh -l user -p port -J a -F config -v -W '[%h]:%p' b`: the last hop is connected to by a fresh ssh that reads the
// config for that hop's own name (its Host block: User, Port, IdentityFile, HostName, known_hosts) and reaches it
// through the hops before it, and only -F and -v come along from our command line (no -i, no -o). Here each hop is
// resolved the same way and connected to by the same code as the destination, and the destination's connection
// runs over the last hop's direct-tcpip channel instead of a child's standard input and output. Each hop reports
// its failures as its ssh process would, with its own LogLevel, and the connection through it then fails as ssh's
// does when its ProxyCommand goes away.
import OpenSSHConfig
import SSH
import SSHForwarding
import SSHProtocol

enum JumpHosts {
    /// What ssh prints when its jump process ends before the SSH version exchange: the proxy closed the
    /// connection, whose peer is unknown.
    static let closedByJumpHost = "kex_exchange_identification: Connection closed by remote host\nConnection closed by UNKNOWN port 65535"

    /// Connects to `hop` (reached through `earlier` hops, first first) as ssh's jump process would for a
    /// connection to `target`. Failures are reported as that process would report them, and throw
    /// `ShhFailure` with the message of the connection that needed the hop.
    static func connect(_ hop: SSHClientOptions.JumpHost, through earlier: ArraySlice<SSHClientOptions.JumpHost>, toward target: ClientSettings,
                        arguments: ShhArguments, diagnostics: Diagnostics) async throws -> Session.Connected {
        // ssh compares the hop as written with the destination's host name, the hop's port (22 when it names
        // none) and user (the destination's when it names none).
        if hop.host == target.hostName && (hop.port ?? 22) == target.port && (hop.user ?? target.user) == target.user {
            throw ShhFailure("jumphost loop via \(hop.host)")
        }
        let hopArguments = Self.arguments(for: hop, through: earlier, from: arguments)
        diagnostics.debug("Jumping to \(target.hostName) port \(target.port) through \(([hop] + earlier).reversed().map(\.description).joined(separator: ", "))")
        // The hop's own messages, at its own LogLevel, on standard error (ssh does not pass -E to it).
        let hopDiagnostics = Diagnostics()
        do {
            let settings = try ClientSettings.resolve(hopArguments, host: hop.host, diagnostics: hopDiagnostics)
            var connected = try await Session(settings: settings, arguments: hopArguments, diagnostics: hopDiagnostics).connect()
            connected.diagnostics = hopDiagnostics
            return connected
        } catch {
            report(error, on: hopDiagnostics)
            throw ShhFailure(closedByJumpHost)
        }
    }

    /// ssh's command line for the jump process, as arguments: -l and -p from the hop, -J with the hops before it,
    /// -F and -v from ours.
    static func arguments(for hop: SSHClientOptions.JumpHost, through earlier: ArraySlice<SSHClientOptions.JumpHost>,
                          from outer: ShhArguments) -> ShhArguments {
        var hopArguments = ShhArguments()
        hopArguments.host = hop.host
        hopArguments.user = hop.user
        hopArguments.port = hop.port
        hopArguments.configFile = outer.configFile
        hopArguments.verbosity = outer.verbosity
        // -W: no session on the hop, so nothing of a terminal or a command applies there.
        hopArguments.noCommand = true
        if !earlier.isEmpty {
            let value = earlier.map(\.description).joined(separator: ",")
            hopArguments.configLines = ["ProxyJump \"" + value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""]
        }
        return hopArguments
    }

    /// SSH to `target` over a direct-tcpip channel of `jump`. A refused channel is reported as the jump process
    /// reports it (with the jump's LogLevel), then as ssh reports the ProxyCommand's end.
    static func connect(to target: ClientSettings, through jump: Session.Connected, credentials: [SSHClientCredential],
                        hostKeyValidator: any SSHHostKeyValidator, onBanner: @escaping @Sendable (String) -> Void,
                        onAuthenticationProgress: @escaping @Sendable (SSHClientAuthenticationProgress) -> Void) async throws -> SSHClient {
        do {
            return try await SSHClient.connect(
                through: jump.client, host: target.hostName, port: target.port, user: target.user, credentials: credentials,
                hostKeyValidator: hostKeyValidator, configuration: target.client, onBanner: onBanner,
                onAuthenticationProgress: onAuthenticationProgress)
        } catch let error as SSHError {
            guard case .channelOpenFailed(let reason, let description) = error.kind else { throw error }
            // The jump process's words (channels.c, then ssh.c's stdio forwarding), channel 0 being its only one.
            let hopDiagnostics = jump.diagnostics ?? Diagnostics()
            hopDiagnostics.info("channel 0: open failed: \(reason)\(description.isEmpty ? "" : ": " + description)")
            hopDiagnostics.error("stdio forwarding failed")
            throw ShhFailure(closedByJumpHost)
        } catch let error as SSHForwardingError {
            throw ShhFailure("shh: \(error)")
        }
    }

    /// What the jump process would print for `error` before exiting 255 (as `Shh.run` prints its own).
    private static func report(_ error: any Error, on diagnostics: Diagnostics) {
        switch error {
        case let failure as ShhFailure: diagnostics.error(failure.message)
        case let failure as OpenSSHConfigError: diagnostics.error(failure.description)
        case is HostKeyVerificationFailed: break
        default: diagnostics.error("shh: \(error)")
        }
    }
}
