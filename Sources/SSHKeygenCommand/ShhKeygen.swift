// shh-keygen: ssh-keygen(1)'s command line and behaviour for keys — generation, -y, -l, -p, -c and -Y signatures.
// Output, prompts and exit statuses follow OpenSSH 9.x's ssh-keygen so scripts written for it keep working.

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
import SSHCommandLine
import SSHKeys

/// The one error type of this module: a message for standard error and the exit status that goes with it.
public struct KeygenFailure: Error, Equatable, CustomStringConvertible {
    /// What is printed on standard error.
    public var message: String
    /// 255 where ssh-keygen dies through fatal(), 1 for usage errors and refused prompts.
    public var exitStatus: Int32

    /// A failure saying `message`, ending the run with `exitStatus`.
    public init(_ message: String, exitStatus: Int32 = 255) {
        self.message = message
        self.exitStatus = exitStatus
    }

    /// The message.
    public var description: String { message }
}

/// What the command line asked for.
struct KeygenOptions {
    var keyTypeName: String?
    var bits: Int?
    var identityFile: String?
    var newPassphrase: String?
    var oldPassphrase: String?
    var comment: String?
    var quiet = false
    var verbose = false
    var fingerprintHash = SSHFingerprintHash.sha256
    var printPublic = false
    var showCertificate = false
    var hostCertificate = false
    var validity: String?
    var serial: String?
    var findHost: String?
    var removeHost: String?
    var hashKnownHosts = false
    var printFingerprint = false
    var changePassphrase = false
    var changeComment = false
    var signOperation: String?
    var namespace: String?
    var principal: String?
    var signatureFile: String?
    var extraOptions: [String] = []
    var rounds = OpenSSHPrivateKeyFormat.defaultKDFRounds
    var cipherName = OpenSSHPrivateKeyFormat.defaultCipherName
    var operands: [String] = []
}

/// shh-keygen, runnable in-process: what the `shh-keygen` executable calls.
public enum ShhKeygen {
    /// ssh-keygen's complete option string, so every flag it knows parses; those we do not implement yet are refused by name.
    static let getopt = Getopt("ABHKLQUXceghiklopquvyC:D:E:F:I:M:N:O:P:R:V:Y:Z:a:b:f:g:m:n:r:s:t:w:z:")
    static let notYetSupported: [Character: String] = [
        "A": "generating all host keys", "B": "bubblebabble digests", "D": "PKCS#11 keys", "e": "key export",
        "g": "generic DNS records",
        "i": "key import", "K": "FIDO keys", "k": "KRLs", "M": "moduli", "Q": "KRLs",
        "r": "SSHFP records", "U": "agent keys",
        "u": "KRLs", "w": "FIDO keys", "X": "key import",
    ]

    static let usage = """
        usage: shh-keygen [-q] [-a rounds] [-b bits] [-C comment] [-f output_keyfile]
                          [-N new_passphrase] [-t ecdsa | ed25519 | rsa] [-Z cipher]
               shh-keygen -p [-a rounds] [-f keyfile] [-N new_passphrase] [-P old_passphrase] [-Z cipher]
               shh-keygen -l [-v] [-E fingerprint_hash] [-f input_keyfile]
               shh-keygen -y [-f input_keyfile] [-P passphrase]
               shh-keygen -L [-f input_keyfile]
               shh-keygen -s ca_key -I certificate_identity [-h] [-n principals]
                          [-O option] [-V validity_interval] [-z serial_number] file ...
               shh-keygen -F hostname [-lv] [-f known_hosts_file]
               shh-keygen -H [-f known_hosts_file]
               shh-keygen -R hostname [-f known_hosts_file]
               shh-keygen -c [-a rounds] [-C comment] [-f keyfile] [-P passphrase]
               shh-keygen -Y sign -f key_file -n namespace [-O option] file ...
               shh-keygen -Y verify -f allowed_signers_file -I signer_identity
                          -n namespace -s signature_file [-O option]
               shh-keygen -Y check-novalidate -n namespace -s signature_file
               shh-keygen -Y find-principals -s signature_file -f allowed_signers_file

        """

    /// Runs the command and returns its exit status. Never traps on user input.
    public static func run(_ arguments: [String], io: KeygenIO) -> Int32 {
        do {
            let options = try parse(arguments)
            try execute(options, io: io)
            return 0
        } catch let failure as KeygenFailure {
            if !failure.message.isEmpty { io.writeError(failure.message + "\n") }
            return failure.exitStatus
        } catch let error as CommandLineError {
            io.writeError("\(error)\n" + usage)
            return 1
        } catch {
            io.writeError("\(error)\n")
            return 255
        }
    }

