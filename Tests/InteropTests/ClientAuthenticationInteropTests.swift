// Our client's user authentication against real sshd (9.2, and 10 from the Debian 13 root): every user key type,
// a user certificate trusted through TrustedUserCAKeys, and a refused key with the server's method list.
import Foundation
import SSH
import SSHKeys
import SSHProtocol
import Testing

@Suite("Client authentication against sshd", .enabled(if: isRootUser, "starting sshd on a test port needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct ClientAuthenticationInteropTests {
    @Test(arguments: installationsUnderTest)
    func everyKeyTypeAndACertificate(_ installation: OpenSSHInstallation) async throws {
        let keys = try SSHKeyType.allCases.map { type in try SSHPrivateKey.generate(type: type, bits: type == .rsa ? 3072 : nil) }
        #expect(keys.count == SSHKeyType.allCases.count)
        let authority = try SSHPrivateKey.generate(type: .ed25519)
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "\(authority.publicKey)\n".write(toFile: directory + "/user_ca.pub", atomically: true, encoding: .utf8)
        var extra = "TrustedUserCAKeys \(directory)/user_ca.pub\n"
        if installation.chrootRoot != nil { extra += "PerSourcePenalties no\n" }
        let sshd = try await offThePool { [extra] in try TestSSHD(chrootRoot: installation.chrootRoot, extraConfig: extra) }
        defer { sshd.stop() }
        try (keys.map { "\($0.publicKey)" }.joined(separator: "\n") + "\n")
            .write(toFile: sshd.directory + "/authorized_keys", atomically: true, encoding: .utf8)
        let hostKey = try SSHPublicKeyLine(parsing: sshd.hostKeyPublic).key

        for key in keys {
            do {
                let client = try await SSHClient.connect(host: "127.0.0.1", port: sshd.port, user: testLogin,
                                                         credentials: [.privateKey(key)], hostKeyValidator: PinnedHostKeys([hostKey]))
                #expect(client.negotiatedAlgorithms.sessionIdentifier.count == 32)
                await client.close()
            } catch {
                Issue.record("\(installation) \(key.type): \(error)\n\((try? readText(sshd.directory + "/sshd.log").suffix(1500)) ?? "")")
            }
        }

        // A key sshd has never seen, certified by the CA it trusts: the certificate gets in.
        let stranger = try SSHPrivateKey.generate(type: .ecdsaP256)
        let certificate = try SSHCertificate.issue(for: stranger.publicKey, authority: authority, kind: .user, keyID: "test user",
                                                   principals: [testLogin], extensions: SSHCertificate.defaultUserExtensions)
        let client = try await SSHClient.connect(host: "127.0.0.1", port: sshd.port, user: testLogin,
                                                 credentials: [.privateKey(stranger, certificate: certificate)], hostKeyValidator: PinnedHostKeys([hostKey]))
        await client.close()

        // Without the certificate the same key is refused, naming what the server allows.
        do {
            _ = try await SSHClient.connect(host: "127.0.0.1", port: sshd.port, user: testLogin,
                                            credentials: [.privateKey(stranger)], hostKeyValidator: PinnedHostKeys([hostKey]))
            Issue.record("\(installation): an unknown key was accepted")
        } catch let error as SSHError {
            guard case .authenticationFailed(let user, let tried, let allowed) = error.kind else { Issue.record("\(error)"); return }
            #expect(user == testLogin && tried == [.publicKey] && allowed.contains(.publicKey), "\(error)")
            #expect(error.description.hasPrefix("Permission denied for \(testLogin)"))
        }
    }

    @Test func wrongHostKeyIsRefusedBeforeAuthentication() async throws {
        let sshd = try await offThePool { try TestSSHD() }
        defer { sshd.stop() }
        let key = try SSHPrivateKey.generate(type: .ed25519)
        let impostor = try SSHPrivateKey.generate(type: .ed25519).publicKey
        do {
            _ = try await SSHClient.connect(host: "127.0.0.1", port: sshd.port, user: testLogin, credentials: [.privateKey(key)],
                                            hostKeyValidator: PinnedHostKeys([impostor]))
            Issue.record("a wrong host key was accepted")
        } catch let error as SSHError {
            guard case .hostKeyRejected(_, let port, let reason) = error.kind else { Issue.record("\(error)"); return }
            #expect(port == sshd.port && reason.contains("not one of the pinned keys"), "\(error)")
            #expect(error.underlying is SSHHostKeyRejection, "\(error)")
        }
        // sshd learns only that its key was not verifiable, nothing of our reasons.
        let logged = await eventually(10) { ((try? readText("\(sshd.directory)/sshd.log")) ?? "").contains("host key not verifiable") }
        #expect(logged, "sshd logged our DISCONNECT's text")
        let log = (try? readText("\(sshd.directory)/sshd.log")) ?? ""
        #expect(!log.contains("pinned"), "the validator's reason reached the server: \(log)")
    }
}
