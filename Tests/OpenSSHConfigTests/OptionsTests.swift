// The typed options: their defaults, each choice parsed, a bad value's error naming its file and line, Match
// blocks overriding a typed value, and the -G / -T dumps printing values as written.
import OpenSSHConfig
import SSHProtocol
import Testing

private func clientConfig(_ text: String, host: String = "h", path: String = "cfg") throws -> SSHClientConfig {
    var reader = SSHClientConfigReader(destination: .init(originalHost: host, localUser: "alice", homeDirectory: "/home/alice"),
                                       runCommand: { _ in false })
    reader.followsIncludes = false
    try reader.read(text: text, path: path, userConfig: true)
    return reader.config
}

private func clientOptions(_ text: String) throws -> SSHClientOptions {
    try SSHClientOptions(try clientConfig(text))
}

private func serverOptions(_ text: String, for context: SSHServerMatchContext? = nil) throws -> SSHServerOptions {
    try SSHServerOptions(try SSHServerConfigFile.read(text: text, path: "cfg", followingIncludes: false).settings(for: context))
}

@Suite(.timeLimit(.minutes(10))) struct ClientOptionsTests {
    @Test func nothingSetGivesTheDefaults() throws {
        let options = try SSHClientOptions(SSHClientConfig())
        #expect(options == SSHClientOptions.defaults)
        #expect(options.port == 22)
        #expect(options.user == nil)
        #expect(options.logLevel == .info)
        #expect(options.strictHostKeyChecking == .ask)
        #expect(options.requestTTY == .auto)
        #expect(options.escapeCharacter == .character(UInt8(ascii: "~")))
        #expect(options.identityAgent == .environment("SSH_AUTH_SOCK"))
        #expect(options.identityFiles == ["~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ed25519"])
        #expect(options.userKnownHostsFiles == ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"])
        #expect(options.preferredAuthentications == ["publickey", "keyboard-interactive", "password"])
        #expect(!options.batchMode && !options.hashKnownHosts && !options.identitiesOnly && !options.compression)
        #expect(options.connectionAttempts == 1 && options.serverAliveCountMax == 3 && options.numberOfPasswordPrompts == 3)
        #expect(options.connectTimeout == nil && options.serverAliveInterval == nil)
        #expect(options.algorithms == .defaults)
        #expect(options.enabledFeatures.isEmpty && options.forwards.isEmpty)
    }

    @Test(arguments: [("yes", SSHClientOptions.StrictHostKeyChecking.yes), ("True", .yes), ("accept-new", .acceptNew),
                      ("no", .no), ("off", .no), ("ASK", .ask)])
    func strictHostKeyChecking(text: String, value: SSHClientOptions.StrictHostKeyChecking) throws {
        #expect(try clientOptions("StrictHostKeyChecking \(text)\n").strictHostKeyChecking == value)
    }

    @Test func eachChoiceParses() throws {
        let options = try clientOptions("""
            LogLevel debug2
            RequestTTY Force
            EscapeChar ^]
            IdentityAgent $MY_AGENT
            Compression yes
            BatchMode on
            ConnectTimeout 7
            ServerAliveInterval 15
            Port 2222
            SendEnv LANG LC_*
            SendEnv -LC_*
            SetEnv A=1 B=x=y
            ForwardAgent /tmp/agent.sock
            ForwardX11 no
            ClearAllForwardings yes
            LocalForward 8080 localhost:80
            """)
        #expect(options.logLevel == .debug2)
        #expect(options.requestTTY == .force)
        #expect(options.escapeCharacter == .character(0x1D))
        #expect(options.identityAgent == .environment("MY_AGENT"))
        #expect(options.compression)
        #expect(options.batchMode)
        #expect(options.connectTimeout == .seconds(7))
        #expect(options.serverAliveInterval == .seconds(15))
        #expect(options.port == 2222)
        #expect(options.sendEnvironmentPatterns == ["LANG"])
        #expect(options.setEnvironment == [.init(name: "A", value: "1"), .init(name: "B", value: "x=y")])
        #expect(options.enabledFeatures[.forwardAgent] == OpenSSHConfigOrigin(file: "cfg", line: 13))
        #expect(!options.isOn(.forwardX11))
        #expect(options.isOn(.clearAllForwardings))
        #expect(options.forwards[.local] == [["8080", "localhost:80"]])
        #expect(try clientOptions("EscapeChar none\nIdentityAgent none\n").escapeCharacter == .none)
        #expect(try clientOptions("IdentityAgent ~/agent\n").identityAgent == .socket("~/agent"))
        #expect(try clientOptions("ServerAliveInterval 0\n").serverAliveInterval == nil)
        #expect(try SSHClientOptions(try clientConfig("Port 2222\n"), commandLinePort: 2022).port == 2022)
    }

    @Test(arguments: [
        ("Host *\n  User bob\n  Port abc\n", "Port", 3),
        ("StrictHostKeyChecking maybe\n", "StrictHostKeyChecking", 1),
        ("\nLogLevel LOUD\n", "LogLevel", 2),
        ("BatchMode perhaps\n", "BatchMode", 1),
        ("RequestTTY sometimes\n", "RequestTTY", 1),
        ("EscapeChar abc\n", "EscapeChar", 1),
        ("\n\nCiphers nonsense\n", "Ciphers", 3),
        ("RekeyLimit 1\n", "RekeyLimit", 1),
        ("SetEnv NOEQUALS\n", "SetEnv", 1),
    ])
    func aBadValueNamesItsFileAndLine(text: String, keyword: String, line: Int) throws {
        let config = try clientConfig(text)
        let error = #expect(throws: OpenSSHConfigError.self) { _ = try SSHClientOptions(config) }
        #expect(error?.file == "cfg")
        #expect(error?.line == line)
        if case .badValue(let named, _, _)? = error?.kind { #expect(named == keyword) } else { Issue.record("\(String(describing: error))") }
        #expect(error?.description.hasPrefix("cfg line \(line): invalid \(keyword) value") == true, "\(String(describing: error))")
    }

    @Test func aBadValueGivenWithDashOIsOnTheCommandLine() throws {
        var reader = SSHClientConfigReader(destination: .init(originalHost: "h", localUser: "a", homeDirectory: "/h"), runCommand: { _ in false })
        try reader.apply(option: "ConnectionAttempts=0")
        let error = #expect(throws: OpenSSHConfigError.self) { _ = try SSHClientOptions(reader.config) }
        #expect(error?.file == "command line" && error?.line == 0)
        #expect(error?.description == "command line: invalid ConnectionAttempts value \"0\": expected a positive number")
    }

    @Test func printedLikeSshG() throws {
        var options = try clientOptions("User deploy\nCompression yes\nSendEnv LANG\nStrictHostKeyChecking accept-new\n")
        options.user = "deploy"
        options.identityFiles = ["/home/alice/.ssh/id_ed25519"]
        let printed = options.printed(host: "web")
        #expect(printed.hasPrefix("host web\nuser deploy\nhostname web\nport 22\nstricthostkeychecking accept-new\nbatchmode no\n"))
        #expect(printed.contains("\nidentityfile /home/alice/.ssh/id_ed25519\n"))
        #expect(printed.contains("\ncompression yes\n"))
        #expect(printed.hasSuffix("\nsendenv LANG\n"))
        #expect(!printed.contains("\nuser deploy\nuser"))
    }
}

@Suite(.timeLimit(.minutes(10))) struct ServerOptionsTests {
    @Test func nothingSetGivesTheDefaults() throws {
        let options = try SSHServerOptions(SSHServerConfig())
        #expect(options == SSHServerOptions.defaults)
        #expect(options.ports == [22])
        #expect(options.listeners == [.init(host: "0.0.0.0", port: 22)])
        #expect(options.permitRootLogin == .prohibitPassword)
        #expect(options.logLevel == .info)
        #expect(options.maxAuthTries == 6 && options.maxSessions == 10 && options.clientAliveCountMax == 3)
        #expect(options.loginGraceTime == .seconds(120))
        #expect(options.clientAliveInterval == nil)
        #expect(options.pubkeyAuthentication && options.passwordAuthentication && options.kbdInteractiveAuthentication)
        #expect(options.permitTTY && options.strictModes && options.printMotd && options.tcpKeepAlive)
        #expect(options.authorizedKeysFiles == [".ssh/authorized_keys", ".ssh/authorized_keys2"])
        #expect(options.hostKeyFiles.count == 3)
        #expect(options.pidFile == nil)
        #expect(options.maxStartups == .init(start: 10, rate: 30, full: 100))
        #expect(options.perSourceMaxStartups == 10)
        #expect(options.perSourcePenalties == SSHServerOptions.Penalties())
    }

    @Test(arguments: [("yes", SSHServerOptions.PermitRootLogin.yes), ("prohibit-password", .prohibitPassword),
                      ("without-password", .prohibitPassword), ("forced-commands-only", .forcedCommandsOnly), ("No", .no)])
    func permitRootLogin(text: String, value: SSHServerOptions.PermitRootLogin) throws {
        #expect(try serverOptions("PermitRootLogin \(text)\n").permitRootLogin == value)
    }

    @Test func eachChoiceParses() throws {
        let options = try serverOptions("""
            Port 2200
            Port 2201
            ListenAddress 127.0.0.1
            ListenAddress [::1]:2300
            AddressFamily any
            LogLevel VERBOSE
            PasswordAuthentication no
            LoginGraceTime 1m30s
            ClientAliveInterval 0
            ClientAliveCountMax 0
            MaxStartups 5:50:20
            PerSourcePenalties authfail:30s max-sources4:10 overflow:deny-all
            PerSourceNetBlockSize 24:64
            PidFile none
            """)
        #expect(options.ports == [2200, 2201])
        #expect(options.listeners == [.init(host: "127.0.0.1", port: 2200), .init(host: "127.0.0.1", port: 2201), .init(host: "::1", port: 2300)])
        #expect(options.logLevel == .verbose)
        #expect(!options.passwordAuthentication)
        #expect(options.loginGraceTime == .seconds(90))
        #expect(options.clientAliveInterval == nil && options.clientAliveCountMax == 0)
        #expect(options.maxStartups == .init(start: 5, rate: 50, full: 20))
        #expect(options.perSourcePenalties?.authenticationFailure == .seconds(30))
        #expect(options.perSourcePenalties?.maximumSourcesIPv4 == 10)
        #expect(options.perSourcePenalties?.denyAllOnOverflowIPv4 == true)
        #expect(options.perSourceNetBlockSize == .init(ipv4: 24, ipv6: 64))
        #expect(options.pidFile == nil)
        #expect(try serverOptions("LoginGraceTime 0\n").loginGraceTime == nil)
        #expect(try serverOptions("AddressFamily inet6\n").listeners == [.init(host: "::", port: 22)])
        #expect(try serverOptions("PerSourcePenalties no\n").perSourcePenalties == nil)
        #expect(try SSHServerOptions(SSHServerConfig(), commandLinePorts: [2022, 2022]).ports == [2022])
    }

    @Test(arguments: [
        ("Port 2222\n# comment\nPort 99999\n", "Port", 3),
        ("MaxAuthTries 0\n", "MaxAuthTries", 1),
        ("\nLoginGraceTime soon\n", "LoginGraceTime", 2),
        ("AddressFamily inet4\n", "AddressFamily", 1),
        ("ListenAddress 127.0.0.1:1\nListenAddress 127.0.0.1:0x\n", "ListenAddress", 2),
        ("MaxStartups 10:30\n", "MaxStartups", 1),
        ("\nKexAlgorithms nonsense\n", "KexAlgorithms", 2),
        ("PermitRootLogin sometimes\n", "PermitRootLogin", 1),
    ])
    func aBadValueNamesItsFileAndLine(text: String, keyword: String, line: Int) throws {
        let config = try SSHServerConfigFile.read(text: text, path: "cfg").settings(for: nil)
        let error = #expect(throws: OpenSSHConfigError.self) { _ = try SSHServerOptions(config) }
        #expect(error?.file == "cfg")
        #expect(error?.line == line)
        if case .badValue(let named, _, _)? = error?.kind { #expect(named == keyword) } else { Issue.record("\(String(describing: error))") }
        #expect(error?.description.hasPrefix("cfg line \(line): invalid \(keyword) value") == true, "\(String(describing: error))")
    }

    @Test func matchOverridesATypedValue() throws {
        let text = """
            PermitRootLogin no
            MaxSessions 4
            Match User alice
              PermitRootLogin forced-commands-only
              MaxSessions 1
              PasswordAuthentication no
            """
        let alice = try serverOptions(text, for: SSHServerMatchContext(user: "alice"))
        #expect(alice.permitRootLogin == .forcedCommandsOnly)
        #expect(alice.maxSessions == 1)
        #expect(!alice.passwordAuthentication)
        let bob = try serverOptions(text, for: SSHServerMatchContext(user: "bob"))
        #expect(bob.permitRootLogin == .no)
        #expect(bob.maxSessions == 4)
        #expect(bob.passwordAuthentication)
        #expect(try serverOptions(text).permitRootLogin == .no)
    }

    @Test func checkValuesLooksInsideEveryMatchBlock() throws {
        let file = try SSHServerConfigFile.read(text: "PermitTTY yes\nMatch User nobody-at-all\n  PermitRootLogin perhaps\n", path: "cfg")
        let error = #expect(throws: OpenSSHConfigError.self) { try file.checkValues() }
        #expect(error?.file == "cfg" && error?.line == 3)
        #expect(error?.description == "cfg: line 3: invalid PermitRootLogin value \"perhaps\": expected yes, prohibit-password, forced-commands-only or no")
        try SSHServerConfigFile.read(text: "PermitRootLogin without-password\nMatch User x\n  PermitTTY no\n", path: "cfg").checkValues()
        let algorithms = try SSHServerConfigFile.read(text: "Match User x\n  CASignatureAlgorithms nonsense\n", path: "cfg")
        let algorithmError = #expect(throws: OpenSSHConfigError.self) { try algorithms.checkValues() }
        #expect(algorithmError?.file == "cfg" && algorithmError?.line == 2)
        #expect(algorithmError?.description.hasPrefix("cfg line 2: invalid CASignatureAlgorithms value \"nonsense\"") == true)
    }

    @Test func everyMatchListOfPublicKeyAlgorithmsCounts() throws {
        let file = try SSHServerConfigFile.read(text: "PubkeyAcceptedAlgorithms ssh-ed25519\nMatch User rsa\n  PubkeyAcceptedAlgorithms rsa-sha2-512\n", path: "cfg")
        let global = try SSHServerOptions(file.settings(for: nil))
        #expect(try file.publicKeyAlgorithmsAnyMatchMayAccept(global: global).map(\.name) == ["ssh-ed25519", "rsa-sha2-512"])
    }

    @Test func printedLikeSshdT() throws {
        let file = try SSHServerConfigFile.read(text: "PasswordAuthentication No\nAcceptEnv LANG\nAcceptEnv TZ\nMatch User root\n  MaxSessions 3\n", path: "cfg")
        let listeners = [SSHServerOptions.Listener(host: "127.0.0.1", port: 2222), .init(host: "::1", port: 2222)]
        let printed = file.settings(for: nil).printed(listeners: listeners, hostKeysLoaded: false, algorithms: .defaults, loginGraceTime: .seconds(120))
        #expect(printed.hasPrefix("port 2222\nlistenaddress 127.0.0.1:2222\nlistenaddress [::1]:2222\nciphers "))
        #expect(printed.contains("\nmaxauthtries 6\nmaxsessions 10\nlogingracetime 120\npermitrootlogin without-password\n"))
        // As written, not as parsed.
        #expect(printed.contains("\npasswordauthentication No\n"))
        #expect(printed.contains("\nauthorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2\n"))
        #expect(printed.hasSuffix("\nacceptenv LANG\nacceptenv TZ\n"))
        let root = file.settings(for: SSHServerMatchContext(user: "root"))
            .printed(listeners: listeners, hostKeysLoaded: false, algorithms: .defaults, loginGraceTime: .seconds(120))
        #expect(root.contains("\nmaxsessions 3\n"))
    }

    @Test func forwardingOptionsWithSshdsDefaultsAndMeanings() throws {
        let defaults = try SSHServerOptions(try SSHServerConfigFile.read(text: "", path: "cfg").settings(for: nil))
        #expect(defaults.allowTcpForwarding == .all && defaults.allowStreamLocalForwarding == .all && defaults.allowAgentForwarding)
        #expect(!defaults.disableForwarding && defaults.gatewayPorts == .no && defaults.permitOpen == nil && defaults.permitListen == nil)
        #expect(!defaults.streamLocalBindUnlink && defaults.streamLocalBindMask == 0o177)
        let text = """
            AllowTcpForwarding local
            AllowStreamLocalForwarding all
            AllowAgentForwarding no
            GatewayPorts clientspecified
            PermitOpen db:5432 [::1]:22 *:443
            PermitOpen ignored:1
            PermitListen 8080 localhost:*
            StreamLocalBindUnlink yes
            StreamLocalBindMask 0117
            Match User bob
              PermitOpen none
              AllowTcpForwarding remote
            """
        let file = try SSHServerConfigFile.read(text: text, path: "cfg")
        try file.checkValues()
        let options = try SSHServerOptions(file.settings(for: nil))
        #expect(options.allowTcpForwarding == .local && options.allowStreamLocalForwarding == .all && !options.allowAgentForwarding)
        #expect(options.gatewayPorts == .clientSpecified)
        // The first PermitOpen line wins, all its arguments taken (servconf.c).
        #expect(options.permitOpen == ["db:5432", "[::1]:22", "*:443"])
        #expect(options.permitListen == ["8080", "localhost:*"])
        #expect(options.streamLocalBindUnlink && options.streamLocalBindMask == 0o117)
        let bob = try SSHServerOptions(file.settings(for: SSHServerMatchContext(user: "bob")))
        #expect(bob.permitOpen == [] && bob.allowTcpForwarding == .remote)
        let printed = file.settings(for: nil).printed(listeners: [], hostKeysLoaded: false, algorithms: .defaults, loginGraceTime: .seconds(120))
        for line in ["allowtcpforwarding local", "allowagentforwarding no", "disableforwarding no", "gatewayports clientspecified",
                     "permitopen db:5432 [::1]:22 *:443", "permitlisten 8080 localhost:*", "streamlocalbindmask 0117", "streamlocalbindunlink yes"] {
            #expect(printed.contains("\n\(line)\n"), "\(line): \(printed)")
        }
        let printedDefaults = try SSHServerConfigFile.read(text: "", path: "cfg").settings(for: nil)
            .printed(listeners: [], hostKeysLoaded: false, algorithms: .defaults, loginGraceTime: .seconds(120))
        #expect(printedDefaults.contains("\npermitopen any\npermitlisten any\nstreamlocalbindunlink no\nstreamlocalbindmask 0177\n"), "\(printedDefaults)")
    }

    @Test(arguments: ["AllowTcpForwarding sometimes", "GatewayPorts maybe", "PermitOpen db", "PermitOpen any db:1", "PermitOpen db:99999",
                      "PermitListen host:", "StreamLocalBindMask 0999", "StreamLocalBindMask 01777", "DisableForwarding perhaps"])
    func badForwardingValuesNameTheirLine(_ line: String) throws {
        let file = try SSHServerConfigFile.read(text: "Port 22\n" + line + "\n", path: "cfg")
        #expect(throws: OpenSSHConfigError.self) { try file.checkValues() }
        #expect(throws: OpenSSHConfigError.self) { _ = try SSHServerOptions(file.settings(for: nil)) }
    }
}
