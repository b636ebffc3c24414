// The plugin's engine-free logic without a server: slot accounting (latest frame wins), the
// readback ring's order, the stereo layout of Unreal's views, the transport, colour and token
// choices, the row copy out of a padded staging buffer. Argument: a folder for temporary files.
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "ArtEmCore/FrameSlots.h"
#include "ArtEmCore/ReadbackRing.h"
#include "ArtEmCore/StereoLayout.h"
#include "ArtEmCore/StreamChoices.h"
#include "check.h"

using namespace ArtEm;

static void FrameSlotsFollowLatestFrameWins() {
  FrameSlots slots(3);
  const int a = slots.BeginReadback(2);
  CHECK_EQ(a, 0);
  CHECK(!slots.EyeRead(a));  // one eye of two
  CHECK(slots.EyeRead(a));   // complete: queued with id 1
  CHECK(slots.State(a) == SlotState::Queued);
  CHECK_EQ(slots.FrameId(a), 1u);
  CHECK(slots.Sent(a));
  CHECK(!slots.Sent(a));  // not queued any more
  const int b = slots.BeginReadback(1);
  CHECK(slots.EyeRead(b));
  slots.Sent(b);
  const int c = slots.BeginReadback(1);
  CHECK(slots.EyeRead(c));
  slots.Sent(c);  // frames 1, 2, 3 out
  CHECK_EQ(slots.BeginReadback(1), -1);
  CHECK_EQ(slots.Skipped(), 1u);
  CHECK_EQ(slots.Replied(2, false), 2);  // frame 2 answered: frame 1 was dropped, both freed
  CHECK(slots.State(a) == SlotState::Free && slots.State(b) == SlotState::Free);
  CHECK(slots.State(c) == SlotState::Out);
  CHECK_EQ(slots.Replied(1, false), 0);  // an older reply frees nothing more
  CHECK_EQ(slots.Replied(3, true), 1);   // a refusal frees its own slot
  CHECK_EQ(slots.InState(SlotState::Free), 3);
  const int d = slots.BeginReadback(2);
  CHECK(slots.Abandon(d));  // a failed readback
  CHECK(!slots.EyeRead(d));
  const int e = slots.BeginReadback(1);
  slots.EyeRead(e);
  CHECK_EQ(slots.FrameId(e), 4u);  // ids keep increasing across abandoned frames
  CHECK_EQ(slots.FreeAllOut(), 1);

  // Three frames complete before the streaming thread gets to them: only the newest goes out.
  FrameSlots queue(4);
  for (int i = 0; i < 3; ++i) queue.EyeRead(queue.BeginReadback(1));
  const int reading = queue.BeginReadback(2);  // a fourth, still being read back, is not touched
  std::uint64_t superseded = 0;
  const int send = queue.NextToSend(&superseded);
  CHECK_EQ(send, 2);
  CHECK_EQ(queue.FrameId(send), 3u);
  CHECK_EQ(superseded, 2u);
  CHECK(queue.State(0) == SlotState::Free && queue.State(1) == SlotState::Free);
  CHECK(queue.State(reading) == SlotState::Reading);
  CHECK(queue.Sent(send));
  CHECK_EQ(queue.NextToSend(&superseded), -1);
  CHECK_EQ(superseded, 2u);
  CHECK(!slots.EyeRead(-1) && !slots.EyeRead(7) && !slots.Abandon(3));
}

static void ReadbackRingIsOldestFirstAndNeverWaits() {
  ReadbackRing ring(3);
  CHECK_EQ(ring.Oldest(), -1);
  const int l0 = ring.Begin(0, 0, 100);
  const int r0 = ring.Begin(0, 1, 100);
  const int l1 = ring.Begin(1, 0, 101);
  CHECK_EQ(ring.Begin(1, 1, 101), -1);  // all in flight: the caller skips the frame
  CHECK_EQ(ring.Free(), 0);
  CHECK_EQ(ring.Oldest(), l0);
  ring.Finish(l0);
  CHECK_EQ(ring.Oldest(), r0);
  const int again = ring.Begin(2, 0, 102);  // reuses l0's entry, but is the newest
  CHECK_EQ(again, l0);
  ring.Finish(r0);
  CHECK_EQ(ring.Oldest(), l1);
  CHECK_EQ(ring.Entry(l1).slot, 1);
  CHECK_EQ(ring.Forget(1), 1);  // frame 101 abandoned
  CHECK_EQ(ring.Oldest(), again);
  CHECK_EQ(ring.Entry(again).frame, 102u);
  CHECK(!ring.Overdue(again, 110, 8) && ring.Overdue(again, 111, 8));
  CHECK(!ring.Overdue(l1, 200, 8));  // a free entry is never overdue
}

