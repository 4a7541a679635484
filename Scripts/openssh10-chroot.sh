#!/usr/bin/env bash
# Prepares a Debian 13 ("trixie") root with OpenSSH 10 in it, so interop tests on this Debian 12
# machine can run a newer OpenSSH (whose default key exchange is mlkem768x25519-sha256) without
# installing it system-wide. Callers run the tools inside it with
#     chroot ROOT /usr/sbin/sshd ...      chroot ROOT /usr/bin/ssh ...
# where ROOT is the last line this script prints on stdout (progress goes to stderr).
#
# Usage:
#   Scripts/openssh10-chroot.sh            prepare (idempotent; fast when already prepared)
#   Scripts/openssh10-chroot.sh --check    exit 0 if prepared (complete and mounted), else 1; changes nothing
#   Scripts/openssh10-chroot.sh --unmount  undo the bind mounts (the root itself is kept)
#
# Environment:
#   SHH_DEBIAN13_ROOT    where the root lives (default /var/cache/shh/debian13)
#   SHH_DEBIAN_MIRROR    Debian mirror to bootstrap from (default: the first .../debian URI in
#                        this machine's apt sources, else http://deb.debian.org/debian)
#
# Exit codes: 0 success, 1 failure (or "not prepared" for --check), 2 not root / bad usage.
#
# /proc, /dev, /dev/pts, /tmp and /run are bind-mounted from the host, so a path under /tmp is
# the same file inside and outside, and /run/sshd (which sshd insists on) is the host's.
set -euo pipefail

ROOT="${SHH_DEBIAN13_ROOT:-/var/cache/shh/debian13}"
ROOT="${ROOT%/}"
SUITE=trixie
PACKAGES=openssh-client,openssh-server
# Written last, once the root is verified; its absence means an interrupted or failed build.
MARKER="$ROOT/.shh-openssh10-complete"
# Host paths bind-mounted into the root, parents before children (unmounted in reverse).
MOUNTS=(/proc /dev /dev/pts /tmp /run)

log() { echo "openssh10-chroot: $*" >&2; }
die() { log "error: $*"; exit 1; }

# True when PATH is a mount point according to /proc/mounts (field 2; this script's
# paths have no spaces, so the octal escaping of /proc/mounts does not matter here).
is_mounted() {
    awk -v target="$1" '$2 == target { found = 1 } END { exit !found }' /proc/mounts
}

# Every mount point at or below the root, deepest first.
mounts_under_root() {
    awk -v root="$ROOT" '$2 == root || index($2, root "/") == 1 { print $2 }' /proc/mounts | sort -r -u
}

unmount_all() {
    local target
    for target in $(mounts_under_root); do
        [ "$target" = "$ROOT" ] && continue
        umount "$target" 2>/dev/null || umount -l "$target" || die "cannot unmount $target"
    done
}

# Complete root, all bind mounts present, /run/sshd present.
is_prepared() {
    [ -f "$MARKER" ] || return 1
    local source
    for source in "${MOUNTS[@]}"; do
        is_mounted "$ROOT$source" || return 1
    done
    [ -d "$ROOT/run/sshd" ]
}

# The Debian mirror this machine's apt already uses, so the bootstrap goes where apt goes.
pick_mirror() {
    if [ -n "${SHH_DEBIAN_MIRROR:-}" ]; then
        echo "$SHH_DEBIAN_MIRROR"
        return
    fi
    local uri
    # deb822 files ("URIs: ...") and one-line files ("deb [opts] URI suite ...").
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -v '^[[:space:]]*#' | grep -oE '(https?)://[^ ]+/debian/?( |$)' | grep -v -- '-security' | head -n 1 | tr -d ' ' || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

# The host's /tmp and /run are bind-mounted into the root, so the root must not live under them.
case "$ROOT/" in
    /|/tmp/*|/run/*|/proc/*|/dev/*) log "SHH_DEBIAN13_ROOT must not be /, nor under /tmp, /run, /proc or /dev: $ROOT"; exit 2 ;;
esac

mode="${1:-prepare}"
case "$mode" in
    --check)
        is_prepared && exit 0
        exit 1
        ;;
    --unmount)
        [ "$(id -u)" -eq 0 ] || { log "must run as root to unmount $ROOT"; exit 2; }
        unmount_all
        log "unmounted everything under $ROOT"
        exit 0
        ;;
    prepare) ;;
    *)
        log "usage: $0 [--check|--unmount]"
        exit 2
        ;;
esac

# Fast path: nothing to do, and no root needed to say so.
if is_prepared; then
    echo "$ROOT"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    log "needs root (debootstrap, chroot and mount do); run it as root, as CI does"
    exit 2
fi

# Serialise concurrent callers (e.g. parallel tests): the second waits, then sees the first's work.
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock 9

if [ ! -f "$MARKER" ]; then
    if [ -e "$ROOT" ]; then
        log "removing the incomplete root left by an interrupted run: $ROOT"
        # Unmount first: deleting through a bind mount of /tmp or /run would delete the host's files.
        unmount_all
        if [ -n "$(mounts_under_root)" ]; then
            die "something is still mounted under $ROOT; refusing to delete it"
        fi
        rm -rf --one-file-system "$ROOT"
    fi

    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq debootstrap >&2 ||
            { apt-get update -qq >&2 && apt-get install -y -qq debootstrap >&2; } ||
            die "cannot install debootstrap"
    fi

    mirror=$(pick_mirror)
    log "bootstrapping Debian $SUITE with $PACKAGES from $mirror into $ROOT"
    started=$SECONDS
    # minbase keeps the root small; the trixie keyring ships in Debian 12's debian-archive-keyring.
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" "$mirror" >&2 ||
        die "debootstrap failed (see $ROOT/debootstrap/debootstrap.log if it exists)"
    # The downloaded .debs are not needed once unpacked.
    rm -f "$ROOT"/var/cache/apt/archives/*.deb

    # Verify before declaring the root complete: the whole point is OpenSSH 10 with ML-KEM.
    version=$(chroot "$ROOT" /usr/bin/ssh -V 2>&1) || die "ssh -V failed inside $ROOT"
    case "$version" in
        OpenSSH_1[0-9]*) ;;
        *) die "expected OpenSSH 10 or later inside $ROOT, got: $version" ;;
    esac
    chroot "$ROOT" /usr/bin/ssh -Q kex | grep -qx 'mlkem768x25519-sha256' ||
        die "ssh inside $ROOT does not offer mlkem768x25519-sha256"
    chroot "$ROOT" /usr/bin/id sshd >/dev/null 2>&1 ||
        die "privilege-separation user 'sshd' is missing inside $ROOT"

    echo "$SUITE $version $(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$MARKER"
    log "root complete in $((SECONDS - started)) s: $version"
fi

# Bind mounts: only those not already there.
for source in "${MOUNTS[@]}"; do
    target="$ROOT$source"
    is_mounted "$target" && continue
    mkdir -p "$target"
    mount --bind "$source" "$target" || die "cannot bind-mount $source on $target"
done

# sshd refuses to start without its privilege-separation directory; /run is the host's.
mkdir -p /run/sshd
chmod 0755 /run/sshd

is_prepared || die "root at $ROOT is still not prepared after setup"
echo "$ROOT"
