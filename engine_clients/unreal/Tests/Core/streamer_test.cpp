// The Streamer as the view extension drives it, against a real server (ARTEM_TEST_SERVER =
// host:port; ARTEM_TEST_TRANSPORT = shm or inline, default shm: the checks compare pixels bit for
// bit, which JPEG does not keep; exits 77, skipped, without a server): a render loop faster than
// the server with the readback ring in front (pixels land one frame late, rows padded as a GPU
// staging buffer pads them), both eyes of a frame in one slot. Every stylized frame shown is newer
// than the last and its two eyes are that frame's own pixels; the newest complete frame is the last
// one shown; a new layout reopens the stream; a style switch and a refusal on the same stream; the
// style catalog; an unreachable server; token files; a TLS server with a token (when
// ARTEM_TEST_SECURED_SERVER is set); with shm, a stereo frame through the JPEG
// transport, the one a standalone headset would use.
#include "ArtEmCore/Streamer.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "ArtEmCore/ReadbackRing.h"
#include "ArtEmCore/StereoLayout.h"
#include "ArtEmCore/StreamChoices.h"
#include "ArtEmCore/StyleCatalog.h"
#include "check.h"

using namespace ArtEm;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kPadding = 64;  // bytes a staging row carries beyond the eye's pixels

// Eye `eye` of render frame `frame`, BGRA: the frame number in blue and green, a per-eye ramp in
// red.
std::uint8_t PatternByte(std::uint32_t frame, int eye, int x, int y, int channel) {
  switch (channel) {
    case 0:
      return static_cast<std::uint8_t>(frame & 0xff);
    case 1:
      return static_cast<std::uint8_t>((frame >> 8) & 0xff);
    case 2:
      return static_cast<std::uint8_t>((eye * 97 + x * 3 + y * 5) & 0xff);
    default:
      return 255;
  }
}

// The frame whose pattern `pixels` hold for `eye`, or -1 when any byte differs (a styled frame,
// the other eye's pixels, two frames mixed).
long DecodeFrame(const std::uint8_t* pixels, EyeSize size, int eye) {
  const std::uint32_t frame = pixels[0] | (pixels[1] << 8);
  for (int y = 0; y < size.height; ++y)
    for (int x = 0; x < size.width; ++x)
      for (int c = 0; c < 4; ++c)
        if (pixels[(y * size.width + x) * 4 + c] != PatternByte(frame, eye, x, y, c)) return -1;
  return frame;
}

struct Readback {  // what the GPU would hold in a staging buffer
  std::uint64_t generation = 0;
  std::vector<std::uint8_t> rows;
  std::uint64_t pitch = 0;
};

// The view extension's per-frame work, without the engine.
class RenderLoop {
 public:
  RenderLoop(Streamer& streamer, const StereoLayout& layout)
      : s_(streamer), layout_(layout), staging_(4) {}

  bool producing = true;  // false: only land readbacks and take replies (drain)
  std::uint32_t frame = 0;
  std::uint32_t last_complete = 0;  // the newest frame whose eyes all reached the streamer
  long last_shown = -1;
  int shown = 0, styled = 0, mixed = 0;
  StylizedFrame newest;

  void Step() {
    ++frame;
    // Readbacks queued in earlier frames have landed: oldest first.
    for (int i; (i = ring_.Oldest()) >= 0 && ring_.Entry(i).frame < frame;) {
      const ReadbackEntry e = ring_.Entry(i);
      if (s_.WriteEye(e.slot, staging_[i].generation, e.eye, layout_.Eye(e.eye),
                      staging_[i].rows.data(), staging_[i].pitch)) {
        if (++eyes_in_[e.frame % 64] == layout_.Eyes())
          last_complete = static_cast<std::uint32_t>(e.frame);
      }
      ring_.Finish(i);
    }
    // This frame's views, the right eye's callback first.
    for (int eye = layout_.Eyes() - 1; producing && eye >= 0; --eye) {
      std::uint64_t generation = 0;
      const int slot = grouper_.SlotFor(
          frame, [&] { return ring_.Free() >= layout_.Eyes() ? s_.BeginFrame(&generation_) : -1; });
      generation = generation_;
      if (slot < 0) continue;
      const int i = ring_.Begin(slot, eye, frame);
      eyes_in_[frame % 64] = 0;
      const EyeSize size = layout_.Eye(eye);
      Readback& r = staging_[static_cast<std::size_t>(i)];
      r.generation = generation;
      r.pitch = static_cast<std::uint64_t>(size.width) * 4 + kPadding;
      r.rows.assign(r.pitch * static_cast<std::uint64_t>(size.height), 0xCD);
      for (int y = 0; y < size.height; ++y)
        for (int x = 0; x < size.width; ++x)
          for (int c = 0; c < 4; ++c)
            r.rows[y * r.pitch + x * 4 + c] = PatternByte(frame, eye, x, y, c);
    }
    // The newest stylized frame, if one came; else the last stays on show.
    StylizedFrame f;
    if (!s_.TakeNewest(&f)) return;
    newest = f;
    ++shown;
    if (f.layout != layout_) return;  // from before a layout change
    const long left = DecodeFrame(f.eye[0], layout_.Eye(0), 0);
    const long right = layout_.Stereo() ? DecodeFrame(f.eye[1], layout_.Eye(1), 1) : left;
    if (left < 0 && right < 0) {
      ++styled;
      return;
    }
    if (left != right || left <= last_shown) ++mixed;  // eyes of two frames, or an older frame
    last_shown = left;
  }

