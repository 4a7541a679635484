// Hostile clients one after another against one shhd (hostile_clients.py, paramiko and raw sockets): each gets what
// it deserves (a refusal, UNIMPLEMENTED, a disconnect) and shhd still serves a real user afterwards, its memory
// bounded. The main tier cycles through the ten scenarios three times, the long tier 200 in a row.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

private let hostileScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("hostile_clients.py").path


func runHostileClients(count: Int) async throws {
    let fixture = try await offThePool { try ShhdFixture() }
    defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
    // shhd's own startup limits, with the test's address exempt from penalties (every scenario fails on purpose).
    let server = try await fixture.startEmbedded(["-o", "PerSourcePenaltyExemptList 127.0.0.1"])
    defer { server.terminate() }
    let knownHosts = try fixture.knownHostsFile(for: server)
    let warm = try await fixture.ssh(server, ["true"])
    #expect(warm.status == 0, "\(warm.stderr)")
    let before = try #require(server.totalResidentKiB)
    let networkProcess = server.networkProcess
    let result = try await runAsync("/usr/bin/env", ["python3", hostileScript, "\(server.port)", knownHosts, fixture.identity, testLogin, "\(count)"],
                                    deadline: Double(60 + count * 5))
    let after = server.totalResidentKiB ?? 0
    print("\(count) hostile clients in a row: shhd RSS \(before / 1024) MiB before, \(after / 1024) MiB after")
    #expect(result.stdout.contains("SCENARIOS \(count)"), "\(result.stdout) \(result.stderr.suffix(2000)) \(server.logText.suffix(3000))")
    #expect(!result.stdout.contains("UNEXPECTED"), "\(result.stdout) \(server.logText.suffix(3000))")
    #expect(kill(server.pid, 0) == 0, "shhd is still running")
    // As root, no client may take the network process down either (a restart would drop everyone's connections).
    #expect(server.networkProcess == networkProcess, "the network process was replaced: \(server.logText.suffix(3000))")
    #expect(!server.logText.contains("the network process"), "\(server.logText.suffix(3000))")
    let login = try await fixture.ssh(server, ["echo served"])
    #expect(login.status == 0 && login.stdout == "served\n", "\(login.stderr) \(server.logText.suffix(3000))")
    #expect(after - before < 64 * 1024, "RSS grew from \(before) KiB to \(after) KiB")
}

@Suite("shhd against hostile clients", .enabled(if: isRootUser, "logging in as root needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct ShhdHostileClientTests {
    @Test func hostileClientsOneAfterAnother() async throws {
        try await runHostileClients(count: 30)
    }
}

@Suite("shhd against hostile clients, long tier", .enabled(if: longTestsEnabled && isRootUser, "set SHH_LONG_TESTS=1 (as root) to run the long tier"),
       .timeLimit(.minutes(30)))
struct ShhdHostileClientLongTierTests {
    @Test func twoHundredHostileClientsInARow() async throws {
        try await runHostileClients(count: 200)
    }
}
