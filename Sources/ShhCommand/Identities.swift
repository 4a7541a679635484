// The credentials ssh would offer, in its order: each identity file (with its certificate beside it, or
// CertificateFile), keys offered by their public half and decrypted only if the server accepts one (asking for the
// passphrase on the terminal, or through SSH_ASKPASS), then keyboard-interactive and password prompts (on the
// terminal, or through SSH_ASKPASS without one: ReadPassphrase). BatchMode never prompts.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SSH
import SSHAgent
import SSHPOSIX
import SSHCommandLine
import SSHKeys
import SSHProtocol
import Synchronization
import Dispatch

/// Runs a prompt (a read from the terminal that waits for a person) on a dispatch thread: never on the few threads
/// of Swift's cooperative pool, and with no deadline, since a person takes the time they take.
func whilePersonAnswers<T: Sendable>(_ ask: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try ask() }) }
    }
}

enum Identities {
    static func credentials(_ settings: ClientSettings, diagnostics: Diagnostics) async -> [SSHClientCredential] {
        var byMethod: [String: [SSHClientCredential]] = [:]
        let files = settings.identityFiles.flatMap { publicKeyCredentials(path: $0, settings: settings, diagnostics: diagnostics) }
        // The agent's keys first, as ssh; with IdentitiesOnly only those that are also identity files. A file
        // whose key the agent holds is not offered twice.
        var agentKeys = await agentCredentials(settings.agent, diagnostics: diagnostics)
        let fileKeys = Set(files.compactMap(\.presentedKey))
        if settings.identitiesOnly { agentKeys = agentKeys.filter { $0.presentedKey.map(fileKeys.contains) ?? false } }
        let offeredByAgent = Set(agentKeys.compactMap(\.presentedKey))
        byMethod["publickey"] = agentKeys + files.filter { !($0.presentedKey.map(offeredByAgent.contains) ?? false) }
        if !settings.batchMode {
            // One set of questions for passwords and keyboard-interactive: a cancelled askpass ends them all.
            let questions = LoginQuestions()
            let prompt = "\(settings.user)@\(settings.hostName)'s password: "
            byMethod["password"] = (0..<max(1, settings.passwordPrompts)).map { attempt in
                SSHClientCredential.passwordPrompt { [diagnostics] in
                    try await whilePersonAnswers {
                        // ssh's words before each try after a refused one.
                        if attempt > 0 && !questions.isCancelled { diagnostics.error("Permission denied, please try again.") }
                        return questions.answer(prompt, echo: false)
                    }
                }
            }
            // ssh names the login before each prompt, since a server's prompts say nothing of whose they are.
            let login = "(\(settings.user)@\(settings.options.hostKeyAlias ?? settings.hostName)) "
            byMethod["keyboard-interactive"] = [SSHClientCredential.keyboardInteractive { request in
                try await whilePersonAnswers {
                    // The server wrote these: shown without their control characters (see PeerText), on standard
                    // error even when askpass answers, as ssh does.
                    if !request.name.isEmpty { TerminalPrompt.writeAll(STDERR_FILENO, PeerText.forTerminal(request.name) + "\n") }
                    if !request.instruction.isEmpty { TerminalPrompt.writeAll(STDERR_FILENO, PeerText.forTerminal(request.instruction) + "\n") }
                    // An unanswered prompt is sent empty, as ssh sends it: the server refuses, and no more is asked.
                    return request.prompts.map { question in
                        questions.answer(login + PeerText.forLogLine(question.prompt), echo: question.echo) ?? ""
                    }
                }
            }]
        }
        return settings.preferredAuthentications.flatMap { byMethod[$0] ?? [] }
    }

    /// The agent's keys, signing through it; none (with a note at -v) when it cannot be asked.
    private static func agentCredentials(_ agent: SSHAgentClient?, diagnostics: Diagnostics) async -> [SSHClientCredential] {
        guard let agent else { return [] }
        let identities: [SSHAgentIdentity]
        do {
            identities = try await agent.identities()
        } catch {
            diagnostics.debug("agent at \(agent.socketPath): \(error)")
            return []
        }
        return identities.map { identity in
            let key = identity.key.publicKey
            diagnostics.debug("Will attempt key: \(identity.comment) \(key.type.displayName) \(key.fingerprint()) agent")
            return SSHClientCredential.signer(key: identity.key) { data, algorithm in
                try await agent.sign(data, with: identity.key, algorithm: algorithm)
            }
        }
    }

