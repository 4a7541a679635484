// What a client can make a server hold per session: env requests stop being taken at 128 variables (as sshd), and
// window-change requests for a session that does not read its input are refused past 64 unread — over real TCP,
// SSHClient against SSHServer.
import Foundation
import NIOCore
import SSH
import SSHKeys
import SSHProtocol
import Synchronization
import Testing

/// Reads nothing until told to, then counts what was waiting: the environment it was started with and the
/// window-change requests in its input.
private struct HoardingSession: SSHSessionHandler {
    let release: AsyncStream<Void>
    let seen: Seen

    func runSession(_ session: SSHServerSession) async throws -> SSHSessionExit {
        var waiting = release.makeAsyncIterator()
        _ = await waiting.next()
        var windowChanges = 0
        for try await input in session.channel.input {
            if case .request(.windowChange) = input { windowChanges += 1 }
            if case .eof = input { break }
        }
        let count = windowChanges
        seen.value.withLock { $0 = (session.environment.count, count) }
        return .status(0)
    }
}

private final class Seen: Sendable {
    let value = Mutex<(variables: Int, windowChanges: Int)>((0, 0))
}

@Suite(.timeLimit(.minutes(3))) struct LibraryRequestCapTests {
    @Test func envAndWindowChangeRequestsAreCapped() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let (release, releaser) = AsyncStream.makeStream(of: Void.self)
        let seen = Seen()
        var configuration = SSHServer.Configuration(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)])
        configuration.acceptedEnvironment = ["*"]
        let server = SSHServer(configuration: configuration, authenticator: TestAuthenticator(keys: [key.publicKey]),
                               sessionHandler: HoardingSession(release: release, seen: seen))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let client = try await SSHClient.connect(host: "127.0.0.1", port: try await server.listeningPort, user: "alice",
                                                     credentials: [.privateKey(key)], hostKeyValidator: PinnedHostKeys([hostKey.publicKey]))
            let session = try await client.openSession()
            var accepted = 0
            for index in 0..<140 {
                do {
                    try await session.request(.environment(name: "VARIABLE_\(index)", value: Array("value".utf8)))
                    accepted += 1
                } catch {}
            }
            #expect(accepted == 128, "env requests taken: \(accepted)")
            try await session.request(.exec("anything"))
            for columns in 0..<100 { try await session.send(.windowChange(SSHTerminalSize(columns: UInt32(80 + columns), rows: 24))) }
            // A want-reply request after them: its answer means the window-changes before it were all decided.
            try? await session.request(.environment(name: "LATE", value: []))
            releaser.yield()
            // EOF is not a request: no cap stands between it and the session.
            try await session.sendEOF()
            for try await _ in session.input {}
            await client.close()
            let counts = seen.value.withLock { $0 }
            #expect(counts.variables == 128)
            #expect(counts.windowChanges == 64, "window-changes delivered: \(counts.windowChanges)")
        }
    }
}
