// Channel requests (SSH_MSG_CHANNEL_REQUEST type-specific data): RFC 4254 §6.2 pty-req and §8 terminal modes,
// §6.3.1 x11-req, §6.4 env, §6.5 shell/exec/subsystem, §6.7 window-change, §6.8 xon-xoff, §6.9 signal,
// §6.10 exit-status and exit-signal; RFC 4335 break; OpenSSH PROTOCOL §2.1 eow@openssh.com, PROTOCOL.agent
// auth-agent-req@openssh.com, and keepalive@openssh.com (a request any reply answers).
import NIOCore
import SSHWire

/// Terminal size in characters and pixels (pty-req, window-change).
public struct SSHTerminalSize: Sendable, Hashable {
    /// Width in characters.
    public var columns: UInt32
    /// Height in lines.
    public var rows: UInt32
    /// Width in pixels; 0 when unknown.
    public var pixelWidth: UInt32
    /// Height in pixels; 0 when unknown.
    public var pixelHeight: UInt32

    /// Creates a size.
    ///
    /// - Parameters:
    ///   - columns: Width in characters.
    ///   - rows: Height in lines.
    ///   - pixelWidth: Width in pixels, 0 when unknown.
    ///   - pixelHeight: Height in pixels, 0 when unknown.
    public init(columns: UInt32, rows: UInt32, pixelWidth: UInt32 = 0, pixelHeight: UInt32 = 0) {
        self.columns = columns
        self.rows = rows
        self.pixelWidth = pixelWidth
        self.pixelHeight = pixelHeight
    }
}

/// The "encoded terminal modes" string of pty-req (RFC 4254 §8), kept exactly as sent so it round-trips;
/// `modes` parses it.
public struct SSHTerminalModes: Sendable, Hashable {
    /// One opcode and its argument.
    public struct Mode: Sendable, Hashable {
        /// The opcode (RFC 4254 §8), e.g. ``SSHTerminalModes/ECHO``.
        public var opcode: UInt8
        /// The argument: 0 or 1 for flags, a character code or a speed otherwise.
        public var value: UInt32
        /// Creates a mode.
        ///
        /// - Parameters:
        ///   - opcode: The opcode.
        ///   - value: Its argument.
        public init(opcode: UInt8, value: UInt32) {
            self.opcode = opcode
            self.value = value
        }
    }

    // A few opcodes by name (RFC 4254 §8); the rest are numbers 1–159.
    /// The interrupt character (opcode 1).
    public static let VINTR: UInt8 = 1
    /// The erase character (opcode 3).
    public static let VERASE: UInt8 = 3
    /// The end-of-file character (opcode 5).
    public static let VEOF: UInt8 = 5
    /// Map CR to NL on input (opcode 36).
    public static let ICRNL: UInt8 = 36
    /// Generate signals from INTR, QUIT and SUSP (opcode 50).
    public static let ISIG: UInt8 = 50
    /// Canonical (line-by-line) input (opcode 51).
    public static let ICANON: UInt8 = 51
    /// Echo input (opcode 53).
    public static let ECHO: UInt8 = 53
    /// Post-process output (opcode 70).
    public static let OPOST: UInt8 = 70
    /// Map NL to CR NL on output (opcode 72).
    public static let ONLCR: UInt8 = 72
    /// Input speed in bits per second (TTY_OP_ISPEED).
    public static let inputSpeed: UInt8 = 128   // TTY_OP_ISPEED
    /// Output speed in bits per second (TTY_OP_OSPEED).
    public static let outputSpeed: UInt8 = 129  // TTY_OP_OSPEED

    /// The blob as it travels.
    public var encoded: [UInt8]

    /// Wraps a blob as received; it is not checked, and ``modes`` reads what it can.
    ///
    /// - Parameter encoded: The encoded modes.
    public init(encoded: [UInt8]) { self.encoded = encoded }

