#!/usr/bin/env bash
# Times shh-keygen against OpenSSH's ssh-keygen on the operations both can do with the same flags,
# in one invocation, interleaved (A B A B ...) so that load from elsewhere on the machine hits both
# alike. Prints the median wall time per operation for each tool and the ratio shh / OpenSSH
# (below 1 means shh is faster). Times are whole processes: start-up, file I/O and the crypto.
#
# Usage: Scripts/bench-keys-vs-openssh.sh [--json FILE] [--runs N]
# Environment:
#   RUNS        runs per tool and operation (default 20; --runs wins)
#   SHH_KEYGEN  the shh-keygen binary (default .build/release/shh-keygen, built if missing)
#   SSH_KEYGEN  OpenSSH's ssh-keygen (default: the one on PATH)
#   ONLY        a regular expression; only operations whose name matches are run (e.g. ONLY='sign|verify')
#   TMPDIR      where the key files go (default /tmp). shh-keygen fsyncs what it writes and ssh-keygen does not;
#               TMPDIR=/dev/shm (tmpfs) takes the disk out of the keygen and sign rows.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${RUNS:-20}"
json=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --json) json="${2:?--json needs a file}"; shift 2 ;;
        --json=*) json="${1#--json=}"; shift ;;
        --runs) runs="${2:?--runs needs a number}"; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "RUNS must be a positive integer, not '$runs'" >&2; exit 2; }
