// ssh's command line (ssh(1)): `shh [options] destination [command [argument ...]]`, where options may also follow
// the destination up to the first word that is not an option, and the destination is [user@]host or
// ssh://[user@]host[:port]. Flags that mean a configuration keyword become that keyword's line, applied before any
// file, in the order given, so the command line wins as in ssh.
import OpenSSHConfig
import SSHCommandLine
import SSHPOSIX
import SSHProtocol

/// A parsed shh command line.
public struct ShhArguments: Equatable, Sendable {
    /// ssh_config lines from flags (-p, -l, -c, ...) and -o, in command-line order.
    public var configLines: [String] = []
    /// -F: the only config file read (no system file either), "none" for none.
    public var configFile: String?
    /// -v count.
    public var verbosity = 0
    /// -E: diagnostics go to this file instead of standard error.
    public var logFile: String?
    /// -G: print the configuration for the destination and exit.
    public var printConfiguration = false
    /// -V: print the version and exit.
    public var printVersion = false
    /// -Q: what to list.
    public var query: String?
    /// -N: no remote command (for forwarding only).
    public var noCommand = false
    /// -n: standard input from /dev/null.
    public var stdinNull = false
    /// -s: the command names a subsystem.
    public var subsystem = false
    /// Features that parse but are not built yet: each refuses the run with its own message.
    public var notYetSupported: [String] = []
    /// The destination as typed: host (without user@ or the URI's parts).
    public var host: String?
    /// The first of -l and user@ (it beats ssh_config's User, as in ssh).
    public var user: String?
    /// The first of -p and the URI's port (it beats ssh_config's Port).
    public var port: Int?
    /// The remote command, words as given (joined with spaces as ssh does).
    public var command: [String] = []
    /// -L and -D, in command-line order (a -D's target is SOCKS), before LocalForward and DynamicForward lines.
    var localForwards: [ForwardSpec] = []
    /// -R, in command-line order, before RemoteForward lines.
    var remoteForwards: [ForwardSpec] = []
    /// -W: the host and port (or socket) standard input and output are forwarded to.
    var stdioForward: ForwardSpec.Listen?

    /// Nothing given: every field at its default.
    public init() {}

    /// ssh's option string: every letter OpenSSH's ssh accepts, with its argument flag.
    static let getopt = Getopt("1246ab:c:e:fgi:kl:m:no:p:qstvxAB:CD:E:F:GI:J:KL:MNO:P:Q:R:S:TVw:W:XYy")

    /// Parses ssh's command line (without the program name): options, then the destination, then the command.
    /// - Throws: `CommandLineError` for an option the grammar does not allow, or a value that is not acceptable.
    public static func parse(_ arguments: [String]) throws -> ShhArguments {
        var parsed = ShhArguments()
        var (options, index) = try getopt.parse(arguments)
        try parsed.take(options)
        if index < arguments.count {
            try parsed.takeDestination(arguments[index])
            index += 1
            // Options after the destination, up to the first word that is not one (it starts the command).
            let (more, next) = try getopt.parse(arguments, from: index)
            try parsed.take(more)
            index = next
        }
        parsed.command = Array(arguments[index...])
        // OpenSSH 9.6: names typed on the command line reach %h, %r and %u in ProxyCommand, LocalCommand and Match
        // exec, which a shell runs; a hostile name (a git URL from a repository, say) must not run a command there.
        // Names from ssh_config are the user's own and are not checked.
        if let host = parsed.host, !isSafeHostName(host) {
            throw ShhFailure("shh: hostname contains invalid characters")
        }
        if let user = parsed.user, !isSafeUserName(user) {
            throw ShhFailure("shh: remote username contains invalid characters")
        }
        return parsed
    }

    /// ssh's valid_hostname: no leading "-" (an option to whatever gets it), no shell metacharacters, no white space
    /// or control characters.
    static func isSafeHostName(_ host: String) -> Bool {
        guard !host.hasPrefix("-") else { return false }
        return !host.unicodeScalars.contains { scalar in
            "'`\"$\\;&<>|(){}".unicodeScalars.contains(scalar) || scalar.properties.isWhitespace || PeerText.needsEscape(scalar)
        }
    }

