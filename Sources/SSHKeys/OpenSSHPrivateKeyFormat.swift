// The "openssh-key-v1" private key file format (OpenSSH's PROTOCOL.key): a PEM-like armour around
// magic, cipher, KDF (bcrypt-pbkdf), the public keys in clear, and the private section, optionally encrypted.

import Crypto
import CryptoExtras
#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: it would load ICU, ~3 ms at every start of a command
#else
import Foundation
#endif
import NIOCore
import SSHWire

/// The ciphers OpenSSH may use for the private section of a key file.
enum PrivateKeyCipher: String, CaseIterable {
    case none = "none"
    case aes128CTR = "aes128-ctr"
    case aes192CTR = "aes192-ctr"
    case aes256CTR = "aes256-ctr"
    case aes128CBC = "aes128-cbc"
    case aes192CBC = "aes192-cbc"
    case aes256CBC = "aes256-cbc"
    case aes128GCM = "aes128-gcm@openssh.com"
    case aes256GCM = "aes256-gcm@openssh.com"

    var keyByteCount: Int {
        switch self {
        case .none: return 0
        case .aes128CTR, .aes128CBC, .aes128GCM: return 16
        case .aes192CTR, .aes192CBC: return 24
        case .aes256CTR, .aes256CBC, .aes256GCM: return 32
        }
    }

    var ivByteCount: Int {
        switch self {
        case .none: return 0
        case .aes128GCM, .aes256GCM: return 12
        default: return 16
        }
    }

    /// The private section is padded to this many bytes.
    var blockSize: Int { self == .none ? 8 : 16 }

    /// Bytes of authentication tag stored after the encrypted section.
    var tagByteCount: Int {
        switch self {
        case .aes128GCM, .aes256GCM: return 16
        default: return 0
        }
    }

    func decrypt(_ data: [UInt8], tag: [UInt8], key: [UInt8], iv: [UInt8]) throws -> [UInt8] {
        let symmetricKey = SymmetricKey(data: key)
        switch self {
        case .none:
            return data
        case .aes128CTR, .aes192CTR, .aes256CTR:
            return Array(try AES._CTR.decrypt(data, using: symmetricKey, nonce: .init(nonceBytes: iv)))
        case .aes128CBC, .aes192CBC, .aes256CBC:
            return Array(try AES._CBC.decrypt(data, using: symmetricKey, iv: .init(ivBytes: iv), noPadding: true))
        case .aes128GCM, .aes256GCM:
            do {
                let box = try AES.GCM.SealedBox(nonce: .init(data: iv), ciphertext: data, tag: tag)
                return Array(try AES.GCM.open(box, using: symmetricKey))
            } catch {
                // A wrong passphrase gives a wrong key, which shows up as a failed tag.
                throw SSHKeyError(.incorrectPassphrase)
            }
        }
    }

    /// Returns the ciphertext and, for AEAD ciphers, the tag.
    func encrypt(_ data: [UInt8], key: [UInt8], iv: [UInt8]) throws -> (ciphertext: [UInt8], tag: [UInt8]) {
        let symmetricKey = SymmetricKey(data: key)
        switch self {
        case .none:
            return (data, [])
        case .aes128CTR, .aes192CTR, .aes256CTR:
            return (Array(try AES._CTR.encrypt(data, using: symmetricKey, nonce: .init(nonceBytes: iv))), [])
        case .aes128CBC, .aes192CBC, .aes256CBC:
            return (Array(try AES._CBC.encrypt(data, using: symmetricKey, iv: .init(ivBytes: iv), noPadding: true)), [])
        case .aes128GCM, .aes256GCM:
            let box = try AES.GCM.seal(data, using: symmetricKey, nonce: .init(data: iv))
            return (Array(box.ciphertext), Array(box.tag))
        }
    }
}

