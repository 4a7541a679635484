#define _GNU_SOURCE
#include <crypt.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include "CSSHServerHost.h"

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

int shh_drop_privileges(const char *root, uid_t uid, gid_t gid, const char **failed_step) {
    if (chroot(root) != 0) { *failed_step = "chroot"; return -1; }
    if (chdir("/") != 0) { *failed_step = "chdir"; return -1; }
    if (setgroups(1, &gid) != 0) { *failed_step = "setgroups"; return -1; }
    if (setresgid(gid, gid, gid) != 0) { *failed_step = "setresgid"; return -1; }
    if (setresuid(uid, uid, uid) != 0) { *failed_step = "setresuid"; return -1; }
    // Past this point root must be out of reach: a uid change back that works means the drop did not happen.
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) { errno = EPERM; *failed_step = "giving up root"; return -1; }
    return 0;
}

// Forwarding as the user (shhd's broker; Broker/THREAT_MODEL.md). Not the thread's filesystem identity (setfsuid),
// which would be enough for the kernel's permission checks: a socket records its creator's credentials at
// connect and listen (SO_PEERCRED), and those keep the effective uid 0 — a user's forwarded connection would reach
// a service that trusts its peer's uid (D-Bus, ssh-agent, ...) as root. So a child becomes the user entirely.
static const char *socket_steps[] = {
    "", "setgroups", "setgid", "setuid", "giving up root", "socket", "connect", "mkdir", "unlink", "bind", "listen",
    "rmdir", "path too long",
};
enum { STEP_OK, STEP_SETGROUPS_U, STEP_SETGID_U, STEP_SETUID_U, STEP_NO_ROOT, STEP_SOCKET, STEP_CONNECT, STEP_MKDIR,
       STEP_UNLINK, STEP_BIND, STEP_LISTEN, STEP_RMDIR, STEP_PATH };

struct socket_reply {
    int step;
    int error;
};

static void socket_child(const struct shh_socket_as_user_request *request, const struct sockaddr_un *address, int reply_fd) {
    struct socket_reply reply = { STEP_OK, 0 };
    int fd = -1;
#define FAIL(s) do { reply.step = (s); reply.error = errno; goto report; } while (0)
    if (syscall(SYS_setgroups, request->group_count, request->groups) != 0) FAIL(STEP_SETGROUPS_U);
    if (syscall(SYS_setresgid, request->gid, request->gid, request->gid) != 0) FAIL(STEP_SETGID_U);
    if (syscall(SYS_setresuid, request->uid, request->uid, request->uid) != 0) FAIL(STEP_SETUID_U);
    if (request->uid != 0 && syscall(SYS_setresuid, 0, 0, 0) == 0) { errno = EPERM; FAIL(STEP_NO_ROOT); }
    switch (request->operation) {
    case SHH_SOCKET_CONNECT:
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) FAIL(STEP_SOCKET);
        // Non-blocking: a listener whose backlog is full answers EAGAIN at once instead of holding the broker.
        if (connect(fd, (const struct sockaddr *)address, sizeof *address) != 0) FAIL(STEP_CONNECT);
        break;
    case SHH_SOCKET_MAKE_DIRECTORY_AND_LISTEN:
        if (mkdir(request->directory, 0700) != 0) FAIL(STEP_MKDIR);
        /* fall through */
    case SHH_SOCKET_LISTEN: {
        if (request->unlink_existing) {
            // Only a socket is replaced, never a file that happens to have the name.
            struct stat status;
            if (lstat(request->path, &status) == 0 && S_ISSOCK(status.st_mode) && unlink(request->path) != 0) FAIL(STEP_UNLINK);
        }
        // The mode comes from the umask at bind (this child's alone): no moment with a wider one.
        umask(request->mask & 0777);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) FAIL(STEP_SOCKET);
        if (bind(fd, (const struct sockaddr *)address, sizeof *address) != 0) FAIL(STEP_BIND);
        if (listen(fd, 128) != 0) FAIL(STEP_LISTEN);
        break;
    }
    case SHH_SOCKET_REMOVE:
        if (unlink(request->path) != 0 && errno != ENOENT) FAIL(STEP_UNLINK);
        if (rmdir(request->directory) != 0 && errno != ENOENT) FAIL(STEP_RMDIR);
        break;
    default:
        errno = EINVAL;
        FAIL(STEP_SOCKET);
    }
#undef FAIL
report:;
    struct iovec vector = { .iov_base = &reply, .iov_len = sizeof reply };
    union { char buffer[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof control);
    struct msghdr message = { .msg_iov = &vector, .msg_iovlen = 1 };
    if (reply.step == STEP_OK && fd >= 0) {
        message.msg_control = control.buffer;
        message.msg_controllen = CMSG_SPACE(sizeof(int));
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(header), &fd, sizeof fd);
    }
    while (sendmsg(reply_fd, &message, MSG_NOSIGNAL) < 0 && errno == EINTR) {}
    _exit(0);
}

int shh_socket_as_user(const struct shh_socket_as_user_request *request, const char **failed_step) {
    *failed_step = "";
    // Everything the child needs is made here, before fork.
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    size_t length = request->path ? strlen(request->path) : 0;
    if (length == 0 || length >= sizeof address.sun_path) { errno = ENAMETOOLONG; *failed_step = socket_steps[STEP_PATH]; return -1; }
    memcpy(address.sun_path, request->path, length);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) { *failed_step = "socketpair"; return -1; }
    // No signal handler of this process may run in the child (they are not async-signal-safe): all blocked
    // across the fork, and the child never unblocks them.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t pid = fork();
    if (pid == 0) {
        close(pair[0]);
        socket_child(request, &address, pair[1]);
    }
    int fork_error = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(pair[1]);
    if (pid < 0) { close(pair[0]); errno = fork_error; *failed_step = "fork"; return -1; }
    struct socket_reply reply = { -1, EIO };
    union { char buffer[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof control);
    struct iovec vector = { .iov_base = &reply, .iov_len = sizeof reply };
    struct msghdr message = { .msg_iov = &vector, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof control.buffer };
    ssize_t received;
    do { received = recvmsg(pair[0], &message, MSG_CMSG_CLOEXEC); } while (received < 0 && errno == EINTR);
    int fd = -1;
    struct cmsghdr *header = received > 0 ? CMSG_FIRSTHDR(&message) : NULL;
    if (header && header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS && header->cmsg_len == CMSG_LEN(sizeof(int))) {
        memcpy(&fd, CMSG_DATA(header), sizeof fd);
    }
    close(pair[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (received != (ssize_t)sizeof reply || reply.step != STEP_OK) {
        if (fd >= 0) close(fd);
        if (received != (ssize_t)sizeof reply) { errno = EIO; *failed_step = "the child's answer"; return -1; }
        errno = reply.error;
        *failed_step = reply.step > 0 && reply.step <= STEP_PATH ? socket_steps[reply.step] : "?";
        return -1;
    }
    if (request->operation == SHH_SOCKET_REMOVE) return 0;
    if (fd < 0) { errno = EIO; *failed_step = "the child's answer"; return -1; }
    return fd;
}
