// Small text helpers, so SSHKeys needs only FoundationEssentials (no ICU at start-up).

extension StringProtocol {
    /// Without leading and trailing spaces, tabs, carriage returns and newlines (what key file lines may carry).
    var trimmingSSHWhitespace: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}

/// Lower-case hex, optionally with a separator between bytes ("a1:b2").
func hexString<Bytes: Sequence>(_ bytes: Bytes, separator: String = "") -> String where Bytes.Element == UInt8 {
    let digits = Array("0123456789abcdef")
    return bytes.map { String([digits[Int($0 >> 4)], digits[Int($0 & 0x0F)]]) }.joined(separator: separator)
}
