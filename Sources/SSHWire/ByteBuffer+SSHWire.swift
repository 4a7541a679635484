// RFC 4251 §5 data types (byte, boolean, uint32, uint64, string, mpint, name-list) on NIO ByteBuffers.
// Reads advance the reader index only on success; every one is bounds-checked and throws SSHWireError.

import NIOCore

extension ByteBuffer {
    // MARK: Reading

    private func require(_ count: Int, for field: String) throws {
        guard readableBytes >= count else {
            throw SSHWireError(.truncated(needed: count, available: readableBytes), field: field)
        }
    }

    /// Reads one `byte`.
    ///
    /// - Parameter field: What is being read, named in the error (e.g. "cipher name").
    /// - Throws: ``SSHWireError`` with reason ``SSHWireError/Reason/truncated(needed:available:)`` when too few bytes remain.
    public mutating func readSSHByte(field: String = "byte") throws -> UInt8 {
        try require(1, for: field)
        return readInteger(as: UInt8.self)!
    }

    /// Reads a `boolean`: RFC 4251 says any non-zero value is TRUE.
    ///
    /// - Parameter field: What is being read, named in the error (e.g. "cipher name").
    /// - Throws: ``SSHWireError`` with reason ``SSHWireError/Reason/truncated(needed:available:)`` when too few bytes remain.
    public mutating func readSSHBoolean(field: String = "boolean") throws -> Bool {
        try readSSHByte(field: field) != 0
    }

    /// Reads a big-endian `uint32`.
    ///
    /// - Parameter field: What is being read, named in the error (e.g. "cipher name").
    /// - Throws: ``SSHWireError`` with reason ``SSHWireError/Reason/truncated(needed:available:)`` when too few bytes remain.
    public mutating func readSSHUInt32(field: String = "uint32") throws -> UInt32 {
        try require(4, for: field)
        return readInteger(endianness: .big, as: UInt32.self)!
    }

    /// Reads a big-endian `uint64`.
    ///
    /// - Parameter field: What is being read, named in the error (e.g. "cipher name").
    /// - Throws: ``SSHWireError`` with reason ``SSHWireError/Reason/truncated(needed:available:)`` when too few bytes remain.
    public mutating func readSSHUInt64(field: String = "uint64") throws -> UInt64 {
        try require(8, for: field)
        return readInteger(endianness: .big, as: UInt64.self)!
    }

    /// Reads a `string` and returns its bytes as a slice sharing this buffer's storage.
    /// The length prefix is checked against the bytes actually present before anything is allocated.
    ///
    /// ```swift
    /// var buffer = ByteBuffer()
    /// buffer.writeSSHString("ssh-userauth")
    /// let name = try buffer.readSSHUTF8String(field: "service name")  // "ssh-userauth"
    /// ```
    ///
    /// - Parameter field: What is being read, named in the error (e.g. "cipher name").
    /// - Throws: ``SSHWireError`` with reason ``SSHWireError/Reason/truncated(needed:available:)`` when too few bytes remain.
    public mutating func readSSHString(field: String = "string") throws -> ByteBuffer {
        try require(4, for: "\(field) length")
        let length = Int(getInteger(at: readerIndex, endianness: .big, as: UInt32.self)!)
        guard readableBytes - 4 >= length else {
            throw SSHWireError(.truncated(needed: length, available: readableBytes - 4), field: field)
        }
        moveReaderIndex(forwardBy: 4)
        return readSlice(length: length)!
    }

    /// Reads a `string` as an array of bytes.
    ///
    /// - Parameter field: What is being read, named in the error (e.g. "cipher name").
    /// - Throws: ``SSHWireError`` with reason ``SSHWireError/Reason/truncated(needed:available:)`` when too few bytes remain.
    public mutating func readSSHStringBytes(field: String = "string") throws -> [UInt8] {
        var slice = try readSSHString(field: field)
        return slice.readBytes(length: slice.readableBytes) ?? []
    }