/// Reading and writing openssh-key-v1 files (OpenSSH PROTOCOL.key), the format `ssh-keygen` writes by default.
///
/// Most callers want ``SSHKeyFile/parsePrivateKey(_:passphrase:)``, which also reads PEM files; this type is for
/// writing keys and for the parts of the format that need no passphrase.
///
/// ```swift
/// let key = try SSHPrivateKey.generate(type: .ed25519, comment: "alice@example")
/// let text = try OpenSSHPrivateKeyFormat.fileText(key, passphrase: nil)
/// try SSHKeyFile.write(text, toPath: "/home/alice/.ssh/id_ed25519", mode: 0o600)
/// try SSHKeyFile.write(SSHPublicKeyLine(key: key.publicKey, comment: key.comment).text + "\n",
///                      toPath: "/home/alice/.ssh/id_ed25519.pub", mode: 0o644)
/// ```
public enum OpenSSHPrivateKeyFormat {
    static let magic = Array("openssh-key-v1".utf8) + [0]
    static let pemLabel = "OPENSSH PRIVATE KEY"
    /// The cipher ssh-keygen uses for new encrypted keys: aes256-ctr.
    public static let defaultCipherName = PrivateKeyCipher.aes256CTR.rawValue
    /// The bcrypt rounds ssh-keygen uses for new encrypted keys.
    public static let defaultKDFRounds = 16
    /// The most bcrypt rounds we read or write: about 100 minutes of work. A file asking for more is
    /// treated as damaged rather than left to hang the reader.
    public static let maximumKDFRounds = 1 << 20
    /// Ciphers that can protect a key we write or read (ssh-keygen -Z).
    public static var supportedCipherNames: [String] { PrivateKeyCipher.allCases.filter { $0 != .none }.map(\.rawValue) }

    /// The public key stored in clear in the file's header, readable without the passphrase.
    ///
    /// - Parameter body: The base64-decoded contents between the armour lines.
    /// - Returns: The file's public key.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/invalidFormat(_:)`` for a malformed file, or as ``SSHPublicKey/init(wireBlob:)`` throws.
    public static func publicKey(fromFileBody body: [UInt8]) throws -> SSHPublicKey {
        try Header(body).publicKey
    }

    /// Whether the private section is encrypted.
    ///
    /// - Parameter body: The base64-decoded contents between the armour lines.
    /// - Returns: True when a passphrase is needed.
    /// - Throws: ``SSHKeyError`` for a malformed file.
    public static func isEncrypted(fileBody body: [UInt8]) throws -> Bool {
        try Header(body).cipher != .none
    }

    /// The decoded header: everything before the private section.
    struct Header {
        var cipher: PrivateKeyCipher
        var kdfSalt: [UInt8]
        var kdfRounds: Int
        var publicKey: SSHPublicKey
        var privateSection: [UInt8]
        var tag: [UInt8]

        init(_ body: [UInt8]) throws {
            guard body.starts(with: OpenSSHPrivateKeyFormat.magic) else {
                throw SSHKeyError(.invalidFormat("missing openssh-key-v1 magic"))
            }
            var buffer = ByteBuffer(bytes: body[OpenSSHPrivateKeyFormat.magic.count...])
            do {
                let cipherName = try buffer.readSSHUTF8String(field: "cipher name")
                let kdfName = try buffer.readSSHUTF8String(field: "KDF name")
                var kdfOptions = try buffer.readSSHString(field: "KDF options")
                let keyCount = try buffer.readSSHUInt32(field: "number of keys")
                guard keyCount == 1 else {
                    throw SSHKeyError(.invalidFormat("file holds \(keyCount) keys; exactly one is supported"))
                }
                publicKey = try SSHPublicKey(wireBlob: try buffer.readSSHStringBytes(field: "public key"))
                privateSection = try buffer.readSSHStringBytes(field: "private section")
                guard let cipher = PrivateKeyCipher(rawValue: cipherName) else {
                    throw SSHKeyError(.unsupportedCipher(cipherName))
                }
                self.cipher = cipher
                tag = buffer.readBytes(length: min(cipher.tagByteCount, buffer.readableBytes)) ?? []
                guard tag.count == cipher.tagByteCount, buffer.readableBytes == 0 else {
                    throw SSHKeyError(.invalidFormat("wrong amount of data after the private section"))
                }
                switch (cipher, kdfName) {
                case (.none, "none"):
                    guard kdfOptions.readableBytes == 0 else { throw SSHKeyError(.invalidFormat("KDF options without a KDF")) }
                    kdfSalt = []
                    kdfRounds = 0
                case (.none, _):
                    throw SSHKeyError(.invalidFormat("KDF \"\(kdfName)\" without a cipher"))
                case (_, "bcrypt"):
                    kdfSalt = try kdfOptions.readSSHStringBytes(field: "bcrypt salt")
                    let rounds = try kdfOptions.readSSHUInt32(field: "bcrypt rounds")
                    try kdfOptions.expectFullyConsumed(field: "bcrypt options")
                    guard rounds >= 1, rounds <= OpenSSHPrivateKeyFormat.maximumKDFRounds, !kdfSalt.isEmpty, kdfSalt.count <= 1024 else {
                        throw SSHKeyError(.invalidFormat("unreasonable bcrypt parameters (rounds \(rounds), salt \(kdfSalt.count) bytes)"))
                    }
                    kdfRounds = Int(rounds)
                case (_, "none"):
                    throw SSHKeyError(.invalidFormat("cipher \"\(cipherName)\" without a KDF"))
                default:
                    throw SSHKeyError(.unsupportedKDF(kdfName))
                }
                guard privateSection.count % cipher.blockSize == 0, !privateSection.isEmpty else {
                    throw SSHKeyError(.invalidFormat("private section is not a whole number of cipher blocks"))
                }
            } catch let error as SSHWireError {
                throw SSHKeyError(.invalidFormat(error.description))
            }
        }
    }

