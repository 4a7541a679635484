// C helpers only a server needs: password checks against the shadow database (crypt_r, so this module links
// libcrypt and the client never does) and the network process's final drop of root.
#ifndef CSSHSERVERHOST_H
#define CSSHSERVERHOST_H

#include <sys/types.h>

/// Whether `user`'s password is `password` (crypt_r against the shadow entry, or the password database's field):
/// 1 yes, 0 no, -1 out of memory. Locked ("!"), disabled ("*") and empty fields never match, except an empty field
/// with an empty password when `permit_empty` (PermitEmptyPasswords). Unknown users take as long as known ones.
/// Reading /etc/shadow needs root.
int shh_check_password(const char *user, const char *password, int permit_empty);

/// The account's state in the shadow file: 0 usable, 1 locked (the hash starts with "!"), 2 expired.
int shh_account_state(const char *user);

/// shhd's network process gives up root for good: chroot to `root` (an empty directory), then the one group
/// `gid`, gid and uid (real, effective and saved, every thread: glibc broadcasts set*id; with them go all
/// capabilities), and checks that root cannot be had back. 0, or -1 with errno and the step that failed.
int shh_drop_privileges(const char *root, uid_t uid, gid_t gid, const char **failed_step);

#endif
