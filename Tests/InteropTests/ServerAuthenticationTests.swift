// User authentication on our server side, with our client and with OpenSSH's ssh: keys of every type from
// ssh-keygen, a user certificate, password and keyboard-interactive (through SSH_ASKPASS), the fixed failure delay,
// and deny by default.
import Foundation
import NIOCore
import NIOPosix
@testable import SSH
import SSHKeys
import SSHProtocol
import SSHWire
import Testing

/// A policy for tests: the listed keys, a CA, and one password for "alice".
struct TestAuthenticator: SSHServerAuthenticator {
    var keys: Set<SSHPublicKey> = []
    var certificateAuthority: SSHPublicKey?
    var password: String?
    var offeredMethods: [SSHAuthenticationMethod] = ["publickey", "password", "keyboard-interactive"]

    func decide(_ attempt: SSHAuthenticationAttempt, on connection: SSHServerConnectionInfo) async -> SSHAuthenticationDecision {
        switch attempt {
        case .none:
            return .reject
        case .publicKey(_, .key(let key), _, _):
            return keys.contains(key) ? .accept : .reject
        case .publicKey(let user, .certificate(let certificate), _, _):
            guard let certificateAuthority, certificate.signatureKey == certificateAuthority, certificate.hasValidSignature,
                  certificate.kind == .user, certificate.principals.contains(user) else { return .reject }
            return .accept
        case .password(let user, let password):
            return user == "alice" && password == self.password ? .accept : .reject
        case .keyboardInteractive(let user, nil):
            return user == "alice" ? .ask(KeyboardInteractiveRequest(prompts: [KeyboardInteractivePrompt(prompt: "Password: ", echo: false)])) : .reject
        case .keyboardInteractive(_, let responses?):
            return responses == [password ?? ""] ? .accept : .reject
        }
    }
}

/// Refuses every channel: enough for authentication tests until sessions exist.
private final class RefuseChannelsHandler: ChannelInboundHandler {
    typealias InboundIn = SSHTransportEvent
    typealias OutboundOut = SSHTransportCommand
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .message(var payload) = unwrapInboundIn(data), payload.readInteger(as: UInt8.self) == 90 else { return }
        _ = try? payload.readSSHString(field: "channel type")
        guard let sender = try? payload.readSSHUInt32(field: "sender channel") else { return }
        var failure = ByteBuffer()
        failure.writeSSHByte(92)
        failure.writeSSHUInt32(sender)
        failure.writeSSHUInt32(1)
        failure.writeSSHString("no sessions on this test server")
        failure.writeSSHString("")
        context.writeAndFlush(wrapOutboundOut(.message(failure)), promise: nil)
    }
}

final class AuthenticationTestServer: @unchecked Sendable {
    let port: Int
    let hostKey: SSHPrivateKey
    private let channel: any Channel

    init(authenticator: any SSHServerAuthenticator, failureDelay: TimeAmount = .milliseconds(200), maximumAttempts: Int = 6) async throws {
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        self.hostKey = hostKey
        let transport = SSHTransportConfiguration(role: .server(hostKeys: [SSHServerHostKey(privateKey: hostKey)]))
        let configuration = SSHServerAuthentication.Configuration(maximumAttempts: maximumAttempts)
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(SSHTransportHandler(server: transport))
                    try child.pipeline.syncOperations.addHandler(
                        ServerAuthenticationHandler(authenticator: authenticator, configuration: configuration, failureDelay: failureDelay))
                    try child.pipeline.syncOperations.addHandler(RefuseChannelsHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress?.port ?? 0
    }

    func stop() async { try? await channel.close() }
}

@Suite(.timeLimit(.minutes(10))) struct ServerAuthenticationTests {
    @Test func ourClientWithKeysPasswordAndKeyboardInteractive() async throws {
        let key = try SSHPrivateKey.generate(type: .ecdsaP384)
        let server = try await AuthenticationTestServer(authenticator: TestAuthenticator(keys: [key.publicKey], password: "sesame"))
        let pinned = PinnedHostKeys([server.hostKey.publicKey])
        for credentials in [[SSHClientCredential.privateKey(key)], [.password("sesame")],
                            [.keyboardInteractive({ request in request.prompts.map { _ in "sesame" } })]] {
            let client = try await SSHClient.connect(host: "127.0.0.1", port: server.port, user: "alice", credentials: credentials, hostKeyValidator: pinned)
            await client.close()
        }
        await server.stop()
    }

    @Test func everyFailureWaitsTheSameFixedDelay() async throws {
        let server = try await AuthenticationTestServer(authenticator: TestAuthenticator(password: "sesame"), failureDelay: .milliseconds(300))
        let pinned = PinnedHostKeys([server.hostKey.publicKey])
        for (user, password) in [("alice", "wrong"), ("nobody", "sesame")] {
            let started = ContinuousClock.now
            do {
                _ = try await SSHClient.connect(host: "127.0.0.1", port: server.port, user: user, credentials: [.password(password)], hostKeyValidator: pinned)
                Issue.record("\(user) got in")
            } catch let error as SSHError {
                guard case .authenticationFailed(_, let tried, let allowed) = error.kind else { Issue.record("\(error)"); continue }
                #expect(tried == [.password])
                #expect(allowed == [.publicKey, .password, .keyboardInteractive], "the same list for known and unknown users")
            }
            // The none probe is answered at once; the failed password is held for 300 ms.
            #expect(ContinuousClock.now - started >= .milliseconds(300), "\(user)")
        }
        await server.stop()
    }

    @Test func denyAllByDefault() async throws {
        let server = try await AuthenticationTestServer(authenticator: DenyAllAuthenticator(), failureDelay: .milliseconds(10))
        let key = try SSHPrivateKey.generate(type: .ed25519)
        await #expect(throws: SSHError.self) {
            _ = try await SSHClient.connect(host: "127.0.0.1", port: server.port, user: "root", credentials: [.privateKey(key), .password("root")],
                                            hostKeyValidator: PinnedHostKeys([server.hostKey.publicKey]))
        }
        await server.stop()
    }

