// What a SOCKS client sends to the server side of `ssh -D`: SOCKS 4 CONNECT (Ying-Da Lee, "SOCKS: A protocol for
// TCP proxy across firewalls"), its 4A extension (a domain name after the user id), and SOCKS 5 (RFC 1928 §3-§6)
// with "no authentication" only. I/O-free: bytes go in, replies and the request come out, so tests can feed one
// byte at a time and a fuzzer can feed anything. Behaviour follows OpenSSH's channel_decode_socks4/5 (channels.c),
// except that we answer refusals the client can read (OpenSSH just closes) and bound names to what DNS can hold.

import NIOCore

/// The SOCKS version a client spoke.
public enum SOCKSVersion: Sendable, Hashable {
    /// SOCKS 4, with an IPv4 address.
    case v4
    /// SOCKS 4A: SOCKS 4 with a domain name for the proxy to resolve.
    case v4a
    /// SOCKS 5 (RFC 1928).
    case v5
}

/// Why a SOCKS request failed, as the reply to the client says it.
///
/// SOCKS 5 has a code for each (RFC 1928 §6); SOCKS 4 and 4A have one, "request rejected or failed" (0x5B),
/// which every case becomes.
public enum SOCKSFailure: UInt8, Sendable, Hashable, CaseIterable {
    /// Any other failure (0x01).
    case generalFailure = 0x01
    /// A rule forbids the connection, e.g. the SSH server refused to open the channel (0x02).
    case notAllowed = 0x02
    /// The network is unreachable (0x03).
    case networkUnreachable = 0x03
    /// The host is unreachable or its name does not resolve (0x04).
    case hostUnreachable = 0x04
    /// The target refused the connection (0x05).
    case connectionRefused = 0x05
    /// The connection attempt timed out (0x06).
    case ttlExpired = 0x06
    /// The command is not CONNECT (0x07).
    case commandNotSupported = 0x07
    /// The address type is not IPv4, a domain name or IPv6 (0x08).
    case addressTypeNotSupported = 0x08
}

/// A complete SOCKS CONNECT request: where the client wants to go.
public struct SOCKSConnectRequest: Sendable, Hashable {
    /// The version the client spoke, which decides the shape of the reply.
    public var version: SOCKSVersion
    /// The target: an IPv4 address in dotted decimal, an IPv6 address in RFC 5952 text (`::1`), or a domain name
    /// (never empty, no control bytes, valid UTF-8), each as `getaddrinfo` takes it.
    public var host: String
    /// The target's TCP port.
    public var port: UInt16

    /// A request for `host`:`port` in `version`.
    /// - Parameters:
    ///   - version: the version the client spoke.
    ///   - host: the target address or name.
    ///   - port: the target port.
    public init(version: SOCKSVersion, host: String, port: UInt16) {
        self.version = version
        self.host = host
        self.port = port
    }

    /// The reply that tells the client its connection is up; send it, then relay bytes both ways.
    ///
    /// As OpenSSH sends it: SOCKS 4 `00 5A`, port and address zero; SOCKS 5 `05 00 00 01`, bound address
    /// 0.0.0.0 and the request's port (a forwarded connection has no local address worth telling).
    public func successReply() -> ByteBuffer {
        switch version {
        case .v4, .v4a: socks4Reply(granted: true)
        case .v5: socks5Reply(0x00, port: port)
        }
    }

    /// The reply that tells the client its connection failed; send it, then close.
    /// - Parameter reason: why; SOCKS 4 and 4A say only "rejected or failed" (0x5B).
    public func failureReply(_ reason: SOCKSFailure) -> ByteBuffer {
        switch version {
        case .v4, .v4a: socks4Reply(granted: false)
        case .v5: socks5Reply(reason.rawValue, port: 0)
        }
    }
}

/// What to do after feeding bytes to a ``SOCKSRequestParser``.
public enum SOCKSParseStep: Sendable {
    /// The request is not complete: feed more bytes when they arrive.
    case needMoreBytes
    /// Send these bytes to the client (SOCKS 5's method selection), then feed again, starting with what is left
    /// in the buffer: a client may send its request before it reads the reply.
    case reply(ByteBuffer)
    /// The request is complete. Open the connection, then answer with ``SOCKSConnectRequest/successReply()`` or
    /// ``SOCKSConnectRequest/failureReply(_:)``. Bytes left in the buffer are the client's first payload.
    case connect(SOCKSConnectRequest)
    /// The client speaks a SOCKS we understand but asks for something we refuse or sends something malformed:
    /// send `reply` (the refusal in the client's own version), then close. `error` says why, for the log.
    case refuse(reply: ByteBuffer, error: SSHForwardingError)
}

