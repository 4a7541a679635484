// shhd as root splits in two (PrivilegeSeparation in ShhdCommand): what a peer can reach runs in a network process
// that holds no root, no capability, no file system and no host private key; the root broker keeps listening when
// that process dies, starts another, and hangs up the sessions the dead one served.
import Foundation
import Testing

@Suite("shhd's privilege separation", .enabled(if: isRootUser, "shhd splits only when started as root; CI runs as root"),
       .timeLimit(.minutes(10)))
struct ShhdPrivilegeSeparationTests {
    /// The account the network process runs as: OpenSSH's privilege separation user, else nobody.
    static func expectedAccount() throws -> (uid: String, gid: String) {
        for name in ["sshd", "nobody"] {
            let fields = (try run("/usr/bin/getent", ["passwd", name])).stdout.trimmingCharacters(in: .newlines)
                .split(separator: ":", omittingEmptySubsequences: false)
            if fields.count == 7 { return (String(fields[2]), String(fields[3])) }
        }
        throw InteropError.missingProgram("an sshd or nobody account")
    }

    @Test func theNetworkProcessHasNoPrivilegeNoFilesAndNoHostKey() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        // A login first: the network process has done a key exchange and an authentication by now.
        let login = try await fixture.ssh(server, ["id -u"])
        #expect(login.status == 0 && login.stdout == "0\n", "\(login.stderr) \(server.logText)")
        let networkProcess = try #require(server.networkProcess, "no network process below shhd \(server.pid)")
        let status = try readText("/proc/\(networkProcess)/status")
        func line(_ name: String) -> String {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }.map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) } ?? ""
        }
        let (uid, gid) = try Self.expectedAccount()
        #expect(line("Uid").split(separator: "\t").map(String.init) == [uid, uid, uid, uid], "\(status)")
        #expect(line("Gid").split(separator: "\t").map(String.init) == [gid, gid, gid, gid], "\(status)")
        #expect(line("Groups") == gid, "\(status)")
        #expect(line("CapEff") == "0000000000000000" && line("CapPrm") == "0000000000000000", "\(status)")
        // Every thread, not only the first: a thread left behind as root would be root's way back.
        for task in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(networkProcess)/task") {
            let taskStatus = try readText("/proc/\(networkProcess)/task/\(task)/status")
            #expect(taskStatus.contains("Uid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)\n"), "thread \(task): \(taskStatus)")
        }
        let root = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(networkProcess)/root")
        #expect(root == "/run/shhd", "the network process's root is \(root)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).isEmpty, "\(root) is not empty")
        // The broker stays root: it starts the sessions (which ran as root above).
        #expect(try readText("/proc/\(server.pid)/status").contains("Uid:\t0\t0\t0\t0\n"))

        // The host key's private half is in the broker's memory and nowhere in the network process's.
        let seed = try ed25519Seed(privateKeyFile: String(fixture.hostKeyPublic.dropLast(4)))
        let broker = try memoryContains(pid: server.pid, seed)
        let network = try memoryContains(pid: networkProcess, seed)
        #expect(broker.scanned > 1 << 20 && network.scanned > 1 << 20, "too little memory readable: \(broker.scanned), \(network.scanned) bytes")
        #expect(broker.found, "the search cannot find the key even in the broker, so it proves nothing")
        #expect(!network.found, "the host private key is in the network process's memory")
    }

    @Test func aKilledNetworkProcessIsReplacedAndItsSessionsHungUp() async throws {
        let fixture = try await offThePool { try ShhdFixture() }
        let server = try await fixture.startEmbedded()
        defer { server.terminate() }
        let first = try #require(server.networkProcess, "no network process below shhd \(server.pid)")
        let marker = "77.\(Int.random(in: 100_000...999_999))"
        async let held = fixture.ssh(server, ["sleep \(marker)"])
        let running = await waitUntil(seconds: 60) { !processes(containing: "sleep \(marker)").isEmpty }
        #expect(running, "the session never started: \(server.logText)")
        kill(first, SIGKILL)
        let lost = try await held
        #expect(lost.status == 255, "the connection outlived its network process: \(lost.status) \(lost.stderr)")
        // Listening went on: the next login is served by a new network process.
        let again = try await fixture.ssh(server, ["echo again"])
        #expect(again.status == 0 && again.stdout == "again\n", "\(again.stderr) \(server.logText)")
        let second = server.networkProcess
        #expect(second != nil && second != first, "network process \(String(describing: second)) after \(first)")
        #expect(server.logText.contains("the network process was killed by signal 9"), "\(server.logText)")
        // The dead process's session was hung up by the broker, not left running.
        let gone = await waitUntil(seconds: 30) { processes(containing: "sleep \(marker)").isEmpty }
        #expect(gone, "left running: \(processes(containing: "sleep \(marker)"))")
        let stopped = await server.stopped()
        #expect(stopped == 0, "\(server.logText)")
    }
}

