// ssh_config(5) for one connection: files and -o lines are read in order, Host and Match blocks select what applies
// to the host being connected to, the first value obtained for a keyword wins (list keywords such as IdentityFile
// accumulate), Include reads more files in place, and IgnoreUnknown lets named unknown keywords pass.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SSHKeys

/// Reads ssh_config files and -o lines for one destination.
///
/// As ssh does: -o lines first, then the user's file, then the system's; the first value of a keyword wins (list
/// keywords such as IdentityFile accumulate), Host and Match select the blocks that apply, Include reads more files
/// in place. ``SSHClientOptions`` turns what was read into typed values.
///
/// ```swift
/// var reader = SSHClientConfigReader(
///     destination: .init(originalHost: "build", localUser: "me", homeDirectory: "/home/me"),
///     runCommand: { _ in false })
/// try reader.apply(option: "Port=2222")
/// try reader.read(text: "Host build\n    HostName build.example.com\n    Port 22\n", path: "config", userConfig: true)
/// let options = try SSHClientOptions(reader.config)
/// // options.hostName == "build.example.com", options.port == 2222 (-o came first)
/// ```
public struct SSHClientConfigReader {
    /// What Host and Match test against.
    public struct Destination: Sendable {
        /// The host as typed on the command line (Host and `Match originalhost` match it).
        public var originalHost: String
        /// The remote user given on the command line (-l or user@), if any.
        public var commandLineUser: String?
        /// The local user's name (`Match localuser`, %u).
        public var localUser: String
        /// The local user's home directory ("~", %d, relative Include paths).
        public var homeDirectory: String

        /// A destination.
        ///
        /// - Parameters:
        ///   - originalHost: The host as typed.
        ///   - commandLineUser: The remote user given on the command line, if any.
        ///   - localUser: The local user's name.
        ///   - homeDirectory: The local user's home directory.
        public init(originalHost: String, commandLineUser: String? = nil, localUser: String, homeDirectory: String) {
            self.originalHost = originalHost
            self.commandLineUser = commandLineUser
            self.localUser = localUser
            self.homeDirectory = homeDirectory
        }
    }

    /// The destination Host and Match test against.
    public let destination: Destination
    /// What was read so far.
    public private(set) var config = SSHClientConfig()
    /// Runs `Match exec` commands (already %-expanded): true when the command exits 0.
    private let runCommand: (String) -> Bool
    /// Messages ssh prints at -v (deprecated keywords, ignored unknown ones).
    public private(set) var notes: [String] = []
    /// Whether Include reads files (off for fuzzing, where the input must be all there is).
    public var followsIncludes = true

    /// A reader with nothing read yet.
    ///
    /// - Parameters:
    ///   - destination: What Host and Match test against.
    ///   - runCommand: Runs a `Match exec` command (already %-expanded); true when it exits 0.
    public init(destination: Destination, runCommand: @escaping (String) -> Bool) {
        self.destination = destination
        self.runCommand = runCommand
    }

    /// One -o option ("Key=Value" or "Key Value"); these come before any file, so they win.
    ///
    /// - Parameter option: The option as given to -o.
    /// - Throws: ``OpenSSHConfigError`` for an unknown keyword, a missing argument, Host or Match, or a line that
    ///   does not split (an open quote).
    public mutating func apply(option: String) throws {
        try applyLine(option, file: "command line", line: 0, active: true, userConfig: true, depth: 0)
    }

    /// Reads one file. `userConfig` makes relative Include paths start in ~/.ssh (else /etc/ssh). A missing file
    /// is an error only when `required` (a file named with -F).
    ///
    /// - Parameters:
    ///   - path: The file.
    ///   - userConfig: Whether it is a user's file (~/.ssh/config, -F) rather than /etc/ssh/ssh_config.
    ///   - required: Whether a missing or unreadable file is an error.
    /// - Throws: ``OpenSSHConfigError`` naming the file and line of the first line that is wrong, or
    ///   ``OpenSSHConfigError/Kind/unreadable(_:)`` for a required file that cannot be read.
    public mutating func read(path: String, userConfig: Bool, required: Bool) throws {
        try read(path: path, userConfig: userConfig, required: required, depth: 0)
    }

    /// Reads config text already in memory, named `path` in messages.
    ///
    /// - Parameters:
    ///   - text: The file's contents.
    ///   - path: The name messages give it.
    ///   - userConfig: Whether relative Include paths start in ~/.ssh (else /etc/ssh).
    /// - Throws: ``OpenSSHConfigError`` naming the line of the first line that is wrong.
    public mutating func read(text: String, path: String, userConfig: Bool) throws {
        try read(text: text, path: path, userConfig: userConfig, depth: 0)
    }

