#include "ArtEmCore/FrameSlots.h"

namespace ArtEm {

FrameSlots::FrameSlots(int count)
    : state_(static_cast<std::size_t>(count < 1 ? 1 : count), SlotState::Free),
      frame_(state_.size(), 0),
      pending_(state_.size(), 0) {}

int FrameSlots::InState(SlotState s) const {
  int n = 0;
  for (SlotState x : state_) n += x == s;
  return n;
}

int FrameSlots::BeginReadback(int eyes) {
  if (eyes < 1) return -1;
  for (std::size_t slot = 0; slot < state_.size(); ++slot) {
    if (state_[slot] != SlotState::Free) continue;
    state_[slot] = SlotState::Reading;
    pending_[slot] = eyes;
    return static_cast<int>(slot);
  }
  ++skipped_;
  return -1;
}

bool FrameSlots::EyeRead(int slot) {
  if (!Expect(slot, SlotState::Reading)) return false;
  const std::size_t s = static_cast<std::size_t>(slot);
  if (--pending_[s] > 0) return false;
  state_[s] = SlotState::Queued;
  frame_[s] = next_id_++;
  return true;
}

bool FrameSlots::Abandon(int slot) {
  if (!Expect(slot, SlotState::Reading) && !Expect(slot, SlotState::Queued)) return false;
  state_[static_cast<std::size_t>(slot)] = SlotState::Free;
  return true;
}

int FrameSlots::NextToSend(std::uint64_t* superseded) {
  int newest = -1;
  for (int slot = 0; slot < Count(); ++slot) {
    if (State(slot) == SlotState::Queued && (newest < 0 || FrameId(slot) > FrameId(newest)))
      newest = slot;
  }
  for (int slot = 0; slot < Count(); ++slot) {
    if (slot == newest || State(slot) != SlotState::Queued) continue;
    state_[static_cast<std::size_t>(slot)] = SlotState::Free;
    ++*superseded;
  }
  return newest;
}

bool FrameSlots::Sent(int slot) {
  if (!Expect(slot, SlotState::Queued)) return false;
  state_[static_cast<std::size_t>(slot)] = SlotState::Out;
  return true;
}

int FrameSlots::Replied(std::uint64_t id, bool refused) {
  int freed = 0;
  for (std::size_t s = 0; s < state_.size(); ++s) {
    if (state_[s] != SlotState::Out || (refused ? frame_[s] != id : frame_[s] > id)) continue;
    state_[s] = SlotState::Free;
    ++freed;
  }
  return freed;
}

int FrameSlots::FreeAllOut() {
  int freed = 0;
  for (SlotState& s : state_) {
    if (s != SlotState::Out && s != SlotState::Queued) continue;
    s = SlotState::Free;
    ++freed;
  }
  return freed;
}

bool FrameSlots::Expect(int slot, SlotState s) const {
  return slot >= 0 && slot < Count() && state_[static_cast<std::size_t>(slot)] == s;
}

}  // namespace ArtEm
