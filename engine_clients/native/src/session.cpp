#include "session.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "jpeg_codec.h"
#include "grpc_client.h"
#include "wire.h"

namespace artem {

// The stream carries raw bytes both ways, so that inline pixels go out straight from the request
// slot (no copy into a message, none into a serialized buffer) and replies are read into buffers
// kept per slot and reused frame after frame, their pixels used where they were parsed.
struct Session::Stream {
  Stream(const std::string& address, const rpc::Security& security)
      : channel(address, security), call(channel, "/artem.v1.Stylizer/Stylize") {}
  rpc::Channel channel;
  rpc::Stream call;
  std::mutex writing;  // one writer at a time; the reader thread reads alongside
};

struct Session::Incoming {
  std::vector<std::uint8_t> bytes;  // as large as the largest reply read into it
  wire::Reply reply;                // points into `bytes`
};

namespace {

constexpr std::uint32_t kRequestFrame = 2;                      // StylizeRequest.frame
constexpr std::uint32_t kFrameId = 1, kFrameViews = 3;            // Frame fields
constexpr std::uint32_t kViewData = 6, kViewShm = 7, kViewJpeg = 8;
constexpr std::uint32_t kColorSpaceSrgb = 1, kColorSpaceLinear = 2;

}  // namespace

std::uint32_t BytesPerPixel(std::uint32_t format) {
  switch (format) {
    case 1:  // RGBA8
    case 2:  // BGRA8
      return 4;
    case 3:  // RGB8
      return 3;
    default:
      throw Error(rpc::kInvalidArgument,
                  "format = " + std::to_string(format) + ": expected 1 (RGBA8), 2 (BGRA8) or 3 (RGB8)");
  }
}

Session::Session(const std::string& address, const std::string& style, float strength, std::vector<ViewDesc> views,
                 std::uint32_t slot_count, Transport transport, int jpeg_quality,
                 const rpc::Security& security)
    : views_(std::move(views)), slot_count_(slot_count), transport_(transport), jpeg_quality_(jpeg_quality) {
  if (views_.empty() || views_.size() > 2)
    throw Error(rpc::kInvalidArgument,
                "views has " + std::to_string(views_.size()) + " entries: expected 1 (mono) or 2 (left, right eye)");
  std::uint64_t end = 0;
  for (std::size_t i = 0; i < views_.size(); ++i) {
    const ViewDesc& v = views_[i];
    const std::uint32_t bpp = BytesPerPixel(v.format);
    if (v.width == 0 || v.height == 0)
      throw Error(rpc::kInvalidArgument,
                  "views[" + std::to_string(i) + "] is " + std::to_string(v.width) + "x" + std::to_string(v.height) +
                      ": expected a positive width and height");
    if (v.row_stride && v.row_stride < v.width * bpp)
      throw Error(rpc::kInvalidArgument,
                  "views[" + std::to_string(i) + "].row_stride = " + std::to_string(v.row_stride) +
                      ": expected 0 (packed) or at least width * " + std::to_string(bpp));
    offsets_.push_back(AlignUp(end, kViewAlign));
    end = offsets_.back() + view_bytes(static_cast<std::uint32_t>(i));
  }
  slot_size_ = AlignUp(end, kSlotAlign);
  if (transport_ == Transport::kJpeg && !JpegAvailable())
    throw Error(rpc::kUnimplemented, "transport jpeg: this build of the native core has no JPEG");
  if (transport_ == Transport::kJpeg && (jpeg_quality_ < 1 || jpeg_quality_ > 100))
    throw Error(rpc::kInvalidArgument,
                "jpeg_quality = " + std::to_string(jpeg_quality_) + ": expected 1..100");
  if (slot_count_ < 1 || slot_count_ > kMaxSlots)
    throw Error(rpc::kInvalidArgument,
                "slot_count = " + std::to_string(slot_count_) + ": expected 1.." + std::to_string(kMaxSlots));
  if (transport_ == Transport::kSharedMemory) {
    try {
      region_ = std::make_unique<ShmRegion>(ShmRegion::UniqueName(), slot_count_, slot_size_);
    } catch (const std::exception& e) {
      throw Error(rpc::kInternal, std::string("shared memory: ") + e.what());
    }
  } else {
    local_slots_.resize(2 * std::uint64_t{slot_count_} * slot_size_);
  }
  for (std::uint32_t slot = 0; slot < slot_count_; ++slot)
    for (std::uint32_t i = 0; i < views_.size(); ++i)
      reply_at_.push_back((region_ ? region_->reply_slot(slot)
                                   : local_slots_.data() + (std::uint64_t{slot_count_} + slot) * slot_size_) +
                          offsets_[i]);
  held_.resize(slot_count_);
  stream_ = std::make_unique<Stream>(address, security);
  reader_ = std::thread([this] { ReadLoop(); });
  try {
    Configure(style, strength, transport_ == Transport::kSharedMemory);
  } catch (...) {
    stream_->call.Cancel();  // the destructor will not run: end the call and its reader here
    reader_.join();
    throw;
  }
}

Session::~Session() {
  {
    std::lock_guard<std::mutex> lock(stream_->writing);
    stream_->call.WritesDone();
  }
  {  // the server ends the stream once it has released the region: unlinking is safe then
    std::unique_lock<std::mutex> lock(mutex_);
    if (!ready_.wait_for(lock, std::chrono::seconds(10), [this] { return ended_; })) stream_->call.Cancel();
  }
  reader_.join();
}

void Session::ReadLoop() {
  for (;;) {
    std::unique_ptr<Incoming> in;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!spare_.empty()) {  // a reply done with: its buffer keeps its size
        in = std::move(spare_.back());
        spare_.pop_back();
      }
    }
    if (!in) in = std::make_unique<Incoming>();
    std::size_t size = 0;
    if (!stream_->call.Read(&in->bytes, &size)) break;
    if (!wire::ParseReply(in->bytes.data(), size, &in->reply)) {
      in->reply = wire::Reply();
      in->reply.has_error = true;
      in->reply.code = rpc::kInternal;
      in->reply.message = "a reply from the server could not be parsed as a StylizeReply";
    }
    std::lock_guard<std::mutex> lock(mutex_);
    replies_.push_back(std::move(in));
    ready_.notify_all();
  }
  const rpc::Status status = stream_->call.Finish();
  std::lock_guard<std::mutex> lock(mutex_);
  ended_ = true;
  end_code_ = status.code == 0 ? rpc::kUnavailable : status.code;
  end_message_ = status.code == 0 ? "the server ended the stream" : status.message;
  ready_.notify_all();
}

