#include "session.h"

#include <grpcpp/grpcpp.h>

#include <cstring>

#include "artem/v1/stylizer.grpc.pb.h"

namespace artem {

namespace pb = ::artem::v1;

struct Session::Stream {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Stylizer::Stub> stub;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<pb::StylizeRequest, pb::StylizeReply>> rw;
  bool finished = false;  // Finish() called: the call is over

  // The call's status once the server has ended it (Read returned false).
  Error Ended() {
    finished = true;
    const grpc::Status status = rw->Finish();
    return Error(status.ok() ? grpc::StatusCode::UNAVAILABLE : status.error_code(),
                 status.ok() ? "the server ended the stream" : status.error_message());
  }
  void Write(const pb::StylizeRequest& request) {
    if (!rw->Write(request)) {
      pb::StylizeReply ignored;
      while (rw->Read(&ignored)) {
      }
      throw Ended();
    }
  }
  pb::StylizeReply Read() {
    pb::StylizeReply reply;
    if (!rw->Read(&reply)) throw Ended();
    return reply;
  }
};

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
                 std::uint32_t slot_count, Transport transport)
    : views_(std::move(views)), slot_count_(slot_count), transport_(transport) {
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
  stream_ = std::make_unique<Stream>();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  stream_->channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  stream_->stub = pb::Stylizer::NewStub(stream_->channel);
  stream_->rw = stream_->stub->Stylize(&stream_->context);
  Configure(style, strength, transport_ == Transport::kSharedMemory);
}

Session::~Session() {
  if (stream_ && stream_->rw && !stream_->finished) {
    stream_->rw->WritesDone();
    pb::StylizeReply ignored;
    while (stream_->rw->Read(&ignored)) {
    }
    stream_->rw->Finish();  // the server has released the region: unlinking it is safe
  }
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
  const std::uint8_t* base =
      region_ ? region_->reply_slot(slot) : local_slots_.data() + (std::uint64_t{slot_count_} + slot) * slot_size_;
  return base + offsets_[view];
}

void Session::Configure(const std::string& style, float strength, bool register_region) {
  pb::StylizeRequest request;
  pb::SessionConfig* config = request.mutable_config();
  config->set_style(style);
  config->set_strength(strength);
  if (register_region) {
    pb::SharedMemoryRegion* r = config->mutable_shared_memory();
    r->set_name(region_->name());
    r->set_size(region_->size());
    r->set_slot_count(region_->slot_count());
    r->set_slot_size(region_->slot_size());
  }
  stream_->Write(request);
  const pb::StylizeReply reply = stream_->Read();
  if (reply.has_error()) throw Error(reply.error().code(), reply.error().message());
  if (reply.kind_case() != pb::StylizeReply::kSession)
    throw Error(grpc::StatusCode::INTERNAL, "expected the session's state in reply to a config");
}

void Session::SetStyle(const std::string& style, float strength) { Configure(style, strength, false); }

FrameInfo Session::Stylize(std::uint64_t id, std::uint32_t slot) {
  CheckSlot(slot, 0);
  pb::StylizeRequest request;
  pb::Frame* frame = request.mutable_frame();
  frame->set_id(id);
  for (std::uint32_t i = 0; i < views_.size(); ++i) {
    const ViewDesc& d = views_[i];
    pb::View* v = frame->add_views();
    v->set_width(static_cast<std::int32_t>(d.width));
    v->set_height(static_cast<std::int32_t>(d.height));
    v->set_format(static_cast<pb::PixelFormat>(d.format));
    v->set_color_space(d.linear ? pb::COLOR_SPACE_LINEAR : pb::COLOR_SPACE_SRGB);
    v->set_row_stride(static_cast<std::int32_t>(d.row_stride));
    if (region_) {
      v->mutable_shm()->set_slot(slot);
      v->mutable_shm()->set_offset(offsets_[i]);
    } else {
      v->set_data(request_view(slot, i), view_bytes(i));
    }
  }
  stream_->Write(request);
  for (;;) {  // one frame in flight: the next frame reply is this frame's
    const pb::StylizeReply reply = stream_->Read();
    if (reply.kind_case() != pb::StylizeReply::kFrame) continue;
    if (reply.has_error() && reply.frame().id() == id) throw Error(reply.error().code(), reply.error().message());
    if (reply.frame().id() != id) continue;
    const pb::StylizedFrame& f = reply.frame();
    if (!region_) {  // inline: the reply's pixels into the reply slot, at the view's row stride
      for (int i = 0; i < f.views_size() && i < static_cast<int>(views_.size()); ++i) {
        const pb::View& v = f.views(i);
        const ViewDesc& d = views_[i];
        const std::uint64_t packed = std::uint64_t{d.width} * BytesPerPixel(d.format);
        const std::uint64_t src_stride = v.row_stride() ? static_cast<std::uint64_t>(v.row_stride()) : packed;
        const std::uint64_t dst_stride = d.row_stride ? d.row_stride : packed;
        if (v.data().size() < ViewBytes(d.width, d.height, BytesPerPixel(d.format), static_cast<std::uint32_t>(src_stride)))
          throw Error(grpc::StatusCode::INTERNAL, "reply view " + std::to_string(i) + " is short");
        std::uint8_t* dst = const_cast<std::uint8_t*>(reply_view(slot, i));
        for (std::uint32_t row = 0; row < d.height; ++row)
          std::memcpy(dst + row * dst_stride, v.data().data() + row * src_stride, packed);
      }
    }
    FrameInfo info;
    info.id = f.id();
    info.dropped_frames = f.dropped_frames();
    info.queue_ms = f.timings().queue_ms();
    info.convert_ms = f.timings().convert_ms();
    info.model_ms = f.timings().model_ms();
    info.transfer_ms = f.timings().transfer_ms();
    info.total_ms = f.timings().total_ms();
    return info;
  }
}

}  // namespace artem
