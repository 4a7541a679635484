// ssh_config reading: the tokenizer, Host and Match selection, first value wins, Include, IgnoreUnknown, errors
// that name file and line, and %-tokens.
import Foundation
import OpenSSHConfig
import Testing

private func withFiles(_ files: [String: String], _ body: (String) throws -> Void) throws {
    let directory = NSTemporaryDirectory() + "shh-config-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory + "/.ssh/conf.d", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    for (name, text) in files { try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8) }
    try body(directory)
}

private func read(_ home: String, host: String, user: String? = nil, options: [String] = [],
                  exec: @escaping (String) -> Bool = { _ in false }) throws -> SSHClientConfigReader {
    var reader = SSHClientConfigReader(destination: .init(originalHost: host, commandLineUser: user, localUser: "alice", homeDirectory: home),
                                       runCommand: exec)
    for option in options { try reader.apply(option: option) }
    try reader.read(path: home + "/.ssh/config", userConfig: true, required: false)
    return reader
}

@Suite(.timeLimit(.minutes(10))) struct ConfigTokenizerTests {
    @Test(arguments: [
        ("Port 2222", "Port", ["2222"]),
        ("Port=2222", "Port", ["2222"]),
        ("  Port = 2222  ", "Port", ["2222"]),
        ("\tUser\t\"a b\"", "User", ["a b"]),
        ("SendEnv LANG LC_* # trailing comment", "SendEnv", ["LANG", "LC_*"]),
        ("RemoteCommand echo 'single quoted' \"x\\\"y\"", "RemoteCommand", ["echo", "single quoted", "x\"y"]),
    ])
    func lines(line: String, keyword: String, arguments: [String]) throws {
        let split = try #require(try ConfigTokenizer.split(line))
        #expect(split.keyword == keyword)
        #expect(split.arguments == arguments)
    }

    @Test func commandKeywordsKeepTheRestOfTheLineAsWritten() throws {
        // ProxyCommand and RemoteCommand go to a shell: quotes and spacing must reach it untouched (readconf.c).
        try withFiles([".ssh/config": "Host *\n  ProxyCommand=nc -X connect -x \"proxy:8080\"  %h %p\n  RemoteCommand echo 'a  b'\n"]) { home in
            let config = try read(home, host: "h").config
            #expect(config.arguments("proxycommand") == ["nc -X connect -x \"proxy:8080\"  %h %p"])
            #expect(config.arguments("remotecommand") == ["echo 'a  b'"])
        }
        var reader = SSHClientConfigReader(destination: .init(originalHost: "h", localUser: "alice", homeDirectory: "/nonexistent"),
                                           runCommand: { _ in false })
        try reader.apply(option: "ProxyCommand ssh -W '%h:%p' jump")
        #expect(reader.config.arguments("proxycommand") == ["ssh -W '%h:%p' jump"])
    }

    @Test func blankAndCommentLinesAreNothing() throws {
        #expect(try ConfigTokenizer.split("") == nil)
        #expect(try ConfigTokenizer.split("   # Host *") == nil)
    }

    @Test func anUnterminatedQuoteIsAnErrorNamingFileAndLine() throws {
        try withFiles([".ssh/config": "Host x\n  User \"open\n"]) { home in
            let error = #expect(throws: OpenSSHConfigError.self) { _ = try read(home, host: "x") }
            #expect(error?.line == 2)
            #expect(error?.description.contains("unterminated quote") == true)
        }
    }
}

