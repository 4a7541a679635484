// SOCKSRequestParser against hand-made client byte streams: every request form whole and one byte at a time,
// pipelined payloads, each refusal with the reply the client reads, bounds, and bytes that are not SOCKS.

import NIOCore
import Testing

@testable import SSHForwarding

/// What feeding a whole stream produced: each step in order, and the bytes left unconsumed.
private struct Outcome {
    var replies: [[UInt8]] = []
    var request: SOCKSConnectRequest?
    var refusal: (reply: [UInt8], error: SSHForwardingError)?
    var thrown: SSHForwardingError?
    var leftover: [UInt8] = []
}

/// Feeds `bytes` in chunks of `chunk` bytes (all at once when nil), as a caller would: it keeps what the parser
/// leaves and adds each new chunk behind it, and feeds again after a reply.
private func run(_ bytes: [UInt8], chunk: Int? = nil) -> Outcome {
    var parser = SOCKSRequestParser()
    var outcome = Outcome()
    var buffer = ByteBuffer()
    var offset = 0
    let size = chunk ?? max(bytes.count, 1)
    while true {
        do {
            switch try parser.feed(&buffer) {
            case .needMoreBytes:
                guard offset < bytes.count else {
                    outcome.leftover = buffer.readBytes(length: buffer.readableBytes) ?? []
                    return outcome
                }
                let end = min(offset + size, bytes.count)
                buffer.writeBytes(bytes[offset..<end])
                offset = end
            case .reply(let reply):
                outcome.replies.append(Array(reply.readableBytesView))
            case .connect(let request):
                outcome.request = request
                buffer.writeBytes(bytes[offset...])
                outcome.leftover = buffer.readBytes(length: buffer.readableBytes) ?? []
                return outcome
            case .refuse(let reply, let error):
                outcome.refusal = (Array(reply.readableBytesView), error)
                return outcome
            }
        } catch let error as SSHForwardingError {
            outcome.thrown = error
            return outcome
        } catch {
            Issue.record("feed threw something other than SSHForwardingError: \(error)")
            return outcome
        }
    }
}

private func socksReason(_ error: SSHForwardingError?) -> String? {
    guard let error, case .socks(let reason) = error.kind else { return nil }
    return reason
}

private let greeting: [UInt8] = [0x05, 0x01, 0x00]
private let payload = Array("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n".utf8)

private func socks4(command: UInt8 = 1, port: UInt16, address: [UInt8], user: String = "alice") -> [UInt8] {
    [0x04, command, UInt8(port >> 8), UInt8(port & 0xFF)] + address + Array(user.utf8) + [0]
}

private func socks5Request(command: UInt8 = 1, type: UInt8, address: [UInt8], port: UInt16) -> [UInt8] {
    [0x05, command, 0x00, type] + address + [UInt8(port >> 8), UInt8(port & 0xFF)]
}

private func socks5Domain(_ name: [UInt8], port: UInt16) -> [UInt8] {
    socks5Request(type: 3, address: [UInt8(name.count)] + name, port: port)
}

@Suite struct SOCKSProtocolTests {
    // MARK: Every form, whole and one byte at a time

    static let chunkings: [Int?] = [nil, 1, 2, 3, 5]

    @Test(arguments: chunkings) func socks4Connect(chunk: Int?) {
        let outcome = run(socks4(port: 22, address: [192, 0, 2, 7]), chunk: chunk)
        #expect(outcome.request == SOCKSConnectRequest(version: .v4, host: "192.0.2.7", port: 22))
        #expect(outcome.replies.isEmpty)
        #expect(outcome.leftover.isEmpty)
    }

    @Test func socks4WithEmptyUserIDAndAddressZero() {
        // 0.0.0.0 is not 4A's marker (its last byte must be non-zero), so it stays an address, as in OpenSSH.
        let outcome = run(socks4(port: 80, address: [0, 0, 0, 0], user: ""))
        #expect(outcome.request == SOCKSConnectRequest(version: .v4, host: "0.0.0.0", port: 80))
    }

    @Test(arguments: chunkings) func socks4aConnect(chunk: Int?) {
        let bytes = socks4(port: 443, address: [0, 0, 0, 1], user: "") + Array("example.com".utf8) + [0]
        let outcome = run(bytes, chunk: chunk)
        #expect(outcome.request == SOCKSConnectRequest(version: .v4a, host: "example.com", port: 443))
        #expect(outcome.leftover.isEmpty)
    }

