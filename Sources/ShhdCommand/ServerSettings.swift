// From command line and sshd_config to what shhd serves: where it listens, its host keys, algorithms and limits,
// and who may log in. What shhd cannot honour yet is refused by name when it would change who gets in or what
// they may do (fail closed); what only tunes behaviour shhd does not have yet is logged at start.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import SSHPOSIX
import OpenSSHConfig
import SSH
import SSHKeys
import SSHServerHost
import SSHProtocol

/// A failure of shhd itself, with the message sshd would print (exit 255).
struct ShhdFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// The account shhd runs as (and, not as root, the only one that may log in).
struct ServerSettings {
    var file: SSHServerConfigFile
    /// The top level's values as written (for the authenticator, which applies Match blocks per login).
    var global: SSHServerConfig
    /// The whole server's options (no Match block applied).
    var options: SSHServerOptions
    var listeners: [(host: String, port: Int)]
    var configuration: SSHServer.Configuration
    var pidFile: String?
    /// Things set that shhd does not act on yet, logged at start.
    var notes: [String]
    /// The text of every Banner file the configuration names (top level and Match), by path.
    var banners: [String: String]
    var runningAccount: SystemAccount
    /// MaxStartups and the PerSource* settings (never nil for shhd; penalties may be off).
    var startupLimits: SSHStartupLimits? = nil

    /// shhd's own config file, read when -f does not name one. Without it shhd runs its embedded default.
    static let defaultConfigFile = "/etc/shh/shhd_config"

    /// `checking` (-t, -T): read and check everything, write nothing (the embedded default's host key is made on
    /// the first real start).
    /// `loadingHostKeys: false` (the network process): no private key is read; the broker announces the public halves.
    static func resolve(_ arguments: ShhdArguments, log: ServerLog, checking: Bool = false, loadingHostKeys: Bool = true) throws -> ServerSettings {
        var embeddedKeyPending = false
        guard let account = SystemAccount(uid: getuid()) else { throw ShhdFailure("shhd: cannot find the account of uid \(getuid())") }
        var lines = arguments.configLines
        let configPath: String?
        if let given = arguments.configFile {
            configPath = given
        } else if access(defaultConfigFile, F_OK) == 0 {
            configPath = defaultConfigFile
        } else {
            // The embedded default: loopback only, port 2222, a host key of our own, the running user's keys —
            // each only where -o did not say otherwise (ListenAddress, Port and HostKey add up, so a default
            // beside the user's would be a second one).
            configPath = nil
            let given = Set(lines.compactMap { (try? ConfigTokenizer.split($0))??.keyword.lowercased() })
            if !given.contains("listenaddress") { lines.append("ListenAddress 127.0.0.1") }
            if !given.contains("hostkey") && !given.contains("hostdsakey") {
                if let path = try EmbeddedHostKey.ensure(for: account, log: log, create: !checking && loadingHostKeys) {
                    lines.append("HostKey \"\(path)\"")
                } else {
                    embeddedKeyPending = true
                }
            }
            if arguments.ports.isEmpty && !given.contains("port") { lines.append("Port 2222") }
        }
        let file = try SSHServerConfigFile.read(path: configPath, options: lines)
        let global = file.settings(for: nil)
        var notes = file.notes
        try validate(file, global: global, notes: &notes)
        // -p replaces the config's Port lines (sshd: ports from the command line win outright).
        let options = try SSHServerOptions(global, commandLinePorts: arguments.ports)

        var configuration = SSHServer.Configuration(hostKeys: embeddedKeyPending || !loadingHostKeys ? [] : try loadHostKeys(options, log: log))
        configuration.algorithms = options.algorithms
        configuration.rekeyLimits = options.rekeyLimits
        configuration.authentication.maximumAttempts = options.maxAuthTries
        // The protocol layer lets through any algorithm some Match block may accept; the authenticator then holds
        // each login to the list its Match blocks give it.
        configuration.authentication.acceptedPublicKeyAlgorithms = try file.publicKeyAlgorithmsAnyMatchMayAccept(global: options)
        configuration.tcpKeepAlive = options.tcpKeepAlive
        configuration.maximumSessionsPerConnection = options.maxSessions
        // sshd's LoginGraceTime 0 is no limit.
        configuration.loginGraceTime = options.loginGraceTime.map { .seconds($0.components.seconds) } ?? .hours(24 * 365)
        configuration.acceptedEnvironment = options.acceptEnvironment
        configuration.clientAliveInterval = options.clientAliveInterval.map { .seconds($0.components.seconds) }
        // sshd: 0 turns the disconnect off (keepalives are still sent, nothing ends the connection).
        configuration.clientAliveCountMax = options.clientAliveCountMax == 0 ? Int.max : options.clientAliveCountMax
        // Every Banner file, the top level's and those inside Match, read now: the authenticator picks one per user.
        var banners: [String: String] = [:]
        for (path, place) in file.bannerFiles {
            do {
                banners[path] = String(decoding: try SSHKeyFile.readFile(atPath: path, maximumSize: 64 << 10), as: UTF8.self)
            } catch {
                throw ShhdFailure("shhd: Banner \(path) (\(place)): \(error)")
            }
        }
        return ServerSettings(file: file, global: global, options: options, listeners: options.listeners.map { ($0.host, $0.port) },
                              configuration: configuration, pidFile: options.pidFile, notes: notes, banners: banners,
                              runningAccount: account, startupLimits: startupLimits(options))
    }

