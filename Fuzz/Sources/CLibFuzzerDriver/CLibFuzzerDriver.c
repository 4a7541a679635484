#include "CLibFuzzerDriver.h"

int shh_fuzz_run_driver(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size)) {
    return LLVMFuzzerRunDriver(&argc, &argv, callback);
}

// AddressSanitizer's defaults for every fuzz target (ASAN_OPTIONS in the environment still overrides them).
// malloc_context_size=0: ASan otherwise unwinds and stores a stack for every allocation and free, which cost
// ~12% of FuzzServerTransport's executions (Swift allocates for most values). A report still names the bad
// access and its stack; to see where a freed or overflowed block was allocated, replay the input with
// ASAN_OPTIONS=malloc_context_size=30.
__attribute__((visibility("default"), used))
const char *__asan_default_options(void) {
    return "malloc_context_size=0";
}
