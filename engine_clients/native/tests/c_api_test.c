/* The C ABI from C: errors come back as status codes with messages, never as crashes. */
#include <stdio.h>
#include <string.h>

#include "artem/artem.h"
#include "check.h"

int main(void) {
  char err[256];
  artem_session* s = (artem_session*)&err; /* overwritten with NULL on failure */
  artem_view_desc eye = {64, 48, ARTEM_RGBA8, 0, 0};
  artem_view_desc bad_format = {64, 48, 7, 0, 0};
  artem_view_desc short_stride = {64, 48, ARTEM_RGB8, 100, 0};

  CHECK(artem_open("127.0.0.1:1", "identity", 1.0f, &eye, 0, 1, &s, err, sizeof err) == 3 && s == NULL);
  CHECK(strstr(err, "views has 0 entries") != NULL);
  CHECK(artem_open("127.0.0.1:1", "identity", 1.0f, &bad_format, 1, 1, &s, err, sizeof err) == 3 && s == NULL);
  CHECK(strstr(err, "format = 7") != NULL);
  CHECK(artem_open("127.0.0.1:1", "identity", 1.0f, &short_stride, 1, 1, &s, err, sizeof err) == 3 && s == NULL);
  CHECK(strstr(err, "row_stride = 100") != NULL);
  CHECK(artem_open("127.0.0.1:1", "identity", 1.0f, &eye, 1, 0, &s, err, sizeof err) == 3 && s == NULL);
  CHECK(strstr(err, "slot_count = 0") != NULL);
  CHECK(artem_open(NULL, "identity", 1.0f, &eye, 1, 1, &s, err, sizeof err) == 3 && s == NULL);
  CHECK(strstr(err, "NULL") != NULL);
  char tiny[8];
  CHECK(artem_open("127.0.0.1:1", "identity", 1.0f, &eye, 1, 0, &s, tiny, sizeof tiny) == 3);
  CHECK(strlen(tiny) == sizeof tiny - 1); /* truncated, NUL-terminated */

  CHECK(artem_open("127.0.0.1:1", "identity", 1.0f, &eye, 1, 1, NULL, err, sizeof err) == 3);
  CHECK(strstr(err, "session") != NULL);
  /* nothing listens on port 1: UNAVAILABLE, and the region made for it is gone again */
  CHECK(artem_open("127.0.0.1:1", "identity", 1.0f, &eye, 1, 1, &s, err, sizeof err) == 14 && s == NULL);
  CHECK(strlen(err) > 0);
  CHECK(artem_stylize(NULL, 1, 0, NULL, err, sizeof err) == 3);
  CHECK(artem_set_style(NULL, "x", 1.0f, err, sizeof err) == 3);
  CHECK(artem_send(NULL, 1, 0, err, sizeof err) == 3);
  artem_frame_info info;
  CHECK(artem_receive(NULL, 0, &info, err, sizeof err) == 3);
  CHECK(artem_request_view(NULL, 0, 0) == NULL && artem_reply_view(NULL, 0, 0) == NULL);
  artem_close(NULL);

  CHECK(artem_open_transport("127.0.0.1:1", "identity", 1.0f, &eye, 1, 1, 7, &s, err, sizeof err) == 3 && s == NULL);
  CHECK(strstr(err, "transport = 7") != NULL);
  const int jpeg = artem_open_transport("127.0.0.1:1", "identity", 1.0f, &eye, 1, 1, ARTEM_JPEG, &s, err, sizeof err);
  CHECK(jpeg == 14 || (jpeg == 12 && strstr(err, "no JPEG") != NULL)); /* 12: built without libjpeg-turbo */
  CHECK(artem_open_transport("127.0.0.1:1", "identity", 1.0f, &eye, 1, 1, ARTEM_INLINE, &s, err, sizeof err) == 14);

  artem_style_list* styles = (artem_style_list*)&err;
  CHECK(artem_list_styles("127.0.0.1:1", 2000, &styles, err, sizeof err) == 14 && styles == NULL);
  CHECK(strstr(err, "127.0.0.1:1") != NULL);
  CHECK(artem_list_styles(NULL, 2000, &styles, err, sizeof err) == 3);

  /* connect options: checked before any connection, each mistake named */
  artem_connect_options options;
  memset(&options, 0, sizeof options);
  CHECK(artem_open_ex("127.0.0.1:1", &options, "identity", 1.0f, &eye, 1, 1, ARTEM_INLINE, &s, err, sizeof err) == 3);
  CHECK(strstr(err, "options->struct_size = 0") != NULL);
  options.struct_size = sizeof options;
  options.token = "two words";
  CHECK(artem_list_styles_ex("127.0.0.1:1", &options, 2000, &styles, err, sizeof err) == 3 && styles == NULL);
  CHECK(strstr(err, "options->token") != NULL);
  options.token = "a-token-of-sixteen-or-more";
  options.tls_server_name = "artem.example";
  CHECK(artem_open_ex("127.0.0.1:1", &options, "identity", 1.0f, &eye, 1, 1, ARTEM_INLINE, &s, err, sizeof err) == 3);
  CHECK(strstr(err, "tls_server_name is set without options->tls_ca_file") != NULL);
  options.tls_ca_file = "/no/such/ca.pem";
  CHECK(artem_open_ex("127.0.0.1:1", &options, "identity", 1.0f, &eye, 1, 1, ARTEM_INLINE, &s, err, sizeof err) == 3);
  CHECK(strstr(err, "options->tls_ca_file = /no/such/ca.pem: the file cannot be read") != NULL);
  options.tls_ca_file = NULL;
  options.tls_server_name = NULL;
  CHECK(artem_open_ex("127.0.0.1:1", &options, "identity", 1.0f, &eye, 1, 1, ARTEM_INLINE, &s, err, sizeof err) == 14);
  CHECK(artem_list_styles_ex("127.0.0.1:1", NULL, 2000, &styles, err, sizeof err) == 14 && styles == NULL);

  artem_style_info style;
  CHECK(artem_style_count(NULL) == 0 && artem_style_at(NULL, 0, &style) == 3);
  artem_style_list_free(NULL);
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
