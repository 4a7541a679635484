// authorized_keys files (sshd(8) AUTHORIZED_KEYS FILE FORMAT): [options] keytype base64 [comment], with the
// options parsed into a typed value exactly as OpenSSH's auth-options.c reads them (order matters: "restrict"
// then "pty" re-enables a pty; "pty,restrict" does not), and a matcher for a presented key and source address.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The options of one authorized_keys line, with OpenSSH's defaults (everything permitted).
public struct AuthorizedKeyOptions: Sendable, Equatable {
    /// "cert-authority": the key is a CA whose user certificates may log in, not a key that may log in itself.
    public var certificateAuthority = false
    /// "restrict" was given (forwarding, pty and user-rc off unless re-enabled after it).
    public var restricted = false
    /// The command= value: the command run instead of whatever the client asks for.
    public var command: String?
    /// NAME=value strings, first value of each NAME kept (used only when PermitUserEnvironment allows).
    public var environment: [String] = []
    /// Seconds since the epoch after which the key is refused.
    public var expiryTime: Int?
    /// The from= pattern list (host names, addresses, CIDR, ! negation).
    public var from: String?
    /// principals= (only meaningful with cert-authority).
    public var principals: String?
    /// permitopen= "host:port" (port may be *).
    public var permitOpen: [String] = []
    /// permitlisten= "[host:]port"; a bare port is recorded as "*:port", as OpenSSH does.
    public var permitListen: [String] = []
    /// tunnel= device ("any" or a number).
    public var tunnel: String?
    /// Whether TCP forwarding is allowed ("no-port-forwarding", "restrict" and "port-forwarding" set it).
    public var portForwarding = true
    /// Whether agent forwarding is allowed ("no-agent-forwarding", "restrict", "agent-forwarding").
    public var agentForwarding = true
    /// Whether X11 forwarding is allowed ("no-X11-forwarding", "restrict", "X11-forwarding").
    public var x11Forwarding = true
    /// Whether a terminal may be allocated ("no-pty", "restrict", "pty").
    public var pty = true
    /// Whether ~/.ssh/rc runs ("no-user-rc", "restrict", "user-rc").
    public var userRC = true
    /// no-touch-required / verify-required apply to FIDO (sk-) keys only, which we do not accept.
    public var noTouchRequired = false
    /// "verify-required": see ``noTouchRequired``.
    public var verifyRequired = false

    /// Options with OpenSSH's defaults, as for a line that has none.
    public init() {}

    /// Parses the options field (everything before the key type). Throws OpenSSH's message for a bad option.
    ///
    /// - Parameter text: The comma-separated options, e.g. `restrict,command="uptime",from="192.0.2.0/24"`.
    /// - Throws: ``SSHKeyError`` with ``SSHKeyError/Code/invalidFormat(_:)`` naming the bad option.
    public init(parsing text: String) throws {
        self.init()
        var rest = Substring(text)
        func fail(_ message: String) -> SSHKeyError { SSHKeyError(.invalidFormat(message)) }
        while let first = rest.first, first != " ", first != "\t" {
            if Self.flag("restrict", allowNegation: false, &rest) != nil {
                restricted = true
                (portForwarding, agentForwarding, x11Forwarding, pty, userRC) = (false, false, false, false, false)
            } else if Self.flag("cert-authority", allowNegation: false, &rest) != nil {
                certificateAuthority = true
            } else if let on = Self.flag("port-forwarding", allowNegation: true, &rest) {
                portForwarding = on
            } else if let on = Self.flag("agent-forwarding", allowNegation: true, &rest) {
                agentForwarding = on
            } else if let on = Self.flag("x11-forwarding", allowNegation: true, &rest) {
                x11Forwarding = on
            } else if let on = Self.flag("touch-required", allowNegation: true, &rest) {
                noTouchRequired = !on
            } else if let on = Self.flag("verify-required", allowNegation: true, &rest) {
                verifyRequired = on
            } else if let on = Self.flag("pty", allowNegation: true, &rest) {
                pty = on
            } else if let on = Self.flag("user-rc", allowNegation: true, &rest) {
                userRC = on
            } else if Self.valueOption("command", &rest) {
                guard command == nil else { throw fail("multiple \"command\" clauses") }
                command = try Self.dequote(&rest)
            } else if Self.valueOption("principals", &rest) {
                guard principals == nil else { throw fail("multiple \"principals\" clauses") }
                principals = try Self.dequote(&rest)
            } else if Self.valueOption("from", &rest) {
                guard from == nil else { throw fail("multiple \"from\" clauses") }
                from = try Self.dequote(&rest)
            } else if Self.valueOption("expiry-time", &rest) {
                guard let time = AllowedSigners.parseTime(try Self.dequote(&rest)), time > 0 else {
                    throw fail("invalid expires time")
                }
                expiryTime = min(expiryTime ?? time, time)
            } else if Self.valueOption("environment", &rest) {
                let value = try Self.dequote(&rest)
                guard environment.count <= 1024 else { throw fail("too many environment strings") }
                guard let equals = value.firstIndex(of: "="), Self.isValidEnvironmentName(value[..<equals]) else {
                    throw fail("invalid environment string")
                }
                let name = value[...equals]
                if !environment.contains(where: { $0.hasPrefix(name) }) { environment.append(value) }
            } else if Self.valueOption("permitopen", &rest) {
                permitOpen.append(try Self.permission(try Self.dequote(&rest), allowBarePort: false, count: permitOpen.count))
            } else if Self.valueOption("permitlisten", &rest) {
                permitListen.append(try Self.permission(try Self.dequote(&rest), allowBarePort: true, count: permitListen.count))
            } else if Self.valueOption("tunnel", &rest) {
                let value = try Self.dequote(&rest)
                guard value == "any" || (UInt32(value).map { $0 < 0x7FFF_FFFF } ?? false) else { throw fail("invalid tun device") }
                tunnel = value
            }
            // Next must be the end of the options, or a comma and another option.
            guard let next = rest.first, next != " ", next != "\t" else { break }
            guard next == "," else { throw fail("unknown key option") }
            rest = rest.dropFirst()
            if rest.isEmpty { throw fail("unexpected end-of-options") }
        }
    }

