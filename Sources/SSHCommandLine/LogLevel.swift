// LogLevel as ssh_config and sshd_config spell it (QUIET to DEBUG3), shared by shh's diagnostics and shhd's log.

/// LogLevel of ssh_config and sshd_config (and -v, -q), from the quietest to the most verbose.
public enum LogLevel: Int, Comparable, Sendable, CaseIterable {
    /// QUIET, FATAL, ERROR, INFO, VERBOSE, DEBUG1, DEBUG2, DEBUG3, in that order.
    case quiet = 0, fatal, error, info, verbose, debug1, debug2, debug3

    /// Whether `a` is quieter than `b`.
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

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

    /// The keyword for this level.
    public var name: String {
        switch self {
        case .quiet: "QUIET"
        case .fatal: "FATAL"
        case .error: "ERROR"
        case .info: "INFO"
        case .verbose: "VERBOSE"
        case .debug1: "DEBUG1"
        case .debug2: "DEBUG2"
        case .debug3: "DEBUG3"
        }
    }
}
