// The passphrase prompt on a real (pseudo-)terminal: no echo while typing, and echo back afterwards
// even when the user gives up with Ctrl-C.

import Foundation
import Testing

@Suite("Passphrase prompt on a terminal", .timeLimit(.minutes(10)))
struct TerminalPromptTests {
    static let driver = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("terminal_prompt_check.py").path

    @available(*, noasync, message: "blocks a cooperative pool thread")
    func drive(_ action: String) throws -> String {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try copyFixtures(["ed25519-enc"], to: directory)
        let result = try run("/usr/bin/env", ["python3", Self.driver, shhKeygenPath, "\(directory)/ed25519-enc", action])
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout
    }

    @Test("typing the passphrase: asked without echo, echo restored, key printed")
    func typed() async throws {
        let report = try await offThePool { try drive(fixturePassphrase) }
        #expect(report.hasPrefix("prompted=True echo_during=False echo_after=True status=0"), "\(report)")
        #expect(report.contains("ssh-ed25519 "))
        #expect(!report.contains(fixturePassphrase))
    }

    @Test("Ctrl-C at the prompt: the process ends and the terminal echoes again")
    func interrupted() async throws {
        let report = try await offThePool { try drive("interrupt") }
        #expect(report.hasPrefix("prompted=True echo_during=False echo_after=True status=-2"), "\(report)")
    }
}
