// Who may log in to shhd (sshd's auth.c, auth2-pubkey.c, auth-passwd.c, by behaviour): the user must exist, not
// be locked or expired, pass Allow/DenyUsers and Allow/DenyGroups and PermitRootLogin, and then present a key
// listed in one of its AuthorizedKeysFile files (cert-authority lines for certificates) with the line's from= and
// expiry-time holding, or its password (crypt(3) against /etc/shadow, only when shhd runs as root). Settings come
// from the Match blocks that apply to this user and connection. Not running as root, only the running user can log
// in. An accepted login carries what it may do (SSHLoginGrant): the forced command, whether it gets a terminal, the
// variables the server sets, which the client may send.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSSHServerHost
import SSHPOSIX
import NIOCore
import OpenSSHConfig
import SSH
import SSHKeys
import SSHProtocol
import SSHServerHost

struct ShhdAuthenticator: SSHServerAuthenticator {
    let file: SSHServerConfigFile
    let runningAccount: SystemAccount
    let log: ServerLog
    /// The same for every user (RFC 4252 §5.1): publickey, and the password methods when shhd runs as root (only
    /// root can read /etc/shadow) and the configuration enables them anywhere.
    let offeredMethods: [SSHAuthenticationMethod]
    /// Banner texts by path, read at start.
    let banners: [String: String]
    /// Every decision's blocking work (account and group lookups, authorized_keys and ~/.ssh/environment, crypt)
    /// runs here, never on the event loop that asks.
    let blocking: SSHBlockingWorkPool
    /// How long one decision's blocking work may take before that attempt is refused (and logged).
    let decisionTimeout: Duration
    /// The account database (getpwnam_r); tests put a slow one here.
    let lookUpAccount: @Sendable (String) -> SystemAccount?

    init(file: SSHServerConfigFile, global: SSHServerConfig, runningAccount: SystemAccount, log: ServerLog, banners: [String: String] = [:],
         blocking: SSHBlockingWorkPool = .shared, decisionTimeout: Duration = .seconds(20),
         lookUpAccount: @escaping @Sendable (String) -> SystemAccount? = { SystemAccount(named: $0) }) {
        self.file = file
        self.banners = banners
        self.runningAccount = runningAccount
        self.log = log
        self.blocking = blocking
        self.decisionTimeout = decisionTimeout
        self.lookUpAccount = lookUpAccount
        func enabledAnywhere(_ keyword: String) -> Bool {
            ConfigValues.flag(global[keyword] ?? "yes") != false
                || file.matchDirectives.contains { $0.keyword == keyword && ConfigValues.flag($0.arguments[0]) == true }
        }
        var methods: [SSHAuthenticationMethod] = [.publicKey]
        if runningAccount.uid == 0 {
            if enabledAnywhere("passwordauthentication") { methods.append(.password) }
            if enabledAnywhere("kbdinteractiveauthentication") { methods.append(.keyboardInteractive) }
        }
        offeredMethods = methods
    }

    /// Banner as the Match blocks for this user and connection leave it (sshd reads it per connection too). The
    /// group lookup blocks: it runs on the blocking pool, and a lookup past its deadline means the global banner.
    /// Whether a user's banner can depend on their groups (a Banner inside Match): only then is an account looked up.
    var bannerNeedsAccount: Bool { file.matchDirectives.contains { $0.keyword == "banner" } }
    /// Whether MaxAuthTries can differ per user (inside Match); otherwise it is the global one for everyone.
    var attemptLimitNeedsAccount: Bool { file.matchDirectives.contains { $0.keyword == "maxauthtries" } }

    func banner(for user: String, on connection: SSHServerConnectionInfo) async -> String? {
        let banners = self.banners
        // Only a Banner inside Match can depend on the user's groups; otherwise nothing needs looking up.
        guard bannerNeedsAccount else {
            return matchSettings(user: user, groups: [], connection: connection)["banner"].flatMap { banners[$0] }
        }
        do {
            return try await blocking.run("the account lookup of \(user) for its banner", timeout: decisionTimeout) { [self] in
                matchSettings(user: user, groups: lookUpAccount(user)?.groupNames ?? [], connection: connection)["banner"].flatMap { banners[$0] }
            }
        } catch {
            log.error("\(error)")
            return nil
        }
    }