 private:
  Streamer& s_;
  StereoLayout layout_;
  ReadbackRing ring_{4};
  std::vector<Readback> staging_;
  FrameGrouper grouper_;
  std::uint64_t generation_ = 0;
  int eyes_in_[64] = {};
};

bool WaitFor(Streamer& s, LinkState state, int seconds) {
  const auto until = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < until) {
    if (s.Status().state == state) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::fprintf(stderr, "waited %d s for %s: %s\n", seconds, LinkStateName(state),
               s.Status().Summary().c_str());
  return false;
}

StereoLayout Layout(std::vector<ViewInput> views) {
  StereoLayout layout;
  std::string why;
  CHECK(StereoLayout::Of(views, &layout, &why));
  return layout;
}

void Render(RenderLoop& loop, int frames) {
  for (int i = 0; i < frames; ++i) {
    loop.Step();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // ~500 fps: faster than the server
  }
}

// Renders until `done` or `seconds` pass (the server is slow on a busy CPU).
template <typename Done>
bool RenderUntil(RenderLoop& loop, int seconds, Done&& done) {
  const auto until = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < until) {
    Render(loop, 1);
    if (done()) return true;
  }
  return false;
}

void StreamsLatestFrameWins(const std::string& address, Transport transport) {
  Streamer s;
  StreamConfig config;
  config.address = address;
  config.style = "identity";
  config.transport = transport;
  config.slots = 3;
  s.Start(config);
  CHECK(s.Status().state == LinkState::Connecting ||
        s.Status().state == LinkState::WaitingForFrames);
  const StereoLayout stereo = Layout({{true, 1, 36, 24}, {true, 0, 40, 24}});
  s.EnsureLayout(stereo, false);
  CHECK(WaitFor(s, LinkState::Streaming, 60));
  std::printf("connected via %s: %s\n", TransportName(transport), s.Status().Summary().c_str());

  // A readback of another size than the stream's eye (a view resized meanwhile) is not copied:
  // the frame is abandoned and its slot free again.
  std::uint64_t generation = 0;
  const int slot = s.BeginFrame(&generation);
  CHECK(slot >= 0);
  const std::vector<std::uint8_t> small(4 * 8 * 8, 0);
  CHECK(!s.WriteEye(slot, generation, 0, {8, 8}, small.data(), 32));
  CHECK_EQ(s.BeginFrame(&generation), slot);
  s.ReadbackFailed(slot, generation);
  CHECK(!s.WriteEye(slot, generation + 1, 0, stereo.Eye(0), small.data(),
                    160));  // another generation

  RenderLoop loop(s, stereo);
  Render(loop, 120);
  // Frames stop; the newest complete one must come back last (latest frame wins, never lost).
  loop.producing = false;
  CHECK(RenderUntil(loop, 30,
                    [&] { return loop.last_shown == static_cast<long>(loop.last_complete); }));
  StreamStatus status = s.Status();
  std::printf("stereo: %u frames rendered, %d shown, newest complete %u, last shown %ld; %s\n",
              loop.frame, loop.shown, loop.last_complete, loop.last_shown,
              status.Summary().c_str());
  CHECK(loop.shown > 1 && loop.last_complete > 60);
  CHECK_EQ(loop.mixed, 0);   // every shown frame newer than the last, both eyes its own
  CHECK_EQ(loop.styled, 0);  // identity: bit for bit
  CHECK(status.sent > 1 && status.round_trip_ms > 0);

  // A resized view (here: the headset taken off, mono) reopens the stream in the new layout.
  const StereoLayout mono = Layout({{false, -1, 32, 16}});
  s.EnsureLayout(mono, false);
  RenderLoop mono_loop(s, mono);
  CHECK(RenderUntil(mono_loop, 60, [&] { return mono_loop.last_shown > 0; }));
  CHECK(mono_loop.newest.layout == mono && mono_loop.newest.eye[1] == nullptr);
  CHECK_EQ(mono_loop.mixed, 0);
  std::printf("mono: %d shown; %s\n", mono_loop.shown, s.Status().Summary().c_str());

  // A style switch on the same stream changes the pixels; an unknown style is refused and the
  // stream goes on in the old one.
  s.SetStyle("gen-a", 1.0f);
  CHECK(RenderUntil(mono_loop, 60, [&] { return mono_loop.styled > 0; }));
  CHECK(s.Status().style == "gen-a");
  s.SetStyle("no-such-style", 1.0f);
  CHECK(RenderUntil(mono_loop, 30, [&] {
    return s.Status().message.find("refused (code 5)") != std::string::npos;
  }));
  const int styled = mono_loop.styled;
  CHECK(RenderUntil(mono_loop, 30, [&] { return mono_loop.styled > styled; }));
  status = s.Status();
  CHECK(status.state == LinkState::Streaming && status.style == "gen-a");
  std::printf("styles: %s\n", status.Summary().c_str());

  s.Stop();
  CHECK(s.Status().state == LinkState::Stopped);
  CHECK_EQ(s.BeginFrame(&generation), -1);
}

