// Tools for the Terrapin and bad-input tests: reading and rewriting the plaintext part of a flight (what a man in
// the middle can do before NEWKEYS), decoding the DISCONNECT a failing side queues, a seeded random source, and a
// hand-driven server built from SSHProtocol's internal pieces, so a test sees the real client's packets in
// plaintext with their sequence numbers and can send what a real SSHTransport never would.
import NIOCore
import SSHKeys
@testable import SSHProtocol
import SSHWire
import Testing

// MARK: Plaintext packets (RFC 4253 §6 before NEWKEYS)

/// One plaintext packet found in a flight: where it is, and its payload.
struct PlaintextPacket {
    var range: Range<Int>
    var payload: [UInt8]
    var messageNumber: UInt8? { payload.first }
}

/// A packet as a sender without keys frames it (block size 8, at least 4 bytes of padding), with zero padding.
func plaintextPacket(_ payload: [UInt8]) -> [UInt8] {
    var padding = 8 - (5 + payload.count) % 8
    if padding < 4 { padding += 8 }
    let length = UInt32(1 + payload.count + padding)
    return bigEndianBytes(length) + [UInt8(padding)] + payload + [UInt8](repeating: 0, count: padding)
}

/// SSH_MSG_IGNORE with an empty string (RFC 4253 §11.2).
let ignorePayload: [UInt8] = [SSHMessageNumber.ignore, 0, 0, 0, 0]

/// Where the plaintext packets of `bytes` start: after an identification line if the bytes begin with one.
func identificationEnd(_ bytes: [UInt8]) -> Int {
    guard bytes.starts(with: Array("SSH-".utf8)), let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return 0 }
    return newline + 1
}

