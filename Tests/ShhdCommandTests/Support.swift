// What several ShhdCommand tests share: shhd's real authenticator for made-up users of the running account.
import Foundation
import OpenSSHConfig
import SSHKeys
import SSHServerHost
import SSHPOSIX
@testable import ShhdCommand

/// shhd's authenticator for made-up users of the running account (home `directory`), whose keys are written to
/// DIR/%u.keys, with `moreConfig` after the AuthorizedKeysFile and StrictModes lines; its log goes to DIR/shhd.log.
func madeUpUsersAuthenticator(directory: String, keys: [String: SSHPublicKey], moreConfig: String = "") throws -> ShhdAuthenticator {
    for (user, key) in keys { try "\(key)\n".write(toFile: "\(directory)/\(user).keys", atomically: true, encoding: .utf8) }
    let file = try SSHServerConfigFile.read(text: "AuthorizedKeysFile \(directory)/%u.keys\nStrictModes no\n" + moreConfig, path: "test")
    let log = ServerLog()
    _ = log.redirect(to: directory + "/shhd.log")
    let running = SystemAccount.current()
    return ShhdAuthenticator(file: file, global: file.settings(for: nil), runningAccount: running, log: log,
                             lookUpAccount: { SystemAccount(name: $0, uid: running.uid, gid: running.gid, home: directory, shell: "/bin/sh") })
}
