// Our transport on real sockets, for interop tests: a probe client that does the key exchange, requests
// ssh-userauth and asks "none" for the list of methods, and a server that refuses every authentication with a
// fixed method list, so OpenSSH's client gets as far as "Authentications that can continue".
import Foundation
import NIOCore
import NIOPosix
import SSH
import SSHKeys
import SSHProtocol
import SSHWire

struct TransportProbeResult: Sendable {
    var algorithms: SSHNegotiatedAlgorithms
    var hostKey: SSHPresentedKey
    var authenticationMethods: [String]
    var serverSignatureAlgorithms: [String]?
    /// Key exchanges completed on the connection (2 when the probe rekeyed).
    var keyExchanges: Int
}

/// Records the host key it is shown, then defers to the real validator.
private final class RecordingValidator: SSHHostKeyValidator, @unchecked Sendable {
    let inner: any SSHHostKeyValidator
    private let lock = NSLock()
    private var _seen: SSHPresentedKey?
    var seen: SSHPresentedKey? { lock.withLock { _seen } }

    init(_ inner: any SSHHostKeyValidator) { self.inner = inner }

    func validateHostKey(_ hostKey: SSHPresentedKey, of server: SSHHostAddress) async throws {
        lock.withLock { _seen = hostKey }
        try await inner.validateHostKey(hostKey, of: server)
    }
}

private final class ProbeHandler: ChannelInboundHandler {
    typealias InboundIn = SSHTransportEvent
    typealias OutboundOut = SSHTransportCommand

    let user: String
    let rekeyFirst: Bool
    let done: EventLoopPromise<(SSHNegotiatedAlgorithms, [String], [String]?, Int)>
    private var algorithms: SSHNegotiatedAlgorithms?
    private var serverSignatureAlgorithms: [String]?
    private var keyExchanges = 0

    init(user: String, rekeyFirst: Bool, done: EventLoopPromise<(SSHNegotiatedAlgorithms, [String], [String]?, Int)>) {
        self.user = user
        self.rekeyFirst = rekeyFirst
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .keyExchangeCompleted(let negotiated, let isInitial):
            algorithms = negotiated
            keyExchanges += 1
            if isInitial { context.writeAndFlush(wrapOutboundOut(.requestService("ssh-userauth")), promise: nil) }
        case .extensionInfo(let info):
            serverSignatureAlgorithms = info.serverSignatureAlgorithms
        case .serviceAccepted:
            // A rekey we start: the request below waits, queued, until our NEWKEYS has gone out.
            if rekeyFirst { context.write(wrapOutboundOut(.startKeyExchange), promise: nil) }
            var request = ByteBuffer()
            request.writeSSHByte(SSHMessageNumber.userAuthenticationRequest)
            request.writeSSHString(user)
            request.writeSSHString("ssh-connection")
            request.writeSSHString("none")
            context.writeAndFlush(wrapOutboundOut(.message(request)), promise: nil)
        case .message(var payload):
            switch payload.readInteger(as: UInt8.self) {
            case SSHMessageNumber.userAuthenticationFailure:
                do {
                    let methods = try payload.readSSHNameList(field: "authentications that can continue")
                    if let algorithms { done.succeed((algorithms, methods, serverSignatureAlgorithms, keyExchanges)) }
                } catch {
                    done.fail(error)
                }
                context.writeAndFlush(wrapOutboundOut(.disconnect(.byApplication, "probe done")), promise: nil)
            case SSHMessageNumber.userAuthenticationBanner:
                break
            default:
                done.fail(SSHProtocolError(.protocolViolation("unexpected message in the probe")))
                context.close(promise: nil)
            }
        case .peerDisconnected(let error):
            done.fail(error)
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(SSHProtocolError(.protocolViolation("the connection closed before the probe finished")))
    }
}

