// shh-keygen -L: show certificates exactly as ssh-keygen -L prints them.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SSHKeys

struct CertificateCommands {
    let options: KeygenOptions
    let io: KeygenIO

    func show() throws {
        let commands = KeyCommands(options: options, io: io)
        let path = try commands.identityPath(prompt: "Enter file in which the key is")
        let fromStandardInput = path == "-"
        var info = stat()
        if !fromStandardInput, stat(path, &info) != 0 {
            throw KeygenFailure("shh-keygen: \(path): \(String(cString: strerror(errno)))")
        }
        let contents: [UInt8]
        do {
            contents = try commands.readListInput(path: path)
        } catch let error as SSHKeyError {
            throw KeygenFailure(fromStandardInput ? "shh-keygen: \(error.description)" : "fopen \(path): \(error.reason)")
        }
        let shownPath = fromStandardInput ? "(stdin)" : path
        var shownAny = false
        for (index, rawLine) in String(decoding: contents, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.drop(while: { $0 == " " || $0 == "\t" })
            if line.isEmpty || line.hasPrefix("#") { continue }
            let number = index + 1
            let certificate: SSHCertificate
            do {
                certificate = try SSHCertificate.parseLine(String(line)).certificate
            } catch {
                if (try? SSHPublicKeyLine(parsing: String(line))) != nil {
                    io.writeError("\(shownPath):\(number) is not a certificate\n")
                } else {
                    io.writeError("\(shownPath):\(number): invalid key: \((error as? SSHKeyError)?.reason ?? "\(error)")\n")
                }
                continue
            }
            shownAny = true
            io.writeOutput(!fromStandardInput && number == 1 ? "\(shownPath):\n" : "\(shownPath):\(number):\n")
            io.writeOutput(Self.describe(certificate, hash: options.fingerprintHash))
        }
        if !shownAny { throw KeygenFailure("", exitStatus: 1) }
    }

    // MARK: -s

    /// -s CA -I id [-h] [-n principals] [-V validity] [-z serial] [-O option] key.pub ...: writes key-cert.pub
    /// beside each key, as ssh-keygen's do_ca_sign.
    func sign() throws {
        guard let caPath = options.signatureFile else { return }
        guard !options.operands.isEmpty else { throw KeygenFailure("Too few arguments.\n" + ShhKeygen.usage, exitStatus: 1) }
        guard let keyID = options.principal else { throw KeygenFailure("Must specify key id (-I) when certifying") }
        let kind: SSHCertificate.Kind = options.hostCertificate ? .host : .user
        var certificateOptions = CertificateOptions(kind: kind)
        for option in options.extraOptions { try certificateOptions.apply(option) }
        let (validAfter, validBefore) = try Self.parseValidity(options.validity, now: UInt64(max(0, io.now())))
        var serial: UInt64 = 0
        var autoIncrement = false
        if var text = options.serial {
            if text.hasPrefix("+") {
                autoIncrement = true
                text.removeFirst()
            }
            guard let parsed = UInt64(text), text.first?.isNumber == true else { throw KeygenFailure("Invalid serial number \"\(options.serial ?? "")\"") }
            serial = parsed
        }
        var principals: [String] = []
        if let list = options.namespace {
            principals = list.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard principals.allSatisfy({ !$0.isEmpty }) else { throw KeygenFailure("Empty principal name") }
        }
        let privatePath = caPath.hasSuffix(".pub") ? String(caPath.dropLast(4)) : caPath
        let (authority, _) = try KeyCommands(options: options, io: io).loadPrivateKey(path: privatePath)

        for path in options.operands {
            let line: SSHPublicKeyLine
            do {
                let text = String(decoding: try SSHKeyFile.readFile(atPath: path), as: UTF8.self)
                line = try SSHPublicKeyLine(parsing: String(text.split(separator: "\n").first ?? ""))
            } catch let error as SSHKeyError {
                throw KeygenFailure("load pubkey \"\(path)\": \(error.reason)")
            }
            let certificate: SSHCertificate
            do {
                certificate = try SSHCertificate.issue(
                    for: line.key, authority: authority, kind: kind, keyID: keyID, principals: principals,
                    validAfter: validAfter, validBefore: validBefore, serial: serial,
                    criticalOptions: certificateOptions.critical, extensions: certificateOptions.extensions)
            } catch let error as SSHKeyError {
                throw KeygenFailure("Couldn't certify key \(path): \(error.reason)")
            }
            let outputPath = (path.hasSuffix(".pub") ? String(path.dropLast(4)) : path) + "-cert.pub"
            do {
                try SSHKeyFile.write("\(certificate.lineText) \(line.comment)\n", toPath: outputPath, mode: 0o644)
            } catch let error as SSHKeyError {
                throw KeygenFailure("Unable to save public key to \(outputPath): \(error.reason)")
            }
            if !options.quiet {
                let who = options.namespace.map { " for \($0)" } ?? ""
                io.writeError("Signed \(kind == .user ? "user" : "host") key \(outputPath): id \"\(keyID)\" serial \(serial)\(who) valid \(Self.validity(certificate))\n")
            }
            if autoIncrement { serial += 1 }
        }
    }

