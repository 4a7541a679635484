// Checking the server's host key (RFC 4251 §4.1, RFC 4253 §8): the policy protocol every client must be given, and
// ready policies — known_hosts as ssh checks it (sshconnect.c's check_host_key: @cert-authority for host
// certificates, @revoked, a changed key never connects, StrictHostKeyChecking for a host never seen), pinned keys,
// and an insecure accept-all whose name warns.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOPosix
import SSHKeys
import SSHProtocol

/// The server a host key is being checked for: the name and port the client connected to.
public struct SSHHostAddress: Sendable, Hashable {
    /// The host name (or address) as given to `SSHClient.connect`.
    public var host: String
    /// The TCP port.
    public var port: Int

    /// A server address.
    /// - Parameters:
    ///   - host: the host name or address.
    ///   - port: the TCP port.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// Decides whether the server's host key is the one we expect (known_hosts, a pinned key, ...). Required for every
/// client: there is no default that accepts everything. Without this check anyone between client and server can
/// read and change the whole connection (RFC 4251 §4.1).
///
/// The check runs once per connection, after the server proved it holds the key (RFC 4253 §8); reading from the
/// server pauses meanwhile, so a validator may take its time (read files, ask a person). It runs on the
/// connection's event loop: await slow work on a thread made for it, never block.
///
/// ```swift
/// struct UnexpectedHostKey: Error {}
///
/// struct FingerprintPinned: SSHHostKeyValidator {
///     let fingerprint: String   // "SHA256:..."
///     func validateHostKey(_ hostKey: SSHPresentedKey, of server: SSHHostAddress) async throws {
///         guard hostKey.publicKey.fingerprint() == fingerprint else { throw UnexpectedHostKey() }
///     }
/// }
/// ```
public protocol SSHHostKeyValidator: Sendable {
    /// Returns to accept the server's key; throws to refuse it.
    ///
    /// The error reaches the caller of `SSHClient.connect` as `SSHError.Kind.hostKeyRejected`, with the error as
    /// `SSHError.underlying`; the server is told only that its key could not be verified, never the error's text.
    /// - Parameters:
    ///   - hostKey: the key (or certificate) the server presented.
    ///   - server: the name and port the client connected to.
    /// - Throws: any error, to refuse the key.
    func validateHostKey(_ hostKey: SSHPresentedKey, of server: SSHHostAddress) async throws
}

/// Accepts any host key: only for tests and throwaway tools, as its name says.
public struct AcceptAnyHostKeyInsecurely: SSHHostKeyValidator {
    /// The validator that accepts everything.
    public init() {}
    /// Accepts the key without looking at it.
    /// - Parameters:
    ///   - hostKey: the key the server presented, ignored.
    ///   - server: the server, ignored.
    public func validateHostKey(_ hostKey: SSHPresentedKey, of server: SSHHostAddress) async throws {}
}

extension SSHHostKeyValidator where Self == AcceptAnyHostKeyInsecurely {
    /// Accepts any host key, so anyone between us and the server can read and change everything. For tests and
    /// throwaway tools only.
    public static var acceptAnyHostKeyInsecurely: AcceptAnyHostKeyInsecurely { AcceptAnyHostKeyInsecurely() }
}

/// Accepts exactly the given keys (plain host keys, or certificates whose subject key is one of them).
///
/// For a server whose key the program already knows, such as one it set up itself.
///
/// ```swift
/// let client = try await SSHClient.connect(host: "10.0.0.5", user: "deploy", credentials: credentials,
///                                          hostKeyValidator: .pinned([serverKey]))
/// ```
public struct PinnedHostKeys: SSHHostKeyValidator {
    /// The keys accepted.
    public var keys: Set<SSHPublicKey>
    /// A validator accepting exactly `keys`.
    /// - Parameter keys: the host keys to accept.
    public init(_ keys: Set<SSHPublicKey>) { self.keys = keys }
    /// Accepts the key when it is one of `keys`.
    /// - Parameters:
    ///   - hostKey: the key (or certificate) the server presented.
    ///   - server: the server, named in the rejection.
    /// - Throws: `SSHHostKeyRejection` with reason `notPinned` when the key is not one of `keys`.
    public func validateHostKey(_ hostKey: SSHPresentedKey, of server: SSHHostAddress) async throws {
        guard keys.contains(hostKey.publicKey) else {
            throw SSHHostKeyRejection(.notPinned(fingerprint: hostKey.publicKey.fingerprint()), host: server)
        }
    }
}

extension SSHHostKeyValidator where Self == PinnedHostKeys {
    /// Accepts exactly `keys`.
    /// - Parameter keys: the host keys to accept.
    /// - Returns: a `PinnedHostKeys` validator.
    public static func pinned(_ keys: Set<SSHPublicKey>) -> PinnedHostKeys { PinnedHostKeys(keys) }
}

/// Why a host key was refused by one of this module's validators: what a user needs to decide what to do.
///
/// It reaches the caller of `SSHClient.connect` as `SSHError.underlying` of an `SSHError` whose kind is
/// `hostKeyRejected`.
public struct SSHHostKeyRejection: Error, Sendable, Equatable, CustomStringConvertible {
    /// The reasons.
    public enum Reason: Sendable, Equatable {
        /// No key is known for the host and the policy does not accept new ones.
        case unknownHost(name: String, keyType: SSHKeyType, fingerprint: String)
        /// The host is known with a different key: the entry that disagrees, and the fingerprint presented.
        case changed(name: String, keyType: SSHKeyType, fingerprint: String, entry: KnownHostsEntry)
        /// The key (or the certificate's authority) is marked @revoked.
        case revoked(name: String, keyType: SSHKeyType, entry: KnownHostsEntry)
        /// The host certificate (or its signing authority) is marked @revoked.
        case certificateRevoked(name: String, entry: KnownHostsEntry)
        /// The host certificate is signed by a trusted authority but is not valid (expired, wrong principal, ...).
        case invalidCertificate(SSHCertificate.Refusal)
        /// A person was asked about a new host and said no (or could not be asked).
        case declined(name: String)
        /// `PinnedHostKeys` was given other keys.
        case notPinned(fingerprint: String)
    }