    static func parse(_ arguments: [String]) throws -> KeygenOptions {
        let (parsed, next) = try getopt.parse(arguments)
        var options = KeygenOptions()
        for option in parsed {
            let value = option.argument ?? ""
            switch option.letter {
            case "b":
                guard let bits = Int(value), bits >= 1, bits <= Int(UInt32.max) else {
                    throw KeygenFailure("Bits has bad value \(value) (invalid)")
                }
                options.bits = bits
            case "t": options.keyTypeName = value
            case "f": options.identityFile = value
            case "N": options.newPassphrase = value
            case "P": options.oldPassphrase = value
            case "C": options.comment = value
            case "q": options.quiet = true
            case "v": options.verbose = true
            case "E":
                guard let hash = SSHFingerprintHash(name: value) else { throw KeygenFailure("Invalid hash algorithm \"\(value)\"") }
                options.fingerprintHash = hash
            case "y": options.printPublic = true
            case "F": options.findHost = value
            case "R": options.removeHost = value
            case "H": options.hashKnownHosts = true
            case "L": options.showCertificate = true
            case "h": options.hostCertificate = true
            case "V": options.validity = value
            case "z": options.serial = value
            case "l": options.printFingerprint = true
            case "p": options.changePassphrase = true
            case "c": options.changeComment = true
            case "o": break  // ssh-keygen's no-op: the OpenSSH format is already the default
            case "Y": options.signOperation = value
            case "n": options.namespace = value
            case "I": options.principal = value
            case "O": options.extraOptions.append(value)
            case "a":
                guard let rounds = Int(value), rounds >= 1, rounds <= OpenSSHPrivateKeyFormat.maximumKDFRounds else {
                    throw KeygenFailure("Invalid number: \(value) (rounds must be 1 to \(OpenSSHPrivateKeyFormat.maximumKDFRounds))")
                }
                options.rounds = rounds
            case "Z":
                guard OpenSSHPrivateKeyFormat.supportedCipherNames.contains(value) else {
                    throw KeygenFailure("Invalid OpenSSH-format cipher '\(value)'")
                }
                options.cipherName = value
            case "m":
                // Writing PEM or PKCS#8 files is not built; refusing beats silently writing another format.
                throw KeygenFailure("Writing keys in \(value) format is not supported; shh-keygen writes the OpenSSH format", exitStatus: 1)
            case "s": options.signatureFile = value  // the signature file for -Y; a CA key otherwise
            default:
                if let feature = notYetSupported[option.letter] {
                    throw KeygenFailure("shh-keygen: -\(option.letter) (\(feature)) is not supported yet", exitStatus: 1)
                }
                throw CommandLineError.unknownOption(option.letter)
            }
        }
        options.operands = Array(arguments[next...])
        return options
    }

    static func execute(_ options: KeygenOptions, io: KeygenIO) throws {
        if let operation = options.signOperation {
            return try SignatureCommands.run(operation: operation, options: options, io: io)
        }
        if options.signatureFile != nil {
            return try CertificateCommands(options: options, io: io).sign()
        }
        // Without -s or -Y these flags have nothing to apply to: refuse rather than ignore them.
        for (flag, given) in [("I", options.principal != nil), ("n", options.namespace != nil), ("O", !options.extraOptions.isEmpty),
                              ("h", options.hostCertificate), ("V", options.validity != nil), ("z", options.serial != nil)] where given {
            throw KeygenFailure("shh-keygen: -\(flag) is only used with -s (certificates) or -Y (signatures)", exitStatus: 1)
        }
        if !options.operands.isEmpty && options.signatureFile == nil {
            throw KeygenFailure("Too many arguments.\n" + usage, exitStatus: 1)
        }
        if options.changePassphrase && options.changeComment {
            throw KeygenFailure("Can only have one of -p and -c.\n" + usage, exitStatus: 1)
        }
        if options.printFingerprint && (options.removeHost != nil || options.hashKnownHosts) {
            throw KeygenFailure("Cannot use -l with -H or -R.\n" + usage, exitStatus: 1)
        }
        if options.showCertificate { return try CertificateCommands(options: options, io: io).show() }
        let knownHosts = KnownHostsCommands(options: options, io: io)
        if let name = options.findHost { return try knownHosts.run(.find(name)) }
        if let name = options.removeHost { return try knownHosts.run(.remove(name)) }
        if options.hashKnownHosts { return try knownHosts.run(.hash) }
        let commands = KeyCommands(options: options, io: io)
        if options.printFingerprint { return try commands.printFingerprints() }
        if options.changePassphrase { return try commands.changePassphrase() }
        if options.changeComment { return try commands.changeComment() }
        if options.printPublic { return try commands.printPublicKey() }
        try commands.generate()
    }
}
