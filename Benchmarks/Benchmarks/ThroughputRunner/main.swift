// In-process throughput of the library: an SSHServer and an SSHClient in this one process, talking over loopback
// TCP, with one cipher. "down" sends N bytes from the server's session to the client (like `ssh host 'cat file'`),
// "up" sends them from the client to the server's session (like `cat file | ssh host 'cat > /dev/null'`). Bytes come
// from and go to memory, so what is measured is the SSH stack: framing, crypto, windows, event loops.
//
//   shh-throughput <cipher> <up|down> <bytes> [mac]   →   prints "<seconds> <MB/s>"
//
// Scripts/bench-throughput-vs-openssh.sh runs it interleaved with ssh→sshd and prints the ratios.
import Foundation
import NIOCore
import NIOPosix
import SSH
import SSHKeys
import SSHProtocol

/// Serves "source N" (writes N zero bytes) and "sink" (reads everything, then reports the count on stdout).
struct MemorySessions: SSHSessionHandler {
    func runSession(_ session: SSHServerSession) async throws -> SSHSessionExit {
        guard case .exec(let bytes) = session.command else { return .status(1) }
        let words = String(decoding: bytes, as: UTF8.self).split(separator: " ")
        switch words.first {
        case "source":
            guard words.count == 2, var remaining = Int(words[1]) else { return .status(2) }
            let chunk = ByteBuffer(repeating: 0, count: 256 * 1024)
            while remaining > 0 {
                let count = min(remaining, chunk.readableBytes)
                try await session.channel.write(chunk.getSlice(at: 0, length: count) ?? chunk)
                remaining -= count
            }
            return .status(0)
        case "sink":
            var total = 0
            for try await input in session.channel.input {
                if case .data(let data) = input { total += data.readableBytes }
                if case .eof = input { break }
            }
            try await session.channel.write(ByteBuffer(string: "\(total)"))
            return .status(0)
        default:
            return .status(127)
        }
    }
}

struct AcceptOneKey: SSHServerAuthenticator {
    let key: SSHPublicKey
    var offeredMethods: [SSHAuthenticationMethod] { [.publicKey] }
    func decide(_ attempt: SSHAuthenticationAttempt, on connection: SSHServerConnectionInfo) async -> SSHAuthenticationDecision {
        if case .publicKey(_, .key(key), _, _) = attempt { return .accept }
        return .reject
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("shh-throughput: \(message)\n".utf8))
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count >= 4, let cipher = SSHCipherAlgorithm(rawValue: arguments[1]), ["up", "down"].contains(arguments[2]),
      let byteCount = Int(arguments[3]) else {
    fail("usage: shh-throughput <cipher> <up|down> <bytes> [mac]")
}
var macs = SSHMACAlgorithm.defaults
if arguments.count > 4 {
    guard let mac = SSHMACAlgorithm(rawValue: arguments[4]) else { fail("unknown MAC \(arguments[4])") }
    macs = [mac]
}
let algorithms = SSHAlgorithms(ciphers: [cipher], macs: macs)

let hostKey = try SSHPrivateKey.generate(type: .ed25519)
let userKey = try SSHPrivateKey.generate(type: .ed25519)
let server = SSHServer(configuration: .init(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)], algorithms: algorithms),
                       authenticator: AcceptOneKey(key: userKey.publicKey), sessionHandler: MemorySessions())
let serving = Task { try await server.run() }
let client = try await SSHClient.connect(host: "127.0.0.1", port: try await server.listeningPort, user: "bench",
                                         credentials: [.privateKey(userKey)], hostKeyValidator: PinnedHostKeys([hostKey.publicKey]),
                                         configuration: .init(algorithms: algorithms))
let session = try await client.openSession()
let started = ContinuousClock.now
var received = 0
if arguments[2] == "down" {
    try await session.request(.exec("source \(byteCount)"))
    for try await input in session.input {
        if case .data(let data) = input { received += data.readableBytes }
    }
} else {
    try await session.request(.exec("sink"))
    let chunk = ByteBuffer(repeating: 0, count: 256 * 1024)
    var remaining = byteCount
    while remaining > 0 {
        let count = min(remaining, chunk.readableBytes)
        try await session.write(chunk.getSlice(at: 0, length: count) ?? chunk)
        remaining -= count
    }
    try await session.sendEOF()
    var reply = ""
    for try await input in session.input {
        if case .data(let data) = input { reply += String(buffer: data) }
    }
    received = Int(reply) ?? -1
}
let elapsed = ContinuousClock.now - started
guard received == byteCount else { fail("moved \(received) of \(byteCount) bytes") }
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print(String(format: "%.3f %.1f", seconds, Double(byteCount) / seconds / 1e6))
await client.close()
serving.cancel()
_ = try? await serving.value