/// Processes whose command line contains `text` (this process left out).
private func processes(containing text: String) -> [String] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> String? in
        guard let pid = pid_t(entry), pid != getpid(),
              let command = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline")) else { return nil }
        let line = String(decoding: command.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        return line.contains(text) ? "\(pid): \(line)" : nil
    }
}

/// The 32-byte seed of an unencrypted OpenSSH ed25519 private key file: the private string is the seed followed by
/// the public key, 64 bytes after a length of 64.
private func ed25519Seed(privateKeyFile path: String) throws -> [UInt8] {
    let text = try readText(path)
    let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
    guard let decoded = Data(base64Encoded: body) else { throw InteropError.missingProgram("a readable key in \(path)") }
    let bytes = [UInt8](decoded)
    let lengthOf64: [UInt8] = [0, 0, 0, 64]
    for start in 0..<(bytes.count - 68) where Array(bytes[start..<start + 4]) == lengthOf64 {
        return Array(bytes[start + 4..<start + 36])
    }
    throw InteropError.missingProgram("an ed25519 private key in \(path)")
}

/// Whether `needle` occurs anywhere in `pid`'s readable memory, and how many bytes could be read.
private func memoryContains(pid: pid_t, _ needle: [UInt8]) throws -> (found: Bool, scanned: Int) {
    let maps = try readText("/proc/\(pid)/maps")
    let memory = open("/proc/\(pid)/mem", O_RDONLY)
    guard memory >= 0 else { throw InteropError.missingProgram("/proc/\(pid)/mem (\(String(cString: strerror(errno))))") }
    defer { close(memory) }
    var scanned = 0
    for line in maps.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, fields[1].hasPrefix("r"), !line.hasSuffix("[vvar]"), !line.hasSuffix("[vsyscall]") else { continue }
        let range = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
        guard range.count == 2, range[1] > range[0] else { continue }
        var region = [UInt8](repeating: 0, count: Int(range[1] - range[0]))
        let count = region.withUnsafeMutableBytes { pread(memory, $0.baseAddress, $0.count, off_t(Int64(bitPattern: range[0]))) }
        guard count > 0 else { continue }
        scanned += count
        if region.withUnsafeBytes({ contains(UnsafeRawBufferPointer(rebasing: $0.prefix(count)), needle) }) { return (true, scanned) }
    }
    return (false, scanned)
}

/// Whether `needle` (not empty) occurs in `haystack`: memchr for its first byte, memcmp for the rest.
private func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
    guard let base = haystack.baseAddress, !needle.isEmpty else { return false }
    var offset = 0
    while offset + needle.count <= haystack.count {
        guard let hit = memchr(base + offset, Int32(needle[0]), haystack.count - offset - needle.count + 1) else { return false }
        if memcmp(hit, needle, needle.count) == 0 { return true }
        offset = UnsafeRawPointer(hit) - base + 1
    }
    return false
}
