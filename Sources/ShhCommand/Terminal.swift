// The local terminal an interactive session runs on: its size and modes as pty-req carries them (RFC 4254 §6.2,
// §8), raw mode while the session runs (restored on every way out: the session's end, an error, a terminating
// signal, ~^Z), and SIGWINCH turned into window-change (§6.7).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import OpenSSHConfig
import SSHProtocol
import SSHPOSIX
import Synchronization

enum LocalTerminal {
    /// The size of the terminal on `descriptor`, zeros when it is not one (ssh sends zeros too).
    static func size(of descriptor: Int32) -> SSHTerminalSize {
        var window = winsize()
        guard ioctl(descriptor, UInt(TIOCGWINSZ), &window) == 0 else { return SSHTerminalSize(columns: 0, rows: 0) }
        return SSHTerminalSize(columns: UInt32(window.ws_col), rows: UInt32(window.ws_row),
                               pixelWidth: UInt32(window.ws_xpixel), pixelHeight: UInt32(window.ws_ypixel))
    }

    /// The terminal's modes in pty-req's encoding; only the end marker when `descriptor` is not a terminal.
    static func modes(of descriptor: Int32) -> SSHTerminalModes {
        var settings = termios()
        guard tcgetattr(descriptor, &settings) == 0 else { return .none }
        return SSHTerminalModes(settings)
    }
}

/// Raw mode on standard input's terminal for the length of an interactive session. The saved settings are put
/// back exactly once, by whichever way out comes first; `restore` is safe to call from any thread.
final class RawTerminalMode: Sendable {
    private let saved = Mutex<termios?>(nil)
    private let descriptor: Int32

    init(descriptor: Int32 = STDIN_FILENO) { self.descriptor = descriptor }

    var isActive: Bool { saved.withLock { $0 != nil } }

    /// Enters raw mode as ssh does: no echo, no line editing, no signals from keys (^C travels to the remote
    /// side), no CR/NL translation or flow control on input, no output processing. False when not a terminal.
    @discardableResult
    func enter() -> Bool {
        var original = termios()
        guard tcgetattr(descriptor, &original) == 0 else { return false }
        var raw = original
        raw.c_iflag |= tcflag_t(IGNPAR)
        raw.c_iflag &= ~tcflag_t(ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXANY | IXOFF | IUCLC)
        raw.c_lflag &= ~tcflag_t(ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHONL | IEXTEN)
        raw.c_oflag &= ~tcflag_t(OPOST)
        withUnsafeMutableBytes(of: &raw.c_cc) { characters in
            characters[Int(VMIN)] = 1
            characters[Int(VTIME)] = 0
        }
        guard tcsetattr(descriptor, TCSADRAIN, &raw) == 0 else { return false }
        saved.withLock { $0 = original }
        return true
    }

    /// Puts the terminal back as it was; does nothing when raw mode is not on.
    func restore() {
        saved.withLock { original in
            guard var settings = original else { return }
            _ = tcsetattr(descriptor, TCSADRAIN, &settings)
            original = nil
        }
    }
}

/// Signals during a session, handled on a dispatch queue instead of in a signal handler: SIGHUP, SIGINT, SIGQUIT
/// and SIGTERM end shh as ssh ends (terminal restored, exit 255); SIGWINCH reports the new window size.
final class SessionSignals {
    private let sources: [any DispatchSourceSignal]

    init(terminal: RawTerminalMode, diagnostics: Diagnostics, windowChanged: (@Sendable () -> Void)?) {
        let queue = DispatchQueue(label: "shh.signals")
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGHUP, SIGINT, SIGQUIT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                terminal.restore()
                diagnostics.debug("Killed by signal \(number).", level: .verbose)
                exit(255)
            }
            source.resume()
            sources.append(source)
        }
        if let windowChanged {
            let source = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: queue)
            source.setEventHandler(handler: windowChanged)
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    /// Stops watching and gives the signals their default meaning back.
    func cancel() {
        for source in sources { source.cancel() }
        for number in [SIGHUP, SIGINT, SIGQUIT, SIGTERM] { signal(number, SIG_DFL) }
    }
}

