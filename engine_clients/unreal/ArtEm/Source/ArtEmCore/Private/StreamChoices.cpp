#include "ArtEmCore/StreamChoices.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ArtEm {

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string Trim(const std::string& s) {
  const char* space = " \t\r\n";
  const std::size_t begin = s.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

}  // namespace

bool ParseTransport(const std::string& text, TransportSetting* out, std::string* why) {
  const std::string t = Lower(Trim(text));
  if (t == "automatic" || t.empty()) {
    *out = TransportSetting::Automatic;
  } else if (t == "sharedmemory" || t == "shm") {
    *out = TransportSetting::SharedMemory;
  } else if (t == "inline") {
    *out = TransportSetting::Inline;
  } else if (t == "jpeg") {
    *out = TransportSetting::Jpeg;
  } else {
    *why = "transport = \"" + text + "\": expected Automatic, SharedMemory, Inline or Jpeg";
    return false;
  }
  return true;
}

const char* TransportName(Transport t) {
  switch (t) {
    case Transport::SharedMemory:
      return "SharedMemory";
    case Transport::Inline:
      return "Inline";
    case Transport::Jpeg:
      return "Jpeg";
  }
  return "?";
}

bool IsThisHost(const std::string& address) {
  if (address.empty()) return false;
  if (address.rfind("unix:", 0) == 0) return true;
  std::string host = address;
  if (host[0] == '[') {
    const std::size_t close = host.find(']');
    if (close != std::string::npos) host = host.substr(1, close - 1);
  } else if (host.find(':') != std::string::npos && host.find(':') == host.rfind(':')) {
    host = host.substr(0, host.find(':'));
  }
  host = Lower(host);
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

Transport TransportFor(TransportSetting setting, const std::string& address,
                       bool platform_has_shared_memory) {
  switch (setting) {
    case TransportSetting::SharedMemory:
      return Transport::SharedMemory;
    case TransportSetting::Inline:
      return Transport::Inline;
    case TransportSetting::Jpeg:
      return Transport::Jpeg;
    case TransportSetting::Automatic:
      break;
  }
  if (!IsThisHost(address)) return Transport::Jpeg;
  return platform_has_shared_memory ? Transport::SharedMemory : Transport::Inline;
}

ColourChoice ColourForOutputDevice(int output_device) {
  ColourChoice c;
  if (output_device >= 0 && output_device <= 2) {
    c.supported = true;
  } else if (output_device >= 7 && output_device <= 9) {
    c.supported = true;
    c.linear = true;
  } else if (output_device >= 3 && output_device <= 6) {
    c.why =
        "display output " + std::to_string(output_device) +
        " is HDR (ST2084 or scRGB): expected an SDR output (r.HDR.Display.OutputDevice 0, 1 or 2) "
        "or a linear one (7, 8, 9); the styles are made for SDR images";
  } else {
    c.why = "display output " + std::to_string(output_device) +
            ": expected 0..9 (EDisplayOutputFormat)";
  }
  return c;
}

bool LoadTokenFile(const std::string& path, std::string* token, std::string* why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *why = "token file " + path + ": cannot be read (" + std::strerror(errno) + ")";
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  const std::string t = Trim(text.str());
  if (t.size() < 16) {
    *why = "token file " + path + ": holds " + std::to_string(t.size()) +
           " characters, expected at least 16 (the server refuses shorter tokens)";
    return false;
  }
  *token = t;
  return true;
}

void CopyRows(std::uint8_t* dst, std::uint64_t dst_stride, const std::uint8_t* src,
              std::uint64_t src_stride, std::uint64_t row_bytes, int rows) {
  if (dst_stride == row_bytes && src_stride == row_bytes) {
    std::memcpy(dst, src, row_bytes * static_cast<std::uint64_t>(rows));
    return;
  }
  for (int y = 0; y < rows; ++y) std::memcpy(dst + y * dst_stride, src + y * src_stride, row_bytes);
}

}  // namespace ArtEm
