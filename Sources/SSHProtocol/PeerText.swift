// Text a peer chose (user names, banners, keyboard-interactive prompts, disconnect and debug messages, version
// lines), made safe to print: a terminal must not obey its escape sequences (a banner must not move the cursor or
// retitle the window) and a log must not gain a line it did not write (a newline in a user name must not forge a
// "Accepted publickey" line). Every control character becomes a visible escape, as OpenSSH's vis(3) does; so do
// the Unicode controls that reorder or break lines (bidi overrides, line and paragraph separators).

public enum PeerText {
    /// For one log line: every control character escaped, newlines and tabs included.
    public static func forLogLine(_ text: String) -> String {
        escape(text, keepingLineBreaks: false)
    }

    /// For a terminal: newlines and tabs kept (a banner has lines), every other control escaped; CR LF becomes LF
    /// and a lone CR (which would let text overwrite what came before) is escaped.
    public static func forTerminal(_ text: String) -> String {
        escape(text, keepingLineBreaks: true)
    }

    /// Whether `text` needs no escaping for a log line.
    public static func isPrintable(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { !needsEscape($0) }
    }

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
