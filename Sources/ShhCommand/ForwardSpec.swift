// Forwarding specifications as ssh reads them (ssh(1) -L, -R, -D, -W; ssh_config(5) LocalForward, RemoteForward,
// DynamicForward; OpenSSH's readconf.c parse_forward): up to four colon-separated fields, a field in brackets taken
// literally (IPv6 addresses), a field with a "/" a Unix socket path, "\" escaping the next character, ${VAR}
// expanded from the environment. How the fields are read depends on their count and on which of them are paths.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One forward: where it listens and where connections go.
struct ForwardSpec: Equatable, Sendable {
    /// Where a forward listens.
    enum Listen: Equatable, Sendable {
        /// A TCP port; `host` nil when none was given (then GatewayPorts decides for a local forward, and a remote
        /// one asks the server for "localhost").
        case port(host: String?, port: Int)
        /// A Unix socket.
        case path(String)

        /// A path, or a port with its host (what -W needs).
        var hasHostOrPath: Bool {
            if case .port(nil, _) = self { return false }
            return true
        }
    }

    /// Where connections go.
    enum Connect: Equatable, Sendable {
        /// A host and port.
        case port(host: String, port: Int)
        /// A Unix socket.
        case path(String)
        /// Where each SOCKS client asks (-D, and -R with only a listen port).
        case socks
    }

    var listen: Listen
    var connect: Connect

    /// How a specification is read: as parse_forward's `dynamicfwd` and `remotefwd`.
    enum Reading {
        /// -L, LocalForward: listen and connect parts; port 0 is refused.
        case local
        /// -R, RemoteForward: listen and connect parts, or a listen part alone (a reverse dynamic forward); port 0
        /// asks the server to choose.
        case remote
        /// -D, DynamicForward, -W, ~C -K: a listen part alone.
        case listenOnly
    }

    /// Reads `text` as ssh does; nil where ssh says "Bad ... forwarding specification".
    /// - Parameters:
    ///   - text: the specification as typed.
    ///   - reading: which grammar applies.
    ///   - environment: what ${VAR} expands from.
    static func parse(_ text: String, _ reading: Reading, environment: [String: String]) -> ForwardSpec? {
        switch reading {
        case .local: parseForward(text, dynamic: false, remote: false, environment: environment)
        case .listenOnly: parseForward(text, dynamic: true, remote: false, environment: environment)
        case .remote:
            // A remote spec may be either form, as ssh tries both.
            parseForward(text, dynamic: false, remote: true, environment: environment)
                ?? parseForward(text, dynamic: true, remote: true, environment: environment)
        }
    }

    /// One field: its text and whether it names a path.
    private struct Field {
        var text: String
        var isPath: Bool
    }

    /// The fields of a spec (at most four), or nil for a malformed bracket or trailing garbage.
    private static func fields(_ text: String) -> [Field]? {
        var scalars = Array(text.unicodeScalars)
        // Leading white space is skipped, as ssh does.
        while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
        var fields: [Field] = []
        var index = 0
        while fields.count < 4 {
            guard index < scalars.count else { return fields }
            if scalars[index] == "[" {
                // A bracketed field is used literally, and must end the spec or be followed by a colon.
                guard let close = scalars[index...].firstIndex(of: "]") else { return nil }
                let inside = scalars[(index + 1)..<close]
                let after = close + 1
                guard after == scalars.count || scalars[after] == ":" else { return nil }
                fields.append(Field(text: String(String.UnicodeScalarView(inside)), isPath: inside.contains("/")))
                index = after < scalars.count ? after + 1 : after
                continue
            }
            var field = String.UnicodeScalarView()
            var isPath = false
            var ended = false
            while index < scalars.count {
                let scalar = scalars[index]
                index += 1
                switch scalar {
                case "\\":
                    // The next character is taken as it is (an escaped "/" does not make a path, nor an escaped
                    // ":" end the field); a backslash at the end is an error.
                    guard index < scalars.count else { return nil }
                    field.append(scalars[index])
                    index += 1
                case "/":
                    isPath = true
                    field.append(scalar)
                case ":":
                    ended = true
                default:
                    field.append(scalar)
                }
                if ended { break }
            }
            fields.append(Field(text: String(field), isPath: isPath))
        }
        // A fifth field is trailing garbage.
        return index < scalars.count ? nil : fields
    }

