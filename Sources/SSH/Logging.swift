// What the library tells a swift-log Logger (ARCHITECTURE convention 7): connections, authentications, sessions and
// channels, each with structured metadata (peer, user, channel, bytes) a log system can index. Silent unless the
// caller gives a logger; `onEvent` and the other callbacks still report the same things to code.
import Logging
import NIOCore

extension Logger {
    /// A logger that drops everything: the default, so an embedding program hears nothing it did not ask for.
    static var silent: Logger { Logger(label: "shh.ssh", factory: { _ in SwiftLogNoOpLogHandler() }) }
}

extension SocketAddress {
    /// "address:port" for log metadata.
    var logDescription: String {
        guard let ip = ipAddress else { return "\(self)" }
        return "\(ip):\(port ?? 0)"
    }
}

extension SSHServerEvent {
    /// Logs this event at the level an administrator expects: connections and sessions at info, refusals at notice.
    func log(to logger: Logger) {
        switch self {
        case .connectionOpened(let remote, let local):
            logger.info("connection opened", metadata: ["peer": "\(remote?.logDescription ?? "-")", "local": "\(local?.logDescription ?? "-")"])
        case .connectionRefused(let remote, _, let reason):
            logger.notice("connection refused", metadata: ["peer": "\(remote?.logDescription ?? "-")", "reason": "\(reason)"])
        case .connectionClosed(let remote, let user, let reason):
            logger.info("connection closed", metadata: ["peer": "\(remote?.logDescription ?? "-")", "user": "\(user)", "reason": "\(reason)"])
        case .sessionStarted(let record):
            logger.info("session started", metadata: record.metadata)
        case .sessionEnded(let record, let exit, let received, let sent):
            var metadata = record.metadata
            metadata["bytes_in"] = received.map { "\($0)" } ?? "-"
            metadata["bytes_out"] = sent.map { "\($0)" } ?? "-"
            switch exit {
            case .status(let status)?: metadata["exit_status"] = "\(status)"
            case .signal(let signal)?: metadata["exit_signal"] = "\(signal.signalName)"
            case nil: metadata["exit"] = "handler failed"
            }
            logger.info("session ended", metadata: metadata)
        }
    }
}

extension SSHServerSessionRecord {
    var metadata: Logger.Metadata {
        ["peer": "\(remoteAddress?.logDescription ?? "-")", "user": "\(user)", "channel": "\(channel)", "terminal": "\(hasTerminal)"]
    }
}
