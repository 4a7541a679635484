// What ssh_config and sshd_config reading leaves: canonical keyword → the arguments of the occurrence that won (or
// of every occurrence, for keywords that accumulate), with where each was written. One type for both files; which
// keywords accumulate is the only difference, given by the keyword table.
import SSHProtocol

/// A keyword table: which canonical keywords add up over their occurrences instead of the first one winning.
public protocol OpenSSHKeywordTable {
    /// The canonical lower-case keywords that accumulate.
    static var accumulating: Set<String> { get }
}

extension ClientKeywords: OpenSSHKeywordTable {}
extension ServerKeywords: OpenSSHKeywordTable {}

/// Where a value was written: a file and line, or the command line (line 0).
public struct OpenSSHConfigOrigin: Sendable, Equatable, CustomStringConvertible {
    /// The file, or "command line".
    public var file: String
    /// The line number; 0 for the command line.
    public var line: Int

    /// A place.
    ///
    /// - Parameters:
    ///   - file: The file, or "command line".
    ///   - line: The line number, or 0.
    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    /// The command line (-o options, -p).
    public static let commandLine = OpenSSHConfigOrigin(file: "command line", line: 0)

    /// "file line N", or the file alone for line 0 (the command line).
    public var description: String { line > 0 ? "\(file) line \(line)" : file }
}

/// The options one reading gave, by canonical lower-case keyword. `SSHClientConfig` (ssh_config) and
/// `SSHServerConfig` (sshd_config) are this type over their keyword tables.
///
/// The values are strings as written; ``SSHClientOptions`` and ``SSHServerOptions`` check and type them.
///
/// ```swift
/// let file = try SSHServerConfigFile.read(text: "PasswordAuthentication no\nAcceptEnv LANG LC_*\n", path: "sshd_config")
/// let config = file.settings(for: nil)
/// config["passwordauthentication"]               // "no"
/// config.all("acceptenv")                        // [["LANG", "LC_*"]]
/// config.origin(of: "passwordauthentication")    // "sshd_config line 1"
/// ```
public struct OpenSSHKeywordValues<Keywords: OpenSSHKeywordTable>: Sendable, Equatable {
    /// Keyword → the arguments of its first occurrence.
    public private(set) var values: [String: [String]] = [:]
    /// Accumulating keyword → the arguments of each occurrence, in order.
    public private(set) var lists: [String: [[String]]] = [:]
    /// Keyword → where each counted occurrence was written (one for a keyword whose first value won).
    private var places: [String: [OpenSSHConfigOrigin]] = [:]

    /// Nothing set.
    public init() {}

    /// The first argument of `keyword`'s value, if set.
    ///
    /// - Parameter keyword: A canonical lower-case keyword of a keyword whose first value wins.
    public subscript(keyword: String) -> String? { values[keyword]?.first }
    /// Every argument of `keyword`'s value, if set.
    ///
    /// - Parameter keyword: A canonical lower-case keyword of a keyword whose first value wins.
    /// - Returns: The arguments as written, or nil when it is not set.
    public func arguments(_ keyword: String) -> [String]? { values[keyword] }
    /// Each occurrence of an accumulating keyword, in order.
    ///
    /// - Parameter keyword: A canonical lower-case keyword that accumulates (IdentityFile, Port, AcceptEnv, ...).
    /// - Returns: One array of arguments per occurrence; empty when there was none.
    public func all(_ keyword: String) -> [[String]] { lists[keyword] ?? [] }
    /// Whether `keyword` was set at all.
    ///
    /// - Parameter keyword: A canonical lower-case keyword.
    public func isSet(_ keyword: String) -> Bool { values[keyword] != nil || lists[keyword] != nil }

    /// Where each value came from ("file line N" or "command line"); for a keyword that accumulates, its first line.
    public var origins: [String: String] { places.compactMapValues { $0.first?.description } }

