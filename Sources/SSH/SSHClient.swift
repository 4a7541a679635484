// The async client: connect, verify the host key, authenticate. Channels and commands build on the connection
// this returns (issue 5 continues).
import NIOCore
import NIOPosix
import SSHKeys
import SSHProtocol

public final class SSHClient: Sendable {
    public struct Configuration: Sendable {
        public var algorithms: SSHAlgorithms
        public var rekeyLimits: SSHRekeyLimits
        /// How long connecting, the key exchange and authentication may take together (ssh's ConnectTimeout
        /// covers only the TCP part; this also bounds a server that stalls).
        public var connectTimeout: TimeAmount

        public init(algorithms: SSHAlgorithms = .defaults, rekeyLimits: SSHRekeyLimits = SSHRekeyLimits(),
                    connectTimeout: TimeAmount = .seconds(30)) {
            self.algorithms = algorithms
            self.rekeyLimits = rekeyLimits
            self.connectTimeout = connectTimeout
        }
    }

    let channel: any Channel
    /// What the first key exchange settled on, with the session identifier.
    public let negotiatedAlgorithms: SSHNegotiatedAlgorithms

    private init(channel: any Channel, negotiatedAlgorithms: SSHNegotiatedAlgorithms) {
        self.channel = channel
        self.negotiatedAlgorithms = negotiatedAlgorithms
    }

    /// Connects, checks the server's host key with `hostKeyValidator`, and authenticates `user` with the first of
    /// `credentials` the server accepts. Throws `SSHError` saying what failed.
    public static func connect(
        host: String, port: Int = 22, user: String, credentials: [SSHClientCredential],
        hostKeyValidator: any SSHHostKeyValidator, configuration: Configuration = Configuration(),
        onBanner: (@Sendable (String) -> Void)? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> SSHClient {
        let eventLoop = eventLoopGroup.next()
        let authenticated = eventLoop.makePromise(of: SSHNegotiatedAlgorithms.self)
        let transport = SSHTransportConfiguration(role: .client, algorithms: configuration.algorithms, rekeyLimits: configuration.rekeyLimits)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(configuration.connectTimeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(SSHTransportHandler(client: transport, hostKeyValidator: hostKeyValidator))
                        try channel.pipeline.syncOperations.addHandler(
                            ClientAuthenticationHandler(user: user, credentials: credentials, authenticated: authenticated, onBanner: onBanner))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            authenticated.fail(error)
            throw SSHError(.connectFailed(host: host, port: port, reason: "\(error)"))
        }
        let timeout = eventLoop.scheduleTask(in: configuration.connectTimeout) {
            authenticated.fail(SSHError(.connectFailed(host: host, port: port, reason: "timed out during the SSH handshake")))
            channel.close(promise: nil)
        }
        defer { timeout.cancel() }
        do {
            let negotiated = try await authenticated.futureResult.get()
            return SSHClient(channel: channel, negotiatedAlgorithms: negotiated)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// Says goodbye (DISCONNECT by application) and closes the connection.
    public func close() async {
        channel.writeAndFlush(SSHTransportCommand.disconnect(.byApplication, "disconnected by user"), promise: nil)
        try? await channel.closeFuture.get()
    }
}
