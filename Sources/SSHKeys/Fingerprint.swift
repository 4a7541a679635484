// Key fingerprints as OpenSSH prints them: "SHA256:<base64, unpadded>" and "MD5:<hex:pairs>",
// and the "randomart" picture (the drunken-bishop walk of ssh-keygen -lv).

import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: it would load ICU, ~3 ms at every start of a command
#else
import Foundation
#endif

/// The hash used for a fingerprint (ssh-keygen -E).
public enum SSHFingerprintHash: String, Sendable, CaseIterable {
    /// SHA-256, printed as unpadded base64: OpenSSH's default.
    case sha256 = "SHA256"
    /// MD5, printed as colon-separated hex pairs: how fingerprints looked before OpenSSH 6.8.
    case md5 = "MD5"

    /// Accepts the names ssh-keygen accepts for -E, in any case.
    ///
    /// - Parameter name: "sha256" or "md5", in any case.
    public init?(name: String) {
        switch name.lowercased() {
        case "sha256": self = .sha256
        case "md5": self = .md5
        default: return nil
        }
    }

    /// The fingerprint of any key blob, including types we cannot otherwise use (ssh-keygen lists those too).
    ///
    /// - Parameter blob: A public key's wire encoding.
    /// - Returns: "SHA256:…" or "MD5:…" as ssh-keygen -l prints it.
    public func fingerprint(ofKeyBlob blob: [UInt8]) -> String {
        let digest = digest(blob)
        switch self {
        case .sha256:
            return "SHA256:" + Data(digest).base64EncodedString().filter { $0 != "=" }
        case .md5:
            return "MD5:" + hexString(digest, separator: ":")
        }
    }

    func digest(_ bytes: [UInt8]) -> [UInt8] {
        switch self {
        case .sha256: return Array(SHA256.hash(data: bytes))
        case .md5: return Array(Insecure.MD5.hash(data: bytes))
        }
    }
}

extension SSHPublicKey {
    /// The fingerprint text, e.g. "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s".
    ///
    /// - Parameter hash: The hash to use.
    /// - Returns: The fingerprint as ssh-keygen -l prints it.
    public func fingerprint(_ hash: SSHFingerprintHash = .sha256) -> String {
        hash.fingerprint(ofKeyBlob: wireBlob)
    }

    /// The randomart picture ssh-keygen prints with -lv, without a trailing newline.
    ///
    /// - Parameter hash: The hash whose digest drives the picture (it is named in the bottom border).
    /// - Returns: Eleven lines: the bordered 17×9 picture with the key type and size in the top border.
    public func randomArt(_ hash: SSHFingerprintHash = .sha256) -> String {
        RandomArt.picture(digest: hash.digest(wireBlob), title: "[\(type.displayName) \(bitCount)]",
                          fallbackTitle: "[\(type.displayName)]", hashName: hash.rawValue)
    }
}

/// The "drunken bishop": a walk over a 17×9 board driven by the digest, two bits per step,
/// each square showing how often it was visited (Loss, Dirk et al., "The drunken bishop", 2009).
enum RandomArt {
    static let width = 17
    static let height = 9
    static let symbols = Array(" .o+=*BOX@%&#/^SE")

    static func picture(digest: [UInt8], title: String, fallbackTitle: String, hashName: String) -> String {
        var board = [[Int]](repeating: [Int](repeating: 0, count: height), count: width)
        let visitCap = symbols.count - 3  // the last two symbols mark start and end
        var x = width / 2
        var y = height / 2
        for byte in digest {
            var bits = byte
            for _ in 0..<4 {
                x += bits & 0x1 != 0 ? 1 : -1
                y += bits & 0x2 != 0 ? 1 : -1
                x = min(max(x, 0), width - 1)
                y = min(max(y, 0), height - 1)
                if board[x][y] < visitCap { board[x][y] += 1 }
                bits >>= 2
            }
        }
        board[width / 2][height / 2] = symbols.count - 2
        board[x][y] = symbols.count - 1

        var lines = [border(label: boxLabel(title, fallback: fallbackTitle))]
        for row in 0..<height {
            lines.append("|" + String((0..<width).map { symbols[min(board[$0][row], symbols.count - 1)] }) + "|")
        }
        lines.append(border(label: boxLabel("[\(hashName)]", fallback: "[\(hashName)]")))
        return lines.joined(separator: "\n")
    }

    /// A label that fits inside the top or bottom border (at most width-1 characters, as OpenSSH truncates).
    static func boxLabel(_ label: String, fallback: String) -> String {
        let chosen = label.count > width ? fallback : label
        return String(chosen.prefix(width - 1))
    }

    static func border(label: String) -> String {
        let left = (width - label.count) / 2
        let right = width - left - label.count
        return "+" + String(repeating: "-", count: left) + label + String(repeating: "-", count: right) + "+"
    }
}
