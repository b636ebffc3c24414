#include "wire.h"

#include <cstring>

namespace artem::wire {

namespace {

enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

void PutVarint(std::string* out, std::uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutKey(std::string* out, std::uint32_t field, WireType type) { PutVarint(out, (field << 3) | type); }

// One field of a message being read: its number, wire type and value.
struct Field {
  std::uint32_t number = 0, type = 0;
  std::uint64_t varint = 0;            // kVarint, kFixed32, kFixed64
  const std::uint8_t* data = nullptr;  // kLen
  std::size_t size = 0;
};

class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
  bool done() const { return p_ == end_; }

  // The next field; false at a malformed one.
  bool Next(Field* f) {
    std::uint64_t key;
    if (!Varint(&key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff) return false;
    f->number = static_cast<std::uint32_t>(key >> 3);
    f->type = static_cast<std::uint32_t>(key & 7);
    switch (f->type) {
      case kVarint:
        return Varint(&f->varint);
      case kFixed64:
      case kFixed32: {
        const std::size_t n = f->type == kFixed32 ? 4 : 8;
        if (static_cast<std::size_t>(end_ - p_) < n) return false;
        f->varint = 0;
        for (std::size_t i = 0; i < n; ++i) f->varint |= std::uint64_t{p_[i]} << (8 * i);
        p_ += n;
        return true;
      }
      case kLen: {
        std::uint64_t n;
        if (!Varint(&n) || n > static_cast<std::uint64_t>(end_ - p_)) return false;
        f->data = p_;
        f->size = static_cast<std::size_t>(n);
        p_ += n;
        return true;
      }
      default:  // groups (3, 4) are not in stylizer.proto
        return false;
    }
  }

 private:
  bool Varint(std::uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64 && p_ < end_; shift += 7) {
      const std::uint8_t b = *p_++;
      *v |= std::uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }

  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

float AsFloat(const Field& f) {
  const std::uint32_t bits = static_cast<std::uint32_t>(f.varint);
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return f.type == kFixed32 ? v : 0.0f;
}

std::string AsString(const Field& f) {
  return f.type == kLen ? std::string(reinterpret_cast<const char*>(f.data), f.size) : std::string();
}

bool ParseView(const Field& in, Reply::View* v) {
  Reader r(in.data, in.size);
  Field f;
  while (!r.done()) {
    if (!r.Next(&f)) return false;
    if (f.number == 5 && f.type == kVarint) v->row_stride = static_cast<std::uint32_t>(f.varint);
    if ((f.number == 6 || f.number == 8) && f.type == kLen) v->data = f.data, v->size = f.size;  // data, jpeg
  }
  return true;
}

bool ParseTimings(const Field& in, Reply* reply) {
  Reader r(in.data, in.size);
  Field f;
  while (!r.done()) {
    if (!r.Next(&f)) return false;
    float* at[] = {nullptr, &reply->queue_ms, &reply->convert_ms, &reply->model_ms, &reply->total_ms,
                   &reply->transfer_ms};
    if (f.number >= 1 && f.number <= 5) *at[f.number] = AsFloat(f);
  }
  return true;
}

bool ParseFrame(const Field& in, Reply* reply) {
  Reader r(in.data, in.size);
  Field f;
  while (!r.done()) {
    if (!r.Next(&f)) return false;
    if (f.number == 1 && f.type == kVarint) reply->id = f.varint;
    if (f.number == 5 && f.type == kVarint) reply->dropped_frames = static_cast<std::uint32_t>(f.varint);
    if (f.number == 3 && f.type == kLen) {
      reply->views.emplace_back();
      if (!ParseView(f, &reply->views.back())) return false;
    }
    if (f.number == 4 && f.type == kLen && !ParseTimings(f, reply)) return false;
  }
  return true;
}

bool ParseStatus(const Field& in, Reply* reply) {
  Reader r(in.data, in.size);
  Field f;
  while (!r.done()) {
    if (!r.Next(&f)) return false;
    if (f.number == 1 && f.type == kVarint) reply->code = static_cast<int>(static_cast<std::int32_t>(f.varint));
    if (f.number == 2) reply->message = AsString(f);
  }
  return true;
}

}  // namespace

std::size_t VarintSize(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) v >>= 7, ++n;
  return n;
}

void Writer::PresentVarint(std::uint32_t field, std::uint64_t v) {
  PutKey(&out, field, kVarint);
  PutVarint(&out, v);
}

void Writer::PresentFloat(std::uint32_t field, float v) {
  PutKey(&out, field, kFixed32);
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

void Writer::Bytes(std::uint32_t field, const void* data, std::size_t size) {
  if (size) PresentBytes(field, data, size);
}

void Writer::PresentBytes(std::uint32_t field, const void* data, std::size_t size) {
  LengthPrefix(field, size);
  out.append(static_cast<const char*>(data), size);
}

void Writer::LengthPrefix(std::uint32_t field, std::uint64_t size) {
  PutKey(&out, field, kLen);
  PutVarint(&out, size);
}

std::string EncodeConfigRequest(const Config& c) {
  Writer config;  // SessionConfig
  config.String(1, c.style);
  config.PresentFloat(2, c.strength);
  if (c.shared_memory) {
    Writer region;  // SharedMemoryRegion
    region.String(1, c.region_name);
    region.Varint(2, c.region_size);
    region.Varint(3, c.slot_count);
    region.Varint(4, c.slot_size);
    region.String(5, c.region_key);
    config.Message(10, region);
  }
  if (c.jpeg_quality) config.PresentVarint(11, c.jpeg_quality);
  Writer request;  // StylizeRequest.config
  request.Message(1, config);
  return request.out;
}

void EncodeViewHead(const ViewHead& v, Writer* w) {
  w->Varint(1, v.width);
  w->Varint(2, v.height);
  w->Varint(3, v.format);
  w->Varint(4, v.color_space);
  w->Varint(5, v.row_stride);
}

std::string EncodeListStylesRequest(const std::string& page_token) {
  Writer w;
  w.String(2, page_token);
  return w.out;
}

bool ParseReply(const std::uint8_t* data, std::size_t size, Reply* reply) {
  *reply = Reply();
  Reader r(data, size);
  Field f;
  while (!r.done()) {
    if (!r.Next(&f)) return false;
    if (f.type != kLen) continue;
    if (f.number == 1) {  // frame (a later one replaces an earlier one, as protobuf merges)
      reply->kind = Reply::Kind::kFrame;
      reply->views.clear();
      if (!ParseFrame(f, reply)) return false;
    } else if (f.number == 2) {
      reply->kind = Reply::Kind::kSession;
    } else if (f.number == 3) {
      reply->has_error = true;
      if (!ParseStatus(f, reply)) return false;
    }
  }
  return true;
}

bool ParseListStylesReply(const std::uint8_t* data, std::size_t size, std::vector<StyleInfo>* styles,
                          std::string* next_page_token) {
  next_page_token->clear();
  Reader r(data, size);
  Field f;
  while (!r.done()) {
    if (!r.Next(&f)) return false;
    if (f.number == 2) *next_page_token = AsString(f);
    if (f.number != 1 || f.type != kLen) continue;
    StyleInfo s;
    Reader sr(f.data, f.size);
    Field g;
    while (!sr.done()) {
      if (!sr.Next(&g)) return false;
      std::string* at[] = {nullptr, &s.id, &s.kind, &s.display_name, &s.thumbnail_png};
      if (g.number >= 1 && g.number <= 4) *at[g.number] = AsString(g);
    }
    styles->push_back(std::move(s));
  }
  return true;
}

}  // namespace artem::wire
