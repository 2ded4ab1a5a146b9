// The libFuzzer entry point every target in tests/fuzz defines. Built two ways:
//   - with clang's -fsanitize=fuzzer by tools/fuzz.sh, for coverage-guided fuzzing;
//   - with any compiler into a replay test (replay_main.cc), which runs the committed corpus and
//     every crash ever found through the same function under the suite's sanitizers.
// A target reports a broken property with FUZZ_CHECK, which aborts (a crash for both builds).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define FUZZ_CHECK(cond)                                                        \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                             \
    }                                                                           \
  } while (0)
