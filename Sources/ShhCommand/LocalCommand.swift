// LocalCommand (ssh_config(5)): with PermitLocalCommand yes, a command run on this machine once the connection is
// authenticated and before the session starts, as ssh's ssh_local_cmd does it: `$SHELL -c command` (/bin/sh when
// SHELL is unset or empty), with shh's standard input, output and error, waited for. Its exit status changes
// nothing, as in ssh.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SSHPOSIX

enum LocalCommand {
    /// The shell ssh runs the user's commands with (LocalCommand, ProxyCommand): SHELL from the environment, not the
    /// password database, so a shell started with another SHELL gets that one, as with ssh.
    static var shell: String {
        ProcessEnvironment.variables["SHELL"].flatMap { $0.isEmpty ? nil : $0 } ?? "/bin/sh"
    }

    /// Runs `command` (tokens already expanded) and waits for it on a thread of its own (ChildProcess.exit), never
    /// on an event loop or the cooperative pool. A command that cannot be started is reported, and shh goes on.
    static func run(_ command: String, diagnostics: Diagnostics) async {
        let shell = Self.shell
        diagnostics.debug("Executing \(shell) -c \"\(command)\"", level: .debug3)
        do {
            // No descriptor actions: 0, 1 and 2 are inherited, everything else is closed in the child.
            let pid = try ProgramSpawn.start(shell, arguments: ["-c", command], environment: ProcessEnvironment.entries)
            let exit = await ChildProcess.exit(of: pid)
            diagnostics.debug("LocalCommand ended: \(exit)", level: .debug3)
        } catch {
            let reason = if let error = error as? SSHPOSIXError, case .systemCall(_, let code) = error.kind { String(cString: strerror(code)) } else { "\(error)" }
            diagnostics.error("Couldn't execute \(shell) -c \"\(command)\": \(reason)")
        }
    }
}
