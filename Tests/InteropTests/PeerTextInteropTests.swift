// Text a peer chose is escaped before shhd logs it or shh shows it (PeerText): a user name cannot forge a log
// line, and a banner cannot send escape sequences to the user's terminal.
import Foundation
import Testing

@Suite("peer text is escaped in logs and on terminals", .enabled(if: isRootUser, "logging in as root needs root; CI runs as root"),
       .timeLimit(.minutes(5)))
struct PeerTextInteropTests {
    /// paramiko asking for a method list ("none", which makes shhd look the user up and log "Invalid user") and then
    /// trying a password, as a user name with control characters in it. Prints the exception that ended it.
    static let paramikoHostileUser = #"""
        import socket, sys, paramiko
        port, known_hosts, user = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        expected = paramiko.HostKeys(known_hosts).lookup("[127.0.0.1]:%d" % port)
        transport = paramiko.Transport(socket.create_connection(("127.0.0.1", port), timeout=30))
        transport.start_client(timeout=30)
        key = transport.get_remote_server_key()
        if expected is None or expected.get(key.get_name()) != key:
            raise SystemExit("unexpected host key " + key.get_base64())
        try:
            transport.auth_none(user)
        except paramiko.AuthenticationException as error:
            print("NONE", type(error).__name__)
        try:
            transport.auth_password(user, "not the password")
            print("LOGGED IN")
        except paramiko.AuthenticationException as error:
            print("PASSWORD", type(error).__name__)
        transport.close()
        """#

    static func knownHosts(_ fixture: ShhdFixture, _ server: TestShhd) throws -> String {
        let path = fixture.directory + "/known_hosts-\(server.port)"
        try "[127.0.0.1]:\(server.port) \(try String(contentsOfFile: fixture.hostKeyPublic, encoding: .utf8))"
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A newline in a user name would start a log line of the client's choosing (one a log watcher trusts); CR, an
    /// escape sequence, a bidi override and a line separator would hide or reorder what an administrator reads.
    @Test func aUserNameCannotForgeALogLine() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let forged = "Accepted publickey for root from 1.2.3.4"
        let user = "x\n\(forged) port 22 ssh2\r\u{1b}[2K\u{202e}gnp.exe\u{2028}y"
        let client = try await runAsync("/usr/bin/env", ["python3", "-c", Self.paramikoHostileUser, "\(server.port)", try Self.knownHosts(fixture, server), user],
                                        deadline: 120)
        #expect(client.stdout == "NONE BadAuthenticationType\nPASSWORD AuthenticationException\n", "\(client.stdout) \(client.stderr.suffix(2000))")
        // The line is written as the request is handled: wait for it, then read the whole log.
        let escaped = #"x\012Accepted publickey for root from 1.2.3.4 port 22 ssh2\015\033[2K\u{202e}gnp.exe\u{2028}y"#
        #expect(await eventually(20) { server.logText.contains("Invalid user \(escaped) from 127.0.0.1 port ") }, "\(server.logText)")
        let log = server.logText
        #expect(!log.split(separator: "\n").contains { $0.hasPrefix(forged) }, "a forged line: \(log)")
        #expect(log.contains(#"\012Accepted"#), "\(log)")
        // None of the characters reached the log as themselves (the log's own newlines aside).
        let raw: [Unicode.Scalar] = ["\r", "\u{1b}", "\u{202e}", "\u{2028}"]
        #expect(!log.unicodeScalars.contains { raw.contains($0) }, "\(log.debugDescription)")
    }

    /// A banner that would retitle the window and clear the screen reaches shh's stderr as visible escapes, its
    /// line break kept.
    @Test func aBannerCannotDriveTheTerminal() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let bannerFile = fixture.directory + "/banner"
        try "\u{1b}]0;pwned\u{07}\u{1b}[2Jhello\n".write(toFile: bannerFile, atomically: true, encoding: .utf8)
        let server = try await fixture.startEmbedded(["-o", "Banner \(bannerFile)"])
        defer { server.terminate() }
        let result = try await runAsync(shhPath, ["-F", "none", "-p", "\(server.port)", "-i", fixture.identity, "-o", "BatchMode=yes",
                                                  "-o", "UserKnownHostsFile=\(try Self.knownHosts(fixture, server))", "\(testLogin)@127.0.0.1", "echo", "ran"])
        #expect(result.status == 0 && result.stdout == "ran\n", "\(result.stdout) \(result.stderr.debugDescription) \(server.logText)")
        #expect(result.stderr.contains(#"\033]0;pwned\007\033[2Jhello"# + "\n"), "\(result.stderr.debugDescription)")
        #expect(!result.stderr.utf8.contains(0x1B) && !result.stderr.utf8.contains(0x07), "\(result.stderr.debugDescription)")
    }
}
