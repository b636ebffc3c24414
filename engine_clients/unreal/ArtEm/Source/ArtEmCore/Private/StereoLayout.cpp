#include "ArtEmCore/StereoLayout.h"

namespace ArtEm {

int StereoLayout::EyeOf(const ViewInput& view) {
  if (!view.stereo_eye) return 0;
  return view.stereo_view_index == 0 || view.stereo_view_index == 1 ? view.stereo_view_index : -1;
}

bool StereoLayout::Of(const std::vector<ViewInput>& views, StereoLayout* layout, std::string* why) {
  StereoLayout out;
  if (views.empty()) {
    *why = "the view family has no view";
    return false;
  }
  bool any_stereo = false;
  for (const ViewInput& v : views) any_stereo = any_stereo || v.stereo_eye;
  if (!any_stereo) {
    if (views.size() != 1) {
      *why = std::to_string(views.size()) + " views without stereo (split screen): expected one";
      return false;
    }
    out.eyes_.push_back({views[0].width, views[0].height});
  } else {
    out.eyes_.resize(2);
    bool seen[2] = {false, false};
    for (const ViewInput& v : views) {
      const int eye = EyeOf(v);
      if (!v.stereo_eye || eye < 0 || seen[eye]) {
        *why = "stereo view with index " + std::to_string(v.stereo_view_index) +
               ": expected exactly a left (0) and a right (1) eye";
        return false;
      }
      seen[eye] = true;
      out.eyes_[static_cast<std::size_t>(eye)] = {v.width, v.height};
    }
    if (!seen[0] || !seen[1]) {
      *why = std::string("stereo without a ") + (seen[0] ? "right" : "left") + " eye";
      return false;
    }
  }
  for (std::size_t i = 0; i < out.eyes_.size(); ++i) {
    if (out.eyes_[i].width <= 0 || out.eyes_[i].height <= 0) {
      *why = "eye " + std::to_string(i) + " is " + std::to_string(out.eyes_[i].width) + "x" +
             std::to_string(out.eyes_[i].height) + ": expected a positive size";
      return false;
    }
  }
  *layout = out;
  return true;
}

std::uint64_t StereoLayout::EyeBytes(int eye) const {
  const EyeSize e = Eye(eye);
  return std::uint64_t{4} * static_cast<std::uint64_t>(e.width) *
         static_cast<std::uint64_t>(e.height);
}

std::string StereoLayout::Describe() const {
  if (eyes_.empty()) return "no views";
  std::string s = Stereo() ? "stereo " : "mono ";
  if (Stereo() && eyes_[0] != eyes_[1])
    return s + std::to_string(eyes_[0].width) + "x" + std::to_string(eyes_[0].height) + " + " +
           std::to_string(eyes_[1].width) + "x" + std::to_string(eyes_[1].height);
  return s + (Stereo() ? "2x" : "") + std::to_string(eyes_[0].width) + "x" +
         std::to_string(eyes_[0].height);
}

Composite ChooseComposite(bool streamed, int eye, const StereoLayout& shown, EyeSize view,
                          bool has_override) {
  if (streamed && eye >= 0 && eye < shown.Eyes() && shown.Eye(eye) == view)
    return Composite::DrawStylized;
  return has_override ? Composite::CopyToOverride : Composite::PassThrough;
}

}  // namespace ArtEm
