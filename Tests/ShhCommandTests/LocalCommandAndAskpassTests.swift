// LocalCommand's settings as shh resolves them (tokens expanded only with PermitLocalCommand yes, -G as ssh prints
// it), and read_passphrase's rules: where a question goes, askpass's answer, and a cancel that ends the asking.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import OpenSSHConfig
@testable import ShhCommand
import SSHPOSIX
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(10))) struct LocalCommandSettingsTests {
    func resolve(_ arguments: [String]) throws -> ClientSettings {
        let parsed = try ShhArguments.parse(["-F", "none"] + arguments)
        return try ClientSettings.resolve(parsed, host: parsed.host ?? "", diagnostics: Diagnostics())
    }

    @Test func tokensExpandWithPermitLocalCommand() throws {
        let account = SystemAccount.current()
        let settings = try resolve(["-p", "2222", "-l", "deploy", "-o", "HostName=real.example.com", "-o", "PermitLocalCommand=yes",
                                    "-o", "LocalCommand=echo %r@%h:%p %n %k %T %u %% [%j]", "short"])
        #expect(settings.localCommand == "echo deploy@real.example.com:2222 short short NONE \(account.name) % []")
        let aliased = try resolve(["-o", "PermitLocalCommand=yes", "-o", "HostKeyAlias=alias", "-o", "LocalCommand=%k %d %i %C", "h"])
        let tokens = PercentTokens(host: "h", originalHost: "h", port: "22", remoteUser: account.name, localUser: account.name,
                                   homeDirectory: account.home)
        #expect(aliased.localCommand == "alias \(account.home) \(getuid()) \(tokens.connectionHash)")
    }

    @Test func ignoredWithoutPermitLocalCommand() throws {
        #expect(try resolve(["-o", "LocalCommand=touch /nonexistent/x", "h"]).localCommand == nil)
        #expect(try resolve(["-o", "PermitLocalCommand=no", "-o", "LocalCommand=touch /nonexistent/x", "h"]).localCommand == nil)
        #expect(try resolve(["-o", "PermitLocalCommand=yes", "-o", "LocalCommand=none", "h"]).localCommand == nil)
    }

    @Test func unknownTokenFailsBeforeConnecting() throws {
        #expect(throws: ShhFailure.self) { try resolve(["-o", "PermitLocalCommand=yes", "-o", "LocalCommand=echo %f", "h"]) }
        // %T belongs to LocalCommand alone.
        #expect(throws: (any Error).self) { try resolve(["-o", "RemoteCommand=echo %T", "h"]) }
    }

    @Test func printedAsSSHPrintsIt() throws {
        let printed = try resolve(["-o", "PermitLocalCommand=yes", "-o", "LocalCommand=echo %h > 'a file'", "h"]).printed()
        #expect(printed.contains("\npermitlocalcommand yes\n"), "\(printed)")
        #expect(printed.contains("\nlocalcommand echo %h > 'a file'\n"), "\(printed)")
        #expect(try resolve(["h"]).printed().contains("\npermitlocalcommand no\n"))
    }
}

@Suite(.timeLimit(.minutes(10))) struct ReadPassphraseTests {
    typealias Route = ReadPassphrase.Route

    @Test func routesAsReadPassphrase() {
        let askpass = ["SSH_ASKPASS": "/opt/askpass"]
        func route(_ environment: [String: String], terminal: Bool) -> Route {
            ReadPassphrase.route(environment: askpass.merging(environment) { $1 }, hasTerminal: terminal)
        }
        // A terminal is used unless askpass is forced, or preferred with a display.
        #expect(route([:], terminal: true) == .terminal)
        #expect(route(["DISPLAY": ":0"], terminal: true) == .terminal)
        #expect(route(["SSH_ASKPASS_REQUIRE": "force"], terminal: true) == .askpass("/opt/askpass"))
        #expect(route(["SSH_ASKPASS_REQUIRE": "prefer", "DISPLAY": ":0"], terminal: true) == .askpass("/opt/askpass"))
        #expect(route(["SSH_ASKPASS_REQUIRE": "prefer"], terminal: true) == .terminal)
        // Without one, askpass when a display (or force) allows it.
        #expect(route(["DISPLAY": ":0"], terminal: false) == .askpass("/opt/askpass"))
        #expect(route(["WAYLAND_DISPLAY": "wayland-0"], terminal: false) == .askpass("/opt/askpass"))
        #expect(route(["DISPLAY": ""], terminal: false) == .nowhere)
        #expect(route(["SSH_ASKPASS_REQUIRE": "force"], terminal: false) == .askpass("/opt/askpass"))
        #expect(route([:], terminal: false) == .nowhere)
        #expect(route(["SSH_ASKPASS_REQUIRE": "never", "DISPLAY": ":0"], terminal: false) == .nowhere)
        #expect(route(["SSH_ASKPASS_REQUIRE": "NEVER", "DISPLAY": ":0"], terminal: true) == .terminal)
        #expect(ReadPassphrase.route(environment: ["DISPLAY": ":0"], hasTerminal: false) == .askpass(ReadPassphrase.defaultAskpass))
    }

    /// A script in a temporary directory; removed with it by the caller.
    func script(_ body: String, in directory: String) throws -> String {
        let path = directory + "/askpass-\(UInt32.random(in: 0...UInt32.max))"
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    @Test func askpassAnswersWithItsFirstLine() throws {
        let directory = NSTemporaryDirectory() + "shh-askpass-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let echoing = try script("printf '%s\\r\\nsecond line\\n' \"$1\"", in: directory)
        #expect(ReadPassphrase.runAskpass(echoing, prompt: "alice@host's password: ") == "alice@host's password: ")
        // Cancelled: a failing exit, an empty answer, a program that does not exist.
        #expect(ReadPassphrase.runAskpass(try script("echo typed; exit 1", in: directory), prompt: "p") == nil)
        #expect(ReadPassphrase.runAskpass(try script("echo", in: directory), prompt: "p") == nil)
        #expect(ReadPassphrase.runAskpass(try script("true", in: directory), prompt: "p") == nil)
        #expect(ReadPassphrase.runAskpass(directory + "/missing", prompt: "p") == nil)
        // More output than ssh reads: the first 1023 bytes count, and the program cannot hold us up.
        let chatty = try script("printf 'abc'; head -c 200000 /dev/zero | tr '\\0' x; exit 0", in: directory)
        #expect(ReadPassphrase.runAskpass(chatty, prompt: "p")?.count == 1023)
        #expect(ReadPassphrase.executablePath("sh").map { $0.hasSuffix("/sh") } == true)
        #expect(ReadPassphrase.executablePath("") == nil)
    }

    @Test func aCancelEndsTheQuestions() {
        let asked = Mutex<[String]>([])
        let answers = Mutex<[String?]>(["first", nil, "never asked"])
        let questions = LoginQuestions { prompt, _ in
            asked.withLock { $0.append(prompt) }
            return answers.withLock { $0.removeFirst() }
        }
        #expect(questions.answer("one", echo: false) == "first")
        #expect(!questions.isCancelled)
        #expect(questions.answer("two", echo: true) == nil)
        #expect(questions.isCancelled)
        #expect(questions.answer("three", echo: false) == nil)
        #expect(asked.withLock { $0 } == ["one", "two"])
    }
}