void ListsStylesWithThumbnails(const std::string& address) {
  std::vector<StyleEntry> styles;
  std::string why;
  CHECK_EQ(ListStyles(address, 10000, &styles, &why), 0);
  bool identity = false, gen_a = false, png = false;
  for (const StyleEntry& e : styles) {
    identity = identity || e.id == "identity";
    gen_a = gen_a || (e.id == "gen-a" && !e.kind.empty() && !e.display_name.empty());
    png = png ||
          (e.thumbnail_png.size() > 8 && e.thumbnail_png[1] == 'P' && e.thumbnail_png[2] == 'N');
  }
  CHECK(identity && gen_a && png);
  std::printf("%zu styles listed\n", styles.size());
  CHECK_EQ(ListStyles("127.0.0.1:1", 2000, &styles, &why), 14);
  CHECK(!why.empty());
}

// JPEG (a standalone headset to a server over Wi-Fi): flat eyes of two colours come back close
// to what was sent, each in its own eye, alpha 255 (JPEG carries none).
void StreamsJpeg(const std::string& address) {
  Streamer s;
  StreamConfig config;
  config.address = address;
  config.style = "identity";
  config.transport = Transport::Jpeg;
  config.layout = Layout({{true, 0, 48, 32}, {true, 1, 40, 32}});
  s.Start(config);
  const auto until = Clock::now() + std::chrono::seconds(60);
  while (s.Status().state != LinkState::Streaming && Clock::now() < until) {
    if (s.Status().state == LinkState::Failed && s.Status().code == 12) {
      std::printf("jpeg: not in this build of the native core (%s)\n", s.Status().message.c_str());
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(s.Status().state == LinkState::Streaming);
  const std::uint8_t colour[2][4] = {{40, 60, 200, 0}, {190, 90, 30, 0}};  // BGRA, alpha 0 sent
  StylizedFrame frame;
  bool got = false;
  while (!got && Clock::now() < until) {
    std::uint64_t generation = 0;
    const int slot = s.BeginFrame(&generation);
    for (int eye = 0; slot >= 0 && eye < 2; ++eye) {
      const EyeSize size = config.layout.Eye(eye);
      std::vector<std::uint8_t> rows(4u * size.width * size.height);
      for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = colour[eye][i % 4];
      CHECK(s.WriteEye(slot, generation, eye, size, rows.data(), 4u * size.width));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    got = s.TakeNewest(&frame);
  }
  CHECK(got);
  for (int eye = 0; got && eye < 2; ++eye) {
    const EyeSize size = frame.layout.Eye(eye);
    int worst = 0;
    for (int i = 0; i < size.width * size.height * 4; ++i) {
      const int want = i % 4 == 3 ? 255 : colour[eye][i % 4];
      worst = std::max(worst, std::abs(frame.eye[eye][i] - want));
    }
    std::printf("jpeg: eye %d %dx%d, largest difference %d\n", eye, size.width, size.height, worst);
    CHECK(worst <= 8);
  }
}

void FailsClearly(const std::string& tmp) {
  Streamer s;
  StreamConfig config;
  config.address = "127.0.0.1:1";  // nothing listens
  config.retry_ms = 100000;        // one attempt here
  config.layout = Layout({{false, -1, 8, 8}});
  s.Start(config);
  CHECK(WaitFor(s, LinkState::Failed, 30));
  CHECK_EQ(s.Status().code, 14);
  std::uint64_t generation = 0;
  CHECK_EQ(s.BeginFrame(&generation), -1);

  std::ofstream(tmp + "/artem-short-token") << "short";
  config.credentials.token_file = tmp + "/artem-short-token";
  s.Start(config);
  CHECK(WaitFor(s, LinkState::Failed, 10));
  CHECK_EQ(s.Status().code, 3);
  CHECK(s.Status().message.find("expected at least 16") != std::string::npos);
  std::printf("%s\n", s.Status().Summary().c_str());
}

// A server started with --tls-cert/--tls-key --token-file (ARTEM_TEST_SECURED_SERVER, with
// ARTEM_TEST_TOKEN_FILE, ARTEM_TEST_CA_FILE and ARTEM_TEST_OTHER_CA_FILE, a CA that signed
// nothing the server presents): the settings' token and CA files stream frames and list styles;
// no token is refused with 16, another CA with 14 and the reason.
void StreamsFromASecuredServer(const std::string& address, const Credentials& credentials,
                               const std::string& other_ca) {
  Streamer s;
  StreamConfig config;
  config.address = address;
  config.style = "identity";
  config.transport = Transport::Inline;
  config.credentials = credentials;
  config.retry_ms = 100000;
  config.layout = Layout({{true, 0, 40, 24}, {true, 1, 40, 24}});
  s.Start(config);
  CHECK(WaitFor(s, LinkState::Streaming, 60));
  StylizedFrame frame;
  bool got = false;
  const auto until = Clock::now() + std::chrono::seconds(60);
  std::vector<std::uint8_t> rows(4u * 40 * 24);
  for (std::uint32_t n = 1; !got && Clock::now() < until; ++n) {
    std::uint64_t generation = 0;
    const int slot = s.BeginFrame(&generation);
    for (int eye = 0; slot >= 0 && eye < 2; ++eye) {
      for (int i = 0; i < 40 * 24 * 4; ++i)
        rows[i] = PatternByte(n, eye, (i / 4) % 40, i / 160, i % 4);
      CHECK(s.WriteEye(slot, generation, eye, {40, 24}, rows.data(), 4u * 40));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    got = s.TakeNewest(&frame);
  }
  CHECK(got && DecodeFrame(frame.eye[0], {40, 24}, 0) > 0 &&
        DecodeFrame(frame.eye[1], {40, 24}, 1) > 0);
  std::printf("secured: %s\n", s.Status().Summary().c_str());
  std::vector<StyleEntry> styles;
  std::string why;
  CHECK_EQ(ListStyles(address, 10000, &styles, &why, credentials), 0);
  CHECK(!styles.empty());

  Credentials no_token = credentials;
  no_token.token_file.clear();
  config.credentials = no_token;
  s.Start(config);
  CHECK(WaitFor(s, LinkState::Failed, 30));
  CHECK_EQ(s.Status().code, 16);
  CHECK(s.Status().message.find("authorization: Bearer") != std::string::npos);
  std::printf("secured, no token: %s\n", s.Status().Summary().c_str());
  CHECK_EQ(ListStyles(address, 10000, &styles, &why, no_token), 16);

  Credentials wrong_ca = credentials;
  wrong_ca.tls_ca_file = other_ca;
  config.credentials = wrong_ca;
  s.Start(config);
  CHECK(WaitFor(s, LinkState::Failed, 30));
  CHECK_EQ(s.Status().code, 14);
  CHECK(s.Status().message.find("certificate was refused") != std::string::npos);
  std::printf("secured, another CA: %s\n", s.Status().Summary().c_str());
}

}  // namespace

int main() {
  const char* server = std::getenv("ARTEM_TEST_SERVER");
  if (server == nullptr || *server == '\0') {
    std::printf("ARTEM_TEST_SERVER is not set: no server to stream to\n");
    return 77;
  }
  const char* named = std::getenv("ARTEM_TEST_TRANSPORT");
  const std::string t = named ? named : "shm";
  if (t != "shm" && t != "inline") {
    std::fprintf(stderr, "ARTEM_TEST_TRANSPORT = %s: expected shm or inline\n", t.c_str());
    return 2;
  }
  const Transport transport = t == "inline" ? Transport::Inline : Transport::SharedMemory;
  const char* tmp = std::getenv("TMPDIR");
  FailsClearly(tmp ? tmp : "/tmp");
  if (const char* secured = std::getenv("ARTEM_TEST_SECURED_SERVER"); secured && *secured) {
    Credentials credentials;
    credentials.token_file = std::getenv("ARTEM_TEST_TOKEN_FILE");
    credentials.tls_ca_file = std::getenv("ARTEM_TEST_CA_FILE");
    StreamsFromASecuredServer(secured, credentials, std::getenv("ARTEM_TEST_OTHER_CA_FILE"));
  }
  ListsStylesWithThumbnails(server);
  StreamsLatestFrameWins(server, transport);
  if (transport == Transport::SharedMemory) StreamsJpeg(server);
  return check_result("streamer");
}
