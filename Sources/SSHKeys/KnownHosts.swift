// known_hosts files (sshd(8) SSH_KNOWN_HOSTS FILE FORMAT): [marker] hostpatterns keytype base64 [comment],
// with hashed host names ("|1|base64 salt|base64 HMAC-SHA1(salt, name)"), "[host]:port" for ports other
// than 22, pattern lists with * ? and ! negation, and the @cert-authority and @revoked markers.

import Crypto
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

/// One key line of a known_hosts file.
///
/// The format is OpenSSH's (sshd(8) SSH_KNOWN_HOSTS FILE FORMAT): an optional marker, a host field, a key line.
public struct KnownHostsEntry: Sendable, Equatable {
    /// The word that may start a line and changes what its key means.
    public enum Marker: String, Sendable {
        /// No marker: the key is a host key of the named hosts.
        case none = ""
        /// The key is a certificate authority trusted to sign host certificates for the named hosts.
        case certificateAuthority = "@cert-authority"
        /// The key must never be accepted, whatever else says so.
        case revoked = "@revoked"
    }

    /// The line's marker, ``Marker/none`` when it has none.
    public var marker: Marker
    /// The host field as written: a pattern list, or one hashed name.
    public var hosts: String
    /// The recorded key.
    public var key: SSHPublicKey
    /// The text after the key, empty when there is none.
    public var comment: String
    /// Where the entry is, for messages like "Offending key in ~/.ssh/known_hosts:12".
    public var path: String
    /// The 1-based line number in ``path``.
    public var line: Int
    /// The line's text, unchanged.
    public var text: String
    /// Everything after the host field ("keytype base64 comment"), as ssh-keygen -H keeps it.
    public var rawKey: String

    /// Whether the host field is one hashed name ("|1|salt|hash", as `HashKnownHosts yes` writes).
    public var isHashed: Bool { hosts.hasPrefix("|") }

    /// Whether this entry names `hostName` (already in "[host]:port" form for ports other than 22).
    /// Plain patterns compare case-insensitively; a hashed name is compared exactly, as OpenSSH does.
    ///
    /// - Parameter hostName: The name to look for, from ``KnownHosts/hostName(_:port:)``.
    /// - Returns: True when a pattern matches and no negated pattern does, or the hashed name is this one.
    public func matches(hostName: String) -> Bool {
        KnownHosts.hostsField(hosts, matches: hostName)
    }
}

/// A line shaped like an entry whose key we cannot use: a key type OpenSSH knows but we do not
/// (ssh-dss, FIDO, certificates as plain keys) or a damaged blob. Lookups skip it; rewriting tools
/// (ssh-keygen -R/-H) treat it as an entry, as OpenSSH's do.
public struct KnownHostsUnusableEntry: Sendable, Equatable {
    /// The line's marker.
    public var marker: KnownHostsEntry.Marker
    /// The host field as written.
    public var hosts: String
    /// Everything after the host field, as written.
    public var rawKey: String
    /// The line's text, unchanged.
    public var text: String

    /// Whether this line names `hostName`, with the same rules as ``KnownHostsEntry/matches(hostName:)``.
    ///
    /// - Parameter hostName: The name to look for, from ``KnownHosts/hostName(_:port:)``.
    /// - Returns: True when the host field names the host.
    public func matches(hostName: String) -> Bool {
        KnownHosts.hostsField(hosts, matches: hostName)
    }

    /// The blob of an "ssh-dss" line, when it decodes: DSA keys are never used, only listed.
    public var legacyDSABlob: [UInt8]? {
        let fields = rawKey.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2, fields[0] == "ssh-dss", let blob = Data(base64Encoded: String(fields[1])) else { return nil }
        return Array(blob)
    }
}

