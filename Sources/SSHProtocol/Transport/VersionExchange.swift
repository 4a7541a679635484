// Protocol version exchange, RFC 4253 §4.2: "SSH-protoversion-softwareversion SP comments CR LF", at most 255
// characters with CR LF. A server may send other lines first (we allow a bounded number, as OpenSSH does); a
// client may not. "SSH-1.99" means a server that also speaks 2.0 (§5.1).
import NIOCore

/// shh's version, in one place: it appears in the identification string and in `-V` outputs.
public enum ShhVersion {
    /// The version number, e.g. "0.1.0".
    public static let number = "0.1.0"
    /// Our identification string, without CR LF.
    public static let identification = "SSH-2.0-shh_\(number)"
}

struct VersionExchange {
    static let maximumLineLength = 255
    /// OpenSSH's client accepts up to 1024 lines before the server's identification; so do we.
    static let maximumPreambleLines = 1024

    let acceptsPreamble: Bool
    private var preambleLines = 0

    init(acceptsPreamble: Bool) { self.acceptsPreamble = acceptsPreamble }

    /// Consumes lines from `input` until the peer's identification string, which it returns without CR LF;
    /// nil if more bytes are needed.
    mutating func readIdentification(from input: inout ByteBuffer) throws -> String? {
        while true {
            let view = input.readableBytesView
            guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
                if view.count >= Self.maximumLineLength {
                    throw SSHProtocolError(.badIdentification("no identification line within \(Self.maximumLineLength) bytes"))
                }
                return nil
            }
            let lineLength = newline - view.startIndex + 1
            guard lineLength <= Self.maximumLineLength else {
                throw SSHProtocolError(.badIdentification("a line longer than \(Self.maximumLineLength) bytes"))
            }
            guard var line = input.readBytes(length: lineLength) else { return nil }
            line.removeLast()  // LF
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.starts(with: Array("SSH-".utf8)) {
                return try Self.validate(line)
            }
            guard acceptsPreamble else {
                throw SSHProtocolError(.badIdentification("expected \"SSH-2.0-...\", got \(Self.printable(line))"))
            }
            preambleLines += 1
            guard !line.contains(0) else {
                throw SSHProtocolError(.badIdentification("line \(preambleLines) before the identification string contains a NUL byte"))
            }
            guard preambleLines <= Self.maximumPreambleLines else {
                throw SSHProtocolError(.badIdentification("no identification string after \(preambleLines) lines"))
            }
        }
    }

    private static func validate(_ line: [UInt8]) throws -> String {
        // Printable US-ASCII only (§4.2), which also rules out NUL.
        guard line.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw SSHProtocolError(.badIdentification("the identification string has non-printable bytes"))
        }
        let text = String(decoding: line, as: UTF8.self)
        let fields = text.split(separator: "-", maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3, !fields[2].isEmpty else {
            throw SSHProtocolError(.badIdentification("malformed identification \(printable(line))"))
        }
        guard fields[1] == "2.0" || fields[1] == "1.99" else {
            throw SSHProtocolError(.badIdentification("protocol version \(fields[1]) is not supported (only 2.0): \(printable(line))"))
        }
        return text
    }

    static func printable(_ bytes: [UInt8]) -> String {
        let shown = bytes.prefix(80).map { $0 >= 0x20 && $0 < 0x7F ? String(UnicodeScalar($0)) : "\\x" + String($0 >> 4, radix: 16) + String($0 & 0xF, radix: 16) }
        return "\"" + shown.joined() + (bytes.count > 80 ? "..." : "") + "\""
    }
}