    /// The banner, on a thread that may block (the privilege broker's).
    func bannerBlocking(for user: String, on connection: SSHServerConnectionInfo) -> String? {
        let groups = bannerNeedsAccount ? lookUpAccount(user)?.groupNames ?? [] : []
        return matchSettings(user: user, groups: groups, connection: connection)["banner"].flatMap { banners[$0] }
    }

    /// MaxAuthTries for the user, on a thread that may block (the privilege broker's).
    func maximumAttemptsBlocking(for user: String, on connection: SSHServerConnectionInfo) -> Int? {
        guard attemptLimitNeedsAccount else { return nil }
        return matchSettings(user: user, groups: lookUpAccount(user)?.groupNames ?? [], connection: connection)["maxauthtries"].flatMap { Int($0) }
    }

    /// MaxAuthTries as the Match blocks leave it for this user (sshd applies Match once it knows the user).
    func maximumAttempts(for user: String, on connection: SSHServerConnectionInfo) async -> Int? {
        guard attemptLimitNeedsAccount else { return nil }
        do {
            return try await blocking.run("the account lookup of \(user) for MaxAuthTries", timeout: decisionTimeout) { [self] in
                matchSettings(user: user, groups: lookUpAccount(user)?.groupNames ?? [], connection: connection)["maxauthtries"].flatMap { Int($0) }
            }
        } catch {
            log.error("\(error)")
            return nil
        }
    }

    /// The settings for this user (with these groups) and connection.
    func matchSettings(user: String, groups: [String], connection: SSHServerConnectionInfo) -> SSHServerConfig {
        let address = connection.remoteAddress?.ipAddress ?? "unknown"
        return file.settings(for: SSHServerMatchContext(user: user, groups: groups, host: address, address: address,
                                                        localAddress: connection.localAddress?.ipAddress, localPort: connection.localAddress?.port))
    }

    /// Runs on the connection's event loop: the decision itself, all blocking, goes to the blocking pool. One that
    /// does not finish in time refuses this attempt only; the connection may try again.
    func decide(_ attempt: SSHAuthenticationAttempt, on connection: SSHServerConnectionInfo) async -> SSHAuthenticationDecision {
        do {
            return try await blocking.run("\(attempt.method) authentication of \(attempt.user)", timeout: decisionTimeout) { [self] in
                decideBlocking(attempt, on: connection)
            }
        } catch {
            let address = connection.remoteAddress?.ipAddress ?? "unknown"
            log.error("Refused \(attempt.method) for \(attempt.user) from \(address) port \(connection.remoteAddress?.port ?? 0): \(error)")
            return .reject
        }
    }

    /// The decision, on a thread that may block.
    func decideBlocking(_ attempt: SSHAuthenticationAttempt, on connection: SSHServerConnectionInfo) -> SSHAuthenticationDecision {
        let user = attempt.user
        switch attempt {
        case .none:
            // Logged when it is the first request (see admissionLogged); "none" itself never lets anyone in.
            _ = admission(user: user, connection: connection, log: connection.isFirstRequest)
            return .reject
        case .publicKey(_, let key, let isQuery, let algorithm):
            return decidePublicKey(key, algorithm: algorithm, user: user, isQuery: isQuery, connection: connection)
        case .password(_, let password):
            return decidePassword(password, method: "password", user: user, connection: connection)
        case .keyboardInteractive(_, nil):
            // The same question for a user who does not exist, is locked or is refused: only the answer's check
            // (which hashes all the same) tells them apart, and it says no to all of them.
            let settings: SSHServerConfig
            if case .admitted(_, let matched, _, _) = admission(user: user, connection: connection, log: connection.isFirstRequest) {
                settings = matched
            } else {
                settings = matchSettings(user: user, groups: [], connection: connection)
            }
            guard offeredMethods.contains("keyboard-interactive"),
                  settings.options.kbdInteractiveAuthentication else { return .reject }
            return .ask(KeyboardInteractiveRequest(prompts: [KeyboardInteractivePrompt(prompt: "Password: ", echo: false)]))
        case .keyboardInteractive(_, let responses?):
            guard responses.count == 1 else { return .reject }
            return decidePassword(responses[0], method: "keyboard-interactive", user: user, connection: connection)
        }
    }