/// A parsed known_hosts file: every line kept in order, so rewriting it changes only what was meant.
public struct KnownHostsFile: Sendable {
    /// One line of the file, as understood.
    public enum Line: Sendable {
        /// A comment or blank line.
        case other(String)
        /// A usable entry.
        case entry(KnownHostsEntry)
        /// A line that is not a valid entry (kept when rewriting, reported as a warning).
        case invalid(String, reason: String)
        /// An entry we cannot use (reported as a warning, skipped by lookups).
        case unusable(KnownHostsUnusableEntry, reason: String)
    }

    /// The file's path, used in warnings and in each entry's ``KnownHostsEntry/path``.
    public var path: String
    /// Every line of the file, in order.
    public var lines: [Line]

    /// The usable entries, in file order.
    public var entries: [KnownHostsEntry] {
        lines.compactMap { if case .entry(let entry) = $0 { return entry } else { return nil } }
    }

    /// "path:line: why" for every line that was not understood.
    public var warnings: [String] {
        lines.enumerated().compactMap { index, line in
            switch line {
            case .invalid(_, let reason), .unusable(_, let reason): return "\(path):\(index + 1): \(reason)"
            case .entry, .other: return nil
            }
        }
    }

    /// Parses a file's text. Parsing never fails: lines that cannot be used are kept as ``Line/invalid(_:reason:)`` or
    /// ``Line/unusable(_:reason:)`` and reported by ``warnings``.
    ///
    /// ```swift
    /// let file = KnownHostsFile(
    ///     parsing: "example.org,192.0.2.7 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPsWVXe42WIBK0WpNckOtBREZfgQOcjKUMNZfZcSMwWP\n",
    ///     path: "known_hosts")
    /// let name = KnownHosts.hostName("example.org", port: 22)
    /// if case .known(let entry) = KnownHosts.check(hostKey, hostName: name, files: [file]) {
    ///     print("recorded at \(entry.path):\(entry.line)")
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - text: The file's contents.
    ///   - path: The file's path, named in warnings and entries.
    public init(parsing text: String, path: String) {
        self.path = path
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        self.lines = lines.enumerated().map { index, text in Self.parseLine(text, path: path, number: index + 1) }
    }

    /// Reads a file; a missing file is an empty one (as for ssh), other failures throw.
    ///
    /// - Parameter path: The file to read (at most 64 MiB).
    /// - Returns: The parsed file; an empty one when it does not exist.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/fileSystem(_:)`` or ``SSHKeyError/Code/fileTooLarge(bytes:)``.
    public static func load(path: String) throws -> KnownHostsFile {
        do {
            let bytes = try SSHKeyFile.readFile(atPath: path, maximumSize: 64 << 20)
            return KnownHostsFile(parsing: String(decoding: bytes, as: UTF8.self), path: path)
        } catch let error as SSHKeyError where error.code == .fileSystem("No such file or directory") {
            return KnownHostsFile(parsing: "", path: path)
        }
    }

