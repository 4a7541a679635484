// Every keyword OpenSSH's sshd accepts in sshd_config (servconf.c, 9.x and 10.x), by lower-case name, with where
// it may appear: anywhere, or only outside Match blocks. Which of them shhd honours is shhd's business; knowing them
// all here is what makes an unknown keyword, or a global one inside Match, an error naming its file and line.

/// Every keyword sshd accepts in sshd_config, with where it may appear.
public enum ServerKeywords {
    /// Where a keyword may appear.
    public enum Scope: Sendable {
        /// Only at the top level (sshd: SSHCFG_GLOBAL).
        case global
        /// At the top level and inside Match blocks (SSHCFG_ALL).
        case anywhere
    }

    /// Lower-case keyword (or alias) → canonical lower-case keyword.
    public static let canonical: [String: String] = {
        var table: [String: String] = [:]
        for name in scopes.keys { table[name] = name }
        for (alias, name) in aliases { table[alias] = name }
        for name in deprecated { table[name] = name }
        return table
    }()

    /// Where each canonical keyword may appear.
    public static let scopes: [String: Scope] = {
        var table: [String: Scope] = [:]
        for name in globalNames { table[name] = .global }
        for name in anywhereNames { table[name] = .anywhere }
        return table
    }()

    /// Keywords whose every occurrence adds to a list (the rest: the first occurrence wins).
    public static let accumulating: Set<String> = [
        "port", "listenaddress", "hostkey", "hostcertificate", "acceptenv", "allowusers", "denyusers", "allowgroups",
        "denygroups", "subsystem",
    ]

    /// Keywords sshd still parses but ignores (it logs "Deprecated option").
    public static let deprecated: Set<String> = [
        "serverkeybits", "keyregenerationinterval", "rhostsauthentication", "rhostsrsaauthentication",
        "rsaauthentication", "checkmail", "uselogin", "verifyreversemapping", "reversemappingcheck",
        "authorizedkeysfile2", "useprivilegeseparation", "kerberostgtpassing", "afstokenpassing", "protocol",
    ]

    /// Keywords whose value is the rest of the line as written (a command for the shell).
    public static let takesRestOfLine: Set<String> = ["forcecommand", "authorizedkeyscommand", "authorizedprincipalscommand"]

    static let aliases: [String: String] = [
        "hostdsakey": "hostkey", "hostbasedacceptedkeytypes": "hostbasedacceptedalgorithms",
        "pubkeyacceptedkeytypes": "pubkeyacceptedalgorithms", "dsaauthentication": "pubkeyauthentication",
        "challengeresponseauthentication": "kbdinteractiveauthentication",
        "skeyauthentication": "kbdinteractiveauthentication", "keepalive": "tcpkeepalive",
    ]

    static let globalNames: [String] = [
        "port", "listenaddress", "hostkey", "syslogfacility", "permituserenvironment", "maxstartups",
        "persourcenetblocksize", "persourcepenalties", "addressfamily", "hostcertificate", "hostkeyagent", "pidfile",
        "modulifile", "logingracetime", "ignoreuserknownhosts", "printmotd", "xauthlocation", "strictmodes",
        "tcpkeepalive", "ciphers", "macs", "kexalgorithms", "hostkeyalgorithms", "compression", "usedns",
        "persourcemaxstartups", "persourcepenaltyexemptlist", "versionaddendum", "fingerprinthash",
        "securitykeyprovider", "sshdsessionpath", "sshdauthpath", "usepam", "printlastlog", "kerberosgetafstoken",
        "kerberosorlocalpasswd", "kerberosticketcleanup", "gssapicleanupcredentials", "gssapidelegatecredentials",
        "gssapistrictacceptorcheck",
    ]

    static let anywhereNames: [String] = [
        "ipqos", "gatewayports", "streamlocalbindmask", "streamlocalbindunlink", "loglevel", "subsystem", "rekeylimit",
        "rdomain", "permitrootlogin", "ignorerhosts", "x11forwarding", "x11displayoffset", "x11uselocalhost",
        "permittty", "permituserrc", "logverbose", "hostbasedauthentication", "hostbasedusesnamefrompacketonly",
        "hostbasedacceptedalgorithms", "casignaturealgorithms", "pubkeyauthoptions", "pubkeyauthentication",
        "pubkeyacceptedalgorithms", "passwordauthentication", "kbdinteractiveauthentication", "permitemptypasswords",
        "allowtcpforwarding", "allowstreamlocalforwarding", "allowagentforwarding", "disableforwarding", "allowusers",
        "denyusers", "allowgroups", "denygroups", "acceptenv", "setenv", "maxauthtries", "maxsessions", "banner",
        "clientaliveinterval", "clientalivecountmax", "authorizedkeysfile", "forcecommand", "permittunnel",
        "permitopen", "permitlisten", "chrootdirectory", "revokedkeys", "trustedusercakeys", "authorizedkeyscommand",
        "authorizedkeyscommanduser", "authorizedprincipalsfile", "authorizedprincipalscommand",
        "authorizedprincipalscommanduser", "authenticationmethods", "exposeauthinfo", "requiredrsasize",
        "channeltimeout", "unusedconnectiontimeout", "refuseconnection", "pamservicename", "kerberosauthentication",
        "gssapiauthentication", "include", "match",
    ]
}
