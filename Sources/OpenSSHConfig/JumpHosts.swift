// ProxyJump's value (ssh_config(5), ssh(1) -J): comma-separated hops, each [user@]host[:port] or
// ssh://[user@]host[:port], or "none". Read as OpenSSH's readconf.c parse_jump reads it: text from a "#" on is
// dropped, every hop must parse, an IPv6 address needs brackets, and a URI's host must be a plain domain name or
// address (no path, no brackets).

extension SSHClientOptions {
    /// One hop of ProxyJump: where to connect first, and as whom. A field not given is left to that hop's own
    /// ssh_config (its Host block's User and Port).
    public struct JumpHost: Sendable, Equatable, CustomStringConvertible {
        /// The user, when the hop names one.
        public var user: String?
        /// The host as written (brackets of an IPv6 address removed); looked up in ssh_config like a typed host.
        public var host: String
        /// The port, when the hop names one.
        public var port: Int?

        /// A hop.
        ///
        /// - Parameters:
        ///   - user: The user, if named.
        ///   - host: The host.
        ///   - port: The port, if named.
        public init(user: String? = nil, host: String, port: Int? = nil) {
            self.user = user
            self.host = host
            self.port = port
        }

        /// The hop as ProxyJump takes it back: [user@]host[:port], an IPv6 address in brackets.
        public var description: String {
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return (user.map { $0 + "@" } ?? "") + shownHost + (port.map { ":\($0)" } ?? "")
        }
    }

    /// The hops of a ProxyJump value, first hop first; empty for "none"; nil when some hop does not parse.
    ///
    /// ```swift
    /// SSHClientOptions.jumpHosts("me@bastion:2222,ssh://inner")
    /// // [JumpHost(user: "me", host: "bastion", port: 2222), JumpHost(host: "inner")]
    /// ```
    /// - Parameter text: The value as written.
    /// - Returns: The hops, or nil.
    public static func jumpHosts(_ text: String) -> [JumpHost]? {
        if text.lowercased() == "none" { return [] }
        // A "#" starts a comment even in the middle of the value, as in ssh.
        var value = Substring(text.prefix { $0 != "#" })
        while let last = value.last, last == " " || last == "\t" { value = value.dropLast() }
        var hops: [JumpHost] = []
        for part in value.split(separator: ",", omittingEmptySubsequences: false) {
            guard let hop = part.hasPrefix("ssh://") ? uriHop(part.dropFirst("ssh://".count)) : plainHop(part) else { return nil }
            hops.append(hop)
        }
        return hops.isEmpty ? nil : hops
    }

    /// [user@]host[:port]: the user is what comes before the last "@"; "host/port" is not accepted.
    private static func plainHop(_ text: Substring) -> JumpHost? {
        var rest = text
        var user: String?
        if let at = rest.lastIndex(of: "@") {
            guard at != rest.startIndex else { return nil }
            user = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
        }
        guard let (host, portText, delimiter) = splitHostPort(rest), delimiter != "/", !host.isEmpty else { return nil }
        var port: Int?
        if let portText, !portText.isEmpty {
            guard let number = Self.portNumber(portText) else { return nil }
            port = number
        }
        return JumpHost(user: user, host: withoutBrackets(host), port: port)
    }

    /// ssh://[user[;parameters]@]host[:port][/]: the user is URL-decoded, and nothing may follow the "/".
    private static func uriHop(_ text: Substring) -> JumpHost? {
        var rest = text
        var user: String?
        if let at = rest.firstIndex(of: "@") {
            // Connection parameters after ";" are ignored, as in ssh.
            let name = rest[..<at].prefix { $0 != ";" }
            guard !name.isEmpty, let decoded = urlDecoded(name) else { return nil }
            user = decoded
            rest = rest[rest.index(after: at)...]
        }
        guard let (bracketed, after, delimiter) = splitHostPort(rest), !bracketed.isEmpty else { return nil }
        let host = withoutBrackets(bracketed)
        guard isDomainName(host) else { return nil }
        var port: Int?
        var path = after ?? ""
        if delimiter == ":", !path.isEmpty {
            let portText = path.prefix { $0 != "/" }
            guard let number = Self.portNumber(portText) else { return nil }
            port = number
            path = path.dropFirst(portText.count + (portText.count < path.count ? 1 : 0))
        }
        guard path.isEmpty else { return nil }
        return JumpHost(user: user, host: host, port: port)
    }

    /// Host, then what follows its ":" or "/" (nil when nothing does), and which delimiter it was; a host in
    /// brackets runs to its "]". Nil when text after a "]" is not a delimiter.
    private static func splitHostPort(_ text: Substring) -> (host: Substring, rest: Substring?, delimiter: Character?)? {
        let end: Substring.Index
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            end = text.index(after: close)
        } else {
            end = text.firstIndex { $0 == ":" || $0 == "/" } ?? text.endIndex
        }
        guard end < text.endIndex else { return (text[..<end], nil, nil) }
        let delimiter = text[end]
        guard delimiter == ":" || delimiter == "/" else { return nil }
        return (text[..<end], text[text.index(after: end)...], delimiter)
    }

    private static func withoutBrackets(_ host: Substring) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") && host.count >= 2 ? String(host.dropFirst().dropLast()) : String(host)
    }

    /// 1 to 65535, digits only (ssh also takes a service name from /etc/services; shh does not read it).
    private static func portNumber<Text: StringProtocol>(_ text: Text) -> Int? {
        guard !text.isEmpty, text.allSatisfy(\.isASCII), let number = Int(text), (1...65535).contains(number) else { return nil }
        return number
    }

    /// ssh's valid_domain: letters, digits, "-", "_" and single dots, starting with a letter, digit or "_".
    private static func isDomainName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIIAlphanumeric || first == "_" else { return false }
        var previous: Unicode.Scalar = "\0"
        for scalar in name.unicodeScalars {
            if previous == "." && scalar == "." { return false }
            guard scalar.isASCIIAlphanumeric || scalar == "." || scalar == "-" || scalar == "_" else { return false }
            previous = scalar
        }
        return true
    }

    /// "%XX" escapes and "+" for a space; nil for a bad escape or a NUL.
    private static func urlDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                let digits = utf8.prefix(2)
                guard digits.count == 2, digits.allSatisfy({ Character(Unicode.Scalar($0)).isHexDigit }),
                      let value = UInt8(String(decoding: digits, as: UTF8.self), radix: 16), value != 0 else { return nil }
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private extension Unicode.Scalar {
    var isASCIIAlphanumeric: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
    }
}
