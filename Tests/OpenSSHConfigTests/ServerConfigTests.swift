// sshd_config as shhd reads it: every sshd keyword known, global ones refused inside Match, first value wins
// (accumulating keywords add up), Match blocks override the top level for the connections they select, and
// errors name file and line.
import Foundation
import OpenSSHConfig
import Testing

@Suite(.timeLimit(.minutes(10))) struct ServerConfigTests {
    @Test func firstValueWinsAndListsAccumulate() throws {
        let file = try SSHServerConfigFile.read(text: """
            # comment
            Port 2200
            Port 2201
            PermitRootLogin no
            PermitRootLogin yes
            AcceptEnv LANG LC_*
            AcceptEnv TZ
            AuthorizedKeysFile .ssh/authorized_keys /etc/keys/%u
            ForceCommand echo 'forced  here'
            """, path: "cfg")
        let config = file.settings(for: nil)
        #expect(config.all("port") == [["2200"], ["2201"]])
        #expect(config["permitrootlogin"] == "no")
        #expect(config.all("acceptenv").flatMap { $0 } == ["LANG", "LC_*", "TZ"])
        #expect(config.arguments("authorizedkeysfile") == [".ssh/authorized_keys", "/etc/keys/%u"])
        #expect(config.arguments("forcecommand") == ["echo 'forced  here'"])
        #expect(config.origins["permitrootlogin"] == "cfg line 4")
    }

    @Test func matchBlocksOverrideTheTopLevelForTheConnectionsTheySelect() throws {
        let file = try SSHServerConfigFile.read(text: """
            PasswordAuthentication no
            MaxSessions 4
            Match User alice,bob Address 10.0.0.0/8
                MaxSessions 1
                Banner /etc/banner-inside
            Match Group admins
                MaxSessions 2
            Match LocalPort 2222
                PermitTTY no
            Match all
                AllowTcpForwarding no
            """, path: "cfg")
        #expect(file.settings(for: nil)["maxsessions"] == "4")
        let alice = file.settings(for: SSHServerMatchContext(user: "alice", address: "10.1.2.3"))
        #expect(alice["maxsessions"] == "1")
        #expect(alice["banner"] == "/etc/banner-inside")
        #expect(alice["passwordauthentication"] == "no")
        #expect(alice["allowtcpforwarding"] == "no")
        let outside = file.settings(for: SSHServerMatchContext(user: "alice", address: "192.168.1.1"))
        #expect(outside["maxsessions"] == "4")
        let admin = file.settings(for: SSHServerMatchContext(user: "carol", groups: ["staff", "admins"], address: "192.168.1.1"))
        #expect(admin["maxsessions"] == "2")
        let onPort = file.settings(for: SSHServerMatchContext(user: "dave", localPort: 2222))
        #expect(onPort["permittty"] == "no")
        let negated = try SSHServerConfigFile.read(text: "Match User !root,*\n  MaxSessions 3\n", path: "cfg")
        #expect(negated.settings(for: SSHServerMatchContext(user: "root"))["maxsessions"] == nil)
        #expect(negated.settings(for: SSHServerMatchContext(user: "eve"))["maxsessions"] == "3")
    }

    @Test(arguments: [
        ("Port 22\nNoSuchThing yes\n", "cfg: line 2: Bad configuration option: NoSuchThing"),
        ("Match User x\n  Port 23\n", "cfg: line 2: Directive 'Port' is not allowed within a Match block"),
        ("Match Colour blue\n", "cfg: line 1: Unsupported Match attribute Colour"),
        ("Match User\n", "cfg: line 1: Missing Match criteria for User"),
        ("Match all User x\n", "cfg: line 1: 'all' cannot be combined with other Match attributes"),
        ("Banner\n", "cfg: line 1: Banner: missing argument"),
        ("AcceptEnv \"LANG\n", "cfg: line 1: an unterminated quote"),
    ])
    func brokenConfigsNameFileAndLine(text: String, message: String) {
        #expect(throws: OpenSSHConfigError.self) { try SSHServerConfigFile.read(text: text, path: "cfg") }
        do {
            _ = try SSHServerConfigFile.read(text: text, path: "cfg")
        } catch {
            #expect("\(error)".hasPrefix(message), "\(error)")
        }
    }

    @Test func deprecatedKeywordsAreNotedAndAliasesMapToTheirKeyword() throws {
        let file = try SSHServerConfigFile.read(text: "Protocol 2\nChallengeResponseAuthentication no\nPubkeyAcceptedKeyTypes ssh-ed25519\n", path: "cfg")
        #expect(file.notes == ["cfg line 1: Deprecated option Protocol"])
        let config = file.settings(for: nil)
        #expect(config["kbdinteractiveauthentication"] == "no")
        #expect(config["pubkeyacceptedalgorithms"] == "ssh-ed25519")
    }

    @Test func includeReadsGlobbedFilesInOrder() throws {
        let directory = NSTemporaryDirectory() + "shhd-include-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/conf.d", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "MaxSessions 7\n".write(toFile: directory + "/conf.d/10-a.conf", atomically: true, encoding: .utf8)
        try "MaxSessions 8\nMaxAuthTries 2\n".write(toFile: directory + "/conf.d/20-b.conf", atomically: true, encoding: .utf8)
        try "Include \(directory)/conf.d/*.conf\nMaxSessions 9\nMaxAuthTries 5\n".write(toFile: directory + "/sshd_config", atomically: true, encoding: .utf8)
        let config = try SSHServerConfigFile.read(path: directory + "/sshd_config").settings(for: nil)
        #expect(config["maxsessions"] == "7")
        #expect(config["maxauthtries"] == "2")
        // The command line's -o comes first and wins.
        let overridden = try SSHServerConfigFile.read(path: directory + "/sshd_config", options: ["MaxSessions 1"]).settings(for: nil)
        #expect(overridden["maxsessions"] == "1")
    }
}
