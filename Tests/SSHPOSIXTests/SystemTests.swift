// Accounts, this process's environment, and terminal modes: what shhd decides logins on (an account is exactly the
// name asked for) and what the remote terminal starts as (pty-req's modes carried into termios and back).
#if canImport(Glibc)
import Glibc
#endif
import CSSHPOSIX
import Foundation
import SSHPOSIX
import SSHProtocol
import Testing

@Suite struct SystemAccountTests {
    @Test func rootExists() throws {
        let root = try #require(SystemAccount(named: "root"))
        #expect(root.uid == 0 && root.name == "root")
        #expect(!root.home.isEmpty && !root.shell.isEmpty)
        #expect(SystemAccount(uid: 0) == root)
        #expect(root.groupIDs.first == root.gid)
        #expect(root.groupNames.contains("root"))
    }

    /// A name the database would read as another one is no account: a NUL cuts it in C, a loosely matching
    /// database may answer "ROOT" with root; empty and unknown names are none either.
    @Test(arguments: ["root\0", "ro\0ot", "\0root", "ROOT", "Root", "", "root ", "shh-no-such-user-\(UInt32.random(in: 0...UInt32.max))"])
    func noAccount(named name: String) {
        #expect(SystemAccount(named: name) == nil)
    }

    @Test func currentIsTheRunningUser() {
        let current = SystemAccount.current()
        #expect(current.uid == getuid())
        #expect(SystemAccount(uid: getuid()).map { $0 == current } ?? true)
    }
}

@Suite struct ProcessEnvironmentTests {
    /// What Foundation sees is what ProcessEnvironment sees, and a variable set after start (setenv) shows up,
    /// its value taken whole after the first "=".
    @Test func readsEnvironEachTime() {
        #expect(ProcessEnvironment.variables == ProcessInfo.processInfo.environment)
        let name = "SHH_TEST_VARIABLE_\(UInt32.random(in: 0...UInt32.max))"
        #expect(ProcessEnvironment.variables[name] == nil)
        #expect(setenv(name, "a=b c", 1) == 0)
        defer { unsetenv(name) }
        #expect(ProcessEnvironment.entries.contains("\(name)=a=b c"))
        #expect(ProcessEnvironment.variables[name] == "a=b c")
        #expect(setenv(name, "", 1) == 0)
        #expect(ProcessEnvironment.variables[name] == "")
        unsetenv(name)
        #expect(ProcessEnvironment.variables[name] == nil)
        #expect(!ProcessEnvironment.entries.contains { $0.hasPrefix(name + "=") })
    }
}

@Suite struct TerminalModesTests {
    /// A terminal as a user has it (canonical, echo, ^C, DEL to erase, UTF-8, 8 bits, 115200 baud): encoded and
    /// applied to a blank termios, every setting pty-req can carry comes back as it was.
    @Test func termiosRoundTrip() {
        var settings = termios()
        settings.c_iflag = tcflag_t(ICRNL | IXON | IUTF8 | IMAXBEL)
        settings.c_oflag = tcflag_t(OPOST | ONLCR)
        settings.c_lflag = tcflag_t(ISIG | ICANON | ECHO | ECHOE | ECHOK | IEXTEN | ECHOCTL | ECHOKE)
        settings.c_cflag = tcflag_t(CS8 | CREAD | PARENB)
        setCharacter(&settings, VINTR, 3)
        setCharacter(&settings, VERASE, 0x7F)
        setCharacter(&settings, VEOF, 4)
        setCharacter(&settings, VSUSP, 26)
        setCharacter(&settings, VEOL, 0)  // disabled: travels as 255
        setCharacter(&settings, VEOL2, 0)
        cfsetispeed(&settings, speed_t(B115200))
        cfsetospeed(&settings, speed_t(B115200))

        let modes = SSHTerminalModes(settings)
        let values = Dictionary(modes.modes.map { ($0.opcode, $0.value) }, uniquingKeysWith: { first, _ in first })
        #expect(values[SSHTerminalModes.VINTR] == 3)
        #expect(values[SSHTerminalModes.VERASE] == 0x7F)
        #expect(values[6] == 255, "a disabled VEOL travels as 255")
        #expect(values[SSHTerminalModes.ECHO] == 1 && values[SSHTerminalModes.ICANON] == 1 && values[42] == 1)
        #expect(values[SSHTerminalModes.inputSpeed] == 115_200 && values[SSHTerminalModes.outputSpeed] == 115_200)
        #expect(values[91] == 1 && values[90] == 0 && values[92] == 1 && values[93] == 0, "CS8, not CS7, PARENB, not PARODD")

        // Through the wire form, as the server receives it.
        var back = SSHTerminalModes(encoded: modes.encoded).applied(to: termios())
        #expect(back.c_iflag == settings.c_iflag)
        #expect(back.c_oflag == settings.c_oflag)
        #expect(back.c_lflag == settings.c_lflag)
        let carried = tcflag_t(CSIZE | PARENB | PARODD)
        #expect(back.c_cflag & carried == settings.c_cflag & carried)
        for index in [VINTR, VQUIT, VERASE, VKILL, VEOF, VEOL, VEOL2, VSTART, VSTOP, VSUSP, VREPRINT, VWERASE, VLNEXT, VDISCARD] {
            #expect(character(back, index) == character(settings, index), "c_cc[\(index)]")
        }
        #expect(cfgetispeed(&back) == speed_t(B115200) && cfgetospeed(&back) == speed_t(B115200))
        // And encoding what came back gives the same modes again.
        #expect(SSHTerminalModes(back) == modes)
    }

