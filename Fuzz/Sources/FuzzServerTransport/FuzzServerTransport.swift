// Fuzzes the server side of the SSH transport state machine (SSHProtocol's SSHTransport: RFC 4253 version
// exchange, binary packets, KEXINIT and key exchange, NEWKEYS, strict KEX, ext-info) with what a hostile client
// can send. Raw bytes mostly die at the version line, so the first input byte picks a mode that gets deeper:
//
//   header byte: bits 0-1 mode, bits 2-3 how the stream is fed, bits 4-7 n (modes 2 and 3): cipher n % 7; with
//   n >= 7 the server has already sent USERAUTH_SUCCESS (the transport then accepts rekeying, answers pings and
//   delivers connection messages; before it, it answers those with UNIMPLEMENTED, as sshd does).
//   mode 0  raw: the rest of the input is the client's whole byte stream.
//   mode 1  plaintext packets: "SSH-2.0-fuzz\r\n", then records framed as unencrypted packets (KEXINIT,
//           KEX_ECDH_INIT with any public value, NEWKEYS in or out of order, ...).
//   mode 2  encrypted stream: after a real handshake with an in-process client, the rest of the input is the
//           client's encrypted stream as is (mostly fails the MAC; reaches the length checks of each cipher).
//   mode 3  sealed packets: after a real handshake, records are sealed by the in-process client's keys, so the
//           message dispatch after NEWKEYS (service requests, EXT_INFO, ping, rekey KEXINIT, ...) is reached.
//
// A record is a big-endian UInt16 n then n bytes (fewer if the input ends): with the top bit clear those bytes are
// one packet's payload; with it set (n & 0x7FFF bytes) they go into the stream unframed, so valid packets can be
// followed by broken ones. Feeding: the whole stream at once, or in chunks of 1, 7 or 64 bytes.
//
// Beyond "never trap": a thrown error is an SSHProtocolError, closes the transport and queues a DISCONNECT;
// nextEvent() after that returns nil; a server never asks to validate a host key; one input cannot produce more
// events than it has bytes. With FUZZ_TRACE=1 in the environment it prints each event and error (to check that a
// seed gets where it should: `FUZZ_TRACE=1 Fuzz/.build/release/FuzzServerTransport Fuzz/Seeds/FuzzServerTransport/*`).

import CLibFuzzerDriver
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import SSHKeys
@_spi(Testing) import SSHProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard let header = input.first else { return 0 }
    let body = input.dropFirst()
    let chunkSize = [0, 1, 7, 64][Int(header >> 2) & 3]
    let cipher = Int(header >> 4) % Fixtures.cipherChoices.count
    let authenticated = Int(header >> 4) >= Fixtures.cipherChoices.count
    let established = authenticated ? Fixtures.authenticated[cipher] : Fixtures.established[cipher]
    trace("mode \(header & 3), chunks of \(chunkSize == 0 ? "all" : String(chunkSize)), cipher \(Fixtures.cipherChoices[cipher])\(authenticated ? ", authenticated" : "")")
    switch header & 3 {
    case 0:
        var server = Fixtures.startedServer()
        drive(&server, stream: Array(body), chunkSize: chunkSize)
    case 1:
        var server = Fixtures.startedServer()
        var stream = Array("SSH-2.0-fuzz\r\n".utf8)
        forEachRecord(in: body) { record, framed in
            if framed { appendPlaintextPacket(payload: record, to: &stream) } else { stream += record }
        }
        drive(&server, stream: stream, chunkSize: chunkSize)
    case 2:
        var server = established.server
        drive(&server, stream: Array(body), chunkSize: chunkSize)
    default:
        var (client, server) = established
        var stream: [UInt8] = []
        forEachRecord(in: body) { record, framed in
            if framed {
                do {
                    try client.sendUnchecked(ByteBuffer(bytes: record))
                } catch {
                    fatalError("an established client refused to seal a payload: \(error)")
                }
                if let sealed = client.takeOutbound() { stream += sealed.readableBytesView }
            } else {
                stream += record
            }
        }
        drive(&server, stream: stream, chunkSize: chunkSize)
    }
    return 0
}

