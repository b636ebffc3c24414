#include "ArtEmCore/ConnectOptions.h"

namespace ArtEm {

int ConnectOptions::Load(const Credentials& credentials, std::string* why) {
  token_.clear();
  if (!credentials.token_file.empty() && !LoadTokenFile(credentials.token_file, &token_, why))
    return 3;  // INVALID_ARGUMENT: the setting is wrong
  ca_file_ = credentials.tls_ca_file;
  server_name_ = credentials.tls_server_name;
  options_ = artem_connect_options{};
  options_.struct_size = sizeof options_;
  options_.token = token_.c_str();
  options_.tls_ca_file = ca_file_.c_str();
  options_.tls_server_name = server_name_.c_str();
  return 0;
}

}  // namespace ArtEm