    /// Why.
    public var reason: Reason
    /// The server whose key was refused.
    public var host: SSHHostAddress

    /// A rejection for `host`.
    /// - Parameters:
    ///   - reason: why the key was refused.
    ///   - host: the server whose key it was.
    public init(_ reason: Reason, host: SSHHostAddress) {
        self.reason = reason
        self.host = host
    }

    /// The refusal in words for a person: the host, the key's type and fingerprint, and the known_hosts line
    /// involved.
    public var description: String {
        switch reason {
        case .unknownHost(let name, let type, let fingerprint):
            "no \(type.displayName) host key is known for \(name) (its fingerprint is \(fingerprint)) and new hosts are not accepted"
        case .changed(let name, let type, let fingerprint, let entry):
            "the \(type.displayName) key \(name) presented (\(fingerprint)) is not the one recorded in \(entry.path):\(entry.line): someone may be intercepting the connection, or the key was replaced"
        case .revoked(let name, let type, let entry):
            "the \(type.displayName) host key for \(name) is marked as revoked in \(entry.path):\(entry.line)"
        case .certificateRevoked(let name, let entry):
            "the host certificate for \(name) is marked as revoked in \(entry.path):\(entry.line)"
        case .invalidCertificate(let refusal):
            "the host certificate is not valid: \(refusal)"
        case .declined(let name):
            "the new host \(name) was not accepted"
        case .notPinned(let fingerprint):
            "the server's key \(fingerprint) is not one of the pinned keys"
        }
    }
}

/// Host keys checked against known_hosts files, as ssh does it: a known key connects, a changed or revoked one
/// never does, a host certificate is trusted through @cert-authority lines, and `unknownHosts` decides what
/// happens to a host never seen.
///
/// ```swift
/// let client = try await SSHClient.connect(host: "example.com", user: "me", credentials: credentials,
///                                          hostKeyValidator: .knownHosts())
/// ```
public struct SSHKnownHostsValidator: SSHHostKeyValidator {
    /// What to do with a host no file knows (ssh's StrictHostKeyChecking).
    public enum UnknownHostPolicy: Sendable {
        /// Refuse it (StrictHostKeyChecking yes): the safe default for programs.
        case reject
        /// Accept it and record it in the first user file (accept-new, and also what "no" does).
        case acceptAndRecord
        /// Ask (StrictHostKeyChecking ask): the closure gets the question and answers true to accept and record.
        case ask(@Sendable (SSHUnknownHostQuestion) async -> Bool)
    }

