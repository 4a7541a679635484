// Loading key files from disk in any supported format, with the limits and error wording OpenSSH users expect.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: it would load ICU, ~3 ms at every start of a command
#else
import Foundation
#endif

/// Reads private and public key files.
///
/// Loading a key and printing what `ssh-keygen -l` prints:
///
/// ```swift
/// let key = try SSHKeyFile.loadPrivateKey(atPath: "/home/alice/.ssh/id_ed25519")
/// print("\(key.publicKey.bitCount) \(key.publicKey.fingerprint()) \(key.comment) (\(key.type.displayName))")
/// ```
///
/// When the file is encrypted, ask for the passphrase first:
///
/// ```swift
/// let contents = try SSHKeyFile.readFile(atPath: path)
/// let passphrase = SSHKeyFile.isEncryptedPrivateKey(contents) ? askForPassphrase() : nil
/// let key = try SSHKeyFile.parsePrivateKey(contents, passphrase: passphrase)
/// ```
public enum SSHKeyFile {
    /// No key file is anywhere near this large; anything bigger is refused before it is read whole.
    public static let maximumFileSize = 1 << 20

    /// Reads a file's bytes, refusing directories, unreadable files and files over `maximumSize`
    /// (checked before reading, so a huge file costs nothing). `regularFileOnly` is for files someone else controls
    /// (a user's authorized_keys, read by a server): the file is opened without waiting (a FIFO nobody writes to
    /// would hold the reader for ever) and anything but a regular file is refused.
    ///
    /// - Parameters:
    ///   - path: The file to read.
    ///   - maximumSize: The largest file accepted, in bytes.
    ///   - regularFileOnly: Refuse anything but a regular file, and never block opening it.
    /// - Returns: The file's contents.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/fileSystem(_:)`` or ``SSHKeyError/Code/fileTooLarge(bytes:)``,
    ///   carrying `path`.
    public static func readFile(atPath path: String, maximumSize: Int = maximumFileSize, regularFileOnly: Bool = false) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | (regularFileOnly ? O_NONBLOCK | O_NOCTTY : 0))
        guard fd >= 0 else { throw SSHKeyError(.fileSystem(lastErrorText()), path: path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SSHKeyError(.fileSystem(lastErrorText()), path: path) }
        guard info.st_mode & S_IFMT != S_IFDIR else { throw SSHKeyError(.fileSystem("Is a directory"), path: path) }
        guard !regularFileOnly || info.st_mode & S_IFMT == S_IFREG else { throw SSHKeyError(.fileSystem("Not a regular file"), path: path) }
        if info.st_mode & S_IFMT == S_IFREG, Int(info.st_size) > maximumSize {
            throw SSHKeyError(.fileTooLarge(bytes: Int(info.st_size)), path: path)
        }
        // Pipes and devices have no size: read, but never past the limit.
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SSHKeyError(.fileSystem(lastErrorText()), path: path)
            }
            if count == 0 { return contents }
            contents += chunk[0..<count]
            guard contents.count <= maximumSize else { throw SSHKeyError(.fileTooLarge(bytes: contents.count), path: path) }
        }
    }

    /// Writes every byte, retrying short writes and EINTR.
    static func writeAll(fd: Int32, bytes: [UInt8], path: String) throws {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                systemWrite(fd, raw.baseAddress! + written, bytes.count - written)
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw SSHKeyError(.fileSystem(lastErrorText()), path: path)
            }
            written += result
        }
    }

    static func lastErrorText() -> String {
        String(cString: strerror(errno))
    }

    /// Parses private key file contents in openssh-key-v1, PKCS#1, SEC1 or PKCS#8 form.
    /// `passphrase` is needed only for encrypted openssh-key-v1 files.
    ///
    /// - Parameters:
    ///   - contents: The file's bytes.
    ///   - passphrase: The passphrase for an encrypted openssh-key-v1 file, or nil.
    /// - Returns: The key, with its comment when the format keeps one.
    /// - Throws: ``SSHKeyError``: ``SSHKeyError/Code/invalidFormat(_:)`` for anything that is not a key,
    ///   ``SSHKeyError/Code/passphraseRequired`` or ``SSHKeyError/Code/incorrectPassphrase`` for an encrypted file,
    ///   ``SSHKeyError/Code/encryptedPEMUnsupported``, ``SSHKeyError/Code/unsupportedCipher(_:)``,
    ///   ``SSHKeyError/Code/unsupportedKDF(_:)`` or ``SSHKeyError/Code/unsupportedKeyType(_:)``.
    public static func parsePrivateKey(_ contents: [UInt8], passphrase: String? = nil) throws -> SSHPrivateKey {
        let block = try armoredBlock(contents)
        if block.label == OpenSSHPrivateKeyFormat.pemLabel {
            return try OpenSSHPrivateKeyFormat.decode(fileBody: block.body, passphrase: passphrase)
        }
        if block.hasHeaders { throw SSHKeyError(.encryptedPEMUnsupported) }
        return try LegacyPEMKeys.privateKey(label: block.label, der: block.body)
    }

    /// Whether the contents are a private key that needs a passphrase.
    ///
    /// - Parameter contents: The file's bytes.
    /// - Returns: True for an encrypted openssh-key-v1 file and for an encrypted PEM or PKCS#8 file; false for anything
    ///   else, including contents that are not a key at all.
    public static func isEncryptedPrivateKey(_ contents: [UInt8]) -> Bool {
        guard let block = try? armoredBlock(contents) else { return false }
        if block.label == OpenSSHPrivateKeyFormat.pemLabel {
            return (try? OpenSSHPrivateKeyFormat.isEncrypted(fileBody: block.body)) ?? false
        }
        return block.hasHeaders || block.label == "ENCRYPTED PRIVATE KEY"
    }

    /// The public half of a private key file where it can be had without the passphrase
    /// (openssh-key-v1 keeps it in clear); nil for other formats.
    ///
    /// - Parameter contents: The file's bytes.
    /// - Returns: The public key, or nil when the file is not openssh-key-v1 or is malformed.
    public static func publicKeyInPrivateKeyFile(_ contents: [UInt8]) -> SSHPublicKey? {
        guard let block = try? armoredBlock(contents), block.label == OpenSSHPrivateKeyFormat.pemLabel else { return nil }
        return try? OpenSSHPrivateKeyFormat.publicKey(fromFileBody: block.body)
    }

    /// Loads a private key file; errors carry the path.
    ///
    /// - Parameters:
    ///   - path: The key file.
    ///   - passphrase: The passphrase for an encrypted openssh-key-v1 file, or nil.
    /// - Returns: The key.
    /// - Throws: ``SSHKeyError`` as ``readFile(atPath:maximumSize:regularFileOnly:)`` and
    ///   ``parsePrivateKey(_:passphrase:)`` throw, with `path` set.
    public static func loadPrivateKey(atPath path: String, passphrase: String? = nil) throws -> SSHPrivateKey {
        do {
            return try parsePrivateKey(try readFile(atPath: path), passphrase: passphrase)
        } catch let error as SSHKeyError {
            throw error.path == nil ? error.at(path: path) : error
        }
    }

    private static func armoredBlock(_ contents: [UInt8]) throws -> PEMArmor.Block {
        guard let text = String(validating: contents, as: UTF8.self) else {
            throw SSHKeyError(.invalidFormat(""))
        }
        return try PEMArmor.parse(text)
    }

    /// Replaces (or creates) a file with `text`, never leaving it half-written: the text goes to a new file
    /// beside it, created with `mode`, is flushed to disk, and only then renamed over `path`. A full disk or any
    /// other failure leaves the old file as it was. Asking before overwriting is the caller's job.
    ///
    /// - Parameters:
    ///   - text: The whole new contents.
    ///   - path: The file to replace or create.
    ///   - mode: The new file's permission bits, e.g. `0o600` for a private key.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/fileSystem(_:)`` and `path` set.
    public static func write(_ text: String, toPath path: String, mode: mode_t) throws {
        let temporary = "\(path).shh-\(UInt32.random(in: .min ... .max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw SSHKeyError(.fileSystem(lastErrorText()), path: path)
        }
        var renamed = false
        defer {
            if !renamed { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            // The umask may have narrowed `mode`; a public key should still be 0644 as ssh-keygen leaves it.
            fchmod(fd, mode)
            try writeAll(fd: fd, bytes: Array(text.utf8), path: path)
            guard fsync(fd) == 0 || errno == EINVAL else {
                throw SSHKeyError(.fileSystem(lastErrorText()), path: path)
            }
        }
        guard rename(temporary, path) == 0 else {
            throw SSHKeyError(.fileSystem(lastErrorText()), path: path)
        }
        renamed = true
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif
