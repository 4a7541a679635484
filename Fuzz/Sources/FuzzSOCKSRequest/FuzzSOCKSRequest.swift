// Fuzzes SOCKSRequestParser (SOCKS 4, 4A, 5; RFC 1928): what any program on the machine may send to `shh -D`'s
// port. The input is the client's byte stream, fed three ways: whole, one byte at a time, and in 7-byte chunks,
// each the way a caller feeds it (keep what the parser leaves, add the next chunk behind it, feed again after a
// reply). All three must end the same way: the same replies, the same request or refusal, the same error, and
// after a request the same leftover bytes, which must be exactly the input's tail. Errors must be
// SSHForwardingError's .socks; a request's host must be non-empty, bounded and free of control bytes; the parser
// must reach an outcome within the longest request it allows; replies must have their versions' shapes; and an
// address must be text that inet_pton turns back into the very bytes the client sent, with the port it sent.
// `FUZZ_TRACE=1` prints each input's outcome.

import CLibFuzzerDriver
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import SSHForwarding

/// How one feeding of the stream ended, as text so the three feedings can be compared.
struct Outcome: Equatable {
    var events: [String] = []
    /// Input bytes consumed by a request (a refusal may stop at different points depending on how the bytes
    /// arrived: a field over its bound is refused when the bound is passed, which a large chunk passes at once).
    var consumed = 0
}

/// The longest stream the parser may read before it must decide: SOCKS 4A with the longest user id and name
/// (8 + 1024 + 1 + 255 + 1) is longer than SOCKS 5's greeting and request (2 + 255 + 4 + 1 + 255 + 2).
let longestRequest = 8 + SOCKSRequestParser.maximumUserIDLength + 1 + SOCKSRequestParser.maximumHostNameLength + 1

func feed(_ bytes: [UInt8], chunk: Int) -> Outcome {
    var parser = SOCKSRequestParser()
    var outcome = Outcome()
    var buffer = ByteBuffer()
    var offset = 0
    while true {
        let step: SOCKSParseStep
        do {
            step = try parser.feed(&buffer)
        } catch let error as SSHForwardingError {
            guard case .socks(let reason) = error.kind else {
                fatalError("a SOCKS error of another kind: \(error)")
            }
            check(!reason.isEmpty, "an error without a reason")
            outcome.events.append("throw \(reason)")
            return outcome
        } catch {
            fatalError("feed threw something other than SSHForwardingError: \(error)")
        }
        switch step {
        case .needMoreBytes:
            check(buffer.readableBytes == 0, "needMoreBytes with \(buffer.readableBytes) bytes left unread")
            guard offset < bytes.count else {
                outcome.events.append("incomplete")
                return outcome
            }
            let end = min(offset + chunk, bytes.count)
            buffer.writeBytes(bytes[offset..<end])
            offset = end
        case .reply(let reply):
            let reply = Array(reply.readableBytesView)
            check(reply == [0x05, 0x00], "a reply that is not SOCKS5's method selection: \(reply)")
            check(outcome.events.isEmpty, "a second reply")
            outcome.events.append("reply \(reply)")
        case .connect(let request):
            outcome.consumed = offset - buffer.readableBytes
            checkRequest(request, sent: bytes[..<outcome.consumed])
            var leftover = Array(buffer.readableBytesView)
            leftover += bytes[offset...]
            check(leftover[...] == bytes[outcome.consumed...], "the leftover is not the input's tail")
            outcome.events.append("connect \(request.version) \(request.host) \(request.port)")
            return outcome
        case .refuse(let reply, let error):
            let reply = Array(reply.readableBytesView)
            check(
                reply == [0x05, 0xFF] || (reply.count == 8 && reply[0...1] == [0x00, 0x5B])
                    || (reply.count == 10 && reply[0] == 0x05 && (1...8).contains(reply[1])),
                "a refusal reply of no known shape: \(reply)"
            )
            guard case .socks(let reason) = error.kind else { fatalError("a refusal of another kind: \(error)") }
            outcome.events.append("refuse \(reply) \(reason)")
            return outcome
        }
        check(offset - buffer.readableBytes <= longestRequest, "read \(offset - buffer.readableBytes) bytes without deciding")
    }
}

