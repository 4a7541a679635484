#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ (a separate SwiftPM package) and runs each one for a bounded time.
#
#   Scripts/run-fuzzers.sh                      # every target, 20 s each
#   FUZZ_SECONDS=300 Scripts/run-fuzzers.sh FuzzSSHWire
#
# Environment: FUZZ_SECONDS (default 20) per target; FUZZ_CONFIGURATION (release, the default, or debug);
# FUZZ_JOBS (build jobs, default 2). Exits non-zero if any target crashes, trips a check, or times out,
# including on an input already saved under Fuzz/Regressions/<Target>/ (replayed first).
# New corpus entries go to Fuzz/corpus-<Target>/ (git-ignored); crashing inputs to Fuzz/crash-<Target>/.
# Seeds: Fuzz/Seeds/<Target>/; libFuzzer dictionary, if any: Fuzz/Dictionaries/<Target>.dict.
# Why the flags look like this (plain `--sanitize=fuzzer` does not link under SwiftPM): Fuzz/README.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/Fuzz"
seconds=${FUZZ_SECONDS:-20}
configuration=${FUZZ_CONFIGURATION:-release}
jobs=${FUZZ_JOBS:-2}
all_targets=(FuzzPrivateKey FuzzPublicKey FuzzKnownHosts FuzzAuthorizedKeys FuzzCertificate FuzzSSHWire FuzzServerTransport FuzzConnection FuzzClientConfig FuzzServerConfig FuzzBrokerMessage FuzzAgentReply FuzzSOCKSRequest)
targets=("${@:-${all_targets[@]}}")

# libFuzzer without its main(): each target starts it from <Target>_main via LLVMFuzzerRunDriver.
# It is C++ and needs libstdc++, which lld does not pick up from libswiftCore's dependencies by itself.
swiftc=$(readlink -f "$(command -v swiftc)")
toolchain_lib="$(dirname "$(dirname "$swiftc")")/lib"
fuzzer_lib=$(ls "$toolchain_lib"/clang/*/lib/linux/libclang_rt.fuzzer_no_main-"$(uname -m)".a 2>/dev/null | head -n 1)
if [[ -z "$fuzzer_lib" ]]; then
    echo "run-fuzzers: libclang_rt.fuzzer_no_main not found under $toolchain_lib/clang" >&2
    exit 2
fi

# -Xswiftc reaches every Swift module, so SSHWire, SSHKeys and SSHProtocol are instrumented as well as the targets
# (C code, i.e. swift-crypto's BoringSSL, is not). -enable-testing lets FuzzPrivateKey use @testable import.
build_flags=(
    --package-path "$fuzz" -c "$configuration" -j "$jobs"
    -Xswiftc -sanitize=address
    -Xswiftc -sanitize-coverage=edge,trace-cmp,pc-table,inline-8bit-counters
    -Xswiftc -enable-testing
    -Xswiftc -use-ld=lld
    -Xlinker "$fuzzer_lib" -Xlinker -lstdc++
)

echo "run-fuzzers: building Fuzz/ ($configuration)"
start=$(date +%s)
swift build "${build_flags[@]}"
echo "run-fuzzers: build took $(( $(date +%s) - start )) s"
bin=$(swift build "${build_flags[@]}" --show-bin-path)

failed=()
for target in "${targets[@]}"; do
    corpus="$fuzz/corpus-$target"
    artifacts="$fuzz/crash-$target"
    mkdir -p "$corpus" "$artifacts"
    inputs=("$corpus")
    for extra in "$fuzz/Seeds/$target" "$fuzz/Regressions/$target"; do
        [[ -d "$extra" ]] && inputs+=("$extra")
    done
    options=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/")
    [[ -f "$fuzz/Dictionaries/$target.dict" ]] && options+=(-dict="$fuzz/Dictionaries/$target.dict")
    echo "run-fuzzers: $target for ${seconds}s (corpus $corpus)"
    status=0
    # SWIFT_BACKTRACE=enable=no: otherwise a crash waits in Swift's backtracer instead of reaching libFuzzer.
    SWIFT_BACKTRACE=enable=no \
        "$bin/$target" "${options[@]}" "${inputs[@]}" || status=$?
    if [[ $status -ne 0 ]]; then
        echo "run-fuzzers: $target FAILED (exit $status); inputs in $artifacts/" >&2
        failed+=("$target")
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "run-fuzzers: failing targets: ${failed[*]}" >&2
    exit 1
fi
echo "run-fuzzers: all targets ran ${seconds}s without a crash"
