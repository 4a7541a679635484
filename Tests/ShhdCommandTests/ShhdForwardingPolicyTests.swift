// shhd's forwarding policy (issue 18): sshd_config's directives as Match leaves them become the login's
// SSHForwardingPolicy (DisableForwarding over everything, low ports for root only); authorized_keys options and
// certificate extensions restrict the grant as sshd's auth-options.c does; a socket made "as the user" by the
// broker's forked child carries the user's credentials, and one only root may open stays closed.
#if canImport(Glibc)
import Glibc
#endif
import CSSHServerHost
import Foundation
import OpenSSHConfig
import SSH
import SSHForwarding
import SSHKeys
import SSHPOSIX
@testable import ShhdCommand
import Testing

@Suite(.timeLimit(.minutes(5))) struct ShhdForwardingPolicyTests {
    func options(_ text: String, user: String = "alice") throws -> SSHServerOptions {
        let file = try SSHServerConfigFile.read(text: text, path: "cfg")
        return try SSHServerOptions(file.settings(for: SSHServerMatchContext(user: user)))
    }

    @Test func sshdConfigBecomesThePolicy() throws {
        #expect(try options("").forwardingPolicy(uid: 1000) == {
            var policy = SSHForwardingPolicy.openSSHDefaults
            policy.streamLocalBind = SSHStreamLocalBindOptions(unlinkExisting: false, mask: 0o177)
            return policy
        }())
        let policy = try options("""
            AllowTcpForwarding remote
            AllowStreamLocalForwarding local
            GatewayPorts clientspecified
            PermitOpen db:5432
            PermitListen none
            StreamLocalBindUnlink yes
            StreamLocalBindMask 0
            """).forwardingPolicy(uid: 0)
        #expect(policy.tcpForwarding == .remote && policy.streamLocalForwarding == .local && policy.gatewayPorts == .clientSpecified)
        #expect(policy.permitOpen == ["db:5432"] && policy.permitListen == [])
        #expect(policy.streamLocalBind == SSHStreamLocalBindOptions(unlinkExisting: true, mask: 0) && policy.allowsPrivilegedPorts)
        // DisableForwarding wins over everything, inside Match too.
        let disabled = try options("AllowTcpForwarding yes\nMatch User alice\n  DisableForwarding yes\n").forwardingPolicy(uid: 1000)
        #expect(disabled.tcpForwarding == .none && disabled.streamLocalForwarding == .none && !disabled.allowsPrivilegedPorts)
        #expect(try options("Match User alice\n  DisableForwarding yes\n", user: "bob").forwardingPolicy(uid: 1000).tcpForwarding == .all)
    }

    @Test func keyOptionsAndCertificatesRestrictTheGrant() throws {
        func grant(_ options: String, settings: String = "", certificateExtensions: [String]? = nil) throws -> SSHLoginGrant {
            let key = try SSHPrivateKey.generate(type: .ed25519).publicKey
            let file = AuthorizedKeysFile(parsing: (options.isEmpty ? "" : options + " ") + SSHPublicKeyLine(key: key).text, path: "ak")
            let line = try #require(file.entries.first)
            var grant = SSHLoginGrant()
            var certificate: SSHCertificate?
            if let certificateExtensions {
                let authority = try SSHPrivateKey.generate(type: .ed25519)
                certificate = try SSHCertificate.issue(for: key, authority: authority, kind: .user, keyID: "t", principals: ["alice"],
                                                       extensions: certificateExtensions.map { SSHCertificateOption(name: $0) })
            }
            ShhdAuthenticator.restrictForwarding(&grant, settings: try self.options(settings), entry: line, certificate: certificate)
            return grant
        }
        let plain = try grant("")
        #expect(plain.permitsPortForwarding && plain.permitsAgentForwarding && plain.permittedOpens == nil && plain.permittedListens == nil)
        #expect(try !grant("no-port-forwarding").permitsPortForwarding)
        #expect(try !grant("no-agent-forwarding").permitsAgentForwarding)
        let restricted = try grant("restrict")
        #expect(!restricted.permitsPortForwarding && !restricted.permitsAgentForwarding)
        let reopened = try grant("restrict,port-forwarding,agent-forwarding")
        #expect(reopened.permitsPortForwarding && reopened.permitsAgentForwarding)
        let permits = try grant("permitopen=\"db:5432\",permitlisten=\"8080\"")
        #expect(permits.permittedOpens == ["db:5432"] && permits.permittedListens == ["*:8080"])
        #expect(try !grant("", settings: "AllowAgentForwarding no").permitsAgentForwarding)
        let disabled = try grant("", settings: "DisableForwarding yes")
        #expect(!disabled.permitsAgentForwarding && !disabled.permitsPortForwarding)
        let bare = try grant("", certificateExtensions: ["permit-pty"])
        #expect(!bare.permitsPortForwarding && !bare.permitsAgentForwarding)
        let full = try grant("", certificateExtensions: ["permit-port-forwarding", "permit-agent-forwarding"])
        #expect(full.permitsPortForwarding && full.permitsAgentForwarding)
    }

    /// As root: the forked child really is the user (SO_PEERCRED says so) and cannot open a socket only root may.
    @Test(.enabled(if: getuid() == 0, "changing to another user needs root; CI runs as root"))
    func socketsAreMadeAsTheUser() throws {
        guard let nobody = SystemAccount(named: "nobody") else { return }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shh-sockets-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod(directory, 0o777)
        // Made by nobody: owned by nobody, mode from the mask.
        let path = directory + "/made.sock"
        let listener = try #require(try UserSockets.perform(SHH_SOCKET_LISTEN, path: path, mask: 0o111, as: nobody))
        defer { close(listener) }
        var status = stat()
        #expect(lstat(path, &status) == 0 && status.st_uid == nobody.uid && status.st_mode & 0o777 == 0o666)
        // Connected as nobody: the listener sees nobody's uid.
        let connected = try #require(try UserSockets.perform(SHH_SOCKET_CONNECT, path: path, as: nobody))
        defer { close(connected) }
        let accepted = accept(listener, nil, nil)
        #expect(accepted >= 0)
        defer { close(accepted) }
        // struct ucred: pid, uid, gid (Glibc hides the type without _GNU_SOURCE).
        var credentials: [UInt32] = [0, 0, 0]
        var length = socklen_t(12)
        #expect(getsockopt(accepted, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 && credentials[1] == nobody.uid)
        // A socket only root may open (0600, root's) stays closed to nobody.
        let rootOnly = directory + "/root.sock"
        let rootListener = try #require(try UserSockets.perform(SHH_SOCKET_LISTEN, path: rootOnly, as: SystemAccount.current()))
        defer { close(rootListener) }
        #expect(throws: UserSockets.Failure.self) { _ = try UserSockets.perform(SHH_SOCKET_CONNECT, path: rootOnly, as: nobody) }
        // The agent's directory: 0700, nobody's, gone after removal.
        let (agentPath, agentListener) = try UserSockets.makeAgentSocket(as: nobody, suffix: 7)
        close(agentListener)
        let agentDirectory = String(agentPath[..<(agentPath.lastIndex(of: "/") ?? agentPath.endIndex)])
        #expect(lstat(agentDirectory, &status) == 0 && status.st_uid == nobody.uid && status.st_mode & 0o777 == 0o700)
        UserSockets.removeAgentSocket(agentPath, as: nobody)
        #expect(access(agentDirectory, F_OK) != 0)
    }
}
