// What the shh-keygen tests share: the key fixtures.
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