/// Connects with our client transport, validates the host key, and returns what was negotiated plus the
/// server's answer to a "none" authentication request.
func probeTransport(
    port: Int, algorithms: SSHAlgorithms = .defaults, validator: any SSHHostKeyValidator, user: String = "root",
    rekeyFirst: Bool = false
) async throws -> TransportProbeResult {
    let recorder = RecordingValidator(validator)
    let group = MultiThreadedEventLoopGroup.singleton
    let eventLoop = group.next()
    let done = eventLoop.makePromise(of: (SSHNegotiatedAlgorithms, [String], [String]?, Int).self)
    let configuration = SSHTransportConfiguration(role: .client, algorithms: algorithms)
    let channel = try await ClientBootstrap(group: eventLoop)
        .connectTimeout(.seconds(10))
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(SSHTransportHandler(client: configuration, hostKeyValidator: recorder,
                                                                                   server: SSHHostAddress(host: "127.0.0.1", port: port)))
                try channel.pipeline.syncOperations.addHandler(ProbeHandler(user: user, rekeyFirst: rekeyFirst, done: done))
            }
        }
        .connect(host: "127.0.0.1", port: port).get()
    let timeout = eventLoop.scheduleTask(in: .seconds(20)) {
        done.fail(SSHProtocolError(.protocolViolation("the probe timed out")))
        channel.close(promise: nil)
    }
    defer { timeout.cancel() }
    let (negotiated, methods, signatureAlgorithms, keyExchanges) = try await done.futureResult.get()
    try? await channel.closeFuture.get()
    guard let hostKey = recorder.seen else { throw SSHProtocolError(.protocolViolation("no host key was validated")) }
    return TransportProbeResult(algorithms: negotiated, hostKey: hostKey, authenticationMethods: methods, serverSignatureAlgorithms: signatureAlgorithms, keyExchanges: keyExchanges)
}

/// A server on our transport: refuses every authentication request with "publickey,password".
final class TransportTestServer: @unchecked Sendable {
    let port: Int
    private let channel: any Channel
    private let lock = NSLock()
    private var _errors: [String] = []
    private var _completedHandshakes = 0
    private var _rekeys = 0

    var errors: [String] { lock.withLock { _errors } }
    var completedHandshakes: Int { lock.withLock { _completedHandshakes } }
    var completedRekeys: Int { lock.withLock { _rekeys } }

    /// `rekeyOnAuthentication`: answer the first authentication request only after a key exchange we start.
    init(hostKeys: [SSHServerHostKey], algorithms: SSHAlgorithms = .defaults, rekeyOnAuthentication: Bool = false) async throws {
        let configuration = SSHTransportConfiguration(role: .server(hostKeys: hostKeys), algorithms: algorithms)
        let box = ServerObserver()
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(SSHTransportHandler(server: configuration))
                    try child.pipeline.syncOperations.addHandler(RefuseAuthenticationHandler(observer: box, rekeyOnAuthentication: rekeyOnAuthentication))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress?.port ?? 0
        box.server = self
    }

    fileprivate func record(error: String) { lock.withLock { _errors.append(error) } }
    fileprivate func recordHandshake() { lock.withLock { _completedHandshakes += 1 } }
    fileprivate func recordRekey() { lock.withLock { _rekeys += 1 } }

    func stop() async {
        try? await channel.close()
    }
}

private final class ServerObserver: @unchecked Sendable {
    weak var server: TransportTestServer?
}

private final class RefuseAuthenticationHandler: ChannelInboundHandler {
    typealias InboundIn = SSHTransportEvent
    typealias OutboundOut = SSHTransportCommand
    let observer: ServerObserver
    var rekeyOnAuthentication: Bool

    init(observer: ServerObserver, rekeyOnAuthentication: Bool) {
        self.observer = observer
        self.rekeyOnAuthentication = rekeyOnAuthentication
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .keyExchangeCompleted(_, let isInitial):
            if isInitial { observer.server?.recordHandshake() } else { observer.server?.recordRekey() }
        case .message(let payload):
            guard payload.getInteger(at: payload.readerIndex, as: UInt8.self) == SSHMessageNumber.userAuthenticationRequest else { return }
            if rekeyOnAuthentication {
                rekeyOnAuthentication = false
                context.write(wrapOutboundOut(.startKeyExchange), promise: nil)
            }
            var failure = ByteBuffer()
            failure.writeSSHByte(SSHMessageNumber.userAuthenticationFailure)
            failure.writeSSHNameList(["publickey", "password"])
            failure.writeSSHBoolean(false)
            context.writeAndFlush(wrapOutboundOut(.message(failure)), promise: nil)
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        observer.server?.record(error: "\(error)")
        context.close(promise: nil)
    }
}

/// `ssh -Q <query>` of an OpenSSH installation (`prefix` runs it in the Debian 13 root).
@available(*, noasync, message: "blocks a cooperative pool thread")
func openSSHSupports(_ query: String, prefix: [String] = []) throws -> Set<String> {
    let (program, arguments) = prefix.isEmpty ? ("/usr/bin/ssh", ["-Q", query]) : (prefix[0], Array(prefix.dropFirst()) + ["/usr/bin/ssh", "-Q", query])
    let result = try run(program, arguments)
    return Set(result.stdout.split(separator: "\n").map(String.init))
}
