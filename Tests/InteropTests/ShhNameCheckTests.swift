// shh checks the host and user names typed on its command line as OpenSSH 9.6 does (ssh.c valid_hostname and
// valid_ruser): they reach %h and %r in ProxyCommand, which a shell runs, so a name carrying shell syntax or
// looking like an option must stop shh before anything runs. No server: the check is part of argument parsing.
import Foundation
import Testing

@Suite(.timeLimit(.minutes(2)))
struct ShhNameCheckTests {
    /// shh with a ProxyCommand that would run whatever %r and %h smuggle in: `touch` makes a file for every word the
    /// shell gives it, and a `;` or `$(...)` in a name runs a second command that makes `injected`.
    static func shh(_ arguments: [String], in directory: String) async throws -> ProcessResult {
        try await runAsync(shhPath, ["-F", "none", "-o", "BatchMode=yes", "-o", "ProxyCommand=touch \(directory)/marker-%r-%h"]
                           + arguments + ["true"])
    }

    static func created(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    @Test(arguments: [
        (["a;touch {dir}/injected@127.0.0.1"], "remote username contains invalid characters"),
        (["-l", "$(touch {dir}/injected)", "host"], "remote username contains invalid characters"),
        (["-l", "`touch {dir}/injected`", "host"], "remote username contains invalid characters"),
        (["-l", "-oProxyCommand=touch {dir}/injected", "host"], "remote username contains invalid characters"),
        (["host;touch {dir}/injected"], "hostname contains invalid characters"),
        (["alice@host|touch {dir}/injected"], "hostname contains invalid characters"),
        (["alice@$(touch {dir}/injected)"], "hostname contains invalid characters"),
        // A host that reads as an option to whatever it is handed to, from user@host and after "--".
        (["alice@-oProxyCommand=touch {dir}/injected"], "hostname contains invalid characters"),
        (["--", "-oProxyCommand=touch {dir}/injected"], "hostname contains invalid characters"),
        // White space and control characters: a name that would split into words or print escape sequences.
        (["host name"], "hostname contains invalid characters"),
        (["host\u{1b}[2J"], "hostname contains invalid characters"),
        (["-l", "alice\u{1b}]0;x\u{07}", "host"], "remote username contains invalid characters"),
    ])
    func aHostileNameRunsNothing(_ template: [String], _ message: String) async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let arguments = template.map { $0.replacingOccurrences(of: "{dir}", with: directory) }
        let result = try await Self.shh(arguments, in: directory)
        #expect(result.status == 255, "\(arguments): \(result.stdout) \(result.stderr)")
        #expect(result.stderr.hasPrefix("shh: \(message)\n"), "\(arguments): \(result.stderr)")
        #expect(result.stdout.isEmpty, "\(arguments): \(result.stdout)")
        // Neither the ProxyCommand nor what the name carried ran.
        #expect(Self.created(in: directory).isEmpty, "\(arguments) ran something: \(Self.created(in: directory))")
    }

    /// The same ProxyCommand with ordinary names does run, %r and %h expanded: the check is what stops the others.
    @Test func ordinaryNamesReachTheProxyCommand() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Dots and dashes inside a name are ordinary (only a leading dash reads as an option).
        let result = try await Self.shh(["-l", "first.last-name", "host-1.example"], in: directory)
        // The proxy exits at once without speaking SSH: a failed connection.
        #expect(result.status == 255, "\(result.stdout) \(result.stderr)")
        #expect(!result.stderr.contains("invalid characters"), "\(result.stderr)")
        #expect(Self.created(in: directory) == ["marker-first.last-name-host-1.example"], "\(Self.created(in: directory)) \(result.stderr)")
    }
}