    /// Decodes a file body (the base64-decoded contents between the armour lines).
    ///
    /// - Parameters:
    ///   - body: The base64-decoded contents between the armour lines.
    ///   - passphrase: The passphrase of an encrypted file; ignored for an unencrypted one.
    /// - Returns: The key with its comment.
    /// - Throws: ``SSHKeyError``: ``SSHKeyError/Code/passphraseRequired``, ``SSHKeyError/Code/incorrectPassphrase``,
    ///   ``SSHKeyError/Code/unsupportedCipher(_:)``, ``SSHKeyError/Code/unsupportedKDF(_:)``,
    ///   ``SSHKeyError/Code/mismatch(_:)`` when the private and public halves differ, or ``SSHKeyError/Code/invalidFormat(_:)``.
    public static func decode(fileBody body: [UInt8], passphrase: String?) throws -> SSHPrivateKey {
        let header = try Header(body)
        var plaintext = header.privateSection
        if header.cipher != .none {
            guard let passphrase, !passphrase.isEmpty else { throw SSHKeyError(.passphraseRequired) }
            let material = try BcryptPBKDF.deriveKey(
                passphrase: Array(passphrase.utf8), salt: header.kdfSalt, rounds: header.kdfRounds,
                outputByteCount: header.cipher.keyByteCount + header.cipher.ivByteCount)
            plaintext = try header.cipher.decrypt(
                header.privateSection, tag: header.tag,
                key: Array(material[..<header.cipher.keyByteCount]),
                iv: Array(material[header.cipher.keyByteCount...]))
        }
        var buffer = ByteBuffer(bytes: plaintext)
        do {
            let check1 = try buffer.readSSHUInt32(field: "check integer")
            let check2 = try buffer.readSSHUInt32(field: "check integer")
            guard check1 == check2 else {
                // For an unencrypted file this can only be corruption; for an encrypted one it is the passphrase.
                throw header.cipher == .none
                    ? SSHKeyError(.invalidFormat("check integers differ")) : SSHKeyError(.incorrectPassphrase)
            }
            let key = try readPrivateKey(&buffer)
            guard key.publicKey == header.publicKey else {
                throw SSHKeyError(.mismatch("the private key does not match the public key in the same file"))
            }
            // Padding is 1, 2, 3, ... up to the block size.
            let padding = buffer.readBytes(length: buffer.readableBytes) ?? []
            guard padding.count < header.cipher.blockSize,
                  padding.enumerated().allSatisfy({ $0.element == UInt8($0.offset + 1) })
            else { throw SSHKeyError(.invalidFormat("bad padding after the private key")) }
            return key
        } catch let error as SSHWireError {
            throw SSHKeyError(.invalidFormat(error.description))
        }
    }