@Suite(.timeLimit(.minutes(10))) struct ClientConfigTests {
    @Test func hostBlocksSelectAndTheFirstValueWins() throws {
        let config = """
            Host web*.example.com !web3.example.com
              User deploy
              Port 2200
            Host *
              User nobody
              Port 22
              IdentityFile ~/.ssh/first
            Host web1.example.com
              IdentityFile ~/.ssh/second
            """
        try withFiles([".ssh/config": config]) { home in
            let web1 = try read(home, host: "web1.example.com").config
            #expect(web1["user"] == "deploy")
            #expect(web1["port"] == "2200")
            #expect(web1.all("identityfile") == [["~/.ssh/first"], ["~/.ssh/second"]])
            // The negated pattern vetoes the block for web3.
            let web3 = try read(home, host: "web3.example.com").config
            #expect(web3["user"] == "nobody")
            // Command-line options come first, so they win.
            let overridden = try read(home, host: "web1.example.com", options: ["User=root", "Port 1"]).config
            #expect(overridden["user"] == "root")
            #expect(overridden["port"] == "1")
        }
    }

    @Test func matchCriteriaAndNegation() throws {
        let config = """
            Host short
              HostName real.example.com
            Match host real.example.com user admin
              Port 1001
            Match originalhost short !localuser bob
              User admin
            Match exec "test %h = real.example.com"
              Port 1002
            Match all
              Port 1003
              Compression yes
            """
        try withFiles([".ssh/config": config]) { home in
            var commands: [String] = []
            let reader = try read(home, host: "short", exec: { commands.append($0); return true })
            // "Match host" sees HostName; "user admin" did not hold yet on that line (User came after).
            #expect(reader.config["user"] == "admin")
            #expect(reader.config["port"] == "1002")
            #expect(commands == ["test real.example.com = real.example.com"])
            let asAdmin = try read(home, host: "short", user: "admin").config
            #expect(asAdmin["port"] == "1001")
        }
    }

    @Test func includeReadsGlobsInPlaceRelativeToDotSSH() throws {
        let files = [
            ".ssh/config": "Include conf.d/*.conf\nHost *\n  User fallback\n",
            ".ssh/conf.d/10-a.conf": "Host a\n  User from-a\n",
            ".ssh/conf.d/20-b.conf": "Host a b\n  Port 4000\n  User from-b\n",
        ]
        try withFiles(files) { home in
            let a = try read(home, host: "a").config
            #expect(a["user"] == "from-a")
            #expect(a["port"] == "4000")
            #expect(try read(home, host: "c").config["user"] == "fallback")
        }
    }

    @Test func unknownKeywordsAreErrorsUnlessIgnored() throws {
        try withFiles([".ssh/config": "Host *\n  Port 22\n  UseKeychain yes\n"]) { home in
            let error = #expect(throws: OpenSSHConfigError.self) { _ = try read(home, host: "x") }
            #expect(error?.line == 3)
            #expect(error?.description == "\(home)/.ssh/config: line 3: Bad configuration option: UseKeychain")
        }
        try withFiles([".ssh/config": "IgnoreUnknown UseKeychain,AddKeysToAgentX\nHost *\n  UseKeychain yes\n"]) { home in
            let reader = try read(home, host: "x")
            #expect(reader.notes.contains { $0.contains("UseKeychain") })
        }
    }

    @Test func aliasesAndDeprecatedKeywords() throws {
        try withFiles([".ssh/config": "PubkeyAcceptedKeyTypes ssh-ed25519\nProtocol 2\nKeepAlive no\n"]) { home in
            let reader = try read(home, host: "x")
            #expect(reader.config["pubkeyacceptedalgorithms"] == "ssh-ed25519")
            #expect(reader.config["tcpkeepalive"] == "no")
            #expect(reader.config["protocol"] == nil)
            #expect(reader.notes.contains { $0.contains("Deprecated option \"Protocol\"") })
        }
    }

    @Test func percentTokens() throws {
        let tokens = PercentTokens(host: "real.example.com", originalHost: "short", port: "2222", remoteUser: "deploy",
                                   localUser: "alice", homeDirectory: "/home/alice")
        #expect(try tokens.expand("%d/.ssh/%r@%h:%p (%n, %u) 100%%") == "/home/alice/.ssh/deploy@real.example.com:2222 (short, alice) 100%")
        #expect(try tokens.expand("%C").count == 40)
        #expect(throws: PercentTokens.UnknownToken.self) { try tokens.expand("%z") }
        #expect(PercentTokens.expandHostName("%h.internal", host: "db") == "db.internal")
        // %k is HostKeyAlias, else the host as typed; %j is ProxyJump ("" without one).
        #expect(try tokens.expand("%k [%j]") == "short []")
        var aliased = tokens
        aliased.hostKeyAlias = "alias"
        aliased.proxyJump = "jump"
        #expect(try aliased.expand("%k %j") == "alias jump")
        #expect(try aliased.expand("%C") != tokens.expand("%C"), "%C covers %j")
        // %T is LocalCommand's alone: the tunnel's interface, NONE without a tunnel.
        let unknownT = #expect(throws: PercentTokens.UnknownToken.self) { try tokens.expand("%T") }
        #expect(unknownT?.token == "T")
        #expect(try tokens.expandLocalCommand("echo %r@%h:%p %T") == "echo deploy@real.example.com:2222 NONE")
        #expect(try tokens.expandLocalCommand("%T", tunnelInterface: "tun0") == "tun0")
        let unknownF = #expect(throws: PercentTokens.UnknownToken.self) { try tokens.expandLocalCommand("%f") }
        #expect(unknownF?.token == "f")
    }
}
