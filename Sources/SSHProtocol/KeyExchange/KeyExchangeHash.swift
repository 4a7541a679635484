// The exchange hash and key derivation shared by every method here: RFC 4253 §7.2 (keys from K, H and the
// session identifier), RFC 5656 §4 (ECDH hash layout), RFC 8731 §3.1 (curve25519), and
// draft-ietf-sshm-mlkem-hybrid-kex §2.4 (the shared secret hashed in as a string, not an mpint).
import Crypto
import NIOCore
import SSHWire

/// The hash a key exchange method is defined with.
enum KeyExchangeHashFunction: Sendable {
    case sha256, sha384, sha512

    func hash(_ bytes: [UInt8]) -> [UInt8] {
        switch self {
        case .sha256: Array(SHA256.hash(data: bytes))
        case .sha384: Array(SHA384.hash(data: bytes))
        case .sha512: Array(SHA512.hash(data: bytes))
        }
    }
}

/// The shared secret K as it enters the exchange hash and key derivation: already in its wire encoding
/// (mpint for the classical methods, string for the hybrid one), so both uses cannot disagree.
struct EncodedSharedSecret: Sendable {
    var wireBytes: [UInt8]

    static func mpint(_ magnitude: [UInt8]) -> EncodedSharedSecret {
        var buffer = ByteBuffer()
        buffer.writeSSHUnsignedMPInt(magnitude)
        return EncodedSharedSecret(wireBytes: buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    static func string(_ bytes: [UInt8]) -> EncodedSharedSecret {
        var buffer = ByteBuffer()
        buffer.writeSSHString(bytes)
        return EncodedSharedSecret(wireBytes: buffer.readBytes(length: buffer.readableBytes) ?? [])
    }
}

/// The inputs of the exchange hash H (RFC 4253 §8 with RFC 5656 §4's Q_C/Q_S in place of e/f).
struct ExchangeHashInputs {
    var clientIdentification: String
    var serverIdentification: String
    var clientKeyExchangeInit: [UInt8]
    var serverKeyExchangeInit: [UInt8]
    var serverHostKeyBlob: [UInt8]
    var clientPublic: [UInt8]
    var serverPublic: [UInt8]

    func exchangeHash(sharedSecret: EncodedSharedSecret, using function: KeyExchangeHashFunction) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(1024 + serverHostKeyBlob.count + clientPublic.count + serverPublic.count)
        buffer.writeSSHString(Array(clientIdentification.utf8))
        buffer.writeSSHString(Array(serverIdentification.utf8))
        buffer.writeSSHString(clientKeyExchangeInit)
        buffer.writeSSHString(serverKeyExchangeInit)
        buffer.writeSSHString(serverHostKeyBlob)
        buffer.writeSSHString(clientPublic)
        buffer.writeSSHString(serverPublic)
        buffer.writeBytes(sharedSecret.wireBytes)
        return function.hash(buffer.readBytes(length: buffer.readableBytes) ?? [])
    }
}

/// The six keys of RFC 4253 §7.2, derived for the negotiated algorithms.
struct DerivedKeys {
    var initialIVClientToServer: [UInt8]
    var initialIVServerToClient: [UInt8]
    var encryptionKeyClientToServer: [UInt8]
    var encryptionKeyServerToClient: [UInt8]
    var integrityKeyClientToServer: [UInt8]
    var integrityKeyServerToClient: [UInt8]

    init(
        sharedSecret: EncodedSharedSecret, exchangeHash: [UInt8], sessionIdentifier: [UInt8],
        hashFunction: KeyExchangeHashFunction, algorithms: SSHNegotiatedAlgorithms
    ) {
        func derive(_ letter: UInt8, _ count: Int) -> [UInt8] {
            guard count > 0 else { return [] }
            // K1 = HASH(K || H || letter || session_id); Kn = HASH(K || H || K1 || ... || Kn-1).
            var key = hashFunction.hash(sharedSecret.wireBytes + exchangeHash + [letter] + sessionIdentifier)
            while key.count < count {
                key += hashFunction.hash(sharedSecret.wireBytes + exchangeHash + key)
            }
            return Array(key.prefix(count))
        }
        initialIVClientToServer = derive(UInt8(ascii: "A"), algorithms.cipherClientToServer.ivByteCount)
        initialIVServerToClient = derive(UInt8(ascii: "B"), algorithms.cipherServerToClient.ivByteCount)
        encryptionKeyClientToServer = derive(UInt8(ascii: "C"), algorithms.cipherClientToServer.keyByteCount)
        encryptionKeyServerToClient = derive(UInt8(ascii: "D"), algorithms.cipherServerToClient.keyByteCount)
        integrityKeyClientToServer = derive(UInt8(ascii: "E"), algorithms.macClientToServer?.keyByteCount ?? 0)
        integrityKeyServerToClient = derive(UInt8(ascii: "F"), algorithms.macServerToClient?.keyByteCount ?? 0)
    }
}
