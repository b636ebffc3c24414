// The native core's connect options (artem_connect_options) from the plugin's settings: the
// bearer token read from its file, the TLS CA file and server name passed on. One place for the
// streamer and the style catalog, so both reach a server started with --token-file/--tls-cert.
#pragma once

#include <string>

#include "ArtEmCore/CoreApi.h"
#include "ArtEmCore/StreamChoices.h"
#include "artem/artem.h"

namespace ArtEm {

class ARTEMCORE_API ConnectOptions {
 public:
  // 0, or 3 (INVALID_ARGUMENT) with `why` when the token file cannot be used.
  int Load(const Credentials& credentials, std::string* why);
  // Valid while this object lives and is not loaded again.
  const artem_connect_options* get() const { return &options_; }

 private:
  std::string token_, ca_file_, server_name_;
  artem_connect_options options_{};
};

}  // namespace ArtEm
