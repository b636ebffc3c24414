// The few messages of proto/artem/v1/stylizer.proto the native core sends and reads, in protobuf
// wire format by hand: no protobuf library in the plugin. Field numbers are the proto file's;
// fields this client never reads are skipped by wire type, as protobuf does with unknown fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace artem::wire {

// Appending encoder. Scalars at their default (0, "") are left out, as proto3 does for fields
// without presence; Present* writes a field that has presence (`optional`) even when 0.
class Writer {
 public:
  void Varint(std::uint32_t field, std::uint64_t v) {
    if (v) PresentVarint(field, v);
  }
  void PresentVarint(std::uint32_t field, std::uint64_t v);
  void PresentFloat(std::uint32_t field, float v);
  void Bytes(std::uint32_t field, const void* data, std::size_t size);
  void String(std::uint32_t field, const std::string& s) { Bytes(field, s.data(), s.size()); }
  void Message(std::uint32_t field, const Writer& m) { PresentBytes(field, m.out.data(), m.out.size()); }
  void PresentBytes(std::uint32_t field, const void* data, std::size_t size);
  // The key and length of a length-delimited field whose `size` bytes the caller sends after.
  void LengthPrefix(std::uint32_t field, std::uint64_t size);

  std::string out;
};

std::size_t VarintSize(std::uint64_t v);

// Fields of a StylizeRequest.config (SessionConfig) this client sets.
struct Config {
  std::string style;
  float strength = 1.0f;
  std::uint32_t jpeg_quality = 0;  // 0: not sent
  bool shared_memory = false;
  std::string region_name, region_key;
  std::uint64_t region_size = 0, slot_size = 0;
  std::uint32_t slot_count = 0;
};
std::string EncodeConfigRequest(const Config& config);

// View fields 1-5 (width, height, format, color_space, row_stride).
struct ViewHead {
  std::uint32_t width = 0, height = 0, format = 0, color_space = 0, row_stride = 0;
};
void EncodeViewHead(const ViewHead& v, Writer* w);

std::string EncodeListStylesRequest(const std::string& page_token);

// A StylizeReply as read: pointers into the bytes it was parsed from.
struct Reply {
  enum class Kind { kNone, kFrame, kSession };
  struct View {
    std::uint32_t row_stride = 0;
    const std::uint8_t* data = nullptr;  // View.data or View.jpeg
    std::size_t size = 0;
  };
  Kind kind = Kind::kNone;
  bool has_error = false;
  int code = 0;
  std::string message;
  std::uint64_t id = 0;
  std::uint32_t dropped_frames = 0;
  float queue_ms = 0, convert_ms = 0, model_ms = 0, transfer_ms = 0, total_ms = 0;
  std::vector<View> views;
};
// False when the bytes are not a well-formed message.
bool ParseReply(const std::uint8_t* data, std::size_t size, Reply* reply);

struct StyleInfo {
  std::string id, kind, display_name, thumbnail_png;
};
// Appends the page's styles; `next_page_token` gets the token (empty on the last page).
bool ParseListStylesReply(const std::uint8_t* data, std::size_t size, std::vector<StyleInfo>* styles,
                          std::string* next_page_token);

}  // namespace artem::wire