    // MARK: Startups

    /// MaxStartups, PerSourceMaxStartups, PerSourceNetBlockSize, PerSourcePenalties and PerSourcePenaltyExemptList
    /// as the server applies them.
    static func startupLimits(_ options: SSHServerOptions) -> SSHStartupLimits {
        var limits = SSHStartupLimits()
        (limits.start, limits.rate, limits.full) = (options.maxStartups.start, options.maxStartups.rate, options.maxStartups.full)
        limits.perSourceMaximum = options.perSourceMaxStartups
        limits.ipv4PrefixLength = options.perSourceNetBlockSize.ipv4
        limits.ipv6PrefixLength = options.perSourceNetBlockSize.ipv6
        limits.penalties = options.perSourcePenalties
        limits.penaltyExemptions = options.perSourcePenaltyExemptList
        return limits
    }

    // MARK: Host keys

    /// HostKey files (at least one must load; sshd goes on without the ones it cannot read), with the
    /// HostCertificate that certifies each.
    static func loadHostKeys(_ options: SSHServerOptions, log: ServerLog) throws -> [SSHServerHostKey] {
        var keys: [SSHServerHostKey] = []
        for path in options.hostKeyFiles {
            do {
                keys.append(SSHServerHostKey(privateKey: try SSHKeyFile.loadPrivateKey(atPath: path)))
            } catch {
                log.error("Unable to load host key \"\(path)\": \(error)")
            }
        }
        for path in options.hostCertificateFiles {
            let certificate: SSHCertificate
            do {
                let text = String(decoding: try SSHKeyFile.readFile(atPath: path), as: UTF8.self)
                certificate = try SSHCertificate.parseLine(String(text.split(separator: "\n").first ?? "")).certificate
            } catch {
                throw ShhdFailure("shhd: HostCertificate \(path): \(error)")
            }
            guard let index = keys.firstIndex(where: { $0.publicKey == certificate.key }) else {
                throw ShhdFailure("shhd: HostCertificate \(path) certifies none of the host keys")
            }
            keys[index].certificate = certificate
        }
        guard !keys.isEmpty else { throw ShhdFailure("shhd: no hostkeys available -- exiting.") }
        return keys
    }

    // MARK: What is not built yet

