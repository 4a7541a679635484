// Our client against real sshd (9.2, and 10 from the Debian 13 root) where ordering and flow control matter:
// output of a command that exits at once arrives whole before the channel closes (100 times on one connection),
// a reader that stops reading keeps our memory bounded by the window while sshd has 64 MiB to send, and
// password (and keyboard-interactive, through PAM) authentication of a test account made for the test.
import Foundation
import NIOCore
import SSH
import SSHKeys
import SSHProtocol
import Testing

/// This process's resident set size in bytes (VmRSS in /proc/self/status), or nil where there is no /proc.
func residentSetSize() -> Int? {
    guard let status = try? readText("/proc/self/status"),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    else { return nil }
    return kilobytes * 1024
}

// Serialized: the flow-control test measures this process's RSS, which the 100 transfers would disturb (tests in
// other suites still run alongside, so its bound leaves room for their noise).
@Suite("Client flow control and EOF ordering against sshd", .serialized,
       .enabled(if: isRootUser, "starting sshd on a test port needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct ClientFlowInteropTests {
    /// `head -c SIZE /dev/urandom` exits as soon as it has written: sshd sends the last data, EOF, exit-status and
    /// CLOSE back to back. Every byte must arrive before the channel ends, `runs` times on one connection.
    static func completeOutputBeforeClose(_ installation: OpenSSHInstallation, size: Int, runs: Int) async throws {
        let (sshd, client) = try await ClientExecuteInteropTests.connect(installation)
        defer { sshd.stop() }
        let started = ContinuousClock.now
        for run in 1...runs {
            let result = try await client.execute("head -c \(size) /dev/urandom")
            #expect(result.stdout.count == size, "\(installation) run \(run): \(result.stdout.count) of \(size) bytes")
            #expect(result.exitStatus == 0, "\(installation) run \(run): \(result)")
            #expect(result.stderr.isEmpty, "\(installation) run \(run): \(String(decoding: result.stderr, as: UTF8.self))")
            if result.stdout.count != size || result.exitStatus != 0 { break }
        }
        print("\(installation): \(runs) × \(size >> 20) MiB from head -c on one connection in \(ContinuousClock.now - started)")
        await client.close()
    }

    /// 100 × 16 MiB against both installations took 149 s alone in a debug build here (2026-12-07) and 261 s
    /// inside the full suite, its longest test by far: the main tier sends 30 × 16 MiB to each, the long tier 100.
    @Test(arguments: installationsUnderTest)
    func manyTimesSixteenMiBArriveWholeBeforeClose(_ installation: OpenSSHInstallation) async throws {
        try await Self.completeOutputBeforeClose(installation, size: 16 << 20, runs: longTestsEnabled ? 100 : 30)
    }

    /// sshd has 64 MiB to send; we read nothing until it has filled the window we granted (2 MiB), all that may
    /// pile up here, so RSS must not grow by anything near 64 MiB; then reading takes all 64 MiB, exactly.
    @Test(arguments: installationsUnderTest)
    func stoppedReaderKeepsMemoryBounded(_ installation: OpenSSHInstallation) async throws {
        let size = 64 << 20
        let (sshd, client) = try await ClientExecuteInteropTests.connect(installation)
        defer { sshd.stop() }
        let session = try await client.openSession()
        let before = try #require(residentSetSize())
        try await session.request(.exec("head -c \(size) /dev/zero"))
        // Nothing is read until sshd has filled the whole window we granted (2 MiB); then it can send no more.
        let windowFilled = await eventually(30) { await session.unreadInputBytes >= 2 << 20 }
        let pending = await session.unreadInputBytes
        #expect(windowFilled, "\(installation): sshd never filled the window (\(pending) bytes unread)")
        let after = try #require(residentSetSize())
        let growth = after - before
        print("\(installation): RSS \(before >> 10) KiB before, \(after >> 10) KiB with the window full and unread: growth \(growth >> 10) KiB")
        // The exact bound: what piled up unread is at most the window we granted (2 MiB). RSS, which other suites
        // running alongside can move, only has to stay far below the 64 MiB an unbounded buffer would take.
        let unread = await session.unreadInputBytes
        #expect(unread > 0 && unread <= 2 << 20, "\(installation): \(unread) bytes unread, more than the 2 MiB window")
        #expect(growth < 48 << 20, "\(installation): RSS grew by \(growth >> 10) KiB while nothing was read")

        let started = ContinuousClock.now
        var received = 0, nonZero = 0
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        var exitStatus: Int32?
        for try await input in session.input {
            switch input {
            case .data(let bytes):
                received += bytes.readableBytes
                // memcmp, not a byte loop: a debug build checks 64 M bytes one by one at a few MiB/s.
                nonZero += bytes.withUnsafeReadableBytes { chunk in
                    stride(from: 0, to: chunk.count, by: zeros.count).filter { start in
                        let length = min(zeros.count, chunk.count - start)
                        return memcmp(chunk.baseAddress! + start, zeros, length) != 0
                    }.count
                }
            case .exitStatus(let status): exitStatus = status
            default: break
            }
        }
        print("\(installation): read the remaining 64 MiB in \(ContinuousClock.now - started)")
        #expect(received == size, "\(installation): \(received) of \(size) bytes")
        #expect(nonZero == 0, "\(installation): \(nonZero) chunks were not zeros")
        #expect(exitStatus == 0)
        await session.close()
        await client.close()
    }

    // MARK: Password and keyboard-interactive

    /// Runs `body` with a fresh account (in the installation's root) whose password is known, then deletes it.
    static func withTestAccount(_ installation: OpenSSHInstallation, _ body: (String, String) async throws -> Void) async throws {
        let user = "shhtest" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let password = "pw-" + UUID().uuidString
        let prefix = installation.prefix
        func tool(_ path: String, _ arguments: [String], stdin: [UInt8] = []) async throws -> ProcessResult {
            prefix.isEmpty ? try await runAsync(path, arguments, stdin: stdin)
                : try await runAsync(prefix[0], Array(prefix.dropFirst()) + [path] + arguments, stdin: stdin)
        }
        let added = try await tool("/usr/sbin/useradd", ["-m", "-s", "/bin/sh", user])
        guard added.status == 0 else { throw InteropError.missingProgram("useradd (\(added.stderr))") }
        var failure: (any Error)?
        do {
            let set = try await tool("/usr/sbin/chpasswd", [], stdin: Array("\(user):\(password)\n".utf8))
            guard set.status == 0 else { throw InteropError.missingProgram("chpasswd (\(set.stderr))") }
            try await body(user, password)
        } catch {
            failure = error
        }
        // sshd's session processes for the account may take a moment to exit; userdel refuses while they run (8).
        var deleted = try await tool("/usr/sbin/userdel", ["-r", user])
        for _ in 0..<50 where deleted.status == 8 {
            try await Task.sleep(for: .milliseconds(100))
            deleted = try await tool("/usr/sbin/userdel", ["-r", user])
        }
        // 12: the home directory or mail spool could not be removed (a missing spool is only a warning).
        #expect(deleted.status == 0 || deleted.status == 12, "userdel -r \(user): \(deleted.stderr)")
        if let failure { throw failure }
    }

    /// Connects as `user` and runs `id -un`, which must print the user's name.
    static func expectLogin(_ sshd: TestSSHD, user: String, credential: SSHClientCredential, _ label: String) async {
        do {
            let hostKey = try SSHPublicKeyLine(parsing: sshd.hostKeyPublic).key
            let client = try await SSHClient.connect(host: "127.0.0.1", port: sshd.port, user: user, credentials: [credential],
                                                     hostKeyValidator: PinnedHostKeys([hostKey]))
            let result = try await client.execute("id -un")
            #expect(String(decoding: result.stdout, as: UTF8.self) == "\(user)\n", "\(label): \(result)")
            #expect(result.exitStatus == 0, "\(label): \(result)")
            await client.close()
        } catch {
            Issue.record("\(label): \(error)\nsshd log: \((try? readText(sshd.directory + "/sshd.log").suffix(2000)) ?? "")")
        }
    }

    /// Connecting with `credential` must fail with authenticationFailed naming the method tried.
    static func expectRefusal(_ sshd: TestSSHD, user: String, credential: SSHClientCredential, method: String, _ label: String) async {
        do {
            let hostKey = try SSHPublicKeyLine(parsing: sshd.hostKeyPublic).key
            let client = try await SSHClient.connect(host: "127.0.0.1", port: sshd.port, user: user, credentials: [credential],
                                                     hostKeyValidator: PinnedHostKeys([hostKey]))
            Issue.record("\(label): a wrong password was accepted")
            await client.close()
        } catch let error as SSHError {
            guard case .authenticationFailed(let failedUser, let tried, _) = error.kind else { Issue.record("\(label): \(error)"); return }
            #expect(failedUser == user && tried == [SSHAuthenticationMethod(name: method)], "\(label): \(error)")
        } catch {
            Issue.record("\(label): \(error)")
        }
    }

    /// Password authentication with `UsePAM no`: sshd checks /etc/shadow itself.
    @Test(arguments: installationsUnderTest)
    func passwordAuthentication(_ installation: OpenSSHInstallation) async throws {
        try await Self.withTestAccount(installation) { user, password in
            let sshd = try await offThePool { try TestSSHD(chrootRoot: installation.chrootRoot, passwordAuthentication: true,
                                    extraConfig: installation.chrootRoot == nil ? "" : "PerSourcePenalties no") }
            defer { sshd.stop() }
            await Self.expectLogin(sshd, user: user, credential: .password(password), "\(installation) password")
            await Self.expectRefusal(sshd, user: user, credential: .password(password + "x"), method: "password",
                                     "\(installation) wrong password")
        }
    }

    /// Keyboard-interactive needs PAM here: without it, OpenSSH on Linux has no keyboard-interactive device (only
    /// BSD auth on OpenBSD), so sshd runs with `UsePAM yes` and Debian's /etc/pam.d/sshd asks "Password: ".
    @Test(arguments: installationsUnderTest)
    func keyboardInteractiveAuthenticationThroughPAM(_ installation: OpenSSHInstallation) async throws {
        try await Self.withTestAccount(installation) { user, password in
            let sshd = try await offThePool { try TestSSHD(chrootRoot: installation.chrootRoot, keyboardInteractiveAuthentication: true, usePAM: true,
                                    extraConfig: installation.chrootRoot == nil ? "" : "PerSourcePenalties no") }
            defer { sshd.stop() }
            let prompts = PromptLog()
            let answer: (String) -> SSHClientCredential = { answer in
                .keyboardInteractive { request in
                    prompts.append(request.prompts.map(\.prompt))
                    return request.prompts.map { _ in answer }
                }
            }
            await Self.expectLogin(sshd, user: user, credential: answer(password), "\(installation) keyboard-interactive")
            #expect(prompts.all.contains { $0.contains { $0.lowercased().contains("password") } }, "\(prompts.all)")
            await Self.expectRefusal(sshd, user: user, credential: answer(password + "x"), method: "keyboard-interactive",
                                     "\(installation) wrong keyboard-interactive answer")
        }
    }
}

/// The prompts a keyboard-interactive responder was shown, collected across its calls.
final class PromptLog: @unchecked Sendable {
    private let lock = NSLock()
    private var rounds: [[String]] = []
    func append(_ round: [String]) { lock.withLock { rounds.append(round) } }
    var all: [[String]] { lock.withLock { rounds } }
}
