// Starting a real OpenSSH sshd for a test: its own config, host key and free loopback port, stopped by PID.

import Foundation
import Synchronization
import Testing

let isRootUser = getuid() == 0

/// The account interop tests log in as to sshd and shhd. It is a second name for user ID 0 (sessions read and write
/// the tests' temporary files as root's would, and `id -un` says "root"), but with /bin/sh as its shell and an
/// empty home of its own, so no dotfile of the machine's runs in a test's session: root's .bashrc on the CI image
/// runs `pyenv rehash`, which takes a machine-wide lock and writes to stderr. It has no password ("*": nothing logs
/// in with one, and it is not locked). Made on first use as root, here and in the OpenSSH 10 root, and kept: the
/// next run finds it as it is. Without root (sshd and shhd tests are skipped then) it is the running user.
let testLogin: String = {
    guard isRootUser else { return NSUserName() }
    ensureTestLogin(inRoot: nil)
    let debian13 = ProcessInfo.processInfo.environment["SHH_DEBIAN13_ROOT"] ?? "/var/cache/shh/debian13"
    if FileManager.default.isExecutableFile(atPath: debian13 + "/usr/sbin/useradd") { ensureTestLogin(inRoot: debian13) }
    return testLoginName
}()

private let testLoginName = "shh-test"

/// Makes (or puts right) the test login in this system's account database, or in the one of the root at `root`.
@available(*, noasync, message: "blocks a cooperative pool thread")
func ensureTestLogin(inRoot root: String?) {
    // useradd and usermod refuse while another test holds the password file's lock: a few tries.
    let script = """
        name=\(testLoginName); home=/var/lib/shh-test-home
        mkdir -p "$home" && chmod 755 "$home" || exit 1
        for attempt in 1 2 3 4 5 6 7 8 9 10; do
            if [ "$(getent passwd "$name")" = "$name:x:0:0::$home:/bin/sh" ] \
               || { getent passwd "$name" >/dev/null && usermod -o -u 0 -g 0 -c '' -d "$home" -s /bin/sh "$name"; } \
               || useradd -M -N -o -u 0 -g 0 -c '' -d "$home" -s /bin/sh "$name"; then
                usermod -p '*' "$name" && exit 0
            fi
            sleep 0.3
        done
        exit 1
        """
    let (program, arguments) = root.map { ("/usr/sbin/chroot", [$0, "/bin/sh", "-c", script]) } ?? ("/bin/sh", ["-c", script])
    let result = try? run(program, arguments, deadline: 60)
    if result?.status != 0 {
        // The tests that log in say so: their logins fail naming this account.
        print("warning: could not prepare the test login \(testLoginName) in \(root ?? "/"): \(result?.stderr ?? "did not run")")
    }
}

final class TestSSHD {
    let directory: String
    let port: Int
    let hostKeyPublic: String
    private let pidFile: String

    /// Every host public key line, by type name as given to ssh-keygen -t ("ed25519", "ecdsa", "rsa", ...).
    let hostKeyPublicLines: [String: String]
    /// The CA that signed the ed25519 host key's certificate, as a public key line (when `certifyHostKey`).
    let hostCertificateAuthorityLine: String?

