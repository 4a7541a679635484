// What a new Swift developer meets: the README's getting-started program, a package of its own that depends on
// this repository by path (Examples/GettingStarted), built and run against OpenSSH's sshd — host key checked
// against a known_hosts file, a command run, 16 MiB streamed. And the client stays a client: shh does not link
// the server's libcrypt.
import Foundation
import SSHKeys
import Testing

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
private let examplePackage = repositoryRoot + "/Examples/GettingStarted"

@Suite("The README's getting-started program against sshd", .enabled(if: isRootUser, "starting sshd on a test port needs root; CI runs as root"),
       .timeLimit(.minutes(30)))
struct GettingStartedTests {
    @Test func theReadmeShowsTheProgramAsItIs() throws {
        let program = try String(contentsOfFile: examplePackage + "/Sources/GettingStarted/main.swift", encoding: .utf8)
        let readme = try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)
        #expect(readme.contains("```swift\n" + program + "```"), "README.md's getting-started block differs from Examples/GettingStarted")
        let lines = program.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        #expect(lines.count < 30, "the getting-started program grew to \(lines.count) lines")
    }

    @Test func itConnectsChecksTheHostKeyRunsAndStreams() async throws {
        // CI builds the package first (.ci/run); here it is a no-op then, or a whole build after a change to the
        // library — at the lowest priority, so the tests running beside it are not starved of the two cores.
        let build = ["-n", "19", "swift", "build", "--package-path", examplePackage]
        var built = try await runAsync("/usr/bin/nice", build, deadline: 1500)
        if built.status != 0 {
            // SwiftPM keeps a path dependency's build plan until the dependent's manifest changes, so a source file
            // added to this package since the last build is missing from it: touching the manifest re-plans.
            _ = utime(examplePackage + "/Package.swift", nil)
            built = try await runAsync("/usr/bin/nice", build, deadline: 1500)
        }
        try #require(built.status == 0, "building Examples/GettingStarted failed: \(built.stdout.suffix(4000)) \(built.stderr)")
        let binPath = try await runAsync("/usr/bin/env", ["swift", "build", "--package-path", examplePackage, "--show-bin-path"])
        let program = binPath.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + "/getting-started"

        let sshd = try await offThePool { try TestSSHD() }
        defer { sshd.stop() }
        let key = try SSHPrivateKey.generate(type: .ed25519)
        let keyPath = sshd.directory + "/user_key"
        try SSHKeyFile.write(try OpenSSHPrivateKeyFormat.fileText(key, passphrase: nil), toPath: keyPath, mode: 0o600)
        try "\(key.publicKey)\n".write(toFile: sshd.directory + "/authorized_keys", atomically: true, encoding: .utf8)
        let knownHosts = sshd.directory + "/known_hosts"
        try "[127.0.0.1]:\(sshd.port) \(sshd.hostKeyPublic)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)

        let arguments = ["127.0.0.1", "\(sshd.port)", testLogin, keyPath, knownHosts]
        let result = try await runAsync(program, arguments, deadline: 120)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "Linux\nstreamed 16777216 bytes\n", "\(result.stdout) \(result.stderr)")

        // A host the file does not know is refused: the program fails and nothing is streamed.
        try "".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let refused = try await runAsync(program, arguments, deadline: 120)
        #expect(refused.status != 0)
        #expect(!refused.stdout.contains("streamed"))
        #expect(refused.stdout.contains("no ED25519 host key is known for [127.0.0.1]:\(sshd.port)"), "\(refused.stdout)")
    }

    /// libcrypt (password hashing) belongs to the server; the client must not carry it.
    @Test func theClientDoesNotLinkTheServersLibraries() async throws {
        let linked = try await runAsync("/usr/bin/ldd", [shhPath])
        try #require(linked.status == 0, "ldd \(shhPath): \(linked.stderr)")
        #expect(!linked.stdout.contains("libcrypt.so"), "shh links libcrypt: \(linked.stdout)")
        let server = try await runAsync("/usr/bin/ldd", [shhdPath])
        #expect(server.stdout.contains("libcrypt.so"), "the check above would not notice: shhd shows no libcrypt either")
    }
}
