// ssh's command-line grammar as shh parses it.
import ShhCommand
import SSHCommandLine
import Testing

@Suite(.timeLimit(.minutes(10))) struct ShhArgumentTests {
    @Test func optionsMayFollowTheHostUntilTheCommandStarts() throws {
        let parsed = try ShhArguments.parse(["-p2222", "host", "-l", "u", "-o", "BatchMode yes", "ls", "-la", "-p", "9"])
        #expect(parsed.host == "host")
        #expect(parsed.user == "u")
        #expect(parsed.port == 2222)
        #expect(parsed.configLines == ["BatchMode yes"])
        #expect(parsed.command == ["ls", "-la", "-p", "9"])
    }

    @Test func optionSpellings() throws {
        let parsed = try ShhArguments.parse(["-p", "2222", "-oUser=a", "-o", "Port=1", "-o", "Ciphers aes128-ctr", "-vv", "-i", "key", "h"])
        #expect(parsed.port == 2222)
        #expect(parsed.configLines == ["User=a", "Port=1", "Ciphers aes128-ctr", "IdentityFile \"key\""])
        #expect(parsed.verbosity == 2)
    }

    @Test func userAndPortPrecedence() throws {
        #expect(try ShhArguments.parse(["-l", "a", "b@host"]).user == "a")
        #expect(try ShhArguments.parse(["b@host", "-l", "a"]).user == "b")
        let uri = try ShhArguments.parse(["ssh://deploy@example.com:2200"])
        #expect(uri.user == "deploy" && uri.host == "example.com" && uri.port == 2200)
        let ipv6 = try ShhArguments.parse(["ssh://[::1]:2201/"])
        #expect(ipv6.host == "::1" && ipv6.port == 2201)
        #expect(try ShhArguments.parse(["-p", "1", "ssh://h:2"]).port == 1)
    }

    @Test func whatProgramsPassParses() throws {
        // OpenSSH's sftp and scp with -S shh.
        let sftp = try ShhArguments.parse(["-oForwardX11 no", "-oPermitLocalCommand no", "-oClearAllForwardings yes",
                                           "-oRemoteCommand=none", "-oRequestTTY no", "-oControlMaster no", "-s", "--", "host", "sftp"])
        #expect(sftp.subsystem && sftp.host == "host" && sftp.command == ["sftp"])
        // git's GIT_SSH_COMMAND and ansible's options.
        let git = try ShhArguments.parse(["-o", "SendEnv=GIT_PROTOCOL", "-p", "22", "git@host", "git-upload-pack 'repo.git'"])
        #expect(git.user == "git" && git.command == ["git-upload-pack 'repo.git'"])
        let ansible = try ShhArguments.parse(["-C", "-o", "ControlMaster=auto", "-o", "ControlPersist=60s", "-o", "ControlPath=/tmp/cp", "host", "true"])
        #expect(ansible.configLines.contains("Compression yes"))
    }

    @Test func terminalFlags() throws {
        #expect(try ShhArguments.parse(["-t", "h"]).configLines == ["RequestTTY yes"])
        #expect(try ShhArguments.parse(["-tt", "h"]).configLines == ["RequestTTY force"])
        #expect(try ShhArguments.parse(["-T", "h"]).configLines == ["RequestTTY no"])
    }

    @Test func badInput() throws {
        #expect(throws: CommandLineError.self) { try ShhArguments.parse(["-p", "99999", "h"]) }
        #expect(throws: CommandLineError.self) { try ShhArguments.parse(["-Z", "h"]) }
        #expect(throws: CommandLineError.self) { try ShhArguments.parse(["-1", "h"]) }
        #expect(throws: CommandLineError.self) { try ShhArguments.parse(["h", "-p"]) }
        #expect(try ShhArguments.parse(["-w", "0:0", "h"]).notYetSupported.count == 1)
    }
}

/// OpenSSH 9.6's checks of names typed on the command line, before they can reach %h/%r/%u in a shell command.
@Suite(.timeLimit(.minutes(10))) struct CommandLineNameTests {
    @Test(arguments: ["a;touch x", "host`id`", "-oProxyCommand=x", "host name", "h$(id)", "h|x", "h\u{1B}x", "h\nx"])
    func hostileHostNamesAreRefused(_ host: String) {
        // After "--" even a name that starts with "-" is the destination.
        #expect(throws: (any Error).self) { _ = try ShhArguments.parse(["--", host, "true"]) }
    }

    @Test(arguments: ["$(id)", "u;id", "-oops", "u -x", "u\\", "u`x`", "u\u{7}"])
    func hostileUserNamesAreRefused(_ user: String) {
        #expect(throws: (any Error).self) { _ = try ShhArguments.parse(["-l", user, "host", "true"]) }
        #expect(throws: (any Error).self) { _ = try ShhArguments.parse(["--", user + "@host", "true"]) }
    }

    @Test(arguments: ["example.com", "10.0.0.1", "[::1]", "fe80::1%eth0", "host_name-1"])
    func ordinaryNamesPass(_ host: String) throws {
        let parsed = try ShhArguments.parse(["first.last@" + host, "true"])
        #expect(parsed.user == "first.last")
        let withSpace = try ShhArguments.parse(["-l", "Domain User", host])
        #expect(withSpace.user == "Domain User")
    }
}
