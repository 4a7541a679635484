// Known answers for the transport (ARCHITECTURE "Known-answer vectors"): exchange hash H and the RFC 4253 §7.2 keys
// for every key exchange method, and packet framing for every cipher, checked against
// Tests/Fixtures/transport/vectors.json. The vectors come from Scripts/make-transport-vectors.py, which computes
// them from the RFCs with Python's hashlib and pyca/cryptography (OpenSSL) and never runs our code, so our client
// and server cannot pass these by agreeing on a mistake. Provenance of each value is in that script's header.
import Foundation
import NIOCore
import SSHKeys
@testable import SSHProtocol
import Testing

// MARK: Vectors

struct TransportVectors: Decodable {
    struct KexInit: Decodable {
        var kex: [String]
        var hostKey: [String]
        var ciphers: [String]
        var macs: [String]
        var payload: String
    }

    struct KeyExchange: Decodable {
        var name: String
        var hash: String
        var clientIdentification: String
        var serverIdentification: String
        var clientCookie: String
        var serverCookie: String
        var clientKexinit: KexInit
        var serverKexinit: KexInit
        var hostKeyBlob: String
        var clientPublic: String
        var serverPublic: String
        var sharedSecretWire: String
        var exchangeHash: String
        var signatureBlob: String
        var keys: [String: String]
        var clientPrivate: String
        var serverPrivate: String
        var rawSharedSecret: String
        var clientMLKEMSeed: String?
        var mlkemSharedSecret: String?
        var x25519SharedSecret: String?
    }

    struct ChaCha20Poly1305: Decodable {
        var key: String
        var sequenceNumber: UInt32
        var payload: String
        var plaintextPacket: String
        var polyKey: String
        var sealed: String
    }

    struct Packet: Decodable {
        var sequenceNumber: UInt32
        var payload: String
        var plaintextPacket: String
        var sealed: String
        var nonce: String?
    }

    struct AESGCM: Decodable {
        var cipher: String
        var key: String
        var iv: String
        var packets: [Packet]
    }

    struct AESCTRHMAC: Decodable {
        var cipher: String
        var mac: String
        var key: String
        var iv: String
        var macKey: String
        var packets: [Packet]
    }

    var keyExchange: [KeyExchange]
    var chacha20Poly1305: [ChaCha20Poly1305]
    var aesGCM: [AESGCM]
    var aesCTRHMAC: [AESCTRHMAC]

    static let path: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/transport/vectors.json").path