@_cdecl("FuzzServerTransport_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    shh_fuzz_run_driver(argc, argv, fuzzOneInput)
}

/// Made once per process: an ed25519 host key, and one established client/server pair per cipher (and the same
/// after the server sent USERAUTH_SUCCESS). SSHTransport is a value type, so each input starts from a copy of the
/// same established state.
enum Fixtures {
    static let hostKey: SSHServerHostKey = {
        do {
            return SSHServerHostKey(privateKey: try SSHPrivateKey.generate(type: .ed25519))
        } catch {
            fatalError("cannot make the ed25519 host key: \(error)")
        }
    }()

    /// The server offers everything we implement; the client picks one cipher (and MAC) per established pair.
    static let serverConfiguration = SSHTransportConfiguration(role: .server(hostKeys: [hostKey]))

    static let cipherChoices: [(SSHCipherAlgorithm, SSHMACAlgorithm?)] = [
        (.chacha20Poly1305, nil),
        (.aes128GCM, nil),
        (.aes256GCM, nil),
        (.aes128CTR, .hmacSHA256ETM),
        (.aes256CTR, .hmacSHA512),
        (.aes192CTR, .hmacSHA256),
        (.aes128CTR, .hmacSHA512ETM),
    ]

    /// A started server (identification line and KEXINIT already sent and taken), made once: starting one costs a
    /// KEXINIT with every algorithm name and a random cookie, a noticeable share of an execution. Each input
    /// gets a copy (value type; its buffers are copy on write).
    static func startedServer() -> SSHTransport { started }

    nonisolated(unsafe) private static let started: SSHTransport = {
        var server = SSHTransport(configuration: serverConfiguration)
        do {
            try server.start()
        } catch {
            fatalError("server start() threw: \(error)")
        }
        _ = server.takeOutbound()
        return server
    }()

    nonisolated(unsafe) static let established: [(client: SSHTransport, server: SSHTransport)] = cipherChoices.map { cipher, mac in
        let algorithms = SSHAlgorithms(ciphers: [cipher], macs: mac.map { [$0] } ?? SSHMACAlgorithm.defaults)
        var client = SSHTransport(configuration: SSHTransportConfiguration(role: .client, algorithms: algorithms))
        var server = SSHTransport(configuration: serverConfiguration)
        do {
            try SSHTransport.handshakeInMemory(client: &client, server: &server)
        } catch {
            fatalError("the in-process handshake with \(cipher.rawValue) failed: \(error)")
        }
        guard client.completedKeyExchanges == 1, server.completedKeyExchanges == 1,
              server.negotiatedAlgorithms?.cipherClientToServer == cipher,
              server.negotiatedAlgorithms?.macClientToServer == mac
        else { fatalError("the in-process handshake with \(cipher.rawValue) did not complete as configured") }
        return (client, server)
    }
}

extension Fixtures {
    /// `established`, after the server sent USERAUTH_SUCCESS (which is what makes a server transport take rekeys,
    /// pings and connection messages); the client never reads it, as the fuzz input only uses its sealing keys.
    nonisolated(unsafe) static let authenticated: [(client: SSHTransport, server: SSHTransport)] = established.map { pair in
        var server = pair.server
        do {
            try server.send(ByteBuffer(bytes: [52]))
        } catch {
            fatalError("the established server refused to send USERAUTH_SUCCESS: \(error)")
        }
        _ = server.takeOutbound()
        guard server.isAuthenticated else { fatalError("USERAUTH_SUCCESS did not authenticate the server transport") }
        return (pair.client, server)
    }
}