    /// Encodes modes, each opcode 1–159 followed by its uint32, then TTY_OP_END.
    ///
    /// - Parameter modes: The modes, in order.
    public init(_ modes: [Mode]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(modes.count * 5 + 1)
        for mode in modes where (1...159).contains(mode.opcode) {
            bytes.append(mode.opcode)
            withUnsafeBytes(of: mode.value.bigEndian) { bytes.append(contentsOf: $0) }
        }
        bytes.append(0)
        encoded = bytes
    }

    /// No modes at all (just TTY_OP_END).
    public static let none = SSHTerminalModes(encoded: [0])

    /// The modes in the blob, in order. Parsing stops at TTY_OP_END (0), at an opcode of 160 or more
    /// ("not yet defined, and cause parsing to stop", RFC 4254 §8), or where the blob is cut short.
    public var modes: [Mode] {
        var result: [Mode] = []
        var index = 0
        while index < encoded.count {
            let opcode = encoded[index]
            guard opcode != 0, opcode < 160, index + 5 <= encoded.count else { break }
            let value = encoded[(index + 1)..<(index + 5)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            result.append(Mode(opcode: opcode, value: value))
            index += 5
        }
        return result
    }
}

/// "pty-req" (RFC 4254 §6.2).
public struct SSHPseudoTerminalRequest: Sendable, Hashable {
    /// TERM, e.g. "xterm-256color".
    public var terminalType: String
    /// The terminal's size.
    public var size: SSHTerminalSize
    /// The client terminal's modes, for the server's pseudo-terminal.
    public var modes: SSHTerminalModes

    /// Creates a request.
    ///
    /// - Parameters:
    ///   - terminalType: TERM.
    ///   - size: The terminal's size.
    ///   - modes: The client terminal's modes.
    public init(terminalType: String, size: SSHTerminalSize, modes: SSHTerminalModes = .none) {
        self.terminalType = terminalType
        self.size = size
        self.modes = modes
    }
}

/// "x11-req" (RFC 4254 §6.3.1).
public struct SSHX11ForwardingRequest: Sendable, Hashable {
    /// Forward only one X11 connection.
    public var singleConnection: Bool
    /// The X11 authentication protocol, e.g. "MIT-MAGIC-COOKIE-1".
    public var authenticationProtocol: String
    /// The authentication cookie, as hex text.
    public var authenticationCookie: String
    /// The X11 screen number.
    public var screenNumber: UInt32

    /// Creates a request.
    ///
    /// - Parameters:
    ///   - singleConnection: Forward only one connection.
    ///   - authenticationProtocol: The X11 authentication protocol.
    ///   - authenticationCookie: The cookie, in hex.
    ///   - screenNumber: The X11 screen number.
    public init(singleConnection: Bool, authenticationProtocol: String, authenticationCookie: String, screenNumber: UInt32) {
        self.singleConnection = singleConnection
        self.authenticationProtocol = authenticationProtocol
        self.authenticationCookie = authenticationCookie
        self.screenNumber = screenNumber
    }
}

/// "exit-signal" (RFC 4254 §6.10).
public struct SSHExitSignal: Sendable, Hashable {
    /// The signal name without "SIG", e.g. "TERM".
    public var signalName: String
    /// Whether the process dumped core.
    public var coreDumped: Bool
    /// Text for a person; may be empty.
    public var errorMessage: String
    /// The language of ``errorMessage`` (RFC 3066); usually empty.
    public var languageTag: String

