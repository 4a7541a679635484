// The SSH transport layer as an I/O-free state machine: RFC 4253 (version exchange §4.2, binary packets §6,
// algorithm negotiation and key exchange §7, NEWKEYS §7.3, service request §10, generic messages §11), RFC 5656
// and 8731 key exchange, RFC 8308 ext-info, OpenSSH's strict KEX (PROTOCOL §1.10, the Terrapin countermeasure)
// and ping@openssh.com (PROTOCOL §1.9). Bytes go in with `receive(_:)`, events come out of `nextEvent()`, and
// everything to send accumulates until `takeOutbound()`, so each flight leaves in one write.
import Crypto
import NIOCore
import SSHKeys
import SSHWire

/// The SSH transport layer (RFC 4253) for one side, without I/O: version exchange, key exchange, packet
/// protection, strict KEX and rekeying. Bytes in with `receive(_:)`, events out of `nextEvent()`, bytes to send from
/// `takeOutbound()`. Failures throw `SSHProtocolError` after queueing the DISCONNECT to send.
///
/// The module overview, ``SSHProtocol``, drives a client and a server against each other in memory.
public struct SSHTransport {
    /// Role, algorithms and rekey limits.
    public let configuration: SSHTransportConfiguration
    /// The identification line we send, without CR LF ("SSH-2.0-shh_…").
    public let ourIdentification: String
    /// The peer's identification line, once received.
    public private(set) var peerIdentification: String?
    /// H of the first key exchange (RFC 4253 §7.2), nil until it is done.
    public private(set) var sessionIdentifier: [UInt8]?
    /// The algorithms of the last completed key exchange.
    public private(set) var negotiatedAlgorithms: SSHNegotiatedAlgorithms?
    /// Whether strict key exchange was agreed in the initial exchange.
    public private(set) var isStrictKeyExchange = false
    /// The peer's EXT_INFO, if it sent one.
    public private(set) var peerExtensionInfo: ExtensionInfo?
    /// Number of completed key exchanges.
    public private(set) var completedKeyExchanges = 0
    /// Whether user authentication has succeeded: set by the USERAUTH_SUCCESS a server sends or a client receives
    /// (RFC 4252 §5.1). Which higher-layer messages are delivered, and whether pings are answered and rekeying is
    /// allowed, depend on it.
    public private(set) var isAuthenticated = false

    private enum Phase { case identification, running, closed }
    private var phase: Phase = .identification
    private var versionExchange: VersionExchange
    private var inbound = ByteBuffer()
    private var outbound = ByteBuffer()
    private var sealer = PacketSealer()
    private var opener = PacketOpener()
    private var started = false

    // Key exchange in progress (RFC 4253 §7): set from our KEXINIT until both NEWKEYS have passed.
    private struct KeyExchangeState {
        var ourInit: KeyExchangeInit
        var ourInitPayload: [UInt8]
        /// The sequence number our KEXINIT went out with, to recognise an UNIMPLEMENTED answer to it.
        var ourInitSequenceNumber: UInt32
        var peerInitPayload: [UInt8]?
        var algorithms: SSHNegotiatedAlgorithms?
        var clientSecret: ClientKeyExchangeSecret?
        var clientPublic: [UInt8]?
        var ignoreNextKeyExchangePacket = false
        var outboundProtection: (any PacketProtection)?
        var inboundProtection: (any PacketProtection)?
        var awaitingHostKeyDecision = false
        /// Server: the reply waiting for a signature from the process holding the host key.
        var pendingReply: PendingReply?
        var sentNewKeys = false
        var receivedNewKeys = false
    }
    private struct PendingReply {
        var hostKey: SSHPublicKey
        var hostKeyBlob: [UInt8]
        var serverPublic: [UInt8]
        var sharedSecret: EncodedSharedSecret
        var exchangeHash: [UInt8]
    }
    private var keyExchange: KeyExchangeState?
    /// Higher-layer payloads held back while a key exchange runs, sent in order after our NEWKEYS.
    private var deferredPayloads: [ByteBuffer] = []
    private var pendingEvents: [SSHTransportEvent] = []
    private var firstHostKeyBlob: [UInt8]?
    private var peerOffersExtensionInfo = false
    private var requestedService: String?
    private var packetsReceivedBeforePeerInit = 0
    /// True from the peer's first NEWKEYS until its next message: where a client may put EXT_INFO.
    private var firstMessageAfterPeerNewKeys = false

    /// A transport that has not started; call `start()`.
    ///
    /// - Parameter configuration: Role, algorithms and rekey limits.
    public init(configuration: SSHTransportConfiguration) {
        self.configuration = configuration
        ourIdentification = ShhVersion.identification
        versionExchange = VersionExchange(acceptsPreamble: configuration.isClient)
    }

    private var isClient: Bool { configuration.isClient }
    private var initialExchangeDone: Bool { completedKeyExchanges > 0 }

    /// True while a key exchange is running; higher-layer messages sent now wait for its end.
    public var isKeyExchangeInProgress: Bool { keyExchange != nil }
    /// Whether the transport has failed or disconnected; nothing more is sent or accepted.
    public var isClosed: Bool { phase == .closed }

    /// server-sig-algs from the server's EXT_INFO (client side), if it sent one.
    public var serverSignatureAlgorithms: [String]? { peerExtensionInfo?.serverSignatureAlgorithms }

