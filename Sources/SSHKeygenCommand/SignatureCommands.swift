// shh-keygen -Y: SSHSIG signing and verification (sign, verify, check-novalidate, find-principals),
// with ssh-keygen's messages and statuses (0 on success, 255 on failure, 1 for missing arguments).

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
import SSHKeys

enum SignatureCommands {
    static func run(operation: String, options: KeygenOptions, io: KeygenIO) throws {
        switch operation {
        case "sign":
            guard let namespace = options.namespace, !namespace.isEmpty else {
                throw KeygenFailure("Too few arguments for sign: missing namespace", exitStatus: 1)
            }
            guard let keyPath = options.identityFile else {
                throw KeygenFailure("Too few arguments for sign: missing key", exitStatus: 1)
            }
            try sign(keyPath: keyPath, namespace: namespace, options: options, io: io)
        case "verify":
            guard let namespace = options.namespace, !namespace.isEmpty else {
                throw KeygenFailure("Too few arguments for verify: missing namespace", exitStatus: 1)
            }
            guard let signatureFile = options.signatureFile else {
                throw KeygenFailure("Too few arguments for verify: missing signature file", exitStatus: 1)
            }
            guard let allowedSigners = options.identityFile else {
                throw KeygenFailure("Too few arguments for verify: missing allowed keys file", exitStatus: 1)
            }
            guard let principal = options.principal else {
                throw KeygenFailure("Too few arguments for verify: missing principal identity", exitStatus: 1)
            }
            try verify(signatureFile: signatureFile, namespace: namespace,
                       check: (allowedSigners, principal), options: options, io: io)
        case "check-novalidate":
            guard let namespace = options.namespace, !namespace.isEmpty else {
                throw KeygenFailure("Too few arguments for check-novalidate: missing namespace", exitStatus: 1)
            }
            guard let signatureFile = options.signatureFile else {
                throw KeygenFailure("Too few arguments for check-novalidate: missing signature file", exitStatus: 1)
            }
            try verify(signatureFile: signatureFile, namespace: namespace, check: nil, options: options, io: io)
        case "find-principals":
            guard let signatureFile = options.signatureFile else {
                throw KeygenFailure("Too few arguments for find-principals:missing signature file", exitStatus: 1)
            }
            guard let allowedSigners = options.identityFile else {
                throw KeygenFailure("Too few arguments for find-principals:missing allowed keys file", exitStatus: 1)
            }
            try findPrincipals(signatureFile: signatureFile, allowedSignersPath: allowedSigners, io: io)
        default:
            throw KeygenFailure("Unsupported operation for -Y: \"\(operation)\"\n" + ShhKeygen.usage, exitStatus: 1)
        }
    }

    struct SignOptions {
        var hashAlgorithm = SSHSIG.HashAlgorithm.sha512
        var verifyTime: Int?
        var printPublicKey = false
    }

    /// -O options for -Y: hashalg= (sign), verify-time= and print-pubkey (verify).
    static func parseOptions(_ raw: [String], signing: Bool) throws -> SignOptions {
        var result = SignOptions()
        for option in raw {
            let lower = option.lowercased()
            if signing, lower.hasPrefix("hashalg=") {
                guard let hash = SSHSIG.HashAlgorithm(rawValue: String(option.dropFirst(8))) else {
                    throw KeygenFailure("Invalid option \"\(option)\"")
                }
                result.hashAlgorithm = hash
            } else if !signing, lower.hasPrefix("verify-time=") {
                guard let time = AllowedSigners.parseTimeForCommandLine(String(option.dropFirst(12))) else {
                    throw KeygenFailure("Invalid \"verify-time\" option")
                }
                result.verifyTime = time
            } else if !signing, lower == "print-pubkey" {
                result.printPublicKey = true
            } else {
                throw KeygenFailure("Invalid option \"\(option)\"")
            }
        }
        return result
    }

    static func sign(keyPath: String, namespace: String, options: KeygenOptions, io: KeygenIO) throws {
        let signOptions = try parseOptions(options.extraOptions, signing: true)
        if options.operands.contains("-"), options.operands.count > 1 {
            throw KeygenFailure("Cannot sign mix of paths and standard input")
        }
        // A .pub path names the private key beside it, as in ssh-keygen.
        let privatePath = keyPath.hasSuffix(".pub") ? String(keyPath.dropLast(4)) : keyPath
        let commands = KeyCommands(options: options, io: io)
        let (key, _) = try commands.loadPrivateKey(path: privatePath)

        let inputs = options.operands.isEmpty ? ["-"] : options.operands
        for input in inputs {
            let fromStandardInput = input == "-"
            if !options.quiet {
                io.writeError(fromStandardInput ? "Signing data on standard input\n" : "Signing file \(input)\n")
            }
            let hash = try hashMessage(path: fromStandardInput ? nil : input, algorithm: signOptions.hashAlgorithm, io: io,
                                       openFailure: { "Cannot open \(input) for signing: \($0)" })
            let armored: String
            do {
                armored = try SSHSIG.sign(messageHash: hash, hashAlgorithm: signOptions.hashAlgorithm, namespace: namespace, key: key)
            } catch let error as SSHKeyError {
                throw KeygenFailure("Signing \(input) failed: \(error.reason)")
            }
            if fromStandardInput {
                io.writeOutput(armored)
                continue
            }
            let signaturePath = input + ".sig"
            guard try commands.confirmOverwrite(signaturePath) else { continue }
            do {
                try SSHKeyFile.write(armored, toPath: signaturePath, mode: 0o644)
            } catch let error as SSHKeyError {
                throw KeygenFailure("Cannot write to \(signaturePath): \(error.reason)")
            }
            if !options.quiet { io.writeError("Write signature to \(signaturePath)\n") }
        }
    }

