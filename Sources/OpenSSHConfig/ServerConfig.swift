// sshd_config (sshd_config(5)) as sshd reads it: keyword and arguments per line, the first occurrence of a keyword
// winning (Port, ListenAddress, HostKey, AcceptEnv, Allow/DenyUsers/Groups and Subsystem accumulate), Include with
// globs (relative to /etc/ssh), and Match blocks (User, Group, Host, Address, LocalAddress, LocalPort, RDomain,
// All, each negatable through its pattern list) that apply to a connection when all their criteria hold. The
// whole file is checked once (unknown keywords, global keywords inside Match, bad Match criteria), then
// `settings(for:)` picks what applies to one connection, as sshd re-reads its config per connection.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SSHKeys

/// What Match blocks test: the connection and, once known, the user logging in.
public struct SSHServerMatchContext: Sendable, Equatable {
    /// The user logging in; nil before it is known (Match User then fails).
    public var user: String?
    /// The user's groups (names), for Match Group.
    public var groups: [String]
    /// The client's host name (sshd uses reverse DNS only with UseDNS; shhd gives the address).
    public var host: String?
    /// The client's address (Match Address).
    public var address: String?
    /// The server's address the client connected to (Match LocalAddress).
    public var localAddress: String?
    /// The server's port the client connected to (Match LocalPort).
    public var localPort: Int?
    /// The routing domain (Match RDomain); nil is "default".
    public var routingDomain: String?

    /// A context; what is not known yet stays nil.
    ///
    /// - Parameters:
    ///   - user: The user logging in.
    ///   - groups: The user's group names.
    ///   - host: The client's host name.
    ///   - address: The client's address.
    ///   - localAddress: The server's address.
    ///   - localPort: The server's port.
    ///   - routingDomain: The routing domain.
    public init(user: String? = nil, groups: [String] = [], host: String? = nil, address: String? = nil,
                localAddress: String? = nil, localPort: Int? = nil, routingDomain: String? = nil) {
        self.user = user
        self.groups = groups
        self.host = host
        self.address = address
        self.localAddress = localAddress
        self.localPort = localPort
        self.routingDomain = routingDomain
    }
}

/// A parsed and checked sshd_config.
///
/// The whole file is checked once (unknown keywords, global keywords inside Match, bad Match criteria);
/// ``settings(for:)`` then picks what applies to one connection, as sshd re-reads its config per connection.
///
/// ```swift
/// let file = try SSHServerConfigFile.read(text: """
///     PasswordAuthentication no
///     Match User deploy
///         ForceCommand /usr/local/bin/deploy
///     """, path: "sshd_config")
/// let forDeploy = file.settings(for: SSHServerMatchContext(user: "deploy", address: "192.0.2.7"))
/// forDeploy["forcecommand"]             // "/usr/local/bin/deploy"
/// forDeploy["passwordauthentication"]   // "no"
/// ```
public struct SSHServerConfigFile: Sendable {
    /// One directive where it was written.
    public struct Directive: Sendable, Equatable {
        /// The canonical lower-case keyword.
        public var keyword: String
        /// The keyword as written (for messages).
        public var spelling: String
        /// Its arguments as written.
        public var arguments: [String]
        /// The file it was written in, or "command line".
        public var file: String
        /// Its line number; 0 on the command line.
        public var line: Int
        /// Where it was written.
        public var place: OpenSSHConfigOrigin { OpenSSHConfigOrigin(file: file, line: line) }
    }

    /// A run of directives under the same condition: nil for the top level, else a Match line's criteria.
    public struct Block: Sendable, Equatable {
        /// The Match line's arguments: nil for the top level, empty for `Match all`.
        public var criteria: [String]?
        /// The block's directives in file order.
        public var directives: [Directive]
    }

    /// The blocks in file order, the top level first.
    public private(set) var blocks: [Block] = []
    /// Deprecated keywords met, as sshd logs them ("file line N: Deprecated option X").
    public private(set) var notes: [String] = []
    private var followsIncludes = true