    /// Starts sshd as a daemon with its own config, host keys and free loopback port (`-E` log file, `PidFile` in
    /// the temp dir, stopped by that PID), and waits with a deadline until the port answers "SSH-2.0-".
    /// A daemon, not a child held by Foundation's Process: it detaches from our pipes, so parallel tests that
    /// read their own children's output to end-of-file are never kept waiting by it.
    /// `chrootRoot` runs the sshd of another OpenSSH installed in that directory (Scripts/openssh10-chroot.sh);
    /// /tmp is shared with it, so the temp files are the same inside and out.
    /// `passwordAuthentication`, `keyboardInteractiveAuthentication` and `usePAM` set those keywords here, not
    /// through `extraConfig`: for most keywords sshd keeps the first value it reads, so an appended line is ignored.
    @available(*, noasync, message: "blocks a cooperative pool thread")
    init(
        hostKeyType: String = "ed25519", additionalHostKeyTypes: [String] = [], certifyHostKey: Bool = false,
        chrootRoot: String? = nil, passwordAuthentication: Bool = false, keyboardInteractiveAuthentication: Bool = false,
        usePAM: Bool = false, extraConfig: String = ""
    ) throws {
        guard FileManager.default.isExecutableFile(atPath: (chrootRoot ?? "") + "/usr/sbin/sshd") else {
            throw InteropError.missingProgram("sshd (apt-get install openssh-server)")
        }
        directory = try makeTemporaryDirectory()
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        var hostKeyLines: [String: String] = [:]
        var hostKeyConfig = ""
        for type in [hostKeyType] + additionalHostKeyTypes {
            let hostKey = "\(directory)/host_\(type)"
            // "ecdsa-384" means -t ecdsa -b 384.
            let parts = type.split(separator: "-").map(String.init)
            let sizeArguments = parts.count > 1 ? ["-b", parts[1]] : []
            let made = try run(try sshKeygenPath(), ["-q", "-t", parts[0]] + sizeArguments + ["-N", "", "-f", hostKey])
            guard made.status == 0 else { throw InteropError.missingProgram("ssh-keygen (host key: \(made.stderr))") }
            hostKeyLines[type] = try readText(hostKey + ".pub")
            hostKeyConfig += "HostKey \(hostKey)\n"
        }
        if certifyHostKey {
            let authority = "\(directory)/host_ca"
            let madeAuthority = try run(try sshKeygenPath(), ["-q", "-t", "ed25519", "-N", "", "-f", authority])
            let hostKey = "\(directory)/host_\(hostKeyType)"
            let signed = try run(try sshKeygenPath(), ["-q", "-s", authority, "-I", "test host", "-h", "-n", "127.0.0.1", hostKey + ".pub"])
            guard madeAuthority.status == 0, signed.status == 0 else {
                throw InteropError.missingProgram("ssh-keygen (host certificate: \(signed.stderr))")
            }
            hostKeyConfig += "HostCertificate \(hostKey)-cert.pub\n"
            hostCertificateAuthorityLine = try readText(authority + ".pub")
        } else {
            hostCertificateAuthorityLine = nil
        }
        hostKeyPublicLines = hostKeyLines
        hostKeyPublic = hostKeyLines[hostKeyType] ?? ""
        pidFile = "\(directory)/sshd.pid"
        // A port someone else took between our choosing it and sshd's bind means another port, up to three times
        // (sshd logs "Address already in use" and exits before it daemonizes).
        var attempt = 0
        var chosen = 0
        while true {
            attempt += 1
            chosen = try freeLoopbackPort()
            let config = """
                Port \(chosen)
                ListenAddress 127.0.0.1
                \(hostKeyConfig)PidFile \(pidFile)
                StrictModes no
                UsePAM \(usePAM ? "yes" : "no")
                LogLevel VERBOSE
                AuthorizedKeysFile \(directory)/authorized_keys
                PasswordAuthentication \(passwordAuthentication ? "yes" : "no")
                KbdInteractiveAuthentication \(keyboardInteractiveAuthentication ? "yes" : "no")
                \(extraConfig)

                """
            try config.write(toFile: "\(directory)/sshd_config", atomically: true, encoding: .utf8)
            let sshdArguments = ["-f", "\(directory)/sshd_config", "-E", "\(directory)/sshd.log"]
            let (program, arguments) = chrootRoot.map { withDefaultSignals("/usr/sbin/chroot", [$0, "/usr/sbin/sshd"] + sshdArguments) }
                ?? withDefaultSignals("/usr/sbin/sshd", sshdArguments)
            let started = try run(program, arguments)
            if started.status == 0 { break }
            let logged = (try? readText("\(directory)/sshd.log")) ?? ""
            guard (logged + started.stderr).contains("Address already in use"), attempt < 3 else {
                throw InteropError.missingProgram("a working sshd (\(started.stderr) \(logged))")
            }
        }
        port = chosen
        try waitForBanner()
    }

    private func waitForBanner() throws {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let banner = try? readBanner(port: port), banner.hasPrefix("SSH-2.0-") { return }
            usleep(50_000)
        }
        stop()
        throw InteropError.missingProgram("a working sshd (no banner on port \(port); log: \((try? readText("\(directory)/sshd.log")) ?? ""))")
    }

    /// The listening sshd's process id (per-connection processes are its descendants).
    var listenerPID: pid_t? {
        guard let text = try? readText(pidFile) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Kills the listener and every session it started (its per-connection processes and their commands), so
    /// nothing of this test's outlives it.
    func stop() {
        guard let text = try? readText(pidFile), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
        killTree(pid)
        try? FileManager.default.removeItem(atPath: pidFile)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Ports handed out so far in this test process: never twice, so two servers started at once cannot race for one.
private let handedOutPorts = Mutex<Set<Int>>([])

/// A loopback port for a test server to listen on: bindable now, never handed out before in this process, and
/// outside the kernel's ephemeral range (32768–60999), so no bind(0) elsewhere (asyncssh, a client's source port)
/// can take it between now and the server's own bind. The suite's servers once answered on each other's ports.
func freeLoopbackPort() throws -> Int {
    let start = 20_000 + Int.random(in: 0..<12_000)
    for offset in 0..<12_000 {
        let candidate = 20_000 + (start - 20_000 + offset) % 12_000
        guard handedOutPorts.withLock({ $0.insert(candidate).inserted }) else { continue }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw InteropError.missingProgram("a TCP socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(candidate).bigEndian)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        if bound { return candidate }
    }
    throw InteropError.missingProgram("a free loopback port between 20000 and 32000")
}

/// A TCP socket connected to 127.0.0.1:port with a receive timeout, or nil. The caller closes it.
func connectLoopback(port: Int, receiveTimeoutSeconds: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard connected else {
        close(fd)
        return nil
    }
    return fd
}

/// The first line a server sends, read with a short timeout.
func readBanner(port: Int) throws -> String {
    guard let fd = connectLoopback(port: port, receiveTimeoutSeconds: 1) else { return "" }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 256)
    let count = read(fd, &buffer, buffer.count)
    return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
}
