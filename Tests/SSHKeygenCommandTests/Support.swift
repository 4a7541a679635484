// What the shh-keygen tests share: the key fixtures, and OpenSSH's ssh-keygen run with a deadline to compare with.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

let fixtureDirectory: String = {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/keys").path
}()

/// The passphrase of the encrypted fixtures (Scripts/make-fixtures.sh).
let fixturePassphrase = "correct horse"

/// Copies fixtures into `directory` with private-key permissions (git does not keep 0600).
func copyFixtures(_ names: [String], to directory: String) throws {
    for name in names {
        for suffix in ["", ".pub"] {
            let source = "\(fixtureDirectory)/\(name)\(suffix)"
            guard FileManager.default.fileExists(atPath: source) else { continue }
            let destination = "\(directory)/\(name)\(suffix)"
            try FileManager.default.copyItem(atPath: source, toPath: destination)
            try FileManager.default.setAttributes([.posixPermissions: suffix.isEmpty ? 0o600 : 0o644], ofItemAtPath: destination)
        }
    }
}

func readText(_ path: String) throws -> String {
    String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
}

/// A fresh directory for one test (the caller removes it).
func temporaryDirectory() throws -> String {
    let directory = NSTemporaryDirectory() + "shh-keygen-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return directory
}

struct ToolTimedOut: Error {}

/// OpenSSH's ssh-keygen with `arguments`, standard input empty: its exit status and standard output; throws
/// when it does not finish within 60 s (it is then killed).
func openSSHKeygen(_ arguments: [String]) async throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
    process.arguments = arguments
    process.environment = ["PATH": "/usr/bin:/bin"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    let (exits, exited) = AsyncStream<Int32>.makeStream()
    process.terminationHandler = { finished in
        exited.yield(finished.terminationStatus)
        exited.finish()
    }
    try process.run()
    let handle = output.fileHandleForReading
    let bytes = Task.detached { handle.readDataToEndOfFile() }
    let status = await withTaskGroup(of: Int32?.self) { group in
        group.addTask {
            for await status in exits { return status }
            return nil
        }
        group.addTask {
            try? await Task.sleep(for: .seconds(60))
            return nil
        }
        let first = await group.next() ?? nil
        if first == nil { process.terminate() }
        group.cancelAll()
        return first
    }
    let text = String(decoding: await bytes.value, as: UTF8.self)
    guard let status else { throw ToolTimedOut() }
    return (status, text)
}
