#define _GNU_SOURCE
#include <crypt.h>
#include <errno.h>
#include <pwd.h>
#include <shadow.h>
#include <time.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include "CSSHHost.h"

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

// Passwords (sshd's auth-passwd.c and auth-shadow.c, by behaviour): the shadow entry when there is one, else the
// password database's field; "", "*" and "!"-prefixed fields never match; crypt_r does the hashing (yescrypt,
// SHA-512, ... whatever libxcrypt knows).
static int stored_hash(const char *user, char *buffer, size_t size, const char **hash, long *expires_on_day) {
    struct spwd shadow_entry, *shadow_result = NULL;
    *expires_on_day = -1;
    if (getspnam_r(user, &shadow_entry, buffer, size, &shadow_result) == 0 && shadow_result != NULL) {
        *hash = shadow_result->sp_pwdp;
        *expires_on_day = shadow_result->sp_expire;
        return 0;
    }
    struct passwd password_entry, *password_result = NULL;
    if (getpwnam_r(user, &password_entry, buffer, size, &password_result) == 0 && password_result != NULL) {
        *hash = password_result->pw_passwd;
        return 0;
    }
    return -1;
}

int shh_account_state(const char *user) {
    char buffer[16384];
    const char *hash = NULL;
    long expires_on_day;
    if (stored_hash(user, buffer, sizeof buffer, &hash, &expires_on_day) != 0) return 0;
    // sshd's auth_shadow_acctexpired: -1 (an empty field) never expires; day N is the last day the account works.
    if (expires_on_day != -1 && time(NULL) / 86400 > expires_on_day) return 2;
    if (hash != NULL && hash[0] == '!') return 1;
    return 0;
}

int shh_check_password(const char *user, const char *password, int permit_empty) {
    char buffer[16384];
    const char *hash = NULL;
    long expires_on_day;
    // An unknown user's password is hashed all the same, so the time taken does not tell users apart.
    int known = stored_hash(user, buffer, sizeof buffer, &hash, &expires_on_day) == 0 && hash != NULL;
    const char *setting = known && hash[0] != '\0' && hash[0] != '*' && hash[0] != '!' && hash[0] != 'x'
        ? hash : "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$";
    struct crypt_data *scratch = calloc(1, sizeof *scratch);
    if (scratch == NULL) return -1;
    const char *computed = crypt_r(password, setting, scratch);
    int matches = 0;
    if (computed != NULL && computed[0] != '*' && setting == hash) {
        size_t length = strlen(hash);
        if (strlen(computed) == length) {
            unsigned char difference = 0;
            for (size_t i = 0; i < length; i++) difference |= (unsigned char)(computed[i] ^ hash[i]);
            matches = difference == 0;
        }
    }
    if (known && hash[0] == '\0' && permit_empty && password[0] == '\0') matches = 1;
    explicit_bzero(scratch, sizeof *scratch);
    free(scratch);
    return matches;
}
