// Benchmarks of SSHProtocol's transport through its public API only (this package cannot use @testable):
// - packet seal+open per cipher: a client/server SSHTransport pair, established in memory in setup, moves one
//   32 KiB higher-layer payload (message 94, CHANNEL_DATA-shaped, OpenSSH's packet size) per iteration:
//   client.send → takeOutbound → server.receive → server.nextEvent, i.e. framing, padding, encryption, MAC/tag,
//   the copies the API makes, length decryption, tag check and decryption.
// - key exchanges per KEX method: a whole in-memory handshake per iteration (two fresh SSHTransports, start,
//   KEXINIT both ways, ECDH/ML-KEM, ed25519 signature and its verification, NEWKEYS, EXT_INFO).
// Run: swift package --package-path Benchmarks benchmark --target TransportBenchmarks   (see ../../README.md)
//
// Reading the numbers: one iteration is one packet (or one handshake), so `.throughput` is packets/s (or
// handshakes/s) and `mallocCountTotal` is mallocs per packet (or per handshake), both sides together.
// MB/s = packets/s × 32768 / 10^6.

import Benchmark
import NIOCore
import SSHKeys
@_spi(Testing) import SSHProtocol

/// The size of the higher-layer payload in each packet, message number included: OpenSSH's 32 KiB channel packet.
let payloadByteCount = 32 * 1024

/// No rekeying while a benchmark runs: at several hundred MB/s the default 1 GiB limit would start a key exchange
/// that this one-way pump cannot complete.
let noRekeying = SSHRekeyLimits(bytes: .max, packets: .max, seconds: nil)

struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
}

/// SSH_MSG_CHANNEL_DATA (RFC 4254 §5.2) filling `payloadByteCount` bytes: 94, recipient channel, string data.
func channelDataPayload() -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.reserveCapacity(payloadByteCount)
    buffer.writeInteger(UInt8(94))
    buffer.writeInteger(UInt32(0))
    let dataByteCount = payloadByteCount - 9
    buffer.writeInteger(UInt32(dataByteCount))
    buffer.writeRepeatingByte(0x5A, count: dataByteCount)
    return buffer
}

func makeHostKey() throws -> SSHServerHostKey {
    SSHServerHostKey(privateKey: try SSHPrivateKey.generate(type: .ed25519, comment: "bench host key"))
}

/// An established pair, mutated by every iteration (SSHTransport is a value type, so it lives in a box).
final class EstablishedPair: @unchecked Sendable {
    var client: SSHTransport
    var server: SSHTransport
    let payload = channelDataPayload()

    init(cipher: SSHCipherAlgorithm, mac: SSHMACAlgorithm?) throws {
        let algorithms = SSHAlgorithms(
            keyExchange: [.curve25519SHA256], ciphers: [cipher], macs: mac.map { [$0] } ?? SSHMACAlgorithm.defaults)
        client = SSHTransport(configuration: SSHTransportConfiguration(
            role: .client, algorithms: algorithms, rekeyLimits: noRekeying))
        server = SSHTransport(configuration: SSHTransportConfiguration(
            role: .server(hostKeys: [try makeHostKey()]), algorithms: algorithms, rekeyLimits: noRekeying))
        try SSHTransport.handshakeInMemory(client: &client, server: &server)
        guard server.negotiatedAlgorithms?.cipherClientToServer == cipher,
              server.negotiatedAlgorithms?.macClientToServer == mac
        else { throw BenchmarkFailure(description: "negotiated \(String(describing: server.negotiatedAlgorithms))") }
    }

    /// One packet from client to server, checked on arrival.
    func sendOnePacket() throws {
        try client.send(payload)
        guard let bytes = client.takeOutbound() else { throw BenchmarkFailure(description: "nothing sent") }
        server.receive(bytes)
        guard case .message(let received)? = try server.nextEvent(), received.readableBytes == payloadByteCount else {
            throw BenchmarkFailure(description: "the server did not deliver the \(payloadByteCount)-byte message")
        }
        blackHole(received)
    }
}

/// Both sides' configuration for one key exchange method; each iteration makes fresh transports from them.
struct HandshakeFixture: Sendable {
    let client: SSHTransportConfiguration
    let server: SSHTransportConfiguration

    init(_ kex: SSHKeyExchangeAlgorithm) throws {
        let algorithms = SSHAlgorithms(keyExchange: [kex])
        client = SSHTransportConfiguration(role: .client, algorithms: algorithms)
        server = SSHTransportConfiguration(role: .server(hostKeys: [try makeHostKey()]), algorithms: algorithms)
    }
}

/// As in KeyBenchmarks: not `.cpuTotal` (10 ms resolution on Linux, and reading it allocates).
let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: metrics,
        // Packets/s and handshakes/s as plain counts: the automatic unit (K) rounds 88,000/s to "88".
        units: [.throughput: .count],
        warmupIterations: 10,
        maxDuration: .seconds(3),
        maxIterations: 1_000_000
    )

    // MARK: Packet seal+open, 32 KiB payloads

    let cipherCases: [(label: String, cipher: SSHCipherAlgorithm, mac: SSHMACAlgorithm?)] = [
        ("chacha20-poly1305@openssh.com", .chacha20Poly1305, nil),
        ("aes128-gcm@openssh.com", .aes128GCM, nil),
        ("aes256-gcm@openssh.com", .aes256GCM, nil),
        ("aes128-ctr + hmac-sha2-256-etm@openssh.com", .aes128CTR, .hmacSHA256ETM),
        ("aes128-ctr + hmac-sha2-256", .aes128CTR, .hmacSHA256),
    ]
    for entry in cipherCases {
        Benchmark("Packet 32 KiB seal+open \(entry.label)") { benchmark, pair in
            for _ in benchmark.scaledIterations {
                try pair.sendOnePacket()
            }
        } setup: {
            try EstablishedPair(cipher: entry.cipher, mac: entry.mac)
        }
    }

    // MARK: Key exchanges (ed25519 host key, default ciphers)

    for kex in [SSHKeyExchangeAlgorithm.mlkem768x25519SHA256, .curve25519SHA256, .ecdhP256, .ecdhP384, .ecdhP521] {
        Benchmark("Handshake \(kex.rawValue)", configuration: .init(warmupIterations: 3)) { benchmark, fixture in
            for _ in benchmark.scaledIterations {
                var client = SSHTransport(configuration: fixture.client)
                var server = SSHTransport(configuration: fixture.server)
                try SSHTransport.handshakeInMemory(client: &client, server: &server)
                guard server.negotiatedAlgorithms?.keyExchange == kex else {
                    throw BenchmarkFailure(description: "negotiated \(String(describing: server.negotiatedAlgorithms))")
                }
                blackHole(client.sessionIdentifier)
            }
        } setup: {
            try HandshakeFixture(kex)
        }
    }
}
