// shhd's authentication never waits on the event loop or the cooperative pool: a user whose authorized_keys is a
// FIFO nobody writes to, or whose account lookup hangs, holds only its own login. Twenty other logins at the same
// time finish within a second of the time they take without it. Server and clients run in this process, with
// shhd's real authenticator (the account lookup is the only thing swapped, to make one of them slow).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import SSHPOSIX
import OpenSSHConfig
import SSH
import SSHKeys
import SSHProtocol
import SSHServerHost
@testable import ShhdCommand
import Testing

@Suite(.timeLimit(.minutes(10))) struct BlockingWorkTests {
    /// A user's authorized_keys is a FIFO: reading it would block for ever. Three logins as that user (enough to
    /// hold every cooperative thread on two cores, had they blocked there) run beside twenty ordinary ones.
    @Test func aFIFOAuthorizedKeysHoldsOnlyItsOwnLogin() async throws {
        let server = try await TestServer(hostileUser: "fifo")
        defer { server.remove() }
        #expect(mkfifo(server.directory + "/fifo.keys", 0o644) == 0)
        let (baseline, underLoad, hostile) = try await server.loginsBesideHostileOnes()
        #expect(underLoad <= baseline + 1, "slowest ordinary login took \(underLoad) s beside the FIFO, \(baseline) s without it")
        for outcome in hostile {
            #expect(outcome.refused, "the FIFO user's login: \(outcome)")
            #expect(outcome.seconds < 10, "the FIFO user's refusal took \(outcome.seconds) s")
        }
        #expect(server.logText.contains("Authentication refused: \(server.directory)/fifo.keys is not a regular file"), "log: \(server.logText)")
    }

    /// The account database takes 10 s for one user (an LDAP server that does not answer): that user's attempts
    /// are refused when the 2 s deadline passes, and say so in the log; everyone else logs in as usual.
    @Test func aSlowAccountLookupHoldsOnlyItsOwnLogin() async throws {
        let server = try await TestServer(hostileUser: "slow", slowLookup: .seconds(10), decisionTimeout: .seconds(2))
        defer { server.remove() }
        let (baseline, underLoad, hostile) = try await server.loginsBesideHostileOnes()
        #expect(underLoad <= baseline + 1, "slowest ordinary login took \(underLoad) s beside the slow lookup, \(baseline) s without it")
        for outcome in hostile {
            #expect(outcome.refused, "the slow user's login: \(outcome)")
            #expect(outcome.seconds >= 2 && outcome.seconds < 30, "the slow user's refusal took \(outcome.seconds) s")
        }
        #expect(server.logText.contains("authentication of slow did not finish within 2 s"), "log: \(server.logText)")
    }
}

/// shhd's authenticator on an in-process SSHServer: users `user0`...`user19` and one hostile user, all made-up
/// accounts of the running user, each with `AuthorizedKeysFile DIR/%u.keys`.
private struct TestServer: Sendable {
    let directory: String
    let hostileUser: String
    let key: SSHPrivateKey
    let hostKey: SSHPrivateKey
    let authenticator: ShhdAuthenticator
    let pool: SSHBlockingWorkPool
    static let ordinaryUsers = (0..<20).map { "user\($0)" }

