// The processes the side-by-side harness starts besides OpenSSH's and shh/shhd: a bare library client (SSHClient) as
// one-shot commands, a connection load generator and a holder of idle connections. Each is a subcommand of
// shh-bench so the orchestrator measures whole processes, as it does for ssh and sshd.
import Foundation
import NIOCore
import NIOPosix
import SSH
import SSHKeys
import SSHProtocol
import SSHServerHost

struct HarnessFailure: Error, CustomStringConvertible {
    var description: String
}

/// Connection settings shared by the client subcommands.
struct ClientSettings {
    var port: Int
    var user: String
    var identity: SSHPrivateKey
    var hostKey: SSHPublicKey
    var algorithms = SSHAlgorithms()

    init(_ options: [String: String]) throws {
        guard let port = options["port"].flatMap(Int.init), let user = options["user"], let identity = options["identity"],
              let hostKey = options["host-key-pub"] else {
            throw HarnessFailure(description: "client commands need --port, --user, --identity and --host-key-pub")
        }
        self.port = port
        self.user = user
        self.identity = try SSHKeyFile.loadPrivateKey(atPath: identity)
        self.hostKey = try SSHPublicKeyLine(parsing: String(contentsOfFile: hostKey, encoding: .utf8)).key
        if let kex = options["kex"] {
            guard let algorithm = SSHKeyExchangeAlgorithm(rawValue: kex) else { throw HarnessFailure(description: "unknown kex \(kex)") }
            algorithms.keyExchange = [algorithm]
        }
        if let cipher = options["cipher"] {
            guard let algorithm = SSHCipherAlgorithm(rawValue: cipher) else { throw HarnessFailure(description: "unknown cipher \(cipher)") }
            algorithms.ciphers = [algorithm]
        }
        if let mac = options["mac"] {
            guard let algorithm = SSHMACAlgorithm(rawValue: mac) else { throw HarnessFailure(description: "unknown mac \(mac)") }
            algorithms.macs = [algorithm]
        }
    }

    func connect() async throws -> SSHClient {
        try await SSHClient.connect(host: "127.0.0.1", port: port, user: user, credentials: [.privateKey(identity)],
                                    hostKeyValidator: PinnedHostKeys([hostKey]), configuration: .init(algorithms: algorithms))
    }
}

/// `shh-bench client ... --command CMD [--upload N]`: what `ssh host CMD > /dev/null` (or with N zero bytes on
/// stdin) does: connect, run, discard the output, exit with the command's status.
func runClient(_ options: [String: String]) async throws -> Int32 {
    let settings = try ClientSettings(options)
    guard let command = options["command"] else { throw HarnessFailure(description: "client needs --command") }
    let upload = options["upload"].flatMap(Int.init) ?? 0
    let client = try await settings.connect()
    let session = try await client.openSession()
    try await session.request(.exec(command))
    var status: Int32 = 255
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            // As ssh: a command may end before reading its input; what is left is not sent, and that is no error.
            let chunk = ByteBuffer(repeating: 0, count: 256 * 1024)
            var remaining = upload
            do {
                while remaining > 0 {
                    let count = min(remaining, chunk.readableBytes)
                    try await session.write(chunk.getSlice(at: 0, length: count) ?? chunk)
                    remaining -= count
                }
                try await session.sendEOF()
            } catch let error as SSHError {
                guard case .channelClosed = error.kind else { throw error }
            }
        }
        for try await input in session.input {
            if case .exitStatus(let code) = input { status = code }
        }
        try await group.waitForAll()
    }
    await client.close()
    return status
}

/// `shh-bench load ... --connections N --concurrency C`: N logins that each run `true`, C at a time. Prints
/// "<connections> <seconds>".
func runLoad(_ options: [String: String]) async throws {
    let settings = try ClientSettings(options)
    let total = options["connections"].flatMap(Int.init) ?? 100
    let concurrency = max(1, options["concurrency"].flatMap(Int.init) ?? 4)
    let started = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        var started = 0
        func startOne() {
            started += 1
            group.addTask {
                let client = try await settings.connect()
                let result = try await client.execute("true")
                await client.close()
                guard result.exitStatus == 0 else { throw HarnessFailure(description: "true exited with \(String(describing: result.exitStatus))") }
            }
        }
        for _ in 0..<min(concurrency, total) { startOne() }
        while try await group.next() != nil {
            if started < total { startOne() }
        }
    }
    print("\(total) \(seconds(ContinuousClock.now - started))")
}

/// `shh-bench hold ... --connections N [--shell yes]`: opens N authenticated connections (each with an idle shell
/// session when asked), prints "ready", and holds them until stdin ends.
func runHold(_ options: [String: String]) async throws {
    let settings = try ClientSettings(options)
    let total = options["connections"].flatMap(Int.init) ?? 100
    let withShell = options["shell"] == "yes"
    var clients: [SSHClient] = []
    var sessions: [SSHChannel] = []
    for _ in 0..<total {
        let client = try await settings.connect()
        clients.append(client)
        if withShell {
            let session = try await client.openSession()
            try await session.request(.shell)
            sessions.append(session)
        }
    }
    // Let the server settle (shells started, buffers shrunk) before it is measured.
    try await Task.sleep(for: .milliseconds(500))
    FileHandle.standardOutput.write(Data("ready\n".utf8))
    while readLine() != nil {}
    for client in clients { await client.close() }
    _ = sessions
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
