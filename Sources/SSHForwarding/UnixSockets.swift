// Unix-domain sockets made with plain system calls, for what hands descriptors around (a forwarding host, a
// privilege broker): connect, listen with a mode, and sshd's private agent directory. File-system calls run on
// NIO's pool for blocking work, never on an event loop or the cooperative pool.
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Unix-domain socket operations that return descriptors.
public enum UnixSockets {
    /// Connects `path`, from the pool for blocking work.
    /// - Parameter path: the socket.
    /// - Returns: the connected descriptor, which the caller owns.
    /// - Throws: `SSHForwardingError` with `connectFailed` and the system's reason.
    public static func connect(_ path: String) async throws -> CInt {
        try await NIOThreadPool.singleton.runIfActive { try connectNow(path) }
    }

    /// Creates `path` and listens on it with the mode `options` gives, from the pool for blocking work.
    /// - Parameters:
    ///   - path: the socket.
    ///   - options: whether an existing file is replaced, and the permission bits cleared.
    /// - Returns: the listening descriptor, which the caller owns.
    /// - Throws: `SSHForwardingError` with `listenFailed` and the system's reason.
    public static func listen(_ path: String, options: SSHStreamLocalBindOptions) async throws -> CInt {
        try await NIOThreadPool.singleton.runIfActive { try listenNow(path, options: options) }
    }

    /// Makes a directory only its owner may enter, `ssh-XXXXXXXXXX` in TMPDIR or /tmp, with a listening socket
    /// `agent.PID` in it, as sshd does for a forwarded agent.
    /// - Returns: the socket's path and listening descriptor.
    /// - Throws: `SSHForwardingError` with `listenFailed` and the system's reason.
    public static func makeAgentSocket() async throws -> (path: String, descriptor: CInt) {
        try await NIOThreadPool.singleton.runIfActive {
            var template = Array("/tmp/ssh-XXXXXXXXXX".utf8CString)
            let made = template.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) }
            }
            guard let directory = made else {
                throw SSHForwardingError(.listenFailed(address: "/tmp/ssh-XXXXXXXXXX", reason: lastError()))
            }
            let path = directory + "/agent.\(getpid())"
            do {
                return (path, try listenNow(path, options: SSHStreamLocalBindOptions(unlinkExisting: false, mask: 0o177)))
            } catch {
                rmdir(directory)
                throw error
            }
        }
    }

    /// Removes an agent socket made by `makeAgentSocket()` and its directory.
    /// - Parameter path: the socket's path.
    public static func removeAgentSocket(_ path: String) {
        unlink(path)
        if let slash = path.lastIndex(of: "/") { rmdir(String(path[..<slash])) }
    }

    static func lastError() -> String { String(cString: strerror(errno)) }

    /// sockaddr_un for `path`; nil when it does not fit.
    static func address(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, !bytes.contains(0), bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    static func connectNow(_ path: String) throws -> CInt {
        guard var address = address(path) else {
            throw SSHForwardingError(.connectFailed(target: path, reason: "not a usable socket path"))
        }
        let socket = Glibc.socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue), 0)
        guard socket >= 0 else { throw SSHForwardingError(.connectFailed(target: path, reason: lastError())) }
        // Non-blocking: a listener whose backlog is full answers EAGAIN at once instead of holding this thread.
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let reason = lastError()
            close(socket)
            throw SSHForwardingError(.connectFailed(target: path, reason: reason))
        }
        return socket
    }

    static func listenNow(_ path: String, options: SSHStreamLocalBindOptions) throws -> CInt {
        guard var address = address(path) else {
            throw SSHForwardingError(.listenFailed(address: path, reason: "not a usable socket path"))
        }
        if options.unlinkExisting {
            // Only a socket is replaced, never a file that happens to have the name.
            var status = stat()
            if lstat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
        }
        let socket = Glibc.socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue), 0)
        guard socket >= 0 else { throw SSHForwardingError(.listenFailed(address: path, reason: lastError())) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, chmod(path, mode_t(0o666 & ~options.mask)) == 0, Glibc.listen(socket, 128) == 0 else {
            let reason = lastError()
            close(socket)
            if bound == 0 { unlink(path) }
            throw SSHForwardingError(.listenFailed(address: path, reason: reason))
        }
        return socket
    }
}
