// Two transport state machines wired together in memory (ARCHITECTURE convention 1): bytes one side queues are
// fed to the other, whole or one byte at a time, and each side's events are collected.
import NIOCore
import SSHKeys
import SSHProtocol
import SSHWire

enum TestHostKeys {
    /// One host key per type, made once per test process (RSA generation is slow).
    static let keys: [SSHKeyType: SSHPrivateKey] = {
        var keys: [SSHKeyType: SSHPrivateKey] = [:]
        for type in SSHKeyType.allCases {
            keys[type] = try? SSHPrivateKey.generate(type: type, bits: type == .rsa ? 2048 : nil)
        }
        return keys
    }()

    static let authority: SSHPrivateKey? = try? SSHPrivateKey.generate(type: .ed25519)

    static func hostKey(_ type: SSHKeyType, certified: Bool = false) -> SSHServerHostKey? {
        guard let key = keys[type] else { return nil }
        guard certified else { return SSHServerHostKey(privateKey: key) }
        guard let authority, let certificate = try? SSHCertificate.issue(
            for: key.publicKey, authority: authority, kind: .host, keyID: "test host", principals: ["localhost"]
        ) else { return nil }
        return SSHServerHostKey(privateKey: key, certificate: certificate)
    }

    static var all: [SSHServerHostKey] { SSHKeyType.allCases.compactMap { hostKey($0) } }
}

/// Collects what one side reported.
struct SideLog {
    var messages: [[UInt8]] = []
    var events: [String] = []
    var hostKeys: [SSHPresentedKey] = []
    var completedExchanges = 0
    var serviceAccepted: String?
    var extensionInfo: ExtensionInfo?
    var error: SSHProtocolError?
    var peerDisconnect: SSHProtocolError?
}

struct TransportPair {
    var client: SSHTransport
    var server: SSHTransport
    var clientLog = SideLog()
    var serverLog = SideLog()
    /// Feed this many bytes per step (nil: everything at once).
    var chunkSize: Int?
    /// Lets a test tamper with the bytes in flight: (fromClient, bytes) -> bytes delivered.
    var tamper: ((Bool, [UInt8]) -> [UInt8])?
    /// Whether the client accepts the host key it is shown.
    var acceptHostKey = true

    init(client: SSHTransportConfiguration, server: SSHTransportConfiguration, chunkSize: Int? = nil) {
        self.client = SSHTransport(configuration: client)
        self.server = SSHTransport(configuration: server)
        self.chunkSize = chunkSize
    }

    init(algorithms: SSHAlgorithms = .defaults, hostKeys: [SSHServerHostKey] = TestHostKeys.all, chunkSize: Int? = nil) {
        self.init(
            client: SSHTransportConfiguration(role: .client, algorithms: algorithms),
            server: SSHTransportConfiguration(role: .server(hostKeys: hostKeys), algorithms: algorithms),
            chunkSize: chunkSize
        )
    }

    mutating func start() throws {
        try client.start()
        try server.start()
    }

    /// Whether `run()` marks the connection authenticated as soon as the first key exchange is done (the server
    /// sends USERAUTH_SUCCESS), as transport tests of higher-layer traffic need: before it, the transport answers
    /// connection-layer messages with UNIMPLEMENTED (RFC 4253 §11.4).
    var authenticateAfterKeyExchange = true
    /// Private keys of host keys the server was given only the public half of (see SSHServerHostKey(publicKey:)).
    var externalHostKeys: [SSHPublicKey: SSHPrivateKey] = [:]

    /// Moves bytes both ways and drains events until neither side has anything more to say.
    mutating func run(maxRounds: Int = 10_000) {
        for _ in 0..<maxRounds {
            if authenticateAfterKeyExchange, !server.isAuthenticated, server.completedKeyExchanges > 0, !server.isClosed {
                var success = ByteBuffer()
                success.writeInteger(SSHMessageNumber.userAuthenticationSuccess)
                try? server.send(success)
            }
            var moved = false
            if let bytes = client.takeOutbound() {
                moved = true
                deliver(bytes, fromClient: true)
            }
            if let bytes = server.takeOutbound() {
                moved = true
                deliver(bytes, fromClient: false)
            }
            if !moved { return }
        }
    }

    private mutating func deliver(_ buffer: ByteBuffer, fromClient: Bool) {
        var bytes = buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? []
        if let tamper { bytes = tamper(fromClient, bytes) }
        let step = chunkSize ?? max(bytes.count, 1)
        var offset = 0
        while offset < bytes.count {
            let chunk = ByteBuffer(bytes: bytes[offset..<min(offset + step, bytes.count)])
            offset += step
            if fromClient {
                server.receive(chunk)
                drain(server: true)
            } else {
                client.receive(chunk)
                drain(server: false)
            }
        }
    }

    private mutating func drain(server isServer: Bool) {
        while true {
            let event: SSHTransportEvent?
            do {
                event = isServer ? try server.nextEvent() : try client.nextEvent()
            } catch let error as SSHProtocolError {
                if isServer { serverLog.error = error } else { clientLog.error = error }
                return
            } catch {
                return
            }
            guard let event else { return }
            var log = isServer ? serverLog : clientLog
            switch event {
            case .hostKeyToValidate(let key):
                log.hostKeys.append(key)
                log.events.append("hostKey")
                if acceptHostKey {
                    try? client.acceptHostKey()
                } else {
                    _ = client.rejectHostKey("not in known_hosts")
                }
            case .keyExchangeCompleted:
                log.completedExchanges += 1
                log.events.append("kex")
            case .extensionInfo(let info):
                log.extensionInfo = info
                log.events.append("extInfo")
            case .serviceAccepted(let name):
                log.serviceAccepted = name
                log.events.append("service")
            case .message(let payload):
                log.messages.append(payload.getBytes(at: payload.readerIndex, length: payload.readableBytes) ?? [])
            case .debug(let text, _):
                log.events.append("debug:\(text)")
            case .pong(let data):
                log.events.append("pong:\(data.count)")
            case .hostKeySignatureNeeded(let exchangeHash, let algorithm, let hostKey):
                // The "broker": the test keeps the private keys the server's configuration left out.
                log.events.append("sign")
                if let key = externalHostKeys[hostKey], let signature = try? key.signature(for: exchangeHash, algorithm: algorithm.signatureAlgorithm) {
                    try? server.provideHostKeySignature(signature)
                } else {
                    _ = server.failHostKeySignature("no such key here")
                }
            case .peerDisconnected(let error):
                log.peerDisconnect = error
                log.events.append("disconnected")
            }
            if isServer { serverLog = log } else { clientLog = log }
        }
    }

    var isEstablished: Bool {
        clientLog.completedExchanges >= 1 && serverLog.completedExchanges >= 1 && clientLog.error == nil && serverLog.error == nil
    }
}

/// A higher-layer test message: SSH_MSG_CHANNEL_DATA-shaped (94) with a counter, so order can be checked.
func testMessage(_ index: Int, size: Int = 64) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt8(94))
    buffer.writeInteger(UInt32(index))
    buffer.writeBytes([UInt8](repeating: UInt8(truncatingIfNeeded: index), count: max(0, size - 5)))
    return buffer
}

func messageIndex(_ bytes: [UInt8]) -> Int? {
    guard bytes.count >= 5, bytes[0] == 94 else { return nil }
    return bytes[1..<5].reduce(0) { $0 << 8 | Int($1) }
}
