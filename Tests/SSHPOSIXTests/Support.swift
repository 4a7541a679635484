// What the SSHPOSIX tests share: waiting for a child with a deadline, and naming what a descriptor refers to.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SSHPOSIX
import Testing

/// How `pid` ended, or nil when it did not end within `limit` (it is then killed, and reaped before returning).
func childExit(of pid: pid_t, within limit: Duration = .seconds(30)) async -> ChildExit? {
    await withTaskGroup(of: ChildExit?.self) { group in
        group.addTask { await ChildProcess.exit(of: pid) }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        let first = await group.next() ?? nil
        if first == nil { kill(pid, SIGKILL) }  // the waiting task then returns
        group.cancelAll()
        return first
    }
}

/// What descriptor `descriptor` of process `pid` refers to ("pipe:[1234]", a path), nil when it is not open.
func descriptorTarget(_ descriptor: CInt, of pid: pid_t) -> String? {
    try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(descriptor)")
}

/// The descriptors process `pid` has open, by number.
func openDescriptors(of pid: pid_t) throws -> [CInt: String] {
    var result: [CInt: String] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") {
        guard let number = CInt(name), let target = descriptorTarget(number, of: pid) else { continue }
        result[number] = target
    }
    return result
}

/// Reads `descriptor` to its end (the caller closes every other copy of the write end first); nil when the end
/// does not come within `limit`.
func readAll(_ descriptor: CInt, within limit: Duration = .seconds(30)) -> [UInt8]? {
    let deadline = ContinuousClock.now + limit
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let left = deadline - ContinuousClock.now
        guard left > .zero else { return nil }
        var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = CInt(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
        let ready = poll(&waiting, 1, milliseconds)
        if ready < 0 && errno == EINTR { continue }
        guard ready > 0 else { return nil }
        let count = read(descriptor, &buffer, buffer.count)
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { return output }
        output += buffer.prefix(count)
    }
}

/// The first line `descriptor` yields, read on a thread of its own (never the cooperative pool) and given up after
/// `limit`; nil at end of file or past the deadline.
func readLine(_ descriptor: CInt, within limit: Duration) async -> String? {
    let milliseconds = Int32(limit.components.seconds * 1000)
    return await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            var bytes: [UInt8] = []
            var byte: UInt8 = 0
            var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            while poll(&waiting, 1, milliseconds) == 1, read(descriptor, &byte, 1) == 1, byte != UInt8(ascii: "\n") {
                bytes.append(byte)
            }
            continuation.resume(returning: bytes.isEmpty && byte != UInt8(ascii: "\n") ? nil : String(decoding: bytes, as: UTF8.self))
        }
    }
}
