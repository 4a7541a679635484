// LogLevel as ssh_config and sshd_config spell it. The command modules keep their own level type
// (SSHCommandLine.LogLevel, same order and raw values); this one is what the typed options hold.

/// LogLevel of ssh_config and sshd_config, from the quietest to the most verbose.
public enum OpenSSHLogLevel: Int, Comparable, Sendable, CaseIterable {
    /// QUIET, FATAL, ERROR, INFO, VERBOSE, DEBUG1, DEBUG2, DEBUG3, in that order.
    case quiet = 0, fatal, error, info, verbose, debug1, debug2, debug3

    /// Whether `a` is quieter than `b`.
    public static func < (a: OpenSSHLogLevel, b: OpenSSHLogLevel) -> Bool { a.rawValue < b.rawValue }

    /// QUIET, FATAL, ERROR, INFO, VERBOSE, DEBUG (= DEBUG1), DEBUG1-3, in any case; nil for anything else.
    public init?(name: String) {
        switch name.uppercased() {
        case "QUIET": self = .quiet
        case "FATAL": self = .fatal
        case "ERROR": self = .error
        case "INFO": self = .info
        case "VERBOSE": self = .verbose
        case "DEBUG", "DEBUG1": self = .debug1
        case "DEBUG2": self = .debug2
        case "DEBUG3": self = .debug3
        default: return nil
        }
    }

    static let expected = "QUIET, FATAL, ERROR, INFO, VERBOSE or DEBUG1-3"
}
