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

@Suite("Certificates", .timeLimit(.minutes(10)))
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

    /// A force-command or source-address that is not one string would read as absent and drop its restriction:
    /// such a certificate is refused instead (as sshd refuses one whose critical options do not parse).
    @Test("critical options that do not decode refuse the certificate", arguments: [
        SSHCertificateOption(name: "force-command", data: [0, 0, 0, 9, 0x74]),
        SSHCertificateOption(name: "source-address", data: [0xFF]),
        SSHCertificateOption(name: "force-command", data: [0, 0, 0, 1, 0x74, 0x78]),
        SSHCertificateOption(name: "verify-required", data: [0, 0, 0, 0]),
    ])
    func undecodableCriticalOptions(option: SSHCertificateOption) throws {
        let ca = try SSHPrivateKey.generate(type: .ed25519)
        let subject = try SSHPrivateKey.generate(type: .ed25519)
        let cert = try SSHCertificate.issue(for: subject.publicKey, authority: ca, kind: .user, keyID: "k", principals: ["u"],
                                            validAfter: 0, validBefore: UInt64.max, criticalOptions: [option])
        #expect(cert.hasValidSignature)
        let outcome = cert.validate(kind: .user, trustedAuthorities: [ca.publicKey], principal: "u", time: 1_000, sourceAddress: "10.1.1.1")
        #expect(outcome.map { true } == .failure(.malformedCriticalOption(option.name)))
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

@Suite("Certificates in authorized_keys and known_hosts", .timeLimit(.minutes(10)))
struct CertificateTrustTests {
    let now = 1_893_456_000  // 2030

    func authorize(_ lines: String, user: String = "alice", address: String = "192.0.2.9") throws -> AuthorizedKeys.Decision {
        let file = AuthorizedKeysFile(parsing: lines, path: "ak")
        #expect(file.warnings.isEmpty, "\(file.warnings)")
        return AuthorizedKeys.authorize(certificate: try certificate("user"), user: user, files: [file], sourceAddress: address, now: now)
    }

    @Test("cert-authority lines accept user certificates by principal, and refuse with a reason")
    func authorizedKeys() throws {
        let ca = try publicKey("ed25519").description
        guard case .accept(let entry) = try authorize("cert-authority \(ca)") else { Issue.record("alice refused"); return }
        #expect(entry.options.certificateAuthority)
        #expect(try authorize("cert-authority \(ca)", user: "bob")
            == .reject(reasons: ["ak:1: certificate does not list principal \"bob\""]))
        #expect(try authorize("cert-authority \(ca)", address: "198.51.100.1")
            == .reject(reasons: ["ak:1: certificate source-address does not allow 198.51.100.1"]))
        guard case .accept = try authorize("cert-authority,principals=\"ops,deploy\" \(ca)", user: "root") else {
            Issue.record("principals= refused"); return
        }
        #expect(try authorize("cert-authority,principals=\"ops\" \(ca)", user: "alice")
            == .reject(reasons: ["ak:1: none of the certificate's principals is in principals=\"ops\""]))
        #expect(try authorize("cert-authority,command=\"/bin/other\" \(ca)")
            == .reject(reasons: ["ak:1: certificate and authorized_keys force different commands"]))
        #expect(try authorize("cert-authority,from=\"10.0.0.0/8\" \(ca)")
            == .reject(reasons: ["ak:1: from= does not allow 192.0.2.9"]))
        // The CA key as a plain user key does not make it a certificate authority.
        #expect(try authorize(ca) == .reject(reasons: ["no cert-authority line trusts the certificate's signing key"]))
        // Another CA's line does not help either.
        #expect(try authorize("cert-authority \(try publicKey("rsa3072").description)")
            == .reject(reasons: ["no cert-authority line trusts the certificate's signing key"]))
    }

    @Test("@cert-authority lines trust host certificates for matching hosts only")
    func knownHosts() throws {
        let host = try certificate("host")
        let ca = try publicKey("rsa3072").description
        let file = KnownHostsFile(parsing: "@cert-authority *.example.com,[10.0.0.*]:2222 \(ca)\n", path: "kh")
        let check = { (name: String, principal: String, files: [KnownHostsFile]) in
            KnownHosts.check(certificate: host, hostName: name, principal: principal, files: files, now: 1_893_456_000)
        }
        guard case .trusted(let entry) = check("host.example.com", "host.example.com", [file]) else { Issue.record("not trusted"); return }
        #expect(entry.line == 1)
        guard case .trusted = check("[10.0.0.1]:2222", "10.0.0.1", [file]) else { Issue.record("port form"); return }
        // Port 22 is a different name: the [..]:2222 pattern does not cover it.
        #expect(check("10.0.0.1", "10.0.0.1", [file]) == .untrustedAuthority)
        #expect(check("other.example.com", "other.example.com", [file]) == .refused(.principalNotListed("other.example.com")))
        #expect(check("host.example.org", "host.example.org", [file]) == .untrustedAuthority)
        let revoked = KnownHostsFile(parsing: "@revoked * \(ca)\n", path: "revoked")
        guard case .revoked = check("host.example.com", "host.example.com", [file, revoked]) else { Issue.record("revocation"); return }
        // A user certificate is not a host certificate.
        let user = try certificate("user")
        let userCA = KnownHostsFile(parsing: "@cert-authority * \(try publicKey("ed25519").description)\n", path: "kh")
        #expect(KnownHosts.check(certificate: user, hostName: "alice", principal: "alice", files: [userCA], now: 1_893_456_000)
            == .refused(.wrongKind(expected: .host)))
    }
}