    /// ssh's valid_ruser: no leading "-", no shell metacharacters, no "-" after white space, no "\\" at the end.
    static func isSafeUserName(_ user: String) -> Bool {
        guard !user.hasPrefix("-"), !user.hasSuffix("\\") else { return false }
        let scalars = Array(user.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            if "'`\";&<>|(){}".unicodeScalars.contains(scalar) || PeerText.needsEscape(scalar) { return false }
            if scalar.properties.isWhitespace, index + 1 < scalars.count, scalars[index + 1] == "-" { return false }
        }
        return true
    }

    private mutating func take(_ options: [ParsedOption]) throws {
        for option in options {
            let argument = option.argument ?? ""
            switch option.letter {
            case "1": throw CommandLineError.invalidValue("SSH protocol v.1 is no longer supported")
            case "2": break
            case "4": configLines.append("AddressFamily inet")
            case "6": configLines.append("AddressFamily inet6")
            // ssh sets these outright, so the last -A or -a beats them and any -o ForwardAgent before it.
            case "A", "a":
                configLines.removeAll { $0.prefix { !" \t=".contains($0) }.lowercased() == "forwardagent" }
                configLines.append(option.letter == "A" ? "ForwardAgent yes" : "ForwardAgent no")
            case "b": configLines.append("BindAddress \(quoted(argument))")
            case "B": configLines.append("BindInterface \(quoted(argument))")
            case "C": configLines.append("Compression yes")
            case "c": configLines.append("Ciphers \(quoted(argument))")
            case "D": localForwards.append(try Self.forward(argument, .listenOnly, named: "dynamic"))
            case "E": logFile = argument
            case "e": configLines.append("EscapeChar \(quoted(argument))")
            case "F": configFile = argument
            case "f":
                // ssh's -f implies -n: whatever runs in the background must not read the terminal.
                configLines.append("ForkAfterAuthentication yes")
                stdinNull = true
            case "G": printConfiguration = true
            case "g": configLines.append("GatewayPorts yes")
            case "I": configLines.append("PKCS11Provider \(quoted(argument))")
            case "i": configLines.append("IdentityFile \(quoted(argument))")
            case "J": configLines.append(try Self.jumpLine(argument, after: configLines))
            case "K": configLines.append("GSSAPIAuthentication yes")
            case "k": configLines.append("GSSAPIDelegateCredentials no")
            case "L": localForwards.append(try Self.forward(argument, .local, named: "local"))
            case "l": if user == nil { user = argument }
            case "M": configLines.append("ControlMaster yes")
            case "m": configLines.append("MACs \(quoted(argument))")
            case "N": noCommand = true
            case "n": stdinNull = true
            case "O": notYetSupported.append("control commands (-O \(argument)): shh has no connection multiplexing")
            case "o": configLines.append(argument)
            case "P": configLines.append("Tag \(quoted(argument))")
            case "p":
                guard let number = Self.port(argument) else { throw CommandLineError.invalidValue("Bad port '\(argument)'") }
                if port == nil { port = number }
            case "Q": query = argument
            case "q": configLines.append("LogLevel QUIET")
            case "R": remoteForwards.append(try Self.forward(argument, .remote, named: "remote"))
            case "S": configLines.append("ControlPath \(quoted(argument))")
            case "s": subsystem = true
            case "T": configLines.append("RequestTTY no")
            case "t": configLines.append(configLines.contains("RequestTTY yes") ? "RequestTTY force" : "RequestTTY yes")
            case "V": printVersion = true
            case "v": verbosity += 1
            case "W":
                guard stdioForward == nil else { throw ShhFailure("stdio forward already specified") }
                // ssh reads -W as a listen part alone ([host:]port or a path) and needs the host.
                guard let spec = ForwardSpec.parse(argument, .listenOnly, environment: ProcessEnvironment.variables),
                      spec.listen.hasHostOrPath else {
                    throw ShhFailure("Bad stdio forwarding specification '\(argument)'")
                }
                stdioForward = spec.listen
                // No session and no terminal: standard input and output are the forwarded connection.
                configLines.append("RequestTTY no")
                noCommand = true
            case "w": notYetSupported.append("tunnel device forwarding (-w \(argument))")
            case "X", "Y": configLines.append("ForwardX11 yes")
            case "x": configLines.append("ForwardX11 no")
            case "y": break  // syslog: shh's diagnostics go to standard error or -E
            default: throw CommandLineError.unknownOption(option.letter)
            }
        }
        // -tt: the first -t asked for a terminal, the second forces one.
        if let first = configLines.firstIndex(of: "RequestTTY yes"), configLines.contains("RequestTTY force") {
            configLines.remove(at: first)
            if let force = configLines.firstIndex(of: "RequestTTY force") { configLines.insert(configLines.remove(at: force), at: first) }
        }
    }

