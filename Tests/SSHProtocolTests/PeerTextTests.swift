// Peer text made safe to print: what a hostile banner, user name or prompt would do to a terminal or a log.
import SSHProtocol
import Testing

@Suite(.timeLimit(.minutes(10))) struct PeerTextTests {
    @Test func aLogLineStaysOneLine() {
        let forged = "bob\nAccepted publickey for root from 10.0.0.1"
        #expect(PeerText.forLogLine(forged) == "bob\\012Accepted publickey for root from 10.0.0.1")
        #expect(PeerText.forLogLine("tab\there\r") == "tab\\011here\\015")
        #expect(PeerText.forLogLine("plain ascii and ünïcödé") == "plain ascii and ünïcödé")
    }

    @Test func terminalEscapesAreShownNotObeyed() {
        let banner = "\u{1B}]0;pwned\u{07}\u{1B}[2JWelcome\r\nline two\n\u{9B}31m"
        let shown = PeerText.forTerminal(banner)
        #expect(shown == "\\033]0;pwned\\007\\033[2JWelcome\nline two\n\\u{9b}31m")
        #expect(!shown.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x9B })
    }

    @Test func aLoneCarriageReturnCannotOverwriteALine() {
        #expect(PeerText.forTerminal("Password for alice\rPassword for root") == "Password for alice\\015Password for root")
    }

    @Test func reorderingAndLineBreakingUnicodeIsEscaped() {
        #expect(PeerText.forLogLine("user\u{202E}gnp.exe") == "user\\u{202e}gnp.exe")
        #expect(PeerText.forTerminal("a\u{2028}b") == "a\\u{2028}b")
        #expect(!PeerText.isPrintable("\u{2066}x") && PeerText.isPrintable("x"))
    }
}