    /// One key in the private section: type, the type's private fields, comment.
    static func readPrivateKey(_ buffer: inout ByteBuffer) throws -> SSHPrivateKey {
        let typeName = try buffer.readSSHUTF8String(field: "private key type")
        guard let type = SSHKeyType(rawValue: typeName) else { throw SSHKeyError(.unsupportedKeyType(typeName)) }
        let key: SSHPrivateKey
        switch type {
        case .ed25519:
            let publicBytes = try buffer.readSSHStringBytes(field: "ed25519 public key")
            let secret = try buffer.readSSHStringBytes(field: "ed25519 private key")
            // OpenSSH stores seed‖public (64 bytes), like the ref10 secret key.
            guard publicBytes.count == 32, secret.count == 64, Array(secret[32...]) == publicBytes else {
                throw SSHKeyError(.invalidFormat("malformed ed25519 private key"))
            }
            let privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: secret[..<32])
            guard Array(privateKey.publicKey.rawRepresentation) == publicBytes else {
                throw SSHKeyError(.mismatch("ed25519 private key does not match its public half"))
            }
            key = SSHPrivateKey(storage: .ed25519(privateKey), comment: "")
        case .ecdsaP256, .ecdsaP384, .ecdsaP521:
            let curve = try buffer.readSSHUTF8String(field: "ECDSA curve name")
            guard curve == type.curveIdentifier else { throw SSHKeyError(.mismatch("ECDSA key names curve \"\(curve)\"")) }
            let point = try buffer.readSSHStringBytes(field: "ECDSA public point")
            let scalar = try buffer.readSSHUnsignedMPInt(field: "ECDSA private scalar", maxByteCount: 66)
            key = try LegacyPEMKeys.ecdsaPrivateKey(type: type, scalar: scalar, comment: "")
            guard Array(key.publicKey.wireBlob.suffix(point.count)) == point else {
                throw SSHKeyError(.mismatch("ECDSA private key does not match its public point"))
            }
        case .rsa:
            let n = try buffer.readSSHUnsignedMPInt(field: "RSA modulus")
            let e = try buffer.readSSHUnsignedMPInt(field: "RSA public exponent")
            let d = try buffer.readSSHUnsignedMPInt(field: "RSA private exponent")
            let iqmp = try buffer.readSSHUnsignedMPInt(field: "RSA iqmp")
            let p = try buffer.readSSHUnsignedMPInt(field: "RSA p")
            let q = try buffer.readSSHUnsignedMPInt(field: "RSA q")
            key = SSHPrivateKey(storage: .rsa(try RSAPrivateKeyParts(n: n, e: e, d: d, iqmp: iqmp, p: p, q: q)), comment: "")
        }
        var withComment = key
        withComment.comment = try buffer.readSSHUTF8String(field: "comment")
        return withComment
    }

    static func writePrivateFields(of key: SSHPrivateKey, to buffer: inout ByteBuffer) {
        buffer.writeSSHString(key.type.rawValue)
        switch key.storage {
        case .ed25519(let privateKey):
            let publicBytes = Array(privateKey.publicKey.rawRepresentation)
            buffer.writeSSHString(publicBytes)
            buffer.writeSSHString(Array(privateKey.rawRepresentation) + publicBytes)
        case .p256(let privateKey):
            writeECDSA(&buffer, key: key, point: privateKey.publicKey.x963Representation, scalar: privateKey.rawRepresentation)
        case .p384(let privateKey):
            writeECDSA(&buffer, key: key, point: privateKey.publicKey.x963Representation, scalar: privateKey.rawRepresentation)
        case .p521(let privateKey):
            writeECDSA(&buffer, key: key, point: privateKey.publicKey.x963Representation, scalar: privateKey.rawRepresentation)
        case .rsa(let parts):
            for number in [parts.n, parts.e, parts.d, parts.iqmp, parts.p, parts.q] {
                buffer.writeSSHUnsignedMPInt(number)
            }
        }
        buffer.writeSSHString(key.comment)
    }

    private static func writeECDSA(_ buffer: inout ByteBuffer, key: SSHPrivateKey, point: Data, scalar: Data) {
        buffer.writeSSHString(key.type.curveIdentifier ?? "")
        buffer.writeSSHString(Array(point))
        buffer.writeSSHUnsignedMPInt(Array(scalar))
    }

    /// Encodes a key as a file body. An empty or nil passphrase writes it unencrypted, as ssh-keygen does.
    ///
    /// - Parameters:
    ///   - key: The key to store, with its comment.
    ///   - passphrase: The passphrase to encrypt with; nil or empty for none.
    ///   - cipherName: The cipher, one of ``supportedCipherNames``.
    ///   - kdfRounds: The bcrypt rounds, 1 to ``maximumKDFRounds``; more is slower to guess and to load.
    /// - Returns: The file body, before armouring.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/unsupportedCipher(_:)`` or ``SSHKeyError/Code/invalidKeySize(_:)`` for rounds out of range.
    public static func encode(
        _ key: SSHPrivateKey, passphrase: String?, cipherName: String = defaultCipherName, kdfRounds: Int = defaultKDFRounds
    ) throws -> [UInt8] {
        let encrypted = !(passphrase ?? "").isEmpty
        guard let requested = PrivateKeyCipher(rawValue: cipherName), requested != .none || !encrypted else {
            throw SSHKeyError(.unsupportedCipher(cipherName))
        }
        let cipher: PrivateKeyCipher = encrypted ? requested : .none
        guard kdfRounds >= 1, kdfRounds <= maximumKDFRounds else {
            throw SSHKeyError(.invalidKeySize("bcrypt rounds must be 1 to \(maximumKDFRounds)"))
        }

        var section = ByteBuffer()
        let check = UInt32.random(in: .min ... .max)
        section.writeSSHUInt32(check)
        section.writeSSHUInt32(check)
        writePrivateFields(of: key, to: &section)
        var pad: UInt8 = 1
        while section.readableBytes % cipher.blockSize != 0 {
            section.writeInteger(pad)
            pad += 1
        }

        var salt: [UInt8] = []
        var sealed: (ciphertext: [UInt8], tag: [UInt8]) = (Array(section.readableBytesView), [])
        if encrypted, let passphrase {
            salt = (0..<16).map { _ in UInt8.random(in: .min ... .max) }
            let material = try BcryptPBKDF.deriveKey(
                passphrase: Array(passphrase.utf8), salt: salt, rounds: kdfRounds,
                outputByteCount: cipher.keyByteCount + cipher.ivByteCount)
            sealed = try cipher.encrypt(
                sealed.ciphertext, key: Array(material[..<cipher.keyByteCount]), iv: Array(material[cipher.keyByteCount...]))
        }

        var body = ByteBuffer(bytes: magic)
        body.writeSSHString(cipher.rawValue)
        body.writeSSHString(encrypted ? "bcrypt" : "none")
        var kdfOptions = ByteBuffer()
        if encrypted {
            kdfOptions.writeSSHString(salt)
            kdfOptions.writeSSHUInt32(UInt32(kdfRounds))
        }
        body.writeSSHString(buffer: kdfOptions)
        body.writeSSHUInt32(1)
        body.writeSSHString(key.publicKey.wireBlob)
        body.writeSSHString(sealed.ciphertext)
        body.writeBytes(sealed.tag)
        return Array(body.readableBytesView)
    }

    /// The complete file text, armoured as ssh-keygen writes it (base64 in 70-column lines).
    ///
    /// - Parameters:
    ///   - key: The key to store, with its comment.
    ///   - passphrase: The passphrase to encrypt with; nil or empty for none.
    ///   - cipherName: The cipher, one of ``supportedCipherNames``.
    ///   - kdfRounds: The bcrypt rounds, 1 to ``maximumKDFRounds``.
    /// - Returns: The text of the file, "-----BEGIN OPENSSH PRIVATE KEY-----" to the end line and its newline.
    /// - Throws: ``SSHKeyError``, as ``encode(_:passphrase:cipherName:kdfRounds:)`` throws.
    public static func fileText(
        _ key: SSHPrivateKey, passphrase: String?, cipherName: String = defaultCipherName, kdfRounds: Int = defaultKDFRounds
    ) throws -> String {
        PEMArmor.armor(label: pemLabel, body: try encode(key, passphrase: passphrase, cipherName: cipherName, kdfRounds: kdfRounds), lineWidth: 70)
    }
}
