// Where a server's blocking system calls run: account and group lookups (NSS may be LDAP or SSSD and take seconds),
// reading a user's files (authorized_keys, ~/.ssh/environment, banners), crypt(3), opening terminals and spawning
// sessions. Never on an event loop (it would stall every connection on that loop) and never on Swift's cooperative
// pool (two threads here, shared with whatever else the process runs). Each piece of work has a deadline: when it
// passes, the caller is told and goes on; the thread finishes the call on its own, and work that had not started
// by then is dropped (or, when it owns descriptors or a process, run and its result released).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A bounded pool of threads for blocking work, with a deadline on each piece.
///
/// Account lookups, reads of a user's files, crypt(3) and spawning block; on an event loop they would stall every
/// connection of that loop. A call that passes its deadline fails for its caller, who goes on; the thread finishes
/// the call on its own.
///
/// ```swift
/// let account = try await SSHBlockingWorkPool.shared.run("the account lookup of alice") {
///     SystemAccount(named: "alice")
/// }
/// ```
public final class SSHBlockingWorkPool: Sendable {
    /// The pool servers share unless given another: 16 threads, enough that a few lookups hung on a slow directory
    /// service leave the rest flowing, few enough that a flood cannot make thousands.
    public static let shared = SSHBlockingWorkPool(threads: 16)

    private let threads: NIOThreadPool
    /// Times the deadlines (a timer only, nothing runs there).
    private let timers: any EventLoop

    /// A pool of its own, with its threads started.
    ///
    /// - Parameter threads: How many threads; at least one is started whatever is given.
    public init(threads: Int) {
        self.threads = NIOThreadPool(numberOfThreads: max(1, threads))
        self.threads.start()
        timers = MultiThreadedEventLoopGroup.singleton.next()
    }

    deinit {
        // Threads still inside a call finish it and then end; nothing waits for them here.
        threads.shutdownGracefully { _ in }
    }

    /// Runs `work` on one of the pool's threads and returns its result.
    ///
    /// A result that arrives after the caller gave up goes to `discardLate`, which releases what it holds
    /// (descriptors, a child process). Without `discardLate`, work still queued when the deadline passes never runs.
    ///
    /// - Parameters:
    ///   - what: What the work is, for the timeout's message ("the account lookup of alice").
    ///   - timeout: How long the caller waits.
    ///   - discardLate: Releases a result that came after the timeout; given, the work runs even when it is late.
    ///   - work: The blocking call.
    /// - Returns: What `work` returned.
    /// - Throws: ``SSHPOSIXError`` of kind ``SSHPOSIXError/Kind/timedOut(what:after:)`` when `work` has not finished
    ///   within `timeout`; otherwise whatever `work` throws.
    public func run<T: Sendable>(_ what: String, timeout: Duration = .seconds(10), discardLate: (@Sendable (T) -> Void)? = nil,
                                 _ work: @escaping @Sendable () throws -> T) async throws -> T {
        let outcome = NIOLockedValueBox<Outcome<T>>(.waiting)
        return try await withCheckedThrowingContinuation { continuation in
            outcome.withLockedValue { $0 = .pending(continuation) }
            let deadline = timers.scheduleTask(in: TimeAmount(timeout)) {
                Self.finish(outcome, with: .failure(SSHPOSIXError(.timedOut(what: what, after: timeout))))
            }
            threads.submit { state in
                // Dropped when no longer wanted (the deadline passed while it queued), unless it owns something that
                // only running it releases (`discardLate` is given): then it runs and its result is discarded.
                guard state == .active, discardLate != nil || outcome.withLockedValue({ $0.isPending }) else { return }
                let result = Result { try work() }
                deadline.cancel()
                if !Self.finish(outcome, with: result), case .success(let late) = result { discardLate?(late) }
            }
        }
    }

    /// `run` without a task waiting: `work` runs on one of the pool's threads and `deliver` gets its result there —
    /// or, on the timer's thread, the timeout if `work` has not finished within `timeout` (a late result is dropped;
    /// work still queued then never runs). One thread hop instead of a task's several: the privilege broker sends
    /// each reply this way.
    ///
    /// - Parameters:
    ///   - what: What the work is, for the timeout's message.
    ///   - timeout: How long until `deliver` gets the timeout instead.
    ///   - work: The blocking call.
    ///   - deliver: Called exactly once: with `work`'s result, or with ``SSHPOSIXError/Kind/timedOut(what:after:)``.
    public func submit<T: Sendable>(_ what: String, timeout: Duration = .seconds(10), _ work: @escaping @Sendable () -> T,
                                    deliver: @escaping @Sendable (Result<T, SSHPOSIXError>) -> Void) {
        let delivered = NIOLockedValueBox(false)
        @Sendable func claim() -> Bool {
            delivered.withLockedValue { done in
                defer { done = true }
                return !done
            }
        }
        let deadline = timers.scheduleTask(in: TimeAmount(timeout)) {
            if claim() { deliver(.failure(SSHPOSIXError(.timedOut(what: what, after: timeout)))) }
        }
        threads.submit { state in
            guard state == .active, !delivered.withLockedValue({ $0 }) else { return }
            let result = work()
            if claim() {
                deadline.cancel()
                deliver(.success(result))
            }
        }
    }

    private enum Outcome<T: Sendable> {
        case waiting
        case pending(CheckedContinuation<T, any Error>)
        case finished

        var isPending: Bool { if case .pending = self { true } else { false } }
    }

    /// Resumes the caller with `result` unless it was resumed already; whether it was this call that did.
    @discardableResult
    private static func finish<T>(_ outcome: NIOLockedValueBox<Outcome<T>>, with result: Result<T, any Error>) -> Bool {
        let continuation: CheckedContinuation<T, any Error>? = outcome.withLockedValue { state in
            guard case .pending(let continuation) = state else { return nil }
            state = .finished
            return continuation
        }
        continuation?.resume(with: result)
        return continuation != nil
    }
}