/// Splits `body` into records (see the header comment); `framed` is false for raw bytes.
func forEachRecord(in body: Slice<UnsafeBufferPointer<UInt8>>, _ handle: (_ record: [UInt8], _ framed: Bool) -> Void) {
    var rest = body[...]
    while rest.count >= 2 {
        let word = Int(rest[rest.startIndex]) << 8 | Int(rest[rest.startIndex + 1])
        rest = rest.dropFirst(2)
        let record = Array(rest.prefix(word & 0x7FFF))
        rest = rest.dropFirst(record.count)
        handle(record, word & 0x8000 == 0)
    }
}

/// RFC 4253 §6 framing before NEWKEYS: packet_length, padding_length, payload, 4 to 11 bytes of padding so the
/// packet is a multiple of 8 bytes.
func appendPlaintextPacket(payload: [UInt8], to stream: inout [UInt8]) {
    var padding = 8 - (5 + payload.count) % 8
    if padding < 4 { padding += 8 }
    let length = UInt32(1 + payload.count + padding)
    stream += [UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16),
               UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length), UInt8(padding)]
    stream += payload
    stream += [UInt8](repeating: 0, count: padding)
}

/// Feeds `stream` to the server in chunks, draining events after each, and checks the transport's contract.
func drive(_ server: inout SSHTransport, stream: [UInt8], chunkSize: Int) {
    let eventLimit = stream.count + 16
    var events = 0
    var offset = 0
    // One buffer for every chunk: receive(_:) copies the bytes in and lets the buffer go, so clearing it does not
    // allocate again (with 1-byte chunks a new buffer per chunk was a malloc per input byte).
    var chunk = ByteBuffer()
    chunk.reserveCapacity(chunkSize == 0 ? stream.count : chunkSize)
    repeat {
        let end = chunkSize == 0 ? stream.count : min(offset + chunkSize, stream.count)
        chunk.clear()
        chunk.writeBytes(stream[offset..<end])
        server.receive(chunk)
        offset = end
        while true {
            let event: SSHTransportEvent?
            do {
                event = try server.nextEvent()
            } catch {
                trace("error: \(error)")
                check(error is SSHProtocolError, "nextEvent threw \(type(of: error)), not SSHProtocolError: \(error)")
                check(server.isClosed, "the transport is still open after nextEvent threw \(error)")
                check(server.takeOutbound() != nil, "no DISCONNECT was queued after \(error)")
                afterClose(&server)
                return
            }
            guard let event else { break }
            trace("event: \(event)")
            events += 1
            check(events <= eventLimit, "\(events) events from \(stream.count) bytes")
            switch event {
            case .hostKeyToValidate:
                check(false, "a server was asked to validate a host key")
            case .peerDisconnected:
                check(server.isClosed, "the transport is still open after the peer's DISCONNECT")
            default:
                break
            }
        }
        _ = server.takeOutbound()
    } while offset < stream.count

    if server.isClosed {
        trace("closed")
        afterClose(&server)
        return
    }
    trace("open: \(server.completedKeyExchanges) key exchange(s), key exchange in progress: \(server.isKeyExchangeInProgress)")
    // Still open: what a caller would do next must not trap either.
    var message = ByteBuffer()
    message.writeInteger(UInt8(94))
    message.writeInteger(UInt32(0))
    try? server.send(message)
    try? server.startKeyExchange()
    _ = server.takeOutbound()
    server.disconnect(reason: .byApplication, description: "fuzz")
    check(server.isClosed, "disconnect() left the transport open")
    afterClose(&server)
}

/// A closed transport reports nothing more and refuses to send.
func afterClose(_ server: inout SSHTransport) {
    do {
        check(try server.nextEvent() == nil, "a closed transport produced an event")
    } catch {
        check(false, "nextEvent threw on a closed transport: \(error)")
    }
    check((try? server.send(ByteBuffer(bytes: [94]))) == nil, "a closed transport accepted a message to send")
}

let tracing = getenv("FUZZ_TRACE").map { String(cString: $0) == "1" } ?? false

func trace(_ line: @autoclosure () -> String) {
    if tracing { print(line()) }
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("server transport invariant failed: \(message())") }
}