    /// Reads `path` (and what it includes) after the command line's `-o` options, which win as in sshd.
    ///
    /// - Parameters:
    ///   - path: The file; nil reads only `options`.
    ///   - options: -o options ("Keyword value"); Match and Include are not allowed there.
    /// - Returns: The checked file.
    /// - Throws: ``OpenSSHConfigError`` for an unreadable file, an unknown keyword, a missing argument, a global
    ///   keyword inside Match or bad Match criteria, naming the file and line.
    public static func read(path: String?, options: [String] = []) throws -> SSHServerConfigFile {
        var file = SSHServerConfigFile()
        var topLevel: [Directive] = []
        for option in options {
            guard let (keyword, arguments) = try split(option, file: "command line", line: 0) else { continue }
            let directive = try file.check(keyword: keyword, arguments: arguments, file: "command line", line: 0, inMatch: false)
            guard let directive else { continue }
            if directive.keyword == "match" || directive.keyword == "include" {
                throw OpenSSHConfigError(.syntax("\(keyword) is not allowed on the command line"), file: "command line", line: 0)
            }
            topLevel.append(directive)
        }
        file.blocks = [Block(criteria: nil, directives: topLevel)]
        if let path { try file.read(path: path, depth: 0, required: true) }
        return file
    }

    /// Reads config text already in memory, named `path` in messages. `followingIncludes` false leaves Include
    /// lines checked but unread (the fuzzer must not read the machine's files).
    ///
    /// - Parameters:
    ///   - text: The file's contents.
    ///   - path: The name messages give it.
    ///   - followingIncludes: Whether Include reads the files it names.
    /// - Returns: The checked file.
    /// - Throws: ``OpenSSHConfigError`` as ``read(path:options:)`` does.
    public static func read(text: String, path: String, followingIncludes: Bool = true) throws -> SSHServerConfigFile {
        var file = SSHServerConfigFile()
        file.followsIncludes = followingIncludes
        file.blocks = [Block(criteria: nil, directives: [])]
        try file.read(text: text, path: path, depth: 0)
        return file
    }

    private mutating func read(path: String, depth: Int, required: Bool) throws {
        guard depth <= 16 else { throw OpenSSHConfigError(.syntax("Include nested too deeply"), file: path, line: 0) }
        let bytes: [UInt8]
        do {
            bytes = try SSHKeyFile.readFile(atPath: path, maximumSize: 16 << 20)
        } catch let error as SSHKeyError {
            if required { throw OpenSSHConfigError(.unreadable("\(error.reason)"), file: path, line: 0) }
            return
        }
        try read(text: String(decoding: bytes, as: UTF8.self), path: path, depth: depth)
    }

