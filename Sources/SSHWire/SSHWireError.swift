// The single error type of SSHWire: what went wrong while decoding RFC 4251 §5 data.

/// A malformed or truncated value in SSH wire data.
///
/// Every read in this module is bounds-checked and throws this error instead of trapping,
/// so a hostile peer or a corrupt file can only ever produce a readable message.
public struct SSHWireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was wrong with the data.
    public enum Reason: Equatable, Sendable {
        /// The value needs `needed` bytes but only `available` remain.
        case truncated(needed: Int, available: Int)
        /// An mpint with redundant leading 0x00/0xFF bytes (RFC 4251 §5 requires the minimal encoding).
        case nonMinimalMPInt
        /// A negative mpint where only non-negative numbers are allowed.
        case negativeMPInt
        /// An mpint larger than the caller allows.
        case mpintTooLarge(byteCount: Int, limit: Int)
        /// A name-list containing an empty name (",," or a leading/trailing comma).
        case emptyName
        /// A name-list or name with bytes outside printable US-ASCII.
        case invalidNameCharacter
        /// A string that must be UTF-8 and is not.
        case invalidUTF8
        /// Bytes left over after a value that must fill its container.
        case trailingBytes(count: Int)
        /// A value that is syntactically fine but not what the context allows.
        case unexpectedValue(String)
    }

    /// What was wrong with the data.
    public var reason: Reason
    /// What was being decoded, e.g. "string" or "ssh-ed25519 public key".
    public var field: String

    /// Creates an error for a value that could not be decoded.
    ///
    /// - Parameters:
    ///   - reason: What was wrong with the data.
    ///   - field: What was being decoded, as a reader of the message would name it.
    public init(_ reason: Reason, field: String) {
        self.reason = reason
        self.field = field
    }

    /// One line naming the field and the problem, e.g. "truncated data: string needs 7 bytes, only 3 left".
    public var description: String {
        switch reason {
        case let .truncated(needed, available):
            return "truncated data: \(field) needs \(needed) bytes, only \(available) left"
        case .nonMinimalMPInt:
            return "malformed data: \(field) is an mpint with redundant leading bytes"
        case .negativeMPInt:
            return "malformed data: \(field) is a negative mpint"
        case let .mpintTooLarge(byteCount, limit):
            return "malformed data: \(field) is a \(byteCount)-byte mpint, more than the \(limit) allowed"
        case .emptyName:
            return "malformed data: \(field) contains an empty name"
        case .invalidNameCharacter:
            return "malformed data: \(field) contains a character outside printable US-ASCII"
        case .invalidUTF8:
            return "malformed data: \(field) is not valid UTF-8"
        case let .trailingBytes(count):
            return "malformed data: \(count) unexpected bytes after \(field)"
        case let .unexpectedValue(detail):
            return "malformed data: \(field): \(detail)"
        }
    }
}