    // MARK: Driving

    /// Queues our identification string and first KEXINIT: the first flight.
    ///
    /// Calling it again does nothing.
    ///
    /// - Throws: ``SSHProtocolError`` if the KEXINIT cannot be framed; not expected in practice.
    public mutating func start() throws {
        guard !started else { return }
        started = true
        outbound.writeString(ourIdentification + "\r\n")
        try sendKeyExchangeInit()
    }

    /// Adds bytes read from the peer.
    ///
    /// Nothing is processed until ``nextEvent()`` is called.
    ///
    /// - Parameter bytes: The bytes, in the order they arrived; any split is fine.
    public mutating func receive(_ bytes: ByteBuffer) {
        var bytes = bytes
        if inbound.readableBytes == 0 { inbound.clear() } else { inbound.discardReadBytes() }
        inbound.writeBuffer(&bytes)
    }

    /// Everything queued for the peer since the last call, or nil.
    ///
    /// - Returns: The bytes to write to the peer, or nil when there are none.
    public mutating func takeOutbound() -> ByteBuffer? {
        guard outbound.readableBytes > 0 else { return nil }
        let bytes = outbound
        // The storage stays ours: once the caller has written `bytes` and let it go, the next flight is framed in
        // it again without allocating (PacketSealer clears it); while the caller still holds it, the next write
        // starts fresh storage instead (copy on write), so the bytes handed out never change.
        outbound.moveReaderIndex(forwardBy: outbound.readableBytes)
        return bytes
    }

    /// Processes received bytes until one event is ready, or returns nil when more bytes are needed (or the
    /// client must decide on the host key first). On a protocol failure, a DISCONNECT for the peer is queued
    /// (flush it with `takeOutbound()`), the transport closes and the error is thrown.
    ///
    /// - Returns: The next event, or nil.
    /// - Throws: ``SSHProtocolError`` for anything that ends the connection: a malformed or unexpected message, a bad
    ///   MAC, a failed key exchange. The peer's own DISCONNECT comes as ``SSHTransportEvent/peerDisconnected(_:)`` instead.
    public mutating func nextEvent() throws -> SSHTransportEvent? {
        do {
            return try processUntilEvent()
        } catch let error as SSHProtocolError {
            fail(error)
            throw error
        } catch let error as SSHWireError {
            let failure = SSHProtocolError(.protocolViolation("malformed message: \(error)"))
            fail(failure)
            throw failure
        } catch {
            let failure = SSHProtocolError(.protocolViolation("\(error)"))
            fail(failure)
            throw failure
        }
    }

    private mutating func fail(_ error: SSHProtocolError) {
        guard phase != .closed else { return }
        if case .disconnectedByPeer = error.kind {} else if started {
            var payload = ByteBuffer()
            DisconnectMessage(reason: error.disconnectReason.rawValue, description: error.peerDescription).encode(into: &payload)
            try? sealer.seal(payload: payload, into: &outbound)
        }
        phase = .closed
        keyExchange = nil
        deferredPayloads.removeAll()
    }

    private mutating func processUntilEvent() throws -> SSHTransportEvent? {
        while true {
            if !pendingEvents.isEmpty { return pendingEvents.removeFirst() }
            switch phase {
            case .closed:
                return nil
            case .identification:
                guard let identification = try versionExchange.readIdentification(from: &inbound) else { return nil }
                peerIdentification = identification
                phase = .running
            case .running:
                if keyExchange?.awaitingHostKeyDecision == true || keyExchange?.pendingReply != nil { return nil }
                guard let payload = try opener.openPacket(from: &inbound) else { return nil }
                if let event = try handle(payload, sequenceNumber: opener.sequenceNumber &- 1) { return event }
            }
        }
    }

    // MARK: Sending

    /// Sends a higher-layer message (message number 50 and up; the transport's own messages have their own
    /// methods). During a key exchange it waits, in order, until our NEWKEYS has gone out.
    ///
    /// - Parameter payload: The message, message number first.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` for a number below 50 or a closed transport.
    public mutating func send(_ payload: ByteBuffer) throws {
        guard let number = payload.getInteger(at: payload.readerIndex, as: UInt8.self), number >= 50 else {
            throw SSHProtocolError(.invalidState("send(_:) takes messages numbered 50 and up; transport messages have their own methods"))
        }
        if !isClient && number == SSHMessageNumber.userAuthenticationSuccess { isAuthenticated = true }
        try enqueue(payload)
    }

    /// Seals any payload at once, ignoring key exchange state: what a broken or hostile peer would send.
    /// For tests and fuzzing only.
    @_spi(Testing) public mutating func sendUnchecked(_ payload: ByteBuffer) throws {
        try sealer.seal(payload: payload, into: &outbound)
    }

    /// Queues a message behind any key exchange in progress (RFC 4253 §7.1), then seals it.
    private mutating func enqueue(_ payload: ByteBuffer) throws {
        guard phase == .running || (phase == .identification && started) else {
            throw SSHProtocolError(.invalidState("the connection is closed"))
        }
        guard initialExchangeDone, keyExchange == nil || keyExchange?.sentNewKeys == true, deferredPayloads.isEmpty else {
            deferredPayloads.append(payload)
            return
        }
        try sealer.seal(payload: payload, into: &outbound)
        try startKeyExchangeIfLimitReached()
    }

