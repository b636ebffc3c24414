// Only in the self-contained Linux plugin (scripts/build_native.py). The statically linked
// libstdc++ refers to arc4random (std::random_device, which this library never uses), a glibc
// 2.36 symbol: resolved by the system's glibc it would keep the plugin from loading on glibc
// 2.34/2.35 (Ubuntu 22.04). This definition, from the same kernel source, takes its place.
#include <sys/random.h>

#include <cerrno>
#include <cstdint>

extern "C" __attribute__((visibility("hidden"))) std::uint32_t arc4random() {
  std::uint32_t r = 0;
  while (getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r) && errno == EINTR) {
  }
  return r;
}
