// ssh_config %-tokens (ssh_config(5) TOKENS): %% %C %d %h %i %j %k %L %l %n %p %r %u, expanded in the directives
// that accept them (ssh's DEFAULT_CLIENT_PERCENT_EXPAND_ARGS), and LocalCommand's %T on top. An unknown token is
// an error, as in ssh.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto

/// The values ssh_config's %-tokens stand for in one connection.
///
/// ```swift
/// let tokens = PercentTokens(host: "build.example.com", originalHost: "build", port: "22", remoteUser: "git",
///                            localUser: "me", homeDirectory: "/home/me")
/// let path = try tokens.expand("%d/.ssh/cm-%r@%h:%p")   // "/home/me/.ssh/cm-git@build.example.com:22"
/// ```
public struct PercentTokens: Sendable {
    /// %h: the host name connected to (HostName applied).
    public var host: String
    /// %n: the host as typed.
    public var originalHost: String
    /// %p: the port.
    public var port: String
    /// %r: the remote user.
    public var remoteUser: String
    /// %u: the local user.
    public var localUser: String
    /// %d: the local user's home directory.
    public var homeDirectory: String
    /// HostKeyAlias, when set: %k is it, else the host as typed.
    public var hostKeyAlias: String?
    /// %j: ProxyJump as written, empty when unset.
    public var proxyJump: String

    /// The tokens' values.
    ///
    /// - Parameters:
    ///   - host: %h.
    ///   - originalHost: %n.
    ///   - port: %p.
    ///   - remoteUser: %r.
    ///   - localUser: %u.
    ///   - homeDirectory: %d.
    ///   - hostKeyAlias: HostKeyAlias, which %k stands for when set (else %k is `originalHost`).
    ///   - proxyJump: %j, ProxyJump as written ("" when unset).
    public init(host: String, originalHost: String, port: String, remoteUser: String, localUser: String, homeDirectory: String,
                hostKeyAlias: String? = nil, proxyJump: String = "") {
        self.host = host
        self.originalHost = originalHost
        self.port = port
        self.remoteUser = remoteUser
        self.localUser = localUser
        self.homeDirectory = homeDirectory
        self.hostKeyAlias = hostKeyAlias
        self.proxyJump = proxyJump
    }

    /// A % followed by a letter that is no token (or by nothing).
    public struct UnknownToken: Error, Equatable, CustomStringConvertible {
        /// The character after the %, empty when the text ended there.
        public let token: String
        /// "unknown key %X", as ssh says it.
        public var description: String { "unknown key %\(token)" }
    }

    /// The local host name, and the same up to the first dot.
    static var localHostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// %C: SHA-1 of %l%h%p%r%j, hex, as ssh computes it for ControlPath.
    public var connectionHash: String {
        let digest = Insecure.SHA1.hash(data: Array((Self.localHostName + host + port + remoteUser + proxyJump).utf8))
        return digest.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// `text` with every token replaced: %% %C %d %h %i %j %k %L %l %n %p %r %u.
    ///
    /// - Parameter text: A value of a directive that takes tokens (ControlPath, IdentityFile, `Match exec`, ...).
    /// - Returns: The expanded text.
    /// - Throws: ``UnknownToken`` for any other % sequence, as ssh fails on it.
    public func expand(_ text: String) throws -> String {
        try expand(text, tunnelInterface: nil)
    }

    /// LocalCommand's value with its tokens replaced: those of ``expand(_:)`` and %T, the tun/tap interface of a
    /// tunnel forwarding — "NONE" without one, as ssh's ssh_session2 expands it (the other tokens ssh_config(5)
    /// lists under "all tokens", such as %f or %K, are unknown to ssh there too, and fail the same way).
    ///
    /// ```swift
    /// let command = try tokens.expandLocalCommand("echo %r@%h:%p on %T")   // "echo git@build.example.com:22 on NONE"
    /// ```
    ///
    /// - Parameters:
    ///   - text: LocalCommand as written.
    ///   - tunnelInterface: The tunnel's interface name; nil for none.
    /// - Returns: The command for the shell (tokens are not quoted, as in ssh).
    /// - Throws: ``UnknownToken`` for any other % sequence.
    public func expandLocalCommand(_ text: String, tunnelInterface: String? = nil) throws -> String {
        try expand(text, tunnelInterface: tunnelInterface ?? "NONE")
    }

    /// The expansion itself; %T is a token only when `tunnelInterface` is given.
    private func expand(_ text: String, tunnelInterface: String?) throws -> String {
        var result = ""
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            guard character == "%" else { result.append(character); continue }
            guard let token = iterator.next() else { throw UnknownToken(token: "") }
            switch token {
            case "%": result.append("%")
            case "C": result += connectionHash
            case "d": result += homeDirectory
            case "h": result += host
            case "i": result += String(getuid())
            case "j": result += proxyJump
            case "k": result += hostKeyAlias ?? originalHost
            case "L": result += String(Self.localHostName.prefix { $0 != "." })
            case "l": result += Self.localHostName
            case "n": result += originalHost
            case "p": result += port
            case "r": result += remoteUser
            case "u": result += localUser
            case "T":
                // A token of LocalCommand's alone.
                guard let tunnelInterface else { throw UnknownToken(token: "T") }
                result += tunnelInterface
            default: throw UnknownToken(token: String(token))
            }
        }
        return result
    }

    /// HostName accepts only %h and %% (the host as typed); any other % sequence stays as written.
    ///
    /// - Parameters:
    ///   - text: HostName's value.
    ///   - host: The host as typed.
    /// - Returns: The expanded host name.
    public static func expandHostName(_ text: String, host: String) -> String {
        var result = ""
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            guard character == "%" else { result.append(character); continue }
            switch iterator.next() {
            case "h": result += host
            case "%": result.append("%")
            case let other?: result += "%" + String(other)
            case nil: result.append("%")
            }
        }
        return result
    }
}

/// "~" and "~/..." as the home directory, as ssh_config paths allow; anything else unchanged.
///
/// - Parameters:
///   - path: A path as written ("~/.ssh/id_ed25519").
///   - home: The home directory.
/// - Returns: The path with "~" replaced ("~user" is left as it is).
public func expandTilde(_ path: String, home: String) -> String {
    path == "~" ? home : path.hasPrefix("~/") ? home + path.dropFirst() : path
}
