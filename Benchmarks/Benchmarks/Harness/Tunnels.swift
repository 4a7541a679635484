// Tunnels side by side (issue 18): bulk through one -L tunnel with its SHA-256 checked, the time to the first byte
// of a new connection through an established -L and -D, 100 tunnelled connections at once, and the server's memory
// per idle forwarded connection — for ssh→sshd (twice), shh→sshd, ssh→shhd and shh→shhd.
import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Harness {
    static let tunnelPairings = ["ssh→sshd", "ssh→sshd again", "shh→sshd", "ssh→shhd", "shh→shhd"]

    /// The pairings measured (--pairings a,b,... picks some, by name).
    var tunnelPairings: [String] {
        guard let chosen = pairingFilter else { return Self.tunnelPairings }
        return Self.tunnelPairings.filter { chosen.contains($0) }
    }

    func tunnels() throws {
        let services = try TunnelServices()
        defer { services.stop() }
        let block = (0..<(4 << 20)).map { _ in UInt8.random(in: 0...255) }
        let bulkBytes = full ? 1 << 30 : 256 << 20
        let expected = TunnelServices.digest(of: block, repeatedTo: bulkBytes)
        let tenMiB = 10 << 20
        let expectedTen = TunnelServices.digest(of: block, repeatedTo: tenMiB)
        var bulk: [String: [Double]] = [:], firstByteL: [String: [Double]] = [:], firstByteD: [String: [Double]] = [:]
        var concurrent: [String: [Double]] = [:], peakPSS: [String: [Double]] = [:], idlePSS: [String: [Double]] = [:]
        log("tunnels: \(bulkBytes >> 20) MiB through -L, first byte through -L and -D, 100 × 10 MiB at once, 100 idle")
        for round in 0..<(full ? 5 : 3) {
            for pairing in tunnelPairings {
              var stage = "starting the forwarder"
              do {
                let forwarder = try startForwarder(pairing, services: services)
                defer {
                    forwarder.process.terminate()
                    forwarder.process.waitUntilExit()
                }
                let serverPID = port(pairing) == sshdPort ? sshdPID : (ourServer?.processIdentifier ?? 0)
                stage = "bulk"
                if round == 0 {
                    // Once per pairing, the bytes are checked: SHA-256 of what arrived against what was sent.
                    let digest = try TunnelServices.send(block, total: bulkBytes, toPort: forwarder.sinkPort)
                    guard digest == expected else { throw HarnessFailure(description: "\(pairing): the tunnel changed the bytes") }
                }
                let started = Date()
                let counted = try TunnelServices.send(block, total: bulkBytes, toPort: forwarder.countPort, answerLength: 8)
                let elapsed = Date().timeIntervalSince(started)
                guard counted.reduce(0, { $0 << 8 | UInt64($1) }) == UInt64(bulkBytes) else {
                    throw HarnessFailure(description: "\(pairing): the tunnel lost bytes")
                }
                bulk[pairing, default: []].append(Double(bulkBytes) / elapsed / 1e6)
                stage = "first byte"
                // First byte of a new connection: connect, send one byte to the echo service, read it back.
                for _ in 0..<10 {
                    firstByteL[pairing, default: []].append(try TunnelServices.firstByte(port: forwarder.echoPort, socksTo: nil) * 1000)
                    firstByteD[pairing, default: []].append(try TunnelServices.firstByte(port: forwarder.socksPort, socksTo: services.echoPort) * 1000)
                }
                stage = "100 at once"
                // 100 connections at once, 10 MiB each; the server tree's peak anonymous PSS above what it was.
                let before = ProcessTree.anonymousPSSKiB(root: serverPID)
                let sampler = PeakSampler(pid: serverPID)
                let concurrentStart = Date()
                let digests = try TunnelServices.sendConcurrently(block, total: tenMiB, connections: 100, toPort: forwarder.sinkPort)
                concurrent[pairing, default: []].append(Date().timeIntervalSince(concurrentStart))
                let peak = sampler.stop()
                guard digests.allSatisfy({ $0 == expectedTen }) else { throw HarnessFailure(description: "\(pairing): a concurrent tunnel changed the bytes") }
                peakPSS[pairing, default: []].append(Double(max(0, peak - before)) / 1024)
                // Idle forwarded connections: 100 open through the tunnel, each having echoed a byte.
                if round == 0 {
                    stage = "idle connections"
                    usleep(300_000)
                    let quiet = ProcessTree.anonymousPSSKiB(root: serverPID)
                    let held = try TunnelServices.holdEchoConnections(100, port: forwarder.echoPort)
                    usleep(300_000)
                    let holding = ProcessTree.anonymousPSSKiB(root: serverPID)
                    held.forEach { close($0) }
                    idlePSS[pairing, default: []].append(Double(holding - quiet) / 100)
                }
              } catch {
                let said = (try? String(contentsOfFile: "\(work)/forwarder.log", encoding: .utf8)) ?? ""
                throw HarnessFailure(description: "\(pairing), \(stage): \(error); the forwarder said: \(said)")
              }
            }
        }
        addRow(section: "tunnels", label: "bulk through one -L (\(bulkBytes >> 20) MiB; SHA-256 checked once)", unit: "MB/s", samples: bulk)
        addRow(section: "tunnels", label: "first byte of a new connection through -L", unit: "ms", samples: firstByteL)
        addRow(section: "tunnels", label: "first byte of a new connection through -D (SOCKS5)", unit: "ms", samples: firstByteD)
        addRow(section: "tunnels", label: "100 connections × 10 MiB at once, total", unit: "s", samples: concurrent)
        addRow(section: "tunnels", label: "server peak anonymous PSS above idle, 100 at once", unit: "MiB", samples: peakPSS)
        addRow(section: "tunnels", label: "server anonymous PSS per idle forwarded connection", unit: "KiB", samples: idlePSS)
    }

    struct Forwarder {
        var process: Process
        var sinkPort: Int
        var echoPort: Int
        var socksPort: Int
        var countPort: Int
    }

    /// Starts `ssh -N -L sink -L echo -D socks` (or shh with the same arguments) and waits until all three listen.
    func startForwarder(_ pairing: String, services: TunnelServices) throws -> Forwarder {
        let sinkPort = try freePort(), echoPort = try freePort(), socksPort = try freePort(), countPort = try freePort()
        let program = pairing.hasPrefix("ssh") ? ["/usr/bin/ssh"] : [me, "shh"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program[0])
        process.arguments = Array(program.dropFirst()) + ["-N", "-o", "ExitOnForwardFailure=yes",
                                                          "-L", "127.0.0.1:\(sinkPort):127.0.0.1:\(services.sinkPort)",
                                                          "-L", "127.0.0.1:\(echoPort):127.0.0.1:\(services.echoPort)",
                                                          "-L", "127.0.0.1:\(countPort):127.0.0.1:\(services.countPort)",
                                                          "-D", "127.0.0.1:\(socksPort)"] + sshArguments(port: port(pairing))
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let logPath = "\(work)/forwarder.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        try process.run()
        for port in [sinkPort, echoPort, socksPort, countPort] {
            _ = try waitFor("\(pairing) listening on \(port)") { TunnelServices.accepts(port: port) ? true : nil }
        }
        return Forwarder(process: process, sinkPort: sinkPort, echoPort: echoPort, socksPort: socksPort, countPort: countPort)
    }
}

