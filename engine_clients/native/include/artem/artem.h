/* ArtEm native client: a C ABI for engines (Unity P/Invoke, Unreal) over one Stylize stream
 * whose frames travel through a shared-memory region on the same host
 * (docs/shared-memory.md). One session = one stream = one region of slots; call it from one
 * thread at a time.
 *
 *   artem_view_desc eyes[2] = {{1832, 1920, ARTEM_RGBA8, 0, 1}, {1832, 1920, ARTEM_RGBA8, 0, 1}};
 *   char err[512];
 *   artem_session* s;
 *   if (artem_open("127.0.0.1:50051", "tessera", 1.0f, eyes, 2, 2, &s, err, sizeof err) != 0) fail(err);
 *   memcpy(artem_request_view(s, slot, 0), left_eye, bytes);   // or read back straight into it
 *   if (artem_stylize(s, frame_id, slot, &info, err, sizeof err) == 0)
 *       use(artem_reply_view(s, slot, 0));                         // valid until the slot is sent again
 *   artem_close(s);
 *
 * A render thread that must not wait sends with artem_send and picks replies up with
 * artem_receive (timeout 0 polls); with k slots it keeps up to k frames out.
 *
 * Functions that can fail return 0 on success, else a gRPC status code (3 INVALID_ARGUMENT,
 * 5 NOT_FOUND, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE, ...) and write a message naming the field,
 * the value and what was expected into `error` (NUL-terminated, truncated to `error_len`).
 */
#ifndef ARTEM_ARTEM_H_
#define ARTEM_ARTEM_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(ARTEM_BUILDING_LIBRARY)
#define ARTEM_API __declspec(dllexport)
#elif defined(_WIN32)
#define ARTEM_API __declspec(dllimport)
#elif defined(ARTEM_BUILDING_LIBRARY)
#define ARTEM_API __attribute__((visibility("default")))
#else
#define ARTEM_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Pixel formats: the values of artem.v1.PixelFormat. */
enum { ARTEM_RGBA8 = 1, ARTEM_BGRA8 = 2, ARTEM_RGB8 = 3 };

/* How a session's pixels travel: a shared-memory region (server on the same host), inline in the
 * gRPC messages (any server; the request slots then live in the client's own memory), or as JPEG
 * at quality 90 both ways (a server over a network; alpha comes back 255). */
enum { ARTEM_SHARED_MEMORY = 0, ARTEM_INLINE = 1, ARTEM_JPEG = 2 };

typedef struct artem_view_desc {
  int32_t width;      /* pixels, > 0 */
  int32_t height;     /* pixels, > 0 */
  int32_t format;     /* ARTEM_RGBA8, ARTEM_BGRA8 or ARTEM_RGB8 */
  int32_t row_stride; /* bytes from one row to the next; 0: packed (width * bytes per pixel) */
  int32_t linear;     /* 1: linear colour (engines render in linear), 0: sRGB */
} artem_view_desc;

typedef struct artem_frame_info {
  uint64_t id;             /* the frame this reply answers */
  uint32_t slot;           /* the slot it was sent from: its pixels are in this reply slot */
  uint32_t dropped_frames; /* earlier frames replaced unanswered (latest frame wins) */
  int32_t code;            /* 0, or the status code of a refused frame (artem_receive) */
  float queue_ms, convert_ms, model_ms, transfer_ms, total_ms; /* the server's timings */
} artem_frame_info;

typedef struct artem_session artem_session;

/* Connects, creates and registers a region of `slot_count` slots (1..64) sized for `views`
 * (1 or 2 views, laid out in each slot one after the other at 64-byte offsets), and starts a
 * Stylize stream in `style` at `strength` (0..1). `*session` is the new session, or NULL on
 * failure. */
ARTEM_API int artem_open(const char* address, const char* style, float strength, const artem_view_desc* views,
                         uint32_t n_views, uint32_t slot_count, artem_session** session, char* error,
                         size_t error_len);

/* artem_open with a choice of transport: ARTEM_SHARED_MEMORY (what artem_open uses), ARTEM_INLINE
 * or ARTEM_JPEG (12 UNIMPLEMENTED where the library was built without libjpeg-turbo). The slot
 * API is the same for all three. */
ARTEM_API int artem_open_transport(const char* address, const char* style, float strength,
                                   const artem_view_desc* views, uint32_t n_views, uint32_t slot_count,
                                   int32_t transport, artem_session** session, char* error, size_t error_len);

/* How to reach a server started with --token-file and/or --tls-cert/--tls-key. Zero it, set
 * `struct_size` to sizeof(artem_connect_options) (later versions may add fields at the end and
 * read only what a caller's size covers), then what the server asks for. */