    static func load() throws -> TransportVectors {
        try JSONDecoder().decode(TransportVectors.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// Hex for test vectors; test data only, so bad digits are a bug in the test.
func hex(_ text: String) -> [UInt8] {
    let digits = Array(text.utf8)
    func nibble(_ c: UInt8) -> UInt8 { c <= UInt8(ascii: "9") ? c - UInt8(ascii: "0") : c - UInt8(ascii: "a") + 10 }
    return stride(from: 0, to: digits.count - 1, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
}

func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

extension ByteBuffer {
    var allBytes: [UInt8] { getBytes(at: readerIndex, length: readableBytes) ?? [] }
}

// MARK: Key exchange

@Suite("Known answers: key exchange (RFC 4253 §7.2/§8, 5656, 8731, mlkem768x25519)", .timeLimit(.minutes(10)))
struct KeyExchangeKnownAnswerTests {
    static let methods = ["curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
                          "ecdh-sha2-nistp384", "ecdh-sha2-nistp521", "mlkem768x25519-sha256"]

    static func vector(_ name: String) throws -> TransportVectors.KeyExchange {
        try #require(try TransportVectors.load().keyExchange.first { $0.name == name }, "no vector for \(name)")
    }

    static func fixedClientKeys(_ vector: TransportVectors.KeyExchange) -> FixedKeyExchangeKeys {
        FixedKeyExchangeKeys(classical: hex(vector.clientPrivate), mlkemSeed: vector.clientMLKEMSeed.map(hex))
    }

    @Test func everyMethodHasAVector() throws {
        let names = try TransportVectors.load().keyExchange.map(\.name)
        #expect(Set(names) == Set(Self.methods))
        #expect(Set(SSHKeyExchangeAlgorithm.allCases.map(\.rawValue)) == Set(Self.methods))
    }

    /// I_C and I_S: our KEXINIT encoding of the same lists and cookie gives the bytes the exchange hash covers.
    @Test(arguments: methods)
    func keyExchangeInitEncoding(_ name: String) throws {
        let vector = try Self.vector(name)
        for (cookie, lists) in [(vector.clientCookie, vector.clientKexinit), (vector.serverCookie, vector.serverKexinit)] {
            let message = KeyExchangeInit(
                cookie: hex(cookie), keyExchangeAlgorithms: lists.kex, serverHostKeyAlgorithms: lists.hostKey,
                ciphers: lists.ciphers, macs: lists.macs)
            var buffer = ByteBuffer()
            message.encode(into: &buffer)
            #expect(hexString(buffer.allBytes) == lists.payload)
            #expect(try KeyExchangeInit(payload: ByteBuffer(bytes: hex(lists.payload))) == message)
        }
    }

    /// The client's half: Q_C from the fixed private key(s), and K from the server's reply.
    @Test(arguments: methods)
    func clientPublicValueAndSharedSecret(_ name: String) throws {
        let vector = try Self.vector(name)
        let algorithm = try #require(SSHKeyExchangeAlgorithm(rawValue: name))
        let (secret, clientPublic) = try ClientKeyExchangeSecret.make(for: algorithm, fixed: Self.fixedClientKeys(vector))
        #expect(hexString(clientPublic) == vector.clientPublic)
        let sharedSecret = try secret.sharedSecret(serverPublic: hex(vector.serverPublic))
        #expect(hexString(sharedSecret.wireBytes) == vector.sharedSecretWire)
    }

    /// The server's half: Q_S and K from the fixed private key. ML-KEM encapsulation cannot be fixed, so for
    /// mlkem768x25519 only the X25519 half of S_REPLY has a known answer; K must still match what the (known-answer
    /// tested) client derives from that reply.
    @Test(arguments: methods)
    func serverReplyAndSharedSecret(_ name: String) throws {
        let vector = try Self.vector(name)
        let algorithm = try #require(SSHKeyExchangeAlgorithm(rawValue: name))
        let (serverPublic, sharedSecret) = try ServerKeyExchange.respond(
            to: hex(vector.clientPublic), algorithm: algorithm, fixedPrivateKey: hex(vector.serverPrivate))
        if algorithm == .mlkem768x25519SHA256 {
            #expect(serverPublic.count == 1088 + 32)
            #expect(hexString(serverPublic.suffix(32)) == String(vector.serverPublic.suffix(64)))
            let (client, _) = try ClientKeyExchangeSecret.make(for: algorithm, fixed: Self.fixedClientKeys(vector))
            #expect(try client.sharedSecret(serverPublic: serverPublic).wireBytes == sharedSecret.wireBytes)
            #expect(sharedSecret.wireBytes.prefix(4) == [0, 0, 0, 32], "K is a string of 32 bytes")
        } else {
            #expect(hexString(serverPublic) == vector.serverPublic)
            #expect(hexString(sharedSecret.wireBytes) == vector.sharedSecretWire)
        }
    }

    /// draft-ietf-sshm-mlkem-hybrid-kex: K = SHA-256(K_PQ ‖ K_CL), encoded as a string (not an mpint).
    @Test func mlkemHybridCombination() throws {
        let vector = try Self.vector("mlkem768x25519-sha256")
        let kem = hex(try #require(vector.mlkemSharedSecret))
        let classical = hex(try #require(vector.x25519SharedSecret))
        let combined = ClientKeyExchangeSecret.mlkem768x25519SharedSecret(kem: kem, classical: classical)
        #expect(hexString(combined.wireBytes) == vector.sharedSecretWire)
        #expect(hexString(combined.wireBytes.dropFirst(4)) == vector.rawSharedSecret)
    }

    /// mpint edge cases the vectors were chosen for: a leading zero byte dropped, a zero byte added for a set high
    /// bit, or both (RFC 4251 §5).
    @Test(arguments: methods.filter { !$0.hasPrefix("mlkem") })
    func mpintEncodingOfK(_ name: String) throws {
        let vector = try Self.vector(name)
        #expect(hexString(EncodedSharedSecret.mpint(hex(vector.rawSharedSecret)).wireBytes) == vector.sharedSecretWire)
    }

    @Test(arguments: methods)
    func exchangeHash(_ name: String) throws {
        let vector = try Self.vector(name)
        let algorithm = try #require(SSHKeyExchangeAlgorithm(rawValue: name))
        #expect(vector.hash == "\(algorithm.hashFunction)")
        let inputs = ExchangeHashInputs(
            clientIdentification: vector.clientIdentification, serverIdentification: vector.serverIdentification,
            clientKeyExchangeInit: hex(vector.clientKexinit.payload), serverKeyExchangeInit: hex(vector.serverKexinit.payload),
            serverHostKeyBlob: hex(vector.hostKeyBlob), clientPublic: hex(vector.clientPublic), serverPublic: hex(vector.serverPublic))
        let h = inputs.exchangeHash(sharedSecret: EncodedSharedSecret(wireBytes: hex(vector.sharedSecretWire)), using: algorithm.hashFunction)
        #expect(hexString(h) == vector.exchangeHash)

        // What the client does with H: the server's Ed25519 signature (RFC 8032 TEST 1 key) made by OpenSSL verifies.
        let hostKey = try SSHPublicKey(wireBlob: hex(vector.hostKeyBlob))
        let signature = try SSHSignature(wireBlob: hex(vector.signatureBlob))
        #expect(hostKey.isValidSignature(signature, for: h, allowedAlgorithms: [.ed25519]))
        var other = h
        other[0] ^= 1
        #expect(!hostKey.isValidSignature(signature, for: other, allowedAlgorithms: [.ed25519]))
    }

    /// The six keys, for two algorithm choices that between them need every letter at up to 64 bytes (SHA-256 and
    /// SHA-384 must extend with K2; SHA-512 needs one round).
    @Test(arguments: methods)
    func derivedKeys(_ name: String) throws {
        let vector = try Self.vector(name)
        let algorithm = try #require(SSHKeyExchangeAlgorithm(rawValue: name))
        let hostKey = try #require(SSHHostKeyAlgorithm(name: "ssh-ed25519"))
        let h = hex(vector.exchangeHash)
        let expected = vector.keys.mapValues(hex)
        for (clientToServer, serverToClient, macCS, macSC) in [
            (SSHCipherAlgorithm.aes256CTR, SSHCipherAlgorithm.chacha20Poly1305, SSHMACAlgorithm?.some(.hmacSHA512ETM), SSHMACAlgorithm?.none),
            (.aes256GCM, .aes192CTR, nil, .hmacSHA512),
        ] {
            let negotiated = SSHNegotiatedAlgorithms(
                keyExchange: algorithm, hostKey: hostKey, cipherClientToServer: clientToServer, cipherServerToClient: serverToClient,
                macClientToServer: macCS, macServerToClient: macSC)
            let keys = DerivedKeys(
                sharedSecret: EncodedSharedSecret(wireBytes: hex(vector.sharedSecretWire)), exchangeHash: h, sessionIdentifier: h,
                hashFunction: algorithm.hashFunction, algorithms: negotiated)
            let derived: [(String, [UInt8], Int)] = [
                ("A", keys.initialIVClientToServer, clientToServer.ivByteCount),
                ("B", keys.initialIVServerToClient, serverToClient.ivByteCount),
                ("C", keys.encryptionKeyClientToServer, clientToServer.keyByteCount),
                ("D", keys.encryptionKeyServerToClient, serverToClient.keyByteCount),
                ("E", keys.integrityKeyClientToServer, macCS?.keyByteCount ?? 0),
                ("F", keys.integrityKeyServerToClient, macSC?.keyByteCount ?? 0),
            ]
            for (letter, key, length) in derived {
                #expect(key.count == length, "key \(letter)")
                #expect(key == Array(try #require(expected[letter]).prefix(length)), "key \(letter) for \(clientToServer)/\(serverToClient)")
            }
        }
    }

    /// A rekey derives from the new K and H but the first exchange's session identifier (RFC 4253 §7.2).
    @Test func rekeyUsesTheFirstSessionIdentifier() throws {
        let vector = try Self.vector("curve25519-sha256")
        let hostKey = try #require(SSHHostKeyAlgorithm(name: "ssh-ed25519"))
        let negotiated = SSHNegotiatedAlgorithms(
            keyExchange: .curve25519SHA256, hostKey: hostKey, cipherClientToServer: .chacha20Poly1305,
            cipherServerToClient: .chacha20Poly1305, macClientToServer: nil, macServerToClient: nil)
        let k = EncodedSharedSecret(wireBytes: hex(vector.sharedSecretWire))
        let h = hex(vector.exchangeHash)
        let first = DerivedKeys(sharedSecret: k, exchangeHash: h, sessionIdentifier: h, hashFunction: .sha256, algorithms: negotiated)
        let later = DerivedKeys(sharedSecret: k, exchangeHash: h, sessionIdentifier: [UInt8](repeating: 7, count: 32),
                                hashFunction: .sha256, algorithms: negotiated)
        #expect(first.encryptionKeyClientToServer != later.encryptionKeyClientToServer)
    }
}

// MARK: Packet framing

@Suite("Known answers: packet protection (OpenSSH chacha20-poly1305, RFC 5647, RFC 4344 + 6668, -etm)", .timeLimit(.minutes(10)))
struct PacketProtectionKnownAnswerTests {
    /// Seals `plaintext` at an offset inside a buffer that already holds other bytes, as the sealer does with a
    /// flight of several packets; returns the sealed packet.
    static func seal(_ protection: inout some PacketProtection, _ plaintext: [UInt8], sequenceNumber: UInt32) throws -> [UInt8] {
        var buffer = ByteBuffer(bytes: [0xAA, 0xBB, 0xCC])  // an earlier packet's tail, which must stay untouched
        buffer.moveReaderIndex(forwardBy: 1)
        let start = buffer.writerIndex
        buffer.writeBytes(plaintext)
        try protection.seal(&buffer, packetStart: start, sequenceNumber: sequenceNumber)
        #expect(buffer.getBytes(at: 1, length: 2) == [0xBB, 0xCC])
        return buffer.getBytes(at: start, length: buffer.writerIndex - start) ?? []
    }

    static func open(_ protection: inout some PacketProtection, _ sealed: [UInt8], sequenceNumber: UInt32) throws -> [UInt8] {
        try sealed.withUnsafeBytes { try protection.open($0, sequenceNumber: sequenceNumber) }.allBytes
    }

    static func length(_ protection: some PacketProtection, _ sealed: [UInt8], sequenceNumber: UInt32) -> UInt32 {
        sealed.withUnsafeBytes {
            protection.packetLength(prefix: UnsafeRawBufferPointer(rebasing: $0[0..<protection.lengthPrefixByteCount]), sequenceNumber: sequenceNumber)
        }
    }

    /// The whole receive path (length, open, padding) on the sealed bytes, fed one byte at a time.
    static func openThroughPacketOpener(
        _ protection: some PacketProtection, sealed: [[UInt8]], firstSequenceNumber: UInt32
    ) throws -> [[UInt8]] {
        var opener = PacketOpener()
        opener.changeKeys(to: protection, resetSequenceNumber: true)
        opener.sequenceNumber = firstSequenceNumber
        var input = ByteBuffer()
        var payloads: [[UInt8]] = []
        for byte in sealed.joined() {
            input.writeInteger(byte)
            while let payload = try opener.openPacket(from: &input) { payloads.append(payload.allBytes) }
        }
        #expect(input.readableBytes == 0)
        return payloads
    }

    @Test func vectorsCoverEveryCipher() throws {
        let vectors = try TransportVectors.load()
        #expect(vectors.chacha20Poly1305.count == 3)
        #expect(Set(vectors.aesGCM.map(\.cipher)) == ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"])
        #expect(Set(vectors.aesCTRHMAC.map(\.mac)) == Set(SSHMACAlgorithm.allCases.map(\.rawValue)))
        #expect(Set(vectors.aesCTRHMAC.map(\.cipher)) == ["aes128-ctr", "aes192-ctr", "aes256-ctr"])
    }

    @Test(arguments: 0..<3)
    func chacha20Poly1305(_ index: Int) throws {
        let vector = try TransportVectors.load().chacha20Poly1305[index]
        let plaintext = hex(vector.plaintextPacket)
        let sealed = hex(vector.sealed)
        var sealer = try ChaCha20Poly1305Protection(key: hex(vector.key))
        #expect(hexString(try Self.seal(&sealer, plaintext, sequenceNumber: vector.sequenceNumber)) == vector.sealed)

        var opener = try ChaCha20Poly1305Protection(key: hex(vector.key))
        #expect(Self.length(opener, sealed, sequenceNumber: vector.sequenceNumber) == UInt32(plaintext.count - 4))
        #expect(try Self.open(&opener, sealed, sequenceNumber: vector.sequenceNumber) == Array(plaintext.dropFirst(4)))
        // The sequence number is the nonce: the same bytes under the next number do not authenticate.
        #expect(throws: SSHProtocolError(.badMessageAuthenticationCode)) {
            _ = try Self.open(&opener, sealed, sequenceNumber: vector.sequenceNumber &+ 1)
        }
        let payloads = try Self.openThroughPacketOpener(
            try ChaCha20Poly1305Protection(key: hex(vector.key)), sealed: [sealed], firstSequenceNumber: vector.sequenceNumber)
        #expect(payloads == [hex(vector.payload)])
    }

    @Test(arguments: 0..<3)
    func aesGCMNonceIncrements(_ index: Int) throws {
        let vector = try TransportVectors.load().aesGCM[index]
        var sealer = try AESGCMProtection(key: hex(vector.key), iv: hex(vector.iv))
        for packet in vector.packets {
            #expect(hexString(sealer.currentNonce) == packet.nonce, "nonce before packet \(packet.sequenceNumber)")
            let sealed = try Self.seal(&sealer, hex(packet.plaintextPacket), sequenceNumber: packet.sequenceNumber)
            #expect(hexString(sealed) == packet.sealed, "packet \(packet.sequenceNumber)")
        }
        var opener = try AESGCMProtection(key: hex(vector.key), iv: hex(vector.iv))
        for packet in vector.packets {
            let sealed = hex(packet.sealed)
            #expect(Self.length(opener, sealed, sequenceNumber: packet.sequenceNumber) == UInt32(hex(packet.plaintextPacket).count - 4))
            #expect(try Self.open(&opener, sealed, sequenceNumber: packet.sequenceNumber) == Array(hex(packet.plaintextPacket).dropFirst(4)))
        }
        // Packets must arrive in order: the second packet does not open with the first packet's nonce.
        if vector.packets.count > 1 {
            var fresh = try AESGCMProtection(key: hex(vector.key), iv: hex(vector.iv))
            #expect(throws: SSHProtocolError(.badMessageAuthenticationCode)) {
                _ = try Self.open(&fresh, hex(vector.packets[1].sealed), sequenceNumber: 1)
            }
        }
        let payloads = try Self.openThroughPacketOpener(
            try AESGCMProtection(key: hex(vector.key), iv: hex(vector.iv)), sealed: vector.packets.map { hex($0.sealed) },
            firstSequenceNumber: 0)
        #expect(payloads == vector.packets.map { hex($0.payload) })
    }

    @Test(arguments: 0..<4)
    func aesCTRWithHMAC(_ index: Int) throws {
        let vector = try TransportVectors.load().aesCTRHMAC[index]
        let mac = try #require(SSHMACAlgorithm(rawValue: vector.mac))
        let cipher = try #require(SSHCipherAlgorithm(rawValue: vector.cipher))
        #expect(hex(vector.key).count == cipher.keyByteCount && hex(vector.macKey).count == mac.keyByteCount)
        func make() -> AESCTRHMACProtection {
            AESCTRHMACProtection(key: hex(vector.key), iv: hex(vector.iv), mac: mac, macKey: hex(vector.macKey))
        }
        var sealer = make()
        for packet in vector.packets {
            let sealed = try Self.seal(&sealer, hex(packet.plaintextPacket), sequenceNumber: packet.sequenceNumber)
            #expect(hexString(sealed) == packet.sealed, "\(vector.cipher) \(vector.mac) packet \(packet.sequenceNumber)")
        }
        var opener = make()
        for packet in vector.packets {
            let sealed = hex(packet.sealed)
            #expect(Self.length(opener, sealed, sequenceNumber: packet.sequenceNumber) == UInt32(hex(packet.plaintextPacket).count - 4))
            #expect(try Self.open(&opener, sealed, sequenceNumber: packet.sequenceNumber) == Array(hex(packet.plaintextPacket).dropFirst(4)))
        }
        // The MAC covers the sequence number.
        var wrongNumber = make()
        #expect(throws: SSHProtocolError(.badMessageAuthenticationCode)) {
            _ = try Self.open(&wrongNumber, hex(vector.packets[0].sealed), sequenceNumber: vector.packets[0].sequenceNumber + 1)
        }
        let payloads = try Self.openThroughPacketOpener(
            make(), sealed: vector.packets.map { hex($0.sealed) }, firstSequenceNumber: vector.packets[0].sequenceNumber)
        #expect(payloads == vector.packets.map { hex($0.payload) })
    }
}
