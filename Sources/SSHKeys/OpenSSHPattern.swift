// OpenSSH's pattern lists (ssh_config(5) PATTERNS): comma-separated glob patterns with * and ?,
// where a leading ! negates and a matching negation vetoes the whole list.

/// OpenSSH's host and user patterns (ssh_config(5) PATTERNS), as known_hosts, allowed_signers and the configuration files use them.
public enum OpenSSHPattern {
    /// Glob match of one pattern (only * and ?), case-sensitive unless `caseInsensitive`.
    ///
    /// - Parameters:
    ///   - text: The text to test, e.g. a host name.
    ///   - pattern: One pattern, where `*` matches any run of characters and `?` any one character.
    ///   - caseInsensitive: Compare without regard to case.
    /// - Returns: True when the whole text matches.
    public static func matches(_ text: String, pattern: String, caseInsensitive: Bool = false) -> Bool {
        let subject = Array(caseInsensitive ? text.lowercased().unicodeScalars : text.unicodeScalars)
        let glob = Array(caseInsensitive ? pattern.lowercased().unicodeScalars : pattern.unicodeScalars)
        // Iterative glob with single-star backtracking: linear in practice, no recursion to exhaust.
        var s = 0, g = 0
        var starG = -1, starS = 0
        while s < subject.count {
            if g < glob.count, glob[g] == "?" || (glob[g] != "*" && glob[g] == subject[s]) {
                s += 1
                g += 1
            } else if g < glob.count, glob[g] == "*" {
                starG = g
                starS = s
                g += 1
            } else if starG >= 0 {
                g = starG + 1
                starS += 1
                s = starS
            } else {
                return false
            }
        }
        while g < glob.count, glob[g] == "*" { g += 1 }
        return g == glob.count
    }

    /// The result of matching a comma-separated list: a negated match wins over any positive one.
    public enum ListMatch: Equatable, Sendable {
        /// A positive pattern matched and no negated one did.
        case matched
        /// A negated pattern (`!pattern`) matched.
        case negated
        /// No pattern matched.
        case noMatch
    }

    /// Matches text against a comma-separated pattern list, where a matching `!pattern` vetoes the whole list.
    ///
    /// ```swift
    /// OpenSSHPattern.matchList("db1.example.org", patternList: "*.example.org,!db*")  // .negated
    /// ```
    ///
    /// - Parameters:
    ///   - text: The text to test.
    ///   - patternList: Comma-separated patterns, each optionally negated with a leading `!`.
    ///   - caseInsensitive: Compare without regard to case.
    /// - Returns: Whether the list matched, was vetoed, or did not match.
    public static func matchList(_ text: String, patternList: String, caseInsensitive: Bool = false) -> ListMatch {
        var matched = false
        for rawPattern in patternList.split(separator: ",", omittingEmptySubsequences: true) {
            let pattern = String(rawPattern)
            if pattern.hasPrefix("!") {
                if matches(text, pattern: String(pattern.dropFirst()), caseInsensitive: caseInsensitive) { return .negated }
            } else if matches(text, pattern: pattern, caseInsensitive: caseInsensitive) {
                matched = true
            }
        }
        return matched ? .matched : .noMatch
    }
}
