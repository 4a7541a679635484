// shh-keygen run in-process (ShhKeygen.run with a scripted KeygenIO): a generated key's fingerprint and public
// key line read back as OpenSSH's ssh-keygen reads them, and a wrong passphrase is one clear error with a non-zero
// status that leaves the key as it was.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SSHKeygenCommand
import SSHKeys
import Testing

@Suite(.timeLimit(.minutes(5))) struct KeygenCommandTests {
    /// Generates a key, then `-l -f` on it (the private file and the .pub) gives the line OpenSSH's ssh-keygen gives.
    @Test(arguments: ["ed25519", "ecdsa", "rsa"])
    func generateThenFingerprint(type: String) async throws {
        let (bits, prefix, suffix): (String?, String, String) = switch type {
        case "rsa": ("2048", "2048 SHA256:", "(RSA)")
        case "ecdsa": (nil, "256 SHA256:", "(ECDSA)")
        default: (nil, "256 SHA256:", "(ED25519)")
        }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/id_\(type)"
        let generating = ScriptedTerminal()
        let status = ShhKeygen.run(["-q", "-t", type] + (bits.map { ["-b", $0] } ?? []) + ["-N", "", "-C", "made by a test", "-f", path],
                                   io: generating.io(home: directory))
        try #require(status == 0, "\(generating.errors)")
        #expect(generating.output.isEmpty && generating.errors.isEmpty, "-q prints nothing: \(generating.output)\(generating.errors)")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let fingerprint = ScriptedTerminal()
        #expect(ShhKeygen.run(["-l", "-f", path], io: fingerprint.io(home: directory)) == 0, "\(fingerprint.errors)")
        #expect(fingerprint.output.hasPrefix(prefix) && fingerprint.output.hasSuffix(" made by a test \(suffix)\n"), "\(fingerprint.output)")
        let openSSH = try await openSSHKeygen(["-l", "-f", path])
        #expect(openSSH.status == 0)
        #expect(fingerprint.output == openSSH.output)
        let fromPublic = ScriptedTerminal()
        #expect(ShhKeygen.run(["-l", "-f", path + ".pub"], io: fromPublic.io(home: directory)) == 0)
        #expect(fromPublic.output == fingerprint.output)
        // And the key itself has that fingerprint.
        let key = try SSHKeyFile.loadPrivateKey(atPath: path)
        #expect(fingerprint.output.contains(" \(key.publicKey.fingerprint(.sha256)) "))
    }

    /// `-y` prints the public key line: the .pub file's line, and what OpenSSH's ssh-keygen prints for the same file.
    @Test func printPublicKey() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/key"
        let generating = ScriptedTerminal()
        try #require(ShhKeygen.run(["-q", "-t", "ed25519", "-N", "", "-C", "y test", "-f", path], io: generating.io(home: directory)) == 0)
        let printed = ScriptedTerminal()
        #expect(ShhKeygen.run(["-y", "-f", path], io: printed.io(home: directory)) == 0, "\(printed.errors)")
        #expect(printed.output == (try readText(path + ".pub")))
        #expect(printed.output.hasPrefix("ssh-ed25519 AAAA") && printed.output.hasSuffix(" y test\n"))
        #expect(printed.output == (try await openSSHKeygen(["-y", "-f", path]).output))
        #expect(printed.errors.isEmpty)
    }

    /// A wrong passphrase given with -P: one line on stderr naming the file and the reason, status 255 (as
    /// ssh-keygen), nothing on stdout; for -p the key on disk is left as it was.
    @Test func aWrongPassphrase() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/locked"
        let generating = ScriptedTerminal()
        try #require(ShhKeygen.run(["-q", "-t", "ed25519", "-a", "2", "-N", "the right one", "-f", path],
                                   io: generating.io(home: directory)) == 0, "\(generating.errors)")
        let before = try readText(path)

        let printing = ScriptedTerminal()
        #expect(ShhKeygen.run(["-y", "-P", "the wrong one", "-f", path], io: printing.io(home: directory)) == 255)
        #expect(printing.errors == "Load key \"\(path)\": incorrect passphrase supplied to decrypt private key\n")
        #expect(printing.output.isEmpty)
        #expect(printing.prompts.isEmpty, "-P was given: no prompt")

        let changing = ScriptedTerminal()
        let status = ShhKeygen.run(["-p", "-P", "the wrong one", "-N", "new", "-f", path], io: changing.io(home: directory))
        #expect(status != 0)
        #expect(changing.errors.split(separator: "\n").count == 1 && changing.errors.contains("incorrect passphrase"), "\(changing.errors)")
        #expect(try readText(path) == before, "a failed -p changed the key file")

        let right = ScriptedTerminal()
        #expect(ShhKeygen.run(["-y", "-P", "the right one", "-f", path], io: right.io(home: directory)) == 0)
        #expect(right.output == (try readText(path + ".pub")))
    }

    /// An unknown option is a usage error (status 1), a missing file one error line (status 255), never a trap.
    @Test func mistakesOnTheCommandLine() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let unknown = ScriptedTerminal()
        #expect(ShhKeygen.run(["-j"], io: unknown.io(home: directory)) == 1)
        #expect(unknown.errors.contains("usage: shh-keygen"))
        let missing = ScriptedTerminal()
        #expect(ShhKeygen.run(["-l", "-f", directory + "/nothing"], io: missing.io(home: directory)) == 255)
        #expect(missing.errors.hasSuffix("\n") && missing.errors.split(separator: "\n").count == 1, "\(missing.errors)")
        #expect(missing.output.isEmpty)
    }
}
