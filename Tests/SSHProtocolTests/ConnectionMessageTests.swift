// Codecs of the connection protocol (RFC 4254 messages 80–100 and their typed payloads): every message and
// payload type round-trips, hand-built bytes decode to the expected fields, and every truncation, trailing byte
// or wrong type fails with an SSHProtocolError instead of a trap.
import NIOCore
import SSHProtocol
import SSHWire
import Testing

@Suite(.timeLimit(.minutes(10))) struct ConnectionMessageTests {
    /// One sample of every message and typed payload. `openTail`: the message ends in request-specific bytes of
    /// any length (or a list of strings), so some of its prefixes are valid messages too.
    static let samples: [(name: String, message: SSHConnectionMessage, openTail: Bool)] = {
        var samples: [(String, SSHConnectionMessage, Bool)] = []
        func global(_ request: SSHGlobalRequest, wantReply: Bool = true, openTail: Bool = false) {
            samples.append(("global \(request.name)", .globalRequest(SSHGlobalRequestMessage(request, wantReply: wantReply)), openTail))
        }
        global(.tcpipForward(address: "localhost", port: 0))
        global(.tcpipForward(address: "", port: 8080), wantReply: false)
        global(.cancelTCPIPForward(address: "0.0.0.0", port: 2222))
        global(.streamLocalForward(socketPath: "/tmp/fwd.sock"))
        global(.cancelStreamLocalForward(socketPath: "/tmp/fwd.sock"))
        global(.keepalive)
        global(.noMoreSessions, wantReply: false)
        global(.hostKeys([[1, 2, 3], Array(repeating: 7, count: 40)]), wantReply: false, openTail: true)
        global(.hostKeysProve([[9, 9], []]), openTail: true)
        global(.unknown(name: "example@shh", data: ByteBuffer(bytes: [0, 1, 2])), openTail: true)
        samples.append(("REQUEST_SUCCESS", .requestSuccess(responseData: ByteBuffer(bytes: [0, 0, 0x1F, 0x90])), true))
        samples.append(("REQUEST_SUCCESS empty", .requestSuccess(responseData: ByteBuffer()), true))
        samples.append(("REQUEST_FAILURE", .requestFailure, false))

        func open(_ type: SSHChannelType, openTail: Bool = false) {
            let message = SSHChannelOpenMessage(channelType: type, senderChannel: 7, initialWindowSize: 2 << 20, maximumPacketSize: 32768)
            samples.append(("open \(type.name)", .channelOpen(message), openTail))
        }
        open(.session)
        open(.directTCPIP(host: "example.com", port: 443, originatorAddress: "127.0.0.1", originatorPort: 50000))
        open(.forwardedTCPIP(connectedAddress: "0.0.0.0", connectedPort: 8080, originatorAddress: "10.0.0.2", originatorPort: 41000))
        open(.directStreamLocal(socketPath: "/run/app.sock"))
        open(.forwardedStreamLocal(socketPath: "/run/fwd.sock"))
        open(.x11(originatorAddress: "127.0.0.1", originatorPort: 6010))
        open(.authAgent)
        open(.unknown(name: "tun@openssh.com", data: ByteBuffer(bytes: [0, 0, 0, 1, 0, 0, 0, 0])), openTail: true)
        samples.append(("OPEN_CONFIRMATION", .channelOpenConfirmation(SSHChannelOpenConfirmationMessage(
            recipientChannel: 7, senderChannel: 3, initialWindowSize: 65536, maximumPacketSize: 16384)), true))
        samples.append(("OPEN_FAILURE", .channelOpenFailure(SSHChannelOpenFailureMessage(
            recipientChannel: 7, reason: .connectFailed, description: "connect to example.com port 443 failed", languageTag: "en")), false))
        samples.append(("WINDOW_ADJUST", .channelWindowAdjust(recipientChannel: 1, bytesToAdd: 1 << 20), false))
        samples.append(("DATA", .channelData(recipientChannel: 1, data: ByteBuffer(bytes: Array(0..<200).map { UInt8($0) })), false))
        samples.append(("DATA empty", .channelData(recipientChannel: 1, data: ByteBuffer()), false))
        samples.append(("EXTENDED_DATA", .channelExtendedData(recipientChannel: 1, dataType: .stderr, data: ByteBuffer(string: "oops\n")), false))
        samples.append(("EOF", .channelEOF(recipientChannel: 2), false))
        samples.append(("CLOSE", .channelClose(recipientChannel: 2), false))
        samples.append(("SUCCESS", .channelSuccess(recipientChannel: 3), false))
        samples.append(("FAILURE", .channelFailure(recipientChannel: 3), false))

        func request(_ request: SSHChannelRequest, wantReply: Bool = true, openTail: Bool = false) {
            samples.append(("request \(request.name)", .channelRequest(SSHChannelRequestMessage(recipientChannel: 4, request: request, wantReply: wantReply)), openTail))
        }
        let modes = SSHTerminalModes([.init(opcode: SSHTerminalModes.VINTR, value: 3), .init(opcode: SSHTerminalModes.ECHO, value: 1),
                                      .init(opcode: SSHTerminalModes.outputSpeed, value: 38400)])
        request(.pseudoTerminal(SSHPseudoTerminalRequest(terminalType: "xterm-256color", size: SSHTerminalSize(columns: 80, rows: 24, pixelWidth: 640, pixelHeight: 480), modes: modes)))
        request(.x11Forwarding(SSHX11ForwardingRequest(singleConnection: false, authenticationProtocol: "MIT-MAGIC-COOKIE-1", authenticationCookie: "0123456789abcdef", screenNumber: 0)))
        request(.environment("LANG", "en_US.UTF-8"), wantReply: false)
        request(.environment(name: "LC_LATIN1", value: [0x63, 0x61, 0x66, 0xE9]), wantReply: false)
        request(.shell)
        request(.exec("uptime"))
        request(.exec(command: [0x6C, 0x73, 0x20, 0xE9, 0xFF]))
        request(.subsystem(name: "sftp"))
        request(.windowChange(SSHTerminalSize(columns: 132, rows: 43)), wantReply: false)
        request(.xonXoff(clientCanDo: true), wantReply: false)
        request(.signal(name: "INT"), wantReply: false)
        request(.exitStatus(3), wantReply: false)
        request(.exitSignal(SSHExitSignal(signalName: "KILL", coreDumped: true, errorMessage: "killed", languageTag: "")), wantReply: false)
        request(.break(milliseconds: 500))
        request(.endOfWrite, wantReply: false)
        request(.authAgent)
        request(.keepalive)
        request(.unknown(name: "winadj@putty.projects.tartarus.org", data: ByteBuffer()), openTail: true)
        return samples
    }()

    static func bytes(_ message: SSHConnectionMessage) -> [UInt8] {
        let payload = message.payload
        return payload.getBytes(at: payload.readerIndex, length: payload.readableBytes)!
    }

    @Test func everyMessageRoundTrips() throws {
        for (name, message, _) in Self.samples {
            let encoded = Self.bytes(message)
            let decoded = try SSHConnectionMessage(payload: ByteBuffer(bytes: encoded))
            #expect(decoded == message, "\(name)")
            #expect(Self.bytes(decoded) == encoded, "\(name)")
            #expect(encoded.first == message.messageNumber, "\(name)")
            #expect(SSHConnectionMessage.isConnectionMessage(message.messageNumber))
        }
    }

    @Test func samplesCoverEveryMessageNumber() {
        let numbers = Set(Self.samples.map(\.message.messageNumber))
        #expect(numbers == Set((80...82).map(UInt8.init) + (90...100).map(UInt8.init)))
    }

    /// Every prefix of every message either fails with an SSHProtocolError or, for messages ending in an open
    /// tail, decodes to some message; nothing traps. Messages of fixed shape must fail for every prefix.
    @Test func everyPrefixFailsCleanly() {
        for (name, message, openTail) in Self.samples {
            let encoded = Self.bytes(message)
            for length in 0..<encoded.count {
                do {
                    _ = try SSHConnectionMessage(payload: ByteBuffer(bytes: encoded[0..<length]))
                    #expect(openTail && length > 0, "\(name): the \(length)-byte prefix decoded")
                } catch {
                    #expect(error is SSHProtocolError, "\(name): \(type(of: error))")
                }
            }
        }
    }

    @Test func trailingBytesAreRefused() {
        for (name, message, openTail) in Self.samples where !openTail {
            var encoded = Self.bytes(message)
            encoded.append(0)
            #expect(throws: SSHProtocolError.self, "\(name)") { try SSHConnectionMessage(payload: ByteBuffer(bytes: encoded)) }
        }
    }

    @Test func otherMessageNumbersAreRefused() {
        for number in [UInt8(0), 1, 50, 79, 83, 89, 101, 127, 255] {
            #expect(throws: SSHProtocolError.self) { try SSHConnectionMessage(payload: ByteBuffer(bytes: [number, 0, 0, 0, 0])) }
            #expect(!SSHConnectionMessage.isConnectionMessage(number))
        }
        #expect(throws: SSHProtocolError.self) { try SSHConnectionMessage(payload: ByteBuffer()) }
    }

    /// Bytes laid out by hand from RFC 4254 (not by our encoder), as OpenSSH's client sends them.
    @Test func handBuiltPtyRequestDecodes() throws {
        var bytes: [UInt8] = [98, 0, 0, 0, 5]  // CHANNEL_REQUEST, recipient 5
        bytes += [0, 0, 0, 7] + Array("pty-req".utf8) + [1]
        bytes += [0, 0, 0, 5] + Array("xterm".utf8)
        bytes += [0, 0, 0, 80, 0, 0, 0, 24, 0, 0, 2, 128, 0, 0, 1, 224]
        let modes: [UInt8] = [1, 0, 0, 0, 3, 53, 0, 0, 0, 1, 129, 0, 0, 0x96, 0, 0]
        bytes += [0, 0, 0, UInt8(modes.count)] + modes
        let message = try SSHConnectionMessage(payload: ByteBuffer(bytes: bytes))
        guard case .channelRequest(let request) = message, case .pseudoTerminal(let pty) = request.request else {
            Issue.record("decoded as \(message)")
            return
        }
        #expect(request.recipientChannel == 5 && request.wantReply)
        #expect(pty.terminalType == "xterm")
        #expect(pty.size == SSHTerminalSize(columns: 80, rows: 24, pixelWidth: 640, pixelHeight: 480))
        #expect(pty.modes.encoded == modes)
        #expect(pty.modes.modes == [.init(opcode: 1, value: 3), .init(opcode: 53, value: 1), .init(opcode: 129, value: 38400)])
    }

    @Test func handBuiltSessionOpenAndDataDecode() throws {
        let open: [UInt8] = [90, 0, 0, 0, 7] + Array("session".utf8) + [0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0x80, 0]
        #expect(try SSHConnectionMessage(payload: ByteBuffer(bytes: open)) == .channelOpen(
            SSHChannelOpenMessage(channelType: .session, senderChannel: 0, initialWindowSize: 2 << 20, maximumPacketSize: 32768)))
        let data: [UInt8] = [94, 0, 0, 0, 1, 0, 0, 0, 3, 0x61, 0x62, 0x63]
        #expect(try SSHConnectionMessage(payload: ByteBuffer(bytes: data)) == .channelData(recipientChannel: 1, data: ByteBuffer(string: "abc")))
        let stderr: [UInt8] = [95, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x21]
        #expect(try SSHConnectionMessage(payload: ByteBuffer(bytes: stderr)) == .channelExtendedData(recipientChannel: 1, dataType: .stderr, data: ByteBuffer(string: "!")))
    }

    @Test func dataLengthBeyondThePayloadIsRefused() {
        // A data string claiming 4 GiB must fail on the length check, before anything is allocated.
        let bytes: [UInt8] = [94, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]
        #expect(throws: SSHProtocolError.self) { try SSHConnectionMessage(payload: ByteBuffer(bytes: bytes)) }
    }

    @Test func namesMustBeUTF8() {
        let open: [UInt8] = [90, 0, 0, 0, 2, 0xC3, 0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        #expect(throws: SSHProtocolError.self) { try SSHConnectionMessage(payload: ByteBuffer(bytes: open)) }
    }

    @Test func terminalModesParsingStops() {
        // TTY_OP_END ends the list.
        #expect(SSHTerminalModes(encoded: [53, 0, 0, 0, 1, 0, 50, 0, 0, 0, 1]).modes == [.init(opcode: 53, value: 1)])
        // Opcodes 160-255 stop parsing (RFC 4254 §8).
        #expect(SSHTerminalModes(encoded: [53, 0, 0, 0, 1, 200, 50, 0, 0, 0, 1]).modes == [.init(opcode: 53, value: 1)])
        // A blob cut short yields what was whole.
        #expect(SSHTerminalModes(encoded: [53, 0, 0, 0, 1, 50, 0, 0]).modes == [.init(opcode: 53, value: 1)])
        #expect(SSHTerminalModes(encoded: []).modes.isEmpty)
        #expect(SSHTerminalModes.none.encoded == [0])
        // Opcodes outside 1-159 are not encoded.
        #expect(SSHTerminalModes([.init(opcode: 0, value: 1), .init(opcode: 200, value: 1)]).encoded == [0])
    }

    @Test func openFailureReasonsAndUnknownCodes() throws {
        #expect(SSHChannelOpenFailureReason.resourceShortage.rawValue == 4)
        #expect(SSHChannelOpenFailureReason.unknownChannelType.description == "unknown channel type")
        let bytes: [UInt8] = [92, 0, 0, 0, 1, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 0]
        guard case .channelOpenFailure(let failure) = try SSHConnectionMessage(payload: ByteBuffer(bytes: bytes)) else {
            Issue.record("not an open failure")
            return
        }
        #expect(failure.reason.rawValue == 99 && failure.reason.description == "reason 99")
    }
}
