// Public key lines as in .pub files and authorized_keys: "<type> <base64 blob> [comment]" (OpenSSH sshd(8) AUTHORIZED_KEYS).

#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: it would load ICU, ~3 ms at every start of a command
#else
import Foundation
#endif

/// One public key in OpenSSH's one-line text form.
public struct SSHPublicKeyLine: Sendable, Hashable {
    /// The key.
    public var key: SSHPublicKey
    /// Everything after the blob, trimmed; empty when absent.
    public var comment: String

    /// Pairs a key with a comment.
    ///
    /// - Parameters:
    ///   - key: The key.
    ///   - comment: The comment, e.g. "alice@example"; empty for none.
    public init(key: SSHPublicKey, comment: String = "") {
        self.key = key
        self.comment = comment
    }

    /// Parses "type base64 [comment]". The type word must match the type inside the blob.
    ///
    /// ```swift
    /// let line = try SSHPublicKeyLine(parsing: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPsWVXe42WIBK0WpNckOtBREZfgQOcjKUMNZfZcSMwWP alice@example")
    /// print(line.comment)  // alice@example
    /// ```
    ///
    /// - Parameter line: One line, e.g. the contents of a .pub file; surrounding whitespace is ignored.
    /// - Throws: ``SSHKeyError``: ``SSHKeyError/Code/invalidFormat(_:)`` for a line that is not a key or has bad base64,
    ///   ``SSHKeyError/Code/unsupportedKeyType(_:)``, or ``SSHKeyError/Code/mismatch(_:)`` when the type word and blob disagree.
    public init(parsing line: String) throws {
        let trimmed = line.trimmingSSHWhitespace
        let fields = trimmed.split(maxSplits: 2, omittingEmptySubsequences: true, whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2 else { throw SSHKeyError(.invalidFormat("not a public key line")) }
        let typeName = String(fields[0])
        guard let type = SSHKeyType(rawValue: typeName) else {
            throw SSHKeyError(.unsupportedKeyType(typeName))
        }
        guard let blob = Data(base64Encoded: String(fields[1])) else {
            throw SSHKeyError(.invalidFormat("bad base64 in public key"))
        }
        key = try SSHPublicKey(wireBlob: Array(blob))
        guard key.type == type else {
            throw SSHKeyError(.mismatch("key line says \(typeName) but holds a \(key.type.rawValue) key"))
        }
        comment = fields.count > 2 ? fields[2].trimmingSSHWhitespace : ""
    }

    /// "type base64" plus " comment" when there is one — what ssh-keygen writes to .pub files (without the newline).
    public var text: String {
        comment.isEmpty ? key.description : "\(key.description) \(comment)"
    }
}
