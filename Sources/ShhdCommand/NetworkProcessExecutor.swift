// Swift Concurrency's jobs in shhd's network process run on NIO's event-loop threads instead of libdispatch's
// worker pool. libdispatch watches that pool on Linux by reading /proc/<tid>/stat of its workers whenever work is
// waiting, and stops the process with a deliberate trap ("registered worker exited prematurely") when it cannot
// open the file — which is always, once the network process is chrooted to an empty directory. Seen as SIGILL in
// about one of 200 sessions under load before this.
//
// Delayed jobs (Task.sleep) still go to libdispatch's pool on this runtime (the hooks for them are not consulted),
// so code that runs in the network process waits with its event loop's timers (scheduleTask), never Task.sleep.
import NIOCore
import NIOPosix

enum NetworkProcessExecutor {
    /// Installs NIO's singleton event-loop group as the global executor; must run on the main thread before any
    /// task starts. False when the runtime does not allow it.
    static func install() -> Bool {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
