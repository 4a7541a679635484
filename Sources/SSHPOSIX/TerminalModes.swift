// termios and pty-req's terminal modes (RFC 4254 §8), both ways: the client encodes its local terminal, the server
// applies what arrives to the session's pseudo-terminal, so the remote terminal starts as the local one is (its
// erase and interrupt characters, echo, UTF-8 input).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SSHProtocol

extension SSHTerminalModes {
    /// The modes of `settings`, every opcode Linux has a flag or character for: what a client sends in pty-req.
    ///
    /// ```swift
    /// var settings = termios()
    /// if tcgetattr(STDIN_FILENO, &settings) == 0 {
    ///     let modes = SSHTerminalModes(settings)
    ///     let request = SSHPseudoTerminalRequest(terminalType: "xterm-256color",
    ///                                            size: SSHTerminalSize(columns: 80, rows: 24), modes: modes)
    /// }
    /// ```
    ///
    /// - Parameter settings: A terminal's attributes, from tcgetattr.
    public init(_ settings: termios) {
        var settings = settings
        var modes: [Mode] = [
            Mode(opcode: Self.inputSpeed, value: Self.bitsPerSecond(cfgetispeed(&settings))),
            Mode(opcode: Self.outputSpeed, value: Self.bitsPerSecond(cfgetospeed(&settings))),
        ]
        withUnsafeBytes(of: settings.c_cc) { characters in
            for (opcode, index) in Termios.specialCharacters where Int(index) < characters.count {
                let character = characters[Int(index)]
                // _POSIX_VDISABLE (0 on Linux) travels as 255, as OpenSSH sends it.
                modes.append(Mode(opcode: opcode, value: character == 0 ? 255 : UInt32(character)))
            }
        }
        for (opcode, flag) in Termios.inputFlags { modes.append(Mode(opcode: opcode, value: settings.c_iflag & flag != 0 ? 1 : 0)) }
        for (opcode, flag) in Termios.localFlags { modes.append(Mode(opcode: opcode, value: settings.c_lflag & flag != 0 ? 1 : 0)) }
        for (opcode, flag) in Termios.outputFlags { modes.append(Mode(opcode: opcode, value: settings.c_oflag & flag != 0 ? 1 : 0)) }
        let characterSize = settings.c_cflag & tcflag_t(CSIZE)
        modes.append(Mode(opcode: Self.opcodeCS7, value: characterSize == tcflag_t(CS7) ? 1 : 0))
        modes.append(Mode(opcode: Self.opcodeCS8, value: characterSize == tcflag_t(CS8) ? 1 : 0))
        modes.append(Mode(opcode: Self.opcodePARENB, value: settings.c_cflag & tcflag_t(PARENB) != 0 ? 1 : 0))
        modes.append(Mode(opcode: Self.opcodePARODD, value: settings.c_cflag & tcflag_t(PARODD) != 0 ? 1 : 0))
        self.init(modes)
    }

    /// `settings` changed by these modes; opcodes this system has no equivalent for are skipped, as sshd does.
    ///
    /// - Parameter settings: The terminal's attributes before (from tcgetattr).
    /// - Returns: The attributes to set with tcsetattr.
    public func applied(to settings: termios) -> termios {
        var settings = settings
        func set(_ flags: inout tcflag_t, _ flag: tcflag_t, _ on: Bool) { if on { flags |= flag } else { flags &= ~flag } }
        for mode in modes {
            let on = mode.value != 0
            if let index = Termios.specialCharacters.first(where: { $0.0 == mode.opcode })?.1 {
                withUnsafeMutableBytes(of: &settings.c_cc) { characters in
                    guard Int(index) < characters.count else { return }
                    characters[Int(index)] = mode.value == 255 ? 0 : UInt8(truncatingIfNeeded: mode.value)
                }
            } else if let flag = Termios.inputFlags.first(where: { $0.0 == mode.opcode })?.1 {
                set(&settings.c_iflag, flag, on)
            } else if let flag = Termios.localFlags.first(where: { $0.0 == mode.opcode })?.1 {
                set(&settings.c_lflag, flag, on)
            } else if let flag = Termios.outputFlags.first(where: { $0.0 == mode.opcode })?.1 {
                set(&settings.c_oflag, flag, on)
            } else {
                switch mode.opcode {
                case Self.opcodeCS7 where on: settings.c_cflag = (settings.c_cflag & ~tcflag_t(CSIZE)) | tcflag_t(CS7)
                case Self.opcodeCS8 where on: settings.c_cflag = (settings.c_cflag & ~tcflag_t(CSIZE)) | tcflag_t(CS8)
                case Self.opcodePARENB: set(&settings.c_cflag, tcflag_t(PARENB), on)
                case Self.opcodePARODD: set(&settings.c_cflag, tcflag_t(PARODD), on)
                case Self.inputSpeed: if let speed = Self.speed(mode.value) { cfsetispeed(&settings, speed) }
                case Self.outputSpeed: if let speed = Self.speed(mode.value) { cfsetospeed(&settings, speed) }
                default: break
                }
            }
        }
        return settings
    }

