// C helpers for SSHServerHost: the few system interfaces Swift does not import (GNU extensions and macros).
// shhd's session-spawning shim (fork, then only async-signal-safe calls) will live here too.
#ifndef CSSHHOST_H
#define CSSHHOST_H

#include <spawn.h>

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

#endif
