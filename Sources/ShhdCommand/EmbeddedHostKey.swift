// The embedded default's host key: an ed25519 key made on first start in the running user's state directory
// ($XDG_STATE_HOME/shhd, else ~/.local/state/shhd), so `shhd` with no configuration has a stable identity that
// clients can remember. Its path and fingerprint are printed when it is made.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SSHKeys
import SSHServerHost
import SSHPOSIX

enum EmbeddedHostKey {
    static func directory(for account: SystemAccount) -> String {
        if let state = getenv("XDG_STATE_HOME").map({ String(cString: $0) }), state.hasPrefix("/") { return state + "/shhd" }
        return account.home + "/.local/state/shhd"
    }

    /// The key's path, making the key (and its .pub) first when it does not exist — unless `create` is false
    /// (shhd -t and -T write nothing, as sshd -t): then nil when there is none yet.
    static func ensure(for account: SystemAccount, log: ServerLog, create: Bool = true) throws -> String? {
        let directory = directory(for: account)
        let path = directory + "/ssh_host_ed25519_key"
        if access(path, F_OK) == 0 { return path }
        guard create else { return nil }
        try makeDirectories(directory)
        do {
            let key = try SSHPrivateKey.generate(type: .ed25519, comment: "shhd@\(hostName())")
            try SSHKeyFile.write(try OpenSSHPrivateKeyFormat.fileText(key, passphrase: nil), toPath: path, mode: 0o600)
            try SSHKeyFile.write("\(key.publicKey.description) shhd@\(hostName())\n", toPath: path + ".pub", mode: 0o644)
            log.info("Generated host key \(path): ED25519 \(key.publicKey.fingerprint())")
        } catch let error as SSHKeyError {
            throw ShhdFailure("shhd: cannot create the host key \(path): \(error.reason)")
        }
        return path
    }

    private static func makeDirectories(_ path: String) throws {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o700) != 0 && errno != EEXIST {
                throw ShhdFailure("shhd: cannot create \(current): \(String(cString: strerror(errno)))")
            }
        }
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