/// Reads what a SOCKS 4, 4A or 5 client sends to a proxy, incrementally, as `ssh -D` accepts it.
///
/// Feed bytes as they arrive and act on each step; the parser consumes only the bytes of the request, so what
/// follows it (a client that pipelines its payload) stays in the buffer:
///
/// ```swift
/// var parser = SOCKSRequestParser()
/// loop: while true {
///     switch try parser.feed(&received) {
///     case .needMoreBytes: break loop                        // wait for more bytes
///     case .reply(let reply): write(reply)                    // then feed again
///     case .refuse(let reply, let error): write(reply); close(because: error); break loop
///     case .connect(let request): open(request, firstPayload: received); break loop
///     }
/// }
/// ```
///
/// Bytes that cannot be SOCKS at all (an HTTP request, TLS) throw `SSHForwardingError` with kind
/// ``SSHForwardingError/Kind/socks(_:)``: there is no reply the client would read, so close. After a connect,
/// a refusal or a throw the parser is finished, and feeding it again throws. It holds at most
/// ``maximumUserIDLength`` bytes of its own, however the client splits or pads its request.
public struct SOCKSRequestParser: Sendable {
    /// The longest SOCKS 4 user id accepted, in bytes (OpenSSH's limit; the id is read and ignored).
    public static let maximumUserIDLength = 1024
    /// The longest domain name accepted, in bytes: SOCKS 5's length byte allows no more, and DNS names are
    /// shorter, so SOCKS 4A names are held to the same bound.
    public static let maximumHostNameLength = 255

    private enum State: Sendable {
        case version
        case socks4Header
        case socks4UserID(port: UInt16, address: [UInt8])
        case socks4aHostName(port: UInt16)
        case socks5MethodCount
        case socks5Methods(count: Int)
        case socks5RequestHeader
        case socks5HostNameLength
        case socks5Address(type: UInt8, length: Int)
        case finished
    }

    private var state = State.version
    /// The bytes of the field being read, when it arrives in pieces; never longer than the longest field.
    private var field: [UInt8] = []

    /// A parser waiting for a client's first byte.
    public init() {}

