#include "session.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "artem/v1/stylizer.grpc.pb.h"
#include "jpeg_codec.h"

namespace artem {

namespace pb = ::artem::v1;

// The stream carries raw bytes both ways, so that inline pixels go out straight from the request
// slot (no copy into a message, none into a serialized buffer) and replies are parsed into
// messages kept per slot (their pixel strings reused frame after frame, never copied again).
struct Session::Stream {
  std::shared_ptr<grpc::Channel> channel;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> rw;
  std::mutex writing;  // one writer at a time; the reader thread reads alongside
};

namespace {

// Wire-format pieces for a hand-framed inline frame: field tags of stylizer.proto.
constexpr std::uint8_t kRequestFrameTag = (2 << 3) | 2;  // StylizeRequest.frame, length-delimited
constexpr std::uint8_t kFrameViewsTag = (3 << 3) | 2;    // Frame.views
constexpr std::uint8_t kViewDataTag = (6 << 3) | 2;      // View.data

void PutVarint(std::string* out, std::uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

std::uint64_t VarintSize(std::uint64_t v) {
  std::uint64_t n = 1;
  while (v >= 0x80) v >>= 7, ++n;
  return n;
}

grpc::ByteBuffer Serialized(const google::protobuf::Message& message) {
  grpc::Slice slice(message.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace

std::uint32_t BytesPerPixel(std::uint32_t format) {
  switch (format) {
    case pb::PIXEL_FORMAT_RGBA8:
    case pb::PIXEL_FORMAT_BGRA8:
      return 4;
    case pb::PIXEL_FORMAT_RGB8:
      return 3;
    default:
      throw Error(grpc::StatusCode::INVALID_ARGUMENT,
                  "format = " + std::to_string(format) + ": expected 1 (RGBA8), 2 (BGRA8) or 3 (RGB8)");
  }
}

Session::Session(const std::string& address, const std::string& style, float strength, std::vector<ViewDesc> views,
                 std::uint32_t slot_count, Transport transport, int jpeg_quality)
    : views_(std::move(views)), slot_count_(slot_count), transport_(transport), jpeg_quality_(jpeg_quality) {
  if (views_.empty() || views_.size() > 2)
    throw Error(grpc::StatusCode::INVALID_ARGUMENT,
                "views has " + std::to_string(views_.size()) + " entries: expected 1 (mono) or 2 (left, right eye)");
  std::uint64_t end = 0;
  for (std::size_t i = 0; i < views_.size(); ++i) {
    const ViewDesc& v = views_[i];
    const std::uint32_t bpp = BytesPerPixel(v.format);
    if (v.width == 0 || v.height == 0)
      throw Error(grpc::StatusCode::INVALID_ARGUMENT,
                  "views[" + std::to_string(i) + "] is " + std::to_string(v.width) + "x" + std::to_string(v.height) +
                      ": expected a positive width and height");
    if (v.row_stride && v.row_stride < v.width * bpp)
      throw Error(grpc::StatusCode::INVALID_ARGUMENT,
                  "views[" + std::to_string(i) + "].row_stride = " + std::to_string(v.row_stride) +
                      ": expected 0 (packed) or at least width * " + std::to_string(bpp));
    offsets_.push_back(AlignUp(end, kViewAlign));
    end = offsets_.back() + view_bytes(static_cast<std::uint32_t>(i));
  }
  slot_size_ = AlignUp(end, kSlotAlign);
  if (transport_ == Transport::kJpeg && !JpegAvailable())
    throw Error(grpc::StatusCode::UNIMPLEMENTED, "transport jpeg: this build of the native core has no JPEG");
  if (transport_ == Transport::kJpeg && (jpeg_quality_ < 1 || jpeg_quality_ > 100))
    throw Error(grpc::StatusCode::INVALID_ARGUMENT,
                "jpeg_quality = " + std::to_string(jpeg_quality_) + ": expected 1..100");
  if (slot_count_ < 1 || slot_count_ > kMaxSlots)
    throw Error(grpc::StatusCode::INVALID_ARGUMENT,
                "slot_count = " + std::to_string(slot_count_) + ": expected 1.." + std::to_string(kMaxSlots));
  if (transport_ == Transport::kSharedMemory) {
    try {
      region_ = std::make_unique<ShmRegion>(ShmRegion::UniqueName(), slot_count_, slot_size_);
    } catch (const std::exception& e) {
      throw Error(grpc::StatusCode::INTERNAL, std::string("shared memory: ") + e.what());
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
  stream_ = std::make_unique<Stream>();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // own connection: servers bound streams per one
  stream_->channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  // What the generated stub does, with raw bytes for messages (the method keeps the name's pointer).
  static const std::string kStylize = "/" + std::string(pb::Stylizer::service_full_name()) + "/Stylize";
  const grpc::internal::RpcMethod method(kStylize.c_str(), grpc::internal::RpcMethod::BIDI_STREAMING,
                                         stream_->channel);
  stream_->rw.reset(grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
      stream_->channel.get(), method, &stream_->context));
  reader_ = std::thread([this] { ReadLoop(); });
  try {
    Configure(style, strength, transport_ == Transport::kSharedMemory);
  } catch (...) {
    stream_->context.TryCancel();  // the destructor will not run: end the call and its reader here
    reader_.join();
    throw;
  }
}

Session::~Session() {
  {
    std::lock_guard<std::mutex> lock(stream_->writing);
    stream_->rw->WritesDone();
  }
  {  // the server ends the stream once it has released the region: unlinking is safe then
    std::unique_lock<std::mutex> lock(mutex_);
    if (!ready_.wait_for(lock, std::chrono::seconds(10), [this] { return ended_; })) stream_->context.TryCancel();
  }
  reader_.join();
}

void Session::ReadLoop() {
  for (;;) {
    grpc::ByteBuffer bytes;
    if (!stream_->rw->Read(&bytes)) break;
    std::unique_ptr<pb::StylizeReply> reply;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!spare_.empty()) {  // a reply done with: its strings keep their capacity
        reply = std::move(spare_.back());
        spare_.pop_back();
      }
    }
    if (!reply) reply = std::make_unique<pb::StylizeReply>();
    grpc::ProtoBufferReader reader(&bytes);
    if (!reply->ParseFromZeroCopyStream(&reader)) {
      reply->Clear();
      reply->mutable_error()->set_code(grpc::StatusCode::INTERNAL);
      reply->mutable_error()->set_message("a reply from the server could not be parsed as a StylizeReply");
    }
    std::lock_guard<std::mutex> lock(mutex_);
    replies_.push_back(std::move(reply));
    ready_.notify_all();
  }
  const grpc::Status status = stream_->rw->Finish();
  std::lock_guard<std::mutex> lock(mutex_);
  ended_ = true;
  end_code_ = status.ok() ? grpc::StatusCode::UNAVAILABLE : status.error_code();
  end_message_ = status.ok() ? "the server ended the stream" : status.error_message();
  ready_.notify_all();
}

std::uint64_t Session::view_bytes(std::uint32_t view) const {
  const ViewDesc& v = views_.at(view);
  return ViewBytes(v.width, v.height, BytesPerPixel(v.format), v.row_stride);
}

void Session::CheckSlot(std::uint32_t slot, std::uint32_t view) const {
  if (slot >= slot_count_ || view >= views_.size())
    throw Error(grpc::StatusCode::INVALID_ARGUMENT, "slot " + std::to_string(slot) + ", view " + std::to_string(view) +
                                                        ": expected slot < " + std::to_string(slot_count_) +
                                                        " and view < " + std::to_string(views_.size()));
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
  pb::StylizeRequest request;
  pb::SessionConfig* config = request.mutable_config();
  config->set_style(style);
  config->set_strength(strength);
  if (transport_ == Transport::kJpeg) config->set_jpeg_quality(static_cast<std::uint32_t>(jpeg_quality_));
  if (register_region) {
    pb::SharedMemoryRegion* r = config->mutable_shared_memory();
    r->set_name(region_->name());
    r->set_size(region_->size());
    r->set_slot_count(region_->slot_count());
    r->set_slot_size(region_->slot_size());
    r->set_key(region_->key());
  }
  {
    std::lock_guard<std::mutex> lock(stream_->writing);
    stream_->rw->Write(Serialized(request));  // a failed write shows as the stream's end below
  }
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {  // the config's answer; frame replies that come first stay queued for Receive
    for (auto it = replies_.begin(); it != replies_.end(); ++it) {
      if ((*it)->kind_case() != pb::StylizeReply::kSession) continue;
      const std::unique_ptr<pb::StylizeReply> reply = std::move(*it);
      replies_.erase(it);
      if (reply->has_error()) throw Error(reply->error().code(), reply->error().message());
      return;
    }
    if (ended_) throw Error(end_code_, end_message_);
    ready_.wait(lock);
  }
}

void Session::SetStyle(const std::string& style, float strength) { Configure(style, strength, false); }

void Session::Send(std::uint64_t id, std::uint32_t slot) {
  CheckSlot(slot, 0);
  pb::Frame frame;  // everything but the views' pixels
  frame.set_id(id);
  for (std::uint32_t i = 0; i < views_.size(); ++i) {
    const ViewDesc& d = views_[i];
    pb::View* v = frame.add_views();
    v->set_width(static_cast<std::int32_t>(d.width));
    v->set_height(static_cast<std::int32_t>(d.height));
    v->set_format(static_cast<pb::PixelFormat>(d.format));
    v->set_color_space(d.linear ? pb::COLOR_SPACE_LINEAR : pb::COLOR_SPACE_SRGB);
    v->set_row_stride(static_cast<std::int32_t>(d.row_stride));
    if (region_) {
      v->mutable_shm()->set_slot(slot);
      v->mutable_shm()->set_offset(offsets_[i]);
    }
  }
  grpc::ByteBuffer message;
  if (transport_ != Transport::kInline) {
    if (transport_ == Transport::kJpeg) {
      for (std::uint32_t i = 0; i < views_.size(); ++i) {
        const ViewDesc& d = views_[i];
        EncodeJpeg(request_view(slot, i), d.width, d.height, d.format,
                   d.row_stride ? d.row_stride : std::uint64_t{d.width} * BytesPerPixel(d.format), jpeg_quality_,
                   frame.mutable_views(static_cast<int>(i))->mutable_jpeg());
      }
    }
    pb::StylizeRequest request;
    *request.mutable_frame() = std::move(frame);
    message = Serialized(request);
  } else {
    // StylizeRequest{frame: Frame{id, views: [View{..., data}]}} framed by hand around slices that
    // point into the request slot: gRPC sends the pixels from there. The slot is not written
    // again before this frame's (or a later frame's) reply, by when the server has read it all.
    std::vector<std::string> view_heads;
    std::uint64_t frame_size = 0;
    for (std::uint32_t i = 0; i < views_.size(); ++i) {
      std::string head = frame.views(static_cast<int>(i)).SerializeAsString();
      head.push_back(static_cast<char>(kViewDataTag));
      PutVarint(&head, view_bytes(i));
      const std::uint64_t view_size = head.size() + view_bytes(i);
      frame_size += 1 + VarintSize(view_size) + view_size;
      view_heads.push_back(std::move(head));
    }
    frame.clear_views();
    const std::string id_part = frame.SerializeAsString();
    frame_size += id_part.size();
    std::string head(1, static_cast<char>(kRequestFrameTag));
    PutVarint(&head, frame_size);
    head += id_part;
    std::vector<grpc::Slice> slices;
    for (std::uint32_t i = 0; i < views_.size(); ++i) {
      head.push_back(static_cast<char>(kFrameViewsTag));
      PutVarint(&head, view_heads[i].size() + view_bytes(i));
      head += view_heads[i];
      slices.emplace_back(head);
      slices.emplace_back(request_view(slot, i), view_bytes(i), grpc::Slice::STATIC_SLICE);
      head.clear();
    }
    message = grpc::ByteBuffer(slices.data(), slices.size());
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ended_) throw Error(end_code_, end_message_);
    out_[id] = slot;
  }
  std::lock_guard<std::mutex> lock(stream_->writing);
  if (!stream_->rw->Write(message)) {
    std::unique_lock<std::mutex> wait(mutex_);
    ready_.wait(wait, [this] { return ended_; });
    throw Error(end_code_, end_message_);
  }
}

bool Session::Receive(FrameInfo* info, int timeout_ms) {
  std::unique_ptr<pb::StylizeReply> reply;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    auto ready = [&] {  // takes the first frame reply (session replies stay for Configure)
      for (auto it = replies_.begin(); it != replies_.end(); ++it) {
        if ((*it)->kind_case() != pb::StylizeReply::kFrame) continue;
        reply = std::move(*it);
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
    if (!reply) throw Error(end_code_, end_message_);  // ended, and every reply handed out
    const std::uint64_t id = reply->frame().id();
    const auto found = out_.find(id);
    info->slot = found != out_.end() ? found->second : 0;
    if (reply->has_error()) {
      out_.erase(id);  // a refused frame frees its own slot only
    } else {
      for (auto it = out_.begin(); it != out_.end();) it = it->first <= id ? out_.erase(it) : std::next(it);
    }
  }
  const pb::StylizedFrame& f = reply->frame();
  info->id = f.id();
  info->code = reply->has_error() ? reply->error().code() : 0;
  info->message = reply->has_error() ? reply->error().message() : "";
  info->dropped_frames = f.dropped_frames();
  info->queue_ms = f.timings().queue_ms();
  info->convert_ms = f.timings().convert_ms();
  info->model_ms = f.timings().model_ms();
  info->transfer_ms = f.timings().transfer_ms();
  info->total_ms = f.timings().total_ms();
  if (transport_ == Transport::kInline && !info->code) KeepInlineReply(std::move(reply), info->slot);
  if (transport_ == Transport::kJpeg && !info->code) DecodeJpegReply(*reply, info->slot);
  std::lock_guard<std::mutex> lock(mutex_);
  if (reply) spare_.push_back(std::move(reply));
  return true;
}

void Session::KeepInlineReply(std::unique_ptr<v1::StylizeReply> reply, std::uint32_t slot) {
  // The reply's pixels are shown where they were parsed; only rows whose stride differs from the
  // view's are copied into the reply slot.
  const pb::StylizedFrame& f = reply->frame();
  const int n = std::min(f.views_size(), static_cast<int>(views_.size()));
  for (int i = 0; i < n; ++i) {  // all checked before any view points into this reply
    const ViewDesc& d = views_[i];
    const std::uint32_t stride = f.views(i).row_stride() ? static_cast<std::uint32_t>(f.views(i).row_stride())
                                                         : d.width * BytesPerPixel(d.format);
    if (f.views(i).data().size() < ViewBytes(d.width, d.height, BytesPerPixel(d.format), stride))
      throw Error(grpc::StatusCode::INTERNAL, "reply view " + std::to_string(i) + " is short");
  }
  for (int i = 0; i < n; ++i) {
    const pb::View& v = f.views(i);
    const ViewDesc& d = views_[i];
    const std::uint64_t packed = std::uint64_t{d.width} * BytesPerPixel(d.format);
    const std::uint64_t src_stride = v.row_stride() ? static_cast<std::uint64_t>(v.row_stride()) : packed;
    const std::uint64_t dst_stride = d.row_stride ? d.row_stride : packed;
    const std::uint8_t* src = reinterpret_cast<const std::uint8_t*>(v.data().data());
    const std::uint8_t*& at = reply_at_[slot * views_.size() + i];
    if (src_stride == dst_stride) {
      at = src;
      continue;
    }
    std::uint8_t* dst = local_slots_.data() + (std::uint64_t{slot_count_} + slot) * slot_size_ + offsets_[i];
    for (std::uint32_t row = 0; row < d.height; ++row)
      std::memcpy(dst + row * dst_stride, src + row * src_stride, packed);
    at = dst;
  }
  std::swap(held_[slot], reply);  // the slot's previous reply goes back to the spares
  if (reply) {
    std::lock_guard<std::mutex> lock(mutex_);
    spare_.push_back(std::move(reply));
  }
}

void Session::DecodeJpegReply(const v1::StylizeReply& reply, std::uint32_t slot) {
  const pb::StylizedFrame& f = reply.frame();
  for (int i = 0; i < f.views_size() && i < static_cast<int>(views_.size()); ++i) {
    const ViewDesc& d = views_[i];
    std::uint8_t* dst = local_slots_.data() + (std::uint64_t{slot_count_} + slot) * slot_size_ + offsets_[i];
    DecodeJpeg(f.views(i).jpeg(), dst, d.width, d.height, d.format,
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
