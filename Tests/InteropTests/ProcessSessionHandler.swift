// A session handler for test servers: runs the command with /bin/sh as the current user through Foundation's
// Process (the real spawn shim, with users, PTYs and a clean environment, is shhd's). Pipes are served by
// dispatch, never by blocking reads on the cooperative thread pool.
import Dispatch
import Foundation
import NIOCore
import SSH
import SSHProtocol

struct ProcessSessionHandler: SSHSessionHandler {
    static let signalNames: [Int32: String] = [1: "HUP", 2: "INT", 3: "QUIT", 6: "ABRT", 9: "KILL", 10: "USR1", 11: "SEGV",
                                               12: "USR2", 13: "PIPE", 14: "ALRM", 15: "TERM"]

    func runSession(_ session: SSHServerSession) async throws -> SSHSessionExit {
        let process = Process()
        // Through a trampoline that restores default signals (see withDefaultSignals): otherwise `kill -TERM $$`
        // would do nothing. (shhd's own spawn shim resets signals itself.)
        let shellArguments: [String]
        switch session.command {
        case .exec(let command): shellArguments = ["-c", String(decoding: command, as: UTF8.self)]
        case .shell: shellArguments = []
        case .subsystem: return .status(1)
        }
        let (program, arguments) = withDefaultSignals("/bin/sh", shellArguments)
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        let (outputStream, outputContinuation) = AsyncStream.makeStream(of: (Bool, Data).self)
        let openStreams = OpenStreamCount()
        for (handle, isError) in [(output.fileHandleForReading, false), (errors.fileHandleForReading, true)] {
            handle.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty {
                    handle.readabilityHandler = nil
                    if openStreams.closeOne() { outputContinuation.finish() }
                } else {
                    outputContinuation.yield((isError, data))
                }
            }
        }
        let exited = AsyncStream.makeStream(of: Process.self)
        process.terminationHandler = { exited.continuation.yield($0); exited.continuation.finish() }
        try process.run()

        // stdin: written in order on a serial queue, closed at the client's EOF.
        let writer = DispatchQueue(label: "stdin")
        let stdinHandle = input.fileHandleForWriting
        let feeder = Task {
            do {
                for try await element in session.channel.input {
                    switch element {
                    case .data(let bytes):
                        let data = Data(bytes.readableBytesView)
                        writer.async { try? stdinHandle.write(contentsOf: data) }
                    case .eof:
                        writer.async { try? stdinHandle.close() }
                        return
                    default:
                        break
                    }
                }
            } catch {}
            writer.async { try? stdinHandle.close() }
        }
        // Output is forwarded while the command runs. The session ends when the command exits: what it wrote is
        // then drained without waiting for end-of-file, because a process spawned meanwhile by a parallel test
        // may have inherited our pipes' write ends and would hold them open.
        let forwarder = Task {
            for await (isError, data) in outputStream {
                let buffer = ByteBuffer(bytes: data)
                if isError { try await session.channel.writeStderr(buffer) } else { try await session.channel.write(buffer) }
            }
        }
        var finished: Process?
        for await process in exited.stream { finished = process }
        for (handle, isError) in [(output.fileHandleForReading, false), (errors.fileHandleForReading, true)] {
            handle.readabilityHandler = nil
            let fd = handle.fileDescriptor
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(fd, &buffer, buffer.count)
                guard count > 0 else { break }
                outputContinuation.yield((isError, Data(buffer[0..<count])))
            }
        }
        outputContinuation.finish()
        try await forwarder.value
        feeder.cancel()
        guard let finished else { return .status(255) }
        if finished.terminationReason == .uncaughtSignal {
            return .signal(SSHExitSignal(signalName: Self.signalNames[finished.terminationStatus] ?? "KILL"))
        }
        return .status(finished.terminationStatus)
    }
}

/// Counts stdout and stderr down to zero from the pipes' handlers.
private final class OpenStreamCount: @unchecked Sendable {
    private let lock = NSLock()
    private var open = 2
    /// Returns true when the last one closed.
    func closeOne() -> Bool { lock.withLock { open -= 1; return open == 0 } }
}
