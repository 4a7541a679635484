// Long tier for the library (SHH_LONG_TESTS=1): 256 MiB each way between SSHClient and SSHServer with both sides
// rekeying every 1 MiB, and 200 sessions at once.
import Crypto
import Foundation
import SSH
import SSHPOSIX
import SSHKeys
import SSHServerHost
import SSHProtocol
import Testing

@Suite("Library long tier", .enabled(if: longTestsEnabled, "set SHH_LONG_TESTS=1 to run the long tier"), .timeLimit(.minutes(30)))
struct LibraryLongTierTests {
    @Test func twoHundredFiftySixMiBEachWayWithRekeysEveryMiB() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let limits = SSHRekeyLimits(bytes: 1 << 20)
        let server = SSHServer(configuration: .init(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)], rekeyLimits: limits),
                               authenticator: TestAuthenticator(keys: [key.publicKey]), sessionHandler: SSHProcessSessionHandler(shell: "/bin/sh"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let client = try await SSHClient.connect(host: "127.0.0.1", port: try await server.listeningPort, user: "alice",
                                                     credentials: [.privateKey(key)], hostKeyValidator: PinnedHostKeys([hostKey.publicKey]),
                                                     configuration: .init(rekeyLimits: limits))
            var generator = SystemRandomNumberGenerator()
            let data = (0..<(256 << 20) / 8).flatMap { _ -> [UInt8] in
                let word: UInt64 = generator.next()
                return withUnsafeBytes(of: word) { Array($0) }
            }
            let started = ContinuousClock.now
            let result = try await client.execute("cat", stdin: data)
            print("256 MiB each way with rekeys every MiB: \(ContinuousClock.now - started)")
            #expect(result.exitStatus == 0)
            #expect(result.stdout.count == data.count)
            #expect(Array(SHA256.hash(data: result.stdout)) == Array(SHA256.hash(data: data)))
            await client.close()
        }
    }

    @Test func twoHundredConcurrentSessions() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let server = SSHServer(configuration: .init(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)]),
                               authenticator: TestAuthenticator(keys: [key.publicKey]), sessionHandler: SSHProcessSessionHandler(shell: "/bin/sh"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningPort
            let outputs = try await withThrowingTaskGroup(of: [String].self) { connections in
                for connection in 0..<20 {
                    connections.addTask {
                        let client = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "alice", credentials: [.privateKey(key)],
                                                                 hostKeyValidator: PinnedHostKeys([hostKey.publicKey]))
                        let results = try await withThrowingTaskGroup(of: String.self) { sessions in
                            for session in 0..<10 {
                                sessions.addTask {
                                    String(decoding: try await client.execute("sleep 1; echo \(connection)-\(session)").stdout, as: UTF8.self)
                                }
                            }
                            return try await sessions.reduce(into: []) { $0.append($1) }
                        }
                        await client.close()
                        return results
                    }
                }
                return try await connections.reduce(into: []) { $0 += $1 }
            }
            #expect(outputs.count == 200)
            #expect(Set(outputs).count == 200)
        }
    }
}
