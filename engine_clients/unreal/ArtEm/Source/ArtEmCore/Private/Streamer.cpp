#include "ArtEmCore/Streamer.h"

#include <cstdio>
#include <utility>

#include "ArtEmCore/ConnectOptions.h"
#include "artem/artem.h"

namespace ArtEm {

namespace {

constexpr int kDeadlineExceeded = 4;  // artem_receive: no reply within the timeout
constexpr int kUnavailable = 14;
constexpr std::size_t kErrorLength = 512;

std::string Ms(double ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", ms);
  return text;
}

}  // namespace

const char* LinkStateName(LinkState s) {
  switch (s) {
    case LinkState::Stopped:
      return "stopped";
    case LinkState::WaitingForFrames:
      return "waiting for frames";
    case LinkState::Connecting:
      return "connecting";
    case LinkState::Streaming:
      return "streaming";
    case LinkState::Failed:
      return "failed";
  }
  return "?";
}

std::string StreamStatus::Summary() const {
  if (state == LinkState::Streaming)
    return "streaming " + layout + " via " + TransportName(transport) + " to " + address + " in " +
           style + ": round trip " + Ms(round_trip_ms) + " ms, server " + Ms(server_ms) + " ms, " +
           std::to_string(shown) + " shown, " + std::to_string(dropped) + " dropped, " +
           std::to_string(superseded) + " superseded, " + std::to_string(skipped) + " skipped" +
           (message.empty() ? "" : "; " + message);
  std::string s = std::string(LinkStateName(state)) + " " + address;
  if (!message.empty()) s += ": " + message;
  if (code != 0) s += " (code " + std::to_string(code) + ")";
  return s;
}

Streamer::~Streamer() { Stop(); }

void Streamer::Start(const StreamConfig& config) {
  std::unique_lock<std::mutex> lock(mutex_);
  const StereoLayout layout = config_.layout;
  const bool linear = config_.linear;
  config_ = config;
  if (config.layout.Eyes() ==
      0) {  // the game thread does not know the eyes: keep the render thread's
    config_.layout = layout;
    config_.linear = linear;
  }
  status_ = StreamStatus{};
  status_.state = LinkState::Connecting;
  style_pending_ = false;
  restart_ = true;
  if (!thread_.joinable()) {
    stop_ = false;
    thread_ = std::thread(&Streamer::Run, this);
  }
  wake_.notify_all();
}

void Streamer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!thread_.joinable()) return;
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  stop_ = false;
  status_.state = LinkState::Stopped;
}

void Streamer::SetStyle(const std::string& style, float strength) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (session_ == nullptr) {  // taken at the next connection
    config_.style = style;
    config_.strength = strength;
    return;
  }
  next_style_ = style;
  next_strength_ = strength;
  style_pending_ = true;
  wake_.notify_all();
}

StreamStatus Streamer::Status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  StreamStatus s = status_;
  s.address = config_.address;
  s.style = config_.style;
  s.strength = config_.strength;
  s.transport = session_ ? open_.transport : config_.transport;
  s.layout = (session_ ? open_.layout : config_.layout).Describe();
  return s;
}

StreamConfig Streamer::Config() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return config_;
}

void Streamer::EnsureLayout(const StereoLayout& layout, bool linear) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (config_.layout == layout && config_.linear == linear) return;
  config_.layout = layout;
  config_.linear = linear;
  restart_ = true;
  wake_.notify_all();
}

int Streamer::BeginFrame(std::uint64_t* generation) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (session_ == nullptr || restart_) return -1;
  const int slot = slots_->BeginReadback(open_.layout.Eyes());
  if (slot < 0) ++status_.skipped;
  *generation = generation_;
  return slot;
}