std::uint64_t Session::view_bytes(std::uint32_t view) const {
  const ViewDesc& v = views_.at(view);
  return ViewBytes(v.width, v.height, BytesPerPixel(v.format), v.row_stride);
}

void Session::CheckSlot(std::uint32_t slot, std::uint32_t view) const {
  if (slot >= slot_count_ || view >= views_.size())
    throw Error(rpc::kInvalidArgument, "slot " + std::to_string(slot) + ", view " + std::to_string(view) +
                                           ": expected slot < " + std::to_string(slot_count_) + " and view < " +
                                           std::to_string(views_.size()));
}

std::uint8_t* Session::request_view(std::uint32_t slot, std::uint32_t view) {
  CheckSlot(slot, view);
  std::uint8_t* base = region_ ? region_->request_slot(slot) : local_slots_.data() + slot * slot_size_;
  return base + offsets_[view];
}

const std::uint8_t* Session::reply_view(std::uint32_t slot, std::uint32_t view) const {
  CheckSlot(slot, view);
  return reply_at_[slot * views_.size() + view];
}

void Session::Configure(const std::string& style, float strength, bool register_region) {
  wire::Config config;
  config.style = style;
  config.strength = strength;
  if (transport_ == Transport::kJpeg) config.jpeg_quality = static_cast<std::uint32_t>(jpeg_quality_);
  if (register_region) {
    config.shared_memory = true;
    config.region_name = region_->name();
    config.region_size = region_->size();
    config.slot_count = region_->slot_count();
    config.slot_size = region_->slot_size();
    config.region_key = region_->key();
  }
  {
    std::lock_guard<std::mutex> lock(stream_->writing);
    stream_->call.Write(wire::EncodeConfigRequest(config));  // a failed write shows as the end below
  }
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {  // the config's answer; frame replies that come first stay queued for Receive
    for (auto it = replies_.begin(); it != replies_.end(); ++it) {
      if ((*it)->reply.kind != wire::Reply::Kind::kSession) continue;
      std::unique_ptr<Incoming> in = std::move(*it);
      replies_.erase(it);
      const wire::Reply reply = in->reply;
      spare_.push_back(std::move(in));
      if (reply.has_error) throw Error(reply.code, reply.message);
      return;
    }
    if (ended_) throw Error(end_code_, end_message_);
    ready_.wait(lock);
  }
}

