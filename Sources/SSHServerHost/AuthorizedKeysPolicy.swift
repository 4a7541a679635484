// authorized_keys as sshd applies it (sshd(8) AUTHORIZED_KEYS FILE FORMAT, sshd_config(5) AuthorizedKeysFile and
// StrictModes): the files named by patterns with %h, %u, %U and %%, relative ones under the home directory, each read
// with the user's rights and refused when StrictModes finds it or a directory above it writable by others; then the
// line holding the key decides (from=, expiry-time=, principals= and cert-authority for certificates) and its
// restrictions become the login's grant. shhd adds sshd_config's Match rules on top; an embedding server can use
// `SSHAuthorizedKeysAuthenticator` as it is.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import SSH
import SSHKeys
import SSHPOSIX
import SSHProtocol

/// Which authorized_keys files a login reads and how: sshd's AuthorizedKeysFile and StrictModes.
public struct SSHAuthorizedKeysPolicy: Sendable {
    /// Something worth a log line met while reading the files (the login goes on with the other files).
    public enum Problem: Sendable, Equatable {
        /// StrictModes or the file's type refused a file: the reason names the file or directory at fault.
        case refused(String)
        /// A file could not be read (permissions, size, an I/O error).
        case unreadable(String)
        /// A line was skipped (a key type we do not know, a bad option): the file and line.
        case skippedLine(String)
    }

    /// File patterns (AuthorizedKeysFile): %h the home directory, %u the user name, %U the uid, %% a percent sign;
    /// a relative path is taken under the home directory; "none" reads nothing. sshd's default.
    public var filePatterns: [String]
    /// Whether each file and the directories above it must be the user's (or root's) and writable by nobody
    /// else (StrictModes, on by default as in sshd).
    public var strictModes: Bool
    /// Told about each problem, for logs; called on the thread doing the reading.
    public var onProblem: (@Sendable (Problem) -> Void)?

    /// A policy with sshd's defaults: ~/.ssh/authorized_keys and ~/.ssh/authorized_keys2, StrictModes on.
    /// - Parameters:
    ///   - filePatterns: the AuthorizedKeysFile patterns, read in order.
    ///   - strictModes: whether files and their directories must be safe from other users.
    ///   - onProblem: told about each file refused or unreadable and each line skipped.
    public init(filePatterns: [String] = [".ssh/authorized_keys", ".ssh/authorized_keys2"], strictModes: Bool = true,
                onProblem: (@Sendable (Problem) -> Void)? = nil) {
        self.filePatterns = filePatterns
        self.strictModes = strictModes
        self.onProblem = onProblem
    }

    /// The path `pattern` names for `account`.
    ///
    /// ```swift
    /// SSHAuthorizedKeysPolicy.path(of: "/etc/ssh/keys/%u", for: account)   // "/etc/ssh/keys/alice"
    /// ```
    /// - Parameters:
    ///   - pattern: an AuthorizedKeysFile pattern, with %h, %u, %U and %%.
    ///   - account: the account logging in.
    /// - Returns: the absolute path; nil for "none" or an unknown %-token (sshd refuses those).
    public static func path(of pattern: String, for account: SystemAccount) -> String? {
        guard pattern.lowercased() != "none" else { return nil }
        var path = ""
        var iterator = pattern.makeIterator()
        while let character = iterator.next() {
            guard character == "%" else { path.append(character); continue }
            switch iterator.next() {
            case "h": path += account.home
            case "u": path += account.name
            case "U": path += String(account.uid)
            case "%": path += "%"
            default: return nil
            }
        }
        return path.hasPrefix("/") ? path : account.home + "/" + path
    }

    /// The files that exist and pass StrictModes, parsed, in pattern order. Blocking (file reads with the user's
    /// rights): call it on a thread for blocking work.
    ///
    /// A missing file is skipped silently; a refused or unreadable one, and each skipped line, goes to `onProblem`.
    /// - Parameter account: the account logging in, whose rights the files are read with.
    /// - Returns: the parsed files.
    public func files(for account: SystemAccount) -> [AuthorizedKeysFile] {
        filePatterns.compactMap { pattern in
            guard let path = Self.path(of: pattern, for: account) else { return nil }
            switch SSHUserFile.read(path, as: account, strictModes: strictModes) {
            case .contents(let bytes):
                let file = AuthorizedKeysFile(parsing: String(decoding: bytes, as: UTF8.self), path: path)
                for warning in file.warnings { onProblem?(.skippedLine(warning)) }
                return file
            case .missing:
                return nil  // normal: most users have no authorized_keys2
            case .refused(let problem):
                onProblem?(.refused(problem))
                return nil
            case .unreadable(let problem):
                onProblem?(.unreadable(problem))
                return nil
            }
        }
    }

