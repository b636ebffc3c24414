// HPACK (RFC 7541), what an HTTP/2 client needs of it: encoding a request's headers as literals
// (no table, no Huffman: always valid) and decoding whatever a server sends (its static and
// dynamic tables, Huffman-coded strings).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace artem::hpack {

using Header = std::pair<std::string, std::string>;

// Appends `headers` as literal fields without indexing.
void Encode(const std::vector<Header>& headers, std::string* out);

class Decoder {
 public:
  // Decodes one header block into `headers` (appended); false on malformed input, after which
  // the connection cannot go on (the table may be out of step with the server's).
  bool Decode(const std::uint8_t* data, std::size_t size, std::vector<Header>* headers);

 private:
  bool Lookup(std::uint64_t index, Header* header) const;
  void Insert(Header header);

  std::deque<Header> table_;  // newest first
  std::size_t table_size_ = 0, max_size_ = 4096;
};

}  // namespace artem::hpack
