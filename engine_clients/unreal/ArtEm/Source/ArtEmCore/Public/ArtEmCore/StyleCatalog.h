// The styles a server offers, for a style picker: ids, kinds, names and PNG thumbnails, copied
// out of the native core's list (every page of ListStyles). Engine-free; blocks for up to
// `timeout_ms`, so engines call it off the game thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ArtEmCore/CoreApi.h"
#include "ArtEmCore/StreamChoices.h"

namespace ArtEm {

struct StyleEntry {
  std::string id;    // what SetStyle takes
  std::string kind;  // identity, generator, adain, xnor, ...
  std::string display_name;
  std::vector<std::uint8_t> thumbnail_png;  // empty when the style has none
};

// 0 with `styles` filled, else the gRPC status code with `why` (14: the server is unreachable
// or TLS failed; 16: it refused the token; 3: the token file cannot be used).
ARTEMCORE_API int ListStyles(const std::string& address, int timeout_ms,
                             std::vector<StyleEntry>* styles, std::string* why,
                             const Credentials& credentials = {});

}  // namespace ArtEm
