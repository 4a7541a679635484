// Forwarding specifications read as OpenSSH's parse_forward reads them: the four forms of -L and -R, -R's
// reverse dynamic form, -D, brackets for IPv6, paths for Unix sockets, and the ones ssh refuses (with its message
// and exit 255); ssh_config's two-word form; and ssh -G's way of printing them.
@testable import ShhCommand
import OpenSSHConfig
import Testing

@Suite(.timeLimit(.minutes(10))) struct ForwardSpecTests {
    func local(_ text: String) -> ForwardSpec? { ForwardSpec.parse(text, .local, environment: ["DIR": "/run/app"]) }
    func remote(_ text: String) -> ForwardSpec? { ForwardSpec.parse(text, .remote, environment: [:]) }
    func dynamic(_ text: String) -> ForwardSpec? { ForwardSpec.parse(text, .listenOnly, environment: [:]) }

    @Test func theFourLocalForms() {
        #expect(local("8080:db:5432") == ForwardSpec(listen: .port(host: nil, port: 8080), connect: .port(host: "db", port: 5432)))
        #expect(local("127.0.0.1:8080:db:5432") == ForwardSpec(listen: .port(host: "127.0.0.1", port: 8080), connect: .port(host: "db", port: 5432)))
        #expect(local("*:8080:db:5432") == ForwardSpec(listen: .port(host: "*", port: 8080), connect: .port(host: "db", port: 5432)))
        #expect(local(":8080:db:5432") == ForwardSpec(listen: .port(host: "", port: 8080), connect: .port(host: "db", port: 5432)))
        #expect(local("8080:/run/db.sock") == ForwardSpec(listen: .port(host: nil, port: 8080), connect: .path("/run/db.sock")))
        #expect(local("localhost:8080:/run/db.sock") == ForwardSpec(listen: .port(host: "localhost", port: 8080), connect: .path("/run/db.sock")))
        #expect(local("/tmp/here.sock:db:5432") == ForwardSpec(listen: .path("/tmp/here.sock"), connect: .port(host: "db", port: 5432)))
        #expect(local("/tmp/here.sock:/run/db.sock") == ForwardSpec(listen: .path("/tmp/here.sock"), connect: .path("/run/db.sock")))
    }

    @Test func bracketsEnvironmentAndServiceNames() {
        #expect(local("[::1]:8080:[fe80::1]:80") == ForwardSpec(listen: .port(host: "::1", port: 8080), connect: .port(host: "fe80::1", port: 80)))
        #expect(local("8080:[2001:db8::5]:22") == ForwardSpec(listen: .port(host: nil, port: 8080), connect: .port(host: "2001:db8::5", port: 22)))
        #expect(local("8080:${DIR}/db.sock") == ForwardSpec(listen: .port(host: nil, port: 8080), connect: .path("/run/app/db.sock")))
        #expect(local("8080:${UNSET_VARIABLE}:80") == nil)
        // A backslash escapes the next character; a service name stands for its port.
        #expect(local("8080:a\\:b:80") == ForwardSpec(listen: .port(host: nil, port: 8080), connect: .port(host: "a:b", port: 80)))
        #expect(local("8080:web:http") == ForwardSpec(listen: .port(host: nil, port: 8080), connect: .port(host: "web", port: 80)))
    }

    @Test(arguments: ["", "8080", "8080:db", "0:db:80", "99999:db:80", "8080:db:0", "8080:db:99999", "8080:db:x-no-such-service",
                      "a:b:c:d:e", "[::1:8080:db:80", "[::1]x:8080:db:80", "-1:db:80", "8080:db:80\\"])
    func localFormsSSHRefuses(_ text: String) {
        #expect(local(text) == nil, "\(text)")
    }

    @Test func remoteFormsIncludingReverseDynamic() {
        #expect(remote("0:localhost:80") == ForwardSpec(listen: .port(host: nil, port: 0), connect: .port(host: "localhost", port: 80)))
        #expect(remote("1080") == ForwardSpec(listen: .port(host: nil, port: 1080), connect: .socks))
        #expect(remote("0.0.0.0:1080") == ForwardSpec(listen: .port(host: "0.0.0.0", port: 1080), connect: .socks))
        #expect(remote("/tmp/remote.sock:/tmp/local.sock") == ForwardSpec(listen: .path("/tmp/remote.sock"), connect: .path("/tmp/local.sock")))
        #expect(remote("8022:/tmp/local.sock") == ForwardSpec(listen: .port(host: nil, port: 8022), connect: .path("/tmp/local.sock")))
        #expect(remote("8022:host") == nil)
        #expect(remote("x:y:z") == nil)
    }

    @Test func dynamicAndListenOnly() {
        #expect(dynamic("1080") == ForwardSpec(listen: .port(host: nil, port: 1080), connect: .socks))
        #expect(dynamic("[::1]:1080") == ForwardSpec(listen: .port(host: "::1", port: 1080), connect: .socks))
        #expect(dynamic("/tmp/socks.sock") == ForwardSpec(listen: .path("/tmp/socks.sock"), connect: .socks))
        #expect(dynamic("0") == nil)
        #expect(dynamic("a:1:b") == nil)
    }

    @Test func theCommandLineTakesThemAndRefusesBadOnesAsSSH() throws {
        let parsed = try ShhArguments.parse(["-L", "8080:db:5432", "-D", "1080", "-R", "0:localhost:80", "-W", "target:22", "h"])
        #expect(parsed.localForwards == [ForwardSpec(listen: .port(host: nil, port: 8080), connect: .port(host: "db", port: 5432)),
                                         ForwardSpec(listen: .port(host: nil, port: 1080), connect: .socks)])
        #expect(parsed.remoteForwards.count == 1)
        #expect(parsed.stdioForward == .port(host: "target", port: 22))
        for (option, word) in [("-L", "local"), ("-R", "remote"), ("-D", "dynamic"), ("-W", "stdio")] {
            #expect {
                _ = try ShhArguments.parse([option, "99999:a:b", "h"])
            } throws: { error in
                (error as? ShhFailure)?.message == "Bad \(word) forwarding specification '99999:a:b'"
            }
        }
        #expect(throws: ShhFailure.self) { try ShhArguments.parse(["-W", "2222", "h"]) }
        #expect(throws: ShhFailure.self) { try ShhArguments.parse(["-W", "a:1", "-W", "b:2", "h"]) }
        // -f is ForkAfterAuthentication and implies -n.
        let background = try ShhArguments.parse(["-f", "-N", "h"])
        #expect(background.configLines.contains("ForkAfterAuthentication yes") && background.stdinNull && background.noCommand)
    }

    func settings(_ arguments: [String], config: String = "") throws -> ForwardingSettings {
        var reader = SSHClientConfigReader(destination: .init(originalHost: "h", localUser: "me", homeDirectory: "/home/me"),
                                           runCommand: { _ in false })
        let parsed = try ShhArguments.parse(arguments + ["h"])
        for line in parsed.configLines { try reader.apply(option: line) }
        try reader.read(text: config, path: "config", userConfig: true)
        return try ForwardingSettings.resolve(parsed, config: reader.config)
    }

    @Test func configLinesGatewayPortsAndClearAllForwardings() throws {
        let both = try settings(["-L", "1:a:2"], config: "LocalForward 8080 db:5432\nDynamicForward 1080\nRemoteForward 0 localhost:80\nRemoteForward 9050\n")
        #expect(both.local.map { $0.printed(showingTarget: true) } == ["1 [a]:2", "8080 [db]:5432", "1080 [socks]:0"])
        #expect(both.printed == ["dynamicforward 1080", "localforward 1 [a]:2", "localforward 8080 [db]:5432",
                                 "remoteforward 0 [localhost]:80", "remoteforward 9050 [socks]:0"])
        #expect(try settings(["-L", "1:a:2"], config: "ClearAllForwardings yes\nLocalForward 8080 db:5432\n").local.isEmpty)
        // -W clears the others and makes failures fatal, unless told otherwise.
        let stdio = try settings(["-W", "a:1", "-L", "1:a:2"])
        #expect(stdio.local.isEmpty && stdio.exitOnForwardFailure)
        #expect(try settings(["-W", "a:1", "-L", "1:a:2", "-o", "ClearAllForwardings=no"]).local.count == 1)
        #expect {
            _ = try settings([], config: "LocalForward 8080\n")
        } throws: { error in "\(error)".contains("Missing target argument.") }
        #expect {
            _ = try settings([], config: "\n\nLocalForward 8080 db:0\n")
        } throws: { error in "\(error)".contains("line 3") && "\(error)".contains("Bad forwarding specification.") }

        let loopback = try settings([])
        #expect(loopback.localBindAddresses(nil) == ["::1", "127.0.0.1"])
        #expect(loopback.localBindAddresses("localhost") == ["::1", "127.0.0.1"])
        #expect(loopback.localBindAddresses("*") == ["::", "0.0.0.0"])
        #expect(loopback.localBindAddresses("10.1.2.3") == ["10.1.2.3"])
        let gateway = try settings(["-g", "-4"])
        #expect(gateway.localBindAddresses(nil) == ["0.0.0.0"])
        #expect(gateway.localBindAddresses("127.0.0.1") == ["127.0.0.1"])
        #expect(ForwardingSettings.remoteBindAddress(nil) == "localhost")
        #expect(ForwardingSettings.remoteBindAddress("*") == "")
    }

    @Test func permitRemoteOpenAndStreamLocalOptions() throws {
        let restricted = try settings([], config: "PermitRemoteOpen db:5432 [::1]:* \nStreamLocalBindUnlink yes\nStreamLocalBindMask 0111\n")
        #expect(restricted.permitsRemoteOpen(host: "db", port: 5432))
        #expect(!restricted.permitsRemoteOpen(host: "db", port: 5433))
        #expect(restricted.permitsRemoteOpen(host: "::1", port: 7))
        #expect(!restricted.permitsRemoteOpen(host: "other", port: 5432))
        #expect(restricted.streamLocal.unlinkExisting && restricted.streamLocal.mask == 0o111)
        #expect(!(try settings([], config: "PermitRemoteOpen none\n")).permitsRemoteOpen(host: "db", port: 1))
        #expect(try settings([], config: "PermitRemoteOpen any\n").permitsRemoteOpen(host: "db", port: 1))
    }

    @Test func escapeCommandLineIsTypedAfterTildeC() {
        var filter = EscapeFilter(escapeCharacter: UInt8(ascii: "~"), commandLine: true)
        let actions = filter.feed(Array("~C-L 8080:db:80x\u{7F}\r~#".utf8))
        #expect(actions == [.openCommandLine, .commandLine("-L 8080:db:80"), .listConnections])
        var disabled = EscapeFilter(escapeCharacter: UInt8(ascii: "~"))
        #expect(disabled.feed(Array("~C".utf8)) == [.notAvailable("C")])
        #expect(EscapeFilter.help(escape: "~", commandLine: true).contains(" ~C   - open a command line\r\n"))
        #expect(!EscapeFilter.help(escape: "~").contains("~C"))
    }
}