    /// Every keyword sshd knows is in exactly one of three lists (a test holds it to that), so none is read and then
    /// quietly ignored: those shhd acts on; those it cannot honour yet, which stop shhd unless set to their "off"
    /// value (fail closed); and those whose absence changes nothing an administrator relies on, noted at start.
    static let enforced: Set<String> = [
        "port", "listenaddress", "addressfamily", "hostkey", "hostcertificate", "pidfile", "logingracetime", "printmotd",
        "strictmodes", "permituserenvironment", "ciphers", "macs", "kexalgorithms", "hostkeyalgorithms", "loglevel",
        "rekeylimit", "permitrootlogin", "permittty", "pubkeyauthentication", "pubkeyacceptedalgorithms",
        "casignaturealgorithms", "requiredrsasize", "passwordauthentication", "kbdinteractiveauthentication",
        "permitemptypasswords", "allowusers", "denyusers", "allowgroups", "denygroups", "acceptenv", "setenv",
        "maxauthtries", "maxsessions", "banner", "clientaliveinterval", "clientalivecountmax", "authorizedkeysfile",
        "forcecommand", "trustedusercakeys", "authenticationmethods", "tcpkeepalive", "maxstartups",
        "persourcemaxstartups", "persourcenetblocksize", "persourcepenalties", "persourcepenaltyexemptlist",
        // Forwarding (issue 18): policy per connection, Match applied (ShhdForwarding).
        "allowtcpforwarding", "allowstreamlocalforwarding", "allowagentforwarding", "disableforwarding", "gatewayports",
        "permitopen", "permitlisten", "streamlocalbindunlink", "streamlocalbindmask",
        // Enforced by refusing: every login ChrootDirectory applies to is refused (logged at start).
        "chrootdirectory",
        // The file's own structure.
        "include", "match",
    ]

    /// Keywords whose effect shhd does not have yet and which would change who gets in, what they may run or how
    /// long a connection lives: set to anything but their "off" value, they stop shhd with a message naming them.
    static let refusedUnlessOff: [(keyword: String, off: Set<String>, reason: String)] = [
        ("usepam", ["no"], "PAM is not available in shhd yet; set UsePAM no (public key logins work without it)"),
        ("authorizedkeyscommand", ["none"], "AuthorizedKeysCommand is not supported yet"),
        ("authorizedprincipalsfile", ["none"], "AuthorizedPrincipalsFile is not supported yet"),
        ("authorizedprincipalscommand", ["none"], "AuthorizedPrincipalsCommand is not supported yet"),
        ("revokedkeys", ["none"], "RevokedKeys is not supported yet"),
        ("hostbasedauthentication", ["no"], "host-based authentication is not supported"),
        ("kerberosauthentication", ["no"], "Kerberos authentication is not supported"),
        ("gssapiauthentication", ["no"], "GSSAPI authentication is not supported"),
        ("hostkeyagent", ["none"], "HostKeyAgent is not supported yet"),
        ("refuseconnection", ["no"], "RefuseConnection is not supported yet"),
        ("channeltimeout", ["none"], "ChannelTimeout is not supported yet"),
        ("unusedconnectiontimeout", ["none", "0"], "UnusedConnectionTimeout is not supported yet"),
        ("rdomain", ["none"], "routing domains (RDomain) are not supported"),
    ]

