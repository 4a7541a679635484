// OpenSSH certificates (*-cert-v01@openssh.com, OpenSSH's PROTOCOL.certkeys): a public key plus serial, type,
// key id, principals, validity window, critical options and extensions, signed by a certificate authority.

import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: it would load ICU, ~3 ms at every start of a command
#else
import Foundation
#endif
import NIOCore
import SSHWire

/// A certificate option: a name and its data. Flag options have empty data; valued ones (force-command,
/// source-address) carry a string.
///
/// - SeeAlso: ``SSHCertificate/criticalOptions``, ``SSHCertificate/extensions``.
public struct SSHCertificateOption: Sendable, Hashable {
    /// The option's name, e.g. "force-command" or "permit-pty".
    public var name: String
    /// The option's data as carried in the certificate: empty for a flag, an SSH `string` for a valued option.
    public var data: [UInt8]

    /// Creates an option from its raw data.
    ///
    /// - Parameters:
    ///   - name: The option's name.
    ///   - data: The option's data, empty for a flag option.
    public init(name: String, data: [UInt8] = []) {
        self.name = name
        self.data = data
    }

    /// An option whose data is one string (force-command, source-address).
    ///
    /// - Parameters:
    ///   - name: The option's name.
    ///   - stringValue: The value, stored as one SSH `string` inside the data.
    public init(name: String, stringValue: String) {
        var buffer = ByteBuffer()
        buffer.writeSSHString(stringValue)
        self.init(name: name, data: Array(buffer.readableBytesView))
    }

    /// The string inside the data, for valued options.
    public var stringValue: String? {
        var buffer = ByteBuffer(bytes: data)
        guard let value = try? buffer.readSSHUTF8String(field: name), buffer.readableBytes == 0 else { return nil }
        return value
    }
}

/// An OpenSSH certificate (PROTOCOL.certkeys): a public key signed by a certificate authority together with who
/// may use it, for what, and when.
///
/// Parse one with ``init(wireBlob:)`` or ``parseLine(_:)``, check it with ``validate(kind:trustedAuthorities:principal:time:sourceAddress:allowEmptyPrincipals:)``,
/// and make one with ``issue(for:authority:kind:keyID:principals:validAfter:validBefore:serial:criticalOptions:extensions:)``.
public struct SSHCertificate: Sendable, Hashable {
    /// Whether the certificate is for a user or a host.
    public enum Kind: UInt32, Sendable {
        /// A user certificate, presented in public key authentication.
        case user = 1
        /// A host certificate, presented as the server's host key.
        case host = 2
    }

    /// The key being certified.
    public var key: SSHPublicKey
    /// Random bytes the CA chose, so that certificates never sign predictable data.
    public var nonce: [UInt8]
    /// The serial number the CA gave the certificate (0 when it gave none).
    public var serial: UInt64
    /// Whether this is a user or a host certificate.
    public var kind: Kind
    /// The CA's free-text name for the certificate, logged when it is used.
    public var keyID: String
    /// The user names (user certificates) or host names (host certificates) the certificate is valid for.
    ///
    /// Empty means "any principal" for OpenSSH's checks; we refuse that unless the caller asks (see `validate`).
    public var principals: [String]
    /// Seconds since the epoch; 0 is "always".
    public var validAfter: UInt64
    /// Seconds since the epoch; UInt64.max is "forever".
    public var validBefore: UInt64
    /// Restrictions a server must understand and enforce, or refuse the certificate.
    public var criticalOptions: [SSHCertificateOption]
    /// Permissions a server may ignore, e.g. "permit-pty".
    public var extensions: [SSHCertificateOption]
    /// The certificate authority's public key.
    public var signatureKey: SSHPublicKey
    /// The CA's signature over everything in ``wireBlob`` before the signature itself.
    public var signature: SSHSignature
    /// The whole certificate blob, as sent on the wire and stored after the type name in "-cert.pub" files.
    public let wireBlob: [UInt8]
    /// How many leading bytes of the blob the CA signed.
    let signedByteCount: Int

    /// "ssh-ed25519-cert-v01@openssh.com" and so on.
    public var typeName: String { Self.certificateTypeName(for: key.type) }

    /// OpenSSH's label, e.g. "ED25519-CERT".
    public var displayName: String { key.type.displayName + "-CERT" }

    static func certificateTypeName(for type: SSHKeyType) -> String {
        "\(type.rawValue)-cert-v01@openssh.com"
    }

