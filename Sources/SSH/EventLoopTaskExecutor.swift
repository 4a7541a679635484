// Runs a policy's async decision on the connection's own event loop (an SE-0417 task executor) instead of Swift's
// cooperative thread pool. The pool has as many threads as cores (two here) and belongs to whoever embeds the
// library: code that holds its threads (CPU-bound work, a blocking call) must not stall logins. Decisions that do
// blocking work hand it to a pool made for that (SSHServerHost's SSHBlockingWorkPool), so the event loop never
// waits either.
import NIOCore

/// A `TaskExecutor` whose jobs run on one NIO event loop.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

extension EventLoopPromise where Value: Sendable {
    /// Completes the promise with what `body` returns, running `body` (and the tasks it starts) on the promise's
    /// event loop, not on the cooperative pool.
    func completeOnEventLoop(_ body: @escaping @Sendable () async -> Value) {
        let executor = EventLoopTaskExecutor(futureResult.eventLoop)
        Task(executorPreference: executor) { self.succeed(await body()) }
    }

    /// The same for a `body` that can fail.
    func completeOnEventLoop(_ body: @escaping @Sendable () async throws -> Value) {
        let executor = EventLoopTaskExecutor(futureResult.eventLoop)
        Task(executorPreference: executor) {
            do { self.succeed(try await body()) } catch { self.fail(error) }
        }
    }
}
