// Text a peer chose (user names, banners, keyboard-interactive prompts, disconnect and debug messages, version
// lines), made safe to print: a terminal must not obey its escape sequences (a banner must not move the cursor or
// retitle the window) and a log must not gain a line it did not write (a newline in a user name must not forge a
// "Accepted publickey" line). Every control character becomes a visible escape, as OpenSSH's vis(3) does; so do
// the Unicode controls that reorder or break lines (bidi overrides, line and paragraph separators).

/// Text a peer chose, made safe to print on a terminal or in a log.
///
/// User names, banners, prompts, disconnect and debug messages all come from the other side. Every control
/// character, and every Unicode control that reorders or breaks lines, becomes a visible escape, as OpenSSH's vis(3) does:
///
/// ```swift
/// PeerText.forLogLine("alice\nAccepted publickey for root")  // "alice\\012Accepted publickey for root"
/// PeerText.forTerminal("Welcome\r\n\u{1B}]0;pwned\u{07}")       // "Welcome\n\\033]0;pwned\\007"
/// ```
public enum PeerText {
    /// For one log line: every control character escaped, newlines and tabs included.
    ///
    /// - Parameter text: Text the peer sent.
    /// - Returns: The text on one line, safe to log.
    public static func forLogLine(_ text: String) -> String {
        escape(text, keepingLineBreaks: false)
    }

    /// For a terminal: newlines and tabs kept (a banner has lines), every other control escaped; CR LF becomes LF
    /// and a lone CR (which would let text overwrite what came before) is escaped.
    ///
    /// - Parameter text: Text the peer sent.
    /// - Returns: The text, safe to write to a terminal.
    public static func forTerminal(_ text: String) -> String {
        escape(text, keepingLineBreaks: true)
    }

    /// Whether `text` needs no escaping for a log line.
    ///
    /// - Parameter text: Text the peer sent.
    /// - Returns: True when ``forLogLine(_:)`` would return it unchanged.
    public static func isPrintable(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { !needsEscape($0) }
    }

    /// Whether one character is escaped: C0 and C1 controls, DEL, line and paragraph separators, bidi controls and
    /// interlinear annotation controls.
    ///
    /// - Parameter scalar: The character.
    /// - Returns: True when it must not reach a terminal or log as it is.
    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true                      // C0, DEL, C1 (0x9B is a one-byte CSI)
        case 0x2028, 0x2029: true                                 // line and paragraph separators
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true  // bidi marks, embeddings, overrides, isolates
        case 0xFFF9...0xFFFB: true                                // interlinear annotation controls
        default: false
        }
    }

    private static func escape(_ text: String, keepingLineBreaks: Bool) -> String {
        guard !isPrintable(text) else { return text }
        var result = String.UnicodeScalarView()
        let scalars = Array(text.unicodeScalars)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            if keepingLineBreaks {
                if scalar == "\n" || scalar == "\t" { result.append(scalar); continue }
                if scalar == "\r", index < scalars.count, scalars[index] == "\n" { continue }
            }
            guard needsEscape(scalar) else { result.append(scalar); continue }
            let visible = scalar.value <= 0x7F ? "\\" + octal(scalar.value) : "\\u{" + String(scalar.value, radix: 16) + "}"
            result.append(contentsOf: visible.unicodeScalars)
        }
        return String(result)
    }

    private static func octal(_ value: UInt32) -> String {
        let digits = String(value, radix: 8)
        return String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }
}