    static func plainType(forCertificateTypeName name: String) -> SSHKeyType? {
        SSHKeyType.allCases.first { certificateTypeName(for: $0) == name }
    }

    /// Parses a certificate blob; the signature is not checked here (see `hasValidSignature`).
    ///
    /// - Parameter wireBlob: The certificate blob, starting with its type name.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/unsupportedKeyType(_:)`` for a certificate type shh does not
    ///   implement, or ``SSHKeyError/Code/invalidFormat(_:)`` for a malformed blob or options out of order.
    public init(wireBlob: [UInt8]) throws {
        var buffer = ByteBuffer(bytes: wireBlob)
        do {
            let typeName = try buffer.readSSHUTF8String(field: "certificate type")
            guard let plainType = Self.plainType(forCertificateTypeName: typeName) else {
                throw SSHKeyError(.unsupportedKeyType(typeName))
            }
            nonce = try buffer.readSSHStringBytes(field: "certificate nonce")
            // The key's own fields follow, exactly as in a plain key blob after its type name.
            var plainBlob = ByteBuffer()
            plainBlob.writeSSHString(plainType.rawValue)
            let prefix = plainBlob.readableBytes
            var remaining = buffer
            plainBlob.writeBuffer(&remaining)
            key = try SSHPublicKey(reading: &plainBlob)
            buffer.moveReaderIndex(forwardBy: key.wireBlob.count - prefix)
            serial = try buffer.readSSHUInt64(field: "certificate serial")
            let kindValue = try buffer.readSSHUInt32(field: "certificate type")
            guard let kind = Kind(rawValue: kindValue) else {
                throw SSHKeyError(.invalidFormat("certificate type \(kindValue) is neither user (1) nor host (2)"))
            }
            self.kind = kind
            keyID = try buffer.readSSHUTF8String(field: "certificate key id")
            var principalBuffer = try buffer.readSSHString(field: "certificate principals")
            var principals: [String] = []
            while principalBuffer.readableBytes > 0 {
                principals.append(try principalBuffer.readSSHUTF8String(field: "certificate principal"))
            }
            self.principals = principals
            validAfter = try buffer.readSSHUInt64(field: "certificate valid after")
            validBefore = try buffer.readSSHUInt64(field: "certificate valid before")
            criticalOptions = try Self.readOptions(try buffer.readSSHString(field: "critical options"), what: "critical option")
            extensions = try Self.readOptions(try buffer.readSSHString(field: "extensions"), what: "extension")
            _ = try buffer.readSSHString(field: "certificate reserved")
            let caBlob = try buffer.readSSHStringBytes(field: "certificate signature key")
            signatureKey = try SSHPublicKey(wireBlob: caBlob)
            signedByteCount = buffer.readerIndex
            signature = try SSHSignature(wireBlob: try buffer.readSSHStringBytes(field: "certificate signature"))
            try buffer.expectFullyConsumed(field: "certificate")
        } catch let error as SSHWireError {
            throw SSHKeyError(.invalidFormat("malformed certificate: \(error)"))
        }
        self.wireBlob = wireBlob
    }

    /// Names must be unique and in order (PROTOCOL.certkeys), so no option can be hidden by a duplicate.
    static func readOptions(_ container: ByteBuffer, what: String) throws -> [SSHCertificateOption] {
        var buffer = container
        var options: [SSHCertificateOption] = []
        while buffer.readableBytes > 0 {
            let name = try buffer.readSSHUTF8String(field: "\(what) name")
            let data = try buffer.readSSHStringBytes(field: "\(what) data")
            if let previous = options.last?.name, !(previous.utf8.lexicographicallyPrecedes(name.utf8)) {
                throw SSHKeyError(.invalidFormat("certificate \(what)s are duplicated or out of order (\"\(name)\")"))
            }
            options.append(SSHCertificateOption(name: name, data: data))
        }
        return options
    }

    // MARK: Checking

    /// Whether the CA's signature over the certificate verifies (SHA-1 RSA signatures are not accepted,
    /// as OpenSSH's default CASignatureAlgorithms).
    public var hasValidSignature: Bool {
        signatureKey.isValidSignature(signature, for: wireBlob[0..<signedByteCount])
    }

