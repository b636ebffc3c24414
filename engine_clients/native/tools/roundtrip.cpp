// artem_native_roundtrip: streams frames through a running ArtEm server with the native
// session (shared memory or inline), one in flight, and prints fps and round-trip latency.
// Also the native side of tests/test_native_client.py: --input/--output carry raw pixels (the
// last answered frame's reply), --expect-identity checks every reply against its request byte
// for byte. --in-flight N keeps N frames out with Send/Receive, as a render thread would.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "session.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

const char kUsage[] =
    "usage: artem_native_roundtrip --server HOST:PORT [--style ID] [--strength F] [--transport shm|inline|jpeg]\n"
    "                              [--size WxH] [--stereo] [--format rgba8|bgra8|rgb8] [--linear] [--frames N]\n"
    "                              [--slots K] [--in-flight N] [--warmup N] [--input RAW] [--output RAW]\n"
    "                              [--expect-identity] [--token T] [--tls-ca PEM] [--tls-server-name NAME]\n";

struct Options {
  std::string server, style = "identity", transport = "shm", input, output;
  artem::rpc::Security security;  // --token, --tls-ca (a server started with --token-file, --tls-cert)
  float strength = 1.0f;
  std::uint32_t width = 256, height = 256, format = 1, frames = 30, slots = 2, in_flight = 1, warmup = 0;
  bool stereo = false, linear = false, expect_identity = false;
};

[[noreturn]] void Usage(const std::string& why) {
  std::cerr << "artem_native_roundtrip: " << why << "\n" << kUsage;
  std::exit(64);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--server") o.server = value();
      else if (a == "--style") o.style = value();
      else if (a == "--strength") o.strength = std::stof(value());
      else if (a == "--transport") o.transport = value();
      else if (a == "--frames") o.frames = static_cast<std::uint32_t>(std::stoul(value()));
      else if (a == "--slots") o.slots = static_cast<std::uint32_t>(std::stoul(value()));
      else if (a == "--in-flight") o.in_flight = static_cast<std::uint32_t>(std::stoul(value()));
      else if (a == "--warmup") o.warmup = static_cast<std::uint32_t>(std::stoul(value()));
      else if (a == "--input") o.input = value();
      else if (a == "--output") o.output = value();
      else if (a == "--stereo") o.stereo = true;
      else if (a == "--linear") o.linear = true;
      else if (a == "--expect-identity") o.expect_identity = true;
      else if (a == "--token") o.security.token = value();
      else if (a == "--tls-server-name") o.security.tls.server_name = value();
      else if (a == "--tls-ca") {
        o.security.tls.ca_source = value();
        std::ifstream in(o.security.tls.ca_source, std::ios::binary);
        o.security.tls.ca_pem.assign(std::istreambuf_iterator<char>(in), {});
        if (o.security.tls.ca_pem.empty()) Usage("--tls-ca " + o.security.tls.ca_source + ": cannot be read");
      }
      else if (a == "--size") {
        const std::string v = value();
        const auto x = v.find('x');
        if (x == std::string::npos) Usage("--size " + v + ": expected WxH");
        o.width = static_cast<std::uint32_t>(std::stoul(v.substr(0, x)));
        o.height = static_cast<std::uint32_t>(std::stoul(v.substr(x + 1)));
      } else if (a == "--format") {
        const std::string v = value();
        if (v == "rgba8") o.format = 1;
        else if (v == "bgra8") o.format = 2;
        else if (v == "rgb8") o.format = 3;
        else Usage("--format " + v + ": expected rgba8, bgra8 or rgb8");
      } else {
        Usage("unknown argument " + a);
      }
    } catch (const std::logic_error&) {
      Usage(a + ": expected a number");
    }
  }
  if (o.server.empty()) Usage("--server is required");
  if (o.transport != "shm" && o.transport != "inline" && o.transport != "jpeg")
    Usage("--transport " + o.transport + ": expected shm, inline or jpeg");
  if (o.transport == "jpeg" && o.expect_identity) Usage("--expect-identity: JPEG is lossy (compare --output instead)");
  if (o.frames == 0) Usage("--frames 0: expected at least 1");
  if (o.in_flight == 0 || o.in_flight > o.slots) Usage("--in-flight: expected 1..--slots (each frame out holds a slot)");
  return o;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p / 100.0 * (v.size() - 1) + 0.5)];
}

