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