    init(hostileUser: String, slowLookup: Duration? = nil, decisionTimeout: Duration = .seconds(20)) async throws {
        directory = NSTemporaryDirectory() + "shhd-blocking-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.hostileUser = hostileUser
        key = try SSHPrivateKey.generate(type: .ed25519)
        hostKey = try SSHPrivateKey.generate(type: .ed25519)
        for user in Self.ordinaryUsers + (slowLookup == nil ? [] : [hostileUser]) {
            try "\(key.publicKey)\n".write(toFile: "\(directory)/\(user).keys", atomically: true, encoding: .utf8)
        }
        let file = try SSHServerConfigFile.read(text: "AuthorizedKeysFile \(directory)/%u.keys\nStrictModes no\n", path: "test")
        let log = ServerLog()
        #expect(log.redirect(to: directory + "/shhd.log"))
        log.level = .verbose
        let running = SystemAccount.current()
        let home = directory
        pool = SSHBlockingWorkPool(threads: 8)
        authenticator = ShhdAuthenticator(
            file: file, global: file.settings(for: nil), runningAccount: running, log: log, blocking: pool,
            decisionTimeout: decisionTimeout,
            lookUpAccount: { name in
                if name == hostileUser, let slowLookup { Thread.sleep(forTimeInterval: Double(slowLookup.components.seconds)) }
                return SystemAccount(name: name, uid: running.uid, gid: running.gid, home: home, shell: "/bin/sh")
            })
    }

    var logText: String { (try? String(contentsOfFile: directory + "/shhd.log", encoding: .utf8)) ?? "" }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    struct Outcome: CustomStringConvertible {
        var refused: Bool
        var seconds: Double
        var detail: String
        var description: String { "\(refused ? "refused" : "not refused") after \(seconds) s: \(detail)" }
    }

    /// One login as `user`, timed from connect to authenticated (or refused).
    func login(_ user: String, port: Int) async -> Outcome {
        let started = ContinuousClock.now
        func elapsed() -> Double {
            let (seconds, attoseconds) = (ContinuousClock.now - started).components
            return Double(seconds) + Double(attoseconds) / 1e18
        }
        do {
            let client = try await SSHClient.connect(host: "127.0.0.1", port: port, user: user, credentials: [.privateKey(key)],
                                                     hostKeyValidator: PinnedHostKeys([hostKey.publicKey]),
                                                     configuration: .init(connectTimeout: .seconds(60)))
            let seconds = elapsed()
            await client.close()
            return Outcome(refused: false, seconds: seconds, detail: "logged in")
        } catch let error as SSHError {
            if case .authenticationFailed = error.kind { return Outcome(refused: true, seconds: elapsed(), detail: "\(error)") }
            return Outcome(refused: false, seconds: elapsed(), detail: "\(error)")
        } catch {
            return Outcome(refused: false, seconds: elapsed(), detail: "\(error)")
        }
    }

    /// The ordinary users log in all at once, alone (the baseline), then again beside three logins of the hostile
    /// user that start first. Returns the slowest ordinary login of each round (every one must succeed) and the
    /// hostile logins' outcomes.
    func loginsBesideHostileOnes() async throws -> (baseline: Double, underLoad: Double, hostile: [Outcome]) {
        let configuration = SSHServer.Configuration(port: 0, hostKeys: [SSHServerHostKey(privateKey: hostKey)],
                                                     authenticationFailureDelay: .milliseconds(10))
        let server = SSHServer(configuration: configuration, authenticator: authenticator)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningPort
            func ordinaryRound() async -> Double {
                await withTaskGroup(of: Outcome.self) { logins in
                    for user in Self.ordinaryUsers { logins.addTask { await login(user, port: port) } }
                    var slowest = 0.0
                    for await outcome in logins {
                        #expect(!outcome.refused && outcome.detail == "logged in", "an ordinary login: \(outcome)")
                        slowest = max(slowest, outcome.seconds)
                    }
                    return slowest
                }
            }
            _ = await ordinaryRound()  // warm-up: first use of the pool, the event loops, the crypto
            let baseline = await ordinaryRound()
            let hostile = (0..<3).map { _ in Task { await login(hostileUser, port: port) } }
            // The hostile logins are under way (their first request is being decided) before the others start.
            let deadline = ContinuousClock.now + .seconds(10)
            while server.connectionCount < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            let underLoad = await ordinaryRound()
            var outcomes: [Outcome] = []
            for login in hostile { outcomes.append(await login.value) }
            return (baseline, underLoad, outcomes)
        }
    }
}
