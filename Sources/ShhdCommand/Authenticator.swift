// Who may log in to shhd (sshd's auth.c and auth2-pubkey.c, by behaviour): the user must exist, pass
// Allow/DenyUsers and Allow/DenyGroups and PermitRootLogin, and present a key listed in one of its
// AuthorizedKeysFile files (cert-authority lines for certificates), with the line's from= and expiry-time
// holding. Settings come from the Match blocks that apply to this user and connection. Not running as root,
// only the running user can log in (sessions run as shhd's own user). What shhd cannot enforce yet refuses the
// login rather than half-apply it: a ChrootDirectory, a command= line, a certificate's force-command.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import OpenSSHConfig
import SSH
import SSHKeys
import SSHProtocol

struct ShhdAuthenticator: SSHServerAuthenticator {
    let file: SSHServerConfigFile
    let runningAccount: Account
    let log: ServerLog

    var offeredMethods: [String] { ["publickey"] }

    func decide(_ attempt: SSHAuthenticationAttempt) async -> SSHAuthenticationDecision {
        await decide(attempt, on: SSHServerConnectionInfo())
    }

    func decide(_ attempt: SSHAuthenticationAttempt, on connection: SSHServerConnectionInfo) async -> SSHAuthenticationDecision {
        let user = attempt.user
        let key: SSHPresentedKey
        let isQuery: Bool
        switch attempt {
        case .publicKey(_, let presented, let query):
            key = presented
            isQuery = query
        case .none:
            // The client's first request: the account checks run (and are logged) here, once per connection,
            // as sshd logs them when it first looks the user up.
            _ = admission(user: user, connection: connection, log: true)
            return .reject
        default:
            return .reject
        }
        guard case .admitted(let account, let settings, let address, let from) = admission(user: user, connection: connection, log: false) else {
            return .reject
        }
        let files = authorizedKeysFiles(settings, account: account)
        let decision: AuthorizedKeys.Decision
        let now = Int(time(nil))
        switch key {
        case .key(let publicKey):
            decision = AuthorizedKeys.authorize(publicKey, files: files, sourceAddress: address, now: now)
        case .certificate(let certificate):
            decision = AuthorizedKeys.authorize(certificate: certificate, user: user, files: files, sourceAddress: address, now: now)
        }
        switch decision {
        case .reject(let reasons):
            if !isQuery { log.verbose("Failed publickey for \(user) \(from): \(reasons.joined(separator: "; "))") }
            return .reject
        case .accept(let entry):
            if let refusal = Self.unenforceable(entry, key: key, rootPolicy: account.uid == 0 ? settings["permitrootlogin"] : nil) {
                if !isQuery { log.info("Refused publickey for \(user) \(from): \(refusal) (\(entry.path):\(entry.line))") }
                return .reject
            }
            if !isQuery {
                log.info("Accepted publickey for \(user) \(from) ssh2: \(key.publicKey.type.displayName) \(key.publicKey.fingerprint())")
            }
            return .accept
        }
    }

    enum Admission {
        case admitted(Account, SSHServerConfig, address: String, from: String)
        case refused
    }

    /// Whether `user` may log in at all from this connection (before any key is looked at), with the settings
    /// the Match blocks give it.
    func admission(user: String, connection: SSHServerConnectionInfo, log shouldLog: Bool) -> Admission {
        func note(_ message: String) { if shouldLog { log.info(message) } }
        let address = connection.remoteAddress?.ipAddress ?? "unknown"
        let from = "from \(address) port \(connection.remoteAddress?.port ?? 0)"
        guard let account = Account(name: user) else {
            note("Invalid user \(user) \(from)")
            return .refused
        }
        // Sessions run as shhd's own user until the privileged spawn exists: nobody else can be let in.
        guard account.uid == runningAccount.uid else {
            note(runningAccount.uid == 0
                ? "User \(user) \(from) refused: sessions as users other than root are not built yet"
                : "User \(user) \(from) refused: shhd runs as \(runningAccount.name) and can only let \(runningAccount.name) in")
            return .refused
        }
        let groups = account.groupNames
        let context = SSHServerMatchContext(user: user, groups: groups, host: address, address: address,
                                            localAddress: connection.localAddress?.ipAddress, localPort: connection.localAddress?.port)
        let settings = file.settings(for: context)
        if let refusal = Self.accessRefusal(user: user, groups: groups, address: address, settings: settings) {
            note("User \(user) \(from) not allowed because \(refusal)")
            return .refused
        }
        if ConfigValues.flag(settings["pubkeyauthentication"] ?? "yes") == false { return .refused }
        if account.uid == 0 && (settings["permitrootlogin"] ?? "prohibit-password").lowercased() == "no" {
            note("ROOT LOGIN REFUSED \(from)")
            return .refused
        }
        if let chroot = settings["chrootdirectory"], chroot.lowercased() != "none" {
            note("User \(user) \(from) refused: ChrootDirectory \(chroot) is not supported yet")
            return .refused
        }
        return .admitted(account, settings, address: address, from: from)
    }

