// Values both ssh_config and sshd_config spell the same way: algorithm lists ("+", "-", "^" against the
// defaults), RekeyLimit, time intervals and yes/no. Shared by shh and shhd so both read them as OpenSSH does.
import SSHKeys
import SSHProtocol

/// Values ssh_config and sshd_config spell the same way, read as OpenSSH reads them.
public enum ConfigValues {
    /// An algorithm list: a replacement, or "+alg" appended to, "-pattern" removed from, "^alg" put in front of
    /// the defaults. Unknown names are errors, as in OpenSSH. `origin` names where the value was written.
    ///
    /// ```swift
    /// let ciphers = try ConfigValues.algorithms(
    ///     "-*-cbc,aes128-ctr", keyword: "Ciphers", defaults: SSHAlgorithms.defaults.ciphers, origin: "config line 4",
    ///     name: \.rawValue, parse: { SSHCipherAlgorithm(rawValue: $0) })
    /// // the defaults without aes128-ctr (and without CBC modes, had there been any)
    /// ```
    ///
    /// - Parameters:
    ///   - text: The value as written.
    ///   - keyword: The keyword, for messages.
    ///   - defaults: The list "+", "-" and "^" work on.
    ///   - origin: Where the value was written ("file line N"), the error's file.
    ///   - name: An algorithm's name ("-" patterns match it).
    ///   - parse: An algorithm from its name; nil for one not supported.
    /// - Returns: The list, never empty.
    /// - Throws: ``OpenSSHConfigError/Kind/badValue(keyword:value:expected:)`` for an unknown name or an empty
    ///   result.
    public static func algorithms<Algorithm: Equatable>(
        _ text: String, keyword: String, defaults: [Algorithm], origin: String,
        name: (Algorithm) -> String, parse: (String) -> Algorithm?
    ) throws -> [Algorithm] {
        func list(_ items: Substring) throws -> [Algorithm] {
            try items.split(separator: ",").map { item in
                guard let algorithm = parse(String(item)) else {
                    throw OpenSSHConfigError(.badValue(keyword: keyword, value: String(item), expected: "a supported algorithm name (-Q lists them)"), file: origin, line: 0)
                }
                return algorithm
            }
        }
        let result: [Algorithm]
        switch text.first {
        case "+":
            result = defaults + (try list(text.dropFirst())).filter { !defaults.contains($0) }
        case "^":
            let front = try list(text.dropFirst())
            result = front + defaults.filter { !front.contains($0) }
        case "-":
            let patterns = text.dropFirst().split(separator: ",").map(String.init)
            result = defaults.filter { algorithm in !patterns.contains { OpenSSHPattern.matches(name(algorithm), pattern: $0) } }
        default:
            result = try list(Substring(text))
        }
        guard !result.isEmpty else {
            throw OpenSSHConfigError(.badValue(keyword: keyword, value: text, expected: "at least one algorithm"), file: origin, line: 0)
        }
        return result
    }

    /// The four algorithm keywords of either file over `defaults` (values absent stay as they are).
    ///
    /// - Parameters:
    ///   - lookup: A lower-case keyword's value and where it was written; nil when not set.
    ///   - defaults: The algorithms before the file.
    /// - Returns: Ciphers, MACs, KexAlgorithms and HostKeyAlgorithms as the file leaves them.
    /// - Throws: ``OpenSSHConfigError`` for the first list that does not parse.
    public static func algorithms(_ lookup: (String) -> (value: String, origin: String)?, over defaults: SSHAlgorithms) throws -> SSHAlgorithms {
        var result = defaults
        if let (text, origin) = lookup("ciphers") {
            result.ciphers = try algorithms(text, keyword: "Ciphers", defaults: defaults.ciphers, origin: origin, name: \.rawValue) { SSHCipherAlgorithm(rawValue: $0) }
        }
        if let (text, origin) = lookup("macs") {
            result.macs = try algorithms(text, keyword: "MACs", defaults: defaults.macs, origin: origin, name: \.rawValue) { SSHMACAlgorithm(rawValue: $0) }
        }
        if let (text, origin) = lookup("kexalgorithms") {
            result.keyExchange = try algorithms(text, keyword: "KexAlgorithms", defaults: defaults.keyExchange, origin: origin, name: \.rawValue) { SSHKeyExchangeAlgorithm(rawValue: $0) }
        }
        if let (text, origin) = lookup("hostkeyalgorithms") {
            result.hostKey = try algorithms(text, keyword: "HostKeyAlgorithms", defaults: defaults.hostKey, origin: origin, name: \.name) { SSHHostKeyAlgorithm(name: $0) }
        }
        return result
    }