    /// Set, but with no effect in shhd (logged at start): what they allow is refused, or they only tune something
    /// shhd does not have.
    static let notedWhenSet: [(keyword: String, note: String)] = [
        ("x11forwarding", "X11 forwarding is not built: every request is refused"),
        ("x11displayoffset", "X11 forwarding is not built: X11DisplayOffset has nothing to apply to"),
        ("x11uselocalhost", "X11 forwarding is not built: X11UseLocalhost has nothing to apply to"),
        ("xauthlocation", "X11 forwarding is not built: XAuthLocation is never run"),
        ("permittunnel", "tunnel forwarding is not built: every request is refused"),
        ("subsystem", "subsystems (sftp) are not built yet: every subsystem request is refused"),
        ("usedns", "UseDNS: shhd never resolves client addresses"),
        ("ignorerhosts", "IgnoreRhosts: shhd never reads .rhosts or .shosts"),
        ("ignoreuserknownhosts", "IgnoreUserKnownHosts: host-based authentication is not supported"),
        ("hostbasedusesnamefrompacketonly", "host-based authentication is not supported"),
        ("hostbasedacceptedalgorithms", "host-based authentication is not supported"),
        ("pubkeyauthoptions", "PubkeyAuthOptions: shhd accepts no security-key types, the only ones it applies to"),
        ("permituserrc", "PermitUserRC: shhd never runs ~/.ssh/rc"),
        ("exposeauthinfo", "ExposeAuthInfo: shhd does not write SSH_USER_AUTH files yet"),
        ("syslogfacility", "SyslogFacility: shhd logs to standard error (or -E)"),
        ("logverbose", "LogVerbose: shhd has no per-source debug logging"),
        ("ipqos", "IPQoS: shhd leaves the socket's type of service as it is"),
        ("compression", "Compression: shhd offers no compression"),
        ("versionaddendum", "VersionAddendum: shhd's version line has no addendum"),
        ("fingerprinthash", "FingerprintHash: shhd's log always shows SHA256 fingerprints"),
        ("modulifile", "ModuliFile: shhd offers no Diffie-Hellman group exchange"),
        ("printlastlog", "PrintLastLog: shhd does not print the last login"),
        ("securitykeyprovider", "SecurityKeyProvider: shhd loads no security-key middleware"),
        ("sshdsessionpath", "SshdSessionPath: shhd has no separate session binary"),
        ("sshdauthpath", "SshdAuthPath: shhd has no separate authentication binary"),
        ("pamservicename", "PAMServiceName: PAM is not available in shhd yet"),
        ("authorizedkeyscommanduser", "AuthorizedKeysCommandUser: AuthorizedKeysCommand is not supported yet"),
        ("authorizedprincipalscommanduser", "AuthorizedPrincipalsCommandUser: AuthorizedPrincipalsCommand is not supported yet"),
        ("kerberosgetafstoken", "Kerberos is not supported"),
        ("kerberosorlocalpasswd", "Kerberos is not supported"),
        ("kerberosticketcleanup", "Kerberos is not supported"),
        ("gssapicleanupcredentials", "GSSAPI is not supported"),
        ("gssapidelegatecredentials", "GSSAPI is not supported"),
        ("gssapistrictacceptorcheck", "GSSAPI is not supported"),
    ]

    /// Keywords applied once for the whole server: inside Match they would change nothing, so they stop shhd there.
    static let globalOnlyInShhd: Set<String> = ["clientaliveinterval", "clientalivecountmax", "loglevel", "rekeylimit"]

    static func validate(_ file: SSHServerConfigFile, global: SSHServerConfig, notes: inout [String]) throws {
        // Every occurrence, Match blocks included: a refused directive anywhere refuses the whole configuration.
        let everywhere = file.blocks.flatMap(\.directives)
        for (keyword, off, reason) in refusedUnlessOff {
            for directive in everywhere where directive.keyword == keyword {
                if let value = directive.arguments.first?.lowercased(), off.contains(value) { continue }
                throw OpenSSHConfigError(.unsupported(keyword: directive.spelling, reason: reason), file: directive.file, line: directive.line)
            }
        }
        for directive in everywhere where directive.keyword == "chrootdirectory" && directive.arguments.first?.lowercased() != "none" {
            notes.append("\(directive.file) line \(directive.line): ChrootDirectory is not supported yet: logins it applies to are refused")
        }
        for directive in file.matchDirectives where globalOnlyInShhd.contains(directive.keyword) {
            throw OpenSSHConfigError(.unsupported(keyword: directive.spelling, reason: "inside Match it is not applied by shhd yet; set it at the top level"),
                                     file: directive.file, line: directive.line)
        }
        for (keyword, note) in notedWhenSet where everywhere.contains(where: { $0.keyword == keyword }) {
            notes.append(note)
        }
        try file.checkValues()
        for directive in everywhere where directive.keyword == "authenticationmethods" && directive.arguments.first?.lowercased() != "any" {
            for list in directive.arguments {
                let methods = list.split(separator: ",").map { String($0.prefix { $0 != ":" }) }
                if let unknown = methods.first(where: { !["publickey", "password", "keyboard-interactive"].contains($0) }) {
                    throw OpenSSHConfigError(.badValue(keyword: directive.spelling, value: list,
                                                       expected: "lists of publickey, password and keyboard-interactive (\(unknown) is not available)"),
                                             file: directive.file, line: directive.line)
                }
                // sshd wants a different key (or a fresh answer) for a repeated method; shhd cannot tell them
                // apart yet, so it refuses the list rather than accept one credential twice.
                if Set(methods).count != methods.count {
                    throw OpenSSHConfigError(.unsupported(keyword: directive.spelling, reason: "a method twice in one list (\(list)) is not supported yet"),
                                             file: directive.file, line: directive.line)
                }
            }
        }
    }
}