    /// A flag option, optionally with a "no-" prefix; nil when `name` is not next. Case-insensitive, as in OpenSSH.
    static func flag(_ name: String, allowNegation: Bool, _ rest: inout Substring) -> Bool? {
        var cursor = rest
        var negated = false
        // Lowercase only the 3 characters compared, not the rest of the line: this runs for every flag name at
        // every option, so lowercasing the rest made a line of many options cost quadratic time.
        if allowNegation, cursor.prefix(3).lowercased() == "no-" {
            cursor = cursor.dropFirst(3)
            negated = true
        }
        guard cursor.prefix(name.count).lowercased() == name else { return nil }
        rest = cursor.dropFirst(name.count)
        return !negated
    }

    /// `name=` next (case-insensitive); consumes it.
    static func valueOption(_ name: String, _ rest: inout Substring) -> Bool {
        guard rest.prefix(name.count + 1).lowercased() == name + "=" else { return false }
        rest = rest.dropFirst(name.count + 1)
        return true
    }

    /// A double-quoted value in which only \" is an escape (OpenSSH's opt_dequote).
    static func dequote(_ rest: inout Substring) throws -> String {
        guard rest.first == "\"" else { throw SSHKeyError(.invalidFormat("missing start quote")) }
        var cursor = rest.dropFirst()
        var value = ""
        while let character = cursor.first, character != "\"" {
            if character == "\\", cursor.dropFirst().first == "\"" {
                cursor = cursor.dropFirst()
            }
            value.append(cursor.first!)
            cursor = cursor.dropFirst()
        }
        guard cursor.first == "\"" else { throw SSHKeyError(.invalidFormat("missing end quote")) }
        rest = cursor.dropFirst()
        return value
    }

    static func isValidEnvironmentName<S: StringProtocol>(_ name: S) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter || first == "_" else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    /// permitopen/permitlisten: "host:port", "[v6]:port", port "*"; a bare port only for permitlisten.
    static func permission(_ value: String, allowBarePort: Bool, count: Int) throws -> String {
        guard count < 4096 else { throw SSHKeyError(.invalidFormat("too many permission directives")) }
        let full = allowBarePort && !value.contains(":") ? "*:\(value)" : value
        let host: Substring
        let port: Substring
        if full.hasPrefix("[") {
            guard let close = full.firstIndex(of: "]"), full[full.index(after: close)...].hasPrefix(":") else {
                throw SSHKeyError(.invalidFormat("invalid permission hostname"))
            }
            host = full[full.index(after: full.startIndex)..<close]
            port = full[full.index(close, offsetBy: 2)...]
        } else {
            guard let colon = full.lastIndex(of: ":") else { throw SSHKeyError(.invalidFormat("invalid permission hostname")) }
            host = full[..<colon]
            port = full[full.index(after: colon)...]
        }
        guard !host.isEmpty, host.count < 1025 else { throw SSHKeyError(.invalidFormat("invalid permission hostname")) }
        guard port == "*" || (Int(port).map { (1...65535).contains($0) } ?? false) else {
            throw SSHKeyError(.invalidFormat("invalid permission port"))
        }
        return full
    }
}

