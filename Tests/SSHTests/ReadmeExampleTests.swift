// The README's library example, compiled and run here; a second test checks the README shows exactly this code.
import Foundation
import NIOCore
import SSH
import SSHKeys
import SSHProtocol
import Testing

// README example begin
struct Greeter: SSHSessionHandler {
    func runSession(_ session: SSHServerSession) async throws -> SSHSessionExit {
        try await session.channel.write(ByteBuffer(string: "hello, \(session.user)\n"))
        return .status(0)
    }
}

struct OneKey: SSHServerAuthenticator {
    let key: SSHPublicKey
    var offeredMethods: [SSHAuthenticationMethod] { [.publicKey] }
    func decide(_ attempt: SSHAuthenticationAttempt,
                on connection: SSHServerConnectionInfo) async -> SSHAuthenticationDecision {
        if case .publicKey(_, .key(let offered), _, _) = attempt, offered == key { return .accept }
        return .reject
    }
}

func example() async throws -> String {
    let hostKey = try SSHPrivateKey.generate(type: .ed25519)
    let userKey = try SSHPrivateKey.generate(type: .ed25519)
    let server = SSHServer(configuration: .init(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)]),
                           authenticator: OneKey(key: userKey.publicKey), sessionHandler: Greeter())
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        defer { group.cancelAll() }
        let client = try await SSHClient.connect(
            host: "127.0.0.1", port: try await server.listeningPort, user: "me",
            credentials: [.privateKey(userKey)], hostKeyValidator: PinnedHostKeys([hostKey.publicKey]))
        let result = try await client.execute("anything")
        await client.close()
        return String(decoding: result.stdout, as: UTF8.self)   // "hello, me\n", result.exitStatus == 0
    }
}
// README example end

@Suite(.timeLimit(.minutes(10))) struct ReadmeExampleTests {
    @Test func theExampleRuns() async throws {
        #expect(try await example() == "hello, me\n")
    }

    @Test func theReadmeShowsThisCode() throws {
        let here = URL(fileURLWithPath: #filePath)
        let source = try String(contentsOf: here, encoding: .utf8)
        let readme = try String(contentsOf: here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("README.md"), encoding: .utf8)
        guard let begin = source.range(of: "// README example begin\n"), let end = source.range(of: "// README example end") else {
            Issue.record("markers missing"); return
        }
        let code = String(source[begin.upperBound..<end.lowerBound])
        #expect(readme.contains(code), "README.md's library example differs from Tests/SSHTests/ReadmeExampleTests.swift")
    }
}
