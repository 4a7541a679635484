// README.md's forwarding examples, compiled (DocumentationSnippetTests checks each block is here); the behaviour
// behind them runs in ForwardingLibraryTests.
import NIOCore
import SSH
import SSHForwarding
import SSHKeys

private func fetchPage(port: Int) async throws -> String { "" }

func readmeLocalForward(client: SSHClient) async throws -> String {
    let page = try await client.withLocalForward(listeningOn: .tcp(host: "localhost", port: 0),
                                                 to: .endpoint(.tcp(host: "intranet.example", port: 80))) { forward in
        try await fetchPage(port: forward.port ?? 0)
    }
    return page
}

func readmeTunnel(client: SSHClient) async throws {
    let tunnel = try await client.openTunnel(to: .tcp(host: "db.internal", port: 5432))
    try await tunnel.write(ByteBuffer(string: "ping"))
    try await tunnel.sendEOF()
    for try await input in tunnel.input {
        if case .data(let bytes) = input { print(String(buffer: bytes)) }
    }
}

func readmeRemoteForward(client: SSHClient) async throws {
    let forward = try await client.startRemoteForward(listeningOn: .tcp(host: "localhost", port: 0),
                                                      to: .endpoint(.tcp(host: "localhost", port: 3000)))
    print("Allocated port \(forward.boundPort ?? 0) for remote forward to localhost:3000")
}

func readmeJump(bastion: SSHClient, credentials: [SSHClientCredential]) async throws {
    let inner = try await SSHClient.connect(through: bastion, host: "10.0.0.5", user: "me",
                                            credentials: credentials, hostKeyValidator: .knownHosts())
    print(try await inner.run("hostname"))
}

func readmeServerForwarding(configuration: SSHServer.Configuration, authenticator: any SSHServerAuthenticator) -> SSHServer {
    let forwarding = SSHServerForwarding(policy: { _ in .openSSHDefaults }, host: SSHInProcessForwardingHost())
    let server = SSHServer(configuration: configuration, authenticator: authenticator, connectionDelegate: forwarding)
    return server
}
