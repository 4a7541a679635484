// A getopt(3) with the semantics OpenSSH's tools have on every platform (they ship BSD getopt):
// clustered flags (-lv), attached or separate arguments (-b4096, -b 4096, -N ''), "--" ends options,
// and parsing stops at the first operand (no GNU permutation) so callers like ssh can resume after a host name.

/// One option found on the command line.
public struct ParsedOption: Equatable, Sendable {
    /// The option's letter, without the dash.
    public let letter: Character
    /// Its argument, for an option that takes one (attached, -b4096, or the next word, -b 4096).
    public let argument: String?

    /// An option `letter`, with `argument` when it takes one.
    public init(_ letter: Character, _ argument: String? = nil) {
        self.letter = letter
        self.argument = argument
    }
}

/// A command line that does not follow the option grammar. The description is BSD getopt's wording.
public enum CommandLineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A letter the option string does not have.
    case unknownOption(Character)
    /// An option that takes an argument came last, without one.
    case missingArgument(Character)
    /// A value that parses as an option but is not acceptable (the message names it).
    case invalidValue(String)

    /// The message, worded as BSD getopt words it.
    public var description: String {
        switch self {
        case .unknownOption(let letter): return "unknown option -- \(letter)"
        case .missingArgument(let letter): return "option requires an argument -- \(letter)"
        case .invalidValue(let message): return message
        }
    }
}

/// A getopt-style parser for one option string, e.g. "lvyf:N:" (a colon marks an option that takes an argument).
public struct Getopt: Sendable {
    private let flags: Set<Character>
    private let withArgument: Set<Character>

    /// A parser for `optionString`: each letter an option, a letter followed by ":" one that takes an argument.
    public init(_ optionString: String) {
        var flags = Set<Character>()
        var withArgument = Set<Character>()
        let characters = Array(optionString)
        var index = 0
        while index < characters.count {
            let letter = characters[index]
            if index + 1 < characters.count, characters[index + 1] == ":" {
                withArgument.insert(letter)
                index += 2
            } else {
                flags.insert(letter)
                index += 1
            }
        }
        self.flags = flags
        self.withArgument = withArgument
    }

    /// Parses options from the start of `arguments` (which excludes the program name).
    /// Returns the options in order and the index of the first operand (arguments.count if none).
    public func parse(_ arguments: [String], from start: Int = 0) throws -> (options: [ParsedOption], nextIndex: Int) {
        var options: [ParsedOption] = []
        var index = start
        while index < arguments.count {
            let word = arguments[index]
            if word == "--" { return (options, index + 1) }
            guard word.hasPrefix("-"), word.count > 1 else { break }
            var letters = Array(word.dropFirst())
            index += 1
            while !letters.isEmpty {
                let letter = letters.removeFirst()
                if withArgument.contains(letter) {
                    if !letters.isEmpty {
                        options.append(ParsedOption(letter, String(letters)))
                    } else if index < arguments.count {
                        options.append(ParsedOption(letter, arguments[index]))
                        index += 1
                    } else {
                        throw CommandLineError.missingArgument(letter)
                    }
                    letters = []
                } else if flags.contains(letter) {
                    options.append(ParsedOption(letter))
                } else {
                    throw CommandLineError.unknownOption(letter)
                }
            }
        }
        return (options, index)
    }
}