if [[ -n "$json" && "$json" != /* ]]; then json="$PWD/$json"; fi

ssh_keygen="${SSH_KEYGEN:-$(command -v ssh-keygen || true)}"
[[ -x "$ssh_keygen" ]] || { echo "OpenSSH's ssh-keygen not found (apt-get install openssh-client)" >&2; exit 1; }
shh_keygen="${SHH_KEYGEN:-$root/.build/release/shh-keygen}"
if [[ ! -x "$shh_keygen" ]]; then
    if [[ -n "${SHH_KEYGEN:-}" ]]; then echo "SHH_KEYGEN=$SHH_KEYGEN is not executable" >&2; exit 1; fi
    echo "building shh-keygen (release): swift build -c release --product shh-keygen" >&2
    build_start=$(date +%s)
    (cd "$root" && swift build -c release --product shh-keygen) >&2
    echo "built in $(( $(date +%s) - build_start )) s" >&2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/shh-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"

# Wall-clock nanoseconds. bash 5's EPOCHREALTIME costs no extra process; date +%s%N is the fallback.
if [[ -n "${EPOCHREALTIME:-}" ]]; then
    now_ns() { local t=${EPOCHREALTIME/[.,]/}; REPLY=$(( 10#$t * 1000 )); }
else
    now_ns() { REPLY=$(date +%s%N); }
fi

# ---- Fixtures, all made by OpenSSH so that both tools read the very same files. ----
pass='correct horse battery'
"$ssh_keygen" -q -t ed25519 -N '' -C bench@ed25519 -f key-ed25519 </dev/null
"$ssh_keygen" -q -t rsa -b 3072 -N '' -C bench@rsa -f key-rsa3072 </dev/null
"$ssh_keygen" -q -t ed25519 -N "$pass" -C bench@enc -f key-ed25519-enc </dev/null   # aes256-ctr, bcrypt 16 rounds
head -c 1024 /dev/urandom > msg
for kt in ed25519 rsa3072; do
    printf 'bench@example %s\n' "$(cat "key-$kt.pub")" > "allowed-$kt"
    cp msg "ref-$kt"
    "$ssh_keygen" -q -Y sign -n bench -f "key-$kt" "ref-$kt" </dev/null 2>/dev/null   # writes ref-$kt.sig
done

# ---- Operations: a name, a preparation (untimed, before each run) and the timed command. ----
# Each command is run as `TOOL args...` with TOOL the binary under test; stdin, stdout, stderr are
# redirected in the command text itself so both sides do the same I/O.
names=(); preps=(); cmds=()
op() { names+=("$1"); preps+=("$2"); cmds+=("$3"); }

op "keygen ed25519"          'rm -f out out.pub' '"$TOOL" -q -t ed25519 -N "" -C bench -f out </dev/null >/dev/null'
op "keygen rsa-3072"         'rm -f out out.pub' '"$TOOL" -q -t rsa -b 3072 -N "" -C bench -f out </dev/null >/dev/null'
op "-y encrypted ed25519 (bcrypt 16)" ':' '"$TOOL" -y -P "$pass" -f key-ed25519-enc </dev/null >/dev/null'
op "-l fingerprint (start-up)" ':'        '"$TOOL" -l -f key-ed25519.pub </dev/null >/dev/null'
op "-Y sign ed25519"         'rm -f m.sig; cp msg m' '"$TOOL" -q -Y sign -n bench -f key-ed25519 m </dev/null >/dev/null 2>&1'
op "-Y sign rsa-3072"        'rm -f m.sig; cp msg m' '"$TOOL" -q -Y sign -n bench -f key-rsa3072 m </dev/null >/dev/null 2>&1'
op "-Y verify ed25519"       ':' '"$TOOL" -Y verify -f allowed-ed25519 -I bench@example -n bench -s ref-ed25519.sig <msg >/dev/null 2>&1'
op "-Y verify rsa-3072"      ':' '"$TOOL" -Y verify -f allowed-rsa3072 -I bench@example -n bench -s ref-rsa3072.sig <msg >/dev/null 2>&1'

# Runs one command once with the given tool and prints its wall time in ns; fails loudly if it fails.
time_once() { # tool, op index
    local TOOL="$1" i="$2" start
    eval "${preps[$i]}"
    now_ns; start=$REPLY
    if ! eval "${cmds[$i]}"; then
        echo "FAILED: ${names[$i]} with $TOOL: ${cmds[$i]}" >&2
        return 1
    fi
    now_ns
    echo $(( REPLY - start ))
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
min() { sort -n | head -n 1; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e6 }'; }

# Sanity: both tools must give the same public key for the encrypted key, and accept each other's signatures.
[[ "$("$ssh_keygen" -y -P "$pass" -f key-ed25519-enc)" == "$("$shh_keygen" -y -P "$pass" -f key-ed25519-enc)" ]] \
    || { echo "the two tools disagree on -y for the encrypted key" >&2; exit 1; }
cp msg shh-msg && "$shh_keygen" -q -Y sign -n bench -f key-rsa3072 shh-msg </dev/null 2>/dev/null
"$ssh_keygen" -Y verify -f allowed-rsa3072 -I bench@example -n bench -s shh-msg.sig <msg >/dev/null 2>&1 \
    || { echo "OpenSSH does not accept shh-keygen's rsa-3072 signature" >&2; exit 1; }

echo "ssh-keygen: $ssh_keygen ($(ssh -V 2>&1 || true))"
echo "shh-keygen: $shh_keygen"
echo "runs per tool and operation: $runs, interleaved; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

rows=()
printf '%-34s %12s %12s %12s %12s %9s\n' "operation" "openssh ms" "shh ms" "openssh min" "shh min" "shh/ossh"
printf '%-34s %12s %12s %12s %12s %9s\n' "---------" "----------" "------" "-----------" "-------" "--------"
for i in "${!names[@]}"; do
    if [[ -n "${ONLY:-}" && ! "${names[$i]}" =~ $ONLY ]]; then continue; fi
    # One untimed warm-up run each (page cache, dynamic loader), then A B A B ...
    time_once "$ssh_keygen" "$i" >/dev/null
    time_once "$shh_keygen" "$i" >/dev/null
    ossh=(); shh=()
    for (( r = 0; r < runs; r++ )); do
        # Alternate which tool goes first, so neither always runs right after the other.
        if (( r % 2 == 0 )); then
            ossh+=("$(time_once "$ssh_keygen" "$i")"); shh+=("$(time_once "$shh_keygen" "$i")")
        else
            shh+=("$(time_once "$shh_keygen" "$i")"); ossh+=("$(time_once "$ssh_keygen" "$i")")
        fi
    done
    o_med=$(printf '%s\n' "${ossh[@]}" | median); s_med=$(printf '%s\n' "${shh[@]}" | median)
    o_min=$(printf '%s\n' "${ossh[@]}" | min);    s_min=$(printf '%s\n' "${shh[@]}" | min)
    ratio=$(awk -v s="$s_med" -v o="$o_med" 'BEGIN { printf "%.2f", s / o }')
    printf '%-34s %12s %12s %12s %12s %9s\n' "${names[$i]}" "$(ms "$o_med")" "$(ms "$s_med")" "$(ms "$o_min")" "$(ms "$s_min")" "$ratio"
    rows+=("$(printf '{"operation": "%s", "openssh_median_ns": %s, "shh_median_ns": %s, "openssh_min_ns": %s, "shh_min_ns": %s, "ratio_shh_over_openssh": %s, "openssh_ns": [%s], "shh_ns": [%s]}' \
        "${names[$i]}" "$o_med" "$s_med" "$o_min" "$s_min" "$ratio" \
        "$(IFS=,; echo "${ossh[*]}")" "$(IFS=,; echo "${shh[*]}")")")
done
echo
echo "Wall time per operation, whole process (median and minimum of $runs runs). shh/ossh = median ratio; below 1 = shh faster."

if [[ -n "$json" ]]; then
    {
        printf '{\n  "runs": %s,\n  "openssh": "%s",\n  "openssh_version": "%s",\n  "shh_keygen": "%s",\n  "cpus": %s,\n  "date": "%s",\n  "results": [\n' \
            "$runs" "$ssh_keygen" "$(ssh -V 2>&1 | sed 's/"/\\"/g' || true)" "$shh_keygen" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        for j in "${!rows[@]}"; do
            printf '    %s%s\n' "${rows[$j]}" "$([[ $j -lt $(( ${#rows[@]} - 1 )) ]] && echo ,)"
        done
        printf '  ]\n}\n'
    } > "$json"
    echo "JSON written to $json"
fi
