// sshd's command line (sshd(8)) as shhd takes it: -D (foreground; shhd never detaches), -e (log to standard
// error), -f config, -p port (repeatable; replaces the config's Port lines, as in sshd), -h host key
// (repeatable), -c host certificate, -o Key=Value, -g login grace time, -d (debug: foreground, more logging),
// -t (check the configuration and keys), -T (print the effective configuration; -C user=,host=,addr=,laddr=,
// lport= picks the Match blocks for one connection), -E log file, -q, -4/-6, -V.
import SSHCommandLine

/// A parsed shhd command line.
public struct ShhdArguments: Equatable, Sendable {
    /// -f: the configuration file (shhd's embedded default when nil).
    public var configFile: String?
    /// sshd_config lines from flags and -o, in command-line order (they win over the file).
    public var configLines: [String] = []
    /// -p ports: when given, the config's Port lines are not used.
    public var ports: [Int] = []
    /// -d count: debug logging, in the foreground.
    public var debug = 0
    /// -e: log to standard error instead of syslog.
    public var logToStandardError = false
    /// -E: append the log to this file.
    public var logFile: String?
    /// -q: log nothing.
    public var quiet = false
    /// -t: check the configuration and keys, then exit.
    public var checkOnly = false
    /// -T: print the effective configuration, then exit.
    public var printConfiguration = false
    /// -C: the connection -T prints the configuration for.
    public var connectionSpec: String?
    /// -V: print the version and exit.
    public var printVersion = false

    /// Nothing given: every field at its default.
    public init() {}

    static let getopt = Getopt("46C:c:DdE:ef:g:h:o:p:qTtV")

    /// Parses sshd's command line (without the program name).
    /// - Throws: `CommandLineError` for an option sshd does not have, a missing or unacceptable value.
    public static func parse(_ arguments: [String]) throws -> ShhdArguments {
        var parsed = ShhdArguments()
        let (options, next) = try getopt.parse(arguments)
        guard next == arguments.count else {
            throw CommandLineError.invalidValue("unexpected argument \"\(arguments[next])\"")
        }
        for option in options {
            let argument = option.argument ?? ""
            switch option.letter {
            case "4": parsed.configLines.append("AddressFamily inet")
            case "6": parsed.configLines.append("AddressFamily inet6")
            case "C": parsed.connectionSpec = argument
            case "c": parsed.configLines.append("HostCertificate \(quoted(argument))")
            case "D": break  // shhd always stays in the foreground; run it under a service manager.
            case "d": parsed.debug += 1
            case "E": parsed.logFile = argument
            case "e": parsed.logToStandardError = true
            case "f": parsed.configFile = argument
            case "g": parsed.configLines.append("LoginGraceTime \(quoted(argument))")
            case "h": parsed.configLines.append("HostKey \(quoted(argument))")
            case "o": parsed.configLines.append(argument)
            case "p":
                guard let port = Int(argument), (1...65535).contains(port) else {
                    throw CommandLineError.invalidValue("Bad port number \"\(argument)\"")
                }
                parsed.ports.append(port)
            case "q": parsed.quiet = true
            case "T": parsed.printConfiguration = true
            case "t": parsed.checkOnly = true
            case "V": parsed.printVersion = true
            default: throw CommandLineError.unknownOption(option.letter)
            }
        }
        return parsed
    }

    private static func quoted(_ value: String) -> String {
        "\"" + value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }
}
