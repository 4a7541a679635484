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

/// What `shh_socket_as_user` does, in a child that has become the user.
enum shh_socket_operation {
    SHH_SOCKET_CONNECT = 1,       // connect to `path` (non-blocking); the connected socket comes back
    SHH_SOCKET_LISTEN = 2,        // bind `path` (with `unlink_existing`, a stale socket there is removed first) and listen
    SHH_SOCKET_MAKE_DIRECTORY_AND_LISTEN = 3,  // mkdir `directory` 0700, then as SHH_SOCKET_LISTEN
    SHH_SOCKET_REMOVE = 4,        // unlink `path`, then rmdir `directory`
};

/// A Unix-socket operation to do with a user's rights. Every pointer is prepared before the call: the child only
/// makes system calls.
struct shh_socket_as_user_request {
    int operation;
    const char *path;
    const char *directory;       // for SHH_SOCKET_MAKE_DIRECTORY_AND_LISTEN and SHH_SOCKET_REMOVE
    int unlink_existing;
    mode_t mask;                 // the umask the socket file is made with (StreamLocalBindMask)
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t group_count;
};

/// Does `request` as the user, truly: a forked child takes the user's groups, gid and uid (real, effective and
/// saved, with raw system calls: only async-signal-safe calls after fork), checks that root is out of reach, does
/// the operation and passes the descriptor back over a socket pair (SCM_RIGHTS); this thread waits for it. A
/// socket made so carries the user's credentials (SO_PEERCRED), not root's, and the kernel checks the user's
/// permissions on every path. Blocks: call it from a pool for blocking work.
/// Returns the descriptor (close-on-exec, non-blocking), 0 for SHH_SOCKET_REMOVE, or -1 with errno and the step
/// that failed ("setuid", "connect", "bind", ...).
int shh_socket_as_user(const struct shh_socket_as_user_request *request, const char **failed_step);

#endif