    @Test(arguments: chunkings) func socks5IPv4(chunk: Int?) {
        let bytes = greeting + socks5Request(type: 1, address: [127, 0, 0, 1], port: 8080)
        let outcome = run(bytes, chunk: chunk)
        #expect(outcome.replies == [[0x05, 0x00]])
        #expect(outcome.request == SOCKSConnectRequest(version: .v5, host: "127.0.0.1", port: 8080))
        #expect(outcome.leftover.isEmpty)
    }

    @Test(arguments: chunkings) func socks5DomainName(chunk: Int?) {
        let bytes = greeting + socks5Domain(Array("shh.example".utf8), port: 65535)
        let outcome = run(bytes, chunk: chunk)
        #expect(outcome.replies == [[0x05, 0x00]])
        #expect(outcome.request == SOCKSConnectRequest(version: .v5, host: "shh.example", port: 65535))
    }

    @Test(arguments: chunkings) func socks5IPv6(chunk: Int?) {
        let loopback: [UInt8] = Array(repeating: 0, count: 15) + [1]
        let outcome = run(greeting + socks5Request(type: 4, address: loopback, port: 22), chunk: chunk)
        #expect(outcome.request == SOCKSConnectRequest(version: .v5, host: "::1", port: 22))
    }

    @Test func socks5GreetingWithSeveralMethodsPicksNoAuthentication() {
        let outcome = run([0x05, 0x03, 0x02, 0x01, 0x00] + socks5Request(type: 1, address: [10, 0, 0, 1], port: 1))
        #expect(outcome.replies == [[0x05, 0x00]])
        #expect(outcome.request?.host == "10.0.0.1")
    }

    @Test func socks5UTF8DomainIsKept() {
        let outcome = run(greeting + socks5Domain(Array("bücher.example".utf8), port: 80))
        #expect(outcome.request?.host == "bücher.example")
    }

    @Test func socks5LongestDomain() {
        let name = Array(repeating: UInt8(ascii: "a"), count: 255)
        let outcome = run(greeting + socks5Domain(name, port: 80), chunk: 1)
        #expect(outcome.request?.host.utf8.count == 255)
    }

    @Test func socks4LongestUserIDAnd4aHostName() {
        let user = String(repeating: "u", count: SOCKSRequestParser.maximumUserIDLength)
        let host = String(repeating: "h", count: SOCKSRequestParser.maximumHostNameLength)
        let bytes = socks4(port: 1, address: [0, 0, 0, 9], user: user) + Array(host.utf8) + [0]
        #expect(run(bytes).request?.host == host)
        #expect(run(bytes, chunk: 1).request?.host == host)
    }

    // MARK: IPv6 text