    static func parseLine(_ text: String, path: String, number: Int) -> Line {
        var rest = Substring(text.hasSuffix("\r") ? String(text.dropLast()) : text)
        rest = rest.drop(while: { $0 == " " || $0 == "\t" })
        if rest.isEmpty || rest.hasPrefix("#") { return .other(text) }
        guard text.utf8.count <= 16 * 1024 else { return .invalid(text, reason: "line too long") }
        var marker = KnownHostsEntry.Marker.none
        if rest.hasPrefix("@") {
            let word = rest.prefix(while: { $0 != " " && $0 != "\t" })
            guard let parsed = KnownHostsEntry.Marker(rawValue: String(word)), parsed != .none else {
                return .invalid(text, reason: "invalid marker")
            }
            marker = parsed
            rest = rest.dropFirst(word.count).drop(while: { $0 == " " || $0 == "\t" })
            if rest.hasPrefix("@") { return .invalid(text, reason: "more than one marker") }
        }
        let hosts = rest.prefix(while: { $0 != " " && $0 != "\t" })
        rest = rest.dropFirst(hosts.count).drop(while: { $0 == " " || $0 == "\t" })
        guard !hosts.isEmpty, !rest.isEmpty, !rest.hasPrefix("#") else {
            return .invalid(text, reason: "missing key")
        }
        if hosts.hasPrefix("|"), KnownHosts.salt(ofHashedName: String(hosts)) == nil {
            return .invalid(text, reason: "bad hashed host name")
        }
        let keyLine: SSHPublicKeyLine
        do {
            keyLine = try SSHPublicKeyLine(parsing: String(rest))
        } catch {
            let reason = "invalid key: \((error as? SSHKeyError)?.reason ?? "\(error)")"
            // OpenSSH's editing tools accept any known type name followed by something.
            let typeName = rest.prefix(while: { $0 != " " && $0 != "\t" })
            let afterType = rest.dropFirst(typeName.count).drop(while: { $0 == " " || $0 == "\t" })
            if KnownHosts.openSSHKeyTypeNames.contains(String(typeName)), !afterType.isEmpty, !afterType.hasPrefix("#") {
                return .unusable(KnownHostsUnusableEntry(marker: marker, hosts: String(hosts), rawKey: String(rest), text: text),
                                 reason: reason)
            }
            return .invalid(text, reason: reason)
        }
        return .entry(KnownHostsEntry(
            marker: marker, hosts: String(hosts), key: keyLine.key, comment: keyLine.comment,
            path: path, line: number, text: text, rawKey: String(rest)))
    }
}

/// Host key verification against known_hosts files, and the edits ssh and ssh-keygen make to them.
public enum KnownHosts {
    /// The name a host is recorded under: "host", or "[host]:port" when the port is not 22.
    ///
    /// - Parameters:
    ///   - host: The host name or address.
    ///   - port: The port.
    /// - Returns: The name to look up and record.
    public static func hostName(_ host: String, port: Int) -> String {
        port == 22 ? host : "[\(host)]:\(port)"
    }

    /// Key type names OpenSSH's known_hosts code recognises, usable by us or not.
    static let openSSHKeyTypeNames: Set<String> = {
        let plain = ["ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                     "sk-ecdsa-sha2-nistp256@openssh.com", "sk-ssh-ed25519@openssh.com", "ssh-xmss@openssh.com"]
        let certificates = plain.map { name -> String in
            let base = name.hasSuffix("@openssh.com") ? String(name.dropLast("@openssh.com".count)) : name
            return "\(base)-cert-v01@openssh.com"
        }
        return Set(plain + certificates)
    }()

    /// Whether a host field (pattern list or one hashed name) names `hostName`. Plain patterns compare
    /// case-insensitively; a hashed name is compared exactly, as OpenSSH does.
    ///
    /// - Parameters:
    ///   - hosts: A host field: comma-separated patterns (with `*`, `?` and `!`), or one hashed name.
    ///   - hostName: The name to look for, from ``hostName(_:port:)``.
    /// - Returns: True when the field names the host.
    public static func hostsField(_ hosts: String, matches hostName: String) -> Bool {
        if hosts.hasPrefix("|") {
            guard let salt = salt(ofHashedName: hosts) else { return false }
            return hashedName(hostName, salt: salt) == hosts
        }
        return OpenSSHPattern.matchList(hostName.lowercased(), patternList: hosts, caseInsensitive: true) == .matched
    }

    // MARK: Hashed names

    static let hashMagic = "|1|"

    /// The 20-byte salt of a "|1|salt|hash" name, or nil when it is not one.
    static func salt(ofHashedName name: String) -> [UInt8]? {
        guard name.hasPrefix(hashMagic) else { return nil }
        let parts = name.dropFirst(hashMagic.count).split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count <= 1024,
              let salt = Data(base64Encoded: String(parts[0])), salt.count == 20,
              let hash = Data(base64Encoded: String(parts[1])), hash.count == 20
        else { return nil }
        return Array(salt)
    }

    /// "|1|base64(salt)|base64(HMAC-SHA1(salt, name))"; a fresh random salt when none is given.
    ///
    /// - Parameters:
    ///   - name: The host name to hash, from ``hostName(_:port:)``.
    ///   - salt: A 20-byte salt, or nil for a fresh random one.
    /// - Returns: The hashed name, as `ssh-keygen -H` writes it.
    public static func hashedName(_ name: String, salt: [UInt8]? = nil) -> String {
        let salt = salt ?? (0..<20).map { _ in UInt8.random(in: .min ... .max) }
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(name.utf8), using: SymmetricKey(data: salt))
        return "\(hashMagic)\(Data(salt).base64EncodedString())|\(Data(mac).base64EncodedString())"
    }