    /// Reads a `string` that must hold UTF-8 text (RFC 4251 uses ISO-10646 UTF-8 for text).
    ///
    /// - Parameter field: What is being read, named in the error (e.g. "cipher name").
    /// - Throws: ``SSHWireError`` when the string is truncated or is not valid UTF-8.
    public mutating func readSSHUTF8String(field: String = "string") throws -> String {
        let saved = readerIndex
        let bytes = try readSSHStringBytes(field: field)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            moveReaderIndex(to: saved)
            throw SSHWireError(.invalidUTF8, field: field)
        }
        return text
    }

    /// Reads an `mpint` and returns its two's-complement bytes exactly as encoded (empty for zero).
    /// Throws on a non-minimal encoding, as RFC 4251 §5 forbids unnecessary leading bytes.
    ///
    /// - Parameter field: What is being read, named in the error (e.g. "cipher name").
    /// - Throws: ``SSHWireError`` when the value is truncated or not minimally encoded.
    public mutating func readSSHMPIntBytes(field: String = "mpint") throws -> [UInt8] {
        let saved = readerIndex
        let bytes = try readSSHStringBytes(field: field)
        if bytes.count >= 2 {
            let redundantZero = bytes[0] == 0x00 && bytes[1] & 0x80 == 0
            let redundantOnes = bytes[0] == 0xFF && bytes[1] & 0x80 != 0
            if redundantZero || redundantOnes {
                moveReaderIndex(to: saved)
                throw SSHWireError(.nonMinimalMPInt, field: field)
            }
        } else if bytes == [0x00] {
            moveReaderIndex(to: saved)
            throw SSHWireError(.nonMinimalMPInt, field: field)
        }
        return bytes
    }

    /// Reads a non-negative `mpint` and returns its magnitude, big-endian, without leading zeros
    /// (empty for zero). `maxByteCount` bounds the magnitude so a peer cannot make us do huge arithmetic.
    ///
    /// - Parameters:
    ///   - field: What is being read, named in the error.
    ///   - maxByteCount: The largest magnitude accepted, in bytes; the default fits a 16384-bit number.
    /// - Throws: ``SSHWireError`` when the value is truncated, not minimal, negative or larger than `maxByteCount`.
    public mutating func readSSHUnsignedMPInt(field: String = "mpint", maxByteCount: Int = 16384 / 8 + 1) throws -> [UInt8] {
        let saved = readerIndex
        let bytes = try readSSHMPIntBytes(field: field)
        if let first = bytes.first, first & 0x80 != 0 {
            moveReaderIndex(to: saved)
            throw SSHWireError(.negativeMPInt, field: field)
        }
        let magnitude = bytes.first == 0 ? Array(bytes.dropFirst()) : bytes
        guard magnitude.count <= maxByteCount else {
            moveReaderIndex(to: saved)
            throw SSHWireError(.mpintTooLarge(byteCount: magnitude.count, limit: maxByteCount), field: field)
        }
        return magnitude
    }

    /// Reads a `name-list`: comma-separated, non-empty US-ASCII names. An empty string is an empty list.
    ///
    /// - Parameter field: What is being read, named in the error (e.g. "cipher name").
    /// - Throws: ``SSHWireError`` when the list is truncated, has an empty name or a byte outside printable US-ASCII.
    public mutating func readSSHNameList(field: String = "name-list") throws -> [String] {
        let saved = readerIndex
        let bytes = try readSSHStringBytes(field: field)
        do {
            return try SSHNameList.parse(bytes, field: field)
        } catch {
            moveReaderIndex(to: saved)
            throw error
        }
    }

    // MARK: Writing

    /// Writes one `byte`.
    ///
    /// - Parameter value: The byte.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeSSHByte(_ value: UInt8) -> Int {
        writeInteger(value)
    }

    /// Writes a `boolean` as 0 or 1.
    ///
    /// - Parameter value: The boolean.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeSSHBoolean(_ value: Bool) -> Int {
        writeInteger(value ? 1 : 0 as UInt8)
    }

    /// Writes a big-endian `uint32`.
    ///
    /// - Parameter value: The number.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeSSHUInt32(_ value: UInt32) -> Int {
        writeInteger(value, endianness: .big)
    }

    /// Writes a big-endian `uint64`.
    ///
    /// - Parameter value: The number.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeSSHUInt64(_ value: UInt64) -> Int {
        writeInteger(value, endianness: .big)
    }

    /// Writes a `string` from raw bytes.
    ///
    /// - Parameter bytes: The string's contents; the length prefix is added.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeSSHString<Bytes: Collection>(_ bytes: Bytes) -> Int where Bytes.Element == UInt8 {
        writeInteger(UInt32(bytes.count), endianness: .big) + writeBytes(bytes)
    }

    /// Writes a `string` from UTF-8 text.
    ///
    /// - Parameter text: The text, written as UTF-8.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeSSHString(_ text: String) -> Int {
        writeSSHString(Array(text.utf8))
    }

    /// Writes a `string` whose contents are another buffer's readable bytes.
    ///
    /// - Parameter buffer: The bytes to write; its reader index is not moved.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeSSHString(buffer: ByteBuffer) -> Int {
        var copy = buffer
        return writeInteger(UInt32(buffer.readableBytes), endianness: .big) + writeBuffer(&copy)
    }

    /// Writes a non-negative `mpint` from a big-endian magnitude (leading zeros allowed in the input):
    /// the minimal encoding, with a 0x00 prefix when the top bit is set so it does not read as negative.
    ///
    /// - Parameter magnitude: The number, big-endian, unsigned.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeSSHUnsignedMPInt<Bytes: Collection>(_ magnitude: Bytes) -> Int where Bytes.Element == UInt8 {
        let trimmed = magnitude.drop(while: { $0 == 0 })
        if let first = trimmed.first, first & 0x80 != 0 {
            return writeInteger(UInt32(trimmed.count + 1), endianness: .big) + writeInteger(0 as UInt8) + writeBytes(trimmed)
        }
        return writeSSHString(trimmed)
    }

    /// Writes a `name-list`. Names must be non-empty printable US-ASCII without commas; that is the caller's contract.
    ///
    /// - Parameter names: The names, in order.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeSSHNameList(_ names: [String]) -> Int {
        precondition(names.allSatisfy { !$0.isEmpty && !$0.contains(",") }, "invalid name in name-list")
        return writeSSHString(names.joined(separator: ","))
    }
}