    @Test(arguments: [
        ("00000000000000000000000000000000", "::"),
        ("00000000000000000000000000000001", "::1"),
        ("20010db8000000000000000000000001", "2001:db8::1"),
        ("20010db8000000010000000000000001", "2001:db8:0:1::1"),       // the longest run, not the first
        ("20010db8000000000001000000000001", "2001:db8::1:0:0:1"),     // equal runs: the first
        ("20010db8000100010001000100010001", "2001:db8:1:1:1:1:1:1"),
        ("20010db8000000010001000100010001", "2001:db8:0:1:1:1:1:1"),  // one zero group stays a 0
        ("fe800000000000000000000000000000", "fe80::"),
        ("00000000000000000000ffffc0000207", "::ffff:192.0.2.7"),
        ("abcdef0123456789abcdef0123456789", "abcd:ef01:2345:6789:abcd:ef01:2345:6789"),
    ])
    func ipv6Text(hex: String, text: String) {
        let bytes = stride(from: 0, to: hex.count, by: 2).map { offset -> UInt8 in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16) ?? 0
        }
        #expect(SOCKSRequestParser.ipv6Text(bytes) == text)
    }

    // MARK: Pipelined payloads

    @Test(arguments: chunkings) func socks4PayloadAfterTheRequestIsLeftForTheCaller(chunk: Int?) {
        let outcome = run(socks4(port: 80, address: [192, 0, 2, 1]) + payload, chunk: chunk)
        #expect(outcome.request?.host == "192.0.2.1")
        #expect(outcome.leftover == payload)
    }

    @Test(arguments: chunkings) func socks4aPayloadAfterTheRequestIsLeftForTheCaller(chunk: Int?) {
        let bytes = socks4(port: 80, address: [0, 0, 0, 255]) + Array("example.org".utf8) + [0] + payload
        let outcome = run(bytes, chunk: chunk)
        #expect(outcome.request?.host == "example.org")
        #expect(outcome.leftover == payload)
    }

    @Test(arguments: chunkings) func socks5GreetingRequestAndPayloadInOneWrite(chunk: Int?) {
        let outcome = run(greeting + socks5Domain(Array("example.net".utf8), port: 80) + payload, chunk: chunk)
        #expect(outcome.replies == [[0x05, 0x00]])
        #expect(outcome.request?.host == "example.net")
        #expect(outcome.leftover == payload)
    }

    @Test func feedConsumesOnlyTheGreetingBeforeItsReply() throws {
        var parser = SOCKSRequestParser()
        let request = socks5Request(type: 1, address: [1, 2, 3, 4], port: 5)
        var buffer = ByteBuffer(bytes: greeting + request)
        guard case .reply = try parser.feed(&buffer) else { Issue.record("expected the method selection"); return }
        #expect(Array(buffer.readableBytesView) == request)
        guard case .connect(let parsed) = try parser.feed(&buffer) else { Issue.record("expected a connect"); return }
        #expect(parsed.host == "1.2.3.4")
        #expect(buffer.readableBytes == 0)
    }

    @Test func feedingAfterTheRequestThrows() throws {
        var parser = SOCKSRequestParser()
        var buffer = ByteBuffer(bytes: socks4(port: 1, address: [1, 1, 1, 1]))
        _ = try parser.feed(&buffer)
        var more = ByteBuffer(bytes: [0])
        #expect(throws: SSHForwardingError.self) { try parser.feed(&more) }
    }

    // MARK: Replies

    @Test func successRepliesAreWhatOpenSSHSends() {
        #expect(Array(SOCKSConnectRequest(version: .v4, host: "a", port: 80).successReply().readableBytesView)
            == [0x00, 0x5A, 0, 0, 0, 0, 0, 0])
        #expect(Array(SOCKSConnectRequest(version: .v4a, host: "a", port: 80).successReply().readableBytesView)
            == [0x00, 0x5A, 0, 0, 0, 0, 0, 0])
        #expect(Array(SOCKSConnectRequest(version: .v5, host: "a", port: 0x1F90).successReply().readableBytesView)
            == [0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0x1F, 0x90])
    }

    @Test(arguments: SOCKSFailure.allCases) func failureReplies(reason: SOCKSFailure) {
        #expect(Array(SOCKSConnectRequest(version: .v4, host: "a", port: 80).failureReply(reason).readableBytesView)
            == [0x00, 0x5B, 0, 0, 0, 0, 0, 0])
        #expect(Array(SOCKSConnectRequest(version: .v4a, host: "a", port: 80).failureReply(reason).readableBytesView)
            == [0x00, 0x5B, 0, 0, 0, 0, 0, 0])
        #expect(Array(SOCKSConnectRequest(version: .v5, host: "a", port: 80).failureReply(reason).readableBytesView)
            == [0x05, reason.rawValue, 0x00, 0x01, 0, 0, 0, 0, 0, 0])
    }

    @Test func failureCodesAreRFC1928s() {
        #expect(SOCKSFailure.generalFailure.rawValue == 1)
        #expect(SOCKSFailure.notAllowed.rawValue == 2)
        #expect(SOCKSFailure.hostUnreachable.rawValue == 4)
        #expect(SOCKSFailure.connectionRefused.rawValue == 5)
        #expect(SOCKSFailure.commandNotSupported.rawValue == 7)
    }

    // MARK: Refusals

    @Test(arguments: chunkings) func socks4BindIsRefusedWithRequestRejected(chunk: Int?) {
        let outcome = run(socks4(command: 2, port: 21, address: [192, 0, 2, 1]), chunk: chunk)
        #expect(outcome.request == nil)
        #expect(outcome.refusal?.reply == [0x00, 0x5B, 0, 0, 0, 0, 0, 0])
        #expect(socksReason(outcome.refusal?.error)?.contains("BIND") == true)
    }

    @Test func socks5WithoutNoAuthenticationGetsNoAcceptableMethods() {
        let outcome = run([0x05, 0x02, 0x01, 0x02] + socks5Request(type: 1, address: [1, 2, 3, 4], port: 5))
        #expect(outcome.replies.isEmpty)
        #expect(outcome.request == nil)
        #expect(outcome.refusal?.reply == [0x05, 0xFF])
        #expect(socksReason(outcome.refusal?.error)?.contains("username/password") == true)
    }

    @Test func socks5WithNoMethodsGetsNoAcceptableMethods() {
        let outcome = run([0x05, 0x00], chunk: 1)
        #expect(outcome.refusal?.reply == [0x05, 0xFF])
    }

    @Test(arguments: [(UInt8(2), "BIND"), (3, "UDP ASSOCIATE"), (0, "0x00"), (0x7F, "0x7F")])
    func socks5CommandsOtherThanConnectAreNotSupported(command: UInt8, named: String) {
        let outcome = run(greeting + socks5Request(command: command, type: 1, address: [1, 2, 3, 4], port: 5), chunk: 1)
        #expect(outcome.replies == [[0x05, 0x00]])
        #expect(outcome.refusal?.reply == [0x05, 0x07, 0x00, 0x01, 0, 0, 0, 0, 0, 0])
        #expect(socksReason(outcome.refusal?.error)?.contains(named) == true)
    }

    @Test(arguments: [UInt8(0), 2, 5, 0xFF]) func socks5UnknownAddressTypeIsNotSupported(type: UInt8) {
        let outcome = run(greeting + [0x05, 0x01, 0x00, type, 1, 2, 3, 4, 0, 80])
        #expect(outcome.refusal?.reply == [0x05, 0x08, 0x00, 0x01, 0, 0, 0, 0, 0, 0])
    }

    @Test func socks5RequestWithAnotherVersionOrReservedByteIsRefused() {
        let wrongVersion = run(greeting + [0x04, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0, 80])
        #expect(wrongVersion.refusal?.reply == [0x05, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0])
        #expect(socksReason(wrongVersion.refusal?.error)?.contains("version 4") == true)
        let reserved = run(greeting + [0x05, 0x01, 0x01, 0x01, 1, 2, 3, 4, 0, 80])
        #expect(reserved.refusal?.reply == [0x05, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0])
        #expect(socksReason(reserved.refusal?.error)?.contains("reserved") == true)
    }

    @Test func socks5EmptyDomainIsRefused() {
        let outcome = run(greeting + [0x05, 0x01, 0x00, 0x03, 0x00, 0, 80])
        #expect(outcome.refusal?.reply.prefix(2) == [0x05, 0x01])
        #expect(socksReason(outcome.refusal?.error)?.contains("empty") == true)
    }

    @Test(arguments: [UInt8(0x00), 0x01, 0x0A, 0x0D, 0x1B, 0x1F, 0x7F])
    func domainsWithControlBytesAreRefused(byte: UInt8) {
        let name = Array("evil".utf8) + [byte] + Array(".example".utf8)
        let five = run(greeting + socks5Domain(name, port: 80))
        #expect(five.request == nil)
        #expect(five.refusal?.reply.prefix(2) == [0x05, 0x01])
        #expect(socksReason(five.refusal?.error)?.contains("control byte") == true)
        // In SOCKS 4A a NUL ends the name, so it cannot be inside one; the rest is refused the same way.
        guard byte != 0 else { return }
        let fourA = run(socks4(port: 80, address: [0, 0, 0, 1]) + name + [0])
        #expect(fourA.request == nil)
        #expect(fourA.refusal?.reply == [0x00, 0x5B, 0, 0, 0, 0, 0, 0])
    }

    @Test func domainsThatAreNotUTF8AreRefused() {
        let outcome = run(greeting + socks5Domain([0x61, 0xC3, 0x28, 0x62], port: 80))
        #expect(outcome.refusal?.reply.prefix(2) == [0x05, 0x01])
        #expect(socksReason(outcome.refusal?.error)?.contains("UTF-8") == true)
        let fourA = run(socks4(port: 80, address: [0, 0, 0, 1]) + [0xFF, 0xFE, 0])
        #expect(fourA.refusal?.reply == [0x00, 0x5B, 0, 0, 0, 0, 0, 0])
    }

    @Test func socks4aEmptyHostNameIsRefused() {
        let outcome = run(socks4(port: 80, address: [0, 0, 0, 1]) + [0])
        #expect(outcome.refusal?.reply == [0x00, 0x5B, 0, 0, 0, 0, 0, 0])
    }

    // MARK: Bounds

    @Test(arguments: [nil, 1, 4096] as [Int?]) func hugeSocks4UserIDIsRefusedOnceItPassesTheBound(chunk: Int?) {
        // A megabyte without a NUL: refused as soon as the bound is passed, without reading the rest.
        let bytes = [0x04, 0x01, 0, 80, 1, 2, 3, 4] + Array(repeating: UInt8(ascii: "u"), count: 1 << 20)
        var parser = SOCKSRequestParser()
        var buffer = ByteBuffer()
        var offset = 0
        let size = chunk ?? bytes.count
        while offset < bytes.count {
            buffer.writeBytes(bytes[offset..<min(offset + size, bytes.count)])
            offset += size
            guard let step = try? parser.feed(&buffer) else { Issue.record("threw"); return }
            switch step {
            case .needMoreBytes: continue
            case .refuse(let reply, let error):
                #expect(Array(reply.readableBytesView) == [0x00, 0x5B, 0, 0, 0, 0, 0, 0])
                #expect(socksReason(error)?.contains("user id longer than 1024 bytes") == true)
                #expect(offset <= 8 + SOCKSRequestParser.maximumUserIDLength + 1 + size)
                return
            default: Issue.record("unexpected \(step)"); return
            }
        }
        Issue.record("never refused")
    }

    @Test func userIDOneByteOverTheBoundIsRefused() {
        let user = String(repeating: "u", count: SOCKSRequestParser.maximumUserIDLength + 1)
        let outcome = run(socks4(port: 80, address: [1, 2, 3, 4], user: user))
        #expect(outcome.refusal?.reply == [0x00, 0x5B, 0, 0, 0, 0, 0, 0])
    }

    @Test(arguments: [nil, 1] as [Int?]) func socks4aHostNameOverTheBoundIsRefused(chunk: Int?) {
        let host = Array(repeating: UInt8(ascii: "h"), count: SOCKSRequestParser.maximumHostNameLength + 1)
        let outcome = run(socks4(port: 80, address: [0, 0, 0, 1]) + host + [0], chunk: chunk)
        #expect(outcome.refusal?.reply == [0x00, 0x5B, 0, 0, 0, 0, 0, 0])
        #expect(socksReason(outcome.refusal?.error)?.contains("longer than 255 bytes") == true)
    }

    @Test func socks5MaximumMethodCountIsRead() {
        let methods = (0...254).map { UInt8($0 + 1) }   // 255 methods, "no authentication" not among them
        #expect(run([0x05, 0xFF] + methods, chunk: 7).refusal?.reply == [0x05, 0xFF])
        let withNone = Array(methods.dropLast()) + [0x00]
        #expect(run([0x05, 0xFF] + withNone, chunk: 7).replies == [[0x05, 0x00]])
    }

    @Test func parserHoldsNoMoreThanItsBound() throws {
        // Fed a 1 KiB user id in pieces, the parser's own copy is the only thing that grows; the caller's
        // buffer is drained every time.
        var parser = SOCKSRequestParser()
        var buffer = ByteBuffer(bytes: [0x04, 0x01, 0, 80, 1, 2, 3, 4])
        for _ in 0..<(SOCKSRequestParser.maximumUserIDLength / 64) {
            buffer.writeBytes(Array(repeating: UInt8(ascii: "u"), count: 64))
            guard case .needMoreBytes = try parser.feed(&buffer) else { Issue.record("expected needMoreBytes"); return }
            #expect(buffer.readableBytes == 0)
        }
        buffer.writeBytes([0])
        guard case .connect = try parser.feed(&buffer) else { Issue.record("expected a connect"); return }
    }

    // MARK: Not SOCKS at all

    @Test func httpRequestIsAClearError() {
        for chunk in Self.chunkings {
            let outcome = run(Array("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n".utf8), chunk: chunk)
            let reason = socksReason(outcome.thrown)
            #expect(reason?.contains("not a SOCKS 4 or 5 request (first byte 0x47)") == true)
            #expect(reason?.contains("HTTP proxy") == true)
            #expect(outcome.thrown?.description.hasPrefix("SOCKS: ") == true)
        }
        #expect(socksReason(run(Array("CONNECT example.com:443 HTTP/1.1\r\n\r\n".utf8)).thrown)?.contains("HTTP") == true)
    }

    @Test func tlsClientHelloIsAClearError() {
        let reason = socksReason(run([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).thrown)
        #expect(reason?.contains("TLS") == true)
    }

    @Test(arguments: [UInt8(0x00), 0x01, 0x03, 0x06, 0xFF]) func otherFirstBytesAreRefused(byte: UInt8) {
        let outcome = run([byte, 0x01, 0x00])
        #expect(outcome.thrown != nil)
        #expect(outcome.request == nil)
        #expect(outcome.refusal == nil)
    }

    @Test func emptyInputNeedsMoreBytes() throws {
        var parser = SOCKSRequestParser()
        var buffer = ByteBuffer()
        guard case .needMoreBytes = try parser.feed(&buffer) else { Issue.record("expected needMoreBytes"); return }
    }
}
