// The allowed_signers file of ssh-keygen(1) (section ALLOWED SIGNERS): whose SSHSIG signatures `-Y verify` accepts.
// Each line: principals [options] keytype base64-key [comment]; options are cert-authority, namespaces="...",
// valid-after="...", valid-before="...".

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: it would load ICU, ~3 ms at every start of a command
#else
import Foundation
#endif

/// One line of an allowed_signers file (ssh-keygen(1) ALLOWED SIGNERS): who may sign with a key.
public struct AllowedSignersEntry: Sendable {
    /// Comma-separated principal patterns (OpenSSHPattern list).
    public var principals: String
    /// Whether the key is a CA for certificates (cert-authority). Such entries never authorise a plain key.
    public var certificateAuthority: Bool
    /// Namespace patterns the key may sign in; nil means any.
    public var namespaces: String?
    /// Seconds since the epoch before which the key may not sign yet; nil for no limit.
    public var validAfter: Int?
    /// Seconds since the epoch after which the key may no longer sign; nil for no limit.
    public var validBefore: Int?
    /// The signer's key.
    public var key: SSHPublicKey
    /// The 1-based line number in the file, for messages.
    public var line: Int
}

/// Reading allowed_signers files and deciding whether they let a key sign, as `ssh-keygen -Y verify` does.
public enum AllowedSigners {
    /// Parses the file. Lines that cannot be parsed are reported as warnings (path:line: why) and skipped.
    ///
    /// - Parameters:
    ///   - text: The file's contents.
    ///   - path: The file's path, named in warnings.
    /// - Returns: The usable entries in file order, and one warning per skipped line.
    public static func parse(_ text: String, path: String) -> (entries: [AllowedSignersEntry], warnings: [String]) {
        var entries: [AllowedSignersEntry] = []
        var warnings: [String] = []
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = offset + 1
            var rest = Substring(rawLine.trimmingSSHWhitespace)
            if rest.isEmpty || rest.hasPrefix("#") { continue }
            guard let principals = nextToken(&rest), !principals.isEmpty else {
                warnings.append("\(path):\(lineNumber): invalid line")
                continue
            }
            var options: [String: String?] = [:]
            var key: SSHPublicKeyLine
            if let parsed = try? SSHPublicKeyLine(parsing: String(rest)) {
                key = parsed
            } else {
                guard let optionText = nextToken(&rest), let parsedOptions = parseOptions(optionText) else {
                    warnings.append("\(path):\(lineNumber): invalid options")
                    continue
                }
                options = parsedOptions
                guard let parsed = try? SSHPublicKeyLine(parsing: String(rest)) else {
                    warnings.append("\(path):\(lineNumber): invalid key")
                    continue
                }
                key = parsed
            }
            var entry = AllowedSignersEntry(
                principals: unquote(principals), certificateAuthority: false, namespaces: nil,
                validAfter: nil, validBefore: nil, key: key.key, line: lineNumber)
            var bad: String?
            for (name, value) in options {
                switch (name, value) {
                case ("cert-authority", nil): entry.certificateAuthority = true
                case ("namespaces", let value?): entry.namespaces = value
                case ("valid-after", let value?):
                    if let time = parseTime(value) { entry.validAfter = time } else { bad = "invalid \"valid-after\" time" }
                case ("valid-before", let value?):
                    if let time = parseTime(value) { entry.validBefore = time } else { bad = "invalid \"valid-before\" time" }
                default: bad = "unknown option \"\(name)\""
                }
            }
            if let bad {
                warnings.append("\(path):\(lineNumber): bad options: \(bad)")
                continue
            }
            entries.append(entry)
        }
        return (entries, warnings)
    }

    /// Why an entry did not authorise a signature, for the log.
    public enum Refusal: Error, Equatable, Sendable {
        /// No entry holds the key for the principal.
        case noMatchingPrincipalAndKey
        /// The entry on `line` does not allow the namespace.
        case namespaceNotPermitted(line: Int)
        /// The entry on `line` is not valid yet.
        case notYetValid(line: Int)
        /// The entry on `line` is no longer valid.
        case expired(line: Int)
    }

    /// Finds an entry that lets `principal` sign in `namespace` with `key` at `time`.
    ///
    /// - Parameters:
    ///   - entries: The file's entries, from ``parse(_:path:)``.
    ///   - key: The key that made the signature.
    ///   - principal: The signer's identity to check.
    ///   - namespace: The signature's namespace, e.g. "file" or "git".
    ///   - time: The time to check validity at, in seconds since 1970.
    /// - Returns: The first entry that allows it, or why the last candidate did not (``Refusal/noMatchingPrincipalAndKey`` when none held the key).
    public static func authorize(
        entries: [AllowedSignersEntry], key: SSHPublicKey, principal: String, namespace: String, time: Int
    ) -> Result<AllowedSignersEntry, Refusal> {
        var refusal = Refusal.noMatchingPrincipalAndKey
        for entry in entries where !entry.certificateAuthority && entry.key == key {
            guard OpenSSHPattern.matchList(principal, patternList: entry.principals) == .matched else { continue }
            if let namespaces = entry.namespaces, OpenSSHPattern.matchList(namespace, patternList: namespaces) != .matched {
                refusal = .namespaceNotPermitted(line: entry.line)
                continue
            }
            if let after = entry.validAfter, time < after {
                refusal = .notYetValid(line: entry.line)
                continue
            }
            if let before = entry.validBefore, time > before {
                refusal = .expired(line: entry.line)
                continue
            }
            return .success(entry)
        }
        return .failure(refusal)
    }

    /// The principals of every entry holding `key` (for `-Y find-principals`).
    ///
    /// - Parameters:
    ///   - entries: The file's entries.
    ///   - key: The key to look for.
    /// - Returns: Each matching entry's principal patterns, as written.
    public static func principals(entries: [AllowedSignersEntry], key: SSHPublicKey) -> [String] {
        entries.filter { !$0.certificateAuthority && $0.key == key }.map(\.principals)
    }

    /// A whitespace-delimited token, where double quotes group (and may contain spaces).
    static func nextToken(_ rest: inout Substring) -> String? {
        rest = rest.drop(while: { $0 == " " || $0 == "\t" })
        guard !rest.isEmpty else { return nil }
        var token = ""
        var quoted = false
        while let character = rest.first {
            if character == "\"" { quoted.toggle() }
            if !quoted, character == " " || character == "\t" { break }
            token.append(character)
            rest = rest.dropFirst()
        }
        if quoted { return nil }
        rest = rest.drop(while: { $0 == " " || $0 == "\t" })
        return token
    }

    static func unquote(_ text: String) -> String {
        text.count >= 2 && text.hasPrefix("\"") && text.hasSuffix("\"") ? String(text.dropFirst().dropLast()) : text
    }

    /// name or name="value", comma-separated, commas inside quotes kept.
    static func parseOptions(_ text: String) -> [String: String?]? {
        var options: [String: String?] = [:]
        var current = ""
        var quoted = false
        var pieces: [String] = []
        for character in text {
            if character == "\"" { quoted.toggle() }
            if character == ",", !quoted {
                pieces.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        guard !quoted else { return nil }
        pieces.append(current)
        for piece in pieces {
            guard !piece.isEmpty else { return nil }
            if let equals = piece.firstIndex(of: "=") {
                let name = piece[..<equals].lowercased()
                let value = String(piece[piece.index(after: equals)...])
                guard value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") else { return nil }
                options[name] = String(value.dropFirst().dropLast())
            } else {
                options[piece.lowercased()] = .some(nil)
            }
        }
        return options
    }

    /// YYYYMMDD or YYYYMMDDHHMM[SS], optionally ending in Z for UTC; otherwise local time (as ssh-keygen).
    static func parseTime(_ text: String) -> Int? {
        var digits = text
        var utc = false
        if digits.hasSuffix("Z") || digits.hasSuffix("z") {
            utc = true
            digits.removeLast()
        }
        guard [8, 12, 14].contains(digits.count), digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        let numbers = Array(digits).map { Int(String($0))! }
        func field(_ start: Int, _ length: Int) -> Int {
            numbers[start..<(start + length)].reduce(0) { $0 * 10 + $1 }
        }
        var parts = tm()
        parts.tm_year = Int32(field(0, 4) - 1900)
        parts.tm_mon = Int32(field(4, 2) - 1)
        parts.tm_mday = Int32(field(6, 2))
        if digits.count >= 12 {
            parts.tm_hour = Int32(field(8, 2))
            parts.tm_min = Int32(field(10, 2))
        }
        if digits.count == 14 { parts.tm_sec = Int32(field(12, 2)) }
        guard (0...11).contains(parts.tm_mon), (1...31).contains(parts.tm_mday), parts.tm_hour < 24, parts.tm_min < 60, parts.tm_sec < 61 else {
            return nil
        }
        parts.tm_isdst = -1
        let seconds = utc ? timegm(&parts) : mktime(&parts)
        return seconds < 0 ? nil : Int(seconds)
    }
}

extension AllowedSigners {
    /// The time format of `-O verify-time=`: the same as valid-after/valid-before.
    ///
    /// - Parameter text: YYYYMMDD or YYYYMMDDHHMM[SS], optionally ending in Z for UTC; otherwise local time.
    /// - Returns: Seconds since 1970, or nil when the text is not such a time.
    public static func parseTimeForCommandLine(_ text: String) -> Int? { parseTime(text) }
}