    /// Reads as much of the request as `bytes` holds, consuming exactly the bytes it uses.
    /// - Parameter bytes: what the client sent that has not been fed yet; on return, what the parser did not use.
    /// - Returns: what to do next.
    /// - Throws: `SSHForwardingError` (kind ``SSHForwardingError/Kind/socks(_:)``) when the bytes are not SOCKS 4
    ///   or 5, or when the parser has already finished.
    public mutating func feed(_ bytes: inout ByteBuffer) throws -> SOCKSParseStep {
        while true {
            switch state {
            case .version:
                guard let version = bytes.readInteger(as: UInt8.self) else { return .needMoreBytes }
                switch version {
                case 4: state = .socks4Header
                case 5: state = .socks5MethodCount
                default:
                    state = .finished
                    throw SSHForwardingError(.socks(Self.describeForeignFirstByte(version)))
                }

            case .socks4Header:
                // CD, DSTPORT, DSTIP.
                guard collect(7, from: &bytes) else { return .needMoreBytes }
                let command = field[0]
                let port = UInt16(field[1]) << 8 | UInt16(field[2])
                let address = Array(field[3..<7])
                field.removeAll(keepingCapacity: true)
                guard command == 1 else {
                    return refuse(.v4, .commandNotSupported, "SOCKS4 command \(Self.describeCommand(command)) is not supported: ssh -D forwards CONNECT only")
                }
                state = .socks4UserID(port: port, address: address)

            case .socks4UserID(let port, let address):
                switch collectUntilNUL(limit: Self.maximumUserIDLength, from: &bytes) {
                case .needMore: return .needMoreBytes
                case .tooLong:
                    return refuse(.v4, .generalFailure, "SOCKS4 user id longer than \(Self.maximumUserIDLength) bytes")
                case .found:
                    field.removeAll(keepingCapacity: true)
                    // 0.0.0.x with x ≠ 0 is SOCKS 4A's sign that a name follows the user id.
                    if address[0] == 0, address[1] == 0, address[2] == 0, address[3] != 0 {
                        state = .socks4aHostName(port: port)
                    } else {
                        let host = address.map(String.init).joined(separator: ".")
                        return finish(SOCKSConnectRequest(version: .v4, host: host, port: port))
                    }
                }

            case .socks4aHostName(let port):
                switch collectUntilNUL(limit: Self.maximumHostNameLength, from: &bytes) {
                case .needMore: return .needMoreBytes
                case .tooLong:
                    return refuse(.v4a, .generalFailure, "SOCKS4A host name longer than \(Self.maximumHostNameLength) bytes")
                case .found:
                    defer { field.removeAll(keepingCapacity: true) }
                    switch Self.hostName(field) {
                    case .success(let host):
                        return finish(SOCKSConnectRequest(version: .v4a, host: host, port: port))
                    case .failure(let problem):
                        return refuse(.v4a, .generalFailure, "SOCKS4A host name \(problem)")
                    }
                }

            case .socks5MethodCount:
                guard let count = bytes.readInteger(as: UInt8.self) else { return .needMoreBytes }
                guard count > 0 else {
                    return refuseMethods("the SOCKS5 client offers no authentication method")
                }
                state = .socks5Methods(count: Int(count))

            case .socks5Methods(let count):
                guard collect(count, from: &bytes) else { return .needMoreBytes }
                defer { field.removeAll(keepingCapacity: true) }
                guard field.contains(0x00) else {
                    let offered = field.map(Self.describeMethod).joined(separator: ", ")
                    return refuseMethods("the SOCKS5 client offers only \(offered); ssh -D accepts only \"no authentication\" (0x00)")
                }
                state = .socks5RequestHeader
                return .reply(ByteBuffer(bytes: [0x05, 0x00]))

            case .socks5RequestHeader:
                // VER, CMD, RSV, ATYP.
                guard collect(4, from: &bytes) else { return .needMoreBytes }
                let (version, command, reserved, type) = (field[0], field[1], field[2], field[3])
                field.removeAll(keepingCapacity: true)
                guard version == 5 else {
                    return refuse(.v5, .generalFailure, "SOCKS5 request with version \(version), not 5")
                }
                guard command == 1 else {
                    return refuse(.v5, .commandNotSupported, "SOCKS5 command \(Self.describeCommand(command)) is not supported: ssh -D forwards CONNECT only")
                }
                // RFC 1928 says the byte is reserved; OpenSSH refuses anything but zero, and so do we.
                guard reserved == 0 else {
                    return refuse(.v5, .generalFailure, "SOCKS5 request with reserved byte \(Self.hex(reserved)), not 0x00")
                }
                switch type {
                case 1: state = .socks5Address(type: 1, length: 4)
                case 3: state = .socks5HostNameLength
                case 4: state = .socks5Address(type: 4, length: 16)
                default:
                    return refuse(.v5, .addressTypeNotSupported, "SOCKS5 address type \(Self.hex(type)) is not IPv4 (1), a domain name (3) or IPv6 (4)")
                }

            case .socks5HostNameLength:
                guard let length = bytes.readInteger(as: UInt8.self) else { return .needMoreBytes }
                guard length > 0 else { return refuse(.v5, .generalFailure, "SOCKS5 host name is empty") }
                state = .socks5Address(type: 3, length: Int(length))

            case .socks5Address(let type, let length):
                guard collect(length + 2, from: &bytes) else { return .needMoreBytes }
                defer { field.removeAll(keepingCapacity: true) }
                let address = field[0..<length]
                let port = UInt16(field[length]) << 8 | UInt16(field[length + 1])
                let host: String
                switch type {
                case 1: host = address.map(String.init).joined(separator: ".")
                case 4: host = Self.ipv6Text(Array(address))
                default:
                    switch Self.hostName(address) {
                    case .success(let name): host = name
                    case .failure(let problem): return refuse(.v5, .generalFailure, "SOCKS5 host name \(problem)")
                    }
                }
                return finish(SOCKSConnectRequest(version: .v5, host: host, port: port))

            case .finished:
                throw SSHForwardingError(.socks("the SOCKS request was already read; the parser takes no more bytes"))
            }
        }
    }

    // MARK: Reading fields that arrive in pieces

    /// Moves bytes from `input` to `field` until it holds `count`; true once it does.
    private mutating func collect(_ count: Int, from input: inout ByteBuffer) -> Bool {
        let missing = count - field.count
        if missing > 0, let bytes = input.readBytes(length: min(missing, input.readableBytes)) {
            field.append(contentsOf: bytes)
        }
        return field.count == count
    }

    private enum NULTerminated { case needMore, tooLong, found }

    /// Moves bytes from `input` to `field` up to a NUL, which is consumed but not kept; refuses a field longer
    /// than `limit` as soon as `limit` + 1 bytes without a NUL have arrived, so nothing grows past the bound.
    private mutating func collectUntilNUL(limit: Int, from input: inout ByteBuffer) -> NULTerminated {
        let room = limit - field.count
        let window = input.readableBytesView.prefix(room + 1)
        if let nul = window.firstIndex(of: 0) {
            if let bytes = input.readBytes(length: nul - window.startIndex) { field.append(contentsOf: bytes) }
            input.moveReaderIndex(forwardBy: 1)
            return .found
        }
        if window.count > room { return .tooLong }
        if let bytes = input.readBytes(length: window.count) { field.append(contentsOf: bytes) }
        return .needMore
    }

