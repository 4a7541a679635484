// The long tier (SHH_LONG_TESTS=1): slow checks kept out of CI's time budget, run before closing an issue.

import Foundation
import SSHKeys
import Testing

let longTestsEnabled = ProcessInfo.processInfo.environment["SHH_LONG_TESTS"] == "1"

@Suite("Long tier", .enabled(if: longTestsEnabled, "set SHH_LONG_TESTS=1 to run the long tier"), .timeLimit(.minutes(30)))
struct LongTierTests {
    @Test("the largest RSA key we allow (8192 bits) is made by shh-keygen and read by ssh-keygen")
    func largestRSA() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = "\(directory)/rsa8192"
        let made = try await runAsync(shhKeygenPath, ["-q", "-t", "rsa", "-b", "8192", "-N", "", "-f", key])
        #expect(made.status == 0, "\(made.stderr)")
        let theirs = try await runAsync(try sshKeygenPath(), ["-l", "-f", key])
        let ours = try await runAsync(shhKeygenPath, ["-l", "-f", key])
        #expect(theirs.stdout.hasPrefix("8192 SHA256:"))
        #expect(ours.stdout == theirs.stdout)
        let signature = try await runAsync(shhKeygenPath, ["-Y", "sign", "-n", "file", "-f", key, "-"], stdin: Array("data".utf8))
        #expect(signature.status == 0)
    }

    @Test("every prefix of every OpenSSH-made key file fails cleanly, encrypted ones included")
    func allTruncations() async throws {
        for name in ["ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa2048", "rsa4096", "rsa2048-pkcs1",
                     "ecdsa256-sec1", "rsa2048-pkcs8", "ecdsa521-pkcs8", "ed25519-enc", "ed25519-aes256-gcm", "ed25519-aes128-cbc"] {
            let whole = Array(try Data(contentsOf: URL(fileURLWithPath: "\(fixtureDirectory)/\(name)")))
            let passphrase = name.contains("enc") || name.contains("aes") ? fixturePassphrase : nil
            // Only the final newline may go: without it the END line is still whole.
            for length in 0..<(whole.count - 1) {
                #expect(throws: SSHKeyError.self, "\(name) cut at \(length)") {
                    try SSHKeyFile.parsePrivateKey(Array(whole[..<length]), passphrase: passphrase)
                }
            }
            // And every truncation of the decoded openssh-key-v1 body, where the structure is.
            let text = String(decoding: whole, as: UTF8.self)
            guard text.hasPrefix("-----BEGIN OPENSSH PRIVATE KEY-----") else { continue }
            let body = Array(Data(base64Encoded: text.split(separator: "\n").dropFirst().dropLast().joined()) ?? Data())
            #expect(!body.isEmpty)
            for length in 0..<body.count {
                #expect(throws: SSHKeyError.self, "\(name) body cut at \(length)") {
                    try OpenSSHPrivateKeyFormat.decode(fileBody: Array(body[..<length]), passphrase: passphrase)
                }
            }
        }
    }
}