/// One usable line of an authorized_keys file.
///
/// The format is OpenSSH's (sshd(8) AUTHORIZED_KEYS FILE FORMAT): optional options, then a public key line.
public struct AuthorizedKeysEntry: Sendable, Equatable {
    /// The line's options; the defaults when it has none.
    public var options: AuthorizedKeyOptions
    /// The key the line authorises (a CA key when ``AuthorizedKeyOptions/certificateAuthority`` is set).
    public var key: SSHPublicKey
    /// The text after the key, empty when there is none.
    public var comment: String
    /// The file the line is in, for the log.
    public var path: String
    /// The 1-based line number, for the log.
    public var line: Int
}

/// A parsed authorized_keys file; broken lines become warnings naming file and line.
public struct AuthorizedKeysFile: Sendable {
    /// The file's path, named in warnings and entries.
    public var path: String
    /// The usable lines, in file order.
    public var entries: [AuthorizedKeysEntry] = []
    /// "path:line: why" for each line that was skipped, for the log.
    public var warnings: [String] = []

    /// Parses a file's text. Parsing never fails: lines that cannot be used become ``warnings``.
    ///
    /// ```swift
    /// let file = AuthorizedKeysFile(parsing: text, path: "/home/alice/.ssh/authorized_keys")
    /// switch AuthorizedKeys.authorize(presentedKey, files: [file], sourceAddress: "192.0.2.7", now: now) {
    /// case .accept(let entry): print("accepted by line \(entry.line), pty allowed: \(entry.options.pty)")
    /// case .reject(let reasons): print(reasons.joined(separator: "; "))
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - text: The file's contents.
    ///   - path: The file's path, named in warnings and entries.
    public init(parsing text: String, path: String) {
        self.path = path
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = rawLine.trimmingSSHWhitespace
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard line.utf8.count <= 16 * 1024 else {
                warnings.append("\(path):\(number): line too long")
                continue
            }
            do {
                if let entry = try Self.parseLine(line, path: path, number: number) { entries.append(entry) }
            } catch let error as SSHKeyError {
                warnings.append("\(path):\(number): \(error.reason)")
            } catch {
                warnings.append("\(path):\(number): \(error)")
            }
        }
    }

    /// Where the first field of a key line ends: the first blank outside double quotes (`\"` does not close a
    /// quote). That field is an options list in authorized_keys and a host list in known_hosts.
    ///
    /// - Parameter line: A key line, without leading whitespace.
    /// - Returns: The index of the blank after the first field, or `line.endIndex` when there is none.
    public static func endOfLeadingField(_ line: String) -> String.Index {
        var quoted = false
        var end = line.startIndex
        while end < line.endIndex {
            let character = line[end]
            if character == "\\", line.index(after: end) < line.endIndex, line[line.index(after: end)] == "\"" {
                end = line.index(end, offsetBy: 2)
                continue
            }
            if character == "\"" { quoted.toggle() }
            if !quoted, character == " " || character == "\t" { break }
            end = line.index(after: end)
        }
        return end
    }

    /// A key alone, or options then a key (sshd tries the key first, as a key type never looks like an option).
    static func parseLine(_ line: String, path: String, number: Int) throws -> AuthorizedKeysEntry? {
        if let keyLine = try? SSHPublicKeyLine(parsing: line) {
            return AuthorizedKeysEntry(options: AuthorizedKeyOptions(), key: keyLine.key, comment: keyLine.comment, path: path, line: number)
        }
        let end = Self.endOfLeadingField(line)
        let options: AuthorizedKeyOptions
        do {
            options = try AuthorizedKeyOptions(parsing: String(line[..<end]))
        } catch let error as SSHKeyError {
            throw SSHKeyError(.invalidFormat("bad key options: \(error.reason)"))
        }
        let keyText = line[end...].trimmingSSHWhitespace
        guard !keyText.isEmpty else { throw SSHKeyError(.invalidFormat("missing key")) }
        let keyLine = try SSHPublicKeyLine(parsing: keyText)
        return AuthorizedKeysEntry(options: options, key: keyLine.key, comment: keyLine.comment, path: path, line: number)
    }
}

