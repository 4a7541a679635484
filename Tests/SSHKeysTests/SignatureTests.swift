// Signing and verification: RFC 8032 and RFC 6979 known answers, every key type round-tripping,
// and the refusals (tampered data, wrong key, SHA-1 RSA unless asked for).

import Crypto
import CryptoExtras
import Foundation
import NIOCore
import SSHWire
@testable import SSHKeys
import Testing

@Suite("Signatures", .timeLimit(.minutes(10)))
struct SignatureTests {
    /// RFC 8032 §7.1, TEST 1 and TEST 2.
    @Test("Ed25519 signatures match RFC 8032 §7.1", arguments: [
        ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ])
    func ed25519KnownAnswers(secret: String, publicKey: String, message: String, signature: String) throws {
        let key = SSHPrivateKey(storage: .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: hexBytes(secret))), comment: "")
        #expect(Array(key.publicKey.wireBlob.suffix(32)) == hexBytes(publicKey))
        let made = try key.signature(for: hexBytes(message))
        #expect(made.algorithmName == "ssh-ed25519")
        #expect(made.rawSignature == hexBytes(signature))
        #expect(key.publicKey.isValidSignature(made, for: hexBytes(message)))
    }

    /// RFC 6979 A.2.5: ECDSA P-256, SHA-256, message "sample".
    @Test("ECDSA P-256 verifies the RFC 6979 A.2.5 signature, in SSH encoding")
    func ecdsaKnownAnswer() throws {
        let x = hexBytes("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6")
        let y = hexBytes("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299")
        var blob = ByteBuffer()
        blob.writeSSHString("ecdsa-sha2-nistp256")
        blob.writeSSHString("nistp256")
        blob.writeSSHString([0x04] + x + y)
        let publicKey = try SSHPublicKey(wireBlob: Array(blob.readableBytesView))
        var inner = ByteBuffer()
        inner.writeSSHUnsignedMPInt(hexBytes("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"))
        inner.writeSSHUnsignedMPInt(hexBytes("F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"))
        let signature = SSHSignature(algorithmName: "ecdsa-sha2-nistp256", rawSignature: Array(inner.readableBytesView))
        #expect(publicKey.isValidSignature(signature, for: Array("sample".utf8)))
        #expect(!publicKey.isValidSignature(signature, for: Array("samplf".utf8)))
        // The private key of the same vector derives the same public key.
        let privateKey = try LegacyPEMKeys.ecdsaPrivateKey(
            type: .ecdsaP256, scalar: hexBytes("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"), comment: "")
        #expect(privateKey.publicKey == publicKey)
    }

    @Test("every key type signs and verifies; tampering and the wrong key fail", arguments: [
        (SSHKeyType.ed25519, nil as Int?), (.ecdsaP256, nil), (.ecdsaP384, 384), (.ecdsaP521, 521), (.rsa, 2048),
    ])
    func roundTrip(type: SSHKeyType, bits: Int?) throws {
        let key = try SSHPrivateKey.generate(type: type, bits: bits)
        let other = try SSHPrivateKey.generate(type: type, bits: bits)
        #expect(key.type == type)
        let message = Array("exchange hash".utf8)
        for algorithm in type.signatureAlgorithms {
            let signature = try key.signature(for: message, algorithm: algorithm)
            #expect(signature.algorithmName == algorithm.rawValue)
            #expect(key.publicKey.isValidSignature(signature, for: message))
            #expect(!key.publicKey.isValidSignature(signature, for: message + [0]))
            #expect(!other.publicKey.isValidSignature(signature, for: message))
            // Survives the wire encoding.
            let decoded = try SSHSignature(wireBlob: signature.wireBlob)
            #expect(key.publicKey.isValidSignature(decoded, for: message))
            // A signature claiming another algorithm name is refused.
            var relabelled = signature
            relabelled.algorithmName = type == .ed25519 ? "ecdsa-sha2-nistp256" : "ssh-ed25519"
            #expect(!key.publicKey.isValidSignature(relabelled, for: message))
        }
    }

    @Test("SHA-1 RSA signatures are never made, and verify only when explicitly allowed")
    func sha1RSA() throws {
        let key = try SSHKeyFile.parsePrivateKey(try fixture("rsa2048"))
        let message = Array("legacy".utf8)
        #expect(throws: SSHKeyError(.signatureAlgorithmNotAllowed("ssh-rsa"))) { try key.signature(for: message, algorithm: .rsaSHA1) }
        // A SHA-1 signature as an old peer would make it, straight from the crypto library.
        guard case .rsa(let parts) = key.storage else { Issue.record("not an RSA key"); return }
        let raw = try parts.key.signature(for: Insecure.SHA1.hash(data: message), padding: .insecurePKCS1v1_5)
        let signature = SSHSignature(algorithmName: "ssh-rsa", rawSignature: Array(raw.rawRepresentation))
        #expect(!key.publicKey.isValidSignature(signature, for: message))
        #expect(key.publicKey.isValidSignature(signature, for: message, allowedAlgorithms: [.rsaSHA1]))
        #expect(!key.publicKey.isValidSignature(try key.signature(for: message), for: message, allowedAlgorithms: [.rsaSHA1]))
    }

    @Test("an algorithm of another key type cannot be used to sign")
    func wrongAlgorithm() throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        #expect(throws: SSHKeyError(.signatureAlgorithmNotAllowed("rsa-sha2-256"))) {
            try key.signature(for: [1, 2, 3], algorithm: .rsaSHA256)
        }
    }

    @Test("malformed signature blobs do not verify and do not trap")
    func malformedSignatures() throws {
        let key = try SSHKeyFile.parsePrivateKey(try fixture("ecdsa256"))
        for raw: [UInt8] in [[], [0, 0, 0, 1], [0, 0, 0, 1, 0x80, 0, 0, 0, 0], [UInt8](repeating: 0xFF, count: 80)] {
            let signature = SSHSignature(algorithmName: "ecdsa-sha2-nistp256", rawSignature: raw)
            #expect(!key.publicKey.isValidSignature(signature, for: [1]))
        }
        #expect(throws: SSHKeyError.self) { try SSHSignature(wireBlob: [0, 0, 0, 9, 1]) }
    }
}
