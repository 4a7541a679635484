// Files a user owns and the server reads on their behalf (authorized_keys, ~/.ssh/environment, ~/.hushlogin), read
// as sshd reads them: with the user's rights rather than root's (a link to /etc/shadow or to another user's file
// gets nothing), without following a link swapped in after the path was checked, never blocking on a FIFO, and
// with StrictModes judged on the very file and directories opened (see shh_open_user_file). Blocking: call it on a
// thread made for blocking work.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSSHPOSIX

/// Reads a file a user owns with that user's rights, as sshd reads authorized_keys and ~/.ssh/environment.
///
/// A link to /etc/shadow or to another user's file gets nothing, a link swapped in after the path was checked is
/// not followed, a FIFO never blocks the read, and StrictModes is judged on the very file and directories opened.
/// It blocks: call it on ``SSHBlockingWorkPool``.
///
/// ```swift
/// if let account = SystemAccount(named: "alice") {
///     switch SSHUserFile.read(account.home + "/.ssh/authorized_keys", as: account, strictModes: true) {
///     case .contents(let bytes): print(bytes.count, "bytes")
///     case .missing: print("no authorized_keys")
///     case .refused(let why), .unreadable(let why): print(why)
///     }
/// }
/// ```
public enum SSHUserFile {
    /// What reading a file came to.
    public enum Outcome: Sendable, Equatable {
        /// The file's bytes.
        case contents([UInt8])
        /// No such file (normal: most users have no authorized_keys2).
        case missing
        /// StrictModes or the file's type refused it; the reason names the file or directory at fault.
        case refused(String)
        /// It could not be read (permissions, too large, an I/O error).
        case unreadable(String)
    }

    /// Reads `path` as `account` would. `strictModes`: the file and the directories above it (up to the home
    /// directory) must be owned by root or the account and writable by nobody else.
    ///
    /// - Parameters:
    ///   - path: The file; it may be a link the account can follow.
    ///   - account: Whose rights open it (the server must be root to take on someone else's).
    ///   - strictModes: Whether to check ownership and modes as sshd's StrictModes does.
    ///   - maximumSize: Larger files are ``Outcome/unreadable(_:)``.
    /// - Returns: The contents, or why there are none.
    public static func read(_ path: String, as account: SystemAccount, strictModes: Bool, maximumSize: Int = 1 << 20) -> Outcome {
        guard let resolved = resolve(path) else {
            return errno == ENOENT || errno == ENOTDIR ? .missing : .unreadable("\(path): \(String(cString: strerror(errno)))")
        }
        let home = resolve(account.home) ?? account.home
        let groups = account.groupIDs
        var problem = [CChar](repeating: 0, count: 512)
        let fd = groups.withUnsafeBufferPointer { groupBuffer in
            shh_open_user_file(resolved, home, account.uid, account.gid, groupBuffer.baseAddress, groupBuffer.count,
                               strictModes ? 1 : 0, &problem, problem.count)
        }
        if fd == -2 { return .refused(String(decoding: problem.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
        guard fd >= 0 else {
            return errno == ENOENT ? .missing : .unreadable("\(resolved): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .unreadable("\(resolved): \(String(cString: strerror(errno)))")
            }
            if count == 0 { return .contents(contents) }
            guard contents.count + count <= maximumSize else { return .unreadable("\(resolved) is larger than \(maximumSize) bytes") }
            contents += chunk[0..<count]
        }
    }

    /// Whether the account has `path` (a regular file it can reach with its own rights): ~/.hushlogin.
    ///
    /// - Parameters:
    ///   - path: The file.
    ///   - account: Whose rights look for it.
    /// - Returns: True when the account could read it.
    public static func exists(_ path: String, as account: SystemAccount) -> Bool {
        switch read(path, as: account, strictModes: false, maximumSize: 64 << 10) {
        case .contents: true
        case .missing, .refused, .unreadable: false
        }
    }

    private static func resolve(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard realpath(path, &buffer) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
