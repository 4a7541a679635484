// OpenSSH certificates signed by the real ssh-keygen -s (Tests/Fixtures/certs): parsing, CA signature,
// validity, principals, critical options, and every way a certificate must be refused.

import Foundation
import NIOCore
import SSHKeys
import SSHWire
import Testing

private func certificate(_ name: String) throws -> SSHCertificate {
    let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(fixtureDirectory)/../certs/\(name)-cert.pub")), as: UTF8.self)
    return try SSHCertificate.parseLine(text).certificate
}

private func publicKey(_ name: String) throws -> SSHPublicKey {
    try SSHPublicKeyLine(parsing: try fixtureText("\(name).pub")).key
}

/// 2030-01-01T00:00:00Z
private let inValidity: UInt64 = 1_893_456_000

@Suite("Certificates")
struct CertificateTests {
    @Test("a user certificate from ssh-keygen -s: fields, options and a valid CA signature")
    func userCertificate() throws {
        let cert = try certificate("user")
        #expect(cert.typeName == "ecdsa-sha2-nistp256-cert-v01@openssh.com")
        #expect(cert.key == (try publicKey("ecdsa256")))
        #expect(cert.signatureKey == (try publicKey("ed25519")))
        #expect(cert.kind == .user)
        #expect(cert.keyID == "alice@example.com")
        #expect(cert.serial == 42)
        #expect(cert.principals == ["alice", "deploy"])
        #expect(cert.validAfter == 1_735_689_600)
        #expect(cert.validBefore == 2_051_222_400)
        #expect(cert.forceCommand == "/usr/bin/backup --now")
        #expect(cert.sourceAddressOption == "192.0.2.0/24,2001:db8::/32")
        #expect(cert.extensions.map(\.name) == ["permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding", "permit-pty", "permit-user-rc"])
        #expect(cert.hasValidSignature)
        let ca = try publicKey("ed25519")
        #expect(throws: Never.self) {
            try cert.validate(kind: .user, trustedAuthorities: [ca], principal: "alice", time: inValidity, sourceAddress: "192.0.2.9").get()
        }
    }

    @Test("refusals name the reason", arguments: [
        ("user", "alice", UInt64(1_893_456_000), "ed25519", SSHCertificate.Kind.user, "192.0.2.9", SSHCertificate.Refusal?.none),
        ("user", "mallory", 1_893_456_000, "ed25519", .user, "192.0.2.9", .principalNotListed("mallory")),
        ("user", "alice", 1_893_456_000, "rsa3072", .user, "192.0.2.9", .untrustedAuthority),
        ("user", "alice", 1_893_456_000, "ed25519", .host, "192.0.2.9", .wrongKind(expected: .host)),
        ("user", "alice", 1_893_456_000, "ed25519", .user, "198.51.100.1", .sourceAddressNotAllowed("198.51.100.1")),
        ("user", "alice", 1_700_000_000, "ed25519", .user, "192.0.2.9", .notYetValid),
        ("expired", "alice", 1_893_456_000, "ed25519", .user, "192.0.2.9", .expired),
        ("future", "alice", 1_893_456_000, "ed25519", .user, "192.0.2.9", .notYetValid),
        ("noprincipals", "alice", 1_893_456_000, "ed25519", .user, "192.0.2.9", .noPrincipals),
        ("host", "host.example.com", 1_893_456_000, "rsa3072", .host, "192.0.2.9", nil),
        ("host", "other.example.com", 1_893_456_000, "rsa3072", .host, "192.0.2.9", .principalNotListed("other.example.com")),
    ])
    func refusals(name: String, principal: String, time: UInt64, ca: String, kind: SSHCertificate.Kind,
                  address: String, expected: SSHCertificate.Refusal?) throws {
        let result = try certificate(name).validate(kind: kind, trustedAuthorities: [try publicKey(ca)], principal: principal,
                                                    time: time, sourceAddress: address)
        switch (result, expected) {
        case (.success, nil): break
        case (.failure(let refusal), let expected?): #expect(refusal == expected)
        default: Issue.record("\(name): got \(result), expected \(String(describing: expected))")
        }
    }

    @Test("a tampered certificate fails its signature check")
    func tampered() throws {
        let cert = try certificate("user")
        var blob = cert.wireBlob
        // Change the key id "alice@..." to "blice@...": still well-formed, no longer what the CA signed.
        let id = Array("alice@example.com".utf8)
        guard let start = (0..<(blob.count - id.count)).first(where: { Array(blob[$0..<($0 + id.count)]) == id }) else {
            Issue.record("key id not found"); return
        }
        blob[start] = UInt8(ascii: "b")
        let forged = try SSHCertificate(wireBlob: blob)
        #expect(forged.keyID == "blice@example.com")
        #expect(!forged.hasValidSignature)
        guard case .failure(.badSignature) = forged.validate(kind: .user, trustedAuthorities: [try publicKey("ed25519")],
                                                             principal: "alice", time: inValidity) else {
            Issue.record("a forged certificate was not refused for its signature"); return
        }
    }

    @Test("certificates we issue verify, keep sorted options and round-trip", arguments: ["ed25519", "rsa3072", "ecdsa384"])
    func issue(caName: String) throws {
        let ca = try SSHKeyFile.parsePrivateKey(try fixture(caName))
        let subject = try SSHPrivateKey.generate(type: .ecdsaP256)
        let cert = try SSHCertificate.issue(
            for: subject.publicKey, authority: ca, kind: .user, keyID: "test", principals: ["u1", "u2"],
            validAfter: 100, validBefore: 2_000_000_000, serial: 7,
            criticalOptions: [SSHCertificateOption(name: "source-address", stringValue: "10.0.0.0/8"),
                              SSHCertificateOption(name: "force-command", stringValue: "true")],
            extensions: SSHCertificate.defaultUserExtensions)
        #expect(cert.criticalOptions.map(\.name) == ["force-command", "source-address"])
        #expect(cert.hasValidSignature)
        #expect(cert.signature.algorithmName == ca.type.defaultSignatureAlgorithm.rawValue)
        let again = try SSHCertificate.parseLine(cert.lineText + " comment")
        #expect(again.certificate == cert)
        #expect(again.comment == "comment")
        #expect(cert.validate(kind: .user, trustedAuthorities: [ca.publicKey], principal: "u2", time: 1_000, sourceAddress: "10.1.1.1")
            .map { true } == .success(true))
    }

    @Test("malformed certificates are refused, never trapped on")
    func malformed() throws {
        let blob = try certificate("host").wireBlob
        for length in stride(from: 0, to: blob.count, by: 3) {
            #expect(throws: SSHKeyError.self) { try SSHCertificate(wireBlob: Array(blob[..<length])) }
        }
        #expect(throws: SSHKeyError.self) { try SSHCertificate(wireBlob: blob + [0]) }
        // Options out of order are refused (a duplicate could hide a restriction): swap two names in place.
        let ca = try SSHKeyFile.parsePrivateKey(try fixture("ed25519"))
        let issued = try SSHCertificate.issue(for: ca.publicKey, authority: ca, kind: .user, keyID: "k", principals: ["p"],
                                              extensions: [SSHCertificateOption(name: "ab-x"), SSHCertificateOption(name: "aa-x")])
        #expect(issued.extensions.map(\.name) == ["aa-x", "ab-x"])
        var swapped = issued.wireBlob
        for index in 0..<(swapped.count - 4) where Array(swapped[index..<(index + 4)]) == Array("aa-x".utf8) {
            swapped[index + 1] = UInt8(ascii: "c")
        }
        #expect(throws: SSHKeyError.self) { try SSHCertificate(wireBlob: swapped) }
    }
}
