// Starting a session's process, apart from serving it: the launcher looks the account up, honours /etc/nologin,
// opens the terminal, picks the command (a forced one wins), builds the environment and spawns; what comes back is
// the process's descriptors and a way to signal and await it. SSHProcessSessionHandler serves those descriptors on
// the connection. In one process (an embedded server, shhd not run as root) SSHLocalSessionLauncher does it all;
// in shhd's network process the launcher asks the root broker, which runs SSHLocalSessionLauncher and passes the
// descriptors back (see ShhdCommand's privilege separation).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import SSHPOSIX
import SSH
import SSHProtocol

/// What a session asks to run, as the launcher needs it.
public struct SSHSessionLaunchRequest: Sendable, Equatable {
    /// The authenticated user name.
    public var user: String
    /// exec, shell or subsystem.
    public var command: SSHSessionCommand
    /// The client's env requests that the server accepted.
    public var environment: [String: [UInt8]]
    /// The client's pty-req, if it asked for a terminal.
    public var terminal: SSHPseudoTerminalRequest?
    /// The client's address (SSH_CLIENT, SSH_CONNECTION).
    public var remoteAddress: SocketAddress?
    /// The server's address the client connected to.
    public var localAddress: SocketAddress?
    /// What authentication granted: a forced command, variables to set.
    public var grant: SSHLoginGrant
    /// The connection's number in its server (which login the session belongs to).
    public var connectionID: UInt64
    /// The forwarded agent's socket (SSH_AUTH_SOCK), when the session has one.
    public var agentSocket: String?

    /// A request with these fields.
    ///
    /// - Parameters:
    ///   - user: The authenticated user name.
    ///   - command: What to run.
    ///   - environment: The accepted env requests.
    ///   - terminal: The pty-req, if any.
    ///   - remoteAddress: The client's address.
    ///   - localAddress: The server's address.
    ///   - grant: What authentication granted.
    ///   - connectionID: The connection's number in its server.
    ///   - agentSocket: The forwarded agent's socket, for SSH_AUTH_SOCK.
    public init(user: String, command: SSHSessionCommand, environment: [String: [UInt8]] = [:], terminal: SSHPseudoTerminalRequest? = nil,
                remoteAddress: SocketAddress? = nil, localAddress: SocketAddress? = nil, grant: SSHLoginGrant = SSHLoginGrant(),
                connectionID: UInt64 = 0, agentSocket: String? = nil) {
        self.agentSocket = agentSocket
        self.connectionID = connectionID
        self.user = user
        self.command = command
        self.environment = environment
        self.terminal = terminal
        self.remoteAddress = remoteAddress
        self.localAddress = localAddress
        self.grant = grant
    }

    /// What `session` asks to run.
    ///
    /// - Parameter session: A session as the server hands it to its handler.
    public init(_ session: SSHServerSession) {
        self.init(user: session.user, command: session.command, environment: session.environment, terminal: session.terminal,
                  remoteAddress: session.remoteAddress, localAddress: session.localAddress, grant: session.grant,
                  connectionID: session.connectionID)
    }
}

/// A started session process: the server's ends of its standard descriptors (owned by whoever serves them), and how
/// to signal and await it.
public struct SSHLaunchedSession: Sendable {
    /// Where its input is written (with a terminal: a descriptor of the terminal's controlling side).
    public var stdin: CInt
    /// Where its output is read (with a terminal: another descriptor of the controlling side, errors included).
    public var stdout: CInt
    /// Where its errors are read; nil with a terminal.
    public var stderr: CInt?
    /// Shown on the terminal before the shell starts (the message of the day).
    public var messageOfTheDay: [UInt8]?
    /// Sends a signal to the session's process group.
    public var signal: @Sendable (Int32) -> Void
    /// Waits for the process to end.
    public var exit: @Sendable () async -> ChildExit

    /// Whether it runs on a terminal (there is no separate stderr then).
    public var hasTerminal: Bool { stderr == nil }

    /// A started session with these descriptors and handlers.
    ///
    /// - Parameters:
    ///   - stdin: Where its input is written.
    ///   - stdout: Where its output is read.
    ///   - stderr: Where its errors are read; nil with a terminal.
    ///   - messageOfTheDay: Shown before the shell starts.
    ///   - signal: Sends a signal to its process group.
    ///   - exit: Waits for it to end.
    public init(stdin: CInt, stdout: CInt, stderr: CInt?, messageOfTheDay: [UInt8]?, signal: @escaping @Sendable (Int32) -> Void,
                exit: @escaping @Sendable () async -> ChildExit) {
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.messageOfTheDay = messageOfTheDay
        self.signal = signal
        self.exit = exit
    }
}