    /// Client: asks for a service (RFC 4253 §10), normally "ssh-userauth". `.serviceAccepted` follows.
    ///
    /// - Parameter name: The service name.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` on a server or a closed transport.
    public mutating func requestService(_ name: String) throws {
        guard isClient else { throw SSHProtocolError(.invalidState("only a client requests services")) }
        requestedService = name
        var payload = ByteBuffer()
        payload.writeSSHByte(SSHMessageNumber.serviceRequest)
        payload.writeSSHString(name)
        try enqueue(payload)
    }

    /// Sends SSH_MSG_IGNORE with `data` (RFC 4253 §11.2), e.g. as a keepalive or to mask traffic.
    ///
    /// - Parameter data: Any bytes; the peer discards them.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when the transport is closed.
    public mutating func sendIgnore(_ data: [UInt8] = []) throws {
        var payload = ByteBuffer()
        payload.writeSSHByte(SSHMessageNumber.ignore)
        payload.writeSSHString(data)
        try enqueue(payload)
    }

    /// Sends ping@openssh.com if the peer announced it in EXT_INFO; returns false otherwise.
    ///
    /// - Parameter data: Bytes the peer echoes in its pong.
    /// - Returns: Whether the ping was queued.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when the transport is closed.
    public mutating func sendPing(_ data: [UInt8]) throws -> Bool {
        guard peerExtensionInfo?.value(of: "ping@openssh.com") != nil else { return false }
        var payload = ByteBuffer()
        payload.writeSSHByte(SSHMessageNumber.ping)
        payload.writeSSHString(data)
        try enqueue(payload)
        return true
    }

    /// Queues SSH_MSG_DISCONNECT and closes (RFC 4253 §11.1).
    ///
    /// Flush the message with ``takeOutbound()`` before closing the socket. Calling it again does nothing.
    ///
    /// - Parameters:
    ///   - reason: The reason code.
    ///   - description: Text for the peer's user.
    public mutating func disconnect(reason: SSHDisconnectReason = .byApplication, description: String = "") {
        guard phase != .closed else { return }
        if started {
            var payload = ByteBuffer()
            DisconnectMessage(reason: reason.rawValue, description: description).encode(into: &payload)
            try? sealer.seal(payload: payload, into: &outbound)
        }
        phase = .closed
        keyExchange = nil
        deferredPayloads.removeAll()
    }

    /// Starts a key exchange now (e.g. when RekeyLimit's time runs out). Does nothing if one is running.
    /// A server does not rekey before authentication (as sshd): there is nothing yet worth the work, and it keeps
    /// an unauthenticated peer from making us sign and exchange again.
    ///
    /// - Throws: ``SSHProtocolError`` when the KEXINIT cannot be sealed.
    public mutating func startKeyExchange() throws {
        guard phase == .running, initialExchangeDone, keyExchange == nil, isClient || isAuthenticated else { return }
        try sendKeyExchangeInit()
    }

    private mutating func startKeyExchangeIfLimitReached() throws {
        guard initialExchangeDone, keyExchange == nil, isClient || isAuthenticated else { return }
        let limits = configuration.rekeyLimits
        if sealer.bytesSinceKeyChange >= limits.bytes || opener.bytesSinceKeyChange >= limits.bytes
            || sealer.packetsSinceKeyChange >= limits.packets || opener.packetsSinceKeyChange >= limits.packets {
            try sendKeyExchangeInit()
        }
    }

    /// Seals a transport message now, even during a key exchange (RFC 4253 §7.1 allows messages 1–49).
    private mutating func sendTransportMessage(_ build: (inout ByteBuffer) -> Void) throws {
        var payload = ByteBuffer()
        build(&payload)
        try sealer.seal(payload: payload, into: &outbound)
    }

    // MARK: Key exchange (RFC 4253 §7)

    private mutating func sendKeyExchangeInit() throws {
        var cookie = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for index in cookie.indices { cookie[index] = generator.next() }
        let algorithms = configuration.algorithms
        var kexNames = algorithms.keyExchange.map(\.rawValue)
        var hostKeyNames = algorithms.hostKey.map(\.name)
        if case .server(let hostKeys) = configuration.role {
            // Offer only what our keys can do.
            hostKeyNames = algorithms.hostKey.filter { algorithm in
                hostKeys.contains { Self.hostKey($0, serves: algorithm) }
            }.map(\.name)
        }
        if !initialExchangeDone {
            // Capability markers go in the first KEXINIT only (RFC 8308 §2.1; OpenSSH PROTOCOL §1.10).
            if isClient {
                kexNames.append(KeyExchangeMarker.extensionInfoClient)
                if configuration.offersStrictKeyExchange { kexNames.append(KeyExchangeMarker.strictClient) }
            } else {
                kexNames.append(KeyExchangeMarker.extensionInfoServer)
                if configuration.offersStrictKeyExchange { kexNames.append(KeyExchangeMarker.strictServer) }
            }
        }
        let message = KeyExchangeInit(
            cookie: cookie, keyExchangeAlgorithms: kexNames, serverHostKeyAlgorithms: hostKeyNames,
            ciphers: algorithms.ciphers.map(\.rawValue), macs: algorithms.macs.map(\.rawValue)
        )
        var payload = ByteBuffer()
        message.encode(into: &payload)
        let payloadBytes = payload.getBytes(at: payload.readerIndex, length: payload.readableBytes) ?? []
        keyExchange = KeyExchangeState(ourInit: message, ourInitPayload: payloadBytes, ourInitSequenceNumber: sealer.sequenceNumber)
        try sealer.seal(payload: payload, into: &outbound)
    }

