#!/usr/bin/env bash
# The README's test command (`swift test`, build included) under a time limit, its output kept in a log. When the
# limit passes, the run is killed (with everything it started) and the tests that had started and not finished are
# listed: a hang names its test instead of eating CI's 90 minutes.
#   Scripts/run-tests.sh [LOG]      SHH_TEST_TIME_LIMIT: seconds (default 1800); extra `swift test` arguments in SHH_TEST_ARGS
set -uo pipefail
cd "$(dirname "$0")/.."
log="${1:-/tmp/shh-test.log}"
limit="${SHH_TEST_TIME_LIMIT:-1800}"
# Line-buffered output (stdbuf's setting reaches the test process too), so the log is current when a hang is cut.
# shellcheck disable=SC2086
timeout --kill-after=30 "$limit" stdbuf -oL -eL swift test ${SHH_TEST_ARGS:-} 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    # swift test does not take its test process down with it, nor what that started (sshd daemonizes; shhd and
    # asyncssh test servers run in sessions of their own): all of them name a test's temporary directory.
    pkill -KILL -f 'shhPackageTests.xctest' || true
    pkill -KILL -f '/tmp/shh-interop-' || true
    echo "== swift test did not finish within $limit s; tests still running when it was stopped:"
    python3 - "$log" <<'PY'
import re, sys
started, finished = {}, {}
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r"Test (.+?) started\.", line)
    if m and "Test run" not in line:
        started[m.group(1)] = started.get(m.group(1), 0) + 1
    m = re.search(r"Test (.+?) (passed|failed|skipped)", line)
    if m and "Test run" not in line:
        finished[m.group(1)] = finished.get(m.group(1), 0) + 1
running = [name for name, count in started.items() if count > finished.get(name, 0)]
for name in running:
    print("   still running:", name)
if not running:
    print("   (none had started: the build or the test process itself was stuck)")
PY
fi
exit "$status"
