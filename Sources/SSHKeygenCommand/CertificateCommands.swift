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
        var contents: [UInt8] = []
        if fromStandardInput {
            while let chunk = io.readStandardInputChunk(), !chunk.isEmpty { contents += chunk }
        } else {
            var info = stat()
            guard stat(path, &info) == 0 else {
                throw KeygenFailure("shh-keygen: \(path): \(String(cString: strerror(errno)))")
            }
            do {
                contents = try SSHKeyFile.readFile(atPath: path, maximumSize: SSHKeyFile.maximumFileSize * 64)
            } catch let error as SSHKeyError {
                throw KeygenFailure("fopen \(path): \(error.reason)")
            }
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

    /// "forever", or "from A to B" in local time, as sshkey_format_cert_validity.
    static func validity(_ certificate: SSHCertificate) -> String {
        if certificate.validAfter == 0 && certificate.validBefore == .max { return "forever" }
        let from = certificate.validAfter == 0 ? "always" : localTime(certificate.validAfter)
        let to = certificate.validBefore == .max ? "forever" : localTime(certificate.validBefore)
        return "from \(from) to \(to)"
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