bool Streamer::WriteEye(int slot, std::uint64_t generation, int eye, EyeSize size,
                        const std::uint8_t* src, std::uint64_t src_stride) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int eyes = open_.layout.Eyes();
  if (session_ == nullptr || generation != generation_ || slot < 0 || slot >= slots_->Count() ||
      slots_->State(slot) != SlotState::Reading)
    return false;
  if (eye < 0 || eye >= eyes || size != open_.layout.Eye(eye)) {
    slots_->Abandon(slot);
    return false;
  }
  const std::uint64_t row = std::uint64_t{4} * static_cast<std::uint64_t>(size.width);
  CopyRows(request_views_[static_cast<std::size_t>(slot * eyes + eye)], row, src, src_stride, row,
           size.height);
  if (slots_->EyeRead(slot)) wake_.notify_all();
  return true;
}

void Streamer::ReadbackFailed(int slot, std::uint64_t generation) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (session_ != nullptr && generation == generation_ && slot >= 0 && slot < slots_->Count() &&
      slots_->State(slot) == SlotState::Reading)
    slots_->Abandon(slot);
}

bool Streamer::TakeNewest(StylizedFrame* frame) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!ready_new_) return false;
  std::swap(front_, ready_);
  ready_new_ = false;
  frame->id = front_.id;
  frame->layout = front_.layout;
  for (int eye = 0; eye < 2; ++eye)
    frame->eye[eye] = eye < front_.layout.Eyes() ? front_.eye[eye].data() : nullptr;
  return true;
}

void Streamer::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    if (restart_) {
      restart_ = false;
      if (session_ != nullptr) CloseSession(lock);
      continue;
    }
    if (session_ == nullptr) {
      if (config_.layout.Eyes() == 0) {
        status_.state = LinkState::WaitingForFrames;
        wake_.wait(lock, [this] { return stop_ || restart_; });
      } else if (!Connect(lock)) {
        const auto retry = std::chrono::milliseconds(config_.retry_ms);
        wake_.wait_for(lock, retry, [this] { return stop_ || restart_; });
      }
      continue;
    }
    if (style_pending_) {
      style_pending_ = false;
      const std::string style = next_style_;
      const float strength = next_strength_;
      artem_session* session = session_;
      char error[kErrorLength] = "";
      lock.unlock();
      const int code = artem_set_style(session, style.c_str(), strength, error, sizeof error);
      lock.lock();
      if (code == kUnavailable) {
        Fail(lock, code, error);
        continue;
      }
      if (code == 0) {
        config_.style = style;
        config_.strength = strength;
        status_.message.clear();
      } else {
        status_.message =
            "style " + style + " refused (code " + std::to_string(code) + "): " + error;
      }
    }
    SendNewest(lock);
    if (session_ != nullptr) ReceiveReplies(lock);
  }
  if (session_ != nullptr) CloseSession(lock);
}

bool Streamer::Connect(std::unique_lock<std::mutex>& lock) {
  const StreamConfig config = config_;
  status_.state = LinkState::Connecting;
  lock.unlock();
  int code = 0;
  std::string message;
  artem_session* session = nullptr;
  ConnectOptions options;
  code = options.Load(config.credentials, &message);
  if (code == 0) {
    std::vector<artem_view_desc> views;
    for (int eye = 0; eye < config.layout.Eyes(); ++eye)
      views.push_back({config.layout.Eye(eye).width, config.layout.Eye(eye).height, config.format,
                       0, config.linear ? 1 : 0});
    char error[kErrorLength] = "";
    code = artem_open_ex(config.address.c_str(), options.get(), config.style.c_str(),
                         config.strength, views.data(), static_cast<std::uint32_t>(views.size()),
                         static_cast<std::uint32_t>(config.slots),
                         static_cast<std::int32_t>(config.transport), &session, error,
                         sizeof error);
    message = error;
  }
  lock.lock();
  if (code != 0) {
    status_.state = LinkState::Failed;
    status_.code = code;
    status_.message = message;
    return false;
  }
  session_ = session;
  open_ = config;
  ++generation_;
  slots_.reset(new FrameSlots(config.slots));
  request_views_.clear();
  for (int slot = 0; slot < config.slots; ++slot)
    for (int eye = 0; eye < config.layout.Eyes(); ++eye)
      request_views_.push_back(artem_request_view(session, static_cast<std::uint32_t>(slot),
                                                  static_cast<std::uint32_t>(eye)));
  status_.state = LinkState::Streaming;
  status_.code = 0;
  status_.message.clear();
  return true;
}