    /// What the validator found, for a caller that reports it (ssh prints these at -v).
    public enum Event: Sendable, Equatable {
        /// The key matched this entry.
        case matched(KnownHostsEntry)
        /// The host certificate was signed by the authority on this @cert-authority line.
        case trustedAuthority(KnownHostsEntry)
        /// A new host was added to `file`.
        case recorded(name: String, keyType: SSHKeyType, file: String)
        /// Recording a new host failed (it is still accepted, as ssh does).
        case recordFailed(file: String, reason: String)
    }

    /// The user's files, read first; new hosts are written to the first.
    public var userFiles: [String]
    /// System-wide files (/etc/ssh/ssh_known_hosts), read after the user's, never written.
    public var globalFiles: [String]
    /// The policy for hosts none of the files knows.
    public var unknownHosts: UnknownHostPolicy
    /// The name to look up and record instead of "host" or "[host]:port" (ssh's HostKeyAlias).
    public var hostKeyAlias: String?
    /// Whether new entries are written with hashed names (HashKnownHosts).
    public var hashNewEntries: Bool
    /// Told what was found (for -v style diagnostics); called on a thread for blocking work.
    public var onEvent: (@Sendable (Event) -> Void)?

    /// A validator over the given files.
    /// - Parameters:
    ///   - userFiles: files read first and written to (the first one); ~/.ssh/known_hosts by default.
    ///   - globalFiles: read-only system files; /etc/ssh/ssh_known_hosts by default.
    ///   - unknownHosts: what a host no file knows gets; refused by default.
    ///   - hostKeyAlias: the name to look up and record instead of the host's (HostKeyAlias); nil for none.
    ///   - hashNewEntries: whether recorded hosts are written with hashed names (HashKnownHosts).
    ///   - onEvent: told what the validator found, for diagnostics.
    public init(userFiles: [String] = [SSHKnownHostsValidator.defaultUserFile],
                globalFiles: [String] = ["/etc/ssh/ssh_known_hosts"],
                unknownHosts: UnknownHostPolicy = .reject, hostKeyAlias: String? = nil, hashNewEntries: Bool = false,
                onEvent: (@Sendable (Event) -> Void)? = nil) {
        self.userFiles = userFiles
        self.globalFiles = globalFiles
        self.unknownHosts = unknownHosts
        self.hostKeyAlias = hostKeyAlias
        self.hashNewEntries = hashNewEntries
        self.onEvent = onEvent
    }

    /// $HOME/.ssh/known_hosts (the password database's home when HOME is unset).
    public static var defaultUserFile: String {
        let home = getenv("HOME").map { String(cString: $0) } ?? getpwuid(getuid())?.pointee.pw_dir.map { String(cString: $0) } ?? "/"
        return (home.hasSuffix("/") ? String(home.dropLast()) : home) + "/.ssh/known_hosts"
    }

    /// Checks `hostKey` for `server` (files are read on NIO's pool for blocking work, never on the caller's).
    ///
    /// A host certificate is checked against @cert-authority lines first; an untrusted one is then checked as a
    /// plain key, as ssh does. A host no file knows is handled by `unknownHosts`.
    /// - Parameters:
    ///   - hostKey: the key (or certificate) the server presented.
    ///   - server: the name and port the client connected to; looked up as "host", or "[host]:port" for a port
    ///     other than 22.
    /// - Throws: `SSHHostKeyRejection` saying why the key was refused.
    public func validateHostKey(_ hostKey: SSHPresentedKey, of server: SSHHostAddress) async throws {
        // ssh looks names up, and records them, in lower case.
        let name = hostKeyAlias ?? KnownHosts.hostName(server.host.lowercased(), port: server.port)
        let verdict = try await NIOThreadPool.singleton.runIfActive { [self] in try check(hostKey, name: name, server: server) }
        guard case .unknown(let key) = verdict else { return }
        switch unknownHosts {
        case .reject:
            throw SSHHostKeyRejection(.unknownHost(name: name, keyType: key.type, fingerprint: key.fingerprint()), host: server)
        case .ask(let ask):
            guard await ask(SSHUnknownHostQuestion(name: name, key: key, host: server)) else {
                throw SSHHostKeyRejection(.declined(name: name), host: server)
            }
        case .acceptAndRecord:
            break
        }
        try await NIOThreadPool.singleton.runIfActive { [self] in record(key, name: name) }
    }

