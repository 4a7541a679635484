// The one error type of OpenSSHConfig: where (file and line, as ssh and sshd name them) and what is wrong.

public struct OpenSSHConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// A keyword neither we nor OpenSSH know (and IgnoreUnknown does not cover).
        case unknownKeyword(String)
        /// A keyword OpenSSH knows that this version of shh or shhd does not honour (the reason says so).
        case unsupported(keyword: String, reason: String)
        /// A value that does not parse, with what was expected.
        case badValue(keyword: String, value: String, expected: String)
        case missingArgument(keyword: String)
        case syntax(String)
        /// A file that could not be read (Include targets that do not exist are skipped, as in ssh).
        case unreadable(String)
    }

    public let kind: Kind
    public let file: String
    public let line: Int

    public init(_ kind: Kind, file: String, line: Int) {
        self.kind = kind
        self.file = file
        self.line = line
    }

    public var description: String {
        let place = line > 0 ? "\(file): line \(line)" : file
        switch kind {
        case .unknownKeyword(let keyword): return "\(place): Bad configuration option: \(keyword)"
        case .unsupported(let keyword, let reason): return "\(place): \(keyword): \(reason)"
        case .badValue(let keyword, let value, let expected): return "\(place): invalid \(keyword) value \"\(value)\": expected \(expected)"
        case .missingArgument(let keyword): return "\(place): \(keyword): missing argument"
        case .syntax(let message): return "\(place): \(message)"
        case .unreadable(let reason): return "\(place): \(reason)"
        }
    }
}