    private mutating func read(path: String, userConfig: Bool, required: Bool, depth: Int) throws {
        guard depth <= 16 else {
            throw OpenSSHConfigError(.syntax("Include nested too deeply"), file: path, line: 0)
        }
        let bytes: [UInt8]
        do {
            bytes = try SSHKeyFile.readFile(atPath: path, maximumSize: 16 << 20)
        } catch let error as SSHKeyError {
            if required { throw OpenSSHConfigError(.unreadable("Can't open user config file: \(error.reason)"), file: path, line: 0) }
            return
        }
        try read(text: String(decoding: bytes, as: UTF8.self), path: path, userConfig: userConfig, depth: depth)
    }

    private mutating func read(text: String, path: String, userConfig: Bool, depth: Int) throws {
        var active = true
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let split: (keyword: String, arguments: [String])?
            do {
                split = try ConfigTokenizer.split(String(rawLine))
            } catch let error as TokenizerError {
                throw OpenSSHConfigError(.syntax(error.message), file: path, line: lineNumber)
            }
            guard let (keyword, words) = split else { continue }
            let arguments = ClientKeywords.takesRestOfLine.contains(keyword.lowercased()) ? [ConfigTokenizer.restOfLine(String(rawLine))] : words
            switch keyword.lowercased() {
            case "host":
                guard !arguments.isEmpty else { throw OpenSSHConfigError(.missingArgument(keyword: "Host"), file: path, line: lineNumber) }
                active = hostMatches(arguments)
            case "match":
                active = try matchMatches(arguments, file: path, line: lineNumber)
            default:
                try applyLine(keyword: keyword, arguments: arguments, file: path, line: lineNumber, active: active,
                              userConfig: userConfig, depth: depth)
            }
        }
    }

    private mutating func applyLine(_ line: String, file: String, line number: Int, active: Bool, userConfig: Bool, depth: Int) throws {
        let split: (keyword: String, arguments: [String])?
        do {
            split = try ConfigTokenizer.split(line)
        } catch let error as TokenizerError {
            throw OpenSSHConfigError(.syntax(error.message), file: file, line: number)
        }
        guard let (keyword, words) = split else { return }
        let arguments = ClientKeywords.takesRestOfLine.contains(keyword.lowercased()) ? [ConfigTokenizer.restOfLine(line)] : words
        if ["host", "match"].contains(keyword.lowercased()) {
            throw OpenSSHConfigError(.syntax("\(keyword) is not allowed here"), file: file, line: number)
        }
        try applyLine(keyword: keyword, arguments: arguments, file: file, line: number, active: active, userConfig: userConfig, depth: depth)
    }

    private mutating func applyLine(keyword: String, arguments: [String], file: String, line: Int, active: Bool,
                                    userConfig: Bool, depth: Int) throws {
        let lowered = keyword.lowercased()
        guard let canonical = ClientKeywords.canonical[lowered] else {
            // IgnoreUnknown must come before the keywords it covers, as in ssh.
            if let patterns = config.values["ignoreunknown"]?.joined(separator: ","),
               OpenSSHPattern.matchList(lowered, patternList: patterns, caseInsensitive: true) == .matched {
                notes.append("\(file) line \(line): ignoring unknown option \(keyword)")
                return
            }
            throw OpenSSHConfigError(.unknownKeyword(keyword), file: file, line: line)
        }
        if ClientKeywords.obsolete.contains(canonical) {
            notes.append("\(file) line \(line): Deprecated option \"\(keyword)\"")
            return
        }
        guard !arguments.isEmpty else { throw OpenSSHConfigError(.missingArgument(keyword: keyword), file: file, line: line) }
        // ssh checks a ProxyJump's syntax wherever it is written, in a Host block that applies or not.
        if canonical == "proxyjump", SSHClientOptions.jumpHosts(arguments.joined(separator: " ")) == nil {
            throw OpenSSHConfigError.badValue("ProxyJump", arguments.joined(separator: " "), expected: SSHClientOptions.jumpHostsExpected,
                                              at: OpenSSHConfigOrigin(file: file, line: line))
        }
        guard active else { return }
        // ProxyJump and ProxyCommand exclude each other, the first read winning (ProxyCommand none too); a
        // ProxyJump none leaves ProxyCommand free, as in ssh's parse_jump.
        if canonical == "proxycommand", let jump = config["proxyjump"], jump.lowercased() != "none" {
            notes.append("\(file) line \(line): ProxyCommand ignored: ProxyJump is already set")
            return
        }
        if canonical == "proxyjump", arguments.first?.lowercased() != "none", config["proxycommand"] != nil {
            notes.append("\(file) line \(line): ProxyJump ignored: ProxyCommand is already set")
            return
        }
        if canonical == "include" {
            guard followsIncludes else { return }
            for pattern in arguments {
                for path in includedPaths(pattern, userConfig: userConfig) {
                    try read(path: path, userConfig: userConfig, required: false, depth: depth + 1)
                }
            }
            return
        }
        config.set(canonical, arguments, at: OpenSSHConfigOrigin(file: file, line: line))
    }

    // MARK: Host and Match

    /// A Host line applies when some pattern matches the host as typed and no negated one does.
    private func hostMatches(_ patterns: [String]) -> Bool {
        var matched = false
        for pattern in patterns {
            if pattern.hasPrefix("!") {
                if OpenSSHPattern.matches(destination.originalHost, pattern: String(pattern.dropFirst()), caseInsensitive: true) { return false }
            } else if OpenSSHPattern.matches(destination.originalHost, pattern: pattern, caseInsensitive: true) {
                matched = true
            }
        }
        return matched
    }

    /// Match criteria (ssh_config(5)): all, host, originalhost, user, localuser, exec, each negatable with "!"; all
    /// must hold.
    private func matchMatches(_ arguments: [String], file: String, line: Int) throws -> Bool {
        guard !arguments.isEmpty else { throw OpenSSHConfigError(.missingArgument(keyword: "Match"), file: file, line: line) }
        var result = true
        var index = 0
        while index < arguments.count {
            var criterion = arguments[index].lowercased()
            index += 1
            let negated = criterion.hasPrefix("!")
            if negated { criterion.removeFirst() }
            let holds: Bool
            switch criterion {
            case "all":
                guard arguments.count == 1 || (arguments.count == 2 && negated == false && index == 1) else {
                    throw OpenSSHConfigError(.syntax("Match all takes no other criteria"), file: file, line: line)
                }
                holds = true
            case "host", "originalhost", "user", "localuser", "exec":
                guard index < arguments.count else {
                    throw OpenSSHConfigError(.missingArgument(keyword: "Match \(criterion)"), file: file, line: line)
                }
                let argument = arguments[index]
                index += 1
                switch criterion {
                case "host": holds = listMatches(currentHost, argument)
                case "originalhost": holds = listMatches(destination.originalHost, argument)
                case "user": holds = listMatches(currentUser, argument, caseInsensitive: false)
                case "localuser": holds = listMatches(destination.localUser, argument, caseInsensitive: false)
                default: holds = runCommand(expandTokens(argument))
                }
            case "canonical", "final", "tagged", "localnetwork", "address", "localaddress", "localport", "rdomain", "version", "sessiontype", "command":
                throw OpenSSHConfigError(.unsupported(keyword: "Match \(criterion)", reason: "shh supports Match all, host, originalhost, user, localuser and exec"), file: file, line: line)
            default:
                throw OpenSSHConfigError(.syntax("Unsupported Match attribute \(criterion)"), file: file, line: line)
            }
            if holds == negated { result = false }
        }
        return result
    }

    private func listMatches(_ text: String, _ patternList: String, caseInsensitive: Bool = true) -> Bool {
        OpenSSHPattern.matchList(text, patternList: patternList, caseInsensitive: caseInsensitive) == .matched
    }

    /// The host Match host tests: HostName when a block before set it (tokens expanded), else the host as typed.
    private var currentHost: String {
        config["hostname"].map { PercentTokens.expandHostName($0, host: destination.originalHost) } ?? destination.originalHost
    }

    /// The remote user as far as known: User from the config, else the command line's, else the local user.
    private var currentUser: String {
        config["user"] ?? destination.commandLineUser ?? destination.localUser
    }

    private func expandTokens(_ text: String) -> String {
        let tokens = PercentTokens(
            host: currentHost, originalHost: destination.originalHost, port: config["port"] ?? String(SSHClientOptions.defaults.port),
            remoteUser: currentUser, localUser: destination.localUser, homeDirectory: destination.homeDirectory,
            hostKeyAlias: config["hostkeyalias"], proxyJump: config["proxyjump"].flatMap { $0.lowercased() == "none" ? nil : $0 } ?? "")
        return (try? tokens.expand(text)) ?? text
    }

    // MARK: Include

    /// Include paths: "~" is the home directory, relative paths start in ~/.ssh (user files) or /etc/ssh, and
    /// glob(3) wildcards expand, sorted; patterns matching nothing are skipped.
    private func includedPaths(_ pattern: String, userConfig: Bool) -> [String] {
        var path = expandTilde(pattern, home: destination.homeDirectory)
        if !path.hasPrefix("/") { path = (userConfig ? destination.homeDirectory + "/.ssh/" : "/etc/ssh/") + path }
        return globPaths(path)
    }
}
