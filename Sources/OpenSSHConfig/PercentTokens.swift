// ssh_config %-tokens (ssh_config(5) TOKENS): %% %C %d %h %i %L %l %n %p %r %u, expanded in the directives that
// accept them. An unknown token is an error, as in ssh.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto

public struct PercentTokens: Sendable {
    public var host: String
    public var originalHost: String
    public var port: String
    public var remoteUser: String
    public var localUser: String
    public var homeDirectory: String

    public init(host: String, originalHost: String, port: String, remoteUser: String, localUser: String, homeDirectory: String) {
        self.host = host
        self.originalHost = originalHost
        self.port = port
        self.remoteUser = remoteUser
        self.localUser = localUser
        self.homeDirectory = homeDirectory
    }

    public struct UnknownToken: Error, Equatable, CustomStringConvertible {
        public let token: String
        public var description: String { "unknown key %\(token)" }
    }

    /// The local host name, and the same up to the first dot.
    static var localHostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// %C: SHA-1 of %l%h%p%r, hex, as ssh computes it for ControlPath.
    public var connectionHash: String {
        let digest = Insecure.SHA1.hash(data: Array((Self.localHostName + host + port + remoteUser).utf8))
        return digest.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    public func expand(_ text: String) throws -> String {
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
            case "L": result += String(Self.localHostName.prefix { $0 != "." })
            case "l": result += Self.localHostName
            case "n": result += originalHost
            case "p": result += port
            case "r": result += remoteUser
            case "u": result += localUser
            default: throw UnknownToken(token: String(token))
            }
        }
        return result
    }

    /// HostName accepts only %h and %% (the host as typed).
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
public func expandTilde(_ path: String, home: String) -> String {
    path == "~" ? home : path.hasPrefix("~/") ? home + path.dropFirst() : path
}