/// What a launch came to.
public enum SSHSessionLaunch: Sendable {
    /// The process runs.
    case started(SSHLaunchedSession)
    /// Not started: `message` goes to the client's stderr and the session ends with `status` (no such account,
    /// /etc/nologin, a spawn that failed).
    case refused(message: [UInt8], status: Int32)
}

/// Starts session processes: in this process (``SSHLocalSessionLauncher``), or by asking shhd's root broker.
public protocol SSHSessionLauncher: Sendable {
    /// Starts the process `request` asks for.
    ///
    /// - Parameter request: The session's user, command, terminal and environment.
    /// - Returns: The started process, or why it was not started (the session then ends with a status).
    /// - Throws: When asking failed altogether (a broker that is gone); the session then fails.
    func launch(_ request: SSHSessionLaunchRequest) async throws -> SSHSessionLaunch
}

/// Starts sessions in this process: as the server's own account, or (as root) as each authenticated user.
public struct SSHLocalSessionLauncher: SSHSessionLauncher {
    private let accounts: SSHProcessSessionHandler.Accounts
    private let serverAccount: SystemAccount
    private let shellOverride: String?
    private let noLoginFiles: [String]
    private let messageOfTheDay: String?
    private let blocking: SSHBlockingWorkPool

    /// A launcher with the settings of ``SSHProcessSessionHandler/init(accounts:shell:terminals:messageOfTheDay:blocking:noLoginFiles:)``.
    ///
    /// - Parameters:
    ///   - accounts: Whose account sessions run as.
    ///   - shell: The shell to run instead of the account's login shell.
    ///   - messageOfTheDay: A file shown before an interactive login shell on a terminal.
    ///   - blocking: Where account lookups, terminal set-up and the spawn run.
    ///   - noLoginFiles: While one of these exists, only root's sessions start.
    public init(accounts: SSHProcessSessionHandler.Accounts = .serverAccount, shell: String? = nil, messageOfTheDay: String? = nil,
                blocking: SSHBlockingWorkPool = .shared, noLoginFiles: [String] = ["/etc/nologin", "/run/nologin"]) {
        self.accounts = accounts
        var account = SystemAccount.current()
        if let shell { account.shell = shell }
        self.serverAccount = account
        self.shellOverride = shell
        self.noLoginFiles = noLoginFiles
        self.messageOfTheDay = messageOfTheDay
        self.blocking = blocking
    }

    private static func refusal(_ text: String, status: Int32 = 254) -> SSHSessionLaunch {
        .refused(message: Array(text.utf8), status: status)
    }

