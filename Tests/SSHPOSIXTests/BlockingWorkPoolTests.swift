// SSHBlockingWorkPool, the pool shhd's authenticator and session launcher put blocking calls on: a result is
// delivered from the pool's thread, or the timeout once (never both) for work that outlives it.
#if canImport(Glibc)
import Glibc
#endif
import SSHPOSIX
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(10))) struct BlockingWorkPoolTests {
    /// The broker's way: a result delivered from the pool's thread, or the timeout once (never both) for work that
    /// outlives it.
    @Test func submittedWorkDeliversOnceResultOrTimeout() async throws {
        // One thread: work runs in order, so once a later job has run, an earlier one has finished delivering.
        let pool = SSHBlockingWorkPool(threads: 1)
        let quick = await withCheckedContinuation { continuation in
            pool.submit("quick", timeout: .seconds(30), { 42 }) { continuation.resume(returning: $0) }
        }
        #expect((try? quick.get()) == 42)
        let deliveries = Mutex<[String]>([])
        let slow = await withCheckedContinuation { continuation in
            pool.submit("slow", timeout: .milliseconds(100), { () -> Int in usleep(600_000); return 7 }) { result in
                deliveries.withLock { $0.append("\(result)") }
                continuation.resume(returning: result)
            }
        }
        guard case .failure(let error) = slow, case .timedOut = error.kind else { Issue.record("no timeout: \(slow)"); return }
        // The late result (after 600 ms) must not be delivered a second time: checked after the next job has run.
        let next = await withCheckedContinuation { continuation in
            pool.submit("next", timeout: .seconds(30), { 1 }) { continuation.resume(returning: $0) }
        }
        #expect((try? next.get()) == 1)
        #expect(deliveries.withLock { $0.count } == 1, "\(deliveries.withLock { $0 })")
    }
}