    private enum Verdict: Sendable {
        case accepted
        case unknown(SSHPublicKey)
    }

    private func check(_ presented: SSHPresentedKey, name: String, server: SSHHostAddress) throws -> Verdict {
        let files = (userFiles + globalFiles).compactMap { try? KnownHostsFile.load(path: $0) }
        let key = presented.publicKey
        if case .certificate(let certificate) = presented {
            let now = UInt64(max(0, time(nil)))
            switch KnownHosts.check(certificate: certificate, hostName: name, principal: server.host, files: files, now: now) {
            case .trusted(let authority):
                onEvent?(.trustedAuthority(authority))
                return .accepted
            case .revoked(let entry):
                throw SSHHostKeyRejection(.certificateRevoked(name: name, entry: entry), host: server)
            case .refused(let refusal):
                throw SSHHostKeyRejection(.invalidCertificate(refusal), host: server)
            case .untrustedAuthority:
                break  // checked as a plain key below, as ssh does
            }
        }
        switch KnownHosts.check(key, hostName: name, files: files) {
        case .known(let entry):
            onEvent?(.matched(entry))
            return .accepted
        case .revoked(let entry):
            throw SSHHostKeyRejection(.revoked(name: name, keyType: key.type, entry: entry), host: server)
        case .changed(let entry):
            throw SSHHostKeyRejection(.changed(name: name, keyType: key.type, fingerprint: key.fingerprint(), entry: entry), host: server)
        case .unknown:
            return .unknown(key)
        }
    }

    /// Adds the host to the first user file, as ssh does; failing to write is reported, not a refusal.
    private func record(_ key: SSHPublicKey, name: String) {
        guard let path = userFiles.first else { return }
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !directory.isEmpty { mkdir(directory, 0o700) }
        do {
            try KnownHosts.append(KnownHosts.entryLines(names: [name], key: key, hashed: hashNewEntries), toPath: path)
            onEvent?(.recorded(name: name, keyType: key.type, file: path))
        } catch {
            onEvent?(.recordFailed(file: path, reason: "\(error)"))
        }
    }
}

extension SSHHostKeyValidator where Self == SSHKnownHostsValidator {
    /// ssh's host key checking over ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts; hosts not in them are refused
    /// unless `unknownHosts` says otherwise.
    ///
    /// ```swift
    /// // ssh's StrictHostKeyChecking accept-new, with the program's own file:
    /// let validator: SSHKnownHostsValidator = .knownHosts(userFiles: ["/var/lib/my-tool/known_hosts"],
    ///                                                     unknownHosts: .acceptAndRecord)
    /// ```
    /// - Parameters:
    ///   - userFiles: files read first and written to (the first one).
    ///   - unknownHosts: what a host no file knows gets.
    /// - Returns: an `SSHKnownHostsValidator` that also reads /etc/ssh/ssh_known_hosts.
    public static func knownHosts(userFiles: [String] = [SSHKnownHostsValidator.defaultUserFile],
                                  unknownHosts: SSHKnownHostsValidator.UnknownHostPolicy = .reject) -> SSHKnownHostsValidator {
        SSHKnownHostsValidator(userFiles: userFiles, unknownHosts: unknownHosts)
    }
}

/// What a person is asked about a host no known_hosts file knows.
public struct SSHUnknownHostQuestion: Sendable {
    /// The name it would be recorded under ("host" or "[host]:port", or the alias).
    public var name: String
    /// The key the server presented.
    public var key: SSHPublicKey
    /// The server.
    public var host: SSHHostAddress
}