// glibc malloc kept for frame-sized buffers, as the Python client's commands keep it: every size
// from the heap (no fresh mmap, so no page faults, for gRPC's per-message buffers), one arena,
// no trimming. A process that streams frames chooses this for itself; the library does not.
void KeepFrameBuffers() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_ARENA_MAX, 1);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  KeepFrameBuffers();
  const Options o = Parse(argc, argv);
  try {
    std::vector<artem::ViewDesc> views(o.stereo ? 2 : 1, {o.width, o.height, o.format, 0, o.linear});
    artem::Session session(o.server, o.style, o.strength, views, o.slots,
                           o.transport == "shm"      ? artem::Session::Transport::kSharedMemory
                           : o.transport == "inline" ? artem::Session::Transport::kInline
                                                     : artem::Session::Transport::kJpeg,
                           artem::Session::kDefaultJpegQuality, o.security);
    std::vector<std::uint64_t> sizes;
    std::uint64_t total = 0;
    for (std::uint32_t v = 0; v < views.size(); ++v) total += sizes.emplace_back(session.view_bytes(v));
    std::vector<std::uint8_t> source(total);
    if (!o.input.empty()) {
      std::ifstream in(o.input, std::ios::binary);
      source.assign(std::istreambuf_iterator<char>(in), {});
      if (source.size() != total) {
        std::cerr << "--input " << o.input << ": " << source.size() << " bytes, expected " << total
                  << " (the views' packed pixels, one after the other)\n";
        return 64;
      }
    } else {
      for (std::uint64_t i = 0; i < total; ++i) source[i] = static_cast<std::uint8_t>((i * 7 + i / 4096) & 0xff);
    }
    std::vector<double> latency_ms, model_ms;
    std::uint32_t answered = 0, dropped = 0;
    std::uint32_t last_slot = 0;
    // Frames out, oldest first: id, slot, when sent. Up to --in-flight of them, one per slot.
    std::deque<std::tuple<std::uint64_t, std::uint32_t, std::chrono::steady_clock::time_point>> out;
    std::vector<bool> busy(session.slot_count(), false);
    auto start = std::chrono::steady_clock::now();
    std::uint64_t next_id = 1;
    const std::uint64_t last_id = std::uint64_t{o.frames} + o.warmup;
    while (next_id <= last_id || !out.empty()) {
      if (next_id == o.warmup + 1 && out.empty()) {  // warm-up frames all answered: measure from here
        start = std::chrono::steady_clock::now();
        answered = dropped = 0;
        latency_ms.clear();
        model_ms.clear();
      }
      if (next_id <= last_id && out.size() < o.in_flight && (next_id != o.warmup + 1 || out.empty())) {
        std::uint32_t slot = 0;
        while (busy[slot]) ++slot;
        std::uint64_t at = 0;
        for (std::uint32_t v = 0; v < views.size(); ++v) {  // the engine's readback into the slot
          std::memcpy(session.request_view(slot, v), source.data() + at, sizes[v]);
          at += sizes[v];
        }
        out.emplace_back(next_id, slot, std::chrono::steady_clock::now());
        busy[slot] = true;
        session.Send(next_id++, slot);
        continue;
      }
      artem::FrameInfo info;
      session.Receive(&info);
      if (info.code) throw artem::Error(info.code, info.message);
      while (!out.empty() && std::get<0>(out.front()) <= info.id) {  // answered, or dropped before it
        const auto [id, slot, sent] = out.front();
        out.pop_front();
        busy[slot] = false;
        if (id != info.id) {
          ++dropped;
          continue;
        }
        ++answered;
        last_slot = slot;
        latency_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent).count());
        model_ms.push_back(info.model_ms);
        if (o.expect_identity) {
          std::uint64_t at = 0;
          for (std::uint32_t v = 0; v < views.size(); ++v) {
            if (std::memcmp(session.reply_view(slot, v), source.data() + at, sizes[v]) != 0) {
              std::cerr << "frame " << id << " view " << v << ": the reply differs from the request\n";
              return 1;
            }
            at += sizes[v];
          }
        }
      }
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!o.output.empty()) {
      std::ofstream out(o.output, std::ios::binary);
      for (std::uint32_t v = 0; v < views.size(); ++v)
        out.write(reinterpret_cast<const char*>(session.reply_view(last_slot, v)), static_cast<std::streamsize>(sizes[v]));
    }
    std::printf("%u frames %ux%u%s via %s, %u in flight: %u answered, %u dropped; %.1f fps; round trip p50 %.2f ms, "
                "p95 %.2f ms; server model p50 %.2f ms\n",
                o.frames, o.width, o.height, o.stereo ? " stereo" : "", o.transport.c_str(), o.in_flight, answered,
                dropped, answered / wall, Percentile(latency_ms, 50), Percentile(latency_ms, 95),
                Percentile(model_ms, 50));
    return 0;
  } catch (const artem::Error& e) {
    std::cerr << "error " << e.code() << ": " << e.what() << "\n";
    return 2;
  }
}