    static let opcodeCS7: UInt8 = 90
    static let opcodeCS8: UInt8 = 91
    static let opcodePARENB: UInt8 = 92
    static let opcodePARODD: UInt8 = 93

    /// A termios speed constant as bits per second (what pty-req carries).
    private static func bitsPerSecond(_ speed: speed_t) -> UInt32 { Termios.speeds.first { $0.0 == speed }?.1 ?? 38400 }

    /// Bits per second as a termios speed constant, nil for a rate termios has no constant for.
    private static func speed(_ bitsPerSecond: UInt32) -> speed_t? { Termios.speeds.first { $0.1 == bitsPerSecond }?.0 }
}

/// Outside the extension: SSHTerminalModes has static opcodes named like the termios constants (VINTR, ECHO...).
private enum Termios {
    // RFC 4254 §8 opcodes and the termios names they stand for (those Linux has).
    static let specialCharacters: [(UInt8, Int32)] = [
        (1, VINTR), (2, VQUIT), (3, VERASE), (4, VKILL), (5, VEOF), (6, VEOL), (7, VEOL2), (8, VSTART), (9, VSTOP),
        (10, VSUSP), (12, VREPRINT), (13, VWERASE), (14, VLNEXT), (18, VDISCARD),
    ]
    static let inputFlags: [(UInt8, tcflag_t)] = [
        (30, tcflag_t(IGNPAR)), (31, tcflag_t(PARMRK)), (32, tcflag_t(INPCK)), (33, tcflag_t(ISTRIP)),
        (34, tcflag_t(INLCR)), (35, tcflag_t(IGNCR)), (36, tcflag_t(ICRNL)), (37, tcflag_t(IUCLC)),
        (38, tcflag_t(IXON)), (39, tcflag_t(IXANY)), (40, tcflag_t(IXOFF)), (41, tcflag_t(IMAXBEL)),
        (42, tcflag_t(IUTF8)),
    ]
    static let localFlags: [(UInt8, tcflag_t)] = [
        (50, tcflag_t(ISIG)), (51, tcflag_t(ICANON)), (52, tcflag_t(XCASE)), (53, tcflag_t(ECHO)),
        (54, tcflag_t(ECHOE)), (55, tcflag_t(ECHOK)), (56, tcflag_t(ECHONL)), (57, tcflag_t(NOFLSH)),
        (58, tcflag_t(TOSTOP)), (59, tcflag_t(IEXTEN)), (60, tcflag_t(ECHOCTL)), (61, tcflag_t(ECHOKE)),
        (62, tcflag_t(PENDIN)),
    ]
    static let outputFlags: [(UInt8, tcflag_t)] = [
        (70, tcflag_t(OPOST)), (71, tcflag_t(OLCUC)), (72, tcflag_t(ONLCR)), (73, tcflag_t(OCRNL)),
        (74, tcflag_t(ONOCR)), (75, tcflag_t(ONLRET)),
    ]

    static let speeds: [(speed_t, UInt32)] = [
        (speed_t(B0), 0), (speed_t(B50), 50), (speed_t(B75), 75), (speed_t(B110), 110), (speed_t(B134), 134),
        (speed_t(B150), 150), (speed_t(B200), 200), (speed_t(B300), 300), (speed_t(B600), 600),
        (speed_t(B1200), 1200), (speed_t(B1800), 1800), (speed_t(B2400), 2400), (speed_t(B4800), 4800),
        (speed_t(B9600), 9600), (speed_t(B19200), 19200), (speed_t(B38400), 38400), (speed_t(B57600), 57600),
        (speed_t(B115200), 115200), (speed_t(B230400), 230400),
    ]
}
