// The GPU readbacks in flight: which staging buffer holds which eye of which request slot, and
// the order they were queued in. The engine owns the buffers (one FRHIGPUTextureReadback per
// entry); this is their bookkeeping, so that the render thread never waits on a fence: it maps an
// entry only once the GPU says it is ready, oldest first, and skips a frame when all are busy.
#pragma once

#include <cstdint>
#include <vector>

#include "ArtEmCore/CoreApi.h"

namespace ArtEm {

struct ReadbackEntry {
  bool busy = false;
  int slot = -1;            // the request slot the pixels go into
  int eye = 0;              // the view of that slot
  std::uint64_t order = 0;  // when it was queued (larger: later)
  std::uint64_t frame = 0;  // the engine's frame counter, for logs
};

class ARTEMCORE_API ReadbackRing {
 public:
  explicit ReadbackRing(int entries);

  int Size() const { return static_cast<int>(entries_.size()); }
  const ReadbackEntry& Entry(int index) const { return entries_[static_cast<std::size_t>(index)]; }
  int Busy() const;
  // How many of the ring's entries are free: a frame of `eyes` views needs that many at once.
  int Free() const { return Size() - Busy(); }

  // A free entry for `eye` of `slot`, now busy; -1 when every entry is in flight.
  int Begin(int slot, int eye, std::uint64_t frame);
  // The busy entry queued first, or -1: readbacks complete in the order they were queued, so
  // the render thread looks at this one and stops at the first that is not ready.
  int Oldest() const;
  // The entry's pixels have been copied out (or it failed): free for the next readback.
  void Finish(int index);
  // Frees every entry that reads into `slot` (its frame was abandoned); returns how many.
  int Forget(int slot);
  // Whether a busy entry was queued more than `max_frames` frames before `frame`: a readback
  // the GPU never finished (a lost device, a skipped graph) is given up rather than waited for.
  bool Overdue(int index, std::uint64_t frame, std::uint64_t max_frames) const;

 private:
  std::vector<ReadbackEntry> entries_;
  std::uint64_t next_order_ = 1;
};

}  // namespace ArtEm