void Streamer::Fail(std::unique_lock<std::mutex>& lock, int code, const std::string& message) {
  CloseSession(lock);
  status_.state = LinkState::Failed;
  status_.code = code;
  status_.message = message;
}

void Streamer::CloseSession(std::unique_lock<std::mutex>& lock) {
  artem_session* session = session_;
  session_ = nullptr;  // a WriteEye of this generation is refused from now on; none is mid-copy
  ++generation_;
  slots_.reset();
  request_views_.clear();
  sent_at_.clear();
  status_.state = LinkState::Connecting;
  lock.unlock();
  artem_close(session);
  lock.lock();
}

void Streamer::SendNewest(std::unique_lock<std::mutex>& lock) {
  const int newest = slots_->NextToSend(&status_.superseded);
  if (newest < 0) return;
  const std::uint64_t id = slots_->FrameId(newest);
  slots_->Sent(newest);
  sent_at_[id] = std::chrono::steady_clock::now();
  artem_session* session = session_;
  char error[kErrorLength] = "";
  lock.unlock();
  const int code = artem_send(session, id, static_cast<std::uint32_t>(newest), error, sizeof error);
  lock.lock();
  if (code != 0) {
    Fail(lock, code, error);
    return;
  }
  ++status_.sent;
}

void Streamer::ReceiveReplies(std::unique_lock<std::mutex>& lock) {
  artem_session* session = session_;
  bool have = false;
  artem_frame_info newest{};
  for (int timeout_ms = 1;; timeout_ms = 0) {  // wait a little for the first, take the rest
    artem_frame_info info{};
    char error[kErrorLength] = "";
    lock.unlock();
    const int code = artem_receive(session, timeout_ms, &info, error, sizeof error);
    lock.lock();
    if (code == kDeadlineExceeded) break;
    if (code != 0) {
      Fail(lock, code, error);
      return;
    }
    slots_->Replied(info.id, info.code != 0);
    if (info.code != 0) {
      ++status_.refused;
      status_.message = "frame " + std::to_string(info.id) + " refused (code " +
                        std::to_string(info.code) + "): " + error;
      sent_at_.erase(info.id);
      continue;
    }
    status_.dropped += info.dropped_frames;
    status_.server_ms = info.total_ms;
    const auto sent = sent_at_.find(info.id);
    if (sent != sent_at_.end()) {
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent->second)
              .count();
      status_.round_trip_ms =
          status_.round_trip_ms == 0 ? ms : 0.9 * status_.round_trip_ms + 0.1 * ms;
    }
    sent_at_.erase(sent_at_.begin(), sent_at_.upper_bound(info.id));
    newest = info;
    have = true;
  }
  if (!have) return;
  // The reply views stay where they are until their slot is sent again, which only this thread
  // does: copy the newest out without holding the render thread up.
  const StereoLayout layout = open_.layout;
  lock.unlock();
  back_.id = newest.id;
  back_.layout = layout;
  for (int eye = 0; eye < layout.Eyes(); ++eye) {
    const std::uint8_t* reply =
        artem_reply_view(session, newest.slot, static_cast<std::uint32_t>(eye));
    const std::uint64_t bytes = layout.EyeBytes(eye);
    back_.eye[eye].assign(reply, reply + bytes);
  }
  lock.lock();
  std::swap(back_, ready_);
  ready_new_ = true;
  ++status_.shown;
}

}  // namespace ArtEm
