// The single error type of SSHKeys: every way a key, key file or signature can be unusable,
// worded so the person reading it knows what to do next.

/// Why a key, a key file or a signature could not be used.
public struct SSHKeyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What kind of problem it is, with the detail that goes into ``SSHKeyError/reason``.
    public enum Code: Equatable, Sendable {
        /// The bytes are not a key of any format we know ("invalid format").
        case invalidFormat(String)
        /// A key type we do not implement (e.g. ssh-dss, sk-ssh-ed25519@openssh.com).
        case unsupportedKeyType(String)
        /// An RSA key outside 2048...8192 bits.
        case unsupportedRSAKeySize(bits: Int)
        /// An ECDSA or RSA size that ssh-keygen would not accept for generation.
        case invalidKeySize(String)
        /// A private key file encrypted with a cipher we cannot decrypt.
        case unsupportedCipher(String)
        /// A private key file using a key-derivation function other than bcrypt.
        case unsupportedKDF(String)
        /// The passphrase did not decrypt the key (or none was given for an encrypted key).
        case incorrectPassphrase
        /// An encrypted key was loaded without a passphrase where one cannot be asked for.
        case passphraseRequired
        /// An encrypted legacy PEM key: we read only unencrypted PEM.
        case encryptedPEMUnsupported
        /// A signature algorithm that the key cannot make or that the caller did not allow.
        case signatureAlgorithmNotAllowed(String)
        /// A signature (or SSHSIG object) that is malformed or does not verify.
        case invalidSignature(String)
        /// The two halves of something that must agree do not (public and private key, type and blob).
        case mismatch(String)
        /// The file is larger than any key file could be.
        case fileTooLarge(bytes: Int)
        /// The operating system refused to read or write a file.
        case fileSystem(String)
    }

    /// What kind of problem it is.
    public var code: Code
    /// The file the problem is in, when there is one.
    public var path: String?
    /// The 1-based line in `path`, when it matters.
    public var line: Int?

    /// Creates an error, optionally attributed to a file and line.
    ///
    /// - Parameters:
    ///   - code: What kind of problem it is.
    ///   - path: The file the problem is in, if any.
    ///   - line: The 1-based line in `path`, if it matters.
    public init(_ code: Code, path: String? = nil, line: Int? = nil) {
        self.code = code
        self.path = path
        self.line = line
    }

    /// The same error, attributed to a file (and line).
    ///
    /// - Parameters:
    ///   - path: The file to name.
    ///   - line: The 1-based line; nil keeps the line already set.
    /// - Returns: A copy of this error with `path` (and `line`) set.
    public func at(path: String, line: Int? = nil) -> SSHKeyError {
        var copy = self
        copy.path = path
        copy.line = line ?? self.line
        return copy
    }

    /// The problem alone, without the file name: "incorrect passphrase supplied to decrypt private key".
    public var reason: String {
        switch code {
        case .invalidFormat(let detail):
            return detail.isEmpty ? "invalid format" : "invalid format (\(detail))"
        case .unsupportedKeyType(let type):
            return "unsupported key type \"\(type)\" (supported: ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa)"
        case .unsupportedRSAKeySize(let bits):
            return "RSA key of \(bits) bits is not supported: RSA keys must be 2048 to 8192 bits; generate a new key (shh-keygen -t ed25519)"
        case .invalidKeySize(let detail):
            return detail
        case .unsupportedCipher(let name):
            return "private key is encrypted with unsupported cipher \"\(name)\"; re-encrypt it with a supported one (ssh-keygen -p -Z aes256-ctr)"
        case .unsupportedKDF(let name):
            return "private key uses unsupported key derivation \"\(name)\" (only bcrypt is supported)"
        case .incorrectPassphrase:
            return "incorrect passphrase supplied to decrypt private key"
        case .passphraseRequired:
            return "private key is encrypted and no passphrase was given"
        case .encryptedPEMUnsupported:
            return "encrypted PEM private keys are not supported; convert the key to the OpenSSH format first (ssh-keygen -p -f FILE)"
        case .signatureAlgorithmNotAllowed(let name):
            return "signature algorithm \"\(name)\" is not allowed for this key"
        case .invalidSignature(let detail):
            return detail.isEmpty ? "signature verification failed" : detail
        case .mismatch(let detail):
            return detail
        case .fileTooLarge(let bytes):
            return "file is too large to be a key (\(bytes) bytes)"
        case .fileSystem(let detail):
            return detail
        }
    }

    /// The reason, prefixed with "path:" or "path:line:" when the error names a file, as OpenSSH prints it.
    public var description: String {
        guard let path else { return reason }
        if let line { return "\(path):\(line): \(reason)" }
        return "\(path): \(reason)"
    }
}