    static func hostKey(_ key: SSHServerHostKey, serves algorithm: SSHHostKeyAlgorithm) -> Bool {
        key.publicKey.type == algorithm.keyType && (algorithm.isCertificate == (key.certificate != nil))
    }

    private mutating func handleKeyExchangeInit(_ payload: ByteBuffer, sequenceNumber: UInt32) throws {
        let peerInit = try KeyExchangeInit(payload: payload)
        if !initialExchangeDone {
            let strictMarker = isClient ? KeyExchangeMarker.strictServer : KeyExchangeMarker.strictClient
            isStrictKeyExchange = configuration.offersStrictKeyExchange && peerInit.keyExchangeAlgorithms.contains(strictMarker)
            if isStrictKeyExchange && packetsReceivedBeforePeerInit > 0 {
                // Strict KEX: KEXINIT must be the peer's very first packet.
                throw SSHProtocolError(.protocolViolation("strict key exchange: the peer sent \(packetsReceivedBeforePeerInit) packet(s) before KEXINIT"))
            }
            if isClient { peerOffersExtensionInfo = peerInit.keyExchangeAlgorithms.contains(KeyExchangeMarker.extensionInfoServer) }
            else { peerOffersExtensionInfo = peerInit.keyExchangeAlgorithms.contains(KeyExchangeMarker.extensionInfoClient) }
        }
        if keyExchange == nil {
            try sendKeyExchangeInit()  // The peer started a rekey: answer with ours (RFC 4253 §9).
        }
        guard var state = keyExchange, state.peerInitPayload == nil else {
            throw SSHProtocolError(.protocolViolation("a second KEXINIT during one key exchange"))
        }
        state.peerInitPayload = payload.getBytes(at: payload.readerIndex, length: payload.readableBytes) ?? []
        let clientInit = isClient ? state.ourInit : peerInit
        let serverInit = isClient ? peerInit : state.ourInit
        let algorithms = try AlgorithmNegotiation.negotiate(client: clientInit, server: serverInit, weAreClient: isClient)
        state.algorithms = algorithms
        if peerInit.firstKeyExchangePacketFollows && !AlgorithmNegotiation.guessWasRight(client: clientInit, server: serverInit) {
            state.ignoreNextKeyExchangePacket = true
        }
        if isClient {
            let (secret, publicValue) = try ClientKeyExchangeSecret.generate(for: algorithms.keyExchange)
            state.clientSecret = secret
            state.clientPublic = publicValue
            keyExchange = state
            try sendTransportMessage { buffer in
                buffer.writeSSHByte(SSHMessageNumber.keyExchangeECDHInit)
                buffer.writeSSHString(publicValue)
            }
        } else {
            keyExchange = state
        }
    }

    /// Server: SSH_MSG_KEX_ECDH_INIT → reply, then NEWKEYS (and EXT_INFO the first time) in the same flight.
    private mutating func handleKeyExchangeECDHInit(_ payload: ByteBuffer) throws {
        guard case .server(let hostKeys) = configuration.role, var state = keyExchange,
              let algorithms = state.algorithms, let peerInitPayload = state.peerInitPayload, state.outboundProtection == nil
        else { throw SSHProtocolError(.protocolViolation("unexpected key exchange init")) }
        var buffer = payload
        buffer.moveReaderIndex(forwardBy: 1)
        let clientPublic = try buffer.readSSHStringBytes(field: "client ephemeral public value")
        guard let hostKey = hostKeys.first(where: { Self.hostKey($0, serves: algorithms.hostKey) }) else {
            throw SSHProtocolError(.invalidState("no host key for \(algorithms.hostKey)"))
        }
        let hostKeyBlob = hostKey.certificate?.wireBlob ?? hostKey.publicKey.wireBlob
        let (serverPublic, sharedSecret) = try ServerKeyExchange.respond(to: clientPublic, algorithm: algorithms.keyExchange)
        let inputs = ExchangeHashInputs(
            clientIdentification: peerIdentification ?? "", serverIdentification: ourIdentification,
            clientKeyExchangeInit: peerInitPayload, serverKeyExchangeInit: state.ourInitPayload,
            serverHostKeyBlob: hostKeyBlob, clientPublic: clientPublic, serverPublic: serverPublic
        )
        let hashFunction = algorithms.keyExchange.hashFunction
        let exchangeHash = inputs.exchangeHash(sharedSecret: sharedSecret, using: hashFunction)
        let pending = PendingReply(hostKey: hostKey.publicKey, hostKeyBlob: hostKeyBlob, serverPublic: serverPublic,
                                   sharedSecret: sharedSecret, exchangeHash: exchangeHash)
        guard let privateKey = hostKey.privateKey else {
            // Signed by the process that holds the key; the reply waits for it.
            state.pendingReply = pending
            keyExchange = state
            pendingEvents.append(.hostKeySignatureNeeded(exchangeHash: exchangeHash, algorithm: algorithms.hostKey, hostKey: hostKey.publicKey))
            return
        }
        let signature: SSHSignature
        do {
            signature = try privateKey.signature(for: exchangeHash, algorithm: algorithms.hostKey.signatureAlgorithm)
        } catch {
            throw SSHProtocolError(.keyExchangeFailed("signing with the \(algorithms.hostKey) host key failed: \(error)"))
        }
        keyExchange = state
        try sendReply(pending, signature: signature)
    }