/// The plaintext packets at the start of a flight (after an identification line, if any), up to and including
/// NEWKEYS, after which the sender's bytes are encrypted; stops early at anything that cannot be a packet.
func plaintextPackets(in bytes: [UInt8]) -> [PlaintextPacket] {
    var packets: [PlaintextPacket] = []
    var offset = identificationEnd(bytes)
    while offset + 5 <= bytes.count {
        let length = Int(bytes[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        let padding = Int(bytes[offset + 4])
        guard length >= 5, offset + 4 + length <= bytes.count, padding >= 4, padding < length else { break }
        let payload = Array(bytes[(offset + 5)..<(offset + 4 + length - padding)])
        packets.append(PlaintextPacket(range: offset..<(offset + 4 + length), payload: payload))
        offset += 4 + length
        if payload.first == SSHMessageNumber.newKeys { break }
    }
    return packets
}

/// The DISCONNECT among the plaintext packets of `bytes` (what a side queues when it fails before keys).
func plaintextDisconnect(in bytes: [UInt8]) -> DisconnectMessage? {
    guard let packet = plaintextPackets(in: bytes).first(where: { $0.messageNumber == SSHMessageNumber.disconnect }) else { return nil }
    return try? DisconnectMessage(payload: ByteBuffer(bytes: packet.payload))
}

extension TransportPair {
    /// Rewrites the first flight from one side whose plaintext packets contain message `number`; later flights
    /// pass untouched. `rewrite` gets the flight and its plaintext packets.
    mutating func tamperFirstFlight(
        fromClient: Bool, containing number: UInt8, _ rewrite: @escaping ([UInt8], [PlaintextPacket]) -> [UInt8]
    ) {
        let fired = Flag()
        tamper = { sentByClient, bytes in
            guard sentByClient == fromClient, !fired.value else { return bytes }
            let packets = plaintextPackets(in: bytes)
            guard packets.contains(where: { $0.messageNumber == number }) else { return bytes }
            fired.value = true
            return rewrite(bytes, packets)
        }
    }

    /// Slips `packet` into one side's plaintext stream right in front of its message `number`.
    mutating func inject(_ packet: [UInt8], fromClient: Bool, before number: UInt8) {
        tamperFirstFlight(fromClient: fromClient, containing: number) { bytes, packets in
            let target = packets.first { $0.messageNumber == number }!
            var rewritten = bytes
            rewritten.insert(contentsOf: packet, at: target.range.lowerBound)
            return rewritten
        }
    }
}

final class Flag {
    var value = false
}

/// SplitMix64: reproducible "random" bytes, so a failing case can be replayed.
struct SeededBytes {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}

// MARK: A hand-driven server

/// A minimal SSH server made of SSHProtocol's pieces (PacketSealer/PacketOpener, ServerKeyExchange,
/// ExchangeHashInputs, DerivedKeys): curve25519-sha256, an Ed25519 host key, one cipher, strict KEX if asked, no
/// EXT_INFO. It answers the key exchange by itself and otherwise only does what the test tells it, and reports every
/// packet the client sent with the sequence number it arrived under.
struct ScriptedServer {
    struct Received: Equatable {
        var sequenceNumber: UInt32
        var payload: [UInt8]
    }

    static let identification = "SSH-2.0-scripted_test_server"

    let strict: Bool
    var sealer = PacketSealer()
    var opener = PacketOpener()
    private var inbound = ByteBuffer()
    private var versionExchange = VersionExchange(acceptsPreamble: false)
    private var clientIdentification: String?
    private let hostKey: SSHPrivateKey
    private let ourInit: KeyExchangeInit
    private let ourInitPayload: [UInt8]
    private var clientInitPayload: [UInt8]?
    private var inboundProtection: (any PacketProtection)?
    private var outbound: [UInt8] = []

    init(cipher: SSHCipherAlgorithm, strict: Bool) throws {
        self.strict = strict
        hostKey = try #require(TestHostKeys.keys[.ed25519])
        var cookie = SeededBytes(state: 42)
        ourInit = KeyExchangeInit(
            cookie: cookie.bytes(16),
            keyExchangeAlgorithms: ["curve25519-sha256"] + (strict ? ["kex-strict-s-v00@openssh.com"] : []),
            serverHostKeyAlgorithms: ["ssh-ed25519"], ciphers: [cipher.rawValue], macs: ["hmac-sha2-256-etm@openssh.com"])
        var payload = ByteBuffer()
        ourInit.encode(into: &payload)
        ourInitPayload = payload.allBytes
    }

    /// The first flight: identification line and KEXINIT.
    mutating func start() throws -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeString(Self.identification + "\r\n")
        try sealer.seal(payload: ByteBuffer(bytes: ourInitPayload), into: &buffer)
        return buffer.allBytes
    }

    /// Seals `payload` as the next packet under the current keys and sequence number.
    mutating func seal(_ payload: [UInt8]) throws -> [UInt8] {
        var buffer = ByteBuffer()
        try sealer.seal(payload: ByteBuffer(bytes: payload), into: &buffer)
        return buffer.allBytes
    }

    /// What the server queued on its own (its key exchange answer) since the last call.
    mutating func takeOutbound() -> [UInt8] {
        defer { outbound = [] }
        return outbound
    }

    /// Takes the client's bytes and returns the packets in them; KEXINIT, KEX_ECDH_INIT and NEWKEYS are also acted on.
    mutating func receive(_ bytes: [UInt8]) throws -> [Received] {
        inbound.writeBytes(bytes)
        if clientIdentification == nil {
            guard let identification = try versionExchange.readIdentification(from: &inbound) else { return [] }
            clientIdentification = identification
        }
        var received: [Received] = []
        while let payload = try opener.openPacket(from: &inbound) {
            let packet = Received(sequenceNumber: opener.sequenceNumber &- 1, payload: payload.allBytes)
            received.append(packet)
            switch packet.payload.first {
            case SSHMessageNumber.keyExchangeInit:
                clientInitPayload = packet.payload
            case SSHMessageNumber.keyExchangeECDHInit:
                try answerKeyExchange(packet.payload)
            case SSHMessageNumber.newKeys:
                opener.changeKeys(to: try #require(inboundProtection), resetSequenceNumber: strict)
            default:
                break
            }
        }
        return received
    }

    private mutating func answerKeyExchange(_ payload: [UInt8]) throws {
        var buffer = ByteBuffer(bytes: payload)
        buffer.moveReaderIndex(forwardBy: 1)
        let clientPublic = try buffer.readSSHStringBytes(field: "Q_C")
        let clientInitPayload = try #require(clientInitPayload)
        let algorithms = try AlgorithmNegotiation.negotiate(
            client: try KeyExchangeInit(payload: ByteBuffer(bytes: clientInitPayload)), server: ourInit, weAreClient: false)
        let (serverPublic, sharedSecret) = try ServerKeyExchange.respond(to: clientPublic, algorithm: algorithms.keyExchange)
        let hostKeyBlob = hostKey.publicKey.wireBlob
        let exchangeHash = ExchangeHashInputs(
            clientIdentification: try #require(clientIdentification), serverIdentification: Self.identification,
            clientKeyExchangeInit: clientInitPayload, serverKeyExchangeInit: ourInitPayload,
            serverHostKeyBlob: hostKeyBlob, clientPublic: clientPublic, serverPublic: serverPublic
        ).exchangeHash(sharedSecret: sharedSecret, using: algorithms.keyExchange.hashFunction)
        let signature = try hostKey.signature(for: exchangeHash, algorithm: .ed25519)
        let keys = DerivedKeys(
            sharedSecret: sharedSecret, exchangeHash: exchangeHash, sessionIdentifier: exchangeHash,
            hashFunction: algorithms.keyExchange.hashFunction, algorithms: algorithms)
        inboundProtection = try algorithms.cipherClientToServer.makeProtection(
            key: keys.encryptionKeyClientToServer, iv: keys.initialIVClientToServer,
            mac: algorithms.macClientToServer, macKey: keys.integrityKeyClientToServer)
        let outboundProtection = try algorithms.cipherServerToClient.makeProtection(
            key: keys.encryptionKeyServerToClient, iv: keys.initialIVServerToClient,
            mac: algorithms.macServerToClient, macKey: keys.integrityKeyServerToClient)
        var reply = ByteBuffer()
        reply.writeSSHByte(SSHMessageNumber.keyExchangeECDHReply)
        reply.writeSSHString(hostKeyBlob)
        reply.writeSSHString(serverPublic)
        reply.writeSSHString(signature.wireBlob)
        var flight = ByteBuffer()
        try sealer.seal(payload: reply, into: &flight)
        try sealer.seal(payload: ByteBuffer(bytes: [SSHMessageNumber.newKeys]), into: &flight)
        sealer.changeKeys(to: outboundProtection, resetSequenceNumber: strict)
        outbound += flight.allBytes
    }
}

/// A real client transport against a `ScriptedServer`.
struct ScriptedConnection {
    var client: SSHTransport
    var server: ScriptedServer
    var clientLog = SideLog()
    /// Everything the server received, in order.
    var serverReceived: [ScriptedServer.Received] = []
    /// Lets a test rewrite the server's key exchange answer (KEX_ECDH_REPLY ‖ NEWKEYS) on its way to the client.
    var tamperKeyExchangeReply: (([UInt8]) -> [UInt8])?

    init(cipher: SSHCipherAlgorithm = .chacha20Poly1305, serverStrict: Bool = true) throws {
        client = SSHTransport(configuration: SSHTransportConfiguration(role: .client))
        server = try ScriptedServer(cipher: cipher, strict: serverStrict)
    }

    /// Identification, KEXINITs, ECDH, NEWKEYS both ways.
    mutating func handshake() throws {
        try client.start()
        let first = try server.start()
        try clientToServer()
        toClient(first)
        try clientToServer()  // KEX_ECDH_INIT
        var answer = server.takeOutbound()
        if let tamperKeyExchangeReply { answer = tamperKeyExchangeReply(answer) }
        toClient(answer)      // the client accepts the host key and sends NEWKEYS
        try clientToServer()
    }

    /// Moves what the client queued to the server.
    mutating func clientToServer() throws {
        guard let bytes = client.takeOutbound() else { return }
        serverReceived += try server.receive(bytes.allBytes)
    }

    /// Delivers bytes to the client and drains its events (accepting the host key).
    mutating func toClient(_ bytes: [UInt8]) {
        client.receive(ByteBuffer(bytes: bytes))
        while true {
            do {
                guard let event = try client.nextEvent() else { return }
                switch event {
                case .hostKeyToValidate(let key):
                    clientLog.hostKeys.append(key)
                    try client.acceptHostKey()
                case .keyExchangeCompleted:
                    clientLog.completedExchanges += 1
                case .message(let payload):
                    clientLog.messages.append(payload.allBytes)
                case .peerDisconnected(let error):
                    clientLog.peerDisconnect = error
                default:
                    clientLog.events.append("\(event)")
                }
            } catch let error as SSHProtocolError {
                clientLog.error = error
                return
            } catch {
                return
            }
        }
    }

    /// The server sends `payload` as its next packet; returns the sequence number it used.
    @discardableResult
    mutating func serverSends(_ payload: [UInt8]) throws -> UInt32 {
        let sequenceNumber = server.sealer.sequenceNumber
        toClient(try server.seal(payload))
        return sequenceNumber
    }
}
