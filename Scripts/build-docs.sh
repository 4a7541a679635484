#!/usr/bin/env bash
# Builds the DocC documentation of the library targets and fails on any DocC warning or any public symbol
# without a doc comment (Scripts/doc-coverage.py says which rule counts a symbol).
#   Scripts/build-docs.sh [OUTPUT_DIR]      default .build/docs: one <Target>.doccarchive per target
# Works from a clean checkout: `swift package generate-documentation` (swift-docc-plugin) builds the targets and
# the plugin first. A few minutes cold on 2 cores, under a minute when the targets are already built.
set -euo pipefail
cd "$(dirname "$0")/.."

# The documented targets. Add a target here once its public symbols are documented and it builds without warnings.
TARGETS="SSHWire SSHKeys SSHProtocol SSH SSHPOSIX SSHAgent SSHForwarding SSHServerHost OpenSSHConfig SSHCommandLine SSHKeygenCommand ShhCommand ShhdCommand"

output="${1:-.build/docs}"
mkdir -p "$output"
# The plugin extracts each target's symbol graph here; the coverage check reads the same files DocC did.
# Cleared first, so a target that fails to build cannot be judged by an old graph.
symbol_graphs="$(dirname "$(swift build --show-bin-path)")/extracted-symbols"
rm -rf "$symbol_graphs"

target_arguments=()
for target in $TARGETS; do target_arguments+=(--target "$target"); done

status=0
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# --warnings-as-errors makes docc fail on a broken link, a parameter that does not exist, a duplicate section ...
swift package --allow-writing-to-directory "$output" generate-documentation "${target_arguments[@]}" \
    --output-path "$output" --warnings-as-errors 2>&1 | tee "$log" || status=1
# Belt and braces: a warning that docc or the plugin prints without failing (none known) still fails the check.
if grep -q "warning:" "$log"; then
    echo "== documentation build printed warnings:"
    grep "warning:" "$log"
    status=1
fi

# shellcheck disable=SC2086
python3 Scripts/doc-coverage.py "$symbol_graphs" $TARGETS || status=1

if [ "$status" -eq 0 ]; then
    echo "== documentation built without warnings in $output; every public symbol is documented"
fi
exit "$status"