    private mutating func sendReply(_ pending: PendingReply, signature: SSHSignature) throws {
        guard var state = keyExchange, let algorithms = state.algorithms else {
            throw SSHProtocolError(.invalidState("no key exchange to reply to"))
        }
        state.pendingReply = nil
        if sessionIdentifier == nil { sessionIdentifier = pending.exchangeHash }
        try installKeys(&state, sharedSecret: pending.sharedSecret, exchangeHash: pending.exchangeHash, algorithms: algorithms)
        try sendTransportMessage { reply in
            reply.writeSSHByte(SSHMessageNumber.keyExchangeECDHReply)
            reply.writeSSHString(pending.hostKeyBlob)
            reply.writeSSHString(pending.serverPublic)
            reply.writeSSHString(signature.wireBlob)
        }
        keyExchange = state
        try sendNewKeys()
    }

    /// Server: the signature asked for by `.hostKeySignatureNeeded`. It is checked against the host key (a signer
    /// that got it wrong ends this connection, not the client's trust), then the reply and NEWKEYS go out.
    ///
    /// - Parameter signature: The signature over the event's exchange hash.
    /// - Throws: ``SSHProtocolError``: ``SSHProtocolError/Kind/invalidState(_:)`` when no signature was asked for,
    ///   ``SSHProtocolError/Kind/keyExchangeFailed(_:)`` when it does not verify (the transport then closes).
    public mutating func provideHostKeySignature(_ signature: SSHSignature) throws {
        guard let pending = keyExchange?.pendingReply, let algorithm = keyExchange?.algorithms?.hostKey else {
            throw SSHProtocolError(.invalidState("no exchange hash is waiting for a signature"))
        }
        do {
            guard signature.algorithmName == algorithm.signatureAlgorithm.rawValue,
                  pending.hostKey.isValidSignature(signature, for: pending.exchangeHash, allowedAlgorithms: [algorithm.signatureAlgorithm]) else {
                throw SSHProtocolError(.keyExchangeFailed("the host key's signer returned a signature that does not verify"))
            }
            try sendReply(pending, signature: signature)
        } catch let error as SSHProtocolError {
            fail(error)
            throw error
        }
    }

    /// Server: the host key's signer could not sign; the connection ends with `reason`.
    ///
    /// A DISCONNECT is queued and the transport closes.
    ///
    /// - Parameter reason: Why signing failed, for the log.
    /// - Returns: The error to report.
    public mutating func failHostKeySignature(_ reason: String) -> SSHProtocolError {
        let error = SSHProtocolError(.keyExchangeFailed("signing with the host key failed: \(reason)"))
        fail(error)
        return error
    }

    /// Client: SSH_MSG_KEX_ECDH_REPLY → check the signature, then ask the caller about the host key.
    private mutating func handleKeyExchangeECDHReply(_ payload: ByteBuffer) throws {
        guard isClient, var state = keyExchange, let algorithms = state.algorithms, let secret = state.clientSecret,
              let clientPublic = state.clientPublic, let peerInitPayload = state.peerInitPayload, state.outboundProtection == nil
        else { throw SSHProtocolError(.protocolViolation("unexpected key exchange reply")) }
        var buffer = payload
        buffer.moveReaderIndex(forwardBy: 1)
        let hostKeyBlob = try buffer.readSSHStringBytes(field: "server host key")
        let serverPublic = try buffer.readSSHStringBytes(field: "server ephemeral public value")
        let signatureBlob = try buffer.readSSHStringBytes(field: "exchange hash signature")

        let presented: SSHPresentedKey
        do {
            presented = try SSHPresentedKey(blob: hostKeyBlob, algorithm: algorithms.hostKey)
        } catch {
            throw SSHProtocolError(.keyExchangeFailed("the server's host key cannot be read: \(error)"))
        }
        guard presented.publicKey.type == algorithms.hostKey.keyType else {
            throw SSHProtocolError(.keyExchangeFailed("the server sent a \(presented.publicKey.type.rawValue) key for \(algorithms.hostKey)"))
        }
        let sharedSecret = try secret.sharedSecret(serverPublic: serverPublic)
        let inputs = ExchangeHashInputs(
            clientIdentification: ourIdentification, serverIdentification: peerIdentification ?? "",
            clientKeyExchangeInit: state.ourInitPayload, serverKeyExchangeInit: peerInitPayload,
            serverHostKeyBlob: hostKeyBlob, clientPublic: clientPublic, serverPublic: serverPublic
        )
        let exchangeHash = inputs.exchangeHash(sharedSecret: sharedSecret, using: algorithms.keyExchange.hashFunction)
        let signature = try? SSHSignature(wireBlob: signatureBlob)
        guard let signature, signature.algorithmName == algorithms.hostKey.signatureAlgorithm.rawValue,
              presented.publicKey.isValidSignature(signature, for: exchangeHash, allowedAlgorithms: [algorithms.hostKey.signatureAlgorithm])
        else { throw SSHProtocolError(.hostKeySignatureInvalid(algorithm: algorithms.hostKey.name)) }
        if sessionIdentifier == nil { sessionIdentifier = exchangeHash }
        try installKeys(&state, sharedSecret: sharedSecret, exchangeHash: exchangeHash, algorithms: algorithms)
        state.clientSecret = nil
        if let firstHostKeyBlob {
            // RFC 4253 §9 leaves it open; like OpenSSH, a rekey must not change the server's identity.
            guard firstHostKeyBlob == hostKeyBlob else {
                throw SSHProtocolError(.hostKeyRejected("the server's host key changed during rekeying"))
            }
            keyExchange = state
            try sendNewKeys()
        } else {
            firstHostKeyBlob = hostKeyBlob
            state.awaitingHostKeyDecision = true
            keyExchange = state
            pendingEvents.append(.hostKeyToValidate(presented))
        }
    }