    /// One identity file: nothing when it does not exist (the defaults are only tried when present), a message at
    /// -v when it cannot be read.
    private static func publicKeyCredentials(path: String, settings: ClientSettings, diagnostics: Diagnostics) -> [SSHClientCredential] {
        guard access(path, F_OK) == 0 else {
            diagnostics.debug("identity file \(path) not accessible: \(String(cString: strerror(errno)))")
            return []
        }
        let contents: [UInt8]
        do {
            contents = try SSHKeyFile.readFile(atPath: path)
        } catch {
            diagnostics.error("Load key \"\(path)\": \(error)")
            return []
        }
        let certificate = certificate(for: path, settings: settings, diagnostics: diagnostics)
        if !SSHKeyFile.isEncryptedPrivateKey(contents) {
            do {
                let key = try SSHKeyFile.parsePrivateKey(contents)
                diagnostics.debug("identity file \(path) type \(key.publicKey.type.displayName)")
                return [.privateKey(key, certificate: certificate)]
            } catch {
                diagnostics.error("Load key \"\(path)\": \(error)")
                return []
            }
        }
        // Encrypted: offer the public half, decrypt when the server wants a signature.
        guard let publicKey = SSHKeyFile.publicKeyInPrivateKeyFile(contents)
            ?? (try? SSHKeyFile.readFile(atPath: path + ".pub")).flatMap({ try? SSHPublicKeyLine(parsing: String(decoding: $0, as: UTF8.self)).key })
        else {
            diagnostics.error("Load key \"\(path)\": the public key is not in the file and \(path).pub is missing")
            return []
        }
        guard !settings.batchMode else {
            diagnostics.debug("identity file \(path) is encrypted; BatchMode forbids asking for its passphrase")
            return []
        }
        let unlocker = KeyUnlocker(path: path, contents: contents)
        let sign: @Sendable ([UInt8], SSHSignatureAlgorithm) async throws -> SSHSignature = { data, algorithm in
            // The passphrase prompt (and bcrypt's deliberate slowness) wait on a thread of their own.
            try await whilePersonAnswers { try unlocker.key() }.signature(for: data, algorithm: algorithm)
        }
        var credentials: [SSHClientCredential] = []
        if let certificate { credentials.append(.signer(key: .certificate(certificate), sign: sign)) }
        credentials.append(.signer(key: .key(publicKey), sign: sign))
        return credentials
    }

    /// PATH-cert.pub beside the key, or the first CertificateFile for this key.
    private static func certificate(for path: String, settings: ClientSettings, diagnostics: Diagnostics) -> SSHCertificate? {
        for candidate in [path + "-cert.pub"] + settings.certificateFiles {
            guard let bytes = try? SSHKeyFile.readFile(atPath: candidate),
                  let certificate = try? SSHCertificate.parseLine(String(decoding: bytes, as: UTF8.self)).certificate
            else { continue }
            diagnostics.debug("certificate \(candidate) for identity \(path)")
            return certificate
        }
        return nil
    }
}

/// Decrypts an encrypted key once, asking up to three times (on the terminal or through SSH_ASKPASS, as
/// ReadPassphrase decides).
private final class KeyUnlocker: Sendable {
    private let path: String
    private let contents: [UInt8]
    private let unlocked = Mutex<SSHPrivateKey?>(nil)

    init(path: String, contents: [UInt8]) {
        self.path = path
        self.contents = contents
    }

    func key() throws -> SSHPrivateKey {
        try unlocked.withLock { unlocked in
            if let unlocked { return unlocked }
            for _ in 0..<3 {
                // No answer, or an empty one, skips the key, as in ssh.
                guard let passphrase = ReadPassphrase.ask("Enter passphrase for key '\(path)': ", echo: false), !passphrase.isEmpty else { break }
                if let key = try? SSHKeyFile.parsePrivateKey(contents, passphrase: passphrase) {
                    unlocked = key
                    return key
                }
                TerminalPrompt.writeAll(STDERR_FILENO, "Bad passphrase, try again for \(path)\n")
            }
            throw ShhFailure("shh: no passphrase for \(path)")
        }
    }
}

extension SSHClientCredential {
    /// The key a public-key credential offers (nil for passwords and prompts).
    var presentedKey: SSHPresentedKey? {
        switch self {
        case .privateKey(let key, _): .key(key.publicKey)
        case .signer(let key, _): key
        default: nil
        }
    }
}
