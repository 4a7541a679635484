// The privilege broker's policy (ShhdBrokerPolicy), in one process over a real SOCK_SEQPACKET pair: a login works
// with the host key only in the broker and every decision the broker's; the broker checks publickey signatures
// itself over its own record of the session identifier, refuses what it has no record of, and a network process
// that sends garbage ends its conversation, not the broker. (The protocol's codec: SSHServerHostTests.)
#if canImport(Glibc)
import Glibc
#endif
import CSSHPOSIX
import Foundation
import NIOCore
import SSHPOSIX
import OpenSSHConfig
import SSH
import SSHKeys
import SSHProtocol
import SSHServerHost
@testable import ShhdCommand
import Testing

private struct Greeter: SSHSessionHandler {
    func runSession(_ session: SSHServerSession) async throws -> SSHSessionExit {
        try await session.channel.write(ByteBuffer(string: "hello \(session.user)\n"))
        return .status(0)
    }
}

@Suite(.timeLimit(.minutes(5))) struct BrokerPolicyTests {
    /// The network side holds only the host key's public half and asks the broker for every signature and
    /// decision; a client logs in with its key, and one with another key is refused.
    @Test func aLoginThroughTheBroker() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let alice = try SSHPrivateKey.generate(type: .ed25519)
        let stranger = try SSHPrivateKey.generate(type: .ed25519)
        let policy = ShhdBrokerPolicy(hostKeys: [SSHServerHostKey(privateKey: hostKey)],
                                      authenticator: try madeUpUsersAuthenticator(directory: directory, keys: ["alice": alice.publicKey]))
        let (brokerEnd, networkEnd) = try SSHBrokerSocket.pair()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await SSHBrokerService.serve(brokerEnd, hostKeys: policy.announcedHostKeys, handler: policy) }
            let broker = SSHBrokerClient(socket: networkEnd)
            defer { broker.close() }
            let announced = try await broker.hostKeys()
            let hostKeys = try announced.map { SSHServerHostKey(publicKey: try SSHPublicKey(wireBlob: $0.publicKey)) }
            #expect(hostKeys.map(\.publicKey) == [hostKey.publicKey] && hostKeys.allSatisfy { $0.privateKey == nil })
            var configuration = SSHServer.Configuration(port: 0, hostKeys: hostKeys)
            configuration.hostKeySigner = BrokeredHostKeySigner(broker: broker)
            let server = SSHServer(configuration: configuration,
                                   authenticator: BrokeredAuthenticator(broker: broker, offeredMethods: ["publickey"]), sessionHandler: Greeter())
            group.addTask { try await server.run() }
            let port = try await server.listeningPort
            // A generous handshake deadline: the long tier runs this beside floods that take both cores.
            let client = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "alice", credentials: [.privateKey(alice)],
                                                     hostKeyValidator: PinnedHostKeys([hostKey.publicKey]),
                                                     configuration: .init(connectTimeout: .seconds(120)))
            let result = try await client.execute("anything")
            #expect(String(decoding: result.stdout, as: UTF8.self) == "hello alice\n")
            await client.close()
            await #expect(throws: SSHError.self) {
                _ = try await SSHClient.connect(host: "127.0.0.1", port: port, user: "alice", credentials: [.privateKey(stranger)],
                                                hostKeyValidator: PinnedHostKeys([hostKey.publicKey]), configuration: .init(connectTimeout: .seconds(120)))
            }
            group.cancelAll()
        }
    }

    /// What only a lying network process would ask: a decision for a connection with no key exchange, a signed
    /// publickey attempt whose signature covers another session, an exchange hash of the wrong size, a key it
    /// does not hold.
    @Test func theBrokerTakesNothingOnTrust() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let alice = try SSHPrivateKey.generate(type: .ed25519)
        let policy = ShhdBrokerPolicy(hostKeys: [SSHServerHostKey(privateKey: hostKey)],
                                      authenticator: try madeUpUsersAuthenticator(directory: directory, keys: ["alice": alice.publicKey]))
        func authenticate(_ connection: UInt64, signatureOver sessionIdentifier: [UInt8]) throws -> SSHBrokerReply {
            let data = UserAuthenticationRequest.signedData(sessionIdentifier: sessionIdentifier, user: "alice", service: "ssh-connection",
                                                            algorithm: "ssh-ed25519", keyBlob: alice.publicKey.wireBlob)
            let signature = try alice.signature(for: data, algorithm: .ed25519).wireBlob
            return policy.handle(.authenticate(connection: connection, attempt: .publicKey(user: "alice", algorithm: "ssh-ed25519",
                                                                                          keyBlob: alice.publicKey.wireBlob, signature: signature),
                                               isFirstRequest: true, completedMethods: [], remoteAddress: "127.0.0.1", remotePort: 1,
                                               localAddress: "127.0.0.1", localPort: 22))
        }
        let sessionIdentifier = Array(repeating: UInt8(0x42), count: 32)
        guard case .refused = try authenticate(1, signatureOver: sessionIdentifier) else { Issue.record("no key exchange, yet decided"); return }
        let signed = policy.handle(.signExchangeHash(connection: 1, exchangeHash: sessionIdentifier, algorithm: "ssh-ed25519",
                                                     hostKey: hostKey.publicKey.wireBlob))
        guard case .signature(let blob) = signed else { Issue.record("not signed: \(signed)"); return }
        #expect(hostKey.publicKey.isValidSignature(try SSHSignature(wireBlob: blob), for: sessionIdentifier))
        #expect(try authenticate(1, signatureOver: Array(repeating: 0x43, count: 32)) == .decision(.reject), "a signature over another session")
        guard case .decision(.grant) = try authenticate(1, signatureOver: sessionIdentifier) else { Issue.record("the real signature was refused"); return }
        guard case .refused = try authenticate(1, signatureOver: sessionIdentifier) else { Issue.record("authenticated twice"); return }
        guard case .refused = policy.handle(.signExchangeHash(connection: 2, exchangeHash: [1, 2, 3], algorithm: "ssh-ed25519",
                                                              hostKey: hostKey.publicKey.wireBlob)) else { Issue.record("signed 3 bytes"); return }
        let other = try SSHPrivateKey.generate(type: .ed25519)
        guard case .refused = policy.handle(.signExchangeHash(connection: 2, exchangeHash: sessionIdentifier, algorithm: "ssh-ed25519",
                                                              hostKey: other.publicKey.wireBlob)) else { Issue.record("signed with a key it lacks"); return }
        #expect(policy.handle(.connectionClosed(connection: 1)) == .done)
        guard case .refused = try authenticate(1, signatureOver: sessionIdentifier) else { Issue.record("a closed connection decided"); return }
    }

    /// A session starts only for the user the connection authenticated as, with the variables the broker's own
    /// AcceptEnv takes (whatever the network process passed), and comes back as three descriptors; signals go only
    /// to a session of the connection that asks.
    @Test func sessionsOnlyForWhoLoggedIn() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hostKey = try SSHPrivateKey.generate(type: .ed25519)
        let alice = try SSHPrivateKey.generate(type: .ed25519)
        let policy = ShhdBrokerPolicy(hostKeys: [SSHServerHostKey(privateKey: hostKey)],
                                      authenticator: try madeUpUsersAuthenticator(directory: directory, keys: ["alice": alice.publicKey],
                                                                                  moreConfig: "AcceptEnv LC_*\n"),
                                      launcher: SSHLocalSessionLauncher(shell: "/bin/sh", noLoginFiles: []))
        func start(_ user: String, _ command: String) async -> SSHBrokerAnswer? {
            await policy.answer(.startSession(connection: 1, SSHBrokerSessionRequest(
                user: user, command: .exec(Array(command.utf8)), environment: ["LC_X": Array("one".utf8), "EVIL": Array("two".utf8)],
                terminal: nil, remoteAddress: "10.0.0.1", remotePort: 5555, localAddress: "10.0.0.2", localPort: 22)))
        }
        guard case .refused? = await start("alice", "true")?.reply else { Issue.record("a session before any login"); return }
        let sessionIdentifier = Array(repeating: UInt8(0x42), count: 32)
        _ = policy.handle(.signExchangeHash(connection: 1, exchangeHash: sessionIdentifier, algorithm: "ssh-ed25519", hostKey: hostKey.publicKey.wireBlob))
        guard case .refused? = await start("alice", "true")?.reply else { Issue.record("a session before authentication"); return }
        let data = UserAuthenticationRequest.signedData(sessionIdentifier: sessionIdentifier, user: "alice", service: "ssh-connection",
                                                        algorithm: "ssh-ed25519", keyBlob: alice.publicKey.wireBlob)
        let signature = try alice.signature(for: data, algorithm: .ed25519).wireBlob
        let decision = policy.handle(.authenticate(connection: 1, attempt: .publicKey(user: "alice", algorithm: "ssh-ed25519",
                                                                                      keyBlob: alice.publicKey.wireBlob, signature: signature),
                                                   isFirstRequest: true, completedMethods: [], remoteAddress: "10.0.0.1", remotePort: 5555,
                                                   localAddress: "10.0.0.2", localPort: 22))
        guard case .decision(.grant) = decision else { Issue.record("alice was not let in: \(decision)"); return }
        guard case .refused? = await start("bob", "true")?.reply else { Issue.record("a session for a user who did not log in"); return }
        let answer = try #require(await start("alice", "echo \"$LC_X-$EVIL-$SSH_CONNECTION\""))
        guard case .sessionStarted(let session, false, nil) = answer.reply, answer.descriptors.count == 3 else {
            Issue.record("no session: \(answer.reply) \(answer.descriptors)")
            answer.descriptors.forEach { close($0) }
            return
        }
        close(answer.descriptors[0])
        close(answer.descriptors[2])
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let count = read(answer.descriptors[1], &buffer, buffer.count)
            guard count > 0 else { break }
            output += buffer.prefix(count)
        }
        close(answer.descriptors[1])
        #expect(String(decoding: output, as: UTF8.self) == "one--10.0.0.1 5555 10.0.0.2 22\n")
        guard case .refused = policy.handle(.signalSession(connection: 2, session: session, signal: UInt32(SIGTERM))) else {
            Issue.record("another connection signalled the session")
            return
        }
    }

    /// Garbage from the network process ends that conversation with a protocol error; the broker (this process)
    /// goes on, and a new conversation works.
    @Test func garbageEndsTheConversationNotTheBroker() async throws {
        let policy = ShhdBrokerPolicy(hostKeys: [SSHServerHostKey(privateKey: try SSHPrivateKey.generate(type: .ed25519))],
                                      authenticator: try madeUpUsersAuthenticator(directory: NSTemporaryDirectory(), keys: [:]))
        // (An empty datagram reads as the end of the conversation, as on any SOCK_SEQPACKET socket: serve returns.)
        let (emptyBroker, emptyNetwork) = try SSHBrokerSocket.pair()
        _ = shh_send_message(emptyNetwork.descriptor, nil, 0, nil, 0, 0)
        try await SSHBrokerService.serve(emptyBroker, hostKeys: policy.announcedHostKeys, handler: policy)
        emptyBroker.close()
        emptyNetwork.close()
        for garbage: [UInt8] in [[0xFF], [10, 0, 0], Array(repeating: 0x41, count: 4096), [40, 0, 0, 0, 1, 0, 0, 0, 0]] {
            let (brokerEnd, networkEnd) = try SSHBrokerSocket.pair()
            defer { networkEnd.close() }
            _ = garbage.withUnsafeBytes { shh_send_message(networkEnd.descriptor, $0.baseAddress, $0.count, nil, 0, 0) }
            await #expect(throws: (any Error).self, "\(garbage.prefix(8))") {
                try await SSHBrokerService.serve(brokerEnd, hostKeys: policy.announcedHostKeys, handler: policy)
            }
            brokerEnd.close()
        }
        // Still serving: a fresh conversation answers.
        let (brokerEnd, networkEnd) = try SSHBrokerSocket.pair()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await SSHBrokerService.serve(brokerEnd, hostKeys: policy.announcedHostKeys, handler: policy) }
            let client = SSHBrokerClient(socket: networkEnd)
            #expect(try await client.request(.connectionClosed(connection: 5)) == .done)
            client.close()
            try await group.waitForAll()
        }
        brokerEnd.close()
    }
}

/// A fresh directory for one test's made-up users (the caller removes it).
private func temporaryDirectory() throws -> String {
    let directory = NSTemporaryDirectory() + "shhd-broker-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return directory
}