    /// Client: the caller trusts the host key presented in `.hostKeyToValidate`; the exchange goes on.
    ///
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/invalidState(_:)`` when no host key waits for a decision.
    public mutating func acceptHostKey() throws {
        guard var state = keyExchange, state.awaitingHostKeyDecision else {
            throw SSHProtocolError(.invalidState("no host key is waiting for a decision"))
        }
        state.awaitingHostKeyDecision = false
        keyExchange = state
        try sendNewKeys()
    }

    /// Client: the caller refuses the host key; a DISCONNECT is queued and the transport closes.
    ///
    /// - Parameter reason: Why the key was refused, e.g. "host key for example.org has changed".
    /// - Returns: The error to report: ``SSHProtocolError/Kind/hostKeyRejected(_:)``.
    public mutating func rejectHostKey(_ reason: String) -> SSHProtocolError {
        let error = SSHProtocolError(.hostKeyRejected(reason))
        fail(error)
        return error
    }

    private mutating func installKeys(
        _ state: inout KeyExchangeState, sharedSecret: EncodedSharedSecret, exchangeHash: [UInt8], algorithms: SSHNegotiatedAlgorithms
    ) throws {
        let keys = DerivedKeys(
            sharedSecret: sharedSecret, exchangeHash: exchangeHash, sessionIdentifier: sessionIdentifier ?? exchangeHash,
            hashFunction: algorithms.keyExchange.hashFunction, algorithms: algorithms
        )
        let clientToServer = try algorithms.cipherClientToServer.makeProtection(
            key: keys.encryptionKeyClientToServer, iv: keys.initialIVClientToServer,
            mac: algorithms.macClientToServer, macKey: keys.integrityKeyClientToServer)
        let serverToClient = try algorithms.cipherServerToClient.makeProtection(
            key: keys.encryptionKeyServerToClient, iv: keys.initialIVServerToClient,
            mac: algorithms.macServerToClient, macKey: keys.integrityKeyServerToClient)
        state.outboundProtection = isClient ? clientToServer : serverToClient
        state.inboundProtection = isClient ? serverToClient : clientToServer
    }

    private mutating func sendNewKeys() throws {
        guard var state = keyExchange, let protection = state.outboundProtection, !state.sentNewKeys else {
            throw SSHProtocolError(.invalidState("NEWKEYS before the keys exist"))
        }
        try sendTransportMessage { $0.writeSSHByte(SSHMessageNumber.newKeys) }
        sealer.changeKeys(to: protection, resetSequenceNumber: isStrictKeyExchange)
        state.sentNewKeys = true
        keyExchange = state
        if !isClient && !initialExchangeDone && peerOffersExtensionInfo {
            // RFC 8308 §2.4: the first message after the server's first NEWKEYS.
            let extensionInfo = ExtensionInfo(extensions: configuration.serverExtensions)
            try sendTransportMessage { extensionInfo.encode(into: &$0) }
        }
        try flushDeferredIfPossible()
        try finishKeyExchangeIfDone()
    }

    private mutating func handleNewKeys() throws {
        guard var state = keyExchange, let protection = state.inboundProtection, !state.receivedNewKeys else {
            throw SSHProtocolError(.protocolViolation("NEWKEYS before the key exchange produced keys"))
        }
        if isStrictKeyExchange && !initialExchangeDone && opener.wrapped {
            throw SSHProtocolError(.protocolViolation("strict key exchange: sequence number wrapped during the initial exchange"))
        }
        opener.changeKeys(to: protection, resetSequenceNumber: isStrictKeyExchange)
        if !initialExchangeDone { firstMessageAfterPeerNewKeys = true }
        state.receivedNewKeys = true
        keyExchange = state
        try finishKeyExchangeIfDone()
    }

    private mutating func finishKeyExchangeIfDone() throws {
        guard let state = keyExchange, state.sentNewKeys, state.receivedNewKeys, var algorithms = state.algorithms else { return }
        algorithms.isStrictKeyExchange = isStrictKeyExchange
        algorithms.sessionIdentifier = sessionIdentifier ?? []
        let isInitial = completedKeyExchanges == 0
        completedKeyExchanges += 1
        negotiatedAlgorithms = algorithms
        keyExchange = nil
        pendingEvents.append(.keyExchangeCompleted(algorithms, isInitial: isInitial))
        try flushDeferredIfPossible()
    }

