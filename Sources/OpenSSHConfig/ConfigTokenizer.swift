// Splitting ssh_config/sshd_config lines the way OpenSSH does (readconf.c, argv_split): a keyword, then an optional
// "=" (with or without spaces around it), then arguments separated by whitespace, where double or single quotes
// group words and a backslash escapes the next character outside single quotes. "#" starts a comment only where a
// word would start.

/// Splits configuration lines as OpenSSH does: a keyword, an optional "=", then words that double or single
/// quotes group and a backslash escapes.
///
/// ```swift
/// let split = try ConfigTokenizer.split(#"IdentityFile = "~/My Keys/id_ed25519" # work"#)
/// // ("IdentityFile", ["~/My Keys/id_ed25519"])
/// ```
public enum ConfigTokenizer {
    /// The keyword and its arguments, or nil for a blank or comment line.
    ///
    /// - Parameter line: One line of a file, or a -o option.
    /// - Returns: The keyword as written and its arguments, quotes removed.
    /// - Throws: When the line starts with "=", a quote is left open, or it ends in a backslash; the readers turn
    ///   that into ``OpenSSHConfigError/Kind/syntax(_:)`` with the file and line.
    public static func split(_ line: String) throws -> (keyword: String, arguments: [String])? {
        var characters = Substring(line)
        characters = characters.drop { $0 == " " || $0 == "\t" }
        while let last = characters.last, last == "\r" || last == "\n" || last == " " || last == "\t" { characters = characters.dropLast() }
        guard let first = characters.first, first != "#" else { return nil }
        // The keyword ends at whitespace or "=".
        let keyword = characters.prefix { $0 != " " && $0 != "\t" && $0 != "=" }
        var rest = characters.dropFirst(keyword.count).drop { $0 == " " || $0 == "\t" }
        if rest.first == "=" { rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" } }
        guard !keyword.isEmpty else { throw TokenizerError("a line starting with \"=\"") }
        return (String(keyword), try words(rest))
    }

    /// The text after the keyword (and its "="), untouched: ProxyCommand, RemoteCommand, LocalCommand and
    /// KnownHostsCommand take it whole, quotes included, as a command for the shell (readconf.c's parse_command).
    ///
    /// - Parameter line: One line of a file.
    /// - Returns: What follows the keyword, trailing whitespace removed.
    public static func restOfLine(_ line: String) -> String {
        var characters = Substring(line).drop { $0 == " " || $0 == "\t" }
        while let last = characters.last, last == "\r" || last == "\n" || last == " " || last == "\t" { characters = characters.dropLast() }
        let keyword = characters.prefix { $0 != " " && $0 != "\t" && $0 != "=" }
        var rest = characters.dropFirst(keyword.count).drop { $0 == " " || $0 == "\t" }
        if rest.first == "=" { rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" } }
        return String(rest)
    }

    /// Whitespace-separated words with quoting, as OpenSSH's argv_split; "#" where a word would start ends them.
    ///
    /// - Parameter text: The text after a keyword.
    /// - Returns: The words, quotes and escapes removed.
    /// - Throws: When a quote is left open or the text ends in a backslash.
    public static func words(_ text: Substring) throws -> [String] {
        var result: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" && open == "\"" {
                    guard let escaped = iterator.next() else { throw TokenizerError("a backslash at the end of the line") }
                    current.append(escaped)
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case " ", "\t":
                if inWord { result.append(current); current = ""; inWord = false }
            case "\"", "'":
                quote = character
                inWord = true
            case "\\":
                guard let escaped = iterator.next() else { throw TokenizerError("a backslash at the end of the line") }
                current.append(escaped)
                inWord = true
            case "#" where !inWord:
                // A comment: the rest of the line is not arguments.
                if inWord { result.append(current) }
                return result
            default:
                current.append(character)
                inWord = true
            }
        }
        if quote != nil { throw TokenizerError("an unterminated quote") }
        if inWord { result.append(current) }
        return result
    }
}

/// A line the tokenizer cannot split; the reader adds file and line.
struct TokenizerError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
