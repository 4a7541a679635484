// What the harness reads from the system: a process tree's CPU time and proportional memory (/proc), whole-process
// timings, this machine's ceilings (openssl speed, raw loopback TCP), and medians.
import Foundation

enum ProcessTree {
    /// Every live process below `root`, from /proc/*/stat parent ids.
    static func descendants(of root: pid_t) -> [pid_t] {
        var parents: [pid_t: pid_t] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let fields = statFields(pid), fields.count > 1, let parent = pid_t(fields[1]) else { continue }
            parents[pid] = parent
        }
        var found: [pid_t] = [], frontier = [root]
        while let next = frontier.popLast() {
            let children = parents.filter { $0.value == next }.map(\.key)
            found += children
            frontier += children
        }
        return found
    }

    /// The fields of /proc/PID/stat after the command name (index 0 is the state).
    static func statFields(_ pid: pid_t) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// CPU seconds (user + system) used by `root`, its reaped children and its live descendants.
    static func cpuSeconds(root: pid_t) -> Double {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        func seconds(_ pid: pid_t, includingReaped: Bool) -> Double {
            // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
            guard let fields = statFields(pid), fields.count > 14 else { return 0 }
            let own = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
            let reaped = includingReaped ? (Double(fields[13]) ?? 0) + (Double(fields[14]) ?? 0) : 0
            return (own + reaped) / ticks
        }
        return seconds(root, includingReaped: true) + descendants(of: root).reduce(0) { $0 + seconds($1, includingReaped: true) }
    }

    /// Anonymous proportional set size (KiB) of `root` and its descendants: heap, stacks and copy-on-write pages,
    /// split between the processes sharing them (so a forking server is charged its shared pages once). File-backed
    /// pages are left out: they do not grow with connections, and their PSS moves whenever another process maps
    /// the same libraries (the harness's own client agents do).
    static func anonymousPSSKiB(root: pid_t) -> Int {
        ([root] + descendants(of: root)).reduce(0) { total, pid in
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8) else { return total }
            let fields = text.split(separator: "\n").filter { $0.hasPrefix("Pss_Anon:") || $0.hasPrefix("Pss_Shmem:") }
            return total + fields.reduce(0) { $0 + (Int($1.split(separator: " ").dropFirst().first ?? "") ?? 0) }
        }
    }
}

/// Children inherit the spawning thread's signal mask, and the threads of a Swift program may block signals
/// (openssl speed then never sees its SIGALRM): unblock them in this thread before spawning.
func unblockSignalsForChildren() {
    var none = sigset_t()
    sigemptyset(&none)
    pthread_sigmask(SIG_SETMASK, &none, nil)
}

/// Binds `fd` to 127.0.0.1 on a port the kernel picks; returns the bound address.
func bindLoopback(_ fd: CInt) throws -> (sockaddr_in, socklen_t) {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw HarnessFailure(description: "cannot bind to 127.0.0.1: errno \(errno)") }
    return (address, length)
}

/// The first line a server on 127.0.0.1:`port` sends (its SSH version line), or nil if nothing answers within a second.
func readBanner(port: Int) throws -> String? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 1, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    let connected = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard connected else { return nil }
    var buffer = [UInt8](repeating: 0, count: 256)
    let count = read(fd, &buffer, buffer.count)
    guard count > 0 else { return nil }
    return String(decoding: buffer.prefix(count), as: UTF8.self)
}

/// Runs a program to its end with stdout to /dev/null (stdin from /dev/null unless given); returns its wall time.
@discardableResult
func timedRun(_ path: String, _ arguments: [String], stdinFile: String = "/dev/null") throws -> Double {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardInput = FileHandle(forReadingAtPath: stdinFile)
    process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    let errors = Pipe()
    process.standardError = errors
    let started = ContinuousClock.now
    unblockSignalsForChildren()
    try process.run()
    let errorText = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let elapsed = seconds(ContinuousClock.now - started)
    guard process.terminationStatus == 0 else {
        throw HarnessFailure(description: "\(([path] + arguments).joined(separator: " ")) exited with \(process.terminationStatus): "
                                 + String(decoding: errorText, as: UTF8.self))
    }
    return elapsed
}

/// Runs a program and returns its stdout as text.
func capture(_ path: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle(forWritingAtPath: "/dev/null")
    unblockSignalsForChildren()
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

enum Ceilings {
    /// `openssl speed -evp ALGORITHM` on 16 KiB blocks for one second, in MB/s (nil if openssl is missing).
    static func openssl(_ algorithm: String) -> Double? {
        guard let output = try? capture("/usr/bin/openssl", ["speed", "-evp", algorithm, "-seconds", "1", "-bytes", "16384"]) else { return nil }
        // The last line: "<name>  <k/s for 16384-byte blocks>k".
        guard let last = output.split(separator: "\n").last(where: { $0.hasSuffix("k") }),
              let value = last.split(separator: " ").last.flatMap({ Double($0.dropLast()) }) else { return nil }
        return value * 1000 / 1e6
    }

    /// Bytes through one loopback TCP connection between two threads of this process, in MB/s.
    static func loopbackTCP(bytes: Int) throws -> Double {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        let (bound, boundLength) = try bindLoopback(listener)
        guard listen(listener, 1) == 0 else { throw HarnessFailure(description: "loopback listener: errno \(errno)") }
        let sender = Thread {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var target = bound
            _ = withUnsafePointer(to: &target) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, boundLength) } }
            let chunk = [UInt8](repeating: 0, count: 256 * 1024)
            var remaining = bytes
            while remaining > 0 {
                let sent = chunk.withUnsafeBytes { send(fd, $0.baseAddress, min(remaining, $0.count), 0) }
                if sent <= 0 { break }
                remaining -= sent
            }
            close(fd)
        }
        let started = ContinuousClock.now
        sender.start()
        let connection = accept(listener, nil, nil)
        defer { close(connection) }
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var received = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += count
        }
        let elapsed = seconds(ContinuousClock.now - started)
        guard received == bytes else { throw HarnessFailure(description: "loopback: received \(received) of \(bytes)") }
        return Double(bytes) / elapsed / 1e6
    }
}