void Session::SetStyle(const std::string& style, float strength) { Configure(style, strength, false); }

void Session::Send(std::uint64_t id, std::uint32_t slot) {
  CheckSlot(slot, 0);
  // StylizeRequest{frame: Frame{id, views: [View{width, ..., row_stride, shm | jpeg | data}]}},
  // framed by hand. Inline, the pixels go as pieces borrowed from the request slot: gRPC sends
  // them from there. The slot is not written again before this frame's (or a later frame's)
  // reply, by when the server has read it all.
  std::vector<wire::Writer> views(views_.size());
  std::vector<std::string> jpegs(views_.size());
  std::uint64_t frame_size = 0;
  for (std::uint32_t i = 0; i < views_.size(); ++i) {
    const ViewDesc& d = views_[i];
    wire::EncodeViewHead({d.width, d.height, d.format, d.linear ? kColorSpaceLinear : kColorSpaceSrgb, d.row_stride},
                         &views[i]);
    std::uint64_t tail = 0;  // bytes of the view that follow its head
    if (transport_ == Transport::kSharedMemory) {
      wire::Writer shm;  // ShmPixels
      shm.Varint(1, slot);
      shm.Varint(2, offsets_[i]);
      views[i].Message(kViewShm, shm);
    } else if (transport_ == Transport::kJpeg) {
      EncodeJpeg(request_view(slot, i), d.width, d.height, d.format,
                 d.row_stride ? d.row_stride : std::uint64_t{d.width} * BytesPerPixel(d.format), jpeg_quality_,
                 &jpegs[i]);
      views[i].PresentBytes(kViewJpeg, jpegs[i].data(), jpegs[i].size());
    } else {
      views[i].LengthPrefix(kViewData, view_bytes(i));
      tail = view_bytes(i);
    }
    const std::uint64_t view_size = views[i].out.size() + tail;
    frame_size += 1 + wire::VarintSize(view_size) + view_size;
  }
  wire::Writer head;  // everything but inline pixels
  wire::Writer id_part;
  id_part.Varint(kFrameId, id);
  frame_size += id_part.out.size();
  head.LengthPrefix(kRequestFrame, frame_size);
  head.out += id_part.out;
  std::vector<std::size_t> cuts;  // inline: where in `head` each view's pixels go
  for (std::uint32_t i = 0; i < views_.size(); ++i) {
    const std::uint64_t tail = transport_ == Transport::kInline ? view_bytes(i) : 0;
    head.LengthPrefix(kFrameViews, views[i].out.size() + tail);
    head.out += views[i].out;
    if (tail) cuts.push_back(head.out.size());
  }
  std::vector<rpc::Piece> pieces;
  for (std::size_t i = 0, from = 0; i < cuts.size(); from = cuts[i++]) {
    pieces.push_back({head.out.data() + from, cuts[i] - from});
    pieces.push_back({request_view(slot, static_cast<std::uint32_t>(i)), view_bytes(static_cast<std::uint32_t>(i))});
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ended_) throw Error(end_code_, end_message_);
    out_[id] = slot;
  }
  std::lock_guard<std::mutex> lock(stream_->writing);
  const bool written = pieces.empty() ? stream_->call.Write(head.out) : stream_->call.Write(pieces);
  if (!written) {
    std::unique_lock<std::mutex> wait(mutex_);
    ready_.wait(wait, [this] { return ended_; });
    throw Error(end_code_, end_message_);
  }
}