    /// Creates the request's data.
    ///
    /// - Parameters:
    ///   - signalName: The signal name without "SIG".
    ///   - coreDumped: Whether the process dumped core.
    ///   - errorMessage: Text for a person.
    ///   - languageTag: The language of `errorMessage`.
    public init(signalName: String, coreDumped: Bool = false, errorMessage: String = "", languageTag: String = "") {
        self.signalName = signalName
        self.coreDumped = coreDumped
        self.errorMessage = errorMessage
        self.languageTag = languageTag
    }
}

/// A channel request with its type-specific data. Whether a reply is wanted travels beside it
/// (`SSHChannelRequestMessage.wantReply`, `SSHConnectionEvent.channelRequest`).
public enum SSHChannelRequest: Sendable, Equatable {
    /// "pty-req".
    case pseudoTerminal(SSHPseudoTerminalRequest)
    /// "x11-req".
    case x11Forwarding(SSHX11ForwardingRequest)
    /// "env": the value is bytes, as an environment is (a client's locale need not be UTF-8).
    case environment(name: String, value: [UInt8])
    /// "shell".
    case shell
    /// "exec": the command is bytes, passed to the user's shell as they are.
    case exec(command: [UInt8])
    /// "subsystem", e.g. "sftp".
    case subsystem(name: String)
    /// "window-change".
    case windowChange(SSHTerminalSize)
    /// "xon-xoff".
    case xonXoff(clientCanDo: Bool)
    /// "signal": the name without "SIG", e.g. "INT".
    case signal(name: String)
    /// "exit-status".
    case exitStatus(UInt32)
    /// "exit-signal".
    case exitSignal(SSHExitSignal)
    /// "break" (RFC 4335), length in milliseconds.
    case `break`(milliseconds: UInt32)
    /// "eow@openssh.com": no more data will be written to the channel (the peer may still send).
    case endOfWrite
    /// "auth-agent-req@openssh.com": forward the client's agent.
    case authAgent
    /// "keepalive@openssh.com": OpenSSH sends it with want-reply to see the peer is alive; any reply will do.
    case keepalive
    /// Any other request, with its raw type-specific data.
    case unknown(name: String, data: ByteBuffer)

    /// "exec" with a command given as text.
    ///
    /// - Parameter command: The command line, sent as UTF-8.
    /// - Returns: The request.
    public static func exec(_ command: String) -> Self { .exec(command: Array(command.utf8)) }

    /// "env" with a value given as text.
    ///
    /// - Parameters:
    ///   - name: The variable's name.
    ///   - value: The value, sent as UTF-8.
    /// - Returns: The request.
    public static func environment(_ name: String, _ value: String) -> Self {
        .environment(name: name, value: Array(value.utf8))
    }

    /// The request's name on the wire, e.g. "pty-req".
    public var name: String {
        switch self {
        case .pseudoTerminal: "pty-req"
        case .x11Forwarding: "x11-req"
        case .environment: "env"
        case .shell: "shell"
        case .exec: "exec"
        case .subsystem: "subsystem"
        case .windowChange: "window-change"
        case .xonXoff: "xon-xoff"
        case .signal: "signal"
        case .exitStatus: "exit-status"
        case .exitSignal: "exit-signal"
        case .break: "break"
        case .endOfWrite: "eow@openssh.com"
        case .authAgent: "auth-agent-req@openssh.com"
        case .keepalive: "keepalive@openssh.com"
        case .unknown(let name, _): name
        }
    }

    /// Whether this is a request we do not know; the connection answers those itself (FAILURE).
    public var isUnknown: Bool {
        if case .unknown = self { return true }
        return false
    }