    // MARK: Verification

    /// What the files say about a key a host presented.
    public enum Verdict: Sendable, Equatable {
        /// The key is recorded for this host.
        case known(KnownHostsEntry)
        /// The host is recorded with other keys and not this one: the loud warning. Carries the entry to name.
        case changed(KnownHostsEntry)
        /// The key is marked @revoked.
        case revoked(KnownHostsEntry)
        /// Nothing is recorded for this host.
        case unknown
    }

    /// Checks `key` for `hostName` ("[host]:port" form) against the entries of `files`, as OpenSSH's
    /// check_key_in_hostkeys does: a revoked key loses whatever else matched; otherwise any other plain key
    /// recorded for the host (of any type) means the key has changed.
    ///
    /// - Parameters:
    ///   - key: The host key the server presented.
    ///   - hostName: The name from ``hostName(_:port:)``.
    ///   - files: The known_hosts files, user's first, as ssh reads them.
    /// - Returns: What the files say, carrying the entry to name in a message.
    public static func check(_ key: SSHPublicKey, hostName: String, files: [KnownHostsFile]) -> Verdict {
        let matching = files.flatMap(\.entries).filter { $0.matches(hostName: hostName) }
        if let revoked = matching.first(where: { $0.marker == .revoked && $0.key == key }) {
            return .revoked(revoked)
        }
        var changed: KnownHostsEntry?
        for entry in matching where entry.marker == .none {
            if entry.key == key { return .known(entry) }
            changed = changed ?? entry
        }
        return changed.map { .changed($0) } ?? .unknown
    }

    /// What the files say about a host certificate.
    public enum CertificateVerdict: Sendable, Equatable {
        /// Signed by a CA trusted for this host (@cert-authority), and valid for it now.
        case trusted(KnownHostsEntry)
        /// The certificate's key or its CA is marked @revoked.
        case revoked(KnownHostsEntry)
        /// A trusted CA signed it, but the certificate is not acceptable (expired, wrong principal, ...).
        case refused(SSHCertificate.Refusal)
        /// No @cert-authority line for this host holds the signing key.
        case untrustedAuthority
    }

    /// Checks a host certificate: `hostName` in "[host]:port" form selects the @cert-authority lines,
    /// `principal` (the host name as the user typed it, without port) must be listed in the certificate.
    ///
    /// - Parameters:
    ///   - certificate: The host certificate the server presented.
    ///   - hostName: The name from ``hostName(_:port:)``.
    ///   - principal: The host name as the user typed it.
    ///   - files: The known_hosts files.
    ///   - now: The current time, in seconds since 1970.
    /// - Returns: Whether the certificate is trusted, and why not when it is not.
    public static func check(
        certificate: SSHCertificate, hostName: String, principal: String, files: [KnownHostsFile], now: UInt64
    ) -> CertificateVerdict {
        let matching = files.flatMap(\.entries).filter { $0.matches(hostName: hostName) }
        if let revoked = matching.first(where: { $0.marker == .revoked && ($0.key == certificate.key || $0.key == certificate.signatureKey) }) {
            return .revoked(revoked)
        }
        guard let authority = matching.first(where: { $0.marker == .certificateAuthority && $0.key == certificate.signatureKey }) else {
            return .untrustedAuthority
        }
        switch certificate.validate(kind: .host, trustedAuthorities: [authority.key], principal: principal, time: now) {
        case .success: return .trusted(authority)
        case .failure(let refusal): return .refused(refusal)
        }
    }

