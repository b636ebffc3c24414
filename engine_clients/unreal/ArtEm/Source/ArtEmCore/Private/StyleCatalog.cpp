#include "ArtEmCore/StyleCatalog.h"

#include <utility>

#include "ArtEmCore/ConnectOptions.h"
#include "artem/artem.h"

namespace ArtEm {

int ListStyles(const std::string& address, int timeout_ms, std::vector<StyleEntry>* styles,
               std::string* why, const Credentials& credentials) {
  ConnectOptions options;
  if (const int bad = options.Load(credentials, why)) return bad;
  char error[512] = "";
  artem_style_list* list = nullptr;
  const int code = artem_list_styles_ex(address.c_str(), options.get(), timeout_ms, &list, error,
                                        sizeof error);
  if (code != 0) {
    *why = error;
    return code;
  }
  styles->clear();
  for (std::uint32_t i = 0; i < artem_style_count(list); ++i) {
    artem_style_info info{};
    if (artem_style_at(list, i, &info) != 0) continue;
    StyleEntry entry{info.id, info.kind, info.display_name, {}};
    if (info.thumbnail_png != nullptr)
      entry.thumbnail_png.assign(info.thumbnail_png, info.thumbnail_png + info.thumbnail_len);
    styles->push_back(std::move(entry));
  }
  artem_style_list_free(list);
  return 0;
}

}  // namespace ArtEm