    private mutating func flushDeferredIfPossible() throws {
        // Higher layers speak only once the initial exchange is complete (a client's service request waits for
        // the server's NEWKEYS, keeping strict KEX's "nothing unexpected" promise), and never between our KEXINIT
        // and our NEWKEYS.
        guard initialExchangeDone, keyExchange == nil || keyExchange?.sentNewKeys == true else { return }
        let queued = deferredPayloads
        deferredPayloads.removeAll()
        for payload in queued { try sealer.seal(payload: payload, into: &outbound) }
    }

    // MARK: Dispatch

    private mutating func handle(_ payload: ByteBuffer, sequenceNumber: UInt32) throws -> SSHTransportEvent? {
        guard let number = payload.getInteger(at: payload.readerIndex, as: UInt8.self) else { return nil }
        let inInitialExchange = !initialExchangeDone
        if inInitialExchange && keyExchange?.peerInitPayload == nil && number != SSHMessageNumber.keyExchangeInit {
            packetsReceivedBeforePeerInit += 1
        }
        if inInitialExchange && isStrictKeyExchange {
            // Strict KEX: only the key exchange itself may happen during the initial exchange.
            guard number == SSHMessageNumber.keyExchangeInit || number == SSHMessageNumber.newKeys
                    || (30...49).contains(number) || number == SSHMessageNumber.disconnect
            else {
                throw SSHProtocolError(.protocolViolation("strict key exchange: unexpected message \(number) during the initial key exchange"))
            }
        }
        if opener.wrapped && isStrictKeyExchange && inInitialExchange {
            throw SSHProtocolError(.protocolViolation("strict key exchange: sequence number wrapped during the initial exchange"))
        }
        // RFC 4253 §7.1: between the peer's KEXINIT and its NEWKEYS, only the generic transport messages and the key
        // exchange's own (no service requests, no EXT_INFO, nothing of the layers above).
        if let state = keyExchange, state.peerInitPayload != nil, !state.receivedNewKeys {
            let allowed = (SSHMessageNumber.disconnect...SSHMessageNumber.debug).contains(number)
                || number == SSHMessageNumber.keyExchangeInit || number == SSHMessageNumber.newKeys || (30...49).contains(number)
                || number == SSHMessageNumber.ping || number == SSHMessageNumber.pong
            guard allowed else { throw SSHProtocolError(.protocolViolation("message \(number) during key exchange")) }
        }
        // RFC 8308 §2.4: a client's EXT_INFO may only be the first message after its first NEWKEYS.
        let extensionInfoAllowed = isClient || firstMessageAfterPeerNewKeys
        firstMessageAfterPeerNewKeys = false
        let needsEstablishedKeys = number >= 50 || (SSHMessageNumber.serviceRequest...SSHMessageNumber.extensionInfo).contains(number)
        if needsEstablishedKeys && inInitialExchange {
            throw SSHProtocolError(.protocolViolation("message \(number) before the initial key exchange completed"))
        }

        switch number {
        case SSHMessageNumber.disconnect:
            let message = try DisconnectMessage(payload: payload)
            phase = .closed
            keyExchange = nil
            return .peerDisconnected(SSHProtocolError(.disconnectedByPeer(reason: message.reason, message: message.description)))
        case SSHMessageNumber.ignore:
            return nil
        case SSHMessageNumber.unimplemented:
            var buffer = payload
            buffer.moveReaderIndex(forwardBy: 1)
            let rejected = try buffer.readSSHUInt32(field: "rejected sequence number")
            if let state = keyExchange, state.peerInitPayload == nil, rejected == state.ourInitSequenceNumber {
                // Waiting for an answer that will never come would hang the connection: say so instead.
                throw SSHProtocolError(.keyExchangeFailed(
                    "the peer refused to start a key exchange now (it answered UNIMPLEMENTED to our KEXINIT; OpenSSH does not rekey during authentication)"))
            }
            // Otherwise nothing we send is essential to the transport; the layer above sees no reply and decides.
            return nil
        case SSHMessageNumber.debug:
            var buffer = payload
            buffer.moveReaderIndex(forwardBy: 1)
            let display = try buffer.readSSHBoolean(field: "always_display")
            let text = String(decoding: try buffer.readSSHStringBytes(field: "debug message"), as: UTF8.self)
            return .debug(text, alwaysDisplay: display)
        case SSHMessageNumber.serviceRequest:
            return try handleServiceRequest(payload)
        case SSHMessageNumber.serviceAccept:
            var buffer = payload
            buffer.moveReaderIndex(forwardBy: 1)
            let name = try buffer.readSSHUTF8String(field: "service name")
            guard isClient, let requestedService, name == requestedService else {
                throw SSHProtocolError(.protocolViolation("SERVICE_ACCEPT for \"\(name)\", which we did not request"))
            }
            self.requestedService = nil
            return .serviceAccepted(name)
        case SSHMessageNumber.extensionInfo:
            guard extensionInfoAllowed else {
                throw SSHProtocolError(.protocolViolation("EXT_INFO is only allowed right after the first NEWKEYS (RFC 8308 §2.4)"))
            }
            let info = try ExtensionInfo(payload: payload)
            peerExtensionInfo = info
            return .extensionInfo(info)
        case SSHMessageNumber.keyExchangeInit:
            if initialExchangeDone && !isClient && !isAuthenticated && keyExchange == nil {
                // No re-exchange before authentication (as sshd): an unauthenticated peer may not make us do the
                // work of a key exchange again and again. UNIMPLEMENTED tells it, and the connection goes on.
                try sendUnimplemented(sequenceNumber)
                return nil
            }
            try handleKeyExchangeInit(payload, sequenceNumber: sequenceNumber)
            return nil
        case SSHMessageNumber.newKeys:
            try handleNewKeys()
            return nil
        case 30...49:
            if keyExchange?.ignoreNextKeyExchangePacket == true {
                keyExchange?.ignoreNextKeyExchangePacket = false  // RFC 4253 §7: a wrong guess is discarded.
                return nil
            }
            if keyExchange == nil {
                // Outside a key exchange these numbers mean nothing to us: RFC 4253 §11.4, as for any unknown message.
                try sendUnimplemented(sequenceNumber)
                return nil
            }
            if number == SSHMessageNumber.keyExchangeECDHInit && !isClient {
                try handleKeyExchangeECDHInit(payload)
            } else if number == SSHMessageNumber.keyExchangeECDHReply && isClient {
                try handleKeyExchangeECDHReply(payload)
            } else {
                throw SSHProtocolError(.protocolViolation("unexpected key exchange message \(number)"))
            }
            return nil
        case SSHMessageNumber.ping:
            var buffer = payload
            buffer.moveReaderIndex(forwardBy: 1)
            let data = try buffer.readSSHStringBytes(field: "ping data")
            // OpenSSH PROTOCOL §1.9 as sshd keeps it: an unauthenticated peer gets no answer (no free traffic
            // amplification), and neither does a ping during a key exchange.
            guard isAuthenticated, keyExchange == nil else { return nil }
            var pong = ByteBuffer()
            pong.writeSSHByte(SSHMessageNumber.pong)
            pong.writeSSHString(data)
            try enqueue(pong)
            return nil
        case SSHMessageNumber.pong:
            var buffer = payload
            buffer.moveReaderIndex(forwardBy: 1)
            return .pong(try buffer.readSSHStringBytes(field: "pong data"))
        case 50...127:
            switch Self.route(number, isClient: isClient, isAuthenticated: isAuthenticated) {
            case .deliver:
                if isClient && number == SSHMessageNumber.userAuthenticationSuccess { isAuthenticated = true }
                try startKeyExchangeIfLimitReached()
                return .message(payload)
            case .ignore:
                return nil
            case .unimplemented:
                try sendUnimplemented(sequenceNumber)
                return nil
            }
        default:
            // RFC 4253 §11.4: anything else gets UNIMPLEMENTED with its sequence number, and we go on.
            try sendUnimplemented(sequenceNumber)
            return nil
        }
    }