    /// Whether `key` may log in as `account` from `sourceAddress`, and by which line. Blocking, as `files(for:)`.
    /// - Parameters:
    ///   - key: the key or certificate the client offered; a certificate needs a cert-authority line.
    ///   - account: the account logging in.
    ///   - sourceAddress: the client's address, for from= options.
    ///   - now: the time in seconds since 1970, for expiry-time= and certificates' validity.
    /// - Returns: the decision: the accepting line with its options, or the reasons for rejecting.
    public func authorize(_ key: SSHPresentedKey, account: SystemAccount, sourceAddress: String, now: Int) -> AuthorizedKeys.Decision {
        let files = files(for: account)
        switch key {
        case .key(let publicKey):
            return AuthorizedKeys.authorize(publicKey, files: files, sourceAddress: sourceAddress, now: now)
        case .certificate(let certificate):
            return AuthorizedKeys.authorize(certificate: certificate, user: account.name, files: files, sourceAddress: sourceAddress, now: now)
        }
    }

    /// What a login by `entry`'s key may do, from the line's options alone: its command= (or a certificate's
    /// force-command, which must agree), and no-pty (or a certificate without permit-pty). nil when the two
    /// commands disagree, which refuses the login.
    /// - Parameters:
    ///   - entry: the line that accepted the key; nil for no line (no restrictions from it).
    ///   - key: the key or certificate that logged in.
    /// - Returns: the grant, with `method` publickey; nil when the commands disagree.
    public static func grant(for entry: AuthorizedKeysEntry?, key: SSHPresentedKey) -> SSHLoginGrant? {
        var grant = SSHLoginGrant(method: .publicKey)
        grant.forcedCommand = entry?.options.command
        if case .certificate(let certificate) = key {
            if let forced = certificate.forceCommand {
                if let command = grant.forcedCommand, command != forced { return nil }
                grant.forcedCommand = forced
            }
            grant.permitsTerminal = certificate.extensions.contains { $0.name == "permit-pty" }
        }
        grant.permitsTerminal = grant.permitsTerminal && (entry?.options.pty ?? true)
        return grant
    }
}

/// Public key logins as sshd allows them with its defaults: the account must exist, the key must be on a line of
/// its authorized_keys files that lets it in from the client's address, and the line's command= and no-pty hold
/// for the whole connection. Every other method is refused. File reads and account lookups run on an
/// `SSHBlockingWorkPool`, each with a deadline.
///
/// ```swift
/// let server = SSHServer(configuration: configuration, authenticator: SSHAuthorizedKeysAuthenticator(),
///                        sessionHandler: SSHProcessSessionHandler())
/// ```
public struct SSHAuthorizedKeysAuthenticator: SSHServerAuthenticator {
    /// Which files are read, and how.
    public var policy: SSHAuthorizedKeysPolicy
    /// Whether root may log in with a key (sshd's default, prohibit-password, allows it).
    public var permitsRoot: Bool
    /// Where the blocking work runs.
    public var blocking: SSHBlockingWorkPool
    /// How long one decision's lookups and reads may take before the attempt is refused.
    public var decisionTimeout: Duration

    /// An authenticator over `policy`'s files.
    /// - Parameters:
    ///   - policy: which files are read, and how.
    ///   - permitsRoot: whether root may log in with a key.
    ///   - blocking: the pool the account lookups and file reads run on.
    ///   - decisionTimeout: how long one decision may take before the attempt is refused.
    public init(policy: SSHAuthorizedKeysPolicy = SSHAuthorizedKeysPolicy(), permitsRoot: Bool = true,
                blocking: SSHBlockingWorkPool = .shared, decisionTimeout: Duration = .seconds(20)) {
        self.policy = policy
        self.permitsRoot = permitsRoot
        self.blocking = blocking
        self.decisionTimeout = decisionTimeout
    }

    /// Only public keys are offered.
    public var offeredMethods: [SSHAuthenticationMethod] { [.publicKey] }

    /// Accepts a public key listed for the user (a query gets "this key would do"); rejects everything else.
    ///
    /// An unknown user, root when `permitsRoot` is false, and a decision that runs past `decisionTimeout` are
    /// all rejected the same way.
    /// - Parameters:
    ///   - attempt: the attempt; only publickey attempts can succeed.
    ///   - connection: the connection, whose remote address from= options are checked against.
    /// - Returns: a grant with the accepting line's restrictions, or `.reject`.
    public func decide(_ attempt: SSHAuthenticationAttempt, on connection: SSHServerConnectionInfo) async -> SSHAuthenticationDecision {
        guard case .publicKey(let user, let key, _, _) = attempt else { return .reject }
        let policy = self.policy
        let permitsRoot = self.permitsRoot
        let address = connection.remoteAddress?.ipAddress ?? "unknown"
        let now = Int(time(nil))
        let decision = try? await blocking.run("publickey authentication of \(user)", timeout: decisionTimeout) { () -> SSHAuthenticationDecision in
            guard let account = SystemAccount(named: user), permitsRoot || account.uid != 0 else { return .reject }
            guard case .accept(let entry) = policy.authorize(key, account: account, sourceAddress: address, now: now),
                  let grant = SSHAuthorizedKeysPolicy.grant(for: entry, key: key) else { return .reject }
            return .grant(grant)
        }
        return decision ?? .reject
    }
}