    private func decidePublicKey(_ key: SSHPresentedKey, algorithm: SSHHostKeyAlgorithm, user: String, isQuery: Bool,
                                 connection: SSHServerConnectionInfo) -> SSHAuthenticationDecision {
        guard case .admitted(let account, let settings, let address, let from) = admission(user: user, connection: connection, log: connection.isFirstRequest),
              settings.options.pubkeyAuthentication else {
            return .reject
        }
        if let refusal = Self.keyRefusal(key, algorithm: algorithm, settings: settings) {
            if !isQuery { log.info("Refused publickey for \(user) \(from): \(refusal)") }
            return .reject
        }
        let files = authorizedKeysFiles(settings, account: account)
        let decision: AuthorizedKeys.Decision
        let now = Int(time(nil))
        switch key {
        case .key(let publicKey):
            decision = AuthorizedKeys.authorize(publicKey, files: files, sourceAddress: address, now: now)
        case .certificate(let certificate):
            // TrustedUserCAKeys first, as sshd: a certificate from a trusted CA naming this user as a principal.
            if let trusted = trustedCertificate(certificate, user: user, settings: settings, address: address, now: now, isQuery: isQuery, from: from) {
                return trusted ? grantOrRefuse(settings, account: account, entry: nil, key: key, user: user, from: from, isQuery: isQuery, connection: connection) : .reject
            }
            decision = AuthorizedKeys.authorize(certificate: certificate, user: user, files: files, sourceAddress: address, now: now)
        }
        switch decision {
        case .reject(let reasons):
            let listed = reasons.contains { !$0.hasSuffix("key not in any authorized_keys file") }
            if listed {
                // The key is listed but its line refuses this login (from=, expiry-time, principals): worth saying,
                // as sshd does, even when the client only asked.
                log.info("Refused publickey for \(user) \(from): \(reasons.joined(separator: "; "))")
            } else if !isQuery {
                log.verbose("Failed publickey for \(user) \(from): \(reasons.joined(separator: "; "))")
            }
            return .reject
        case .accept(let entry):
            return grantOrRefuse(settings, account: account, entry: entry, key: key, user: user, from: from, isQuery: isQuery, connection: connection)
        }
    }

    private func grantOrRefuse(_ settings: SSHServerConfig, account: SystemAccount, entry: AuthorizedKeysEntry?, key: SSHPresentedKey,
                               user: String, from: String, isQuery: Bool, connection: SSHServerConnectionInfo) -> SSHAuthenticationDecision {
        switch grant(settings, account: account, entry: entry, key: key, method: "publickey") {
        case .failure(let refusal):
            if !isQuery { log.info("Refused publickey for \(user) \(from): \(refusal.message)\(entry.map { " (\($0.path):\($0.line))" } ?? "")") }
            return .reject
        case .success(let grant):
            // A query is only answered "this key would do" (PK_OK); the signed attempt is what logs in.
            if isQuery { return .grant(grant) }
            return finish(grant, method: "publickey", settings: settings, connection: connection, user: user, from: from,
                          what: Self.describe(key), keyRestricted: entry.map(Self.restricts) ?? false || key.isCertificate)
        }
    }

    /// The key rules of sshd_config, as the Match blocks leave them for this login: PubkeyAcceptedAlgorithms (the
    /// algorithm the client signs with), RequiredRSASize (the key's and a certificate's CA key's modulus) and
    /// CASignatureAlgorithms (how a certificate was signed). nil when the key passes.
    static func keyRefusal(_ key: SSHPresentedKey, algorithm: SSHHostKeyAlgorithm, settings: SSHServerConfig) -> String? {
        if let text = settings["pubkeyacceptedalgorithms"] {
            guard let accepted = try? ConfigValues.publicKeyAlgorithms(text, origin: ""), accepted.contains(algorithm) else {
                return "\(algorithm.name) is not in PubkeyAcceptedAlgorithms"
            }
        }
        let requiredRSABits = settings.options.requiredRSASize
        var keys = [key.publicKey]
        if case .certificate(let certificate) = key { keys.append(certificate.signatureKey) }
        for checked in keys where checked.type == .rsa && checked.bitCount < requiredRSABits {
            return "RSA key of \(checked.bitCount) bits is under RequiredRSASize \(requiredRSABits)"
        }
        if case .certificate(let certificate) = key {
            let allowed = settings["casignaturealgorithms"].flatMap { try? ConfigValues.caSignatureAlgorithms($0, origin: "") }
                ?? ConfigValues.defaultCASignatureAlgorithms
            guard let used = SSHSignatureAlgorithm(rawValue: certificate.signature.algorithmName), allowed.contains(used) else {
                return "the certificate is signed with \(certificate.signature.algorithmName), which CASignatureAlgorithms does not allow"
            }
        }
        return nil
    }