/// Deciding whether a presented key may log in.
public enum AuthorizedKeys {
    /// Whether a key or certificate may log in, and by which line.
    public enum Decision: Sendable, Equatable {
        /// Accepted by this line, whose options are now in force.
        case accept(AuthorizedKeysEntry)
        /// Not accepted; the reasons (one per line that held the key) are for the log, never the client.
        case reject(reasons: [String])
    }

    /// The first line holding `key` (not a cert-authority line) whose from= and expiry-time allow it.
    /// `sourceHost` is the client's name if resolved; sshd without UseDNS passes the address itself.
    ///
    /// - Parameters:
    ///   - key: The key the client offered.
    ///   - files: The user's authorized_keys files, in the order sshd reads them.
    ///   - sourceAddress: The client's IP address.
    ///   - sourceHost: The client's host name when it was resolved; nil to match from= against the address alone.
    ///   - now: The current time, in seconds since 1970, for expiry-time.
    /// - Returns: The accepting line, or the reasons to reject.
    public static func authorize(
        _ key: SSHPublicKey, files: [AuthorizedKeysFile], sourceAddress: String, sourceHost: String? = nil, now: Int
    ) -> Decision {
        var reasons: [String] = []
        for entry in files.flatMap(\.entries) where !entry.options.certificateAuthority && entry.key == key {
            let place = "\(entry.path):\(entry.line)"
            if let expiry = entry.options.expiryTime, now > expiry {
                reasons.append("\(place): key has expired")
                continue
            }
            if let from = entry.options.from {
                switch HostAddressPattern.matchHostAndAddress(host: sourceHost ?? sourceAddress, address: sourceAddress, patterns: from) {
                case .matched: break
                case .invalidPattern:
                    reasons.append("\(place): invalid from= pattern \"\(from)\"")
                    continue
                case .notMatched:
                    reasons.append("\(place): from= does not allow \(sourceAddress)")
                    continue
                }
            }
            return .accept(entry)
        }
        if reasons.isEmpty { reasons.append("key not in any authorized_keys file") }
        return .reject(reasons: reasons)
    }
}

extension AuthorizedKeys {
    /// A user certificate: accepted by a cert-authority line whose key signed it (as sshd's check for
    /// authorized_keys certificates). With principals= on the line, one of the certificate's principals must
    /// be listed there; without it, `user` must be one of the certificate's principals. The line's from= and
    /// expiry-time, and the certificate's validity, source-address and critical options, all apply.
    ///
    /// - Parameters:
    ///   - certificate: The user certificate the client offered.
    ///   - user: The account being logged in to.
    ///   - files: The user's authorized_keys files.
    ///   - sourceAddress: The client's IP address.
    ///   - sourceHost: The client's host name when it was resolved.
    ///   - now: The current time, in seconds since 1970.
    /// - Returns: The accepting cert-authority line, or the reasons to reject.
    public static func authorize(
        certificate: SSHCertificate, user: String, files: [AuthorizedKeysFile], sourceAddress: String,
        sourceHost: String? = nil, now: Int
    ) -> Decision {
        var reasons: [String] = []
        for entry in files.flatMap(\.entries) where entry.options.certificateAuthority && entry.key == certificate.signatureKey {
            let place = "\(entry.path):\(entry.line)"
            if let expiry = entry.options.expiryTime, now > expiry {
                reasons.append("\(place): key has expired")
                continue
            }
            if let from = entry.options.from,
               HostAddressPattern.matchHostAndAddress(host: sourceHost ?? sourceAddress, address: sourceAddress, patterns: from) != .matched {
                reasons.append("\(place): from= does not allow \(sourceAddress)")
                continue
            }
            var principal: String? = user
            if let allowed = entry.options.principals {
                let list = allowed.split(separator: ",").map(String.init)
                guard certificate.principals.contains(where: list.contains) else {
                    reasons.append("\(place): none of the certificate's principals is in principals=\"\(allowed)\"")
                    continue
                }
                principal = nil
            }
            switch certificate.validate(kind: .user, trustedAuthorities: [entry.key], principal: principal,
                                        time: UInt64(max(0, now)), sourceAddress: sourceAddress) {
            case .failure(let refusal):
                reasons.append("\(place): \(refusal)")
                continue
            case .success:
                break
            }
            if let lineCommand = entry.options.command, let certificateCommand = certificate.forceCommand, lineCommand != certificateCommand {
                reasons.append("\(place): certificate and authorized_keys force different commands")
                continue
            }
            return .accept(entry)
        }
        if reasons.isEmpty { reasons.append("no cert-authority line trusts the certificate's signing key") }
        return .reject(reasons: reasons)
    }
}

