// Drives the client side of user authentication (SSHProtocol.SSHClientAuthentication) on a connection: asks for
// the ssh-userauth service once the first key exchange is done, probes with "none", then tries each credential
// the server allows, in the caller's order. When it succeeds, connection-layer messages flow on up the pipeline.
import NIOCore
import SSHKeys
import SSHProtocol

/// What authentication is doing, for a client that shows it (ssh -v): the methods the server lets us continue
/// with, each credential tried, a key the server accepts (before the signature), and the method that succeeded.
///
/// `SSHClient.connect` reports it through its `onAuthenticationProgress` closure, on the connection's event loop.
public enum SSHClientAuthenticationProgress: Sendable, Equatable {
    /// The server's list of methods that can continue (RFC 4252 §5.1); `partialSuccess` when the last method
    /// succeeded but more are required.
    case methodsThatCanContinue([String], partialSuccess: Bool)
    /// A credential is being tried: its method, and for public keys the key offered.
    case trying(method: String, key: SSHPresentedKey?)
    /// The server would accept this key (SSH_MSG_USERAUTH_PK_OK, RFC 4252 §7); the signature follows.
    case keyAccepted(SSHPresentedKey)
    /// Authentication succeeded with this method.
    case succeeded(method: String)
}

final class ClientAuthenticationHandler: ChannelDuplexHandler {
    typealias InboundIn = SSHTransportEvent
    typealias InboundOut = SSHTransportEvent
    typealias OutboundIn = SSHTransportCommand
    typealias OutboundOut = SSHTransportCommand

    /// One thing to try: a credential, and for keys the algorithm and blob to offer.
    private struct Attempt {
        var credential: SSHClientCredential
        var key: SSHPresentedKey?
    }

    private let user: String
    private let credentials: [SSHClientCredential]
    private let authenticated: EventLoopPromise<SSHNegotiatedAlgorithms>
    private let onBanner: (@Sendable (String) -> Void)?
    private let onProgress: (@Sendable (SSHClientAuthenticationProgress) -> Void)?
    private var authentication: SSHClientAuthentication?
    private var negotiated: SSHNegotiatedAlgorithms?
    private var serverSignatureAlgorithms: [String]?
    private var attempts: [Attempt] = []
    private var current: Attempt?
    private var tried: [String] = []
    private var done = false

    init(user: String, credentials: [SSHClientCredential], authenticated: EventLoopPromise<SSHNegotiatedAlgorithms>,
         onBanner: (@Sendable (String) -> Void)?, onProgress: (@Sendable (SSHClientAuthenticationProgress) -> Void)? = nil) {
        self.user = user
        self.credentials = credentials
        self.authenticated = authenticated
        self.onBanner = onBanner
        self.onProgress = onProgress
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let event = unwrapInboundIn(data)
        if authentication?.isAuthenticated == true {
            context.fireChannelRead(data)
            return
        }
        switch event {
        case .keyExchangeCompleted(let algorithms, let isInitial):
            negotiated = algorithms
            if isInitial { context.writeAndFlush(wrapOutboundOut(.requestService("ssh-userauth")), promise: nil) }
        case .extensionInfo(let info):
            serverSignatureAlgorithms = info.serverSignatureAlgorithms
        case .serviceAccepted:
            guard let negotiated else { return }
            authentication = SSHClientAuthentication(user: user, sessionIdentifier: negotiated.sessionIdentifier)
            attempts = expandAttempts()
            perform(context: context) { try $0.tryNone() }
            context.flush()
        case .message(let payload):
            guard let number = payload.getInteger(at: payload.readerIndex, as: UInt8.self), (50...79).contains(number) else {
                fail(context: context, SSHError(.protocolFailure(SSHProtocolError(.protocolViolation("a connection message before authentication")))))
                return
            }
            handleAuthenticationMessage(payload, context: context)
        case .peerDisconnected(let error):
            finish(.failure(SSHError(.protocolFailure(error))))
            context.fireChannelRead(data)
        default:
            context.fireChannelRead(data)
        }
    }

    private func expandAttempts() -> [Attempt] {
        credentials.flatMap { credential -> [Attempt] in
            switch credential {
            case .privateKey(let key, let certificate):
                // The certificate first (servers that trust the CA need no authorized_keys line), then the key.
                return (certificate.map { [Attempt(credential: credential, key: .certificate($0))] } ?? [])
                    + [Attempt(credential: credential, key: .key(key.publicKey))]
            case .signer(let key, _):
                return [Attempt(credential: credential, key: key)]
            case .password, .passwordPrompt, .keyboardInteractive:
                return [Attempt(credential: credential, key: nil)]
            }
        }
    }

    private func handleAuthenticationMessage(_ payload: ByteBuffer, context: ChannelHandlerContext) {
        guard var machine = authentication else { return }
        let event: SSHClientAuthentication.Event?
        do {
            event = try machine.receive(payload)
        } catch {
            authentication = machine
            fail(context: context, error)
            return
        }
        authentication = machine
        guard let event else { return }
        switch event {
        case .banner(let text):
            onBanner?(text)
        case .chooseNextMethod(let methods, let partialSuccess):
            // The first answer is to the "none" probe; it lists what the server will take.
            onProgress?(.methodsThatCanContinue(methods, partialSuccess: partialSuccess))
            tryNext(allowed: methods, context: context)
        case .signatureNeeded(let algorithm, _, let data):
            if let key = current?.key { onProgress?(.keyAccepted(key)) }
            sign(data, algorithm: algorithm, context: context)
        case .passwordChangeRequested(let prompt):
            fail(context: context, SSHError(.passwordChangeRequired(prompt: prompt)))
        case .keyboardInteractive(let request):
            answer(request, context: context)
        case .succeeded:
            if let method = current?.credential.methodName { onProgress?(.succeeded(method: method)) }
            if let negotiated { finish(.success(negotiated)) }
        }
    }