    /// Whether an authorized_keys line restricts the login (what a later AuthenticationMethods step could not keep).
    static func restricts(_ entry: AuthorizedKeysEntry) -> Bool {
        let options = entry.options
        return options.command != nil || !options.pty || !options.environment.isEmpty || options.restricted
    }

    /// A method succeeded: with AuthenticationMethods (ordered lists of methods, any one list completing logs in),
    /// either the login is complete, or more methods must follow (partial success), or this method was not
    /// wanted at this point. Logged as sshd logs each ("Accepted", "Partial").
    private func finish(_ grant: SSHLoginGrant, method: String, settings: SSHServerConfig, connection: SSHServerConnectionInfo,
                        user: String, from: String, what: String = "", keyRestricted: Bool = false) -> SSHAuthenticationDecision {
        let detail = what.isEmpty ? "" : ": " + what
        guard let lists = Self.methodLists(settings) else {
            log.info("Accepted \(method) for \(user) \(from) ssh2\(detail)")
            return .grant(grant)
        }
        let done = connection.completedMethods.map(\.name) + [method]
        let candidates = lists.filter { $0.count >= done.count && Array($0.prefix(done.count)) == done }
        if candidates.contains(where: { $0.count == done.count }) {
            log.info("Accepted \(method) for \(user) \(from) ssh2\(detail)")
            return .grant(grant)
        }
        var next: [String] = []
        for list in candidates where !next.contains(list[done.count]) { next.append(list[done.count]) }
        guard !next.isEmpty else {
            log.info("Refused \(method) for \(user) \(from): not allowed at this point by AuthenticationMethods")
            return .reject
        }
        // The grant of a step before the last is not carried to the session: a key whose line restricts the login
        // (command=, no-pty, environment=, restrict) or a certificate would lose its restrictions, so it is refused.
        if keyRestricted {
            log.info("Refused \(method) for \(user) \(from): a restricted key or a certificate cannot be the first of several AuthenticationMethods yet")
            return .reject
        }
        log.info("Partial \(method) for \(user) \(from) ssh2\(detail)")
        return .partialSuccess(remainingMethods: next.map(SSHAuthenticationMethod.init(name:)))
    }

    /// AuthenticationMethods as lists of method names ("keyboard-interactive:pam" counts as keyboard-interactive);
    /// nil for "any" or when unset.
    static func methodLists(_ settings: SSHServerConfig) -> [[String]]? {
        guard let arguments = settings.arguments("authenticationmethods"), arguments.first?.lowercased() != "any" else { return nil }
        return arguments.map { list in list.split(separator: ",").map { String($0.prefix { $0 != ":" }) } }
    }

    /// How sshd's log names a key: "ED25519 SHA256:…", or for a certificate "ED25519-CERT SHA256:… ID id (serial n)
    /// CA ED25519 SHA256:…".
    static func describe(_ key: SSHPresentedKey) -> String {
        switch key {
        case .key(let publicKey):
            return "\(publicKey.type.displayName) \(publicKey.fingerprint())"
        case .certificate(let certificate):
            return "\(certificate.key.type.displayName)-CERT \(certificate.key.fingerprint()) ID \(certificate.keyID) (serial \(certificate.serial)) "
                + "CA \(certificate.signatureKey.type.displayName) \(certificate.signatureKey.fingerprint())"
        }
    }