    /// Where `keyword`'s value (or, for one that accumulates, its `index`th occurrence) was written; the command
    /// line when it was not set.
    ///
    /// - Parameters:
    ///   - keyword: A canonical lower-case keyword.
    ///   - index: Which occurrence, for a keyword that accumulates (the first when out of range).
    /// - Returns: The file and line.
    public func place(of keyword: String, occurrence index: Int = 0) -> OpenSSHConfigOrigin {
        guard let list = places[keyword], let first = list.first else { return .commandLine }
        return list.indices.contains(index) ? list[index] : first
    }

    /// ``place(of:occurrence:)`` as text: "file line N" or "command line".
    ///
    /// - Parameters:
    ///   - keyword: A canonical lower-case keyword.
    ///   - index: Which occurrence, for a keyword that accumulates.
    /// - Returns: Where it was written.
    public func origin(of keyword: String, occurrence index: Int = 0) -> String {
        place(of: keyword, occurrence: index).description
    }

    /// Records an occurrence; returns false when an earlier one already won.
    @discardableResult
    mutating func set(_ keyword: String, _ arguments: [String], at place: OpenSSHConfigOrigin) -> Bool {
        if Keywords.accumulating.contains(keyword) {
            lists[keyword, default: []].append(arguments)
            places[keyword, default: []].append(place)
            return true
        }
        guard values[keyword] == nil else { return false }
        values[keyword] = arguments
        places[keyword] = [place]
        return true
    }

    /// Puts `occurrences` in place of whatever `keyword` had (sshd's -p replacing the Port lines).
    ///
    /// - Parameters:
    ///   - keyword: A canonical lower-case keyword.
    ///   - occurrences: The new occurrences' arguments (only the first counts for a keyword that does not
    ///     accumulate).
    ///   - origin: Where they come from.
    public mutating func replace(_ keyword: String, with occurrences: [[String]], origin: OpenSSHConfigOrigin = .commandLine) {
        values[keyword] = nil
        lists[keyword] = nil
        places[keyword] = nil
        for arguments in occurrences { set(keyword, arguments, at: origin) }
    }
}

/// The options ssh_config gave one connection.
public typealias SSHClientConfig = OpenSSHKeywordValues<ClientKeywords>

/// The sshd_config values that apply (globally, or to one connection).
public typealias SSHServerConfig = OpenSSHKeywordValues<ServerKeywords>

extension OpenSSHKeywordValues {
    /// Runs `parse` with the place `keyword` was written ("file line N") and gives an error it throws about that
    /// place (ConfigValues' errors name it as text) the file and line apart.
    func placed<T>(_ keyword: String, occurrence: Int = 0, _ parse: (String) throws -> T) throws -> T {
        let place = place(of: keyword, occurrence: occurrence)
        do {
            return try parse(place.description)
        } catch let error as OpenSSHConfigError where error.line == 0 && error.file == place.description {
            throw OpenSSHConfigError(error.kind, file: place.file, line: place.line, wording: .fileLine)
        }
    }

    /// A bad value of `keyword` (canonical, lower case), named `name` as written in the documentation.
    func badValue(_ keyword: String, named name: String, _ value: String, expected: String, occurrence: Int = 0) -> OpenSSHConfigError {
        .badValue(name, value, expected: expected, at: place(of: keyword, occurrence: occurrence))
    }

    /// Ciphers, MACs, KexAlgorithms and HostKeyAlgorithms over `defaults` (those not set stay as they are).
    func algorithms(over defaults: SSHAlgorithms) throws -> SSHAlgorithms {
        var result = defaults
        for keyword in ["ciphers", "macs", "kexalgorithms", "hostkeyalgorithms"] {
            guard let text = self[keyword] else { continue }
            result = try placed(keyword) { origin in
                try ConfigValues.algorithms({ $0 == keyword ? (text, origin) : nil }, over: result)
            }
        }
        return result
    }

    /// yes/true or no/false (ConfigValues.flag); nil when not set.
    func flag(_ keyword: String, named name: String) throws -> Bool? {
        guard let text = self[keyword] else { return nil }
        guard let value = ConfigValues.flag(text) else { throw badValue(keyword, named: name, text, expected: "yes or no") }
        return value
    }
}