    /// PubkeyAcceptedAlgorithms (and ssh_config's PubkeyAcceptedAlgorithms) over the default list.
    ///
    /// - Parameters:
    ///   - text: The value as written.
    ///   - origin: Where it was written.
    /// - Returns: The accepted algorithms.
    /// - Throws: ``OpenSSHConfigError`` for an unknown name or an empty list.
    public static func publicKeyAlgorithms(_ text: String, origin: String) throws -> [SSHHostKeyAlgorithm] {
        try algorithms(text, keyword: "PubkeyAcceptedAlgorithms", defaults: SSHHostKeyAlgorithm.defaults, origin: origin, name: \.name) {
            SSHHostKeyAlgorithm(name: $0)
        }
    }

    /// CASignatureAlgorithms: which signature algorithms a certificate authority may have signed with (sshd's
    /// default: all but SHA-1 RSA).
    public static let defaultCASignatureAlgorithms: [SSHSignatureAlgorithm] = [.ed25519, .ecdsaP256, .ecdsaP384, .ecdsaP521, .rsaSHA512, .rsaSHA256]

    /// CASignatureAlgorithms over ``defaultCASignatureAlgorithms``.
    ///
    /// - Parameters:
    ///   - text: The value as written.
    ///   - origin: Where it was written.
    /// - Returns: The signature algorithms a certificate authority may use.
    /// - Throws: ``OpenSSHConfigError`` for an unknown name or an empty list.
    public static func caSignatureAlgorithms(_ text: String, origin: String) throws -> [SSHSignatureAlgorithm] {
        try algorithms(text, keyword: "CASignatureAlgorithms", defaults: defaultCASignatureAlgorithms, origin: origin, name: \.rawValue) {
            SSHSignatureAlgorithm(rawValue: $0)
        }
    }

    /// RekeyLimit bytes [seconds]: sizes with K/M/G, "default", "none".
    ///
    /// - Parameters:
    ///   - arguments: The directive's arguments ("1G", "1h").
    ///   - origin: Where it was written.
    /// - Returns: The limits; an argument "default" keeps the default.
    /// - Throws: ``OpenSSHConfigError`` for a size that does not parse or is under 16 bytes, or a time that does
    ///   not parse.
    public static func rekeyLimits(_ arguments: [String], origin: String) throws -> SSHRekeyLimits {
        var limits = SSHRekeyLimits()
        func size(_ text: String) -> UInt64? {
            let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
            if let last = text.last?.uppercased().first, let unit = units[last] { return UInt64(text.dropLast()).map { $0 * unit } }
            return UInt64(text)
        }
        if let bytes = arguments.first, bytes != "default" {
            guard let value = size(bytes), value >= 16 else {
                throw OpenSSHConfigError(.badValue(keyword: "RekeyLimit", value: bytes, expected: "a size such as 1G, or default"), file: origin, line: 0)
            }
            limits.bytes = value
        }
        if arguments.count > 1, arguments[1] != "default" {
            if arguments[1] == "none" {
                limits.seconds = nil
            } else {
                guard let value = seconds(arguments[1]), value > 0 else {
                    throw OpenSSHConfigError(.badValue(keyword: "RekeyLimit", value: arguments[1], expected: "a time such as 1h, none or default"), file: origin, line: 0)
                }
                limits.seconds = Int(value)
            }
        }
        return limits
    }

    /// A time interval as OpenSSH writes it: seconds, or a sum of numbers with s, m, h, d, w ("1h30m").
    ///
    /// - Parameter text: The interval as written.
    /// - Returns: Seconds, or nil when it does not parse.
    public static func seconds(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        var total: Int64 = 0
        var number = ""
        for character in text.lowercased() {
            if character.isASCII, character.isNumber {
                number.append(character)
            } else if let unit = units[character], let value = Int64(number) {
                total += value * unit
                number = ""
            } else {
                return nil
            }
        }
        if !number.isEmpty {
            guard let value = Int64(number) else { return nil }
            total += value
        }
        return text.isEmpty ? nil : total
    }

    /// yes/no (and OpenSSH's true/false), or nil when it is neither.
    ///
    /// - Parameter text: The value as written, in any case.
    public static func flag(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "yes", "true": true
        case "no", "false": false
        default: nil
        }
    }
}
