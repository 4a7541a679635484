// shh-keygen's key operations: generate, -y (print public key), -l (fingerprints), -p (passphrase), -c (comment).

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

struct KeyCommands {
    let options: KeygenOptions
    let io: KeygenIO

    init(options: KeygenOptions, io: KeygenIO) {
        self.options = options
        self.io = io
    }

    var requestedKeyType: SSHKeyType? {
        guard let name = options.keyTypeName else { return .ed25519 }
        return SSHKeyType(keygenName: name)
    }

    /// -f, or ask for a file name with the type's default under ~/.ssh (ssh-keygen's ask_filename).
    func identityPath(prompt: String) throws -> String {
        if let file = options.identityFile { return file }
        let type = requestedKeyType ?? .ed25519
        let name: String
        switch type {
        case .ed25519: name = "id_ed25519"
        case .ecdsaP256, .ecdsaP384, .ecdsaP521: name = "id_ecdsa"
        case .rsa: name = "id_rsa"
        }
        let suggestion = "\(io.homeDirectory)/.ssh/\(name)"
        io.writeOutput("\(prompt) (\(suggestion)): ")
        guard let answer = io.readLine() else { throw KeygenFailure("", exitStatus: 1) }
        return answer.isEmpty ? suggestion : answer
    }

    // MARK: Loading

    /// ssh-keygen's load_identity: try without a passphrase, then -P or a prompt. Private key files must not be
    /// readable by others (as OpenSSH's sshkey_perm_ok).
    func loadPrivateKey(path: String, prompt: String = "Enter passphrase: ", contextVerb: String = "Load key") throws -> (SSHPrivateKey, String?) {
        try checkExists(path)
        try checkPrivateKeyPermissions(path)
        let contents: [UInt8]
        do {
            contents = try SSHKeyFile.readFile(atPath: path)
        } catch let error as SSHKeyError {
            throw KeygenFailure("\(contextVerb) \"\(path)\": \(error.reason)")
        }
        do {
            return (try SSHKeyFile.parsePrivateKey(contents), nil)
        } catch let error as SSHKeyError where error.code == .passphraseRequired {
            let passphrase = options.oldPassphrase ?? io.readPassphrase(prompt) ?? ""
            do {
                return (try SSHKeyFile.parsePrivateKey(contents, passphrase: passphrase), passphrase)
            } catch let error as SSHKeyError {
                let reason = error.code == .passphraseRequired ? SSHKeyError(.incorrectPassphrase).reason : error.reason
                throw KeygenFailure("\(contextVerb) \"\(path)\": \(reason)")
            }
        } catch let error as SSHKeyError {
            throw KeygenFailure("\(contextVerb) \"\(path)\": \(error.reason)")
        }
    }