/// OpenSSH's match_host_and_ip / addr_match_list: address patterns with globs and CIDR, host name patterns.
///
/// These are the patterns of from= in authorized_keys, of a certificate's source-address and of `Match Address`.
public enum HostAddressPattern {
    /// The answer of ``matchHostAndAddress(host:address:patterns:)``.
    public enum Match: Sendable, Equatable {
        /// The host or address is in the list and no negated pattern matched.
        case matched
        /// Nothing matched, or a negated pattern did.
        case notMatched
        /// A CIDR pattern that does not parse: OpenSSH treats the whole check as failed.
        case invalidPattern
    }

    /// Matches a client against a pattern list holding host name patterns, addresses and CIDR blocks, as from= does.
    ///
    /// - Parameters:
    ///   - host: The client's host name, or its address when the name is not known.
    ///   - address: The client's IP address.
    ///   - patterns: Comma-separated patterns, each optionally negated with `!`.
    /// - Returns: Whether the client is in the list.
    public static func matchHostAndAddress(host: String, address: String, patterns: String) -> Match {
        let addressMatch = matchAddress(address, patterns: patterns)
        switch addressMatch {
        case -2: return .invalidPattern
        case -1: return .notMatched
        default: break
        }
        let hostMatch = OpenSSHPattern.matchList(host.lowercased(), patternList: patterns, caseInsensitive: true)
        if hostMatch == .negated { return .notMatched }
        if hostMatch == .noMatch && addressMatch == 0 { return .notMatched }
        return .matched
    }

    /// Whether a source-address list is addresses and CIDR blocks only (what certificates may carry).
    ///
    /// - Parameter list: Comma-separated addresses and address/bits blocks.
    /// - Returns: True when every item is an address or a CIDR block with no host bits set.
    public static func isValidCIDRList(_ list: String) -> Bool {
        list.split(separator: ",", omittingEmptySubsequences: false).allSatisfy { item in
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2, let address = IPAddressBytes(String(parts[0])) else { return false }
            guard parts.count == 2 else { return true }
            guard let bits = Int(parts[1]), bits >= 0, bits <= address.bytes.count * 8 else { return false }
            return address.masked(bits) == address.bytes
        }
    }

    /// Whether `address` is in the list (addresses, globs and CIDR blocks, "!" negating): sshd's Match Address.
    /// A negated entry that matches, or an invalid CIDR block, means no.
    ///
    /// - Parameters:
    ///   - address: The IP address to test.
    ///   - patterns: Comma-separated addresses, globs and CIDR blocks, each optionally negated with `!`.
    /// - Returns: True only for a positive match.
    public static func addressMatches(_ address: String, patterns: String) -> Bool {
        matchAddress(address, patterns: patterns) == 1
    }

    /// 1 match, 0 no match, -1 negated match, -2 invalid CIDR (addr_match_list's answers).
    static func matchAddress(_ address: String, patterns: String) -> Int {
        guard let parsed = IPAddressBytes(address) else { return 0 }
        var result = 0
        for raw in patterns.split(separator: ",") {
            var pattern = Substring(raw)
            let negated = pattern.hasPrefix("!")
            if negated { pattern = pattern.dropFirst() }
            let matched: Bool
            if let slash = pattern.firstIndex(of: "/") {
                guard let network = IPAddressBytes(String(pattern[..<slash])),
                      let bits = Int(pattern[pattern.index(after: slash)...]), bits >= 0, bits <= network.bytes.count * 8,
                      network.masked(bits) == network.bytes
                else { return -2 }
                matched = parsed.bytes.count == network.bytes.count && parsed.masked(bits) == network.bytes
            } else {
                matched = OpenSSHPattern.matches(address, pattern: String(pattern))
            }
            if matched {
                if negated { return -1 }
                result = 1
            }
        }
        return result
    }
}

/// An IPv4 or IPv6 address as bytes (inet_pton).
struct IPAddressBytes {
    var bytes: [UInt8]

    init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
    }

    func masked(_ bits: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let keep = max(0, min(8, bits - index * 8))
            return keep == 8 ? byte : byte & UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
        }
    }
}
