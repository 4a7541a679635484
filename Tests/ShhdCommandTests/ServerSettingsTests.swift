// shhd's reading of sshd_config: every keyword sshd knows is either enforced, refused unless off, or noted (none
// is read and quietly ignored); a bad value is reported on the line it is written on; the key rules of
// sshd_config (PubkeyAcceptedAlgorithms, RequiredRSASize, CASignatureAlgorithms) as a Match block leaves them.
import Foundation
import OpenSSHConfig
import SSH
import SSHKeys
import SSHProtocol
@testable import ShhdCommand
import Testing

@Suite(.timeLimit(.minutes(10))) struct ServerSettingsTests {
    @Test func everyKeywordSshdKnowsHasExactlyOneFate() {
        let refused = Set(ServerSettings.refusedUnlessOff.map(\.keyword))
        let noted = Set(ServerSettings.notedWhenSet.map(\.keyword))
        for keyword in ServerKeywords.scopes.keys.sorted() {
            let fates = [ServerSettings.enforced.contains(keyword), refused.contains(keyword), noted.contains(keyword)].filter { $0 }.count
            #expect(fates == 1, "\(keyword) is in \(fates) of enforced / refused unless off / noted")
        }
        for keyword in ServerSettings.enforced.union(refused).union(noted) {
            #expect(ServerKeywords.scopes[keyword] != nil, "\(keyword) is not a keyword sshd knows")
        }
    }

    private func resolve(_ text: String) throws -> ServerSettings {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shhd-settings-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = try SSHPrivateKey.generate(type: .ed25519)
        try SSHKeyFile.write(try OpenSSHPrivateKeyFormat.fileText(key, passphrase: nil), toPath: directory + "/host_key", mode: 0o600)
        let config = directory + "/sshd_config"
        try ("HostKey \(directory)/host_key\n" + text).write(toFile: config, atomically: true, encoding: .utf8)
        return try ServerSettings.resolve(try ShhdArguments.parse(["-f", config]), log: ServerLog(), checking: true)
    }

    /// A bad Port on line 5 (after the HostKey line `resolve` writes first) is reported on line 5, not on the line
    /// of the first Port.
    @Test func aBadValueNamesItsOwnLine() throws {
        #expect {
            _ = try resolve("Port 2222\nListenAddress 127.0.0.1\n# a comment\nPort 99999\n")
        } throws: { error in
            "\(error)".contains("sshd_config line 5") && "\(error)".contains("99999")
        }
        #expect {
            _ = try resolve("ListenAddress 127.0.0.1:22\nListenAddress 127.0.0.1:0x\n")
        } throws: { error in
            "\(error)".contains("sshd_config line 3")
        }
    }

    /// shhd's startup limits come from SSHServerOptions' defaults; with nothing set they are the library's.
    @Test func startupLimitDefaultsAreTheLibrarys() {
        #expect(ServerSettings.startupLimits(SSHServerOptions.defaults) == SSHStartupLimits())
    }

    @Test(arguments: ["ChannelTimeout session=5m", "UnusedConnectionTimeout 1h", "RDomain %D",
                      "Match User bob\n  ClientAliveInterval 30", "Match User bob\n  LogLevel DEBUG3"])
    func settingsShhdCannotHonourStopIt(_ line: String) {
        #expect(throws: OpenSSHConfigError.self) { _ = try resolve(line + "\n") }
    }

    @Test func pubkeyAcceptedAlgorithmsReachesTheProtocolAsTheUnionOfEveryList() throws {
        let settings = try resolve("PubkeyAcceptedAlgorithms ssh-ed25519\nMatch User rsa\n  PubkeyAcceptedAlgorithms rsa-sha2-512\n")
        let accepted = settings.configuration.authentication.acceptedPublicKeyAlgorithms.map(\.name)
        #expect(accepted == ["ssh-ed25519", "rsa-sha2-512"])
        #expect(throws: OpenSSHConfigError.self) { _ = try resolve("PubkeyAcceptedAlgorithms ssh-dss\n") }
        #expect(throws: OpenSSHConfigError.self) { _ = try resolve("Match User x\n  CASignatureAlgorithms nonsense\n") }
    }

    @Test func keyRulesAsMatchLeavesThem() throws {
        let ed25519 = try SSHPrivateKey.generate(type: .ed25519)
        let rsa = try SSHPrivateKey.generate(type: .rsa, bits: 2048)
        let ed25519Algorithm = try #require(SSHHostKeyAlgorithm(name: "ssh-ed25519"))
        let rsaAlgorithm = try #require(SSHHostKeyAlgorithm(name: "rsa-sha2-256"))
        let file = try SSHServerConfigFile.read(text: """
            PubkeyAcceptedAlgorithms ssh-ed25519,rsa-sha2-512,rsa-sha2-256,ssh-ed25519-cert-v01@openssh.com
            Match User strict
              PubkeyAcceptedAlgorithms rsa-sha2-512
              RequiredRSASize 3072
            Match User picky
              CASignatureAlgorithms ssh-ed25519
            """, path: "cfg")
        let everyone = file.settings(for: SSHServerMatchContext(user: "alice"))
        let strict = file.settings(for: SSHServerMatchContext(user: "strict"))
        #expect(ShhdAuthenticator.keyRefusal(.key(ed25519.publicKey), algorithm: ed25519Algorithm, settings: everyone) == nil)
        #expect(ShhdAuthenticator.keyRefusal(.key(rsa.publicKey), algorithm: rsaAlgorithm, settings: everyone) == nil)
        #expect(ShhdAuthenticator.keyRefusal(.key(ed25519.publicKey), algorithm: ed25519Algorithm, settings: strict)?
            .contains("ssh-ed25519 is not in PubkeyAcceptedAlgorithms") == true)
        let sha512 = try #require(SSHHostKeyAlgorithm(name: "rsa-sha2-512"))
        #expect(ShhdAuthenticator.keyRefusal(.key(rsa.publicKey), algorithm: sha512, settings: strict)?
            .contains("RSA key of 2048 bits is under RequiredRSASize 3072") == true)

        // A certificate signed by an RSA CA, for a user whose CASignatureAlgorithms allows ed25519 CAs only.
        let certificate = try SSHCertificate.issue(for: ed25519.publicKey, authority: rsa, kind: .user, keyID: "id", principals: ["picky"])
        let certificateAlgorithm = try #require(SSHHostKeyAlgorithm(name: "ssh-ed25519-cert-v01@openssh.com"))
        let picky = file.settings(for: SSHServerMatchContext(user: "picky"))
        let refusal = ShhdAuthenticator.keyRefusal(.certificate(certificate), algorithm: certificateAlgorithm, settings: picky)
        #expect(refusal?.contains("which CASignatureAlgorithms does not allow") == true, "\(refusal ?? "accepted")")
        #expect(ShhdAuthenticator.keyRefusal(.certificate(certificate), algorithm: certificateAlgorithm, settings: everyone) == nil)
    }
}