    /// A -L, -R or -D specification, or ssh's message and exit 255 ("Bad local forwarding specification '...'").
    private static func forward(_ text: String, _ reading: ForwardSpec.Reading, named kind: String) throws -> ForwardSpec {
        guard let spec = ForwardSpec.parse(text, reading, environment: ProcessEnvironment.variables) else {
            throw ShhFailure("Bad \(kind) forwarding specification '\(text)'")
        }
        return spec
    }

    /// -J's ProxyJump line, refused as ssh refuses it: a second -J (or -o ProxyJump before it), an earlier -o
    /// ProxyCommand, or a hop that does not parse or names a host or user a shell would misread.
    static func jumpLine(_ argument: String, after lines: [String]) throws -> String {
        let keywords = lines.map { $0.prefix { !" \t=".contains($0) }.lowercased() }
        if keywords.contains("proxyjump") {
            throw ShhFailure("Only a single -J option is permitted (use commas to separate multiple jump hops)")
        }
        if keywords.contains("proxycommand") { throw ShhFailure("Cannot specify -J with ProxyCommand") }
        guard let hops = SSHClientOptions.jumpHosts(argument),
              hops.allSatisfy({ isSafeHostName($0.host) && $0.user.map(isSafeUserName) != false }) else {
            throw ShhFailure("Invalid -J argument")
        }
        return "ProxyJump \"" + argument.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }

    /// [user@]host or ssh://[user@]host[:port]; the first user and port given win, as in ssh.
    private mutating func takeDestination(_ text: String) throws {
        var rest = Substring(text)
        var uriPort: Int?
        if rest.hasPrefix("ssh://") {
            rest = rest.dropFirst("ssh://".count)
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            if let at = rest.lastIndex(of: "@") {
                if user == nil { user = String(rest[..<at]) }
                rest = rest[rest.index(after: at)...]
            }
            if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
                let after = rest[rest.index(after: close)...]
                if after.hasPrefix(":") {
                    guard let number = Self.port(after.dropFirst()) else {
                        throw CommandLineError.invalidValue("Bad port in \(text)")
                    }
                    uriPort = number
                }
                rest = rest[rest.index(after: rest.startIndex)..<close]
            } else if let colon = rest.lastIndex(of: ":") {
                guard let number = Self.port(rest[rest.index(after: colon)...]) else {
                    throw CommandLineError.invalidValue("Bad port in \(text)")
                }
                uriPort = number
                rest = rest[..<colon]
            }
        } else if let at = rest.lastIndex(of: "@") {
            if user == nil { user = String(rest[..<at]) }
            rest = rest[rest.index(after: at)...]
        }
        guard !rest.isEmpty else { throw CommandLineError.invalidValue("No host name in \(text)") }
        host = String(rest)
        if let uriPort, port == nil { port = uriPort }
    }

    /// A TCP port number, 1 to 65535.
    static func port<Text: StringProtocol>(_ text: Text) -> Int? {
        Int(text).flatMap { (1...65535).contains($0) ? $0 : nil }
    }

    private func quoted(_ value: String) -> String {
        "\"" + value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }
}
