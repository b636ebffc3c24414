// Which request slots are free, being read back into, or out at the server: the accounting that
// lets a render loop stream frames without ever waiting. Engine-free (no Unreal headers), built
// without exceptions or RTTI as Unreal builds modules; unit-tested with ctest.
#pragma once

#include <cstdint>
#include <vector>

#include "ArtEmCore/CoreApi.h"

namespace ArtEm {

enum class SlotState : std::uint8_t {
  Free,
  Reading,  // the GPU is copying a frame's eyes into it
  Queued,   // complete, waiting for the streaming thread to send it
  Out,      // sent: the server's until this frame's reply or a later frame's
};

// Slot accounting with the server's rule, latest frame wins: a reply frees its own slot and every
// earlier frame's (answered or dropped); a refused frame frees only its own. When no slot is free
// the frame is skipped, never waited for. Not thread-safe: the Streamer guards it.
class ARTEMCORE_API FrameSlots {
 public:
  explicit FrameSlots(int count);

  int Count() const { return static_cast<int>(state_.size()); }
  SlotState State(int slot) const { return state_[static_cast<std::size_t>(slot)]; }
  int InState(SlotState s) const;
  // Frames skipped because every slot was busy (the server or the GPU is behind).
  std::uint64_t Skipped() const { return skipped_; }

  // A free slot for a frame of `eyes` readbacks, now Reading; -1 (counted as skipped) when none.
  int BeginReadback(int eyes);
  // One eye's readback landed in `slot`: true when the frame is complete (then Queued, with an id
  // larger than every earlier frame's). False for a slot that is not Reading.
  bool EyeRead(int slot);
  // A readback failed or the frame was superseded before it went out: the slot is free again.
  bool Abandon(int slot);
  // The id a Queued slot's frame carries.
  std::uint64_t FrameId(int slot) const { return frame_[static_cast<std::size_t>(slot)]; }
  // The frame to send now: the newest Queued one, or -1. Older Queued frames are dropped (their
  // slots free again, counted in `superseded`): latest frame wins before sending too.
  int NextToSend(std::uint64_t* superseded);
  // The Queued frame in `slot` has gone out.
  bool Sent(int slot);
  // A reply came (refused: code != 0). Returns how many slots it freed.
  int Replied(std::uint64_t id, bool refused);
  // The stream ended: every Queued slot and every slot out at the server is free again (Reading
  // ones stay the GPU's until their readbacks land or fail).
  int FreeAllOut();

 private:
  bool Expect(int slot, SlotState s) const;

  std::vector<SlotState> state_;
  std::vector<std::uint64_t> frame_;
  std::vector<int> pending_;  // eyes still being read back into a Reading slot
  std::uint64_t next_id_ = 1;
  std::uint64_t skipped_ = 0;
};

}  // namespace ArtEm
