#!/usr/bin/env bash
# Bulk throughput of the library against OpenSSH, side by side in one run: for each cipher and direction, the
# in-process client↔server (Benchmarks' shh-throughput: an SSHServer and an SSHClient over loopback TCP in one
# process) and ssh→sshd (a private sshd on a free loopback port, run by this script), interleaved A B A B so that
# load from elsewhere hits both alike. Prints the median MB/s of each and the ratio shh / OpenSSH (above 1: shh
# is faster).
#
#   down: the server sends N bytes (ssh host 'head -c N /dev/zero' > /dev/null)
#   up:   the client sends N bytes (head -c N /dev/zero | ssh host 'cat > /dev/null')
#
# ssh's time includes connecting, authenticating and starting the remote shell; that fixed cost is measured with
# N = 0 in the same run and subtracted, so both columns are transfer rates.
#
# Usage: Scripts/bench-throughput-vs-openssh.sh [--bytes N] [--runs N] [--json FILE]
# Environment:
#   BYTES    bytes per transfer (default 1073741824, 1 GiB; --bytes wins; BYTES=268435456 is a quick run)
#   RUNS     runs per side, cipher and direction (default 3; --runs wins)
#   CIPHERS  space-separated list (default: aes128-gcm@openssh.com aes256-gcm@openssh.com
#            chacha20-poly1305@openssh.com aes128-ctr; aes128-ctr uses hmac-sha2-256-etm@openssh.com)
#   SSHD     OpenSSH's sshd (default /usr/sbin/sshd); SSH: its ssh (default: the one on PATH)
# Needs: sshd that can run on a test port (root, as in CI), Swift to build shh-throughput in release.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bytes="${BYTES:-1073741824}"
runs="${RUNS:-3}"
json=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bytes) bytes="${2:?--bytes needs a number}"; shift 2 ;;
        --runs) runs="${2:?--runs needs a number}"; shift 2 ;;
        --json) json="${2:?--json needs a file}"; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "RUNS must be a positive integer, not '$runs'" >&2; exit 2; }
[[ "$bytes" =~ ^[1-9][0-9]*$ ]] || { echo "BYTES must be a positive integer, not '$bytes'" >&2; exit 2; }
if [[ -n "$json" && "$json" != /* ]]; then json="$PWD/$json"; fi
ciphers="${CIPHERS:-aes128-gcm@openssh.com aes256-gcm@openssh.com chacha20-poly1305@openssh.com aes128-ctr}"
sshd="${SSHD:-/usr/sbin/sshd}"
ssh="${SSH:-$(command -v ssh || true)}"
[[ -x "$sshd" && -x "$ssh" ]] || { echo "OpenSSH's ssh and sshd are needed (apt-get install openssh-client openssh-server)" >&2; exit 1; }

echo "building shh-throughput (release)" >&2
(cd "$root" && swift build -c release --package-path Benchmarks --product shh-throughput) >&2
runner="$root/Benchmarks/.build/release/shh-throughput"

work="$(mktemp -d "${TMPDIR:-/tmp}/shh-throughput.XXXXXX")"
cleanup() {
    [[ -f "$work/sshd.pid" ]] && kill "$(cat "$work/sshd.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ssh-keygen -q -t ed25519 -N '' -f "$work/host" </dev/null
ssh-keygen -q -t ed25519 -N '' -f "$work/id" </dev/null
cp "$work/id.pub" "$work/authorized_keys"
mkdir -p /run/sshd 2>/dev/null || true
cat > "$work/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
Ciphers aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr
MACs hmac-sha2-256-etm@openssh.com
EOF
if "$sshd" -t -f "$work/sshd_config" -o PerSourcePenalties=no 2>/dev/null; then echo "PerSourcePenalties no" >> "$work/sshd_config"; fi
"$sshd" -f "$work/sshd_config" -E "$work/sshd.log"
for _ in $(seq 50); do [[ -f "$work/sshd.pid" ]] && break; sleep 0.1; done

ssh_base=(-F /dev/null -p "$port" -i "$work/id" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no
          -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "$(id -un)@127.0.0.1")

now_ns() { local t=${EPOCHREALTIME/[.,]/}; REPLY=$(( 10#$t * 1000 )); }

# One ssh→sshd transfer; prints seconds.
ssh_once() {  # cipher direction count
    local options=(-c "$1") start
    [[ "$1" == aes128-ctr ]] && options+=(-m hmac-sha2-256-etm@openssh.com)
    now_ns; start=$REPLY
    if [[ "$2" == down ]]; then
        "$ssh" "${options[@]}" "${ssh_base[@]}" "head -c $3 /dev/zero" > /dev/null
    else
        head -c "$3" /dev/zero | "$ssh" "${options[@]}" "${ssh_base[@]}" "cat > /dev/null"
    fi
    now_ns
    awk -v ns=$((REPLY - start)) 'BEGIN { printf "%.6f\n", ns / 1e9 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-32s %-5s %14s %14s %8s\n' cipher dir "in-process MB/s" "ssh→sshd MB/s" ratio
rows=()
for cipher in $ciphers; do
    mac=()
    [[ "$cipher" == aes128-ctr ]] && mac=(hmac-sha2-256-etm@openssh.com)
    # ssh's fixed cost (connect, authenticate, start the remote command) for this cipher.
    overhead=$(for _ in $(seq "$runs"); do ssh_once "$cipher" down 0; done | median)
    for direction in down up; do
        ours=() theirs=()
        for _ in $(seq "$runs"); do
            ours+=("$("$runner" "$cipher" "$direction" "$bytes" "${mac[@]}" | awk '{ print $2 }')")
            seconds=$(ssh_once "$cipher" "$direction" "$bytes")
            theirs+=("$(awk -v b="$bytes" -v s="$seconds" -v o="$overhead" 'BEGIN { printf "%.1f\n", b / (s - o) / 1e6 }')")
        done
        ours_median=$(printf '%s\n' "${ours[@]}" | median)
        theirs_median=$(printf '%s\n' "${theirs[@]}" | median)
        ratio=$(awk -v a="$ours_median" -v b="$theirs_median" 'BEGIN { printf "%.2f\n", a / b }')
        label="$cipher${mac:+ + ${mac[0]}}"
        printf '%-32s %-5s %14s %14s %8s\n' "$cipher" "$direction" "$ours_median" "$theirs_median" "$ratio"
        rows+=("{\"cipher\": \"$label\", \"direction\": \"$direction\", \"bytes\": $bytes, \"runs\": $runs, \"inProcessMBps\": $ours_median, \"sshToSshdMBps\": $theirs_median, \"ratio\": $ratio}")
    done
done
echo "(ssh's fixed cost per connection, subtracted above: median ${overhead} s for the last cipher; $(nproc) cores, $("$ssh" -V 2>&1))"
if [[ -n "$json" ]]; then
    (IFS=,; echo "[${rows[*]}]") > "$json"
    echo "wrote $json" >&2
fi
