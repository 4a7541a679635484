// A user account from the password and group databases: who a session runs as. Looked up with the reentrant
// calls (getpwnam_r, getgrgid_r), because a server looks users up from many connections at once.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An account of the password database: who a session runs as, and whose rights read its files.
///
/// ```swift
/// if let account = SystemAccount(named: "alice") {
///     print(account.uid, account.home, account.shell, account.groupNames)
/// }
/// ```
public struct SystemAccount: Sendable, Equatable {
    /// The user name, exactly as the database has it.
    public var name: String
    /// The user ID.
    public var uid: uid_t
    /// The primary group's ID.
    public var gid: gid_t
    /// The home directory; "/" when the database has none.
    public var home: String
    /// The login shell; /bin/sh when the database has none (as sshd).
    public var shell: String

    /// An account with these fields, as given (no lookup).
    ///
    /// - Parameters:
    ///   - name: The user name.
    ///   - uid: The user ID.
    ///   - gid: The primary group's ID.
    ///   - home: The home directory.
    ///   - shell: The login shell.
    public init(name: String, uid: uid_t, gid: gid_t, home: String, shell: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home
        self.shell = shell
    }

    /// The account called exactly `name`, nil if there is none. A name the database would read differently is
    /// no account: one with a NUL (C cuts it there) or one the database matches loosely (a case-insensitive
    /// directory answering "ROOT" with root) — every policy compares the name as given, so the account must be
    /// that very name. Blocks (NSS may ask a directory service): call it on ``SSHBlockingWorkPool``.
    ///
    /// - Parameter name: The user name to look up.
    public init?(named name: String) {
        guard !name.isEmpty, !name.utf8.contains(0),
              let account = Self.lookUp({ entry, buffer, size, result in getpwnam_r(name, entry, buffer, size, result) }),
              account.name == name else { return nil }
        self = account
    }

    /// The account with user ID `uid`, nil if there is none. Blocks, as ``init(named:)`` does.
    ///
    /// - Parameter uid: The user ID to look up.
    public init?(uid: uid_t) {
        guard let account = Self.lookUp({ entry, buffer, size, result in getpwuid_r(uid, entry, buffer, size, result) }) else { return nil }
        self = account
    }

    /// The account the process runs as (a placeholder with its uid when the database does not know it).
    public static func current() -> SystemAccount {
        let uid = getuid()
        return SystemAccount(uid: uid) ?? SystemAccount(name: "\(uid)", uid: uid, gid: getgid(), home: "/", shell: "/bin/sh")
    }

    /// The IDs of the groups the account is in, its primary group first (what setgroups gets).
    public var groupIDs: [gid_t] {
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(max(count, 1)))
            guard getgrouplist(name, gid, &groups, &count) >= 0 else { return [gid] }
        }
        return Array(groups.prefix(Int(max(count, 0))))
    }

    /// The names of those groups (for Match Group and Allow/DenyGroups); groups without a name are left out.
    public var groupNames: [String] {
        groupIDs.compactMap(Self.groupName)
    }

    private static func groupName(_ gid: gid_t) -> String? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        return withGrowingBuffer { buffer, size in
            let status = getgrgid_r(gid, &entry, buffer, size, &result)
            guard status == 0 else { return .failed(status) }
            guard result != nil, let name = entry.gr_name else { return .done(nil) }
            return .done(String(cString: name))
        } ?? nil
    }

    private static func lookUp(_ call: (UnsafeMutablePointer<passwd>, UnsafeMutablePointer<CChar>, Int,
                                        UnsafeMutablePointer<UnsafeMutablePointer<passwd>?>) -> Int32) -> SystemAccount? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        return withGrowingBuffer { buffer, size in
            let status = call(&entry, buffer, size, &result)
            guard status == 0 else { return .failed(status) }
            // The entry's strings point into `buffer`: copied out before it goes.
            guard result != nil, let name = entry.pw_name else { return .done(nil) }
            let shell = entry.pw_shell.map { String(cString: $0) } ?? ""
            return .done(SystemAccount(name: String(cString: name), uid: entry.pw_uid, gid: entry.pw_gid,
                                           home: entry.pw_dir.map { String(cString: $0) } ?? "/", shell: shell.isEmpty ? "/bin/sh" : shell))
        } ?? nil
    }

    private enum Attempt<T> { case done(T), failed(Int32) }

    /// Calls `body` with a scratch buffer for the *_r lookups, four times larger each time it reports ERANGE (up
    /// to 1 MiB); nil when it fails otherwise.
    private static func withGrowingBuffer<T>(_ body: (UnsafeMutablePointer<CChar>, Int) -> Attempt<T>) -> T? {
        var size = 4096
        while size <= 1 << 20 {
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            switch body(buffer, size) {
            case .done(let value): return value
            case .failed(ERANGE): size *= 4
            case .failed: return nil
            }
        }
        return nil
    }
}
