// The server's long-running work (session handlers, channels a delegate serves) runs as child tasks of
// `SSHServer.run()`, not as unstructured tasks: cancelling `run()` cancels them, and `run()` returns only when
// they have ended. Connections live on event loops, so they hand their work to `run()` through a stream.
import NIOConcurrencyHelpers
import NIOCore

/// One piece of work for `run()`'s task group, with the promise that reports its end to the connection.
final class ServerJob: Sendable {
    private let body: @Sendable () async throws -> Void
    private let done: EventLoopPromise<Void>
    private let started = NIOLockedValueBox(false)

    init(done: EventLoopPromise<Void>, _ body: @escaping @Sendable () async throws -> Void) {
        self.body = body
        self.done = done
    }

    func run() async {
        started.withLockedValue { $0 = true }
        do {
            try await body()
            done.succeed()
        } catch {
            done.fail(error)
        }
    }

    /// A job the server dropped unrun (it was stopping) still ends: its connection sees it fail.
    deinit {
        if !started.withLockedValue({ $0 }) { done.fail(CancellationError()) }
    }
}

/// Where connections hand their work to the server's task group.
struct ServerWorkQueue: Sendable {
    let continuation: AsyncStream<ServerJob>.Continuation

    /// Runs `body` as a child task of `run()`; completes `done` when it ends (fails it at once if the server has
    /// stopped taking work).
    func submit(done: EventLoopPromise<Void>, _ body: @escaping @Sendable () async throws -> Void) {
        continuation.yield(ServerJob(done: done, body))
    }
}
