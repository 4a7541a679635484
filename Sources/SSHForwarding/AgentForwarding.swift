// Agent forwarding (OpenSSH PROTOCOL.agent: auth-agent-req@openssh.com on a session, auth-agent@openssh.com
// channels): on the server, a socket in a private directory whose connections become channels to the client; on the
// client, those channels connected to the local agent.
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SSH
import SSHProtocol

/// The server's end of a forwarded agent: a listening socket (SSH_AUTH_SOCK in the session) whose connections are
/// carried to the client's agent. Close it when the session ends: the socket and its directory go.
public final class SSHForwardedAgentListener: Sendable {
    /// The socket's path, for SSH_AUTH_SOCK.
    public let path: String
    private let listener: any Channel
    private let connection: SSHServerConnection
    private let host: any SSHForwardingHost
    private let closed = NIOLockedValueBox(false)

    private init(path: String, listener: any Channel, connection: SSHServerConnection, host: any SSHForwardingHost) {
        self.path = path
        self.listener = listener
        self.connection = connection
        self.host = host
    }

    /// Makes the socket (through `host`, as the connection's user) and starts carrying its connections to the
    /// client's agent.
    /// - Parameters:
    ///   - connection: the session's connection.
    ///   - host: makes the socket with the user's rights.
    /// - Returns: the listener.
    /// - Throws: `SSHForwardingError` when the socket cannot be made.
    public static func start(for connection: SSHServerConnection, host: any SSHForwardingHost) async throws -> SSHForwardedAgentListener {
        let (path, descriptor) = try await host.makeAgentSocket(for: connection)
        let listener: any Channel
        do {
            listener = try await ServerBootstrap(group: connection.eventLoop, childGroup: connection.eventLoop)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { socket in
                    socket.eventLoop.makeCompletedFuture {
                        let handler = NIOLoopBound(try Splice.install(on: socket), eventLoop: socket.eventLoop)
                        connection.spawn {
                            guard let channel = try? await connection.openChannel(.authAgent) else {
                                try? await socket.close()
                                return
                            }
                            await Splice.run(channel, socket: socket, handler: handler)
                        }
                    }
                }
                .withBoundSocket(descriptor).get()
        } catch {
            await host.removeAgentSocket(path: path, for: connection)
            throw SSHForwardingError(.listenFailed(address: path, reason: readableReason(error)), underlying: error)
        }
        let agent = SSHForwardedAgentListener(path: path, listener: listener, connection: connection, host: host)
        // Whatever happens to the session, the socket goes with the connection.
        connection.onClose { [agent] in Task { await agent.close() } }
        return agent
    }

    /// Stops listening and removes the socket and its directory (once; later calls do nothing).
    public func close() async {
        guard closed.withLockedValue({ done in defer { done = true }; return !done }) else { return }
        try? await listener.close()
        await host.removeAgentSocket(path: path, for: connection)
    }
}

extension SSHClient {
    /// Lets the server reach the agent listening at `socketPath` (ssh's ForwardAgent): auth-agent@openssh.com
    /// channels the server opens are connected to it. Ask for it on each session with
    /// `session.send(.authAgent)` before its shell or command, as ssh does.
    ///
    /// ```swift
    /// try await client.forwardAgent(toSocket: ProcessInfo.processInfo.environment["SSH_AUTH_SOCK"] ?? "")
    /// let session = try await client.openSession()
    /// try await session.send(.authAgent)
    /// try await session.request(.exec("ssh-add -l"))
    /// ```
    /// - Parameter socketPath: the local agent's socket.
    /// - Throws: `SSHError` when the connection is gone.
    public func forwardAgent(toSocket socketPath: String) async throws {
        let router = remoteForwardRouter
        try await router.install(on: self)
        let work = lifetimeWork
        router.setAgent { channel, _ in
            let submitted = work.submit {
                do {
                    let descriptor = try await UnixSockets.connect(socketPath)
                    let (socket, handler) = try await adoptSpliced(descriptor, on: channel.eventLoop)
                    await Splice.run(channel, socket: socket, handler: handler)
                } catch {
                    await channel.close()
                }
            }
            if !submitted { channel.syncOperations.close() }
        }
    }
}