/// The escape character at the start of a line (ssh's ~ sequences, RFC-less but universal): typed input in,
/// what to send and what to do out. `~.` disconnects, `~?` lists the escapes, `~~` sends one `~`, `~#` lists the
/// channels, `~B` sends a break, `~^Z` suspends; any other character after the escape is sent with it.
struct EscapeFilter {
    enum Action: Equatable {
        case send([UInt8])
        case disconnect
        case help
        case listConnections
        case sendBreak
        case suspend
        case rekey
        case changeVerbosity(louder: Bool)
        /// An escape shh knows but does not offer (~&, and ~C without EnableEscapeCommandline), named so the
        /// user is told.
        case notAvailable(String)
        /// ~C: the command line opens; what is typed up to the end of the line comes as `.commandLine`.
        case openCommandLine
        /// The line typed after ~C, without its end.
        case commandLine(String)
    }

    let escapeCharacter: UInt8
    /// EnableEscapeCommandline: whether ~C opens the command line.
    let commandLineEnabled: Bool
    private var lastWasNewline = true
    private var escapePending = false
    private var disconnected = false
    /// The command line being typed after ~C, until its end.
    private var commandLine: [UInt8]?

    init(escapeCharacter: UInt8, commandLine: Bool = false) {
        self.escapeCharacter = escapeCharacter
        self.commandLineEnabled = commandLine
    }

    /// Splits typed bytes into data to send and escape commands, in order. Nothing after `.disconnect` is returned,
    /// in this call or any later one.
    mutating func feed(_ bytes: some Sequence<UInt8>) -> [Action] {
        guard !disconnected else { return [] }
        var actions: [Action] = []
        var pending: [UInt8] = []
        func flush() {
            if !pending.isEmpty { actions.append(.send(pending)) }
            pending = []
        }
        for byte in bytes {
            if var line = commandLine {
                // The command line takes everything to its end (the terminal is cooked meanwhile, so editing is
                // the terminal's; what was typed ahead in raw mode is edited here).
                switch byte {
                case UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                    flush()
                    actions.append(.commandLine(String(decoding: line, as: UTF8.self)))
                    commandLine = nil
                    lastWasNewline = true
                case 0x7F, 0x08:
                    if !line.isEmpty { line.removeLast() }
                    commandLine = line
                default:
                    line.append(byte)
                    commandLine = line
                }
                continue
            }
            if escapePending {
                escapePending = false
                let command: Action? = switch byte {
                case UInt8(ascii: "."): .disconnect
                case UInt8(ascii: "?"): .help
                case UInt8(ascii: "#"): .listConnections
                case UInt8(ascii: "B"): .sendBreak
                case UInt8(ascii: "R"): .rekey
                case UInt8(ascii: "V"): .changeVerbosity(louder: false)
                case UInt8(ascii: "v"): .changeVerbosity(louder: true)
                case 0x1A: .suspend
                case UInt8(ascii: "C"): commandLineEnabled ? .openCommandLine : .notAvailable("C")
                case UInt8(ascii: "&"): .notAvailable("&")
                default: nil
                }
                if let command {
                    flush()
                    actions.append(command)
                    if command == .disconnect {
                        disconnected = true
                        return actions
                    }
                    if command == .openCommandLine { commandLine = [] }
                    continue
                }
                // `~~` sends one escape character; `~x` sends both.
                if byte != escapeCharacter { pending.append(escapeCharacter) }
            } else if lastWasNewline && byte == escapeCharacter {
                escapePending = true
                continue
            }
            lastWasNewline = byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
            pending.append(byte)
        }
        flush()
        return actions
    }

    /// `~?`'s text, with the escape character shh uses (~C only when the command line is enabled, as in ssh).
    static func help(escape e: String, commandLine: Bool = false) -> String {
        let commandLineLine = commandLine ? " \(e)C   - open a command line\r\n" : ""
        return """
            Supported escape sequences:\r
             \(e).   - terminate connection\r
             \(e)B   - send a BREAK to the remote system\r
            \(commandLineLine) \(e)R   - request rekey\r
             \(e)V/v - decrease/increase verbosity (LogLevel)\r
             \(e)^Z  - suspend shh\r
             \(e)#   - list forwarded connections\r
             \(e)?   - this message\r
             \(e)\(e)   - send the escape character by typing it twice\r
            (Note that escapes are only recognized immediately after newline.)\r

            """
    }
}

typealias EscapeCharacter = SSHClientOptions.EscapeCharacter
