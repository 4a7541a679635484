// Jump hosts (ssh -J / ProxyJump) and stdio forwarding (ssh -W): SSH to a host reached through another connection's
// direct-tcpip channel, in this process, and a channel spliced to a pair of descriptors.
import NIOCore
import NIOPosix
import SSH
import SSHProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension SSHClient {
    /// Connects to `host`:`port` through `jump` (a direct-tcpip channel from the jump host) and runs SSH to it: ssh's
    /// -J, one hop. Chain calls for several hops; each client stays usable, and the jump connection stays open
    /// while the connection through it does.
    ///
    /// ```swift
    /// let bastion = try await SSHClient.connect(host: "bastion.example.com", user: "me", credentials: credentials,
    ///                                           hostKeyValidator: .knownHosts())
    /// let inner = try await SSHClient.connect(through: bastion, host: "10.0.0.5", user: "me", credentials: credentials,
    ///                                         hostKeyValidator: .knownHosts())
    /// print(try await inner.run("hostname"))
    /// ```
    /// - Parameters:
    ///   - jump: the connection to go through.
    ///   - host: the target's name or address, as the jump host resolves it; also the name its host key is checked
    ///     under.
    ///   - port: the target's port.
    ///   - user: the account to log in as on the target.
    ///   - credentials: what to authenticate with, tried in order.
    ///   - hostKeyValidator: decides whether the target's host key is the expected one.
    ///   - configuration: algorithms, timeouts, keepalives and the logger.
    ///   - onBanner: called with the target's banner text, if it sends one.
    ///   - onAuthenticationProgress: called as authentication goes on.
    /// - Returns: the connected, authenticated client to the target.
    /// - Throws: `SSHError` with `channelOpenFailed` when the jump host cannot reach the target, or what
    ///   connecting throws.
    public static func connect(
        through jump: SSHClient, host: String, port: Int = 22, user: String, credentials: [SSHClientCredential],
        hostKeyValidator: any SSHHostKeyValidator, configuration: Configuration = Configuration(),
        onBanner: (@Sendable (String) -> Void)? = nil,
        onAuthenticationProgress: (@Sendable (SSHClientAuthenticationProgress) -> Void)? = nil
    ) async throws -> SSHClient {
        let tunnel = try await jump.openTunnel(to: .tcp(host: host, port: port))
        var ends: [CInt] = [-1, -1]
        guard socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0, &ends) == 0 else {
            let reason = String(cString: strerror(errno))
            await tunnel.close()
            throw SSHForwardingError(.connectFailed(target: "\(host):\(port)", reason: "socketpair: \(reason)"))
        }
        let (ours, theirs) = (ends[0], ends[1])
        let spliced: (any Channel, NIOLoopBound<SpliceHandler>)
        do {
            spliced = try await adoptSpliced(ours, on: tunnel.eventLoop)
        } catch {
            Glibc.close(ours)
            Glibc.close(theirs)
            await tunnel.close()
            throw error
        }
        // The splice runs while the inner connection does: its end of the pair closing ends the tunnel.
        jump.lifetimeWork.submit {
            await Splice.run(tunnel, socket: spliced.0, handler: spliced.1)
        }
        return try await connect(readingFrom: theirs, writingTo: theirs, host: host, port: port, user: user, credentials: credentials,
                                 hostKeyValidator: hostKeyValidator, configuration: configuration, onBanner: onBanner,
                                 onAuthenticationProgress: onAuthenticationProgress, eventLoopGroup: tunnel.eventLoop)
    }
}

extension SSHChannel {
    /// Copies between this channel and a pair of descriptors until both directions end: what is read from `input`
    /// is sent (its end becomes EOF), what arrives is written to `output` (EOF closes it). ssh's -W does this with
    /// its standard input and output. The channel takes ownership of the descriptors and closes them.
    /// - Parameters:
    ///   - input: where bytes for the channel are read.
    ///   - output: where the channel's bytes are written; may be `input` (a socket).
    /// - Throws: `SSHForwardingError` when the descriptors cannot be used.
    public func splice(readingFrom input: CInt, writingTo output: CInt) async throws {
        let eventLoop = self.eventLoop
        let (pipe, handler): (any Channel, NIOLoopBound<SpliceHandler>)
        do {
            (pipe, handler) = try await Splice.socket(on: eventLoop, what: "standard input and output") { initializer in
                let bootstrap = NIOPipeBootstrap(group: eventLoop)
                    .channelOption(.allowRemoteHalfClosure, value: true)
                    .channelInitializer(initializer)
                return try await (input == output
                    ? bootstrap.takingOwnershipOfDescriptor(inputOutput: input)
                    : bootstrap.takingOwnershipOfDescriptors(input: input, output: output)).get()
            }
        } catch let error as SSHForwardingError {
            throw error
        } catch {
            throw SSHForwardingError(.connectFailed(target: "standard input and output", reason: readableReason(error)), underlying: error)
        }
        await Splice.run(self, socket: pipe, handler: handler)
    }
}

/// Takes over a connected socket on `eventLoop` with a splice handler in its pipeline.
func adoptSpliced(_ socket: CInt, on eventLoop: any EventLoop) async throws -> (any Channel, NIOLoopBound<SpliceHandler>) {
    try await Splice.socket(on: eventLoop, what: "socket") { initializer in
        try await ClientBootstrap(group: eventLoop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer(initializer)
            .withConnectedSocket(socket).get()
    }
}
