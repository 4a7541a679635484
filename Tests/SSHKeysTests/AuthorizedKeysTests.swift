// authorized_keys: every option sshd(8) documents, quoting and escapes, order-dependent restrict,
// from= with host patterns, addresses, CIDR and negation, and the accept/reject decision.

import Foundation
import SSHKeys
import Testing

private func keyText(_ name: String) throws -> String {
    try fixtureText("\(name).pub").split(separator: " ").prefix(2).joined(separator: " ")
}

@Suite("authorized_keys", .timeLimit(.minutes(10)))
struct AuthorizedKeysTests {
    /// Default options changed by `change`: what a line's options must parse to, compared whole.
    static func expected(_ change: (inout AuthorizedKeyOptions) -> Void) -> AuthorizedKeyOptions {
        var options = AuthorizedKeyOptions()
        change(&options)
        return options
    }

    static let optionCases: [(String, AuthorizedKeyOptions)] = [
        ("command=\"echo \\\"hi there\\\"; id\"", expected { $0.command = "echo \"hi there\"; id" }),
        ("command=\"C:\\\\dir\"", expected { $0.command = "C:\\\\dir" }),
        ("from=\"*.example.com,!bad.example.com,192.0.2.0/24\"", expected { $0.from = "*.example.com,!bad.example.com,192.0.2.0/24" }),
        ("no-pty", expected { $0.pty = false }),
        ("pty", expected { _ in }),
        ("no-port-forwarding,port-forwarding", expected { _ in }),
        ("no-port-forwarding", expected { $0.portForwarding = false }),
        ("no-agent-forwarding", expected { $0.agentForwarding = false }),
        ("agent-forwarding", expected { _ in }),
        ("no-X11-forwarding", expected { $0.x11Forwarding = false }),
        ("X11-forwarding", expected { _ in }),
        ("no-user-rc", expected { $0.userRC = false }),
        ("user-rc", expected { _ in }),
        ("permitopen=\"db.internal:5432\",permitopen=\"[2001:db8::1]:*\"", expected { $0.permitOpen = ["db.internal:5432", "[2001:db8::1]:*"] }),
        ("permitlisten=\"8080\",permitlisten=\"localhost:9000\"", expected { $0.permitListen = ["*:8080", "localhost:9000"] }),
        ("environment=\"LANG=C\",environment=\"LANG=fr\",environment=\"TZ=UTC\"", expected { $0.environment = ["LANG=C", "TZ=UTC"] }),
        ("expiry-time=\"20300101Z\",expiry-time=\"20290101Z\"", expected { $0.expiryTime = 1_861_920_000 }),
        ("cert-authority,principals=\"alice,bob\"", expected { $0.certificateAuthority = true; $0.principals = "alice,bob" }),
        ("restrict", expected {
            $0.restricted = true
            ($0.pty, $0.portForwarding, $0.agentForwarding, $0.x11Forwarding, $0.userRC) = (false, false, false, false, false)
        }),
        ("restrict,pty,port-forwarding", expected {
            $0.restricted = true
            ($0.agentForwarding, $0.x11Forwarding, $0.userRC) = (false, false, false)
        }),
        ("pty,restrict", expected {
            $0.restricted = true
            ($0.pty, $0.portForwarding, $0.agentForwarding, $0.x11Forwarding, $0.userRC) = (false, false, false, false, false)
        }),
        ("no-touch-required", expected { $0.noTouchRequired = true }),
        ("verify-required", expected { $0.verifyRequired = true }),
        ("tunnel=\"0\"", expected { $0.tunnel = "0" }),
        ("NO-PTY,Command=\"x\"", expected { $0.pty = false; $0.command = "x" }),
    ]

    @Test("options parse into typed values", arguments: optionCases)
    func options(text: String, expected: AuthorizedKeyOptions) throws {
        let options = try AuthorizedKeyOptions(parsing: text)
        #expect(options == expected, "\(text)")
        // The same options on a real line.
        let file = AuthorizedKeysFile(parsing: "\(text) \(try keyText("ed25519")) a comment", path: "ak")
        #expect(file.warnings.isEmpty, "\(file.warnings)")
        #expect(file.entries.first?.options == options)
        #expect(file.entries.first?.comment == "a comment")
    }

    @Test("bad options are refused with OpenSSH's reason", arguments: [
        ("command=\"a\",command=\"b\"", "multiple \"command\" clauses"),
        ("from=\"a\",from=\"b\"", "multiple \"from\" clauses"),
        ("principals=\"a\",principals=\"b\"", "multiple \"principals\" clauses"),
        ("command=unquoted", "missing start quote"),
        ("command=\"open", "missing end quote"),
        ("bogus-option", "unknown key option"),
        ("no-pty,", "unexpected end-of-options"),
        ("environment=\"1BAD=x\"", "invalid environment string"),
        ("environment=\"NOEQUALS\"", "invalid environment string"),
        ("expiry-time=\"2030\"", "invalid expires time"),
        ("permitopen=\"host\"", "invalid permission hostname"),
        ("permitopen=\"host:0\"", "invalid permission port"),
        ("permitlisten=\"host:99999\"", "invalid permission port"),
        ("tunnel=\"eth0\"", "invalid tun device"),
        ("ptyx", "unknown key option"),
    ])
    func badOptions(text: String, reason: String) throws {
        #expect(throws: SSHKeyError(.invalidFormat(reason))) { try AuthorizedKeyOptions(parsing: text) }
        let file = AuthorizedKeysFile(parsing: "# header\n\(text) \(try keyText("ed25519"))\n\(try keyText("ecdsa256"))\n", path: "ak")
        #expect(file.warnings == ["ak:2: invalid format (bad key options: invalid format (\(reason)))"])
        #expect(file.entries.count == 1)
        #expect(file.entries.first?.line == 3)
    }