    /// AuthorizedKeysFile with %h, %u, %U and %% expanded, relative paths from the home directory; "none" for none.
    func authorizedKeysFiles(_ settings: SSHServerConfig, account: Account) -> [AuthorizedKeysFile] {
        let patterns = settings.arguments("authorizedkeysfile") ?? [".ssh/authorized_keys", ".ssh/authorized_keys2"]
        return patterns.filter { $0.lowercased() != "none" }.compactMap { pattern in
            var path = ""
            var iterator = pattern.makeIterator()
            while let character = iterator.next() {
                guard character == "%" else { path.append(character); continue }
                switch iterator.next() {
                case "h": path += account.home
                case "u": path += account.name
                case "U": path += String(account.uid)
                case "%": path += "%"
                default: return nil  // sshd refuses an unknown token; so does the login through this file
                }
            }
            if !path.hasPrefix("/") { path = account.home + "/" + path }
            guard let bytes = try? SSHKeyFile.readFile(atPath: path) else { return nil }
            let file = AuthorizedKeysFile(parsing: String(decoding: bytes, as: UTF8.self), path: path)
            for warning in file.warnings { log.verbose(warning) }
            return file
        }
    }

    /// sshd's allowed_user checks: DenyUsers, AllowUsers, DenyGroups, AllowGroups, in that order. Patterns may be
    /// USER or USER@HOST (HOST an address pattern or CIDR).
    static func accessRefusal(user: String, groups: [String], address: String, settings: SSHServerConfig) -> String? {
        func userMatches(_ pattern: String) -> Bool {
            if let at = pattern.firstIndex(of: "@") {
                let host = String(pattern[pattern.index(after: at)...])
                return OpenSSHPattern.matches(user, pattern: String(pattern[..<at]))
                    && HostAddressPattern.matchHostAndAddress(host: address, address: address, patterns: host) == .matched
            }
            return OpenSSHPattern.matches(user, pattern: pattern)
        }
        let deniedUsers = settings.all("denyusers").flatMap { $0 }
        if deniedUsers.contains(where: userMatches) { return "listed in DenyUsers" }
        let allowedUsers = settings.all("allowusers").flatMap { $0 }
        if !allowedUsers.isEmpty && !allowedUsers.contains(where: userMatches) { return "not listed in AllowUsers" }
        let deniedGroups = settings.all("denygroups").flatMap { $0 }
        if groups.contains(where: { group in deniedGroups.contains { OpenSSHPattern.matches(group, pattern: $0) } }) {
            return "a group is listed in DenyGroups"
        }
        let allowedGroups = settings.all("allowgroups").flatMap { $0 }
        if !allowedGroups.isEmpty && !groups.contains(where: { group in allowedGroups.contains { OpenSSHPattern.matches(group, pattern: $0) } }) {
            return "none of user's groups are listed in AllowGroups"
        }
        return nil
    }

    /// What an accepted authorized_keys line (or certificate) asks for that shhd cannot enforce yet; such a
    /// login is refused instead of run without it. Restrictions that only deny what shhd never grants
    /// (no-pty, no-port-forwarding, restrict, permitopen, ...) are already in force.
    static func unenforceable(_ entry: AuthorizedKeysEntry, key: SSHPresentedKey, rootPolicy: String?) -> String? {
        if entry.options.command != nil { return "command= is not supported yet" }
        if case .certificate(let certificate) = key, certificate.forceCommand != nil { return "the certificate's force-command is not supported yet" }
        if rootPolicy?.lowercased() == "forced-commands-only" { return "PermitRootLogin forced-commands-only needs command=, not supported yet" }
        return nil
    }
}