    /// TrustedUserCAKeys (sshd's user_cert_trusted_ca): nil when the certificate's CA is not listed there (the
    /// authorized_keys files decide then); otherwise whether it is valid for this user now and from here.
    private func trustedCertificate(_ certificate: SSHCertificate, user: String, settings: SSHServerConfig, address: String, now: Int,
                                    isQuery: Bool, from: String) -> Bool? {
        guard let path = settings["trustedusercakeys"], path.lowercased() != "none",
              let text = try? SSHKeyFile.readFile(atPath: path, maximumSize: 1 << 20) else { return nil }
        let authorities = String(decoding: text, as: UTF8.self).split(whereSeparator: \.isNewline).compactMap { line -> SSHPublicKey? in
            guard !line.hasPrefix("#") else { return nil }
            return try? SSHPublicKeyLine(parsing: String(line)).key
        }
        guard authorities.contains(certificate.signatureKey) else { return nil }
        switch certificate.validate(kind: .user, trustedAuthorities: authorities, principal: user, time: UInt64(max(0, now)), sourceAddress: address) {
        case .success:
            return true
        case .failure(let refusal):
            if !isQuery { log.info("Refused certificate for \(user) \(from): \(refusal) (TrustedUserCAKeys \(path))") }
            return false
        }
    }

    /// password and keyboard-interactive's one "Password:" question: crypt(3) against the shadow file (a modern
    /// hash takes tens of milliseconds of this blocking thread). Unknown and refused users are hashed too.
    private func decidePassword(_ password: String, method: String, user: String, connection: SSHServerConnectionInfo) -> SSHAuthenticationDecision {
        guard offeredMethods.contains(SSHAuthenticationMethod(name: method)) else { return .reject }
        let admitted = admission(user: user, connection: connection, log: connection.isFirstRequest)
        var settings: SSHServerConfig?
        if case .admitted(_, let matched, _, _) = admitted { settings = matched }
        let permitEmpty = ConfigValues.flag(settings?["permitemptypasswords"] ?? "no") == true
        let matches = shh_check_password(user, password, permitEmpty ? 1 : 0) == 1
        guard case .admitted(let account, let matched, _, let from) = admitted else {
            // Worded as sshd's, which log watchers (fail2ban) match.
            let address = connection.remoteAddress
            var who = user
            if case .refused(unknownUser: true) = admitted { who = "invalid user \(user)" }
            log.info("Failed \(method) for \(who) from \(address?.ipAddress ?? "unknown") port \(address?.port ?? 0) ssh2")
            return .reject
        }
        let options = matched.options
        guard method == "password" ? options.passwordAuthentication : options.kbdInteractiveAuthentication else { return .reject }
        guard matches else {
            log.info("Failed \(method) for \(user) \(from) ssh2")
            return .reject
        }
        if account.uid == 0, options.permitRootLogin != .yes {
            log.info("ROOT LOGIN REFUSED \(from): PermitRootLogin allows no passwords")
            return .reject
        }
        switch grant(matched, account: account, entry: nil, key: nil, method: method) {
        case .failure(let refusal):
            log.info("Refused \(method) for \(user) \(from): \(refusal.message)")
            return .reject
        case .success(let grant):
            return finish(grant, method: method, settings: matched, connection: connection, user: user, from: from)
        }
    }

    struct Refusal: Error {
        var message: String
    }

