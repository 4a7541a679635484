// The privilege broker's protocol in one process over a real SOCK_SEQPACKET pair: every message round-trips and
// nothing malformed decodes; descriptors travel with a message.
#if canImport(Glibc)
import Glibc
#endif
import CSSHPOSIX
import Foundation
import NIOCore
import SSH
import SSHForwarding
import SSHProtocol
import SSHServerHost
import Testing

@Suite(.timeLimit(.minutes(5))) struct BrokerProtocolTests {
    static let messages: [SSHBrokerMessage] = [
        .notice(.hello(version: 1, hostKeys: [.init(publicKey: [1, 2, 3], certificate: nil), .init(publicKey: [4], certificate: [5, 6])])),
        .request(id: 7, .signExchangeHash(connection: 9, exchangeHash: Array(repeating: 0xAB, count: 32), algorithm: "ssh-ed25519", hostKey: [1, 2])),
        .request(id: 8, .authenticate(connection: 1, attempt: .publicKey(user: "alice", algorithm: "rsa-sha2-512", keyBlob: [9], signature: [8, 7]),
                                      isFirstRequest: true, completedMethods: ["publickey"], remoteAddress: "10.0.0.1", remotePort: 5555,
                                      localAddress: "10.0.0.2", localPort: 22)),
        .request(id: 9, .authenticate(connection: 1, attempt: .keyboardInteractive(user: "bob", responses: ["a", "b"]), isFirstRequest: false,
                                      completedMethods: [], remoteAddress: "::1", remotePort: 1, localAddress: "::1", localPort: 2)),
        .request(id: 10, .authenticate(connection: 2, attempt: .password(user: "carol", password: "pässword"), isFirstRequest: false,
                                       completedMethods: [], remoteAddress: "", remotePort: 0, localAddress: "", localPort: 0)),
        .request(id: 11, .banner(connection: 3, user: "dave", remoteAddress: "1.2.3.4", localAddress: "5.6.7.8", localPort: 2222)),
        .request(id: 12, .maximumAttempts(connection: 3, user: "dave", remoteAddress: "1.2.3.4", localAddress: "5.6.7.8", localPort: 2222)),
        .request(id: 13, .connectionClosed(connection: 3)),
        .reply(id: 7, .signature([1, 2, 3])),
        .reply(id: 8, .decision(.grant(SSHLoginGrant(forcedCommand: "true", permitsTerminal: false, environment: ["A": "1", "B": "2"],
                                                     acceptedEnvironment: ["LANG"], method: "publickey", maximumSessions: 3)))),
        .reply(id: 9, .decision(.ask(KeyboardInteractiveRequest(name: "n", instruction: "i", prompts: [.init(prompt: "Password: ", echo: false)])))),
        .reply(id: 10, .decision(.partialSuccess(remainingMethods: ["password"]))),
        .reply(id: 10, .decision(.reject)),
        .reply(id: 11, .banner("welcome\n")),
        .reply(id: 11, .banner(nil)),
        .reply(id: 12, .maximumAttempts(3)),
        .reply(id: 13, .done),
        .reply(id: 14, .refused("no")),
        .request(id: 15, .startSession(connection: 4, SSHBrokerSessionRequest(
            user: "erin", command: .exec(Array("ls -l\0\u{FF}".utf8)), environment: ["LANG": Array("C.UTF-8".utf8), "LC_X": [0xFF]],
            terminal: SSHPseudoTerminalRequest(terminalType: "xterm", size: SSHTerminalSize(columns: 80, rows: 24, pixelWidth: 1, pixelHeight: 2),
                                               modes: SSHTerminalModes(encoded: [53, 0, 0, 0, 1, 0])),
            remoteAddress: "10.0.0.1", remotePort: 5555, localAddress: "10.0.0.2", localPort: 22))),
        .request(id: 16, .startSession(connection: 4, SSHBrokerSessionRequest(user: "erin", command: .shell, environment: [:], terminal: nil,
                                                                              remoteAddress: "", remotePort: 0, localAddress: "", localPort: 0))),
        .request(id: 17, .startSession(connection: 4, SSHBrokerSessionRequest(user: "erin", command: .subsystem("sftp"), environment: [:],
                                                                              terminal: nil, remoteAddress: "::1", remotePort: 1,
                                                                              localAddress: "::1", localPort: 2))),
        .request(id: 18, .signalSession(connection: 4, session: 7, signal: 15)),
        .reply(id: 15, .sessionStarted(session: 7, terminal: true, messageOfTheDay: Array("motd\n".utf8))),
        .reply(id: 16, .sessionStarted(session: 8, terminal: false, messageOfTheDay: nil)),
        .reply(id: 17, .sessionRefused(message: Array("no account\n".utf8), status: 254)),
        .notice(.sessionExited(session: 7, exit: .exited(3))),
        .notice(.sessionExited(session: 8, exit: .signaled(9))),
        // Forwarding (issue 18).
        .request(id: 19, .startSession(connection: 4, SSHBrokerSessionRequest(user: "erin", command: .shell, environment: [:], terminal: nil,
                                                                              remoteAddress: "", remotePort: 0, localAddress: "", localPort: 0,
                                                                              agentSocket: "/tmp/ssh-abcdefghij/agent.4"))),
        .request(id: 20, .forwardingPolicy(connection: 4)),
        .request(id: 21, .connectStreamLocal(connection: 4, path: "/run/app.sock")),
        .request(id: 22, .listenStreamLocal(connection: 4, path: "/tmp/forward.sock")),
        .request(id: 23, .makeAgentSocket(connection: 4)),
        .request(id: 24, .removeAgentSocket(connection: 4, path: "/tmp/ssh-abcdefghij/agent.4")),
        .request(id: 25, .listenPrivilegedTCP(connection: 4, address: "::1", port: 80)),
        .reply(id: 20, .forwardingPolicy(SSHForwardingPolicy.openSSHDefaults)),
        .reply(id: 20, .forwardingPolicy({
            var policy = SSHForwardingPolicy(tcpForwarding: .local, streamLocalForwarding: .remote, gatewayPorts: .clientSpecified,
                                             permitOpen: ["db:5432", "*:443"], permitListen: [])
            policy.streamLocalBind = SSHStreamLocalBindOptions(unlinkExisting: true, mask: 0o117)
            policy.allowsPrivilegedPorts = true
            return policy
        }())),
        .reply(id: 21, .descriptor),
        .reply(id: 23, .agentSocket(path: "/tmp/ssh-abcdefghij/agent.4")),
        .reply(id: 8, .decision(.grant({
            var grant = SSHLoginGrant(method: "publickey")
            grant.permitsPortForwarding = false
            grant.permitsAgentForwarding = false
            grant.permittedOpens = ["db:5432"]
            grant.permittedListens = ["*:8080"]
            return grant
        }()))),
    ]

    @Test func everyMessageRoundTrips() throws {
        for message in Self.messages {
            #expect(try SSHBrokerMessage(decoding: message.encode()) == message)
        }
    }

    /// Cut short, padded, or with a NUL in a name: refused, never trapped on.
    @Test func malformedMessagesAreRefused() throws {
        for message in Self.messages {
            let bytes = Array(message.encode().readableBytesView)
            for length in 0..<bytes.count {
                #expect(throws: SSHBrokerProtocolError.self) { try SSHBrokerMessage(decoding: ByteBuffer(bytes: bytes.prefix(length))) }
            }
            #expect(throws: SSHBrokerProtocolError.self) { try SSHBrokerMessage(decoding: ByteBuffer(bytes: bytes + [0])) }
        }
        // Found by FuzzBrokerMessage: a boolean of 2 read as true, so one message had two encodings.
        var twoForTrue = Array(SSHBrokerMessage.notice(.hello(version: 1, hostKeys: [.init(publicKey: [1], certificate: [2])])).encode().readableBytesView)
        twoForTrue[14] = 2  // number, version, count, the key (4 + 1 bytes), then the certificate flag
        #expect(throws: SSHBrokerProtocolError.self) { try SSHBrokerMessage(decoding: ByteBuffer(bytes: twoForTrue)) }
        // Found by FuzzBrokerMessage: a grant's variables out of order decoded, and encoded again in order.
        let ordered = Array(SSHBrokerMessage.reply(id: 1, .decision(.grant(SSHLoginGrant(environment: ["A": "1", "B": "2"], method: "m"))))
            .encode().readableBytesView)
        let swapped = ordered.replacing([0, 0, 0, 1, 0x41, 0, 0, 0, 1, 0x31, 0, 0, 0, 1, 0x42, 0, 0, 0, 1, 0x32],
                                        with: [0, 0, 0, 1, 0x42, 0, 0, 0, 1, 0x32, 0, 0, 0, 1, 0x41, 0, 0, 0, 1, 0x31])
        #expect(swapped != ordered)
        #expect(throws: SSHBrokerProtocolError.self) { try SSHBrokerMessage(decoding: ByteBuffer(bytes: swapped)) }
        let nulUser = SSHBrokerMessage.request(id: 1, .banner(connection: 1, user: "root\0x", remoteAddress: "", localAddress: "", localPort: 0))
        #expect(throws: SSHBrokerProtocolError.self) { try SSHBrokerMessage(decoding: nulUser.encode()) }
        #expect(throws: SSHBrokerProtocolError.self) { try SSHBrokerMessage(decoding: ByteBuffer(bytes: [99, 0, 0, 0, 1])) }
    }

    /// The fuzzer's seeds are real messages (so it starts from every kind), each decoding to the bytes it came from.
    @Test func fuzzSeedsAreMessages() throws {
        let seeds = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/Seeds/FuzzBrokerMessage")
        let names = try FileManager.default.contentsOfDirectory(atPath: seeds.path)
        #expect(names.count >= 15)
        for name in names {
            let bytes = [UInt8](try Data(contentsOf: seeds.appendingPathComponent(name)))
            let message = try SSHBrokerMessage(decoding: ByteBuffer(bytes: bytes))
            #expect(Array(message.encode().readableBytesView) == bytes, "\(name)")
        }
    }

    @Test func descriptorsTravelWithAMessage() throws {
        let (broker, network) = try SSHBrokerSocket.pair()
        defer { broker.close(); network.close() }
        var pipe: [Int32] = [-1, -1]
        #expect(shh_pipe_cloexec(&pipe) == 0)
        try broker.send(.reply(id: 1, .done), descriptors: [pipe[1]])
        close(pipe[1])
        let received = try #require(try network.receive())
        #expect(received.message == .reply(id: 1, .done))
        #expect(received.descriptors.count == 1)
        _ = "through".withCString { write(received.descriptors[0], $0, 7) }
        close(received.descriptors[0])
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(read(pipe[0], &buffer, 16) == 7)
        close(pipe[0])
    }
}