    @Test func openSSHClientAuthenticates() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var keys: Set<SSHPublicKey> = []
        for (name, arguments) in [("ed25519", ["-t", "ed25519"]), ("ecdsa", ["-t", "ecdsa"]), ("rsa", ["-t", "rsa", "-b", "3072"])] {
            let made = try await runAsync(try sshKeygenPath(), ["-q"] + arguments + ["-N", "", "-f", "\(directory)/\(name)"])
            #expect(made.status == 0)
            keys.insert(try SSHPublicKeyLine(parsing: try readText("\(directory)/\(name).pub")).key)
        }
        // A user certificate made by ssh-keygen for a key the server does not list.
        _ = try await runAsync(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "", "-f", "\(directory)/ca"])
        _ = try await runAsync(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "", "-f", "\(directory)/certified"])
        _ = try await runAsync(try sshKeygenPath(), ["-q", "-s", "\(directory)/ca", "-I", "alice", "-n", "alice", "\(directory)/certified.pub"])
        let authority = try SSHPublicKeyLine(parsing: try readText("\(directory)/ca.pub")).key
        let server = try await AuthenticationTestServer(
            authenticator: TestAuthenticator(keys: keys, certificateAuthority: authority, password: "sesame"), failureDelay: .milliseconds(50))
        try "[127.0.0.1]:\(server.port) \(server.hostKey.publicKey)\n".write(toFile: "\(directory)/known_hosts", atomically: true, encoding: .utf8)
        let askpass = "\(directory)/askpass"
        try "#!/bin/sh\necho sesame\n".write(toFile: askpass, atomically: true, encoding: .utf8)
        chmod(askpass, 0o755)

        func ssh(_ options: [String], environment: [String: String]? = nil) async throws -> String {
            let base = ["-v", "-F", "/dev/null", "-p", "\(server.port)", "-o", "StrictHostKeyChecking=yes",
                        "-o", "UserKnownHostsFile=\(directory)/known_hosts", "-o", "IdentitiesOnly=yes", "-o", "GSSAPIAuthentication=no"]
            let result = try await runAsync("/usr/bin/ssh", base + options + ["alice@127.0.0.1", "true"], environment: environment)
            return withoutCarriageReturns(result.stderr)
        }
        for name in ["ed25519", "ecdsa", "rsa"] {
            let log = try await ssh(["-o", "BatchMode=yes", "-i", "\(directory)/\(name)"])
            #expect(log.contains("Authenticated to 127.0.0.1"), "\(name):\n\(log.suffix(2000))")
            #expect(log.contains("no sessions on this test server"), "the session was refused as expected")
        }
        let certified = try await ssh(["-o", "BatchMode=yes", "-i", "\(directory)/certified", "-o", "CertificateFile=\(directory)/certified-cert.pub"])
        #expect(certified.contains("Authenticated to 127.0.0.1"), "certificate:\n\(certified.suffix(2000))")
        var environment = ProcessInfo.processInfo.environment
        environment["SSH_ASKPASS"] = askpass
        environment["SSH_ASKPASS_REQUIRE"] = "force"
        environment["DISPLAY"] = ":0"
        for method in ["password", "keyboard-interactive"] {
            let log = try await ssh(["-o", "PreferredAuthentications=\(method)", "-o", "PubkeyAuthentication=no"], environment: environment)
            #expect(log.contains("Authenticated to 127.0.0.1"), "\(method):\n\(log.suffix(2000))")
            #expect(log.contains("using \"\(method)\""), "\(method)")
        }
        await server.stop()
    }
}
