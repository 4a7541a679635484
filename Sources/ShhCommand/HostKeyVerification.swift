// Host keys as ssh checks them (sshconnect.c): known_hosts files, @cert-authority for host certificates, @revoked,
// and StrictHostKeyChecking deciding what happens to a host we have never seen. A changed key never connects.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import OpenSSHConfig
import SSH
import SSHCommandLine
import SSHKeys
import SSHProtocol
import Synchronization

typealias StrictHostKeyChecking = SSHClientOptions.StrictHostKeyChecking

/// Refused host keys end the connection with this (its text has been printed already).
struct HostKeyVerificationFailed: Error {}

/// ssh's host key checking: the library's known_hosts policy (SSHKnownHostsValidator) with ssh's messages and
/// StrictHostKeyChecking's question at the terminal.
final class KnownHostsVerifier: SSHHostKeyValidator {
    /// The name known_hosts records: "host" on port 22, "[host]:port" otherwise (HostKeyAlias when set).
    let knownHostsName: String
    /// The host name as the user typed it, for certificate principals and messages.
    let host: String
    let policy: StrictHostKeyChecking
    let batchMode: Bool
    let diagnostics: Diagnostics
    let knownHosts: SSHKnownHostsValidator
    /// Set when this verifier refused the host (and said why), so the caller adds nothing to the message.
    let refused = Mutex(false)

    init(knownHostsName: String, host: String, userFiles: [String], globalFiles: [String], policy: StrictHostKeyChecking,
         hashNewEntries: Bool, batchMode: Bool, diagnostics: Diagnostics) {
        self.knownHostsName = knownHostsName
        self.host = host
        self.policy = policy
        self.batchMode = batchMode
        self.diagnostics = diagnostics
        let unknownHosts: SSHKnownHostsValidator.UnknownHostPolicy = switch policy {
        case .yes: .reject
        case .acceptNew, .no: .acceptAndRecord
        case .ask where batchMode: .reject
        case .ask: .ask { question in (try? await whilePersonAnswers { Self.askAboutNewHost(question) }) ?? false }
        }
        knownHosts = SSHKnownHostsValidator(
            userFiles: userFiles, globalFiles: globalFiles, unknownHosts: unknownHosts, hostKeyAlias: knownHostsName,
            hashNewEntries: hashNewEntries
        ) { [diagnostics, knownHostsName] event in
            switch event {
            case .matched(let entry):
                diagnostics.debug("Host '\(knownHostsName)' is known and matches the \(entry.key.type.displayName) host key.")
                diagnostics.debug("Found key in \(entry.path):\(entry.line)")
            case .trustedAuthority(let authority):
                diagnostics.debug("Host certificate for \(knownHostsName) signed by a CA trusted in \(authority.path):\(authority.line)")
            case .recorded(let name, let type, _):
                diagnostics.info("Warning: Permanently added '\(name)' (\(type.displayName)) to the list of known hosts.")
            case .recordFailed(let file, let reason):
                diagnostics.error("Failed to add the host to the list of known hosts (\(file)): \(reason)")
            }
        }
    }

    func validateHostKey(_ hostKey: SSHPresentedKey, of server: SSHHostAddress) async throws {
        do {
            try await knownHosts.validateHostKey(hostKey, of: SSHHostAddress(host: host, port: server.port))
        } catch let rejection as SSHHostKeyRejection {
            refused.withLock { $0 = true }
            diagnostics.error(explanation(of: rejection))
            throw HostKeyVerificationFailed()
        }
    }

    /// What ssh prints for each refusal.
    private func explanation(of rejection: SSHHostKeyRejection) -> String {
        switch rejection.reason {
        case .unknownHost(_, let type, _) where policy == .ask:
            return "No \(type.displayName) host key is known for \(knownHostsName) and BatchMode forbids asking.\nHost key verification failed."
        case .unknownHost(_, let type, _):
            return "No \(type.displayName) host key is known for \(knownHostsName) and you have requested strict checking.\nHost key verification failed."
        case .certificateRevoked(_, let entry):
            return "Host certificate for \(knownHostsName) is marked as revoked (\(entry.path):\(entry.line)).\nHost key verification failed."
        case .revoked(_, let type, let entry):
            return """
                @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
                @       WARNING: REVOKED HOST KEY DETECTED!               @
                @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
                The \(type.displayName) host key for \(knownHostsName) is marked as revoked in \(entry.path):\(entry.line).
                This could mean that a stolen key is being used to impersonate this host.
                Host key verification failed.
                """
        case .changed(_, let type, let fingerprint, let entry):
            return """
                @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
                @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
                @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
                The \(type.displayName) key \(knownHostsName) presented is not the one recorded for it. Someone may be
                intercepting this connection (a man-in-the-middle attack), or the host key may have been replaced.
                The fingerprint of the key the host sent is
                \(fingerprint).
                Offending \(entry.key.type.displayName) key in \(entry.path):\(entry.line)
                If the change is expected, remove that line (shh-keygen -R \(knownHostsName)) and connect again.
                Host key for \(knownHostsName) has changed and shh refuses to connect.
                Host key verification failed.
                """
        case .invalidCertificate(let refusal):
            return "Certificate invalid: \(refusal)\nHost key verification failed."
        case .declined, .notPinned:
            return "Host key verification failed."
        }
    }

    /// StrictHostKeyChecking ask: yes, no, or the fingerprint itself (checked against the key, as ssh does).
    private static func askAboutNewHost(_ question: SSHUnknownHostQuestion) -> Bool {
        let key = question.key
        let text = """
            The authenticity of host '\(question.name)' can't be established.
            \(key.type.displayName) key fingerprint is \(key.fingerprint()).
            Are you sure you want to continue connecting (yes/no/[fingerprint])? 
            """
        func normalized(_ answer: String?) -> String? {
            answer.map { $0.split(separator: " ", omittingEmptySubsequences: true).joined().lowercased() }
        }
        var answer = normalized(TerminalPrompt.askOnTerminal(text, echo: true))
        while let given = answer, given != "yes", given != "no", given != key.fingerprint().lowercased() {
            answer = normalized(TerminalPrompt.askOnTerminal("Please type 'yes', 'no' or the fingerprint: ", echo: true))
        }
        guard let given = answer else { return false }
        return given != "no"
    }
}
