// How the views Unreal renders for a frame map onto a session's views (eyes), and how the
// post-process callbacks of one frame's views share one request slot. Engine-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ArtEmCore/CoreApi.h"

namespace ArtEm {

// What the view extension knows about one view of a view family.
struct ViewInput {
  bool stereo_eye = false;     // IStereoRendering::IsStereoEyeView: an eye of a headset
  int stereo_view_index = -1;  // FSceneView::StereoViewIndex: 0 left, 1 right (INDEX_NONE mono)
  int width = 0;               // the view rect inside scene colour, in pixels
  int height = 0;
};

struct EyeSize {
  int width = 0;
  int height = 0;
  bool operator==(const EyeSize& o) const { return width == o.width && height == o.height; }
  bool operator!=(const EyeSize& o) const { return !(*this == o); }
};

class ARTEMCORE_API StereoLayout {
 public:
  StereoLayout() = default;

  // The layout of a view family: one eye (a mono view), or two (a headset's left and right eye,
  // each in its own rect, possibly of different sizes). False, with `why`, for a family that
  // cannot be streamed: no view, a zero-sized rect, or stereo views other than a left-right pair
  // (quad views: only the two primary eyes would be stylized, which looks wrong in a headset).
  static bool Of(const std::vector<ViewInput>& views, StereoLayout* layout, std::string* why);

  // The eye a view is (0 left or mono, 1 right), -1 for a view that is not streamed.
  static int EyeOf(const ViewInput& view);

  int Eyes() const { return static_cast<int>(eyes_.size()); }
  EyeSize Eye(int eye) const { return eyes_[static_cast<std::size_t>(eye)]; }
  bool Stereo() const { return eyes_.size() == 2; }
  std::uint64_t EyeBytes(int eye) const;  // RGBA8/BGRA8, packed
  bool operator==(const StereoLayout& o) const { return eyes_ == o.eyes_; }
  bool operator!=(const StereoLayout& o) const { return !(*this == o); }
  std::string Describe() const;  // "stereo 2x1832x1920", for logs and the status line

 private:
  std::vector<EyeSize> eyes_;
};

// Gives one frame's eyes the same request slot: the first eye of a new frame asks for a slot
// (`begin`, which may skip the frame with -1), the other eye of that frame gets the same answer.
class ARTEMCORE_API FrameGrouper {
 public:
  template <typename Begin>
  int SlotFor(std::uint64_t frame, Begin&& begin) {
    if (!started_ || frame != frame_) {
      started_ = true;
      frame_ = frame;
      slot_ = begin();
    }
    return slot_;
  }

 private:
  bool started_ = false;
  std::uint64_t frame_ = 0;
  int slot_ = -1;
};

// What the tonemap callback does with a view: draw the stylized frame on show over it, or leave
// the view as rendered (copied into the pass's override output when the renderer gave one).
enum class Composite { PassThrough, CopyToOverride, DrawStylized };

// `streamed`: the view is one of the stream's eyes (not a capture, not a quad-view inset); `eye`:
// its eye; `shown`: the layout of the stylized frame on show (no eyes: none yet); `view`: the
// view's size now. A stylized eye is drawn only over a view of its own size (after a resize the
// view stays as rendered until a frame of the new size comes back).
ARTEMCORE_API Composite ChooseComposite(bool streamed, int eye, const StereoLayout& shown,
                                        EyeSize view, bool has_override);

}  // namespace ArtEm
