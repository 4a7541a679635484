// The one error type of OpenSSHConfig: where (file and line, as ssh and sshd name them) and what is wrong.

/// What is wrong in a configuration file, and where: the one error type of this module.
///
/// Its description is worded as ssh and sshd word theirs ("config: line 3: Bad configuration option: Prot").
public struct OpenSSHConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The failures.
    public enum Kind: Equatable, Sendable {
        /// A keyword neither we nor OpenSSH know (and IgnoreUnknown does not cover).
        case unknownKeyword(String)
        /// A keyword OpenSSH knows that this version of shh or shhd does not honour (the reason says so).
        case unsupported(keyword: String, reason: String)
        /// A value that does not parse, with what was expected.
        case badValue(keyword: String, value: String, expected: String)
        /// A keyword without its argument.
        case missingArgument(keyword: String)
        /// A line that does not read: an open quote, Match criteria that do not go together, Include too deep.
        case syntax(String)
        /// A file that could not be read (Include targets that do not exist are skipped, as in ssh).
        case unreadable(String)
    }

    /// What is wrong.
    public let kind: Kind
    /// The file, or "command line".
    public let file: String
    /// The line number; 0 when the error is about the whole file or the command line.
    public let line: Int
    /// How the place is written: "file: line N" (reading errors, as ssh's parser words them) or "file line N" (a
    /// value that does not parse, as shh and shhd have always worded those).
    let placeWording: PlaceWording

    enum PlaceWording: Sendable {
        case fileColonLine, fileLine
    }

    /// An error at a place.
    ///
    /// - Parameters:
    ///   - kind: What is wrong.
    ///   - file: The file, or "command line".
    ///   - line: The line number, or 0.
    public init(_ kind: Kind, file: String, line: Int) {
        self.init(kind, file: file, line: line, wording: .fileColonLine)
    }

    init(_ kind: Kind, file: String, line: Int, wording: PlaceWording) {
        self.kind = kind
        self.file = file
        self.line = line
        self.placeWording = wording
    }

    /// A value that does not parse, written at `place`.
    static func badValue(_ keyword: String, _ value: String, expected: String, at place: OpenSSHConfigOrigin) -> OpenSSHConfigError {
        OpenSSHConfigError(.badValue(keyword: keyword, value: value, expected: expected), file: place.file, line: place.line, wording: .fileLine)
    }

    /// The place, then what is wrong.
    public var description: String {
        let place = line <= 0 ? file : placeWording == .fileLine ? "\(file) line \(line)" : "\(file): line \(line)"
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
