// The escape character as ssh reads it: only right after a newline (or at the very start), one command per
// escape, everything else passed through byte for byte, whichever way the typing is split into reads.
@testable import ShhCommand
import Testing

@Suite(.timeLimit(.minutes(10))) struct EscapeFilterTests {
    let tilde = UInt8(ascii: "~")

    /// Feeds `typed` in pieces of `size` bytes and joins what is sent.
    func run(_ typed: String, pieces size: Int = .max) -> (sent: String, commands: [EscapeFilter.Action]) {
        var filter = EscapeFilter(escapeCharacter: tilde)
        var sent: [UInt8] = []
        var commands: [EscapeFilter.Action] = []
        let bytes = Array(typed.utf8)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + min(size, bytes.count))
            for action in filter.feed(bytes[start..<end]) {
                if case .send(let data) = action { sent += data } else { commands.append(action) }
            }
            start = end
        }
        return (String(decoding: sent, as: UTF8.self), commands)
    }

    @Test(arguments: [1, 2, 3, Int.max])
    func escapesOnlyAtTheStartOfALine(pieces: Int) {
        let result = run("~?ls ~.x\r~#\n~~home\ra~b\r~x", pieces: pieces)
        #expect(result.commands == [.help, .listConnections])
        #expect(result.sent == "ls ~.x\r\n~home\ra~b\r~x")
    }

    @Test(arguments: [1, Int.max])
    func tildeDotEndsAndDropsTheRest(pieces: Int) {
        let result = run("echo\r~.rm -rf /\r", pieces: pieces)
        #expect(result.commands == [.disconnect])
        #expect(result.sent == "echo\r")
    }

    @Test func theOtherCommands() {
        #expect(run("~B\r~R\r~v\r~V\r~\u{1A}\r~C\r~&").commands ==
                [.sendBreak, .rekey, .changeVerbosity(louder: true), .changeVerbosity(louder: false), .suspend,
                 .notAvailable("C"), .notAvailable("&")])
    }

    @Test func aCommandKeepsTheLineStartSoEscapesChain() {
        // ssh keeps "after a newline" through an escape command: ~?~. works without pressing Return between.
        #expect(run("~?~.").commands == [.help, .disconnect])
    }

    @Test func escapeCharacterSettings() {
        #expect(EscapeCharacter("none") == EscapeCharacter.none)
        #expect(EscapeCharacter("~") == .character(UInt8(ascii: "~")))
        #expect(EscapeCharacter("^]") == .character(0x1D))
        #expect(EscapeCharacter("ab") == nil)
        #expect(EscapeCharacter("") == nil)
    }
}
