/* A round trip through the C ABI alone, for a library that no C# or C++ tool of ours can load
 * (the Windows DLL under Wine): inline stereo frames of an odd size through the identity style
 * come back byte for byte, a refused style keeps its status code, the style list has the
 * identity style. With --token/--tls-ca/--tls-server-name it connects through artem_open_ex
 * and artem_list_styles_ex (a server started with --token-file, --tls-cert). Usage:
 *   c_roundtrip HOST:PORT [--token T] [--tls-ca FILE] [--tls-server-name NAME]
 * prints "round trip ok" and exits 0; a refused open or list prints "open: CODE MESSAGE" or
 * "list: CODE MESSAGE" and exits 1. */
#include <stdio.h>
#include <string.h>

#include "artem/artem.h"
#include "check.h"

int main(int argc, char** argv) {
  artem_connect_options options;
  memset(&options, 0, sizeof options);
  options.struct_size = sizeof options;
  int with_options = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    with_options = 1;
    if (strcmp(argv[i], "--token") == 0) options.token = argv[i + 1];
    else if (strcmp(argv[i], "--tls-ca") == 0) options.tls_ca_file = argv[i + 1];
    else if (strcmp(argv[i], "--tls-server-name") == 0) options.tls_server_name = argv[i + 1];
    else argc = 0;
  }
  if (argc < 2 || argc % 2) {
    fprintf(stderr, "usage: c_roundtrip HOST:PORT [--token T] [--tls-ca FILE] [--tls-server-name NAME]\n");
    return 64;
  }
  char err[512];
  artem_view_desc eyes[2] = {{37, 23, ARTEM_RGBA8, 0, 0}, {37, 23, ARTEM_RGBA8, 0, 0}};
  const size_t bytes = 37 * 23 * 4;
  artem_session* s = NULL;
  int code = with_options ? artem_open_ex(argv[1], &options, "identity", 1.0f, eyes, 2, 2, ARTEM_INLINE, &s, err,
                                          sizeof err)
                          : artem_open_transport(argv[1], "identity", 1.0f, eyes, 2, 2, ARTEM_INLINE, &s, err,
                                                 sizeof err);
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
  code = with_options ? artem_list_styles_ex(argv[1], &options, 10000, &styles, err, sizeof err)
                      : artem_list_styles(argv[1], 10000, &styles, err, sizeof err);
  if (code != 0) {
    fprintf(stderr, "list: %d %s\n", code, err);
    return 1;
  }
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
