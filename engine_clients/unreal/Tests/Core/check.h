// A few lines of test support for the core's ctest programs (built without exceptions, as the
// code under test): CHECK prints the failing expression and its line and counts it.
#pragma once

#include <cstdio>

namespace check {
inline int failures = 0;
}

#define CHECK(expr)                                                                 \
  do {                                                                              \
    if (!(expr)) {                                                                  \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
      ++check::failures;                                                            \
    }                                                                               \
  } while (0)

#define CHECK_EQ(a, b)                                                                        \
  do {                                                                                        \
    const auto va = (a);                                                                      \
    const auto vb = (b);                                                                      \
    if (!(va == vb)) {                                                                        \
      std::fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld vs %lld)\n", __FILE__,     \
                   __LINE__, #a, #b, static_cast<long long>(va), static_cast<long long>(vb)); \
      ++check::failures;                                                                      \
    }                                                                                         \
  } while (0)

inline int check_result(const char* name) {
  if (check::failures) {
    std::fprintf(stderr, "%s: %d check(s) failed\n", name, check::failures);
    return 1;
  }
  std::printf("%s: all checks passed\n", name);
  return 0;
}