    /// Looks the account up, honours the nologin files, opens the terminal, picks the command (a forced one
    /// wins), builds the environment as sshd does and spawns the process.
    ///
    /// - Parameter request: The session to start.
    /// - Returns: The started process, or a refusal (status 254 for no such account, a nologin file or a failed
    ///   spawn, whose error is the message).
    /// - Throws: `SSHPOSIXError` when the account lookup or the nologin check passes its deadline, or the terminal
    ///   cannot be opened.
    public func launch(_ request: SSHSessionLaunchRequest) async throws -> SSHSessionLaunch {
        let account: SystemAccount
        switch accounts {
        case .serverAccount:
            account = serverAccount
        case .authenticatedUser:
            let user = request.user
            guard var found = try await blocking.run("the account lookup of \(user)", { SystemAccount(named: user) }) else {
                return Self.refusal("no account \(request.user) on this server\n")
            }
            if let shellOverride { found.shell = shellOverride }
            account = found
        }
        if account.uid != 0, !noLoginFiles.isEmpty {
            let files = noLoginFiles
            let notice = try await blocking.run("looking for /etc/nologin") { () -> [UInt8]? in
                for path in files where access(path, F_OK) == 0 {
                    return Self.readSmallFile(path) ?? Array("Logins are currently disabled.\n".utf8)
                }
                return nil
            }
            if let notice { return .refused(message: notice.isEmpty ? Array("Logins are currently disabled.\n".utf8) : notice, status: 254) }
        }
        let changeUser = account.uid != getuid() || account.gid != getgid()

        let shellName = account.shell.split(separator: "/").last.map(String.init) ?? "sh"
        let arguments: [String]
        var originalCommand: String?
        switch (request.command, request.grant.forcedCommand) {
        case (.exec(let command), let forced?):
            originalCommand = String(decoding: command, as: UTF8.self)
            arguments = [shellName, "-c", forced]
        case (_, let forced?):
            arguments = [shellName, "-c", forced]
        case (.exec(let command), nil):
            arguments = [shellName, "-c", String(decoding: command, as: UTF8.self)]
        case (.shell, nil):
            arguments = ["-" + shellName]
        case (.subsystem(let name), nil):
            // Not reached through SSHServer: subsystem requests are refused (acceptsSubsystem). Fail closed all the same.
            return Self.refusal("subsystem \(name) is not available\n", status: 1)
        }
        var showsMessageOfTheDay = false
        if request.terminal != nil, case .shell = request.command, request.grant.forcedCommand == nil { showsMessageOfTheDay = true }
        let (terminalRequest, motdPath) = (request.terminal, showsMessageOfTheDay ? messageOfTheDay : nil)
        // Without a terminal (most exec sessions) there is nothing to set up: no hop to the pool.
        let setUp: TerminalSetUp = terminalRequest == nil ? TerminalSetUp() : try await blocking.run(
            "opening a terminal for \(account.name)",
            discardLate: { (late: TerminalSetUp) in if let terminal = late.terminal { close(terminal.controller); close(terminal.terminal) } }
        ) { () throws -> TerminalSetUp in
            let terminal = try terminalRequest.map { try PseudoTerminal.open(request: $0, owner: account) }
            guard let motdPath, !SSHUserFile.exists(account.home + "/.hushlogin", as: account) else { return TerminalSetUp(terminal: terminal) }
            return TerminalSetUp(terminal: terminal, messageOfTheDay: Self.readSmallFile(motdPath))
        }
        let terminal = setUp.terminal
        let child: SpawnedChild
        do {
            let variables = environment(for: request, account: account, terminal: terminal, originalCommand: originalCommand)
            child = try await blocking.run("starting \(account.shell) for \(account.name)", discardLate: { (late: SpawnedChild) in
                // Started after the session gave up on it: hung up and reaped, its descriptors closed.
                kill(-late.pid, SIGHUP)
                kill(late.pid, SIGKILL)
                for descriptor in [late.stdin, late.stdout] + (late.stderr.map { [$0] } ?? []) { close(descriptor) }
                Task { _ = await ChildProcess.exit(of: late.pid) }
            }) {
                try ChildProcess.spawn(path: account.shell, arguments: arguments, environment: variables, directory: account.home,
                                       account: account, changeUser: changeUser, terminal: terminal)
            }
        } catch {
            // The terminal was the spawn's to close, whether it failed or is still to run (then `discardLate` ends it).
            return Self.refusal("\(error)\n")
        }
        let pid = child.pid
        return .started(SSHLaunchedSession(stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, messageOfTheDay: setUp.messageOfTheDay,
                                           signal: { kill(-pid, $0) }, exit: { await ChildProcess.exit(of: pid) }))
    }

    /// A session's terminal (after pty-req) and the message of the day to show on it.
    private struct TerminalSetUp: Sendable {
        var terminal: PseudoTerminal? = nil
        var messageOfTheDay: [UInt8]? = nil
    }

    /// A file's bytes, up to 64 KiB (nil when unreadable, empty, or larger). Opened without waiting: a FIFO
    /// there must not hold the session.
    private static func readSmallFile(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 64 << 10)
        var total = 0
        while total < bytes.count {
            let count = bytes[total...].withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            total += count
        }
        return total > 0 && total < bytes.count ? Array(bytes.prefix(total)) : nil
    }

    /// The environment sshd gives a session: the account's, where the connection comes from, the terminal, the
    /// variables the client sent that the server accepts, then what the server sets (SetEnv, environment=), which
    /// nothing overrides.
    private func environment(for request: SSHSessionLaunchRequest, account: SystemAccount, terminal: PseudoTerminal?,
                             originalCommand: String?) -> [String] {
        var variables: [String: String] = [
            "HOME": account.home, "USER": account.name, "LOGNAME": account.name, "SHELL": account.shell,
            "PATH": account.uid == 0 ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" : "/usr/local/bin:/usr/bin:/bin:/usr/games",
            "MAIL": "/var/mail/\(account.name)",
        ]
        if let remote = request.remoteAddress, let local = request.localAddress,
           let remoteIP = remote.ipAddress, let remotePort = remote.port, let localIP = local.ipAddress, let localPort = local.port {
            variables["SSH_CLIENT"] = "\(remoteIP) \(remotePort) \(localPort)"
            variables["SSH_CONNECTION"] = "\(remoteIP) \(remotePort) \(localIP) \(localPort)"
        }
        if let terminal, let terminalRequest = request.terminal {
            variables["SSH_TTY"] = terminal.path
            variables["TERM"] = terminalRequest.terminalType
        }
        if let originalCommand { variables["SSH_ORIGINAL_COMMAND"] = originalCommand }
        if let agentSocket = request.agentSocket { variables["SSH_AUTH_SOCK"] = agentSocket }
        for (name, value) in request.environment where variables[name] == nil {
            variables[name] = String(decoding: value, as: UTF8.self)
        }
        for (name, value) in request.grant.environment { variables[name] = value }
        return variables.map { "\($0.key)=\($0.value)" }.sorted()
    }
}
