// Host keys as ssh checks them (sshconnect.c): known_hosts files, @cert-authority for host certificates, @revoked,
// and StrictHostKeyChecking deciding what happens to a host we have never seen. A changed key never connects.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import NIOCore
import SSH
import SSHCommandLine
import SSHKeys
import SSHProtocol
import Synchronization

enum StrictHostKeyChecking: String {
    case yes, acceptNew = "accept-new", no, ask

    init?(configValue: String) {
        switch configValue.lowercased() {
        case "yes", "true": self = .yes
        case "accept-new": self = .acceptNew
        case "no", "off", "false": self = .no
        case "ask": self = .ask
        default: return nil
        }
    }
}

/// Refused host keys end the connection with this (its text has been printed already).
struct HostKeyVerificationFailed: Error {}

final class KnownHostsVerifier: SSHHostKeyValidator {
    /// The name known_hosts records: "host" on port 22, "[host]:port" otherwise (HostKeyAlias when set).
    let knownHostsName: String
    /// The host name as the user typed it, for certificate principals and messages.
    let host: String
    let userFiles: [String]
    let globalFiles: [String]
    let policy: StrictHostKeyChecking
    let hashNewEntries: Bool
    let batchMode: Bool
    let diagnostics: Diagnostics
    /// Set when this verifier refused the host (and said why), so the caller adds nothing to the message.
    let refused = Mutex(false)

    init(knownHostsName: String, host: String, userFiles: [String], globalFiles: [String], policy: StrictHostKeyChecking,
         hashNewEntries: Bool, batchMode: Bool, diagnostics: Diagnostics) {
        self.knownHostsName = knownHostsName
        self.host = host
        self.userFiles = userFiles
        self.globalFiles = globalFiles
        self.policy = policy
        self.hashNewEntries = hashNewEntries
        self.batchMode = batchMode
        self.diagnostics = diagnostics
    }

    func validateHostKey(_ hostKey: SSHPresentedKey, validationComplete: EventLoopPromise<Void>) {
        // Off the event loop: checking may read files and ask at the terminal.
        DispatchQueue.global().async {
            do {
                try self.verify(hostKey)
                validationComplete.succeed()
            } catch {
                self.refused.withLock { $0 = true }
                validationComplete.fail(error)
            }
        }
    }

    func verify(_ presented: SSHPresentedKey) throws {
        let files = (userFiles + globalFiles).compactMap { try? KnownHostsFile.load(path: $0) }
        let key = presented.publicKey
        let typeName = key.type.displayName
        if case .certificate(let certificate) = presented {
            let now = UInt64(max(0, time(nil)))
            switch KnownHosts.check(certificate: certificate, hostName: knownHostsName, principal: host, files: files, now: now) {
            case .trusted(let authority):
                diagnostics.debug("Host certificate for \(knownHostsName) signed by a CA trusted in \(authority.path):\(authority.line)")
                return
            case .revoked(let entry):
                diagnostics.error("Host certificate for \(knownHostsName) is marked as revoked (\(entry.path):\(entry.line)).\nHost key verification failed.")
                throw HostKeyVerificationFailed()
            case .refused(let refusal):
                diagnostics.error("Certificate invalid: \(refusal)\nHost key verification failed.")
                throw HostKeyVerificationFailed()
            case .untrustedAuthority:
                diagnostics.debug("No matching CA found for the host certificate; checking its key as a plain host key")
            }
        }
        switch KnownHosts.check(key, hostName: knownHostsName, files: files) {
        case .known(let entry):
            diagnostics.debug("Host '\(knownHostsName)' is known and matches the \(typeName) host key.")
            diagnostics.debug("Found key in \(entry.path):\(entry.line)")
        case .revoked(let entry):
            diagnostics.error("""
                @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
                @       WARNING: REVOKED HOST KEY DETECTED!               @
                @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
                The \(typeName) host key for \(knownHostsName) is marked as revoked in \(entry.path):\(entry.line).
                This could mean that a stolen key is being used to impersonate this host.
                Host key verification failed.
                """)
            throw HostKeyVerificationFailed()
        case .changed(let entry):
            diagnostics.error("""
                @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
                @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
                @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
                The \(typeName) key \(knownHostsName) presented is not the one recorded for it. Someone may be
                intercepting this connection (a man-in-the-middle attack), or the host key may have been replaced.
                The fingerprint of the key the host sent is
                \(key.fingerprint()).
                Offending \(entry.key.type.displayName) key in \(entry.path):\(entry.line)
                If the change is expected, remove that line (shh-keygen -R \(knownHostsName)) and connect again.
                Host key for \(knownHostsName) has changed and shh refuses to connect.
                Host key verification failed.
                """)
            throw HostKeyVerificationFailed()
        case .unknown:
            try decideAboutUnknownHost(key)
        }
    }

    private func decideAboutUnknownHost(_ key: SSHPublicKey) throws {
        let typeName = key.type.displayName
        switch policy {
        case .yes:
            diagnostics.error("No \(typeName) host key is known for \(knownHostsName) and you have requested strict checking.\nHost key verification failed.")
            throw HostKeyVerificationFailed()
        case .ask:
            guard !batchMode else {
                diagnostics.error("No \(typeName) host key is known for \(knownHostsName) and BatchMode forbids asking.\nHost key verification failed.")
                throw HostKeyVerificationFailed()
            }
            let question = """
                The authenticity of host '\(knownHostsName)' can't be established.
                \(typeName) key fingerprint is \(key.fingerprint()).
                Are you sure you want to continue connecting (yes/no/[fingerprint])? 
                """
            // yes, no, or the fingerprint itself (checked against the key, as ssh does).
            func normalized(_ answer: String?) -> String? {
                answer.map { $0.split(separator: " ", omittingEmptySubsequences: true).joined().lowercased() }
            }
            var answer = normalized(TerminalPrompt.askOnTerminal(question, echo: true))
            while let given = answer, given != "yes", given != "no", given != key.fingerprint().lowercased() {
                answer = normalized(TerminalPrompt.askOnTerminal("Please type 'yes', 'no' or the fingerprint: ", echo: true))
            }
            guard let given = answer, given != "no" else {
                diagnostics.error("Host key verification failed.")
                throw HostKeyVerificationFailed()
            }
        case .acceptNew, .no:
            break
        }
        record(key)
    }

    /// Adds the host to the first user known_hosts file, as ssh does; failing to write is a warning, not a refusal.
    private func record(_ key: SSHPublicKey) {
        guard let path = userFiles.first else { return }
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !directory.isEmpty { mkdir(directory, 0o700) }
        let lines = KnownHosts.entryLines(names: [knownHostsName], key: key, hashed: hashNewEntries)
        do {
            try KnownHosts.append(lines, toPath: path)
            diagnostics.info("Warning: Permanently added '\(knownHostsName)' (\(key.type.displayName)) to the list of known hosts.")
        } catch {
            diagnostics.error("Failed to add the host to the list of known hosts (\(path)): \(error)")
        }
    }
}
