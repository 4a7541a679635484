// A server built on SSHServer runs commands for our client, OpenSSH's ssh (9.2 and 10), paramiko and asyncssh:
// exit statuses, signals, stderr apart, 16 MiB through stdin and back (with OpenSSH rekeying every 1 MiB).
import Crypto
import Foundation
import ServiceLifecycle
import SSH
import SSHPOSIX
import SSHKeys
import SSHServerHost
import SSHProtocol
import Testing

/// An SSHServer on a free port running commands with /bin/sh, for the length of `body`.
func withTestServer<R>(authenticator: any SSHServerAuthenticator, connectionDelegate: (any SSHServerConnectionDelegate)? = nil,
                       configure: (inout SSHServer.Configuration) -> Void = { _ in },
                       _ body: (Int, SSHPrivateKey) async throws -> R) async throws -> R {
    let hostKey = try SSHPrivateKey.generate(type: .ed25519)
    var configuration = SSHServer.Configuration(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)], authenticationFailureDelay: .milliseconds(20))
    configure(&configuration)
    let server = SSHServer(configuration: configuration, authenticator: authenticator, sessionHandler: SSHProcessSessionHandler(shell: "/bin/sh"),
                           connectionDelegate: connectionDelegate)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        defer { group.cancelAll() }
        let port = try await server.listeningPort
        return try await body(port, hostKey)
    }
}

@Suite(.timeLimit(.minutes(10))) struct ServerSessionInteropTests {
    @Test func ourClientAgainstSSHServer() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        try await withTestServer(authenticator: TestAuthenticator(keys: [key.publicKey])) { port, hostKey in
            let client = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "alice", credentials: [.privateKey(key)],
                                                     hostKeyValidator: PinnedHostKeys([hostKey.publicKey]))
            for status: Int32 in [0, 3, 255] {
                #expect(try await client.execute("exit \(status)").exitStatus == status)
            }
            let split = try await client.execute("echo out; echo err >&2")
            #expect(split.stdout == Array("out\n".utf8) && split.stderr == Array("err\n".utf8))
            let killed = try await client.execute("kill -TERM $$")
            #expect(killed.exitSignal?.signalName == "TERM")
            let data = randomBytes(16 << 20)
            let echoed = try await client.execute("cat", stdin: data)
            #expect(echoed.stdout.count == data.count && Array(SHA256.hash(data: echoed.stdout)) == Array(SHA256.hash(data: data)))
            await client.close()
        }
    }

    @Test(arguments: installationsUnderTest)
    func openSSHClientAgainstSSHServer(_ installation: OpenSSHInstallation) async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try await runAsync(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "", "-f", "\(directory)/id"])
        let userKey = try SSHPublicKeyLine(parsing: try readText("\(directory)/id.pub")).key
        try await withTestServer(authenticator: TestAuthenticator(keys: [userKey])) { port, hostKey in
            try "[127.0.0.1]:\(port) \(hostKey.publicKey)\n".write(toFile: "\(directory)/known_hosts", atomically: true, encoding: .utf8)
            func ssh(_ command: String, stdin: [UInt8] = [], options: [String] = []) async throws -> ProcessResult {
                try await installation.sshAsync(["-F", "/dev/null", "-p", "\(port)", "-i", "\(directory)/id", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                                      "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(directory)/known_hosts"]
                                     + options + ["alice@127.0.0.1", command], stdin: stdin)
            }
            for status: Int32 in [0, 3] {
                #expect(try await ssh("exit \(status)").status == status, "\(installation)")
            }
            let split = try await ssh("echo out; echo err >&2")
            #expect(split.stdout == "out\n" && withoutShellStartupNoise(split.stderr) == "err\n", "\(installation): \(split)")
            let killed = try await ssh("kill -TERM $$")
            #expect(killed.status == 255, "ssh reports a remote death by signal as 255")
            let data = randomBytes(16 << 20)
            // 16 MiB up through our server into the command and its digest back (ProcessResult keeps stdout as text).
            let digest = try await ssh("cat | sha256sum", stdin: data, options: ["-o", "RekeyLimit=1M"])
            let expected = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
            #expect(digest.stdout.hasPrefix(expected), "\(installation): \(digest.stdout) \(digest.stderr)")
        }
    }

    @Test(arguments: ["paramiko", "asyncssh", "asyncssh-mlkem"])
    func pythonClientsAgainstSSHServer(_ library: String) async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try await runAsync(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "", "-f", "\(directory)/id"])
        let userKey = try SSHPublicKeyLine(parsing: try readText("\(directory)/id.pub")).key
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python_exec_client.py").path
        try await withTestServer(authenticator: TestAuthenticator(keys: [userKey])) { port, hostKey in
            try "[127.0.0.1]:\(port) \(hostKey.publicKey)\n".write(toFile: "\(directory)/known_hosts", atomically: true, encoding: .utf8)
            let kex = library == "asyncssh-mlkem" ? "mlkem768x25519-sha256" : "-"
            let result = try await runAsync("/usr/bin/env", ["python3", script, library == "paramiko" ? "paramiko" : "asyncssh", "\(port)",
                                                  "\(directory)/id", "\(directory)/known_hosts", kex, "echo hello; echo oops >&2; exit 7"])
            #expect(result.stdout == "STATUS 7\nSTDOUT hello\nSTDERR oops\n", "\(library): \(result.stdout) \(result.stderr.suffix(2000))")
        }
    }
}