    /// Why a certificate is not acceptable.
    public enum Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        /// The CA's signature does not verify.
        case badSignature
        /// The CA is not one of the trusted authorities.
        case untrustedAuthority
        /// A host certificate where a user certificate was needed, or the other way round.
        case wrongKind(expected: Kind)
        /// The certificate's validity starts later.
        case notYetValid
        /// The certificate's validity has ended.
        case expired
        /// The principal is not among the certificate's principals.
        case principalNotListed(String)
        /// The certificate lists no principals, and the caller did not allow that.
        case noPrincipals
        /// A critical option this implementation does not enforce.
        case unknownCriticalOption(String)
        /// A critical option whose value is not what its name requires (force-command and source-address hold one
        /// string; verify-required holds nothing): refused, as reading it as absent would drop the restriction.
        case malformedCriticalOption(String)
        /// The client's address is outside the source-address option.
        case sourceAddressNotAllowed(String)

        /// The reason in one line, for the log.
        public var description: String {
            switch self {
            case .badSignature: return "certificate signature does not verify"
            case .untrustedAuthority: return "certificate signed by an unrecognised authority"
            case .wrongKind(let expected): return "certificate is not a \(expected == .user ? "user" : "host") certificate"
            case .notYetValid: return "certificate is not yet valid"
            case .expired: return "certificate has expired"
            case .principalNotListed(let name): return "certificate does not list principal \"\(name)\""
            case .noPrincipals: return "certificate lists no principals"
            case .unknownCriticalOption(let name): return "certificate has unknown critical option \"\(name)\""
            case .malformedCriticalOption(let name): return "certificate has a malformed critical option \"\(name)\""
            case .sourceAddressNotAllowed(let address): return "certificate source-address does not allow \(address)"
            }
        }
    }

    /// Validates as sshd/ssh do (sshkey_cert_check_authority): signature, a CA in `trustedAuthorities`, kind,
    /// validity at `time`, `principal` listed (an empty list is refused unless `allowEmptyPrincipals`),
    /// critical options understood, and source-address matching `sourceAddress` when given.
    ///
    /// - Parameters:
    ///   - expected: The kind of certificate needed.
    ///   - trustedAuthorities: The CA keys trusted for this use.
    ///   - principal: The user or host name that must be listed; nil skips the check.
    ///   - time: The current time, in seconds since 1970.
    ///   - sourceAddress: The client's address, checked against a source-address option; nil skips the check.
    ///   - allowEmptyPrincipals: Accept a certificate listing no principals (as for a CA in authorized_keys).
    /// - Returns: Success, or the first reason to refuse.
    public func validate(
        kind expected: Kind, trustedAuthorities: [SSHPublicKey], principal: String?, time: UInt64,
        sourceAddress: String? = nil, allowEmptyPrincipals: Bool = false
    ) -> Result<Void, Refusal> {
        guard trustedAuthorities.contains(signatureKey) else { return .failure(.untrustedAuthority) }
        guard hasValidSignature else { return .failure(.badSignature) }
        guard kind == expected else { return .failure(.wrongKind(expected: expected)) }
        guard time >= validAfter else { return .failure(.notYetValid) }
        guard time < validBefore else { return .failure(.expired) }
        if let principal {
            if principals.isEmpty {
                if !allowEmptyPrincipals { return .failure(.noPrincipals) }
            } else if !principals.contains(principal) {
                return .failure(.principalNotListed(principal))
            }
        }
        let known: Set<String> = expected == .user ? ["force-command", "source-address", "verify-required"] : []
        for option in criticalOptions where !known.contains(option.name) {
            return .failure(.unknownCriticalOption(option.name))
        }
        for option in criticalOptions {
            let wellFormed = option.name == "verify-required" ? option.data.isEmpty : option.stringValue != nil
            if !wellFormed { return .failure(.malformedCriticalOption(option.name)) }
        }
        if let sourceAddress, let allowed = sourceAddressOption {
            if HostAddressPattern.matchAddress(sourceAddress, patterns: allowed) != 1 {
                return .failure(.sourceAddressNotAllowed(sourceAddress))
            }
        }
        return .success(())
    }

    /// The command of the force-command critical option, if present.
    public var forceCommand: String? { criticalOptions.first { $0.name == "force-command" }?.stringValue }
    /// The address patterns of the source-address critical option, if present.
    public var sourceAddressOption: String? { criticalOptions.first { $0.name == "source-address" }?.stringValue }

    // MARK: Text

    /// "type base64 [comment]" for a certificate line (a -cert.pub file).
    ///
    /// - Parameter line: A line such as the contents of a "-cert.pub" file.
    /// - Returns: The certificate and the line's comment (empty when there is none).
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/invalidFormat(_:)`` for a line that is not a certificate,
    ///   ``SSHKeyError/Code/mismatch(_:)`` when the type word and blob disagree, or as ``init(wireBlob:)`` throws.
    public static func parseLine(_ line: String) throws -> (certificate: SSHCertificate, comment: String) {
        let fields = line.trimmingSSHWhitespace.split(maxSplits: 2, omittingEmptySubsequences: true, whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2, let blob = Data(base64Encoded: String(fields[1])) else {
            throw SSHKeyError(.invalidFormat("not a certificate line"))
        }
        let certificate = try SSHCertificate(wireBlob: Array(blob))
        guard certificate.typeName == fields[0] else {
            throw SSHKeyError(.mismatch("line says \(fields[0]) but holds a \(certificate.typeName)"))
        }
        return (certificate, fields.count > 2 ? fields[2].trimmingSSHWhitespace : "")
    }

    /// "type base64" without a comment: the line a "-cert.pub" file holds.
    public var lineText: String { "\(typeName) \(Data(wireBlob).base64EncodedString())" }

    // MARK: Issuing

    /// Signs a certificate for `key` with the CA key `authority`. Options are sorted by name, as OpenSSH requires.
    ///
    /// - Parameters:
    ///   - key: The public key to certify.
    ///   - authority: The CA's private key.
    ///   - kind: User or host certificate.
    ///   - keyID: The CA's name for the certificate.
    ///   - principals: The user or host names it is valid for.
    ///   - validAfter: Start of validity, seconds since 1970 (0: always).
    ///   - validBefore: End of validity, seconds since 1970 (`UInt64.max`: forever).
    ///   - serial: The serial number.
    ///   - criticalOptions: Restrictions, e.g. force-command.
    ///   - extensions: Permissions, e.g. ``defaultUserExtensions``.
    /// - Returns: The signed certificate.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/unsupportedRSAKeySize(bits:)`` for a key too large to use,
    ///   or as ``SSHPrivateKey/signature(for:algorithm:)`` throws.
    public static func issue(
        for key: SSHPublicKey, authority: SSHPrivateKey, kind: Kind, keyID: String, principals: [String],
        validAfter: UInt64 = 0, validBefore: UInt64 = .max, serial: UInt64 = 0,
        criticalOptions: [SSHCertificateOption] = [], extensions: [SSHCertificateOption] = []
    ) throws -> SSHCertificate {
        guard key.canVerifySignatures else { throw SSHKeyError(.unsupportedRSAKeySize(bits: key.bitCount)) }
        var buffer = ByteBuffer()
        buffer.writeSSHString(certificateTypeName(for: key.type))
        buffer.writeSSHString((0..<32).map { _ in UInt8.random(in: .min ... .max) })
        // The key's fields without its type name.
        var plain = ByteBuffer(bytes: key.wireBlob)
        _ = try plain.readSSHString(field: "key type")
        buffer.writeBuffer(&plain)
        buffer.writeSSHUInt64(serial)
        buffer.writeSSHUInt32(kind.rawValue)
        buffer.writeSSHString(keyID)
        var principalBuffer = ByteBuffer()
        for principal in principals { principalBuffer.writeSSHString(principal) }
        buffer.writeSSHString(buffer: principalBuffer)
        buffer.writeSSHUInt64(validAfter)
        buffer.writeSSHUInt64(validBefore)
        for options in [criticalOptions, extensions] {
            var optionBuffer = ByteBuffer()
            for option in options.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
                optionBuffer.writeSSHString(option.name)
                optionBuffer.writeSSHString(option.data)
            }
            buffer.writeSSHString(buffer: optionBuffer)
        }
        buffer.writeSSHString([UInt8]())
        buffer.writeSSHString(authority.publicKey.wireBlob)
        let signature = try authority.signature(for: Array(buffer.readableBytesView))
        buffer.writeSSHString(signature.wireBlob)
        return try SSHCertificate(wireBlob: Array(buffer.readableBytesView))
    }

    /// The extensions ssh-keygen puts in user certificates by default.
    public static let defaultUserExtensions = ["permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding",
                                               "permit-pty", "permit-user-rc"].map { SSHCertificateOption(name: $0) }
}
