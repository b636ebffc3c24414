#include "ArtEmCore/ReadbackRing.h"

namespace ArtEm {

ReadbackRing::ReadbackRing(int entries)
    : entries_(static_cast<std::size_t>(entries < 1 ? 1 : entries)) {}

int ReadbackRing::Busy() const {
  int n = 0;
  for (const ReadbackEntry& e : entries_) n += e.busy;
  return n;
}

int ReadbackRing::Begin(int slot, int eye, std::uint64_t frame) {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].busy) continue;
    entries_[i] = ReadbackEntry{true, slot, eye, next_order_++, frame};
    return static_cast<int>(i);
  }
  return -1;
}

int ReadbackRing::Oldest() const {
  int oldest = -1;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (!entries_[i].busy) continue;
    if (oldest < 0 || entries_[i].order < entries_[static_cast<std::size_t>(oldest)].order)
      oldest = static_cast<int>(i);
  }
  return oldest;
}

void ReadbackRing::Finish(int index) {
  if (index >= 0 && index < Size()) entries_[static_cast<std::size_t>(index)] = ReadbackEntry{};
}

int ReadbackRing::Forget(int slot) {
  int n = 0;
  for (ReadbackEntry& e : entries_) {
    if (!e.busy || e.slot != slot) continue;
    e = ReadbackEntry{};
    ++n;
  }
  return n;
}

bool ReadbackRing::Overdue(int index, std::uint64_t frame, std::uint64_t max_frames) const {
  if (index < 0 || index >= Size()) return false;
  const ReadbackEntry& e = entries_[static_cast<std::size_t>(index)];
  return e.busy && frame > e.frame + max_frames;
}

}  // namespace ArtEm
