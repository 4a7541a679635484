// shh: what users type instead of ssh. Parses ssh's command line, reads ssh_config, checks the host key against
// known_hosts, authenticates with the identities ssh would use, runs the command with stdin, stdout and stderr
// streamed, and exits with the remote command's status (255 for its own failures, as ssh).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import NIOCore
import OpenSSHConfig
import SSH
import SSHCommandLine
import SSHKeys
import SSHProtocol

/// shh, the ssh client, runnable in-process: what the `shh` executable calls.
public enum Shh {
    /// Runs shh with `arguments` (without the program name) and returns the exit status.
    public static func run(_ arguments: [String]) async -> Int32 {
        // First: the background half of -f must not pass its marker on to anything it starts.
        let readyDescriptor = Background.takeReadyDescriptor()
        let diagnostics = Diagnostics()
        let parsed: ShhArguments
        do {
            parsed = try ShhArguments.parse(arguments)
        } catch let failure as ShhFailure {
            // A name refused for what it holds: the message alone, as ssh prints it (no usage).
            diagnostics.error(failure.message)
            return 255
        } catch {
            diagnostics.error("shh: \(error)")
            diagnostics.error(usage)
            return 255
        }
        if parsed.printVersion {
            diagnostics.error("shh_\(ShhVersion.number), SSH protocols 2.0")
            return 0
        }
        if let query = parsed.query { return Self.query(query, diagnostics: diagnostics) }
        guard let host = parsed.host else {
            diagnostics.error(usage)
            return 255
        }
        if let logFile = parsed.logFile, !diagnostics.redirect(to: logFile) {
            diagnostics.error("shh: cannot open log file \(logFile): \(String(cString: strerror(errno)))")
            return 255
        }
        do {
            let settings = try ClientSettings.resolve(parsed, host: host, diagnostics: diagnostics)
            if parsed.printConfiguration {
                TerminalPrompt.writeAll(STDOUT_FILENO, settings.printed())
                return 0
            }
            if settings.forkAfterAuthentication && readyDescriptor == nil {
                if parsed.command.isEmpty && settings.remoteCommand == nil && !settings.noSession {
                    throw ShhFailure("Cannot fork into background without a command to execute.")
                }
                return await Background.startAndWait(arguments: arguments, diagnostics: diagnostics)
            }
            return try await Session(settings: settings, arguments: parsed, diagnostics: diagnostics,
                                     readyDescriptor: readyDescriptor).run()
        } catch let error as ShhFailure {
            diagnostics.error(error.message)
            return 255
        } catch let error as OpenSSHConfigError {
            diagnostics.error(error.description)
            return 255
        } catch is HostKeyVerificationFailed {
            return 255
        } catch {
            diagnostics.error("shh: \(error)")
            return 255
        }
    }

    static let usage = """
        usage: shh [-46AaCfGgKkMNnqsTtVvXxYy] [-B bind_interface] [-b bind_address]
                   [-c cipher_spec] [-D [bind_address:]port] [-E log_file]
                   [-e escape_char] [-F configfile] [-I pkcs11] [-i identity_file]
                   [-J destination] [-L address] [-l login_name] [-m mac_spec]
                   [-O ctl_cmd] [-o option] [-P tag] [-p port] [-Q query_option]
                   [-R address] [-S ctl_path] [-W host:port] [-w local_tun[:remote_tun]]
                   destination [command [argument ...]]
        """

    /// -Q: the algorithms shh supports, one per line.
    static func query(_ what: String, diagnostics: Diagnostics) -> Int32 {
        let names: [String]
        switch what.lowercased() {
        case "cipher", "ciphers": names = SSHCipherAlgorithm.allCases.map(\.rawValue)
        case "cipher-auth": names = SSHCipherAlgorithm.allCases.filter(\.isAEAD).map(\.rawValue)
        case "mac", "macs": names = SSHMACAlgorithm.allCases.map(\.rawValue)
        case "kex", "kexalgorithms": names = SSHKeyExchangeAlgorithm.allCases.map(\.rawValue)
        case "key", "hostkeyalgorithms", "pubkeyacceptedalgorithms":
            names = SSHHostKeyAlgorithm.defaults.map(\.name)
        case "key-plain": names = SSHHostKeyAlgorithm.defaults.filter { !$0.isCertificate }.map(\.name)
        case "key-cert": names = SSHHostKeyAlgorithm.defaults.filter(\.isCertificate).map(\.name)
        case "sig": names = SSHHostKeyAlgorithm.defaults.filter { !$0.isCertificate }.map(\.name)
        case "protocol-version": names = ["2"]
        default:
            diagnostics.error("shh: Unsupported query \"\(what)\"")
            return 255
        }
        TerminalPrompt.writeAll(STDOUT_FILENO, names.map { $0 + "\n" }.joined())
        return 0
    }
}

/// A failure of shh itself, with the message ssh would print.
struct ShhFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