bool Session::Receive(FrameInfo* info, int timeout_ms) {
  std::unique_ptr<Incoming> in;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    auto ready = [&] {  // takes the first frame reply (session replies stay for Configure)
      for (auto it = replies_.begin(); it != replies_.end(); ++it) {
        if ((*it)->reply.kind != wire::Reply::Kind::kFrame) continue;
        in = std::move(*it);
        replies_.erase(it);
        return true;
      }
      return ended_;
    };
    if (timeout_ms < 0) {
      ready_.wait(lock, ready);
    } else if (!ready_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready)) {
      return false;
    }
    if (!in) throw Error(end_code_, end_message_);  // ended, and every reply handed out
    const std::uint64_t id = in->reply.id;
    const auto found = out_.find(id);
    info->slot = found != out_.end() ? found->second : 0;
    if (in->reply.has_error) {
      out_.erase(id);  // a refused frame frees its own slot only
    } else {
      for (auto it = out_.begin(); it != out_.end();) it = it->first <= id ? out_.erase(it) : std::next(it);
    }
  }
  const wire::Reply& r = in->reply;
  info->id = r.id;
  info->code = r.has_error ? r.code : 0;
  info->message = r.has_error ? r.message : "";
  info->dropped_frames = r.dropped_frames;
  info->queue_ms = r.queue_ms;
  info->convert_ms = r.convert_ms;
  info->model_ms = r.model_ms;
  info->transfer_ms = r.transfer_ms;
  info->total_ms = r.total_ms;
  if (transport_ == Transport::kInline && !info->code) KeepInlineReply(std::move(in), info->slot);
  if (transport_ == Transport::kJpeg && !info->code) DecodeJpegReply(*in, info->slot);
  std::lock_guard<std::mutex> lock(mutex_);
  if (in) spare_.push_back(std::move(in));
  return true;
}

void Session::KeepInlineReply(std::unique_ptr<Incoming> in, std::uint32_t slot) {
  // The reply's pixels are shown where they were read; only rows whose stride differs from the
  // view's are copied into the reply slot.
  const wire::Reply& r = in->reply;
  const std::size_t n = std::min(r.views.size(), views_.size());
  for (std::size_t i = 0; i < n; ++i) {  // all checked before any view points into this reply
    const ViewDesc& d = views_[i];
    const std::uint32_t stride = r.views[i].row_stride ? r.views[i].row_stride : d.width * BytesPerPixel(d.format);
    if (r.views[i].size < ViewBytes(d.width, d.height, BytesPerPixel(d.format), stride))
      throw Error(rpc::kInternal, "reply view " + std::to_string(i) + " is short");
  }
  for (std::size_t i = 0; i < n; ++i) {
    const wire::Reply::View& v = r.views[i];
    const ViewDesc& d = views_[i];
    const std::uint64_t packed = std::uint64_t{d.width} * BytesPerPixel(d.format);
    const std::uint64_t src_stride = v.row_stride ? v.row_stride : packed;
    const std::uint64_t dst_stride = d.row_stride ? d.row_stride : packed;
    const std::uint8_t*& at = reply_at_[slot * views_.size() + i];
    if (src_stride == dst_stride) {
      at = v.data;
      continue;
    }
    std::uint8_t* dst = local_slots_.data() + (std::uint64_t{slot_count_} + slot) * slot_size_ + offsets_[i];
    for (std::uint32_t row = 0; row < d.height; ++row)
      std::memcpy(dst + row * dst_stride, v.data + row * src_stride, packed);
    at = dst;
  }
  std::swap(held_[slot], in);  // the slot's previous reply goes back to the spares
  if (in) {
    std::lock_guard<std::mutex> lock(mutex_);
    spare_.push_back(std::move(in));
  }
}

void Session::DecodeJpegReply(const Incoming& in, std::uint32_t slot) {
  const wire::Reply& r = in.reply;
  for (std::size_t i = 0; i < r.views.size() && i < views_.size(); ++i) {
    const ViewDesc& d = views_[i];
    std::uint8_t* dst = local_slots_.data() + (std::uint64_t{slot_count_} + slot) * slot_size_ + offsets_[i];
    DecodeJpeg(r.views[i].data, r.views[i].size, dst, d.width, d.height, d.format,
               d.row_stride ? d.row_stride : std::uint64_t{d.width} * BytesPerPixel(d.format),
               "reply view " + std::to_string(i));
  }
}

FrameInfo Session::Stylize(std::uint64_t id, std::uint32_t slot) {
  Send(id, slot);
  FrameInfo info;
  do {
    Receive(&info);
  } while (info.id != id);
  if (info.code) throw Error(info.code, info.message);
  return info;
}

}  // namespace artem