/// Samples a process tree's anonymous PSS every 100 ms until stopped; returns the highest.
final class PeakSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0
    private var running = true
    private let finished = DispatchSemaphore(value: 0)

    init(pid: pid_t) {
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                let now = ProcessTree.anonymousPSSKiB(root: pid)
                lock.withLock { peak = max(peak, now) }
                usleep(100_000)
            }
            finished.signal()
        }
    }

    func stop() -> Int {
        lock.withLock { running = false }
        finished.wait()
        return lock.withLock { peak }
    }
}

/// The far ends of the tunnels, in this process: a sink that hashes everything it receives and answers with the
/// SHA-256 when the sender shuts down writing, and an echo service.
final class TunnelServices: @unchecked Sendable {
    let sinkListener: CInt, echoListener: CInt, countListener: CInt
    let sinkPort: Int, echoPort: Int, countPort: Int

    init() throws {
        (sinkListener, sinkPort) = try Self.listen()
        (echoListener, echoPort) = try Self.listen()
        (countListener, countPort) = try Self.listen()
        // Counts what arrives and answers with the count: the timed runs, where hashing would take CPU from the
        // tunnel on a 2-core machine (the digest is checked in a run of its own).
        Self.acceptLoop(countListener) { fd in
            var buffer = [UInt8](repeating: 0, count: 256 << 10)
            var total: UInt64 = 0
            while true {
                let count = read(fd, &buffer, buffer.count)
                if count <= 0 { break }
                total += UInt64(count)
            }
            var answer = total.bigEndian
            _ = withUnsafeBytes(of: &answer) { write(fd, $0.baseAddress, 8) }
        }
        Self.acceptLoop(sinkListener) { fd in
            var hash = SHA256()
            var buffer = [UInt8](repeating: 0, count: 256 << 10)
            while true {
                let count = read(fd, &buffer, buffer.count)
                if count <= 0 { break }
                buffer.withUnsafeBytes { hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
            }
            let digest = Array(hash.finalize())
            _ = digest.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        }
        Self.acceptLoop(echoListener) { fd in
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            while true {
                let count = read(fd, &buffer, buffer.count)
                if count <= 0 { break }
                _ = buffer.withUnsafeBytes { write(fd, $0.baseAddress, count) }
            }
        }
    }

    func stop() {
        shutdown(sinkListener, Int32(SHUT_RDWR))
        shutdown(echoListener, Int32(SHUT_RDWR))
        shutdown(countListener, Int32(SHUT_RDWR))
        close(sinkListener)
        close(echoListener)
        close(countListener)
    }

    static func listen() throws -> (CInt, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: CInt = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        let (address, _) = try bindLoopback(fd)
        guard Glibc.listen(fd, 512) == 0 else { throw HarnessFailure(description: "listen: errno \(errno)") }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// Serves each accepted connection on a thread of its own, then closes it.
    static func acceptLoop(_ listener: CInt, _ serve: @escaping @Sendable (CInt) -> Void) {
        Thread.detachNewThread {
            while true {
                let fd = accept(listener, nil, nil)
                if fd < 0 {
                    if errno == EINTR { continue }
                    return
                }
                Thread.detachNewThread {
                    serve(fd)
                    close(fd)
                }
            }
        }
    }

    static func connect(port: Int) throws -> CInt {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else {
            close(fd)
            throw HarnessFailure(description: "connect to 127.0.0.1:\(port): errno \(errno)")
        }
        var one: CInt = 1
        setsockopt(fd, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
        return fd
    }

    static func accepts(port: Int) -> Bool {
        guard let fd = try? connect(port: port) else { return false }
        close(fd)
        return true
    }

    static func digest(of block: [UInt8], repeatedTo total: Int) -> [UInt8] {
        var hash = SHA256()
        var left = total
        while left > 0 {
            let count = min(left, block.count)
            block.withUnsafeBytes { hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
            left -= count
        }
        return Array(hash.finalize())
    }

    static func writeAll(_ fd: CInt, _ pointer: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < pointer.count {
            let written = write(fd, pointer.baseAddress! + offset, pointer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw HarnessFailure(description: "write: errno \(errno)")
            }
            offset += written
        }
    }

    static func readExactly(_ fd: CInt, _ count: Int) throws -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let got = result.withUnsafeMutableBytes { read(fd, $0.baseAddress! + offset, count - offset) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw HarnessFailure(description: "the tunnel closed after \(offset) of \(count) bytes") }
            offset += got
        }
        return result
    }

    /// Sends `total` bytes (the block repeated) to the sink through `port`, shuts down writing, returns its digest.
    static func send(_ block: [UInt8], total: Int, toPort port: Int, answerLength: Int = 32) throws -> [UInt8] {
        let fd = try connect(port: port)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 120, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var left = total
        try block.withUnsafeBytes { bytes in
            while left > 0 {
                let count = min(left, bytes.count)
                try writeAll(fd, UnsafeRawBufferPointer(rebasing: bytes.prefix(count)))
                left -= count
            }
        }
        shutdown(fd, Int32(SHUT_WR))
        return try readExactly(fd, answerLength)
    }

    static func sendConcurrently(_ block: [UInt8], total: Int, connections: Int, toPort port: Int) throws -> [[UInt8]] {
        final class Outcomes: @unchecked Sendable {
            let lock = NSLock()
            var digests: [[UInt8]] = []
            var failure: (any Error)?
        }
        let outcomes = Outcomes()
        DispatchQueue.concurrentPerform(iterations: connections) { _ in
            do {
                let digest = try send(block, total: total, toPort: port)
                outcomes.lock.withLock { outcomes.digests.append(digest) }
            } catch {
                outcomes.lock.withLock { outcomes.failure = error }
            }
        }
        if let failure = outcomes.failure { throw failure }
        return outcomes.digests
    }

    /// Seconds from connecting to having one byte echoed back; through SOCKS5 first when `socksTo` names a port.
    static func firstByte(port: Int, socksTo target: Int?) throws -> Double {
        let started = Date()
        let fd = try connect(port: port)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if let target {
            try ([5, 1, 0] as [UInt8]).withUnsafeBytes { try writeAll(fd, $0) }
            guard try readExactly(fd, 2) == [5, 0] else { throw HarnessFailure(description: "SOCKS5: no method accepted") }
            let request: [UInt8] = [5, 1, 0, 1, 127, 0, 0, 1, UInt8(target >> 8), UInt8(target & 0xff)]
            try request.withUnsafeBytes { try writeAll(fd, $0) }
            let reply = try readExactly(fd, 10)
            guard reply[1] == 0 else { throw HarnessFailure(description: "SOCKS5: refused with \(reply[1])") }
        }
        try ([42] as [UInt8]).withUnsafeBytes { try writeAll(fd, $0) }
        guard try readExactly(fd, 1) == [42] else { throw HarnessFailure(description: "echo answered something else") }
        return Date().timeIntervalSince(started)
    }

    /// Opens `count` connections to the echo service through `port`, each echoing one byte; returns them open.
    static func holdEchoConnections(_ count: Int, port: Int) throws -> [CInt] {
        var open: [CInt] = []
        do {
            for _ in 0..<count {
                let fd = try connect(port: port)
                open.append(fd)
                try ([7] as [UInt8]).withUnsafeBytes { try writeAll(fd, $0) }
                _ = try readExactly(fd, 1)
            }
        } catch {
            open.forEach { close($0) }
            throw error
        }
        return open
    }
}
