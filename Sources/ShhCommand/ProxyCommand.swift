// ProxyCommand (ssh_config(5)): the connection runs over a command's standard input and output instead of a
// TCP socket, as ssh's ssh_proxy_connect does: `$SHELL -c "exec command"`, its standard error left as ours, and
// a SIGHUP to it when shh is done.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSSHHost

struct ProxyCommandProcess: Sendable {
    let pid: pid_t
    /// Our end of its standard output: what the server sends.
    let fromProxy: Int32
    /// Our end of its standard input: what goes to the server.
    let toProxy: Int32

    /// Starts `command` (tokens already expanded). Throws ShhFailure when it cannot be started.
    static func start(_ command: String) throws -> ProxyCommandProcess {
        var toChild: [Int32] = [-1, -1]
        var fromChild: [Int32] = [-1, -1]
        guard shh_pipe_cloexec(&toChild) == 0 else { throw failure(command, errno) }
        guard shh_pipe_cloexec(&fromChild) == 0 else {
            let saved = errno
            toChild.forEach { close($0) }
            throw failure(command, saved)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], STDOUT_FILENO)
        _ = shh_spawn_file_actions_addclosefrom(&actions, 3)
        let shell = processEnvironment()["SHELL"].flatMap { $0.isEmpty ? nil : $0 } ?? "/bin/sh"
        let words: [String] = [shell, "-c", "exec \(command)"]
        var argv = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, shell, &actions, nil, &argv, environ)
        close(toChild[0])
        close(fromChild[1])
        guard spawned == 0 else {
            close(toChild[1])
            close(fromChild[0])
            throw failure(command, spawned)
        }
        return ProxyCommandProcess(pid: pid, fromProxy: fromChild[0], toProxy: toChild[1])
    }

    /// Tells the command the connection is over (SIGHUP, as ssh) and reaps it if it has already gone.
    func hangUp() {
        kill(pid, SIGHUP)
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }

    private static func failure(_ command: String, _ code: Int32) -> ShhFailure {
        ShhFailure("shh: cannot run proxy command \"\(command)\": \(String(cString: strerror(code)))")
    }
}
