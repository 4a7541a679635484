#define _GNU_SOURCE
#include <errno.h>
#include <pwd.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include "CSSHPOSIX.h"

int shh_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int shh_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
#else
    (void)actions; (void)from;
    return ENOSYS;
#endif
}

int shh_posix_spawn_setsid_flag(void) {
#ifdef POSIX_SPAWN_SETSID
    return POSIX_SPAWN_SETSID;
#else
    return 0;
#endif
}

int shh_open_pseudo_terminal(int *controller, char *path, size_t path_size) {
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (grantpt(fd) != 0 || unlockpt(fd) != 0 || ptsname_r(fd, path, path_size) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    *controller = fd;
    return 0;
}

int shh_grow_pipe(int fd, int size) {
#ifdef F_SETPIPE_SZ
    return fcntl(fd, F_SETPIPE_SZ, size);
#else
    (void)fd; (void)size;
    errno = ENOSYS;
    return -1;
#endif
}

// The child runs on a stack of its own in the parent's memory (clone with CLONE_VM | CLONE_VFORK, as glibc's
// posix_spawn does): no page tables are copied and the parent takes no copy-on-write faults afterwards, which with
// fork() cost more than the rest of a login put together. The parent waits (CLONE_VFORK) until the child has
// exec'd or failed; a failure leaves the step and errno in `spawn_child`, shared memory being shared.
static const char *const spawn_steps[] = {
    "setsid", "TIOCSCTTY", "dup2", "setgroups", "setgid", "setuid", "exec",
};

enum { STEP_SETSID, STEP_CTTY, STEP_DUP2, STEP_SETGROUPS, STEP_SETGID, STEP_SETUID, STEP_EXEC };

struct spawn_child {
    const struct shh_session_spawn *spawn;
    volatile int failed_step;
    volatile int failed_errno;
};

static void child_failed(struct spawn_child *child, int step) {
    child->failed_errno = errno;
    child->failed_step = step;
    _exit(127);
}

/// Moves `fd` above 2 (so dup2 into 0-2 cannot clobber another of the child's sources).
static int above_standard(int fd) {
    return fd > 2 ? fd : fcntl(fd, F_DUPFD, 3);
}

/// The child: only system calls. Credentials change through raw syscalls: glibc's setuid() would try to change
/// every thread of what it believes is its process — the parent's threads, in this shared memory — while the raw
/// call changes only this one, which is the whole child.
static int session_child(void *opaque) {
    struct spawn_child *child = opaque;
    const struct shh_session_spawn *spawn = child->spawn;
    struct sigaction default_action;
    memset(&default_action, 0, sizeof default_action);
    default_action.sa_handler = SIG_DFL;
    for (int signal_number = 1; signal_number < NSIG; signal_number++) {
        sigaction(signal_number, &default_action, NULL);  // fails harmlessly for SIGKILL, SIGSTOP and glibc's own
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (setsid() < 0) child_failed(child, STEP_SETSID);
    int sources[3];
    if (spawn->terminal_fd >= 0) {
        if (ioctl(spawn->terminal_fd, TIOCSCTTY, 0) != 0) child_failed(child, STEP_CTTY);
        sources[0] = sources[1] = sources[2] = above_standard(spawn->terminal_fd);
    } else {
        sources[0] = above_standard(spawn->stdin_fd);
        sources[1] = above_standard(spawn->stdout_fd);
        sources[2] = above_standard(spawn->stderr_fd);
    }
    for (int target = 0; target < 3; target++) {
        if (sources[target] < 0 || dup2(sources[target], target) < 0) child_failed(child, STEP_DUP2);
    }
    // Nothing else of the server's reaches the session: other sessions' pipes, sockets, host keys.
    close_range(3, ~0U, 0);
    if (spawn->change_user) {
        if (syscall(SYS_setgroups, spawn->group_count, spawn->groups) != 0) child_failed(child, STEP_SETGROUPS);
        if (syscall(SYS_setresgid, spawn->gid, spawn->gid, spawn->gid) != 0) child_failed(child, STEP_SETGID);
        if (syscall(SYS_setresuid, spawn->uid, spawn->uid, spawn->uid) != 0) child_failed(child, STEP_SETUID);
        // Fail closed: root must not be reachable again from the session.
        if (spawn->uid != 0 && syscall(SYS_setresuid, 0, 0, 0) == 0) { errno = EPERM; child_failed(child, STEP_SETUID); }
    }
    if (spawn->directory == NULL || chdir(spawn->directory) != 0) {
        if (chdir("/") != 0) { /* nowhere better to go */ }
    }
    execve(spawn->path, spawn->argv, spawn->envp);
    child_failed(child, STEP_EXEC);
    return 127;
}

pid_t shh_spawn_session(const struct shh_session_spawn *spawn, const char **failed_step) {
    const size_t stack_size = 64 * 1024;
    *failed_step = "mmap";
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return -1;
    struct spawn_child child = { .spawn = spawn, .failed_step = -1, .failed_errno = 0 };
    // Every signal blocked while the child shares our memory and has not yet reset its handlers, so none of ours
    // runs in it (the child unblocks them after resetting); restored here afterwards.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    pid_t pid = clone(session_child, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &child);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    munmap(stack, stack_size);
    if (pid < 0) {
        *failed_step = "clone";
        errno = clone_errno;
        return -1;
    }
    if (child.failed_step >= 0) {
        // The child failed before exec and has exited: reap it here, nobody else knows its pid.
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        int step = child.failed_step;
        *failed_step = step <= STEP_EXEC ? spawn_steps[step] : "spawn";
        errno = child.failed_errno;
        return -1;
    }
    *failed_step = NULL;
    return pid;
}

// The thread's filesystem identity, switched with raw system calls: glibc's setgroups/setfsuid wrappers (setgroups
// at least) apply to every thread of the process, and other threads must keep root's rights meanwhile.
// Root's own supplementary groups (a handful; more than this and the switch is refused, not truncated).
#define SAVED_GROUPS_MAX 1024
struct fs_identity {
    gid_t groups[SAVED_GROUPS_MAX];
    int group_count;
};

static int become_user(uid_t uid, gid_t gid, const gid_t *groups, size_t group_count, struct fs_identity *saved) {
    // -1: nothing changed yet; -2: the identity is half switched and must be restored.
    saved->group_count = (int)syscall(SYS_getgroups, SAVED_GROUPS_MAX, saved->groups);
    if (saved->group_count < 0) return -1;
    if (syscall(SYS_setgroups, group_count, groups) != 0) return -1;
    syscall(SYS_setfsgid, gid);
    syscall(SYS_setfsuid, uid);
    // setfsuid reports the previous value, never an error: ask again to be sure the switch happened.
    if ((uid_t)syscall(SYS_setfsuid, (uid_t)-1) != uid || (gid_t)syscall(SYS_setfsgid, (gid_t)-1) != gid) return -2;
    return 0;
}

static void become_root_again(const struct fs_identity *saved) {
    syscall(SYS_setfsuid, 0);
    syscall(SYS_setfsgid, 0);
    // A thread that cannot get root's identity back must not serve anyone else with the user's: stop here.
    if ((uid_t)syscall(SYS_setfsuid, (uid_t)-1) != 0 || syscall(SYS_setgroups, saved->group_count, saved->groups) != 0) abort();
}

static int unsafe_owner_or_mode(const struct stat *status, uid_t uid) {
    return (status->st_uid != 0 && status->st_uid != uid) || (status->st_mode & 022) != 0;
}

static int walk_and_open(const char *resolved, const char *home, uid_t uid, int strict, char *problem, size_t problem_size) {
    size_t length = strlen(resolved);
    if (length == 0 || resolved[0] != '/' || length >= 4096) { errno = EINVAL; return -1; }
    char path[4096];
    memcpy(path, resolved, length + 1);
    size_t home_length = strlen(home);
    while (home_length > 1 && home[home_length - 1] == '/') home_length--;
    // Directories from the home directory down are checked; all of them when the file is not under home.
    int under_home = home_length > 0 && strncmp(resolved, home, home_length) == 0 && resolved[home_length] == '/';
    int directory = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (directory < 0) return -1;
    size_t start = 1;
    char *last_slash = strrchr(path, '/');
    while (1) {
        struct stat status;
        // `path[0..start-1]` names the directory `directory` holds.
        size_t checked_length = start == 1 ? 1 : start - 1;
        int check = strict && (!under_home || checked_length >= home_length);
        if (check) {
            if (fstat(directory, &status) != 0) { int saved = errno; close(directory); errno = saved; return -1; }
            if (unsafe_owner_or_mode(&status, uid)) {
                snprintf(problem, problem_size, "bad ownership or modes for directory %.*s", (int)checked_length, path);
                close(directory);
                return -2;
            }
        }
        if (path + start > last_slash) break;
        char *slash = strchr(path + start, '/');
        *slash = '\0';
        int next = openat(directory, path + start, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int saved = errno;
        *slash = '/';
        close(directory);
        if (next < 0) { errno = saved; return -1; }
        directory = next;
        start = (size_t)(slash - path) + 1;
    }
    int fd = openat(directory, last_slash + 1, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    int saved = errno;
    close(directory);
    if (fd < 0) { errno = saved; return -1; }
    struct stat status;
    if (fstat(fd, &status) != 0) { saved = errno; close(fd); errno = saved; return -1; }
    if (!S_ISREG(status.st_mode)) {
        snprintf(problem, problem_size, "%s is not a regular file", resolved);
        close(fd);
        return -2;
    }
    if (strict && unsafe_owner_or_mode(&status, uid)) {
        snprintf(problem, problem_size, "bad ownership or modes for file %s", resolved);
        close(fd);
        return -2;
    }
    return fd;
}

int shh_open_user_file(const char *resolved, const char *home, uid_t uid, gid_t gid, const gid_t *groups, size_t group_count,
                       int strict, char *problem, size_t problem_size) {
    if (problem_size > 0) problem[0] = '\0';
    if (geteuid() != 0) return walk_and_open(resolved, home, uid, strict, problem, problem_size);
    struct fs_identity saved;
    int switched = become_user(uid, gid, groups, group_count, &saved);
    if (switched != 0) {
        int error = errno;
        if (switched == -2 || syscall(SYS_setgroups, saved.group_count, saved.groups) != 0) become_root_again(&saved);
        errno = error == 0 ? EPERM : error;
        return -1;
    }
    int fd = walk_and_open(resolved, home, uid, strict, problem, problem_size);
    int error = errno;
    become_root_again(&saved);
    errno = error;
    return fd;
}

int shh_seqpacket_pair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds);
}

#define SHH_MAX_PASSED_FDS 8

ssize_t shh_send_message(int socket, const void *bytes, size_t length, const int *fds, size_t fd_count, int dont_wait) {
    if (fd_count > SHH_MAX_PASSED_FDS) { errno = EINVAL; return -1; }
    struct iovec vector = { .iov_base = (void *)bytes, .iov_len = length };
    union { char buffer[CMSG_SPACE(sizeof(int) * SHH_MAX_PASSED_FDS)]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof control);
    struct msghdr message = { .msg_iov = &vector, .msg_iovlen = 1 };
    if (fd_count > 0) {
        message.msg_control = control.buffer;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
        memcpy(CMSG_DATA(header), fds, sizeof(int) * fd_count);
    }
    ssize_t sent;
    do { sent = sendmsg(socket, &message, MSG_NOSIGNAL | (dont_wait ? MSG_DONTWAIT : 0)); } while (sent < 0 && errno == EINTR);
    return sent;
}

ssize_t shh_receive_message(int socket, void *bytes, size_t capacity, int *fds, size_t max_fds, size_t *fd_count) {
    *fd_count = 0;
    struct iovec vector = { .iov_base = bytes, .iov_len = capacity };
    union { char buffer[CMSG_SPACE(sizeof(int) * SHH_MAX_PASSED_FDS)]; struct cmsghdr align; } control;
    struct msghdr message = { .msg_iov = &vector, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof control.buffer };
    ssize_t received;
    do { received = recvmsg(socket, &message, MSG_CMSG_CLOEXEC); } while (received < 0 && errno == EINTR);
    if (received < 0) return -1;
    int truncated = (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int *passed = (int *)CMSG_DATA(header);
        for (size_t i = 0; i < count; i++) {
            if (!truncated && *fd_count < max_fds) fds[(*fd_count)++] = passed[i];
            else close(passed[i]);
        }
    }
    if (truncated) {
        for (size_t i = 0; i < *fd_count; i++) close(fds[i]);
        *fd_count = 0;
        errno = EMSGSIZE;
        return -1;
    }
    return received;
}