    /// The -O options of certificate signing (ssh-keygen's add_cert_option).
    struct CertificateOptions {
        var flags: Set<String>
        var forceCommand: String?
        var sourceAddress: String?
        var customCritical: [SSHCertificateOption] = []
        var customExtensions: [SSHCertificateOption] = []

        static let defaultUserFlags: Set<String> = ["permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding",
                                                    "permit-pty", "permit-user-rc"]

        init(kind: SSHCertificate.Kind) {
            flags = kind == .user ? Self.defaultUserFlags : []
        }

        mutating func apply(_ option: String) throws {
            let lower = option.lowercased()
            let toggles: [String: String] = [
                "x11-forwarding": "permit-X11-forwarding", "agent-forwarding": "permit-agent-forwarding",
                "port-forwarding": "permit-port-forwarding", "pty": "permit-pty", "user-rc": "permit-user-rc",
            ]
            if lower == "clear" {
                flags = []
            } else if lower.hasPrefix("no-"), let flag = toggles[String(lower.dropFirst(3))] {
                flags.remove(flag)
            } else if lower.hasPrefix("permit-"), let flag = toggles[String(lower.dropFirst(7))] {
                flags.insert(flag)
            } else if lower == "no-touch-required" {
                flags.insert("no-touch-required")
            } else if lower == "touch-required" {
                flags.remove("no-touch-required")
            } else if lower == "verify-required" {
                flags.insert("verify-required")
            } else if lower == "no-verify-required" {
                flags.remove("verify-required")
            } else if lower.hasPrefix("force-command=") {
                let value = String(option.dropFirst(14))
                guard !value.isEmpty else { throw KeygenFailure("Empty force-command option") }
                guard forceCommand == nil else { throw KeygenFailure("force-command already specified") }
                forceCommand = value
            } else if lower.hasPrefix("source-address=") {
                let value = String(option.dropFirst(15))
                guard !value.isEmpty else { throw KeygenFailure("Empty source-address option") }
                guard sourceAddress == nil else { throw KeygenFailure("source-address already specified") }
                guard HostAddressPattern.isValidCIDRList(value) else { throw KeygenFailure("Invalid source-address list") }
                sourceAddress = value
            } else if lower.hasPrefix("extension:") || lower.hasPrefix("critical:") {
                let critical = lower.hasPrefix("critical:")
                let body = option[option.index(after: option.firstIndex(of: ":")!)...]
                let parts = body.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let made = parts.count == 2
                    ? SSHCertificateOption(name: String(parts[0]), stringValue: String(parts[1]))
                    : SSHCertificateOption(name: String(parts[0]))
                if critical { customCritical.append(made) } else { customExtensions.append(made) }
            } else {
                throw KeygenFailure("Unsupported certificate option \"\(option)\"")
            }
        }

        var critical: [SSHCertificateOption] {
            var list = customCritical
            if let forceCommand { list.append(SSHCertificateOption(name: "force-command", stringValue: forceCommand)) }
            if let sourceAddress { list.append(SSHCertificateOption(name: "source-address", stringValue: sourceAddress)) }
            if flags.contains("verify-required") { list.append(SSHCertificateOption(name: "verify-required")) }
            return list
        }

        var extensions: [SSHCertificateOption] {
            customExtensions + flags.subtracting(["verify-required"]).map { SSHCertificateOption(name: $0) }
        }
    }

