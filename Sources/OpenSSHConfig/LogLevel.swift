// LogLevel as ssh_config and sshd_config spell it is SSHCommandLine's LogLevel (one type for the command line's -v
// count, the config files and the typed options); what only the config reader needs lives here.
import SSHCommandLine

extension LogLevel {
    /// The names a LogLevel value may have, for an error message.
    static let expectedNames = "QUIET, FATAL, ERROR, INFO, VERBOSE or DEBUG1-3"
}
