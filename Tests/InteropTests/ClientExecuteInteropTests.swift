// Our client runs commands on real sshd (9.2, and 10 from the Debian 13 root): exit statuses, signals, stderr
// kept apart, 16 MiB through stdin and back.
import Crypto
import Foundation
import SSH
import SSHKeys
import SSHProtocol
import Testing

@Suite("Client commands against sshd", .enabled(if: isRootUser, "starting sshd on a test port needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct ClientExecuteInteropTests {
    static func connect(_ installation: OpenSSHInstallation, extraConfig: String = "") async throws -> (TestSSHD, SSHClient) {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        let extra = extraConfig + (installation.chrootRoot == nil ? "" : "\nPerSourcePenalties no")
        let sshd = try await offThePool { try TestSSHD(chrootRoot: installation.chrootRoot, extraConfig: extra) }
        try "\(key.publicKey)\n".write(toFile: sshd.directory + "/authorized_keys", atomically: true, encoding: .utf8)
        let hostKey = try SSHPublicKeyLine(parsing: sshd.hostKeyPublic).key
        let client = try await SSHClient.connect(host: "127.0.0.1", port: sshd.port, user: testLogin, credentials: [.privateKey(key)],
                                                 hostKeyValidator: PinnedHostKeys([hostKey]))
        return (sshd, client)
    }

    @Test(arguments: installationsUnderTest)
    func exitStatusesSignalsAndStderr(_ installation: OpenSSHInstallation) async throws {
        let (sshd, client) = try await Self.connect(installation)
        defer { sshd.stop() }
        for status: Int32 in [0, 3, 255] {
            let result = try await client.execute("exit \(status)")
            #expect(result.exitStatus == status)
            #expect(result.exitSignal == nil)
        }
        let split = try await client.execute("echo out; echo err >&2")
        #expect(String(decoding: split.stdout, as: UTF8.self) == "out\n")
        #expect(String(decoding: split.stderr, as: UTF8.self) == "err\n")
        let killed = try await client.execute("kill -TERM $$")
        #expect(killed.exitSignal?.signalName == "TERM", "\(killed)")
        #expect(killed.exitStatus == nil)
        await client.close()
    }

    @Test(arguments: installationsUnderTest)
    func sixteenMiBThroughStdinAndBack(_ installation: OpenSSHInstallation) async throws {
        let (sshd, client) = try await Self.connect(installation)
        defer { sshd.stop() }
        var generator = SystemRandomNumberGenerator()
        let data = (0..<(16 << 20) / 8).flatMap { _ -> [UInt8] in
            let word: UInt64 = generator.next()
            return withUnsafeBytes(of: word) { Array($0) }
        }
        let result = try await client.execute("cat", stdin: data)
        #expect(result.exitStatus == 0)
        #expect(result.stdout.count == data.count)
        #expect(Array(SHA256.hash(data: result.stdout)) == Array(SHA256.hash(data: data)))
        await client.close()
    }
}
