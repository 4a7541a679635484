// getopt semantics shared by all our commands: what ssh-keygen and ssh users type must parse the same way.

import SSHCommandLine
import Testing

@Suite("Getopt", .timeLimit(.minutes(10)))
struct GetoptTests {
    let keygen = Getopt("lvyqf:N:b:t:")

    @Test("attached, separate and empty arguments")
    func arguments() throws {
        let (options, next) = try keygen.parse(["-b4096", "-t", "rsa", "-N", "", "-f", "key"])
        #expect(options == [.init("b", "4096"), .init("t", "rsa"), .init("N", ""), .init("f", "key")])
        #expect(next == 7)
    }

    @Test("clustered flags, with an argument-taking option last in the cluster")
    func clusters() throws {
        let (options, _) = try keygen.parse(["-lvf", "key.pub", "-qy"])
        #expect(options == [.init("l"), .init("v"), .init("f", "key.pub"), .init("q"), .init("y")])
    }

    @Test("parsing stops at the first operand and after --; '-' alone is an operand")
    func operands() throws {
        var (options, next) = try keygen.parse(["-q", "host", "-l"])
        #expect(options == [.init("q")])
        #expect(next == 1)
        (options, next) = try keygen.parse(["-q", "--", "-l"])
        #expect(next == 2)
        (options, next) = try keygen.parse(["-", "-l"])
        #expect(options.isEmpty)
        #expect(next == 0)
        // Resuming after an operand, as ssh does for options after the host name.
        (options, next) = try keygen.parse(["host", "-l", "cmd"], from: 1)
        #expect(options == [.init("l")])
        #expect(next == 2)
    }

    @Test("unknown options and missing arguments use BSD getopt's words")
    func errors() {
        #expect(throws: CommandLineError.unknownOption("x")) { try keygen.parse(["-x"]) }
        #expect(throws: CommandLineError.missingArgument("f")) { try keygen.parse(["-l", "-f"]) }
        #expect(CommandLineError.unknownOption("x").description == "unknown option -- x")
        #expect(CommandLineError.missingArgument("f").description == "option requires an argument -- f")
    }
}