    /// What this login may do: sshd's ForceCommand over command= (a certificate's force-command must agree with
    /// it), PermitTTY with no-pty/restrict and a certificate's permit-pty, SetEnv over environment= and
    /// ~/.ssh/environment (those two only as PermitUserEnvironment allows), AcceptEnv as Match left it.
    func grant(_ settings: SSHServerConfig, account: SystemAccount, entry: AuthorizedKeysEntry?, key: SSHPresentedKey?,
               method: String) -> Result<SSHLoginGrant, Refusal> {
        var grant = SSHLoginGrant(method: SSHAuthenticationMethod(name: method))
        var keyCommand = entry?.options.command
        var certificate: SSHCertificate?
        if case .certificate(let presented) = key { certificate = presented }
        if let forced = certificate?.forceCommand {
            if let keyCommand, keyCommand != forced { return .failure(Refusal(message: "the certificate's force-command and the key's command= differ")) }
            keyCommand = forced
        }
        if let adminCommand = settings["forcecommand"], adminCommand.lowercased() != "none" {
            grant.forcedCommand = settings.arguments("forcecommand")?.joined(separator: " ")
        } else {
            grant.forcedCommand = keyCommand
        }
        if account.uid == 0, settings.options.permitRootLogin == .forcedCommandsOnly, keyCommand == nil {
            return .failure(Refusal(message: "PermitRootLogin forced-commands-only and the key has no command="))
        }
        grant.permitsTerminal = settings.options.permitTTY
            && (entry?.options.pty ?? true)
            && (certificate.map { $0.extensions.contains { $0.name == "permit-pty" } } ?? true)
        let userEnvironment = (settings.arguments("permituserenvironment") ?? ["no"]).joined(separator: " ")
        if let allowed = Self.userEnvironmentPatterns(userEnvironment) {
            var variables: [(String, String)] = []
            let environmentFile = account.home + "/.ssh/environment"
            var text: [UInt8] = []
            switch SSHUserFile.read(environmentFile, as: account, strictModes: false, maximumSize: 64 << 10) {
            case .contents(let bytes): text = bytes
            case .missing: break
            case .refused(let problem), .unreadable(let problem): log.verbose("Could not read \(environmentFile): \(problem)")
            }
            do {
                for line in String(decoding: text, as: UTF8.self).split(whereSeparator: \.isNewline) {
                    let trimmed = line.drop { $0 == " " || $0 == "\t" }
                    guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
                    variables.append((String(trimmed[..<equals]), String(trimmed[trimmed.index(after: equals)...])))
                }
            }
            for assignment in entry?.options.environment ?? [] {
                guard let equals = assignment.firstIndex(of: "=") else { continue }
                variables.append((String(assignment[..<equals]), String(assignment[assignment.index(after: equals)...])))
            }
            for (name, value) in variables where allowed.contains(where: { OpenSSHPattern.matches(name, pattern: $0) }) {
                grant.environment[name] = value
            }
        }
        for assignment in settings.arguments("setenv") ?? [] {
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            grant.environment[String(assignment[..<equals])] = String(assignment[assignment.index(after: equals)...])
        }
        grant.acceptedEnvironment = settings.all("acceptenv").flatMap { $0 }
        grant.maximumSessions = settings.isSet("maxsessions") ? settings.options.maxSessions : nil
        Self.restrictForwarding(&grant, settings: settings.options, entry: entry, certificate: certificate)
        return .success(grant)
    }

    /// The login's forwarding restrictions, as sshd's auth-options.c merges them: the authorized_keys line's
    /// no-port-forwarding, no-agent-forwarding, permitopen=, permitlisten= and restrict (with port-forwarding and
    /// agent-forwarding after it); a certificate without permit-port-forwarding or permit-agent-forwarding
    /// (PROTOCOL.certkeys) permits neither; AllowAgentForwarding no and DisableForwarding as Match left them. The
    /// server's own AllowTcpForwarding, PermitOpen, ... are the forwarding policy's (ShhdForwarding).
    static func restrictForwarding(_ grant: inout SSHLoginGrant, settings: SSHServerOptions, entry: AuthorizedKeysEntry?, certificate: SSHCertificate?) {
        if let options = entry?.options {
            grant.permitsPortForwarding = options.portForwarding
            grant.permitsAgentForwarding = options.agentForwarding
            // An empty list is no permitopen= at all (auth-options.c: no restriction).
            grant.permittedOpens = options.permitOpen.isEmpty ? nil : options.permitOpen
            grant.permittedListens = options.permitListen.isEmpty ? nil : options.permitListen
        }
        if let certificate {
            let extensions = Set(certificate.extensions.map(\.name))
            if !extensions.contains("permit-port-forwarding") { grant.permitsPortForwarding = false }
            if !extensions.contains("permit-agent-forwarding") { grant.permitsAgentForwarding = false }
        }
        if !settings.allowAgentForwarding || settings.disableForwarding { grant.permitsAgentForwarding = false }
        if settings.disableForwarding { grant.permitsPortForwarding = false }
    }

