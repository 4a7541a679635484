// Every keyword OpenSSH's ssh accepts in ssh_config (readconf.c), by lower-case name, with the name it is known
// by when several spell the same option. Which of them shh honours, and how, is the client's business; knowing
// them all here is what lets an unknown keyword be an error naming its file and line, as in ssh.

/// Every keyword ssh accepts in ssh_config, so an unknown one is an error naming its file and line.
public enum ClientKeywords {
    /// Lower-case keyword → canonical lower-case keyword.
    public static let canonical: [String: String] = {
        var table: [String: String] = [:]
        for name in names { table[name] = name }
        for (alias, name) in aliases { table[alias] = name }
        return table
    }()

    /// Keywords whose value is the rest of the line as written (a shell command), not words.
    public static let takesRestOfLine: Set<String> = ["proxycommand", "remotecommand", "localcommand", "knownhostscommand"]

    /// Keywords whose every occurrence adds to a list instead of the first one winning.
    public static let accumulating: Set<String> = [
        "identityfile", "certificatefile", "localforward", "remoteforward", "dynamicforward", "sendenv",
    ]

    /// Keywords OpenSSH itself ignores (with a warning) because they are deprecated or unsupported.
    public static let obsolete: Set<String> = [
        "protocol", "cipher", "fallbacktorsh", "globalknownhostsfile2", "rhostsauthentication", "userknownhostsfile2",
        "useroaming", "usersh", "useprivilegedport", "afstokenpassing", "kerberosauthentication", "kerberostgtpassing",
        "rsaauthentication", "rhostsrsaauthentication", "compressionlevel",
    ]

    static let names: [String] = [
        "gssapiauthentication", "gssapidelegatecredentials", "pkcs11provider", "forwardagent", "forwardx11",
        "forwardx11trusted", "forwardx11timeout", "exitonforwardfailure", "xauthlocation", "gatewayports",
        "passwordauthentication", "kbdinteractiveauthentication", "kbdinteractivedevices", "pubkeyauthentication",
        "hostbasedauthentication", "identityfile", "identitiesonly", "certificatefile", "addkeystoagent",
        "identityagent", "hostname", "hostkeyalias", "proxycommand", "port", "ciphers", "macs", "remoteforward",
        "localforward", "permitremoteopen", "user", "host", "match", "tag", "escapechar", "globalknownhostsfile",
        "userknownhostsfile", "connectionattempts", "batchmode", "checkhostip", "stricthostkeychecking", "compression",
        "tcpkeepalive", "numberofpasswordprompts", "syslogfacility", "loglevel", "logverbose", "dynamicforward",
        "preferredauthentications", "hostkeyalgorithms", "casignaturealgorithms", "bindaddress", "bindinterface",
        "clearallforwardings", "enablesshkeysign", "verifyhostkeydns", "nohostauthenticationforlocalhost",
        "rekeylimit", "connecttimeout", "addressfamily", "serveraliveinterval", "serveralivecountmax", "sendenv",
        "setenv", "controlpath", "controlmaster", "controlpersist", "hashknownhosts", "include", "tunnel",
        "tunneldevice", "localcommand", "permitlocalcommand", "remotecommand", "visualhostkey", "kexalgorithms",
        "ipqos", "requesttty", "sessiontype", "stdinnull", "forkafterauthentication", "proxyusefdpass",
        "canonicaldomains", "canonicalizefallbacklocal", "canonicalizehostname", "canonicalizemaxdots",
        "canonicalizepermittedcnames", "streamlocalbindmask", "streamlocalbindunlink", "revokedhostkeys",
        "fingerprinthash", "updatehostkeys", "hostbasedacceptedalgorithms", "pubkeyacceptedalgorithms",
        "ignoreunknown", "proxyjump", "securitykeyprovider", "knownhostscommand", "requiredrsasize",
        "enableescapecommandline", "obscurekeystroketiming", "channeltimeout", "versionaddendum",
        "refuseconnection", "warnweakcrypto",
    ] + Array(obsolete)

    static let aliases: [String: String] = [
        "smartcarddevice": "pkcs11provider", "challengeresponseauthentication": "kbdinteractiveauthentication",
        "skeyauthentication": "kbdinteractiveauthentication", "tisauthentication": "kbdinteractiveauthentication",
        "dsaauthentication": "pubkeyauthentication", "identityfile2": "identityfile", "keepalive": "tcpkeepalive",
        "hostbasedkeytypes": "hostbasedacceptedalgorithms", "pubkeyacceptedkeytypes": "pubkeyacceptedalgorithms",
    ]
}