    func checkExists(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw KeygenFailure("\(path): \(String(cString: strerror(errno)))")
        }
    }

    /// A private key readable by group or others is refused, with OpenSSH's warning.
    func checkPrivateKeyPermissions(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0, info.st_uid == getuid(), info.st_mode & 0o077 != 0 else { return }
        let mode = String(info.st_mode & 0o777, radix: 8)
        io.writeError("""
            @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
            @         WARNING: UNPROTECTED PRIVATE KEY FILE!          @
            @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
            Permissions 0\(mode) for '\(path)' are too open.
            It is required that your private key files are NOT accessible by others.
            This private key will be ignored.

            """)
        throw KeygenFailure("Load key \"\(path)\": bad permissions")
    }

    func saveKeyPair(_ key: SSHPrivateKey, path: String, passphrase: String) throws {
        let privateText: String
        do {
            privateText = try OpenSSHPrivateKeyFormat.fileText(
                key, passphrase: passphrase, cipherName: options.cipherName, kdfRounds: options.rounds)
            try SSHKeyFile.write(privateText, toPath: path, mode: 0o600)
        } catch let error as SSHKeyError {
            throw KeygenFailure("Saving key \"\(path)\" failed: \(error.reason)", exitStatus: 1)
        }
    }

    func savePublicKey(_ key: SSHPublicKey, comment: String, path: String) throws {
        do {
            // ssh-keygen always writes the separator, so an empty comment leaves "type blob \n"; keep files identical.
            try SSHKeyFile.write("\(key.description) \(comment)\n", toPath: path, mode: 0o644)
        } catch let error as SSHKeyError {
            throw KeygenFailure("Unable to save public key to \(path): \(error.reason)")
        }
    }

    // MARK: Generation

    func generate() throws {
        guard let type = requestedKeyType else {
            throw KeygenFailure("unknown key type \(options.keyTypeName ?? "")")
        }
        let bits = type == .ed25519 ? nil : options.bits
        let key: SSHPrivateKey
        do {
            _ = try SSHPrivateKey.validatedGenerationType(type: type, bits: bits)
            if !options.quiet {
                io.writeOutput("Generating public/private \(options.keyTypeName ?? "ed25519") key pair.\n")
            }
            key = try SSHPrivateKey.generate(type: type, bits: bits)
        } catch let error as SSHKeyError {
            throw KeygenFailure(error.reason)
        }
        let path = try identityPath(prompt: "Enter file in which to save the key")
        try createUserSSHDirectory(for: path)
        guard try confirmOverwrite(path) else { throw KeygenFailure("", exitStatus: 1) }
        let passphrase = options.oldPassphrase ?? options.newPassphrase ?? askNewPassphrase(
            first: "Enter passphrase (empty for no passphrase): ", retry: "Passphrases do not match.  Try again.")
        var labelled = key
        labelled.comment = options.comment ?? io.defaultComment
        try saveKeyPair(labelled, path: path, passphrase: passphrase)
        if !options.quiet { io.writeOutput("Your identification has been saved in \(path)\n") }
        try savePublicKey(labelled.publicKey, comment: labelled.comment, path: path + ".pub")
        if !options.quiet {
            io.writeOutput("""
                Your public key has been saved in \(path).pub
                The key fingerprint is:
                \(labelled.publicKey.fingerprint(options.fingerprintHash)) \(labelled.comment)
                The key's randomart image is:
                \(labelled.publicKey.randomArt(options.fingerprintHash))

                """)
        }
    }

    /// Asks twice until both answers agree (ssh-keygen's read_check_passphrase). End of input counts as empty.
    func askNewPassphrase(first: String, retry: String) -> String {
        while true {
            let one = io.readPassphrase(first) ?? ""
            let two = io.readPassphrase("Enter same passphrase again: ") ?? ""
            if one == two { return one }
            io.writeOutput(retry + "\n")
            // Without a terminal both reads hit end of input and agree, so this cannot spin.
        }
    }

    /// "<file> already exists. Overwrite (y/n)?" — anything but y/Y (or end of input) declines.
    func confirmOverwrite(_ path: String) throws -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return true }
        io.writeOutput("\(path) already exists.\nOverwrite (y/n)? ")
        guard let answer = io.readLine(), let first = answer.first else { return false }
        return first == "y" || first == "Y"
    }

    /// Creates ~/.ssh (mode 0700) when the key goes there and it is missing, as ssh-keygen does.
    func createUserSSHDirectory(for path: String) throws {
        let directory = "\(io.homeDirectory)/.ssh"
        guard path.hasPrefix(directory + "/") else { return }
        var info = stat()
        guard stat(directory, &info) != 0, errno == ENOENT else { return }
        guard mkdir(directory, 0o700) == 0 else {
            throw KeygenFailure("Could not create directory '\(directory)': \(String(cString: strerror(errno)))")
        }
        if !options.quiet { io.writeOutput("Created directory '\(directory)'.\n") }
    }

    // MARK: -y

    func printPublicKey() throws {
        let path = try identityPath(prompt: "Enter file in which the key is")
        let (key, _) = try loadPrivateKey(path: path)
        io.writeOutput(SSHPublicKeyLine(key: key.publicKey, comment: key.comment).text + "\n")
    }

    // MARK: -l

    /// The largest key list (authorized_keys, known_hosts, certificates) read for -l and -L.
    static let maximumListSize = SSHKeyFile.maximumFileSize * 64

    /// A key list file, or standard input for "-", bounded the same way either way.
    func readListInput(path: String) throws -> [UInt8] {
        guard path == "-" else { return try SSHKeyFile.readFile(atPath: path, maximumSize: Self.maximumListSize) }
        var data: [UInt8] = []
        while let chunk = io.readStandardInputChunk(), !chunk.isEmpty {
            data += chunk
            guard data.count <= Self.maximumListSize else { throw SSHKeyError(.fileTooLarge(bytes: data.count), path: "(stdin)") }
        }
        return data
    }

    func printFingerprints() throws {
        let path = try identityPath(prompt: "Enter file in which the key is")
        let fromStandardInput = path == "-"
        let contents: [UInt8]
        do {
            contents = try readListInput(path: path)
        } catch let error as SSHKeyError {
            throw KeygenFailure("shh-keygen: \(error.description)")
        }
        let displayPath = fromStandardInput ? "(stdin)" : path
        let text = String(decoding: contents, as: UTF8.self)
        var printedAny = false
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.drop(while: { $0 == " " || $0 == "\t" })
            if line.isEmpty || line.hasPrefix("#") { continue }
            if index == 0, !fromStandardInput, line.contains("PRIVATE KEY") {
                return try printPrivateKeyFingerprint(path: path, contents: contents)
            }
            if let (certificate, comment) = try? SSHCertificate.parseLine(String(line)) {
                printFingerprint(certificate.key, comment: comment, typeLabel: certificate.displayName)
                printedAny = true
                continue
            }
            guard let (key, comment) = PublicKeyListLine.parse(String(line)) else { continue }
            printFingerprint(key, comment: comment)
            printedAny = true
        }
        if !printedAny { throw KeygenFailure("\(displayPath) is not a public key file.") }
    }

    func printFingerprint(_ key: SSHPublicKey, comment: String?, typeLabel: String? = nil) {
        let shown = (comment ?? "").isEmpty ? "no comment" : comment!
        io.writeOutput("\(key.bitCount) \(key.fingerprint(options.fingerprintHash)) \(shown) (\(typeLabel ?? key.type.displayName))\n")
        if options.verbose { io.writeOutput(key.randomArt(options.fingerprintHash) + "\n") }
    }

    /// ssh-keygen's fingerprint_private: prefer FILE.pub (for its comment), else what the private file gives
    /// without a passphrase (openssh-key-v1 keeps the public key in clear).
    func printPrivateKeyFingerprint(path: String, contents: [UInt8]) throws {
        var publicKey: SSHPublicKey?
        var comment: String?
        if let pubContents = try? SSHKeyFile.readFile(atPath: path + ".pub"),
           let line = String(decoding: pubContents, as: UTF8.self).split(separator: "\n").first,
           let parsed = try? SSHPublicKeyLine(parsing: String(line)) {
            publicKey = parsed.key
            // OpenSSH names a comment-less public key file after itself.
            comment = parsed.comment.isEmpty ? path + ".pub" : parsed.comment
        }
        if publicKey == nil || (comment ?? "").isEmpty {
            if let key = try? SSHKeyFile.parsePrivateKey(contents) {
                publicKey = publicKey ?? key.publicKey
                comment = key.comment
            } else if publicKey == nil {
                publicKey = SSHKeyFile.publicKeyInPrivateKeyFile(contents)
            }
        }
        guard let publicKey else { throw KeygenFailure("\(path) is not a key file.") }
        printFingerprint(publicKey, comment: comment)
    }

    // MARK: -p

    func changePassphrase() throws {
        let path = try identityPath(prompt: "Enter file in which the key is")
        let (key, _) = try loadPrivateKey(path: path, prompt: "Enter old passphrase: ", contextVerb: "Failed to load key")
        if hasCommentField(path) { io.writeOutput("Key has comment '\(key.comment)'\n") }
        let newPassphrase: String
        if let given = options.newPassphrase {
            newPassphrase = given
        } else {
            let one = io.readPassphrase("Enter new passphrase (empty for no passphrase): ") ?? ""
            let two = io.readPassphrase("Enter same passphrase again: ") ?? ""
            guard one == two else {
                io.writeOutput("Pass phrases do not match.  Try again.\n")
                throw KeygenFailure("", exitStatus: 1)
            }
            newPassphrase = one
        }
        try saveKeyPair(key, path: path, passphrase: newPassphrase)
        io.writeOutput("Your identification has been saved with the new passphrase.\n")
    }

    // MARK: -c

    /// OpenSSH-format files always carry a comment (perhaps empty); PEM files have none at all,
    /// and ssh-keygen's messages tell the two apart.
    func hasCommentField(_ path: String) -> Bool {
        guard let contents = try? SSHKeyFile.readFile(atPath: path) else { return false }
        return SSHKeyFile.publicKeyInPrivateKeyFile(contents) != nil
    }

    func changeComment() throws {
        let path = try identityPath(prompt: "Enter file in which the key is")
        try checkExists(path)
        try checkPrivateKeyPermissions(path)
        // ssh-keygen -c takes the passphrase from -P, else -N, else asks.
        var adjusted = options
        adjusted.oldPassphrase = options.oldPassphrase ?? options.newPassphrase
        let commands = KeyCommands(options: adjusted, io: io)
        let (loaded, passphrase) = try commands.loadPrivateKey(path: path, contextVerb: "Cannot load private key")
        var key = loaded
        let hadComment = hasCommentField(path)
        io.writeOutput(hadComment ? "Old comment: \(key.comment)\n" : "No existing comment\n")
        let newComment: String
        if let given = options.comment {
            newComment = given
        } else {
            io.writeOutput("New comment: ")
            guard let answer = io.readLine() else { throw KeygenFailure("", exitStatus: 1) }
            newComment = answer
        }
        if hadComment, newComment == key.comment {
            io.writeOutput("No change to comment\n")
            return
        }
        key.comment = newComment
        try saveKeyPair(key, path: path, passphrase: passphrase ?? "")
        try savePublicKey(key.publicKey, comment: newComment, path: path + ".pub")
        io.writeOutput(newComment.isEmpty ? "Comment removed\n" : "Comment '\(newComment)' applied\n")
    }
}

/// Lines of files that hold public keys: plain keys, authorized_keys (options first) and known_hosts
/// (host patterns first), as ssh-keygen -l accepts them.
enum PublicKeyListLine {
    static func parse(_ line: String) -> (SSHPublicKey, String?)? {
        if let parsed = try? SSHPublicKeyLine(parsing: line) { return (parsed.key, parsed.comment) }
        // Skip one leading field (host patterns or options, where quotes may hide spaces) and retry.
        let index = AuthorizedKeysFile.endOfLeadingField(line)
        guard index < line.endIndex, let parsed = try? SSHPublicKeyLine(parsing: String(line[index...])) else { return nil }
        // Like ssh-keygen, the skipped field (host names, options) stands in for a missing comment.
        return (parsed.key, parsed.comment.isEmpty ? String(line[..<index]) : parsed.comment)
    }
}
