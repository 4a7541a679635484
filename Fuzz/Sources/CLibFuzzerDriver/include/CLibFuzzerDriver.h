// libFuzzer's entry point for programs that have their own main (libclang_rt.fuzzer_no_main).
#ifndef SHH_CLIBFUZZERDRIVER_H
#define SHH_CLIBFUZZERDRIVER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer with the command line in argc/argv, calling `callback` for every input.
/// Returns only for runs that end normally (e.g. -max_total_time, -runs); a crash exits the process.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

/// LLVMFuzzerRunDriver with argc/argv by value, for Swift callers.
int shh_fuzz_run_driver(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size));

#endif
