// One shh run after its settings are known: connect (ConnectionAttempts), authenticate, open a session, send the
// environment, start the command (or shell, or subsystem), stream standard input to it and its output back, and
// turn its end into our exit status: its own status, or 255 with a message for a signal or a lost connection.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import NIOCore
import SSH
import SSHCommandLine
import SSHKeys
import SSHProtocol

struct Session {
    let settings: ClientSettings
    let arguments: ShhArguments
    let diagnostics: Diagnostics

    func run() async throws -> Int32 {
        let command = arguments.command.isEmpty ? settings.remoteCommand : arguments.command.joined(separator: " ")
        if arguments.subsystem && command == nil { throw ShhFailure("shh: -s needs a subsystem name") }
        // Terminals come with the interactive work; until then a session that would get one is refused, not
        // silently run without one.
        let wantsTerminal = switch settings.requestTTY {
        case "force", "yes": true
        case "auto": command == nil && !arguments.noCommand && isatty(STDIN_FILENO) == 1
        default: false
        }
        if wantsTerminal {
            throw ShhFailure("shh: interactive sessions with a terminal are not supported yet; give a command, or use -T for a shell without a terminal")
        }
        let client = try await connect()
        do {
            let status = try await run(on: client, command: command)
            await client.close()
            return status
        } catch {
            await client.close()
            throw error
        }
    }

    private func run(on client: SSHClient, command: String?) async throws -> Int32 {
        if arguments.noCommand {
            // -N: keep the connection until the server ends it (forwarding will give this its purpose).
            await client.waitUntilClosed()
            return 0
        }
        let session = try await client.openSession()
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
        return try await stream(session)
    }

    /// Connects and authenticates, trying ConnectionAttempts times (once a second) before giving up.
    private func connect() async throws -> SSHClient {
        let validator = KnownHostsVerifier(
            knownHostsName: settings.knownHostsName, host: settings.hostName, userFiles: settings.userKnownHostsFiles,
            globalFiles: settings.globalKnownHostsFiles, policy: settings.strictHostKeyChecking,
            hashNewEntries: settings.hashKnownHosts, batchMode: settings.batchMode, diagnostics: diagnostics)
        let credentials = Identities.credentials(settings, diagnostics: diagnostics)
        diagnostics.debug("Connecting to \(settings.hostName) port \(settings.port) as \(settings.user).")
        var attempt = 1
        while true {
            do {
                let client = try await SSHClient.connect(
                    host: settings.hostName, port: settings.port, user: settings.user, credentials: credentials,
                    hostKeyValidator: validator, configuration: settings.client,
                    onBanner: { [diagnostics] banner in diagnostics.info(banner.hasSuffix("\n") ? String(banner.dropLast()) : banner) })
                let negotiated = client.negotiatedAlgorithms
                diagnostics.debug("kex: algorithm: \(negotiated.keyExchange.rawValue)")
                diagnostics.debug("kex: host key algorithm: \(negotiated.hostKey.name)")
                diagnostics.debug("kex: server->client cipher: \(negotiated.cipherServerToClient.rawValue)")
                diagnostics.debug("kex: client->server cipher: \(negotiated.cipherClientToServer.rawValue)")
                diagnostics.debug("Authenticated to \(settings.hostName) ([\(settings.hostName)]:\(settings.port)).")
                return client
            } catch let error as SSHError {
                if validator.refused.withLock({ $0 }) { throw HostKeyVerificationFailed() }
                if case .connectFailed = error.kind, attempt < settings.connectionAttempts {
                    attempt += 1
                    try await Task.sleep(for: .seconds(1))
                    continue
                }
                throw ShhFailure(message(for: error))
            } catch {
                if error is HostKeyVerificationFailed { throw error }
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
            return "\(user)@\(settings.hostName): Permission denied (\(allowed.joined(separator: ",")))."
        default:
            return "shh: \(error)"
        }
    }

    /// Standard input to the channel (EOF at its end), the channel's output to our standard output and error.
    private func stream(_ session: SSHChannel) async throws -> Int32 {
        let stdinTask = Task {
            if arguments.stdinNull {
                try? await session.sendEOF()
                return
            }
            let input = StandardInput()
            for await chunk in input.chunks {
                do { try await session.write(ByteBuffer(bytes: chunk)) } catch { return }
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
                case .data(let bytes): bytes.withUnsafeReadableBytes { writeAll(STDOUT_FILENO, $0) }
                case .stderr(let bytes): bytes.withUnsafeReadableBytes { writeAll(STDERR_FILENO, $0) }
                case .exitStatus(let status): exitStatus = status
                case .exitSignal(let signal): exitSignal = signal
                case .eof, .request: break
                }
            }
        } catch {
            diagnostics.error("shh: \(error)")
            return 255
        }
        if let exitStatus { return exitStatus }
        if let exitSignal {
            diagnostics.error("shh: remote command killed by signal \(exitSignal.signalName)\(exitSignal.coreDumped ? " (core dumped)" : "")")
            return 255
        }
        return 255
    }
}

/// Writes all of `bytes`, retrying after interruptions and short writes; a closed pipe ends shh like ssh.
private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress else { return }
    var offset = 0
    while offset < bytes.count {
        let written = write(fd, base + offset, bytes.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            return
        }
        offset += written
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
                let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR {
                    permits.signal()
                    continue
                }
                guard count > 0 else { break }
                continuation.yield(Array(buffer[0..<count]))
            }
            continuation.finish()
        }
    }

    /// The writer is done with one chunk.
    func consumed() { permits.signal() }
}
