// "A full disk loses nothing": rewriting a key on a file system with no space left must fail with a
// message and leave the old key file exactly as it was. Uses a tiny tmpfs, so it needs root (CI is root).

import Foundation
import Testing

private let isRoot = getuid() == 0

@Suite("Full disk", .enabled(if: isRoot, "mounting a tiny tmpfs needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct FullDiskTests {
    @Test("-p and -c on a full file system fail and keep the old key intact")
    func fullDisk() async throws {
        let mountPoint = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: mountPoint) }
        let mounted = try await runAsync("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mountPoint])
        try #require(mounted.status == 0, "mount failed: \(mounted.stderr)")
        defer { _ = umount(mountPoint) }  // the system call: a defer cannot await a process

        try copyFixtures(["ed25519-enc"], to: mountPoint)
        let key = "\(mountPoint)/ed25519-enc"
        let before = try Data(contentsOf: URL(fileURLWithPath: key))
        // Fill every remaining block.
        let filler = FileManager.default.createFile(atPath: "\(mountPoint)/filler", contents: nil)
        #expect(filler)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(mountPoint)/filler"))
        while (try? handle.write(contentsOf: Data(count: 4096))) != nil {}
        try? handle.close()

        let changed = try await runAsync(shhKeygenPath, ["-p", "-P", fixturePassphrase, "-N", "another", "-f", key])
        #expect(changed.status == 1)
        #expect(changed.stderr.contains("No space left on device"), "\(changed.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: key)) == before)
        let comment = try await runAsync(shhKeygenPath, ["-c", "-P", fixturePassphrase, "-C", "new", "-f", key])
        #expect(comment.status != 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: key)) == before)
        // Nothing half-written is left beside it.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: mountPoint).filter { $0.contains(".shh-") }
        #expect(leftovers.isEmpty)
        // And the old key still opens with the old passphrase.
        #expect(try await runAsync(shhKeygenPath, ["-y", "-P", fixturePassphrase, "-f", key]).status == 0)
    }
}