    /// Hashes a file (or standard input when `path` is nil) in chunks, so size does not matter.
    static func hashMessage(path: String?, algorithm: SSHSIG.HashAlgorithm, io: KeygenIO,
                            openFailure: (String) -> String) throws -> [UInt8] {
        var hasher = SSHSIG.MessageHasher(algorithm: algorithm)
        if let path {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw KeygenFailure(openFailure(String(cString: strerror(errno)))) }
            defer { close(fd) }
            while true {
                guard let chunk = readChunk(fd: fd) else {
                    throw KeygenFailure("read: \(String(cString: strerror(errno)))")
                }
                if chunk.isEmpty { break }
                hasher.update(chunk)
            }
        } else {
            while true {
                guard let chunk = io.readStandardInputChunk() else {
                    throw KeygenFailure("read: \(String(cString: strerror(errno)))")
                }
                if chunk.isEmpty { break }
                hasher.update(chunk)
            }
        }
        return hasher.finalize()
    }

    static func loadSignature(_ path: String) throws -> SSHSIG.Signature {
        let contents: [UInt8]
        do {
            contents = try SSHKeyFile.readFile(atPath: path)
        } catch let error as SSHKeyError {
            throw KeygenFailure("Couldn't read signature file: \(error.reason)")
        }
        do {
            return try SSHSIG.parse(armored: String(decoding: contents, as: UTF8.self))
        } catch let error as SSHKeyError {
            throw KeygenFailure(error.reason)
        }
    }

    static func verify(signatureFile: String, namespace: String, check: (allowedSigners: String, principal: String)?,
                       options: KeygenOptions, io: KeygenIO) throws {
        let verifyOptions = try parseOptions(options.extraOptions, signing: false)
        var failure: String?
        var signerKey: SSHPublicKey?
        do {
            let signature = try loadSignature(signatureFile)
            let hash = try hashMessage(path: nil, algorithm: signature.hashAlgorithm, io: io, openFailure: { $0 })
            do {
                try SSHSIG.verify(signature, messageHash: hash, namespace: namespace)
            } catch let error as SSHKeyError {
                throw KeygenFailure(error.reason)
            }
            if let check {
                try authorize(signature.publicKey, allowedSignersPath: check.allowedSigners, principal: check.principal,
                              namespace: namespace, time: verifyOptions.verifyTime ?? io.now(), io: io)
            }
            signerKey = signature.publicKey
        } catch let error as KeygenFailure {
            failure = error.message
        }
        if let failure, !failure.isEmpty { io.writeError(failure + "\n") }
        guard let signerKey, failure == nil else {
            if !options.quiet { io.writeOutput("Could not verify signature.\n") }
            throw KeygenFailure("")
        }
        if !options.quiet {
            let who = check.map { " for \($0.principal)" } ?? ""
            io.writeOutput("Good \"\(namespace)\" signature\(who) with \(signerKey.type.displayName) key \(signerKey.fingerprint(options.fingerprintHash))\n")
        }
        if verifyOptions.printPublicKey { io.writeOutput(signerKey.description + "\n") }
    }

    static func loadAllowedSigners(_ path: String, io: KeygenIO) throws -> [AllowedSignersEntry] {
        let contents: [UInt8]
        do {
            contents = try SSHKeyFile.readFile(atPath: path, maximumSize: KeyCommands.maximumListSize)
        } catch let error as SSHKeyError {
            throw KeygenFailure("Unable to open allowed keys file \"\(path)\": \(error.reason)")
        }
        let (entries, warnings) = AllowedSigners.parse(String(decoding: contents, as: UTF8.self), path: path)
        for warning in warnings { io.writeError(warning + "\n") }
        return entries
    }

    static func authorize(_ key: SSHPublicKey, allowedSignersPath: String, principal: String, namespace: String,
                          time: Int, io: KeygenIO) throws {
        let entries = try loadAllowedSigners(allowedSignersPath, io: io)
        switch AllowedSigners.authorize(entries: entries, key: key, principal: principal, namespace: namespace, time: time) {
        case .success:
            return
        case .failure(.namespaceNotPermitted(let line)):
            throw KeygenFailure("\(allowedSignersPath):\(line): key is not permitted for use in signature namespace \"\(namespace)\"")
        case .failure(.notYetValid(let line)):
            throw KeygenFailure("\(allowedSignersPath):\(line): key is not yet valid")
        case .failure(.expired(let line)):
            throw KeygenFailure("\(allowedSignersPath):\(line): key has expired")
        case .failure(.noMatchingPrincipalAndKey):
            throw KeygenFailure("")
        }
    }

    static func findPrincipals(signatureFile: String, allowedSignersPath: String, io: KeygenIO) throws {
        let signature = try loadSignature(signatureFile)
        let entries = try loadAllowedSigners(allowedSignersPath, io: io)
        let principals = AllowedSigners.principals(entries: entries, key: signature.publicKey)
        guard !principals.isEmpty else { throw KeygenFailure("No principal matched.") }
        for principal in principals { io.writeOutput(principal + "\n") }
    }
}