    private mutating func read(text: String, path: String, depth: Int) throws {
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            guard let (keyword, words) = try Self.split(String(rawLine), file: path, line: lineNumber) else { continue }
            let arguments = ServerKeywords.takesRestOfLine.contains(keyword.lowercased())
                ? [ConfigTokenizer.restOfLine(String(rawLine))] : words
            let inMatch = blocks.last?.criteria != nil
            guard let directive = try check(keyword: keyword, arguments: arguments, file: path, line: lineNumber, inMatch: inMatch) else { continue }
            switch directive.keyword {
            case "match":
                try Self.checkCriteria(arguments, file: path, line: lineNumber)
                // "Match all" alone is how a file returns to unconditional directives.
                let criteria = arguments.count == 1 && arguments[0].lowercased() == "all" ? [] : arguments
                blocks.append(Block(criteria: criteria, directives: []))
            case "include":
                guard followsIncludes else { continue }
                for pattern in arguments {
                    let resolved = pattern.hasPrefix("/") ? pattern : "/etc/ssh/" + pattern
                    for included in globPaths(resolved) { try read(path: included, depth: depth + 1, required: false) }
                }
            default:
                blocks[blocks.count - 1].directives.append(directive)
            }
        }
    }

    private static func split(_ line: String, file: String, line number: Int) throws -> (String, [String])? {
        do {
            return try ConfigTokenizer.split(line)
        } catch let error as TokenizerError {
            throw OpenSSHConfigError(.syntax(error.message), file: file, line: number)
        }
    }

    /// The directive under its canonical name, or nil for a deprecated one (noted). Throws for an unknown keyword,
    /// a missing argument, or a global keyword inside a Match block.
    private mutating func check(keyword: String, arguments: [String], file: String, line: Int, inMatch: Bool) throws -> Directive? {
        let lowered = keyword.lowercased()
        guard let canonical = ServerKeywords.canonical[lowered] else {
            throw OpenSSHConfigError(.unknownKeyword(keyword), file: file, line: line)
        }
        if ServerKeywords.deprecated.contains(canonical) {
            notes.append("\(file) line \(line): Deprecated option \(keyword)")
            return nil
        }
        guard !arguments.isEmpty, !(arguments.count == 1 && arguments[0].isEmpty) else {
            throw OpenSSHConfigError(.missingArgument(keyword: keyword), file: file, line: line)
        }
        if inMatch, canonical != "match", ServerKeywords.scopes[canonical] == .global {
            throw OpenSSHConfigError(.syntax("Directive '\(keyword)' is not allowed within a Match block"), file: file, line: line)
        }
        return Directive(keyword: canonical, spelling: keyword, arguments: arguments, file: file, line: line)
    }

    /// Match criteria: "all" alone, or pairs of a criterion and its pattern list.
    private static func checkCriteria(_ arguments: [String], file: String, line: Int) throws {
        if arguments.count == 1 && arguments[0].lowercased() == "all" { return }
        var index = 0
        while index < arguments.count {
            let criterion = arguments[index].lowercased()
            guard ["user", "group", "host", "address", "localaddress", "localport", "rdomain"].contains(criterion) else {
                let reason = criterion == "all" ? "'all' cannot be combined with other Match attributes" : "Unsupported Match attribute \(arguments[index])"
                throw OpenSSHConfigError(.syntax(reason), file: file, line: line)
            }
            guard index + 1 < arguments.count else {
                throw OpenSSHConfigError(.syntax("Missing Match criteria for \(arguments[index])"), file: file, line: line)
            }
            if criterion == "localport" {
                for port in arguments[index + 1].split(separator: ",") where Int(port.hasPrefix("!") ? port.dropFirst() : port) == nil {
                    throw OpenSSHConfigError(.badValue(keyword: "Match LocalPort", value: String(port), expected: "a port number"), file: file, line: line)
                }
            }
            index += 2
        }
    }

    /// The settings for one connection, as sshd derives them: the directives of the Match blocks that hold (the
    /// first occurrence among them winning) override the top-level ones (the first occurrence winning). With no
    /// context (shhd -T without a connection), no Match block applies.
    ///
    /// - Parameter context: The connection (and user, once known); nil for the whole server.
    /// - Returns: The values that apply, to give ``SSHServerOptions/init(_:commandLinePorts:)``.
    public func settings(for context: SSHServerMatchContext?) -> SSHServerConfig {
        var fromMatch = SSHServerConfig()
        if let context {
            for block in blocks {
                guard let criteria = block.criteria, criteria.isEmpty || Self.matches(criteria, context) else { continue }
                for directive in block.directives { fromMatch.set(directive.keyword, directive.arguments, at: directive.place) }
            }
        }
        var config = fromMatch
        for block in blocks where block.criteria == nil {
            for directive in block.directives where !fromMatch.isSet(directive.keyword) {
                config.set(directive.keyword, directive.arguments, at: directive.place)
            }
        }
        return config
    }

    /// Every directive inside a Match block (for checks that must see them all, such as shhd -t).
    public var matchDirectives: [Directive] { blocks.filter { $0.criteria != nil }.flatMap(\.directives) }

    static func matches(_ criteria: [String], _ context: SSHServerMatchContext) -> Bool {
        var index = 0
        while index + 1 < criteria.count {
            let patterns = criteria[index + 1]
            let holds: Bool
            switch criteria[index].lowercased() {
            case "user": holds = context.user.map { listMatches($0, patterns, caseInsensitive: false) } ?? false
            case "group": holds = context.groups.contains { listMatches($0, patterns, caseInsensitive: false) }
                && !context.groups.contains { negatedMatch($0, patterns) }
            case "host": holds = (context.host ?? context.address).map { listMatches($0, patterns, caseInsensitive: true) } ?? false
            case "address": holds = context.address.map { HostAddressPattern.addressMatches($0, patterns: patterns) } ?? false
            case "localaddress": holds = context.localAddress.map { HostAddressPattern.addressMatches($0, patterns: patterns) } ?? false
            case "localport": holds = context.localPort.map { listMatches(String($0), patterns, caseInsensitive: false) } ?? false
            case "rdomain": holds = listMatches(context.routingDomain ?? "default", patterns, caseInsensitive: false)
            default: holds = false
            }
            if !holds { return false }
            index += 2
        }
        return true
    }

    private static func listMatches(_ text: String, _ patterns: String, caseInsensitive: Bool) -> Bool {
        OpenSSHPattern.matchList(text, patternList: patterns, caseInsensitive: caseInsensitive) == .matched
    }

    private static func negatedMatch(_ text: String, _ patterns: String) -> Bool {
        OpenSSHPattern.matchList(text, patternList: patterns, caseInsensitive: false) == .negated
    }
}

/// The paths a glob pattern names, sorted (Include).
func globPaths(_ pattern: String) -> [String] {
    var matches = glob_t()
    defer { globfree(&matches) }
    guard glob(pattern, 0, nil, &matches) == 0 else { return [] }
    var paths: [String] = []
    for index in 0..<Int(matches.gl_pathc) {
        if let entry = matches.gl_pathv[index] { paths.append(String(cString: entry)) }
    }
    return paths.sorted()
}
