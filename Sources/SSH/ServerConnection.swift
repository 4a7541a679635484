// One authenticated connection as a server's delegates see it (RFC 4254 §4, §5.1): who logged in, from where, with
// what grant; channels the server opens to the client (forwarded-tcpip, auth-agent@openssh.com); its end.
import NIOCore
import SSHProtocol

/// An authenticated connection on a server, as its `SSHServerConnectionDelegate` and session handler see it.
///
/// A delegate that listens for the client (tcpip-forward) opens forwarded-tcpip channels with `openChannel(_:)`
/// and stops listening when `waitUntilClosed()` returns.
public struct SSHServerConnection: Sendable {
    /// The authenticated user.
    public let user: String
    /// What the login may do, as the authenticator granted it.
    public let grant: SSHLoginGrant
    /// Where the client connects from; nil when the transport has no address.
    public let remoteAddress: SocketAddress?
    /// The server's address the client connected to; nil when the transport has no address.
    public let localAddress: SocketAddress?
    /// The server's number for the connection (as in `SSHServerConnectionInfo.connectionID`).
    public let connectionID: UInt64
    /// The connection's event loop: sockets spliced to its channels are cheapest on the same one.
    public let eventLoop: any EventLoop
    let handler: NIOLoopBound<ConnectionHandler>
    let closeFuture: EventLoopFuture<Void>
    let work: ServerWorkQueue?

    /// Runs `job` as a child task of the server's `run()` (a connection a forward accepted), or as a task of its own
    /// for a connection not made by `SSHServer`.
    package func spawn(_ job: @escaping @Sendable () async -> Void) {
        let done = eventLoop.makePromise(of: Void.self)
        if let work {
            work.submit(done: done) { await job() }
        } else {
            done.completeWithTask { await job() }
        }
    }

    /// Opens a channel to the client (forwarded-tcpip for a connection accepted on a forwarded port,
    /// auth-agent@openssh.com for the forwarded agent) and waits for the client to confirm it.
    /// - Parameter type: the channel type and its data.
    /// - Returns: the open channel.
    /// - Throws: `SSHError`: `channelOpenFailed` with the client's reason, `connectionClosed` when the connection
    ///   is gone; `CancellationError` when the calling task is cancelled.
    public func openChannel(_ type: SSHChannelType) async throws -> SSHChannel {
        try await SSH.openChannel(type, on: handler, eventLoop: eventLoop, lifetime: nil)
    }

    /// Returns when the connection has ended, whoever ended it.
    public func waitUntilClosed() async {
        try? await closeFuture.get()
    }

    /// Runs `body` on the event loop when the connection ends (at once if it has).
    /// - Parameter body: what to do, such as closing the listeners the connection asked for.
    public func onClose(_ body: @escaping @Sendable () -> Void) {
        closeFuture.whenComplete { _ in body() }
    }
}

/// What a client does with a channel the server opens (forwarded-tcpip, forwarded-streamlocal@openssh.com,
/// auth-agent@openssh.com): decided on the event loop, at once.
package enum SSHPeerChannelDecision {
    /// Refuse with a reason and a message for the server.
    case reject(SSHChannelOpenFailureReason, description: String)
    /// Open it; `serve` gets the channel on the event loop.
    case accept(serve: (SSHChannel) -> Void)
}

extension ConnectionHandler {
    /// The delegates' view of this connection; nil before the pipeline is up.
    func serverConnection(connectionID: UInt64) -> SSHServerConnection? {
        guard let context else { return nil }
        return SSHServerConnection(user: user, grant: grant, remoteAddress: remoteAddress, localAddress: localAddress,
                                   connectionID: connectionID, eventLoop: context.eventLoop,
                                   handler: NIOLoopBound(self, eventLoop: context.eventLoop),
                                   closeFuture: context.channel.closeFuture, work: serverWork)
    }
}