/// Checks a request against `sent`, the bytes it was parsed from.
func checkRequest(_ request: SOCKSConnectRequest, sent: ArraySlice<UInt8>) {
    let sent = Array(sent)
    let host = Array(request.host.utf8)
    check(!host.isEmpty, "an empty host")
    check(host.count <= SOCKSRequestParser.maximumHostNameLength, "a host of \(host.count) bytes")
    check(!host.contains { $0 < 0x20 || $0 == 0x7F }, "a host with a control byte: \(host)")
    let success = Array(request.successReply().readableBytesView)
    let failure = Array(request.failureReply(.hostUnreachable).readableBytesView)
    switch request.version {
    case .v4, .v4a:
        check(success == [0, 0x5A, 0, 0, 0, 0, 0, 0] && failure == [0, 0x5B, 0, 0, 0, 0, 0, 0], "SOCKS4 replies")
        check(sent[0...1] == [4, 1], "a SOCKS4 request that is not CONNECT")
        check(request.port == UInt16(sent[2]) << 8 | UInt16(sent[3]), "the SOCKS4 port")
        if request.version == .v4 {
            check(address(request.host, family: AF_INET) == Array(sent[4..<8]), "SOCKS4 host \(request.host)")
        } else {
            check(sent[4..<7] == [0, 0, 0] && sent[7] != 0, "SOCKS4A without its 0.0.0.x marker")
            check(sent.suffix(host.count + 1) == host + [0], "the SOCKS4A name is not the bytes sent")
        }
    case .v5:
        check(success.count == 10 && success[0...1] == [5, 0] && failure[0...1] == [5, 4], "SOCKS5 replies")
        let request5 = sent[(2 + Int(sent[1]))...]           // after the greeting
        let header = Array(request5.prefix(4))
        check(header[0...2] == [5, 1, 0], "a SOCKS5 request that is not CONNECT: \(header)")
        check(request.port == UInt16(sent[sent.count - 2]) << 8 | UInt16(sent[sent.count - 1]), "the SOCKS5 port")
        let addressBytes = Array(sent[(request5.startIndex + 4)..<(sent.count - 2)])
        switch header[3] {
        case 1: check(address(request.host, family: AF_INET) == addressBytes, "SOCKS5 IPv4 host \(request.host)")
        case 4: check(address(request.host, family: AF_INET6) == addressBytes, "SOCKS5 IPv6 host \(request.host)")
        case 3: check([UInt8(host.count)] + host == addressBytes, "the SOCKS5 name is not the bytes sent")
        default: check(false, "SOCKS5 address type \(header[3]) accepted")
        }
    }
}

/// What inet_pton makes of `text`, or nil when it is not an address of `family`.
func address(_ text: String, family: Int32) -> [UInt8]? {
    var storage = [UInt8](repeating: 0, count: family == AF_INET ? 4 : 16)
    return inet_pton(family, text, &storage) == 1 ? storage : nil
}

let trace = getenv("FUZZ_TRACE").map { String(cString: $0) == "1" } ?? false

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let whole = feed(bytes, chunk: max(bytes.count, 1))
    let single = feed(bytes, chunk: 1)
    let sevens = feed(bytes, chunk: 7)
    if trace { print(whole.events, "consumed", whole.consumed) }
    check(whole == single, "whole \(whole) but byte at a time \(single)")
    check(whole == sevens, "whole \(whole) but 7 at a time \(sevens)")
    return 0
}

@_cdecl("FuzzSOCKSRequest_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    shh_fuzz_run_driver(argc, argv, fuzzOneInput)
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("SOCKS request invariant failed: \(message())") }
}