    // MARK: Outcomes

    private mutating func finish(_ request: SOCKSConnectRequest) -> SOCKSParseStep {
        state = .finished
        return .connect(request)
    }

    private mutating func refuse(_ version: SOCKSVersion, _ reason: SOCKSFailure, _ why: String) -> SOCKSParseStep {
        state = .finished
        let reply = SOCKSConnectRequest(version: version, host: "", port: 0).failureReply(reason)
        return .refuse(reply: reply, error: SSHForwardingError(.socks(why)))
    }

    /// RFC 1928 §3: X'FF' in the method selection means "no acceptable methods", and the client must close.
    private mutating func refuseMethods(_ why: String) -> SOCKSParseStep {
        state = .finished
        return .refuse(reply: ByteBuffer(bytes: [0x05, 0xFF]), error: SSHForwardingError(.socks(why)))
    }

    // MARK: Text

    /// A domain name as `getaddrinfo` would take it, or why it is refused: a NUL would cut it short in C and
    /// control bytes have no place in a name (and would reach logs and the server's resolver as they are).
    private static func hostName(_ bytes: some Collection<UInt8>) -> Result<String, NameProblem> {
        if bytes.isEmpty { return .failure(NameProblem("is empty")) }
        if let bad = bytes.first(where: { $0 < 0x20 || $0 == 0x7F }) {
            return .failure(NameProblem("contains the control byte \(hex(bad))"))
        }
        let text = String(decoding: bytes, as: UTF8.self)
        // Decoding replaces invalid sequences with U+FFFD, which changes the bytes; a name that was valid
        // UTF-8 comes back identical.
        guard text.utf8.elementsEqual(bytes) else { return .failure(NameProblem("is not valid UTF-8")) }
        return .success(text)
    }

    private struct NameProblem: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// RFC 5952 §4: lower-case hex without leading zeros, the longest run of two or more zero groups (the first
    /// of equal runs) as "::"; IPv4-mapped addresses end in dotted decimal (§5), as inet_ntop writes them.
    static func ipv6Text(_ bytes: [UInt8]) -> String {
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        if groups[0..<5].allSatisfy({ $0 == 0 }), groups[5] == 0xFFFF {
            return "::ffff:" + bytes[12..<16].map(String.init).joined(separator: ".")
        }
        var best = (start: -1, length: 0)
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else { index += 1; continue }
            var end = index
            while end < 8, groups[end] == 0 { end += 1 }
            if end - index > best.length { best = (index, end - index) }
            index = end
        }
        let hexGroups = groups.map { String($0, radix: 16) }
        guard best.length >= 2 else { return hexGroups.joined(separator: ":") }
        let head = hexGroups[0..<best.start].joined(separator: ":")
        let tail = hexGroups[(best.start + best.length)...].joined(separator: ":")
        return head + "::" + tail
    }

    private static func hex(_ byte: UInt8) -> String {
        "0x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16, uppercase: true)
    }

    private static func describeCommand(_ command: UInt8) -> String {
        switch command {
        case 2: "\(hex(command)) (BIND)"
        case 3: "\(hex(command)) (UDP ASSOCIATE)"
        default: hex(command)
        }
    }

    private static func describeMethod(_ method: UInt8) -> String {
        switch method {
        case 0x01: "\(hex(method)) (GSSAPI)"
        case 0x02: "\(hex(method)) (username/password)"
        default: hex(method)
        }
    }

    /// Names what the client seems to speak instead, since the usual mistake is pointing an application's
    /// HTTP or HTTPS proxy setting at a SOCKS port.
    private static func describeForeignFirstByte(_ byte: UInt8) -> String {
        let what: String
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"):
            what = "; it looks like text, such as an HTTP request: set the application's SOCKS proxy, not its HTTP proxy, to this port"
        case 0x16:
            what = "; it looks like a TLS handshake: set the application's SOCKS proxy, not its HTTPS proxy, to this port"
        default:
            what = ""
        }
        return "not a SOCKS 4 or 5 request (first byte \(hex(byte)))\(what)"
    }
}

// MARK: Replies

/// SOCKS 4's reply: VN 0, CD 90 (granted) or 91 (rejected or failed), port and address unused.
private func socks4Reply(granted: Bool) -> ByteBuffer {
    ByteBuffer(bytes: [0x00, granted ? 0x5A : 0x5B, 0, 0, 0, 0, 0, 0])
}

/// RFC 1928 §6's reply with an IPv4 bound address of 0.0.0.0.
private func socks5Reply(_ code: UInt8, port: UInt16) -> ByteBuffer {
    ByteBuffer(bytes: [0x05, code, 0x00, 0x01, 0, 0, 0, 0, UInt8(port >> 8), UInt8(port & 0xFF)])
}