static StereoLayout Layout1(int width, int height) {
  StereoLayout layout;
  std::string why;
  CHECK(StereoLayout::Of({{false, -1, width, height}}, &layout, &why));
  return layout;
}

static void StereoLayoutOfUnrealViews() {
  StereoLayout layout;
  std::string why;
  CHECK(StereoLayout::Of({{false, -1, 1280, 720}}, &layout, &why));
  CHECK(!layout.Stereo() && layout.Eyes() == 1 && layout.Eye(0).width == 1280);
  CHECK(layout.Describe() == "mono 1280x720");
  // A headset: the right eye's callback may come first; eyes may differ in size.
  CHECK(StereoLayout::Of({{true, 1, 1832, 1920}, {true, 0, 1832, 1920}}, &layout, &why));
  CHECK(layout.Stereo() && layout.Describe() == "stereo 2x1832x1920");
  CHECK_EQ(layout.EyeBytes(1), 4ull * 1832 * 1920);
  CHECK(StereoLayout::Of({{true, 0, 40, 24}, {true, 1, 36, 24}}, &layout, &why));
  CHECK(layout.Describe() == "stereo 40x24 + 36x24");
  CHECK_EQ(StereoLayout::EyeOf({true, 1, 1, 1}), 1);
  CHECK_EQ(StereoLayout::EyeOf({false, -1, 1, 1}), 0);
  CHECK_EQ(StereoLayout::EyeOf({true, 2, 1, 1}), -1);  // a quad-view inset is not streamed
  const StereoLayout before = layout;
  CHECK(!StereoLayout::Of({}, &layout, &why) && why == "the view family has no view");
  CHECK(!StereoLayout::Of({{true, 0, 10, 10}, {true, 0, 10, 10}}, &layout, &why));
  CHECK(why.find("exactly a left (0) and a right (1) eye") != std::string::npos);
  CHECK(!StereoLayout::Of({{true, 0, 10, 10}}, &layout, &why) &&
        why == "stereo without a right eye");
  CHECK(!StereoLayout::Of({{false, -1, 10, 10}, {false, -1, 10, 10}}, &layout, &why));
  CHECK(why.find("split screen") != std::string::npos);
  CHECK(!StereoLayout::Of({{false, -1, 0, 720}}, &layout, &why) &&
        why.find("0x720") != std::string::npos);
  CHECK(layout == before);  // untouched on refusal

  // The stylized frame is drawn over a view of its eye's size only; else the view as rendered.
  const StereoLayout none;
  CHECK(ChooseComposite(true, 0, none, {40, 24}, false) == Composite::PassThrough);
  CHECK(ChooseComposite(true, 0, none, {40, 24}, true) == Composite::CopyToOverride);
  CHECK(ChooseComposite(true, 0, layout, {40, 24}, false) == Composite::DrawStylized);
  CHECK(ChooseComposite(true, 1, layout, {36, 24}, true) == Composite::DrawStylized);
  CHECK(ChooseComposite(true, 1, layout, {40, 24}, false) == Composite::PassThrough);   // resized
  CHECK(ChooseComposite(false, 0, layout, {40, 24}, false) == Composite::PassThrough);  // capture
  const StereoLayout mono = Layout1(32, 16);
  CHECK(ChooseComposite(true, 1, mono, {32, 16}, false) == Composite::PassThrough);  // no eye 1

  FrameGrouper grouper;
  int begun = 0;
  auto begin = [&] { return begun++ == 1 ? -1 : 10 + begun; };
  CHECK_EQ(grouper.SlotFor(7, begin), 11);  // frame 7, left eye
  CHECK_EQ(grouper.SlotFor(7, begin), 11);  // frame 7, right eye: the same slot
  CHECK_EQ(grouper.SlotFor(8, begin), -1);  // frame 8 skipped, both eyes
  CHECK_EQ(grouper.SlotFor(8, begin), -1);
  CHECK_EQ(grouper.SlotFor(9, begin), 13);
  CHECK_EQ(begun, 3);
}