    /// -V: "+52w" (from a minute ago), "from:to" with each side [+-]interval, YYYYMMDD[HHMM[SS]], 0xHEX,
    /// "always" / "forever". Default: always to forever.
    static func parseValidity(_ spec: String?, now: UInt64) throws -> (UInt64, UInt64) {
        guard let spec else { return (0, .max) }
        if spec.hasPrefix("+"), !spec.contains(":") {
            guard let seconds = convertInterval(String(spec.dropFirst())) else { throw KeygenFailure("Invalid relative certificate life \(spec)") }
            return ((now - 59) / 60 * 60, now &+ seconds)
        }
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw KeygenFailure("Invalid certificate life specification \(spec)")
        }
        func point(_ text: Substring, infinite: String, infiniteValue: UInt64, label: String) throws -> UInt64 {
            if text.hasPrefix("+") || text.hasPrefix("-") {
                guard let seconds = convertInterval(String(text.dropFirst())) else { throw KeygenFailure("Invalid relative certificate time \(text)") }
                if text.hasPrefix("-") {
                    guard seconds <= now else { throw KeygenFailure("Certificate time \(text) cannot be represented") }
                    return now - seconds
                }
                return now &+ seconds
            }
            if text == infinite { return infiniteValue }
            if text.hasPrefix("0x"), let value = UInt64(text.dropFirst(2), radix: 16) { return value }
            guard let time = AllowedSigners.parseTimeForCommandLine(String(text)) else { throw KeygenFailure("Invalid \(label) time \"\(text)\"") }
            return UInt64(time)
        }
        let from = try point(parts[0], infinite: "always", infiniteValue: 0, label: "from")
        let to = try point(parts[1], infinite: "forever", infiniteValue: .max, label: "to")
        guard to > from else { throw KeygenFailure("Empty certificate validity interval") }
        return (from, to)
    }

    /// OpenSSH's convtime: "90", "90s", "5m", "1h30m", "2d", "52w".
    static func convertInterval(_ text: String) -> UInt64? {
        guard !text.isEmpty else { return nil }
        var total: UInt64 = 0
        var number: UInt64?
        for character in text {
            if let digit = character.wholeNumberValue, character.isASCII {
                let (scaled, overflow1) = (number ?? 0).multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = scaled.addingReportingOverflow(UInt64(digit))
                guard !overflow1, !overflow2 else { return nil }
                number = sum
                continue
            }
            guard let value = number else { return nil }
            let unit: UInt64
            switch character.lowercased() {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86_400
            case "w": unit = 604_800
            default: return nil
            }
            let (product, overflow) = value.multipliedReportingOverflow(by: unit)
            guard !overflow else { return nil }
            total &+= product
            number = nil
        }
        if let value = number { total &+= value }
        return total
    }

    /// ssh-keygen's print_cert layout.
    static func describe(_ certificate: SSHCertificate, hash: SSHFingerprintHash) -> String {
        let pad = "        "
        var text = "\(pad)Type: \(certificate.typeName) \(certificate.kind == .user ? "user" : "host") certificate\n"
        text += "\(pad)Public key: \(certificate.displayName) \(certificate.key.fingerprint(hash))\n"
        text += "\(pad)Signing CA: \(certificate.signatureKey.type.displayName) \(certificate.signatureKey.fingerprint(hash)) (using \(certificate.signature.algorithmName))\n"
        text += "\(pad)Key ID: \"\(certificate.keyID)\"\n"
        text += "\(pad)Serial: \(certificate.serial)\n"
        text += "\(pad)Valid: \(validity(certificate))\n"
        text += "\(pad)Principals: "
        text += certificate.principals.isEmpty ? "(none)\n" : certificate.principals.map { "\n\(pad)        \($0)" }.joined() + "\n"
        text += "\(pad)Critical Options: " + options(certificate.criticalOptions, critical: true)
        text += "\(pad)Extensions: " + options(certificate.extensions, critical: false)
        return text
    }

    static func options(_ list: [SSHCertificateOption], critical: Bool) -> String {
        guard !list.isEmpty else { return "(none)\n" }
        let flags: Set<String> = critical
            ? ["verify-required"]
            : ["permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding", "permit-pty", "permit-user-rc", "no-touch-required"]
        let valued: Set<String> = critical ? ["force-command", "source-address"] : []
        var text = "\n"
        for option in list {
            text += "                \(option.name)"
            if flags.contains(option.name) {
                text += "\n"
            } else if valued.contains(option.name), let value = option.stringValue {
                text += " \(value)\n"
            } else if !option.data.isEmpty {
                text += " UNKNOWN OPTION: \(option.data.map { hexDigits($0) }.joined()) (len \(option.data.count))\n"
            } else {
                text += " UNKNOWN FLAG OPTION\n"
            }
        }
        return text
    }

    static func hexDigits(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }

    /// "forever", "before B", "after A" or "from A to B" in local time, as sshkey_format_cert_validity.
    static func validity(_ certificate: SSHCertificate) -> String {
        switch (certificate.validAfter, certificate.validBefore) {
        case (0, .max): return "forever"
        case (0, let before): return "before \(localTime(before))"
        case (let after, .max): return "after \(localTime(after))"
        case (let after, let before): return "from \(localTime(after)) to \(localTime(before))"
        }
    }

    static func localTime(_ seconds: UInt64) -> String {
        var time = time_t(clamping: seconds)
        var parts = tm()
        guard localtime_r(&time, &parts) != nil else { return "\(seconds)" }
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
