// shhd's memory per connection whatever the peer does: a client that grants a 2 GiB window and then stops reading
// (paramiko, stopped with SIGSTOP) while its session writes as fast as it can does not make shhd buffer the
// output: the session is slowed to what TCP takes.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// paramiko with a 2 GiB window running `command`; once the first bytes arrive it prints READING and stops itself,
/// so its socket fills and stays full.
private let stoppingClient = """
import os, signal, sys, paramiko
port, known_hosts, key, user, command = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
client = paramiko.SSHClient()
client.load_host_keys(known_hosts)
client.set_missing_host_key_policy(paramiko.RejectPolicy())
client.connect("127.0.0.1", port=port, username=user, key_filename=key, allow_agent=False, look_for_keys=False)
channel = client.get_transport().open_session(window_size=2**31 - 1, max_packet_size=32768)
channel.exec_command(command)
channel.recv(1)
print("READING", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


@Suite("shhd's memory per connection", .enabled(if: isRootUser, "logging in as root needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct ShhdMemoryTests {
    @Test func aClientThatStopsReadingDoesNotMakeShhdBufferTheOutput() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let knownHosts = try fixture.knownHostsFile(for: server)
        // Warm up (first connection's allocations) before the baseline.
        let warm = try await fixture.ssh(server, ["true"])
        #expect(warm.status == 0, "\(warm.stderr)")
        let before = try #require(server.totalResidentKiB)
        let output = fixture.directory + "/stopping.out"
        let client = try spawnInNewSession("/usr/bin/env", ["python3", "-c", stoppingClient, "\(server.port)", knownHosts, fixture.identity,
                                                            testLogin, "head -c 1073741824 /dev/zero"],
                                           environment: ProcessInfo.processInfo.environment, actions: [
            .open("/dev/null", flags: O_RDONLY, mode: 0, as: 0),
            .open(output, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600, as: 1),
            .duplicate(1, as: 2),
        ])
        defer { killTree(client) }
        #expect(await eventually(30) { ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("READING") },
                "\((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
        // Unthrottled, shhd would take in the command's output at pipe speed (hundreds of MiB a second) and hold it.
        var peak = before
        let deadline = Date().addingTimeInterval(4)
        while Date() < deadline {
            peak = max(peak, server.totalResidentKiB ?? 0)
            try await Task.sleep(for: .milliseconds(100))
        }
        print("a stopped reader with a 2 GiB window: shhd RSS \(before) KiB before, \(peak) KiB peak over 4 s (+\((peak - before) / 1024) MiB)")
        #expect(peak - before < 16 * 1024, "shhd grew by \(peak - before) KiB")
        await killAndReap(client, SIGKILL)
        // The connection's end frees the session: shhd goes on serving.
        let after = try await fixture.ssh(server, ["echo still"])
        #expect(after.status == 0 && after.stdout == "still\n", "\(after.stderr)")
    }
}