    /// PermitUserEnvironment: "yes" allows every name, "no" none, anything else is a pattern list of names.
    static func userEnvironmentPatterns(_ value: String) -> [String]? {
        switch value.lowercased() {
        case "no": nil
        case "yes": ["*"]
        default: value.split(separator: ",").map { String($0.filter { $0 != " " && $0 != "\t" }) }
        }
    }

    enum Admission {
        case admitted(SystemAccount, SSHServerConfig, address: String, from: String)
        /// `unknownUser`: there is no such account (sshd's "invalid user"), rather than one refused by policy.
        case refused(unknownUser: Bool)
    }

    /// Whether `user` may log in at all from this connection (before any key is looked at), with the settings
    /// the Match blocks give it.
    func admission(user: String, connection: SSHServerConnectionInfo, log shouldLog: Bool) -> Admission {
        func note(_ message: String) { if shouldLog { log.info(message) } }
        let address = connection.remoteAddress?.ipAddress ?? "unknown"
        let from = "from \(address) port \(connection.remoteAddress?.port ?? 0)"
        guard let account = lookUpAccount(user) else {
            note("Invalid user \(user) \(from)")
            return .refused(unknownUser: true)
        }
        // Not root, shhd cannot become anyone else: only its own user can be let in.
        guard runningAccount.uid == 0 || account.uid == runningAccount.uid else {
            note("User \(user) \(from) refused: shhd runs as \(runningAccount.name) and can only let \(runningAccount.name) in")
            return .refused(unknownUser: false)
        }
        // sshd without PAM: a locked or expired account gets in by no method.
        switch shh_account_state(user) {
        case 1:
            note("User \(user) not allowed because account is locked")
            return .refused(unknownUser: false)
        case 2:
            note("User \(user) \(from) refused: account has expired")
            return .refused(unknownUser: false)
        default:
            break
        }
        let groups = account.groupNames
        let context = SSHServerMatchContext(user: user, groups: groups, host: address, address: address,
                                            localAddress: connection.localAddress?.ipAddress, localPort: connection.localAddress?.port)
        let settings = file.settings(for: context)
        if let refusal = Self.accessRefusal(user: user, groups: groups, address: address, settings: settings) {
            note("User \(user) \(from) not allowed because \(refusal)")
            return .refused(unknownUser: false)
        }
        if account.uid == 0 && settings.options.permitRootLogin == .no {
            note("ROOT LOGIN REFUSED \(from)")
            return .refused(unknownUser: false)
        }
        if let chroot = settings["chrootdirectory"], chroot.lowercased() != "none" {
            note("User \(user) \(from) refused: ChrootDirectory \(chroot) is not supported yet")
            return .refused(unknownUser: false)
        }
        return .admitted(account, settings, address: address, from: from)
    }

    /// AuthorizedKeysFile with %h, %u, %U and %% expanded, relative paths from the home directory; "none" for none.
    func authorizedKeysFiles(_ settings: SSHServerConfig, account: SystemAccount) -> [AuthorizedKeysFile] {
        let log = self.log
        let policy = SSHAuthorizedKeysPolicy(
            filePatterns: settings.options.authorizedKeysFiles, strictModes: settings.options.strictModes
        ) { problem in
            switch problem {
            case .refused(let text): log.info("Authentication refused: \(text)")
            case .unreadable(let text): log.verbose("Could not read authorized keys \(text)")
            case .skippedLine(let text): log.verbose(text)
            }
        }
        return policy.files(for: account)
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
}

extension SSHServerConfig {
    /// These settings typed, defaults from OpenSSHConfig's one place. Every value, Match blocks included, was
    /// checked when shhd started (SSHServerConfigFile.checkValues), so this does not fail; were it to, the login
    /// gets nothing (every method off, root refused, no terminal): closed, not open.
    var options: SSHServerOptions {
        if let options = try? SSHServerOptions(self) { return options }
        var closed = SSHServerOptions()
        closed.permitRootLogin = .no
        closed.pubkeyAuthentication = false
        closed.passwordAuthentication = false
        closed.kbdInteractiveAuthentication = false
        closed.permitTTY = false
        return closed
    }
}