    /// The key types recorded (without markers) for a host, first-seen order, so a client can prefer them.
    ///
    /// - Parameters:
    ///   - hostName: The name from ``hostName(_:port:)``.
    ///   - files: The known_hosts files.
    /// - Returns: The key types, without repeats.
    public static func knownKeyTypes(hostName: String, files: [KnownHostsFile]) -> [SSHKeyType] {
        var types: [SSHKeyType] = []
        for entry in files.flatMap(\.entries) where entry.marker == .none && entry.matches(hostName: hostName) {
            if !types.contains(entry.key.type) { types.append(entry.key.type) }
        }
        return types
    }

    /// Certificate authorities trusted for a host (@cert-authority lines).
    ///
    /// - Parameters:
    ///   - hostName: The name from ``hostName(_:port:)``.
    ///   - files: The known_hosts files.
    /// - Returns: The @cert-authority entries that name the host, in file order.
    public static func certificateAuthorities(hostName: String, files: [KnownHostsFile]) -> [KnownHostsEntry] {
        files.flatMap(\.entries).filter { $0.marker == .certificateAuthority && $0.matches(hostName: hostName) }
    }

    // MARK: Editing

    /// The line ssh writes for a newly accepted host: lower-cased names (hashed one per line if asked).
    ///
    /// - Parameters:
    ///   - names: The names to record, e.g. the host name and its address.
    ///   - key: The accepted host key.
    ///   - hashed: Whether to hash the names (`HashKnownHosts`).
    /// - Returns: The lines, without newlines: one line, or one per name when hashed.
    public static func entryLines(names: [String], key: SSHPublicKey, hashed: Bool) -> [String] {
        let lowered = names.map { $0.lowercased() }
        if hashed { return lowered.map { "\(hashedName($0)) \(key.description)" } }
        return ["\(lowered.joined(separator: ",")) \(key.description)"]
    }

    /// Appends lines under an exclusive lock (flock), so two processes adding hosts at once both land whole.
    /// A missing file is created with `mode`.
    ///
    /// - Parameters:
    ///   - lines: The lines to add, without newlines.
    ///   - path: The known_hosts file.
    ///   - mode: The permission bits of a newly created file.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/fileSystem(_:)`` when the file cannot be opened, locked or written.
    public static func append(_ lines: [String], toPath path: String, mode: mode_t = 0o644) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SSHKeyError(.fileSystem(SSHKeyFile.lastErrorText()), path: path) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw SSHKeyError(.fileSystem(SSHKeyFile.lastErrorText()), path: path) }
        }
        defer { flock(fd, LOCK_UN) }
        // A file whose last line lacks its newline gets one, so our entry starts on its own line.
        var info = stat()
        var prefix = ""
        if fstat(fd, &info) == 0, info.st_size > 0 {
            let readFD = open(path, O_RDONLY | O_CLOEXEC)
            if readFD >= 0 {
                var last: UInt8 = 0
                if pread(readFD, &last, 1, off_t(info.st_size - 1)) == 1, last != UInt8(ascii: "\n") { prefix = "\n" }
                close(readFD)
            }
        }
        let bytes = Array((prefix + lines.map { $0 + "\n" }.joined()).utf8)
        try SSHKeyFile.writeAll(fd: fd, bytes: bytes, path: path)
        guard fsync(fd) == 0 || errno == EINVAL else {
            throw SSHKeyError(.fileSystem(SSHKeyFile.lastErrorText()), path: path)
        }
    }
}
