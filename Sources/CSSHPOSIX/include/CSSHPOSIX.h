// C helpers for SSHPOSIX (client and server alike): the few system interfaces Swift does not import (GNU
// extensions and macros), descriptor passing, and the session-spawning shim (a vfork-style child running only system
// calls), which Swift cannot write safely. No library beyond libc: the client links this too.
#ifndef CSSHPOSIX_H
#define CSSHPOSIX_H

#include <spawn.h>
#include <sys/types.h>

/// pipe2(fds, O_CLOEXEC): both ends close-on-exec from the start, so a process spawned by another thread in the
/// meantime cannot inherit them. Returns 0, or -1 with errno set.
int shh_pipe_cloexec(int fds[2]);

/// posix_spawn_file_actions_addclosefrom_np(actions, from) (glibc 2.34+): the child closes every descriptor from
/// `from` up before exec, whatever the parent left without close-on-exec (other libraries' pipes and sockets).
/// Returns 0, or an errno value (ENOSYS where the C library lacks it).
int shh_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from);

/// glibc's POSIX_SPAWN_SETSID (a GNU extension): the child starts a new session.
int shh_posix_spawn_setsid_flag(void);

/// Opens a new pseudo-terminal: `controller` gets its controlling side (close-on-exec), `path` the name of its
/// terminal side (/dev/pts/N), which the process that should own it opens. Returns 0, or -1 with errno set.
int shh_open_pseudo_terminal(int *controller, char *path, size_t path_size);

/// fcntl(fd, F_SETPIPE_SZ, size) (Linux): lets a pipe hold `size` bytes, so a bulk writer and reader wake each
/// other less often. Returns the new capacity, or -1 with errno set (not a pipe, or above the system's limit).
int shh_grow_pipe(int fd, int size);

/// What a session's process is started with. Every pointer is prepared by the caller beforehand: the child only
/// makes system calls.
struct shh_session_spawn {
    const char *path;            // the program (the account's shell)
    char *const *argv;           // NULL-terminated
    char *const *envp;           // NULL-terminated, exactly the session's environment
    int stdin_fd, stdout_fd, stderr_fd;  // become 0, 1, 2 (with a terminal: all three the terminal's side)
    int terminal_fd;             // -1, or the terminal side of a pseudo-terminal: becomes the controlling terminal
    int change_user;             // nonzero: setgroups(groups), setgid(gid), setuid(uid) before exec (needs root)
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t group_count;
    const char *directory;       // chdir here; "/" if it fails (sshd does the same, with a message)
};

/// Starts a session process: clone (sharing memory until exec, as posix_spawn does); in the child a new session
/// (setsid), the terminal (if any) as controlling
/// terminal, descriptors 0-2 set and every other one closed, default signal dispositions and an empty mask,
/// the user changed (if asked), the directory, then exec. Returns the pid, or -1 with errno set; `failed_step`
/// names the step that failed ("setuid", "exec", ...), in the child or here.
pid_t shh_spawn_session(const struct shh_session_spawn *spawn, const char **failed_step);

/// A SOCK_SEQPACKET socket pair (message boundaries kept, descriptors can ride along), close-on-exec.
int shh_seqpacket_pair(int fds[2]);

/// Sends one message with up to 8 descriptors (SCM_RIGHTS). Returns the bytes sent or -1 with errno. With
/// `dont_wait`, a full socket is EAGAIN instead of a wait.
ssize_t shh_send_message(int socket, const void *bytes, size_t length, const int *fds, size_t fd_count, int dont_wait);

/// Receives one message into `bytes` (at most `capacity`) and up to `max_fds` descriptors (close-on-exec; any
/// beyond are closed). Returns the message's length (0: the peer closed), or -1 with errno; a message longer
/// than `capacity` is an error (EMSGSIZE) and its descriptors are closed.
ssize_t shh_receive_message(int socket, void *bytes, size_t capacity, int *fds, size_t max_fds, size_t *fd_count);

/// Opens a user's own file (authorized_keys, ~/.ssh/environment, ~/.hushlogin) with that user's rights and
/// without being fooled by what the path holds. `resolved` is an absolute path without symbolic links (realpath's
/// answer); it is walked from "/" one component at a time with openat(O_NOFOLLOW), so a link swapped in after
/// realpath makes the open fail instead of leading elsewhere, and what is checked is what is opened. The file is
/// opened O_NONBLOCK (a FIFO cannot hang the caller) and must be a regular file. With `strict` (StrictModes, as
/// sshd's secure_filename): the file and each directory from it up to `home` (or up to "/" when it lies
/// elsewhere) must be owned by root or `uid` and writable by nobody else.
/// When the process runs as root, the calling thread (only it: raw syscalls, not glibc's process-wide wrappers)
/// takes the user's filesystem identity (fsuid, fsgid, groups) for the walk and gets root's back before returning.
/// Returns the descriptor (O_CLOEXEC), or -1 with errno set (ENOENT: no such file); -2 when the file or a
/// directory breaks the rules, with the reason in `problem`.
int shh_open_user_file(const char *resolved, const char *home, uid_t uid, gid_t gid, const gid_t *groups, size_t group_count,
                       int strict, char *problem, size_t problem_size);

#endif
