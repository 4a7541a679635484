// -J / ProxyJump as ssh reads it (readconf.c parse_jump, misc.c parse_user_host_port and parse_uri), what ssh
// passes on to the jump process (-l, -p, -J with the earlier hops, -F, -v; never -i or -o), ProxyJump against
// ProxyCommand (the first read wins), and ForwardAgent's forms with -A/-a.
import Foundation
import OpenSSHConfig
@testable import ShhCommand
import SSHCommandLine
import Testing

typealias Hop = SSHClientOptions.JumpHost

@Suite(.timeLimit(.minutes(10))) struct JumpHostTests {
    @Test(arguments: [
        ("bastion", [Hop(host: "bastion")]),
        ("me@bastion:2222", [Hop(user: "me", host: "bastion", port: 2222)]),
        ("a@b@bastion", [Hop(user: "a@b", host: "bastion")]),
        ("[::1]:2200", [Hop(host: "::1", port: 2200)]),
        ("[fe80::1]", [Hop(host: "fe80::1")]),
        ("host:", [Hop(host: "host")]),
        ("one,two@second:23,ssh://third", [Hop(host: "one"), Hop(user: "two", host: "second", port: 23), Hop(host: "third")]),
        ("ssh://deploy@inner.example.com:2201/", [Hop(user: "deploy", host: "inner.example.com", port: 2201)]),
        ("ssh://a%40b+c;fingerprint=x@h", [Hop(user: "a@b c", host: "h")]),
        ("ssh://h/", [Hop(host: "h")]),
        ("bastion # the way in", [Hop(host: "bastion")]),
        ("none", []),
        ("NONE", []),
    ])
    func hopsParse(_ text: String, _ expected: [Hop]) {
        #expect(SSHClientOptions.jumpHosts(text) == expected, "\(text)")
    }

    @Test(arguments: ["", "@host", "user@", "host:0", "host:65536", "host:ssh2", "host/22", "::1", "[::1", "[::1]x", "a,,b", "a,",
                      "ssh://", "ssh://@h", "ssh://h/path", "ssh://[::1]", "ssh://-h", "ssh://h:x", "ssh://a%zz@h", "ssh://h..x"])
    func malformedHopsDoNotParse(_ text: String) {
        #expect(SSHClientOptions.jumpHosts(text) == nil, "\(text)")
    }

    @Test func hopsPrintBackAsTheyParse() {
        for text in ["me@bastion:2222", "[::1]:22", "plain"] {
            #expect(SSHClientOptions.jumpHosts(text)?.map(\.description) == [text])
        }
    }

    @Test func dashJBecomesAProxyJumpLine() throws {
        let parsed = try ShhArguments.parse(["-J", "me@a:2,b", "-o", "ProxyCommand nc %h %p", "target"])
        #expect(parsed.configLines == ["ProxyJump \"me@a:2,b\"", "ProxyCommand nc %h %p"])
        #expect(try ShhArguments.parse(["-J", "none", "h"]).configLines == ["ProxyJump \"none\""])
    }

    @Test(arguments: [
        (["-J", "a", "-J", "b", "h"], "Only a single -J option is permitted (use commas to separate multiple jump hops)"),
        (["-o", "ProxyJump=a", "-J", "b", "h"], "Only a single -J option is permitted (use commas to separate multiple jump hops)"),
        (["-o", "ProxyCommand=nc %h %p", "-J", "b", "h"], "Cannot specify -J with ProxyCommand"),
        (["-J", "a;b", "h"], "Invalid -J argument"),
        (["-J", "-oops", "h"], "Invalid -J argument"),
        (["-J", "us'er@a", "h"], "Invalid -J argument"),
        (["-J", "a:99999", "h"], "Invalid -J argument"),
    ])
    func dashJRefusesAsSSHDoes(_ arguments: [String], _ message: String) {
        #expect {
            try ShhArguments.parse(arguments)
        } throws: { error in
            (error as? ShhFailure)?.message == message
        }
    }

    @Test func theLastDashAOrDashAWins() throws {
        #expect(try ShhArguments.parse(["-a", "-A", "h"]).configLines == ["ForwardAgent yes"])
        #expect(try ShhArguments.parse(["-A", "-a", "h"]).configLines == ["ForwardAgent no"])
        #expect(try ShhArguments.parse(["-o", "ForwardAgent=no", "-A", "h"]).configLines == ["ForwardAgent yes"])
    }

    /// ssh's jump process gets -l and -p from the hop, -J with the hops before it, -F and -v from us, and nothing
    /// else: not -i, not -o, not -p of the destination.
    @Test func theJumpGetsOnlyWhatSSHPasses() throws {
        let outer = try ShhArguments.parse(["-F", "/tmp/cfg", "-vv", "-i", "key", "-o", "User=x", "-p", "2200", "-A", "-t",
                                            "-J", "a,me@b:23,c", "target", "uptime"])
        let hops = try #require(SSHClientOptions.jumpHosts("a,me@b:23,c"))
        let last = JumpHosts.arguments(for: hops[2], through: hops[..<2], from: outer)
        #expect(last.host == "c" && last.user == nil && last.port == nil)
        #expect(last.configFile == "/tmp/cfg" && last.verbosity == 2)
        #expect(last.configLines == ["ProxyJump \"a,me@b:23\""])
        #expect(last.noCommand && last.command.isEmpty)
        let middle = JumpHosts.arguments(for: hops[1], through: hops[..<1], from: outer)
        #expect(middle.host == "b" && middle.user == "me" && middle.port == 23 && middle.configLines == ["ProxyJump \"a\""])
        let first = JumpHosts.arguments(for: hops[0], through: hops[..<0], from: outer)
        #expect(first.host == "a" && first.configLines.isEmpty)
    }

    /// Each hop is configured by its own Host block, the destination by its own.
    @Test func eachHopResolvesItsOwnHostBlock() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shh-jump-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/config"
        try """
            Host bastion
                HostName 127.0.0.2
                User jumper
                Port 2022
                IdentityFile \(directory)/bastion_key
                ProxyJump outer
            Host target
                HostName 10.0.0.5
                User deployer
                IdentityFile \(directory)/target_key
                ProxyJump bastion
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let outer = try ShhArguments.parse(["-F", config, "-i", directory + "/cli_key", "target", "true"])
        let target = try ClientSettings.resolve(outer, host: "target", diagnostics: Diagnostics())
        #expect(target.proxyJump == [Hop(host: "bastion")])
        #expect(target.hostName == "10.0.0.5" && target.user == "deployer" && target.port == 22)
        let hop = try #require(target.proxyJump.last)
        let hopArguments = JumpHosts.arguments(for: hop, through: target.proxyJump.dropLast(), from: outer)
        let bastion = try ClientSettings.resolve(hopArguments, host: hop.host, diagnostics: Diagnostics())
        #expect(bastion.hostName == "127.0.0.2" && bastion.user == "jumper" && bastion.port == 2022)
        #expect(bastion.identityFiles == [directory + "/bastion_key"], "the command line's -i is not the jump's")
        #expect(bastion.knownHostsName == "[127.0.0.2]:2022")
        // The hop's own ProxyJump applies to it, as it would to ssh's jump process.
        #expect(bastion.proxyJump == [Hop(host: "outer")])

        // A hop that names its user and port beats its Host block, as -l and -p do.
        let named = JumpHosts.arguments(for: Hop(user: "other", host: "bastion", port: 2200), through: [], from: outer)
        let overridden = try ClientSettings.resolve(named, host: "bastion", diagnostics: Diagnostics())
        #expect(overridden.user == "other" && overridden.port == 2200 && overridden.knownHostsName == "[127.0.0.2]:2200")
    }

    /// The first of ProxyJump and ProxyCommand read wins; ProxyJump none leaves ProxyCommand free.
    @Test(arguments: [
        ("ProxyCommand nc %h %p\nProxyJump a", "nc %h %p", [Hop]()),
        ("ProxyJump a\nProxyCommand nc %h %p", nil, [Hop(host: "a")]),
        ("ProxyJump none\nProxyCommand nc %h %p", "nc %h %p", []),
        ("ProxyCommand none\nProxyJump a", nil, []),
        ("ProxyJump a\nProxyJump b", nil, [Hop(host: "a")]),
    ])
    func proxyJumpAndProxyCommandExcludeEachOther(_ text: String, _ command: String?, _ hops: [Hop]) throws {
        var reader = SSHClientConfigReader(destination: .init(originalHost: "h", localUser: "me", homeDirectory: "/home/me"),
                                           runCommand: { _ in false })
        try reader.read(text: text, path: "cfg", userConfig: true)
        let options = try SSHClientOptions(reader.config)
        #expect(options.proxyCommand == command)
        #expect(options.proxyJump == hops)
    }

    @Test func aBadProxyJumpIsAnErrorEvenWhereItDoesNotApply() throws {
        var reader = SSHClientConfigReader(destination: .init(originalHost: "h", localUser: "me", homeDirectory: "/home/me"),
                                           runCommand: { _ in false })
        #expect {
            try reader.read(text: "Host elsewhere\n    ProxyJump a,,b\n", path: "cfg", userConfig: true)
        } throws: { error in
            "\(error)".contains("cfg line 2") && "\(error)".contains("ProxyJump")
        }
    }

    @Test func forwardAgentForms() throws {
        func options(_ line: String) throws -> SSHClientOptions {
            var reader = SSHClientConfigReader(destination: .init(originalHost: "h", localUser: "me", homeDirectory: "/home/me"),
                                               runCommand: { _ in false })
            try reader.read(text: line, path: "cfg", userConfig: true)
            return try SSHClientOptions(reader.config)
        }
        #expect(try options("ForwardAgent yes").forwardAgent == .yes)
        #expect(try options("ForwardAgent TRUE").forwardAgent == .yes)
        #expect(try options("ForwardAgent no").forwardAgent == .no)
        #expect(try options("IdentitiesOnly yes").forwardAgent == .no)
        #expect(try options("ForwardAgent ~/.ssh/agent-%r").forwardAgent == .socket("~/.ssh/agent-%r"))
        #expect(try options("ForwardAgent ${XDG_RUNTIME_DIR}/agent").forwardAgent == .socket("${XDG_RUNTIME_DIR}/agent"))
        #expect(try options("ForwardAgent $MY_AGENT").forwardAgent == .environment("MY_AGENT"))
        #expect(throws: OpenSSHConfigError.self) { try options("ForwardAgent $1BAD") }
    }

    /// What each form forwards: -A the agent shh uses itself (IdentityAgent here), a path expanded, an unset
    /// variable nothing, -a nothing.
    @Test func forwardAgentResolvesToASocket() throws {
        func socket(_ arguments: [String]) throws -> String? {
            let parsed = try ShhArguments.parse(["-F", "none", "-o", "IdentityAgent=/run/agent.sock"] + arguments + ["me@h"])
            return try ClientSettings.resolve(parsed, host: "h", diagnostics: Diagnostics()).forwardAgentSocket
        }
        #expect(try socket(["-A"]) == "/run/agent.sock")
        #expect(try socket(["-a"]) == nil)
        #expect(try socket([]) == nil)
        #expect(try socket(["-o", "ForwardAgent=/tmp/%r-agent"]) == "/tmp/me-agent")
        #expect(try socket(["-o", "ForwardAgent=$SHH_TEST_SURELY_UNSET_VARIABLE"]) == nil)
        let home = try #require(ProcessInfo.processInfo.environment["HOME"])
        #expect(try socket(["-o", "ForwardAgent=${HOME}/agent"]) == home + "/agent")
        #expect(throws: ShhFailure.self) { try socket(["-o", "ForwardAgent=${SHH_TEST_SURELY_UNSET_VARIABLE}/agent"]) }
    }
}