    @Test("from= patterns: names, globs, CIDR (v4 and v6) and negation", arguments: [
        ("192.0.2.7", nil as String?, "192.0.2.0/24", AuthorizedKeys.Decision?.none, true),
        ("192.0.3.7", nil, "192.0.2.0/24", nil, false),
        ("192.0.2.7", nil, "192.0.2.*", nil, true),
        ("192.0.2.7", nil, "192.0.2.0/24,!192.0.2.7", nil, false),
        ("2001:db8::5", nil, "2001:db8::/32", nil, true),
        ("2001:db9::5", nil, "2001:db8::/32", nil, false),
        ("198.51.100.1", "gw.example.com", "*.example.com", nil, true),
        ("198.51.100.1", "gw.example.com", "*.example.com,!gw.example.com", nil, false),
        ("198.51.100.1", "GW.Example.COM", "*.example.com", nil, true),
        ("198.51.100.1", nil, "*.example.com", nil, false),
        ("192.0.2.7", nil, "192.0.2.0/33", nil, false),
        ("192.0.2.7", nil, "192.0.2.1/24", nil, false),
    ])
    func fromPatterns(address: String, host: String?, patterns: String, _: AuthorizedKeys.Decision?, allowed: Bool) throws {
        let file = AuthorizedKeysFile(parsing: "from=\"\(patterns)\" \(try keyText("ed25519"))", path: "ak")
        let key = try SSHPublicKeyLine(parsing: try fixtureText("ed25519.pub")).key
        let decision = AuthorizedKeys.authorize(key, files: [file], sourceAddress: address, sourceHost: host, now: 0)
        if allowed {
            guard case .accept = decision else { Issue.record("\(patterns) should allow \(address)"); return }
        } else {
            guard case .reject(let reasons) = decision else { Issue.record("\(patterns) should refuse \(address)"); return }
            #expect(reasons.count == 1)
            #expect(reasons[0].hasPrefix("ak:1: "))
        }
    }

    @Test("the decision: first line with the key wins; expiry, cert-authority and unknown keys are refused")
    func decisions() throws {
        let ed = try SSHPublicKeyLine(parsing: try fixtureText("ed25519.pub")).key
        let rsa = try SSHPublicKeyLine(parsing: try fixtureText("rsa2048.pub")).key
        let text = """
            expiry-time="20200101" \(try keyText("ed25519")) old
            command="backup" \(try keyText("ed25519")) current
            cert-authority \(try keyText("rsa2048")) a CA, not a user key
            """
        let file = AuthorizedKeysFile(parsing: text, path: "ak")
        guard case .accept(let entry) = AuthorizedKeys.authorize(ed, files: [file], sourceAddress: "192.0.2.1", now: 1_800_000_000) else {
            Issue.record("not accepted"); return
        }
        #expect(entry.line == 2)
        #expect(entry.options.command == "backup")
        #expect(AuthorizedKeys.authorize(rsa, files: [file], sourceAddress: "192.0.2.1", now: 0)
            == .reject(reasons: ["key not in any authorized_keys file"]))
        let expiredOnly = AuthorizedKeysFile(parsing: text.split(separator: "\n")[0] + "\n", path: "ak")
        #expect(AuthorizedKeys.authorize(ed, files: [expiredOnly], sourceAddress: "192.0.2.1", now: 1_800_000_000)
            == .reject(reasons: ["ak:1: key has expired"]))
    }

    /// Found by FuzzAuthorizedKeys (slow inputs): each flag option lowercased the whole rest of the line to look for
    /// "no-", for every flag name tried at every option, so a line of n options cost O(n²) (20,000 options took 6.9 s
    /// in a debug build, 40,000 four times that; a user's authorized_keys is parsed at each of their logins). Now
    /// linear: 40,000 take well under a second.
    @Test("a line of many options parses in linear time")
    func manyOptions() throws {
        let count = 40_000
        let text = Array(repeating: "no-pty", count: count - 1).joined(separator: ",") + ",NO-X11-FORWARDING"
        let clock = ContinuousClock()
        var options: AuthorizedKeyOptions?
        let elapsed = try clock.measure { options = try AuthorizedKeyOptions(parsing: text) }
        #expect(options == Self.expected { $0.pty = false; $0.x11Forwarding = false })
        // Linear: under a second even in a debug build; quadratic took about half a minute.
        #expect(elapsed < .seconds(5), "\(count) options took \(elapsed)")

        // The longest line a file accepts (16 KiB) is all options and a key.
        let key = try keyText("ed25519")
        let line = String(repeating: "no-pty,", count: (16 * 1024 - key.utf8.count - 8) / 7) + "pty " + key
        let file = AuthorizedKeysFile(parsing: line + "\n", path: "ak")
        #expect(file.warnings.isEmpty)
        #expect(file.entries.count == 1)
    }

    @Test("junk, overlong lines and binary data become warnings, never a crash")
    func junk() throws {
        let text = "\u{0}\u{1}\u{2}garbage\n" + String(repeating: "a", count: 20_000) + "\nssh-ed25519\n\"unterminated " + (try keyText("ed25519"))
        let file = AuthorizedKeysFile(parsing: text, path: "ak")
        #expect(file.entries.isEmpty)
        #expect(file.warnings.count == 4)
        #expect(file.warnings[1] == "ak:2: line too long")
    }
}