/// Name-list validation shared by the buffer reader and callers that get the text some other way.
public enum SSHNameList {
    /// Parses the body of a name-list (RFC 4251 §5): names are printable US-ASCII (0x21–0x7E) except comma.
    ///
    /// - Parameters:
    ///   - bytes: The list's bytes, without the `string` length prefix.
    ///   - field: What is being parsed, named in the error.
    /// - Returns: The names in order; empty for empty input.
    /// - Throws: ``SSHWireError`` for an empty name or a byte outside printable US-ASCII.
    public static func parse(_ bytes: [UInt8], field: String = "name-list") throws -> [String] {
        if bytes.isEmpty { return [] }
        var names: [String] = []
        var current: [UInt8] = []
        for byte in bytes {
            if byte == UInt8(ascii: ",") {
                guard !current.isEmpty else { throw SSHWireError(.emptyName, field: field) }
                names.append(String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
            } else if byte >= 0x21 && byte <= 0x7E {
                current.append(byte)
            } else {
                throw SSHWireError(.invalidNameCharacter, field: field)
            }
        }
        guard !current.isEmpty else { throw SSHWireError(.emptyName, field: field) }
        names.append(String(decoding: current, as: UTF8.self))
        return names
    }
}

extension ByteBuffer {
    /// Throws unless every byte has been read: for containers (key blobs, signatures) that must hold nothing else.
    ///
    /// - Parameter field: The container, named in the error.
    /// - Throws: ``SSHWireError`` with reason ``SSHWireError/Reason/trailingBytes(count:)`` when bytes are left.
    public func expectFullyConsumed(field: String) throws {
        guard readableBytes == 0 else {
            throw SSHWireError(.trailingBytes(count: readableBytes), field: field)
        }
    }
}
