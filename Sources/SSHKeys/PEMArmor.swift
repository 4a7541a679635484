// Text armour around key material: "-----BEGIN <label>-----" / base64 / "-----END <label>-----" (RFC 7468 style).

#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: it would load ICU, ~3 ms at every start of a command
#else
import Foundation
#endif

enum PEMArmor {
    struct Block {
        var label: String
        var body: [UInt8]
        /// RFC 1421 headers such as "Proc-Type: 4,ENCRYPTED" (legacy encrypted PEM).
        var hasHeaders: Bool
    }

    /// Finds the first armoured block in `text`.
    static func parse(_ text: String) throws -> Block {
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { $0.trimmingSSHWhitespace }
        guard let beginIndex = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN ") && $0.hasSuffix("-----") }) else {
            throw SSHKeyError(.invalidFormat(""))
        }
        let label = String(lines[beginIndex].dropFirst("-----BEGIN ".count).dropLast(5))
        let endLine = "-----END \(label)-----"
        guard let endIndex = lines[(beginIndex + 1)...].firstIndex(of: endLine) else {
            throw SSHKeyError(.invalidFormat("missing \"\(endLine)\" line"))
        }
        var base64 = ""
        var hasHeaders = false
        for line in lines[(beginIndex + 1)..<endIndex] {
            if line.contains(":") {
                hasHeaders = true
                continue
            }
            base64 += line
        }
        guard let data = Data(base64Encoded: base64) else {
            throw SSHKeyError(.invalidFormat("bad base64 between the \(label) lines"))
        }
        return Block(label: label, body: Array(data), hasHeaders: hasHeaders)
    }

    static func armor(label: String, body: [UInt8], lineWidth: Int) -> String {
        let base64 = Data(body).base64EncodedString()
        var text = "-----BEGIN \(label)-----\n"
        var index = base64.startIndex
        while index < base64.endIndex {
            let next = base64.index(index, offsetBy: lineWidth, limitedBy: base64.endIndex) ?? base64.endIndex
            text += base64[index..<next] + "\n"
            index = next
        }
        text += "-----END \(label)-----\n"
        return text
    }
}