typedef struct artem_connect_options {
  uint32_t struct_size;
  const char* token;           /* bearer token, sent as `authorization: Bearer <token>` on every
                                * call; NULL or "": none */
  const char* tls_ca_file;     /* PEM file of the CA that signed the server's certificate (for a
                                * self-signed server, its certificate): TLS (ALPN h2, TLS 1.2) with
                                * that certificate checked; NULL or "": plaintext */
  const char* tls_server_name; /* the name the server's certificate must carry; NULL or "": the
                                * address's host (a name, or an IP address matched against the
                                * certificate's IP entries) */
} artem_connect_options;

/* artem_open_transport with `options` (NULL: plaintext, no token). A server that refuses the
 * token answers 16 (UNAUTHENTICATED) with its message; a certificate that is not trusted, a
 * plaintext server for TLS or a TLS server for plaintext fail with 14 (UNAVAILABLE) and the
 * reason; 12 (UNIMPLEMENTED) where the library was built without TLS. */
ARTEM_API int artem_open_ex(const char* address, const artem_connect_options* options, const char* style,
                            float strength, const artem_view_desc* views, uint32_t n_views, uint32_t slot_count,
                            int32_t transport, artem_session** session, char* error, size_t error_len);

/* Where view `view` of request slot `slot` lives: write the frame's pixels here. NULL when
 * slot or view is out of range. */
ARTEM_API uint8_t* artem_request_view(artem_session* session, uint32_t slot, uint32_t view);

/* Where the server writes view `view` of the reply to a frame sent from `slot`. Inline, the
 * address may change from one reply to the next: ask after each reply. */
ARTEM_API const uint8_t* artem_reply_view(artem_session* session, uint32_t slot, uint32_t view);

/* Sends frame `id` (its pixels already in request slot `slot`) and waits for its reply. */
ARTEM_API int artem_stylize(artem_session* session, uint64_t id, uint32_t slot, artem_frame_info* info,
                            char* error, size_t error_len);

/* Sends frame `id` from request slot `slot` without waiting. The slot is the server's until
 * a reply for this frame or a later one has been received. Ids must increase from frame to
 * frame: "earlier" below means a smaller id. */
ARTEM_API int artem_send(artem_session* session, uint64_t id, uint32_t slot, char* error, size_t error_len);

/* The next frame reply, waiting up to `timeout_ms` (0 polls, < 0 waits as long as it takes).
 * Returns 0 with `info` filled (info->code != 0: that frame was refused, `error` says why; it
 * frees only its own slot; a reply with code 0 also frees the slots of every earlier frame,
 * answered or dropped), 4 (DEADLINE_EXCEEDED) when none came in time, or the status code
 * with which the stream ended. */
ARTEM_API int artem_receive(artem_session* session, int32_t timeout_ms, artem_frame_info* info, char* error,
                            size_t error_len);

/* Switches the stream to another style and strength without reconnecting. */
ARTEM_API int artem_set_style(artem_session* session, const char* style, float strength, char* error,
                              size_t error_len);

/* Ends the stream, unmaps and unlinks the region, frees the session. NULL is ignored. */
ARTEM_API void artem_close(artem_session* session);

/* The styles a server offers (ListStyles), for a style picker. */
typedef struct artem_style_list artem_style_list;

typedef struct artem_style_info {
  const char* id;               /* what artem_open and artem_set_style take */
  const char* kind;             /* identity, generator, adain, xnor, ... */
  const char* display_name;
  const uint8_t* thumbnail_png; /* a small preview (PNG bytes); NULL when the style has none */
  size_t thumbnail_len;
} artem_style_info;

/* Asks the server at `address` for its styles, waiting up to `timeout_ms`. `*list` is freed with
 * artem_style_list_free; NULL on failure. */
ARTEM_API int artem_list_styles(const char* address, int32_t timeout_ms, artem_style_list** list, char* error,
                                size_t error_len);

/* artem_list_styles with `options` (as artem_open_ex; NULL: plaintext, no token). */
ARTEM_API int artem_list_styles_ex(const char* address, const artem_connect_options* options, int32_t timeout_ms,
                                   artem_style_list** list, char* error, size_t error_len);

ARTEM_API uint32_t artem_style_count(const artem_style_list* list);

/* Style `index` (< artem_style_count): 0, or 3 when out of range. Its strings and bytes stay
 * valid until artem_style_list_free. */
ARTEM_API int artem_style_at(const artem_style_list* list, uint32_t index, artem_style_info* info);

ARTEM_API void artem_style_list_free(artem_style_list* list);

#ifdef __cplusplus
}
#endif

#endif /* ARTEM_ARTEM_H_ */