    enum Route { case deliver, ignore, unimplemented }

    /// Which higher-layer messages the layers above handle at this point, by role (RFC 4252 for 50–79, RFC 4254 for
    /// 80–100): those are delivered; authentication requests after success are ignored (RFC 4252 §5.1); every
    /// other number gets UNIMPLEMENTED and the connection goes on (RFC 4253 §11.4) — a connection message before
    /// authentication too, as sshd answers it.
    static func route(_ number: UInt8, isClient: Bool, isAuthenticated: Bool) -> Route {
        let connectionLayer = (SSHMessageNumber.globalRequest...SSHMessageNumber.requestFailure).contains(number)
            || (SSHMessageNumber.channelOpen...SSHMessageNumber.channelFailure).contains(number)
        switch (isClient, isAuthenticated) {
        case (false, false):
            return number == SSHMessageNumber.userAuthenticationRequest || number == SSHMessageNumber.userAuthenticationInfoResponse
                ? .deliver : .unimplemented
        case (true, false):
            return (SSHMessageNumber.userAuthenticationFailure...SSHMessageNumber.userAuthenticationBanner).contains(number)
                || number == SSHMessageNumber.userAuthenticationMethodSpecific60 ? .deliver : .unimplemented
        case (_, true):
            if connectionLayer { return .deliver }
            return (50...79).contains(number) ? .ignore : .unimplemented
        }
    }

    private mutating func sendUnimplemented(_ sequenceNumber: UInt32) throws {
        try sendTransportMessage { buffer in
            buffer.writeSSHByte(SSHMessageNumber.unimplemented)
            buffer.writeSSHUInt32(sequenceNumber)
        }
    }

    private mutating func handleServiceRequest(_ payload: ByteBuffer) throws -> SSHTransportEvent? {
        guard !isClient else { throw SSHProtocolError(.protocolViolation("a server sent SERVICE_REQUEST")) }
        var buffer = payload
        buffer.moveReaderIndex(forwardBy: 1)
        let name = try buffer.readSSHUTF8String(field: "service name")
        guard configuration.acceptedServices.contains(name) else {
            throw SSHProtocolError(.serviceNotAvailable(name))
        }
        var accept = ByteBuffer()
        accept.writeSSHByte(SSHMessageNumber.serviceAccept)
        accept.writeSSHString(name)
        try enqueue(accept)
        return .serviceAccepted(name)
    }
}