    /// What a client sends changes only what it names: "ECHO off" on a terminal with echo turns echo off and keeps
    /// the rest; an opcode Linux has no equivalent for, or a speed termios has no constant for, changes nothing.
    @Test func appliedChangesOnlyWhatItNames() {
        var settings = termios()
        settings.c_lflag = tcflag_t(ISIG | ICANON | ECHO)
        settings.c_iflag = tcflag_t(ICRNL)
        cfsetispeed(&settings, speed_t(B9600))
        let echoOff = SSHTerminalModes([SSHTerminalModes.Mode(opcode: SSHTerminalModes.ECHO, value: 0)]).applied(to: settings)
        #expect(echoOff.c_lflag == tcflag_t(ISIG | ICANON))
        #expect(echoOff.c_iflag == settings.c_iflag)
        var unknown = SSHTerminalModes([SSHTerminalModes.Mode(opcode: 11, value: 1), SSHTerminalModes.Mode(opcode: 159, value: 1),
                                        SSHTerminalModes.Mode(opcode: SSHTerminalModes.inputSpeed, value: 12345)]).applied(to: settings)
        #expect(unknown.c_lflag == settings.c_lflag && unknown.c_iflag == settings.c_iflag && unknown.c_oflag == settings.c_oflag)
        #expect(cfgetispeed(&unknown) == speed_t(B9600))
    }

    /// A real pseudo-terminal's settings (the kernel's defaults) survive encoding and applying, as a client's
    /// local terminal reaches the server's pty.
    @Test func aRealTerminal() throws {
        var controller: CInt = -1
        var name = [CChar](repeating: 0, count: 128)
        try #require(shh_open_pseudo_terminal(&controller, &name, name.count) == 0)
        defer { close(controller) }
        let terminal = open(String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), O_RDWR | O_NOCTTY | O_CLOEXEC)
        try #require(terminal >= 0)
        defer { close(terminal) }
        var settings = termios()
        try #require(tcgetattr(terminal, &settings) == 0)
        // Applied to the same terminal in raw mode (no echo, no line editing, no signals, no output processing),
        // the modes give back the terminal as it was.
        var raw = settings
        cfmakeraw(&raw)
        #expect(SSHTerminalModes(raw) != SSHTerminalModes(settings))
        var applied = SSHTerminalModes(settings).applied(to: raw)
        #expect(SSHTerminalModes(applied) == SSHTerminalModes(settings))
        #expect(tcsetattr(terminal, TCSANOW, &raw) == 0)
        #expect(tcsetattr(terminal, TCSANOW, &applied) == 0)
        var reread = termios()
        try #require(tcgetattr(terminal, &reread) == 0)
        #expect(SSHTerminalModes(reread) == SSHTerminalModes(settings))
    }
}

private func setCharacter(_ settings: inout termios, _ index: Int32, _ value: UInt8) {
    withUnsafeMutableBytes(of: &settings.c_cc) { $0[Int(index)] = value }
}

private func character(_ settings: termios, _ index: Int32) -> UInt8 {
    withUnsafeBytes(of: settings.c_cc) { $0[Int(index)] }
}