static void TransportColourAndTokenChoices(const std::string& tmp) {
  TransportSetting setting{};
  std::string why;
  CHECK(ParseTransport(" jpeg ", &setting, &why) && setting == TransportSetting::Jpeg);
  CHECK(ParseTransport("SharedMemory", &setting, &why) &&
        setting == TransportSetting::SharedMemory);
  CHECK(ParseTransport("", &setting, &why) && setting == TransportSetting::Automatic);
  CHECK(!ParseTransport("udp", &setting, &why));
  CHECK(why == "transport = \"udp\": expected Automatic, SharedMemory, Inline or Jpeg");
  CHECK(IsThisHost("127.0.0.1:50051") && IsThisHost("localhost:1") && IsThisHost("[::1]:50051"));
  CHECK(IsThisHost("unix:/tmp/artem.sock") && !IsThisHost("gpu-box:50051") && !IsThisHost(""));
  CHECK(!IsThisHost("[2001:db8::1]:50051") && !IsThisHost("10.0.0.2:50051"));
  const auto automatic = TransportSetting::Automatic;
  CHECK(TransportFor(automatic, "127.0.0.1:50051", true) == Transport::SharedMemory);
  CHECK(TransportFor(automatic, "127.0.0.1:50051", false) == Transport::Inline);  // Android
  CHECK(TransportFor(automatic, "192.168.1.20:50051", true) == Transport::Jpeg);  // Quest to a PC
  CHECK(TransportFor(TransportSetting::Inline, "192.168.1.20:50051", true) == Transport::Inline);

  CHECK(ColourForOutputDevice(0).supported && !ColourForOutputDevice(0).linear);
  CHECK(ColourForOutputDevice(2).supported && !ColourForOutputDevice(2).linear);
  CHECK(ColourForOutputDevice(8).supported && ColourForOutputDevice(8).linear);
  const ColourChoice hdr = ColourForOutputDevice(3);
  CHECK(!hdr.supported && hdr.why.find("display output 3 is HDR") != std::string::npos);
  CHECK(!ColourForOutputDevice(12).supported);

  std::string token;
  CHECK(!LoadTokenFile(tmp + "/no-such-token", &token, &why));
  CHECK(why.find("no-such-token: cannot be read") != std::string::npos);
  std::ofstream(tmp + "/short-token") << "abc\n";
  CHECK(!LoadTokenFile(tmp + "/short-token", &token, &why));
  CHECK(why.find("holds 3 characters, expected at least 16") != std::string::npos);
  std::ofstream(tmp + "/token") << "  0123456789abcdef0123\n";
  CHECK(LoadTokenFile(tmp + "/token", &token, &why) && token == "0123456789abcdef0123");
}

static void CopyRowsLeavesThePaddingOut() {
  // A staging buffer 3 rows of 2 BGRA pixels with a pitch of 4 pixels, into a packed view.
  std::vector<std::uint8_t> staging(3 * 16);
  for (std::size_t i = 0; i < staging.size(); ++i) staging[i] = static_cast<std::uint8_t>(i);
  std::vector<std::uint8_t> packed(3 * 8, 0xEE);
  CopyRows(packed.data(), 8, staging.data(), 16, 8, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 8; ++x) CHECK_EQ(packed[static_cast<std::size_t>(y * 8 + x)], y * 16 + x);
  std::vector<std::uint8_t> same(24);
  CopyRows(same.data(), 8, packed.data(), 8, 8, 3);
  CHECK(same == packed);
}

int main(int argc, char** argv) {
  const std::string tmp = argc > 1 ? argv[1] : ".";
  FrameSlotsFollowLatestFrameWins();
  ReadbackRingIsOldestFirstAndNeverWaits();
  StereoLayoutOfUnrealViews();
  TransportColourAndTokenChoices(tmp);
  CopyRowsLeavesThePaddingOut();
  return check_result("core_logic");
}