    private func tryNext(allowed: [String], context: ChannelHandlerContext) {
        while !attempts.isEmpty {
            let attempt = attempts.removeFirst()
            guard allowed.contains(attempt.credential.methodName) else { continue }
            current = attempt
            tried.append(attempt.credential.methodName)
            onProgress?(.trying(method: attempt.credential.methodName, key: attempt.key))
            switch attempt.credential {
            case .privateKey, .signer:
                guard let key = attempt.key,
                      let algorithm = publicKeyAlgorithms(for: key, serverSignatureAlgorithms: serverSignatureAlgorithms).first
                else { continue }
                perform(context: context) { machine in _ = try machine.tryPublicKey(algorithm: algorithm.name, keyBlob: key.wireBlob) }
            case .password(let password):
                perform(context: context) { try $0.tryPassword(password) }
            case .passwordPrompt(let ask):
                let promise = context.eventLoop.makePromise(of: String?.self)
                promise.completeOnEventLoop { try await ask() }
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                promise.futureResult.whenComplete { result in
                    let (handler, context) = bound.value
                    switch result {
                    case .success(let password?):
                        handler.perform(context: context) { try $0.tryPassword(password) }
                        context.flush()
                    case .success(nil):
                        handler.tryNext(allowed: allowed, context: context)
                    case .failure(let error):
                        handler.fail(context: context, SSHError.credential(.password, failedWith: error))
                    }
                }
                return
            case .keyboardInteractive:
                perform(context: context) { try $0.tryKeyboardInteractive() }
            }
            context.flush()
            return
        }
        // The verdict first: closing the connection below would otherwise report it as merely closed.
        finish(.failure(SSHError(.authenticationFailed(user: user, tried: tried.map(SSHAuthenticationMethod.init(name:)),
                                                      allowed: allowed.map(SSHAuthenticationMethod.init(name:))))))
        context.writeAndFlush(wrapOutboundOut(.disconnect(.noMoreAuthenticationMethodsAvailable, "No more authentication methods available")), promise: nil)
    }

    private func sign(_ data: [UInt8], algorithm name: String, context: ChannelHandlerContext) {
        guard let algorithm = SSHHostKeyAlgorithm(name: name), let attempt = current else { return }
        switch attempt.credential {
        case .privateKey(let key, _):
            do {
                let signature = try key.signature(for: data, algorithm: algorithm.signatureAlgorithm)
                perform(context: context) { try $0.provideSignature(signature.wireBlob) }
                context.flush()
            } catch {
                fail(context: context, error)
            }
        case .signer(_, let signer):
            let promise = context.eventLoop.makePromise(of: SSHSignature.self)
            promise.completeOnEventLoop { try await signer(data, algorithm.signatureAlgorithm) }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenComplete { result in
                let (handler, context) = bound.value
                switch result {
                case .success(let signature):
                    handler.perform(context: context) { try $0.provideSignature(signature.wireBlob) }
                    context.flush()
                case .failure:
                    // The signer refused (an agent without that key, a cancelled confirmation): try the next one.
                    handler.perform(context: context) { try $0.abandonSignature() }
                    handler.tryNext(allowed: ["publickey", "password", "keyboard-interactive"], context: context)
                }
            }
        default:
            return
        }
    }

    private func answer(_ request: KeyboardInteractiveRequest, context: ChannelHandlerContext) {
        guard case .keyboardInteractive(let responder)? = current?.credential else { return }
        if request.prompts.isEmpty {
            perform(context: context) { try $0.respond([]) }
            context.flush()
            return
        }
        let promise = context.eventLoop.makePromise(of: [String].self)
        promise.completeOnEventLoop { try await responder(request) }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenComplete { result in
            let (handler, context) = bound.value
            switch result {
            case .success(let answers):
                handler.perform(context: context) { try $0.respond(answers) }
                context.flush()
            case .failure(let error):
                handler.fail(context: context, SSHError.credential(.keyboardInteractive, failedWith: error))
            }
        }
    }

    /// Runs one step on the state machine and queues what it produced.
    private func perform(context: ChannelHandlerContext, _ step: (inout SSHClientAuthentication) throws -> Void) {
        guard var machine = authentication else { return }
        do {
            try step(&machine)
        } catch {
            authentication = machine
            fail(context: context, error)
            return
        }
        for payload in machine.takeOutbound() { context.write(wrapOutboundOut(.message(payload)), promise: nil) }
        authentication = machine
    }

    private func finish(_ result: Result<SSHNegotiatedAlgorithms, SSHError>) {
        guard !done else { return }
        done = true
        authenticated.completeWith(result.mapError { $0 as any Error })
    }

    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        finish(.failure(SSHError(wrapping: error)))
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(SSHError(wrapping: error)))
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(SSHError(.connectionClosed)))
        context.fireChannelInactive()
    }
}

extension SSHError {
    /// A credential's own code threw: the caller's cancellation stays a cancellation, anything else is the
    /// credential's failure, not the peer's.
    static func credential(_ method: SSHAuthenticationMethod, failedWith error: any Error) -> any Error {
        if error is CancellationError || error is SSHError { return error }
        return SSHError(.credentialFailed(method: method), underlying: error)
    }
}