    /// parse_forward: the fields by count, then the checks ssh makes.
    private static func parseForward(_ text: String, dynamic: Bool, remote: Bool, environment: [String: String]) -> ForwardSpec? {
        guard let expanded = expandVariables(text, environment: environment), let fields = fields(expanded) else { return nil }
        var listenHost: String?
        var listenPort = -1
        var listenPath: String?
        var connectHost: String?
        var connectPort = 0
        var connectPath: String?
        switch fields.count {
        case 1:
            if fields[0].isPath {
                listenPath = fields[0].text
            } else {
                listenPort = port(fields[0].text)
            }
            connectHost = "socks"
        case 2:
            if fields[0].isPath && fields[1].isPath {
                listenPath = fields[0].text
                connectPath = fields[1].text
            } else if fields[1].isPath {
                listenPort = port(fields[0].text)
                connectPath = fields[1].text
            } else {
                listenHost = fields[0].text
                listenPort = port(fields[1].text)
                connectHost = "socks"
            }
        case 3:
            if fields[0].isPath {
                listenPath = fields[0].text
                connectHost = fields[1].text
                connectPort = port(fields[2].text)
            } else if fields[2].isPath {
                listenHost = fields[0].text
                listenPort = port(fields[1].text)
                connectPath = fields[2].text
            } else {
                listenPort = port(fields[0].text)
                connectHost = fields[1].text
                connectPort = port(fields[2].text)
            }
        case 4:
            listenHost = fields[0].text
            listenPort = port(fields[1].text)
            connectHost = fields[2].text
            connectPort = port(fields[3].text)
        default:
            return nil
        }
        if dynamic {
            guard fields.count == 1 || fields.count == 2, connectPath == nil else { return nil }
        } else {
            guard fields.count >= 3 || connectPath != nil || listenPath != nil else { return nil }
            guard connectPort > 0 || connectPath != nil else { return nil }
        }
        if listenPath == nil && (listenPort < 0 || (!remote && listenPort == 0)) { return nil }
        // NI_MAXHOST and sun_path, as ssh bounds them.
        if let host = connectHost, host.utf8.count >= 1025 { return nil }
        if let host = listenHost, host.utf8.count >= 1025 { return nil }
        if let path = connectPath, path.utf8.count >= 108 { return nil }
        if let path = listenPath, path.utf8.count >= 108 { return nil }

        let listen: Listen = listenPath.map { .path($0) } ?? .port(host: listenHost, port: listenPort)
        let connect: Connect
        if let connectPath {
            connect = .path(connectPath)
        } else if dynamic {
            connect = .socks
        } else {
            connect = .port(host: connectHost ?? "", port: connectPort)
        }
        return ForwardSpec(listen: listen, connect: connect)
    }

    /// ssh's a2port: a number from 0 to 65535, or a TCP service name; -1 otherwise.
    static func port(_ text: String) -> Int {
        if let number = Int(text) { return (0...65535).contains(number) ? number : -1 }
        guard !text.isEmpty, let entry = getservbyname(text, "tcp") else { return -1 }
        return Int(UInt16(bigEndian: UInt16(truncatingIfNeeded: entry.pointee.s_port)))
    }

    /// ssh's dollar_expand: ${NAME} from the environment; an unset variable or an unclosed brace is an error.
    static func expandVariables(_ text: String, environment: [String: String]) -> String? {
        var result = ""
        var rest = Substring(text)
        while let start = rest.firstRange(of: "${") {
            result += rest[..<start.lowerBound]
            let afterOpen = rest[start.upperBound...]
            guard let close = afterOpen.firstIndex(of: "}") else { return nil }
            let name = String(afterOpen[..<close])
            guard !name.isEmpty, let value = environment[name] else { return nil }
            result += value
            rest = afterOpen[afterOpen.index(after: close)...]
        }
        return result + rest
    }

    // MARK: How it is shown

    /// ssh -G's form: "8080 [db]:5432", "[::1]:8080 /run/db.sock", "1080" (dynamic), "0 [socks]:0" (reverse
    /// dynamic).
    func printed(showingTarget: Bool) -> String {
        let listenText: String = switch listen {
        case .path(let path): path
        case .port(nil, let port): "\(port)"
        case .port(let host?, let port): "[\(host)]:\(port)"
        }
        guard showingTarget else { return listenText }
        let target: String = switch connect {
        case .path(let path): path
        case .port(let host, let port): "[\(host)]:\(port)"
        case .socks: "[socks]:0"
        }
        return listenText + " " + target
    }

    /// The connect part as ssh's messages name it ("host:port"; ssh prints a socket path with its internal port
    /// number -2, and "socks:0" for a reverse dynamic forward, which scripts reading "Allocated port" may see).
    var connectDescription: String {
        switch connect {
        case .port(let host, let port): "\(host):\(port)"
        case .path(let path): "\(path):-2"
        case .socks: "socks:0"
        }
    }
}

/// ssh's hpdelim for PermitRemoteOpen: "host:port" or "[host]:port"; nil without a colon.
func splitHostPort(_ text: String) -> (host: String, port: String)? {
    if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
        let after = text[text.index(after: close)...]
        guard after.hasPrefix(":") else { return nil }
        return (String(text[text.index(after: text.startIndex)..<close]), String(after.dropFirst()))
    }
    guard let colon = text.firstIndex(of: ":") else { return nil }
    return (String(text[..<colon]), String(text[text.index(after: colon)...]))
}
