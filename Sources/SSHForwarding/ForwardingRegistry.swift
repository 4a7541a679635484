// What a client's forwards have open, for ssh's ~# ("The following connections are open") and for logs.
import NIOConcurrencyHelpers
import NIOCore
import SSH

/// One forwarded connection that is open, as `SSHClient.forwardedConnections` lists it.
public struct SSHForwardedConnectionInfo: Sendable, Equatable {
    /// The channel type: direct-tcpip, direct-streamlocal@openssh.com, forwarded-tcpip, ...
    public var channelType: String
    /// Where the connection came from (the local client for -L and -D, the server's side for -R).
    public var from: String
    /// Where it goes.
    public var to: String
}

/// What happens to forwarded connections, for a client that reports it (ssh's messages).
public enum SSHForwardingEvent: Sendable {
    /// A forwarded connection is open.
    case opened(SSHForwardedConnectionInfo)
    /// A connection could not be forwarded: the server refused the channel (`SSHError` with
    /// `channelOpenFailed`), the local target could not be connected, or a SOCKS client was refused.
    case failed(SSHForwardedConnectionInfo, error: any Error)
    /// A forwarded connection ended.
    case closed(SSHForwardedConnectionInfo)
    /// The server opened a channel this client never asked for (forwarded-tcpip to a port it does not forward):
    /// refused.
    case unexpectedChannel(type: String, description: String)
}

/// The open forwarded connections of one client.
final class ForwardingRegistry: Sendable {
    private let open = NIOLockedValueBox<[UInt64: SSHForwardedConnectionInfo]>([:])
    private let next = NIOLockedValueBox<UInt64>(0)

    /// Records a connection; returns its key for `remove(_:)`.
    func add(_ info: SSHForwardedConnectionInfo) -> UInt64 {
        let key = next.withLockedValue { value -> UInt64 in value += 1; return value }
        open.withLockedValue { $0[key] = info }
        return key
    }

    func remove(_ key: UInt64) {
        _ = open.withLockedValue { $0.removeValue(forKey: key) }
    }

    var all: [SSHForwardedConnectionInfo] {
        open.withLockedValue { entries in entries.sorted { $0.key < $1.key }.map(\.value) }
    }
}

extension SSHClient {
    /// The forwarded connections open right now (-L, -D, -R, -W), oldest first: ssh's ~# list.
    public var forwardedConnections: [SSHForwardedConnectionInfo] {
        packageState { ForwardingRegistry() }.all
    }

    var forwardingRegistry: ForwardingRegistry { packageState { ForwardingRegistry() } }
}

extension SSHClient {
    /// Splices one forwarded connection until both sides end, listed in `forwardedConnections` meanwhile and told to
    /// `onEvent` when it opens and closes.
    func runForwarded(_ channel: SSHChannel, socket: any Channel, handler: NIOLoopBound<SpliceHandler>, info: SSHForwardedConnectionInfo,
                      onEvent: (@Sendable (SSHForwardingEvent) -> Void)?, continuing reader: SSHChannelInputSequence.AsyncIterator? = nil) async {
        let key = forwardingRegistry.add(info)
        onEvent?(.opened(info))
        await Splice.run(channel, socket: socket, handler: handler, continuing: reader)
        forwardingRegistry.remove(key)
        onEvent?(.closed(info))
    }
}
