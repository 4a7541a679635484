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
    var global: SSHServerConfig
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
        var global = file.settings(for: nil)
        // -p replaces the config's Port lines (sshd: ports from the command line win outright).
        if !arguments.ports.isEmpty { global.replace("port", with: arguments.ports.map { ["\($0)"] }, origin: "command line") }
        var notes = file.notes
        try validate(file, global: global, notes: &notes)

        var configuration = SSHServer.Configuration(hostKeys: embeddedKeyPending || !loadingHostKeys ? [] : try loadHostKeys(global, log: log))
        configuration.algorithms = try ConfigValues.algorithms({ keyword in
            global[keyword].map { ($0, global.origins[keyword] ?? "command line") }
        }, over: .defaults)
        if let limit = global.arguments("rekeylimit") {
            configuration.rekeyLimits = try ConfigValues.rekeyLimits(limit, origin: origin(global, "rekeylimit"))
        }
        if let tries = global["maxauthtries"] {
            guard let number = Int(tries), number > 0 else { throw badValue(global, "MaxAuthTries", tries, "a positive number") }
            configuration.authentication.maximumAttempts = number
        }
        // The protocol layer lets through any algorithm some Match block may accept; the authenticator then holds
        // each login to the list its Match blocks give it.
        var publicKeyAlgorithms: [SSHHostKeyAlgorithm] = []
        let everyList = (global["pubkeyacceptedalgorithms"].map { [($0, origin(global, "pubkeyacceptedalgorithms"))] } ?? [])
            + file.matchDirectives.filter { $0.keyword == "pubkeyacceptedalgorithms" }.map { ($0.arguments[0], "\($0.file) line \($0.line)") }
        if global["pubkeyacceptedalgorithms"] == nil { publicKeyAlgorithms = SSHHostKeyAlgorithm.defaults }
        for (text, place) in everyList {
            for algorithm in try ConfigValues.publicKeyAlgorithms(text, origin: place) where !publicKeyAlgorithms.contains(algorithm) {
                publicKeyAlgorithms.append(algorithm)
            }
        }
        configuration.authentication.acceptedPublicKeyAlgorithms = publicKeyAlgorithms
        configuration.tcpKeepAlive = ConfigValues.flag(global["tcpkeepalive"] ?? "yes") != false
        if let sessions = global["maxsessions"] {
            guard let number = Int(sessions), number >= 0 else { throw badValue(global, "MaxSessions", sessions, "a number") }
            configuration.maximumSessionsPerConnection = number
        }
        if let grace = global["logingracetime"] {
            guard let seconds = ConfigValues.seconds(grace) else { throw badValue(global, "LoginGraceTime", grace, "a time such as 2m") }
            // 0 means no limit in sshd.
            configuration.loginGraceTime = seconds == 0 ? .hours(24 * 365) : .seconds(seconds)
        }
        configuration.acceptedEnvironment = global.all("acceptenv").flatMap { $0 }
        if let interval = global["clientaliveinterval"] {
            guard let seconds = ConfigValues.seconds(interval) else { throw badValue(global, "ClientAliveInterval", interval, "a time such as 30s") }
            configuration.clientAliveInterval = seconds == 0 ? nil : .seconds(seconds)
        }
        if let count = global["clientalivecountmax"] {
            guard let number = Int(count), number >= 0 else { throw badValue(global, "ClientAliveCountMax", count, "a number") }
            // sshd: 0 turns the disconnect off (keepalives are still sent, nothing ends the connection).
            configuration.clientAliveCountMax = number == 0 ? Int.max : number
        }
        // Every Banner file, the top level's and those inside Match, read now: the authenticator picks one per user.
        var banners: [String: String] = [:]
        for directive in file.blocks.flatMap(\.directives) where directive.keyword == "banner" {
            let path = directive.arguments[0]
            guard path.lowercased() != "none", banners[path] == nil else { continue }
            do {
                banners[path] = String(decoding: try SSHKeyFile.readFile(atPath: path, maximumSize: 64 << 10), as: UTF8.self)
            } catch {
                throw ShhdFailure("shhd: Banner \(path) (\(directive.file) line \(directive.line)): \(error)")
            }
        }
        return ServerSettings(file: file, global: global, listeners: try listeners(global), configuration: configuration,
                              pidFile: global["pidfile"].flatMap { $0.lowercased() == "none" ? nil : $0 }, notes: notes, banners: banners,
                              runningAccount: account, startupLimits: try startupLimits(global))
    }

    // MARK: Startups

    /// MaxStartups start[:rate:full], PerSourceMaxStartups, PerSourceNetBlockSize v4[:v6], PerSourcePenalties and
    /// PerSourcePenaltyExemptList, over sshd's defaults (and PerSourceMaxStartups 10; see SSHStartupLimits).
    static func startupLimits(_ config: SSHServerConfig) throws -> SSHStartupLimits {
        var limits = SSHStartupLimits()
        if let text = config["maxstartups"] {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
            switch parts.count {
            case 1 where parts[0] != nil && parts[0]! > 0:
                (limits.start, limits.rate, limits.full) = (parts[0]!, 100, parts[0]!)
            case 3 where parts.allSatisfy({ $0 != nil }) && parts[0]! > 0 && (1...100).contains(parts[1]!) && parts[2]! >= parts[0]!:
                (limits.start, limits.rate, limits.full) = (parts[0]!, parts[1]!, parts[2]!)
            default:
                throw badValue(config, "MaxStartups", text, "start:rate:full (such as 10:30:100) or a number")
            }
        }
        if let text = config["persourcemaxstartups"] {
            if text.lowercased() == "none" {
                limits.perSourceMaximum = nil
            } else {
                guard let number = Int(text), number > 0 else { throw badValue(config, "PerSourceMaxStartups", text, "a number or none") }
                limits.perSourceMaximum = number
            }
        }
        if let text = config["persourcenetblocksize"] {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...2).contains(parts.count), let v4 = parts[0], (0...32).contains(v4), parts.count == 1 || (parts[1].map { (0...128).contains($0) } ?? false) else {
                throw badValue(config, "PerSourceNetBlockSize", text, "an IPv4 prefix length, optionally :IPv6 (such as 32:128)")
            }
            limits.ipv4PrefixLength = v4
            if parts.count == 2, let v6 = parts[1] { limits.ipv6PrefixLength = v6 }
        }
        if let words = config.arguments("persourcepenalties") {
            switch words.first?.lowercased() {
            case "no"?: limits.penalties = nil
            case "yes"?: limits.penalties = SSHStartupLimits.Penalties()
            default:
                var penalties = SSHStartupLimits.Penalties()
                for word in words {
                    let pair = word.split(separator: ":", maxSplits: 1).map(String.init)
                    func duration() throws -> Duration {
                        guard pair.count == 2, let seconds = ConfigValues.seconds(pair[1]) else {
                            throw badValue(config, "PerSourcePenalties", word, "name:time (such as authfail:5s)")
                        }
                        return .seconds(seconds)
                    }
                    func count() throws -> Int {
                        guard pair.count == 2, let number = Int(pair[1]), number > 0 else { throw badValue(config, "PerSourcePenalties", word, "name:count") }
                        return number
                    }
                    func denyAll() throws -> Bool {
                        guard pair.count == 2, ["deny-all", "permissive"].contains(pair[1].lowercased()) else {
                            throw badValue(config, "PerSourcePenalties", word, "overflow:deny-all or overflow:permissive")
                        }
                        return pair[1].lowercased() == "deny-all"
                    }
                    switch pair[0].lowercased() {
                    case "crash": penalties.crash = try duration()
                    case "authfail": penalties.authenticationFailure = try duration()
                    case "noauth": penalties.noAuthentication = try duration()
                    case "grace-exceeded": penalties.graceExceeded = try duration()
                    case "max": penalties.maximum = try duration()
                    case "min": penalties.minimum = try duration()
                    case "max-sources4": penalties.maximumSourcesIPv4 = try count()
                    case "max-sources6": penalties.maximumSourcesIPv6 = try count()
                    case "overflow": penalties.denyAllOnOverflowIPv4 = try denyAll()
                    case "overflow6": penalties.denyAllOnOverflowIPv6 = try denyAll()
                    default: throw badValue(config, "PerSourcePenalties", word, "crash, authfail, noauth, grace-exceeded, max, min, max-sources4/6 or overflow/overflow6")
                    }
                }
                limits.penalties = penalties
            }
        }
        if let list = config.arguments("persourcepenaltyexemptlist"), list.first?.lowercased() != "none" {
            limits.penaltyExemptions = list.joined(separator: ",")
        }
        return limits
    }

    // MARK: Listening

    /// ListenAddress × Port as sshd pairs them: an address with its own port keeps it; the others get every Port.
    static func listeners(_ config: SSHServerConfig) throws -> [(host: String, port: Int)] {
        var ports: [Int] = []
        for (index, arguments) in config.all("port").enumerated() {
            guard let text = arguments.first, let port = Int(text), (1...65535).contains(port) else {
                throw badValue(config, "Port", arguments.first ?? "", "a port number", occurrence: index)
            }
            if !ports.contains(port) { ports.append(port) }
        }
        if ports.isEmpty { ports = [22] }
        let family = (config["addressfamily"] ?? "any").lowercased()
        guard ["any", "inet", "inet6"].contains(family) else { throw badValue(config, "AddressFamily", family, "any, inet or inet6") }
        var result: [(host: String, port: Int)] = []
        let addresses = config.all("listenaddress").compactMap(\.first)
        // Without ListenAddress: every IPv4 address (and every IPv6 one for AddressFamily inet6). sshd also binds
        // "::" beside 0.0.0.0 with IPV6_V6ONLY; until shhd sets that option, IPv6 needs an explicit ListenAddress.
        for (index, address) in (addresses.isEmpty ? (family == "inet6" ? ["::"] : ["0.0.0.0"]) : addresses).enumerated() {
            func badAddress() -> OpenSSHConfigError { badValue(config, "ListenAddress", address, "address[:port]", occurrence: index) }
            if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
                let host = String(address[address.index(after: address.startIndex)..<close])
                let rest = address[address.index(after: close)...]
                if rest.hasPrefix(":") {
                    guard let port = Int(rest.dropFirst()), (1...65535).contains(port) else { throw badAddress() }
                    result.append((host, port))
                } else {
                    result += ports.map { (host, $0) }
                }
            } else if address.filter({ $0 == ":" }).count == 1, let colon = address.firstIndex(of: ":") {
                guard let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port) else { throw badAddress() }
                result.append((String(address[..<colon]), port))
            } else {
                result += ports.map { (address, $0) }
            }
        }
        return result.filter { listener in
            family == "any" || (family == "inet") == !listener.host.contains(":")
        }
    }

    // MARK: Host keys

    /// HostKey files (at least one must load; sshd goes on without the ones it cannot read), with the
    /// HostCertificate that certifies each.
    static func loadHostKeys(_ config: SSHServerConfig, log: ServerLog) throws -> [SSHServerHostKey] {
        var keys: [SSHServerHostKey] = []
        let paths = config.all("hostkey").compactMap(\.first)
        for path in paths.isEmpty ? ["/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ed25519_key"] : paths {
            do {
                keys.append(SSHServerHostKey(privateKey: try SSHKeyFile.loadPrivateKey(atPath: path)))
            } catch {
                log.error("Unable to load host key \"\(path)\": \(error)")
            }
        }
        for path in config.all("hostcertificate").compactMap(\.first) {
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
        ("disableforwarding", ["yes"], "forwarding is not built yet; DisableForwarding yes is what shhd does"),
    ]

    /// Set, but with no effect in shhd (logged at start): what they allow is refused, or they only tune something
    /// shhd does not have.
    static let notedWhenSet: [(keyword: String, note: String)] = [
        ("allowtcpforwarding", "TCP forwarding is not built yet: every forwarding request is refused"),
        ("allowstreamlocalforwarding", "stream-local forwarding is not built yet: every request is refused"),
        ("gatewayports", "forwarding is not built yet: every forwarding request is refused"),
        ("permitopen", "forwarding is not built yet: every forwarding request is refused"),
        ("permitlisten", "forwarding is not built yet: every forwarding request is refused"),
        ("streamlocalbindmask", "stream-local forwarding is not built yet: StreamLocalBindMask has nothing to apply to"),
        ("streamlocalbindunlink", "stream-local forwarding is not built yet: StreamLocalBindUnlink has nothing to apply to"),
        ("allowagentforwarding", "agent forwarding is not built yet: every request is refused"),
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
        for directive in everywhere {
            switch directive.keyword {
            case "pubkeyauthentication", "passwordauthentication", "kbdinteractiveauthentication", "strictmodes", "printmotd",
                 "x11forwarding", "allowagentforwarding", "permittty", "usedns", "tcpkeepalive", "ignorerhosts":
                guard ConfigValues.flag(directive.arguments[0]) != nil else {
                    throw OpenSSHConfigError(.badValue(keyword: directive.spelling, value: directive.arguments[0], expected: "yes or no"), file: directive.file, line: directive.line)
                }
            case "permitrootlogin":
                guard ["yes", "no", "prohibit-password", "without-password", "forced-commands-only"].contains(directive.arguments[0].lowercased()) else {
                    throw OpenSSHConfigError(.badValue(keyword: directive.spelling, value: directive.arguments[0], expected: "yes, prohibit-password, forced-commands-only or no"), file: directive.file, line: directive.line)
                }
            case "allowtcpforwarding", "allowstreamlocalforwarding":
                guard ["yes", "no", "all", "local", "remote"].contains(directive.arguments[0].lowercased()) else {
                    throw OpenSSHConfigError(.badValue(keyword: directive.spelling, value: directive.arguments[0], expected: "yes, no, local or remote"), file: directive.file, line: directive.line)
                }
            case "loglevel":
                guard ServerLog.Level(name: directive.arguments[0]) != nil else {
                    throw OpenSSHConfigError(.badValue(keyword: directive.spelling, value: directive.arguments[0], expected: "QUIET, FATAL, ERROR, INFO, VERBOSE or DEBUG1-3"), file: directive.file, line: directive.line)
                }
            case "maxauthtries", "maxsessions", "requiredrsasize":
                guard let number = Int(directive.arguments[0]), number >= 0 else {
                    throw OpenSSHConfigError(.badValue(keyword: directive.spelling, value: directive.arguments[0], expected: "a number"), file: directive.file, line: directive.line)
                }
            case "pubkeyacceptedalgorithms":
                _ = try ConfigValues.publicKeyAlgorithms(directive.arguments[0], origin: "\(directive.file) line \(directive.line)")
            case "casignaturealgorithms":
                _ = try ConfigValues.caSignatureAlgorithms(directive.arguments[0], origin: "\(directive.file) line \(directive.line)")
            case "authenticationmethods" where directive.arguments.first?.lowercased() != "any":
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
            case "subsystem":
                guard directive.arguments.count >= 2 else {
                    throw OpenSSHConfigError(.missingArgument(keyword: "\(directive.spelling) (name and command)"), file: directive.file, line: directive.line)
                }
            default:
                break
            }
        }
    }

    static func origin(_ config: SSHServerConfig, _ keyword: String) -> String {
        config.origins[keyword] ?? "command line"
    }

    /// A bad value, named with the place it was written ("file line N"; `occurrence` picks the line of one
    /// occurrence of a keyword that may be given many times).
    static func badValue(_ config: SSHServerConfig, _ keyword: String, _ value: String, _ expected: String, occurrence: Int? = nil) -> OpenSSHConfigError {
        let place = occurrence.map { config.origin(of: keyword.lowercased(), occurrence: $0) } ?? origin(config, keyword.lowercased())
        return OpenSSHConfigError(.badValue(keyword: keyword, value: value, expected: expected), file: place, line: 0)
    }
}
