/* A round trip through the C ABI alone, for a library that no C# or C++ tool of ours can load
 * (the Windows DLL under Wine): inline stereo frames of an odd size through the identity style
 * come back byte for byte, a refused style keeps its status code, the style list has the
 * identity style. Usage: c_roundtrip HOST:PORT; prints "round trip ok" and exits 0. */
#include <stdio.h>
#include <string.h>

#include "artem/artem.h"

static int failures = 0;
#define CHECK(cond)                                               \
  do {                                                            \
    if (!(cond)) {                                                \
      fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                 \
    }                                                             \
  } while (0)

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: c_roundtrip HOST:PORT\n");
    return 64;
  }
  char err[512];
  artem_view_desc eyes[2] = {{37, 23, ARTEM_RGBA8, 0, 0}, {37, 23, ARTEM_RGBA8, 0, 0}};
  const size_t bytes = 37 * 23 * 4;
  artem_session* s = NULL;
  int code = artem_open_transport(argv[1], "identity", 1.0f, eyes, 2, 2, ARTEM_INLINE, &s, err, sizeof err);
  if (code != 0) {
    fprintf(stderr, "open: %d %s\n", code, err);
    return 1;
  }
  for (uint64_t id = 1; id <= 5; ++id) {
    const uint32_t slot = (uint32_t)(id % 2);
    for (uint32_t v = 0; v < 2; ++v) {
      uint8_t* p = artem_request_view(s, slot, v);
      for (size_t i = 0; i < bytes; ++i) p[i] = (uint8_t)(i * 7 + id * 13 + v * 101);
    }
    artem_frame_info info;
    code = artem_stylize(s, id, slot, &info, err, sizeof err);
    CHECK(code == 0 && info.id == id && info.slot == slot);
    for (uint32_t v = 0; code == 0 && v < 2; ++v) {
      const uint8_t* back = artem_reply_view(s, slot, v);
      int same = back != NULL;
      for (size_t i = 0; same && i < bytes; ++i) same = back[i] == (uint8_t)(i * 7 + id * 13 + v * 101);
      CHECK(same);
    }
  }
  CHECK(artem_set_style(s, "no-such-style", 1.0f, err, sizeof err) == 5 && strstr(err, "no-such-style"));
  artem_close(s);

  artem_style_list* styles = NULL;
  CHECK(artem_list_styles(argv[1], 10000, &styles, err, sizeof err) == 0);
  int identity = 0;
  artem_style_info style;
  for (uint32_t i = 0; i < artem_style_count(styles); ++i)
    if (artem_style_at(styles, i, &style) == 0 && strcmp(style.id, "identity") == 0) identity = 1;
  CHECK(identity);
  artem_style_list_free(styles);
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("round trip ok\n");
  return 0;
}
