// ProxyCommand (ssh_config(5)): the connection runs over a command's standard input and output instead of a
// TCP socket, as ssh's ssh_proxy_connect does: `$SHELL -c "exec command"`, its standard error left as ours, and
// a SIGHUP to it when shh is done.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SSHPOSIX

struct ProxyCommandProcess: Sendable {
    let pid: pid_t
    /// Our end of its standard output: what the server sends.
    let fromProxy: Int32
    /// Our end of its standard input: what goes to the server.
    let toProxy: Int32

    /// Starts `command` (tokens already expanded). Throws ShhFailure when it cannot be started.
    static func start(_ command: String) throws -> ProxyCommandProcess {
        let toChild = try Descriptors.pipe()
        let fromChild: (read: CInt, write: CInt)
        do {
            fromChild = try Descriptors.pipe()
        } catch {
            close(toChild.read)
            close(toChild.write)
            throw failure(command, error)
        }
        let shell = LocalCommand.shell
        let pid: pid_t
        do {
            // Its standard error stays ours, as with ssh.
            pid = try ProgramSpawn.start(shell, arguments: ["-c", "exec \(command)"], environment: ProcessEnvironment.entries,
                                         actions: [.duplicate(toChild.read, as: STDIN_FILENO), .duplicate(fromChild.write, as: STDOUT_FILENO)])
        } catch {
            close(toChild.read)
            close(fromChild.write)
            close(toChild.write)
            close(fromChild.read)
            throw failure(command, error)
        }
        close(toChild.read)
        close(fromChild.write)
        return ProxyCommandProcess(pid: pid, fromProxy: fromChild.read, toProxy: toChild.write)
    }

    /// Tells the command the connection is over (SIGHUP, as ssh) and reaps it if it has already gone.
    func hangUp() {
        kill(pid, SIGHUP)
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }

    private static func failure(_ command: String, _ error: any Error) -> ShhFailure {
        let reason = if let error = error as? SSHPOSIXError, case .systemCall(_, let code) = error.kind { String(cString: strerror(code)) } else { "\(error)" }
        return ShhFailure("shh: cannot run proxy command \"\(command)\": \(reason)")
    }
}
