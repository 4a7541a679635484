// shhd as root splits in two, as sshd does (ARCHITECTURE.md, Broker/THREAT_MODEL.md in SSHServerHost): the root
// broker binds the listening sockets, keeps the host private keys, decides logins and starts sessions; the network
// process — everything a peer can reach: version exchange, packets, key exchange, authentication parsing, channels —
// runs as an unprivileged account (sshd's privsep account, else nobody), chrooted to an empty directory, with no
// capabilities and no way back, and asks the broker over a SOCK_SEQPACKET pair. It is this same program started
// again with SHHD_NETWORK_PROCESS in its environment; it reads the same configuration and gets its listeners and the
// broker's socket as descriptors 3 and up. When it dies, its connections end and the broker starts another; the
// listening sockets stay open in the broker throughout, so connections queue instead of being refused.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSSHServerHost
import SSHPOSIX
import NIOCore
import SSH
import SSHServerHost
import Synchronization
import UnixSignals

enum PrivilegeSeparation {
    /// Set in the network process's environment: "uid gid root listeners" (the broker's socket is descriptor 3,
    /// the listeners 4 and up, in the configuration's order).
    static let environmentVariable = "SHHD_NETWORK_PROCESS"
    static let brokerDescriptor: CInt = 3
    static let firstListenerDescriptor: CInt = 4
    /// The empty directory the network process is chrooted to (made at start when missing).
    static let emptyDirectory = "/run/shhd"
    /// The accounts the network process may run as, the first that exists: OpenSSH's privsep account, then nobody.
    static let accountNames = ["sshd", "nobody"]

    /// What the broker tells the network process it is.
    struct NetworkProcess: Equatable {
        var uid: uid_t
        var gid: gid_t
        var root: String
        var listenerCount: Int

        var environmentValue: String { "\(uid) \(gid) \(listenerCount) \(root)" }

        init(uid: uid_t, gid: gid_t, root: String, listenerCount: Int) {
            (self.uid, self.gid, self.root, self.listenerCount) = (uid, gid, root, listenerCount)
        }

        init?(environmentValue: String) {
            let parts = environmentValue.split(separator: " ", maxSplits: 3).map(String.init)
            guard parts.count == 4, let uid = uid_t(parts[0]), let gid = gid_t(parts[1]), let count = Int(parts[2]), count > 0,
                  parts[3].hasPrefix("/") else { return nil }
            self.init(uid: uid, gid: gid, root: parts[3], listenerCount: count)
        }

        var listenerDescriptors: [CInt] { (0..<listenerCount).map { firstListenerDescriptor + CInt($0) } }
    }

    /// This process's part, when the broker started it.
    static var networkProcess: NetworkProcess? {
        getenv(environmentVariable).flatMap { NetworkProcess(environmentValue: String(cString: $0)) }
    }

    // MARK: The broker's side

    /// The account and directory the network process will have; checked before anything is served.
    static func networkProcessIdentity() throws -> (uid: uid_t, gid: gid_t, root: String) {
        guard let account = accountNames.lazy.compactMap({ SystemAccount(named: $0) }).first else {
            throw ShhdFailure("shhd: no account for the network process: create \"sshd\" (OpenSSH's privilege separation user) or \"nobody\"")
        }
        guard account.uid != 0 else { throw ShhdFailure("shhd: the privilege separation account \(account.name) is root") }
        if mkdir(emptyDirectory, 0o755) != 0 && errno != EEXIST {
            throw ShhdFailure("shhd: cannot make \(emptyDirectory): \(String(cString: strerror(errno)))")
        }
        var status = stat()
        guard lstat(emptyDirectory, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR, status.st_uid == 0,
              status.st_mode & 0o022 == 0 else {
            throw ShhdFailure("shhd: \(emptyDirectory) must be a directory owned by root and writable by no one else")
        }
        return (account.uid, account.gid, emptyDirectory)
    }

    /// A listening TCP socket on `host` and `port` (0: any free port); returns it and the port it got.
    static func listen(host: String, port: Int) throws -> (descriptor: CInt, port: Int) {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let family = address.protocol.rawValue
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw ShhdFailure("shhd: socket: \(String(cString: strerror(errno)))") }
        var one: CInt = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        // An IPv6 listener only takes IPv6 connections (as sshd): "::" and "0.0.0.0" can both be listened on.
        if family == AF_INET6 { setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<CInt>.size)) }
        let bound = address.withSockAddr { pointer, size in bind(descriptor, pointer, socklen_t(size)) }
        guard bound == 0, Glibc.listen(descriptor, SOMAXCONN) == 0 else {
            let code = errno
            close(descriptor)
            throw ShhdFailure("shhd: cannot listen on \(host) port \(port): \(String(cString: strerror(code)))")
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        var actualPort = port
        if named == 0 {
            withUnsafeBytes(of: &storage) { raw in
                // sin_port and sin6_port sit at the same offset, in network order.
                actualPort = Int(UInt16(raw[2]) << 8 | UInt16(raw[3]))
            }
        }
        return (descriptor, actualPort)
    }

    /// Starts the network process: this program with `arguments`, the broker's socket as descriptor 3 and the
    /// listeners from 4, every signal at its default, nothing else of ours open.
    static func spawnNetworkProcess(arguments: [String], identity: NetworkProcess, broker: CInt, listeners: [CInt]) throws -> pid_t {
        var executable = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &executable, executable.count - 1)
        guard length > 0 else { throw ShhdFailure("shhd: cannot find its own program (/proc/self/exe): \(String(cString: strerror(errno)))") }
        let path = String(decoding: executable.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var environment = ProcessEnvironment.entries.filter { !$0.hasPrefix(environmentVariable + "=") }
        environment.append("\(environmentVariable)=\(identity.environmentValue)")
        do {
            // The broker's socket becomes 3 and the listeners follow; anything else of ours stays behind.
            return try ProgramSpawn.start(path, arguments: arguments, environment: environment,
                                          actions: SpawnAction.renumbering([broker] + listeners, from: brokerDescriptor))
        } catch {
            throw ShhdFailure("shhd: cannot start the network process: \(error)")
        }
    }

    // MARK: The network process's side

    /// Gives up root for good (see shh_drop_privileges).
    static func drop(to identity: NetworkProcess) throws {
        var failedStep: UnsafePointer<CChar>?
        guard shh_drop_privileges(identity.root, identity.uid, identity.gid, &failedStep) == 0 else {
            let step = failedStep.map { String(cString: $0) } ?? "dropping privileges"
            throw ShhdFailure("shhd: network process: \(step) failed: \(String(cString: strerror(errno)))")
        }
    }
}