    /// Decodes the type-specific data after "want reply"; it must fill the rest of `data`.
    init(name: String, data: inout ByteBuffer) throws {
        switch name {
        case "pty-req":
            let term = try data.readSSHUTF8String(field: "TERM")
            let size = try Self.readSize(&data)
            let modes = try data.readSSHStringBytes(field: "encoded terminal modes")
            self = .pseudoTerminal(SSHPseudoTerminalRequest(terminalType: term, size: size, modes: SSHTerminalModes(encoded: modes)))
        case "x11-req":
            let single = try data.readSSHBoolean(field: "single connection")
            let proto = try data.readSSHUTF8String(field: "x11 authentication protocol")
            let cookie = try data.readSSHUTF8String(field: "x11 authentication cookie")
            let screen = try data.readSSHUInt32(field: "x11 screen number")
            self = .x11Forwarding(SSHX11ForwardingRequest(singleConnection: single, authenticationProtocol: proto,
                                                         authenticationCookie: cookie, screenNumber: screen))
        case "env":
            let variable = try data.readSSHUTF8String(field: "variable name")
            self = .environment(name: variable, value: try data.readSSHStringBytes(field: "variable value"))
        case "shell":
            self = .shell
        case "exec":
            self = .exec(command: try data.readSSHStringBytes(field: "command"))
        case "subsystem":
            self = .subsystem(name: try data.readSSHUTF8String(field: "subsystem name"))
        case "window-change":
            self = .windowChange(try Self.readSize(&data))
        case "xon-xoff":
            self = .xonXoff(clientCanDo: try data.readSSHBoolean(field: "client can do"))
        case "signal":
            self = .signal(name: try data.readSSHUTF8String(field: "signal name"))
        case "exit-status":
            self = .exitStatus(try data.readSSHUInt32(field: "exit status"))
        case "exit-signal":
            let signal = try data.readSSHUTF8String(field: "signal name")
            let core = try data.readSSHBoolean(field: "core dumped")
            // Shown to a user only: not worth a disconnect when it is not UTF-8.
            let message = String(decoding: try data.readSSHStringBytes(field: "error message"), as: UTF8.self)
            let language = String(decoding: try data.readSSHStringBytes(field: "language tag"), as: UTF8.self)
            self = .exitSignal(SSHExitSignal(signalName: signal, coreDumped: core, errorMessage: message, languageTag: language))
        case "break":
            self = .break(milliseconds: try data.readSSHUInt32(field: "break length"))
        case "eow@openssh.com":
            self = .endOfWrite
        case "auth-agent-req@openssh.com":
            self = .authAgent
        case "keepalive@openssh.com":
            self = .keepalive
        default:
            self = .unknown(name: name, data: data.readSlice(length: data.readableBytes) ?? ByteBuffer())
        }
    }

    private static func readSize(_ data: inout ByteBuffer) throws -> SSHTerminalSize {
        SSHTerminalSize(
            columns: try data.readSSHUInt32(field: "terminal width, columns"),
            rows: try data.readSSHUInt32(field: "terminal height, rows"),
            pixelWidth: try data.readSSHUInt32(field: "terminal width, pixels"),
            pixelHeight: try data.readSSHUInt32(field: "terminal height, pixels"))
    }

    private static func writeSize(_ size: SSHTerminalSize, into buffer: inout ByteBuffer) {
        buffer.writeSSHUInt32(size.columns)
        buffer.writeSSHUInt32(size.rows)
        buffer.writeSSHUInt32(size.pixelWidth)
        buffer.writeSSHUInt32(size.pixelHeight)
    }

    /// Appends the type-specific data (the name and want-reply are written by the message).
    func encodeData(into buffer: inout ByteBuffer) {
        switch self {
        case .pseudoTerminal(let pty):
            buffer.writeSSHString(pty.terminalType)
            Self.writeSize(pty.size, into: &buffer)
            buffer.writeSSHString(pty.modes.encoded)
        case .x11Forwarding(let x11):
            buffer.writeSSHBoolean(x11.singleConnection)
            buffer.writeSSHString(x11.authenticationProtocol)
            buffer.writeSSHString(x11.authenticationCookie)
            buffer.writeSSHUInt32(x11.screenNumber)
        case .environment(let variable, let value):
            buffer.writeSSHString(variable)
            buffer.writeSSHString(value)
        case .shell, .endOfWrite, .authAgent, .keepalive:
            break
        case .exec(let command):
            buffer.writeSSHString(command)
        case .subsystem(let subsystem):
            buffer.writeSSHString(subsystem)
        case .windowChange(let size):
            Self.writeSize(size, into: &buffer)
        case .xonXoff(let canDo):
            buffer.writeSSHBoolean(canDo)
        case .signal(let signal):
            buffer.writeSSHString(signal)
        case .exitStatus(let status):
            buffer.writeSSHUInt32(status)
        case .exitSignal(let exit):
            buffer.writeSSHString(exit.signalName)
            buffer.writeSSHBoolean(exit.coreDumped)
            buffer.writeSSHString(exit.errorMessage)
            buffer.writeSSHString(exit.languageTag)
        case .break(let milliseconds):
            buffer.writeSSHUInt32(milliseconds)
        case .unknown(_, let data):
            buffer.writeImmutableBuffer(data)
        }
    }
}
