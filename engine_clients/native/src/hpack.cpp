#include "hpack.h"

#include <array>

namespace artem::hpack {

namespace {

// RFC 7541 Appendix A.
const char* const kStatic[61][2] = {
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
};

// RFC 7541 Appendix B: the code of each symbol (0-255, then EOS) and its length in bits.
struct Code {
  std::uint32_t bits;
  std::uint8_t length;
};
const Code kHuffman[257] = {
    {0x1ff8, 13}, {0x7fffd8, 23}, {0xfffffe2, 28}, {0xfffffe3, 28}, {0xfffffe4, 28}, {0xfffffe5, 28},
    {0xfffffe6, 28}, {0xfffffe7, 28}, {0xfffffe8, 28}, {0xffffea, 24}, {0x3ffffffc, 30}, {0xfffffe9, 28},
    {0xfffffea, 28}, {0x3ffffffd, 30}, {0xfffffeb, 28}, {0xfffffec, 28}, {0xfffffed, 28}, {0xfffffee, 28},
    {0xfffffef, 28}, {0xffffff0, 28}, {0xffffff1, 28}, {0xffffff2, 28}, {0x3ffffffe, 30}, {0xffffff3, 28},
    {0xffffff4, 28}, {0xffffff5, 28}, {0xffffff6, 28}, {0xffffff7, 28}, {0xffffff8, 28}, {0xffffff9, 28},
    {0xffffffa, 28}, {0xffffffb, 28}, {0x14, 6}, {0x3f8, 10}, {0x3f9, 10}, {0xffa, 12},
    {0x1ff9, 13}, {0x15, 6}, {0xf8, 8}, {0x7fa, 11}, {0x3fa, 10}, {0x3fb, 10},
    {0xf9, 8}, {0x7fb, 11}, {0xfa, 8}, {0x16, 6}, {0x17, 6}, {0x18, 6},
    {0x0, 5}, {0x1, 5}, {0x2, 5}, {0x19, 6}, {0x1a, 6}, {0x1b, 6},
    {0x1c, 6}, {0x1d, 6}, {0x1e, 6}, {0x1f, 6}, {0x5c, 7}, {0xfb, 8},
    {0x7ffc, 15}, {0x20, 6}, {0xffb, 12}, {0x3fc, 10}, {0x1ffa, 13}, {0x21, 6},
    {0x5d, 7}, {0x5e, 7}, {0x5f, 7}, {0x60, 7}, {0x61, 7}, {0x62, 7},
    {0x63, 7}, {0x64, 7}, {0x65, 7}, {0x66, 7}, {0x67, 7}, {0x68, 7},
    {0x69, 7}, {0x6a, 7}, {0x6b, 7}, {0x6c, 7}, {0x6d, 7}, {0x6e, 7},
    {0x6f, 7}, {0x70, 7}, {0x71, 7}, {0x72, 7}, {0xfc, 8}, {0x73, 7},
    {0xfd, 8}, {0x1ffb, 13}, {0x7fff0, 19}, {0x1ffc, 13}, {0x3ffc, 14}, {0x22, 6},
    {0x7ffd, 15}, {0x3, 5}, {0x23, 6}, {0x4, 5}, {0x24, 6}, {0x5, 5},
    {0x25, 6}, {0x26, 6}, {0x27, 6}, {0x6, 5}, {0x74, 7}, {0x75, 7},
    {0x28, 6}, {0x29, 6}, {0x2a, 6}, {0x7, 5}, {0x2b, 6}, {0x76, 7},
    {0x2c, 6}, {0x8, 5}, {0x9, 5}, {0x2d, 6}, {0x77, 7}, {0x78, 7},
    {0x79, 7}, {0x7a, 7}, {0x7b, 7}, {0x7ffe, 15}, {0x7fc, 11}, {0x3ffd, 14},
    {0x1ffd, 13}, {0xffffffc, 28}, {0xfffe6, 20}, {0x3fffd2, 22}, {0xfffe7, 20}, {0xfffe8, 20},
    {0x3fffd3, 22}, {0x3fffd4, 22}, {0x3fffd5, 22}, {0x7fffd9, 23}, {0x3fffd6, 22}, {0x7fffda, 23},
    {0x7fffdb, 23}, {0x7fffdc, 23}, {0x7fffdd, 23}, {0x7fffde, 23}, {0xffffeb, 24}, {0x7fffdf, 23},
    {0xffffec, 24}, {0xffffed, 24}, {0x3fffd7, 22}, {0x7fffe0, 23}, {0xffffee, 24}, {0x7fffe1, 23},
    {0x7fffe2, 23}, {0x7fffe3, 23}, {0x7fffe4, 23}, {0x1fffdc, 21}, {0x3fffd8, 22}, {0x7fffe5, 23},
    {0x3fffd9, 22}, {0x7fffe6, 23}, {0x7fffe7, 23}, {0xffffef, 24}, {0x3fffda, 22}, {0x1fffdd, 21},
    {0xfffe9, 20}, {0x3fffdb, 22}, {0x3fffdc, 22}, {0x7fffe8, 23}, {0x7fffe9, 23}, {0x1fffde, 21},
    {0x7fffea, 23}, {0x3fffdd, 22}, {0x3fffde, 22}, {0xfffff0, 24}, {0x1fffdf, 21}, {0x3fffdf, 22},
    {0x7fffeb, 23}, {0x7fffec, 23}, {0x1fffe0, 21}, {0x1fffe1, 21}, {0x3fffe0, 22}, {0x1fffe2, 21},
    {0x7fffed, 23}, {0x3fffe1, 22}, {0x7fffee, 23}, {0x7fffef, 23}, {0xfffea, 20}, {0x3fffe2, 22},
    {0x3fffe3, 22}, {0x3fffe4, 22}, {0x7ffff0, 23}, {0x3fffe5, 22}, {0x3fffe6, 22}, {0x7ffff1, 23},
    {0x3ffffe0, 26}, {0x3ffffe1, 26}, {0xfffeb, 20}, {0x7fff1, 19}, {0x3fffe7, 22}, {0x7ffff2, 23},
    {0x3fffe8, 22}, {0x1ffffec, 25}, {0x3ffffe2, 26}, {0x3ffffe3, 26}, {0x3ffffe4, 26}, {0x7ffffde, 27},
    {0x7ffffdf, 27}, {0x3ffffe5, 26}, {0xfffff1, 24}, {0x1ffffed, 25}, {0x7fff2, 19}, {0x1fffe3, 21},
    {0x3ffffe6, 26}, {0x7ffffe0, 27}, {0x7ffffe1, 27}, {0x3ffffe7, 26}, {0x7ffffe2, 27}, {0xfffff2, 24},
    {0x1fffe4, 21}, {0x1fffe5, 21}, {0x3ffffe8, 26}, {0x3ffffe9, 26}, {0xffffffd, 28}, {0x7ffffe3, 27},
    {0x7ffffe4, 27}, {0x7ffffe5, 27}, {0xfffec, 20}, {0xfffff3, 24}, {0xfffed, 20}, {0x1fffe6, 21},
    {0x3fffe9, 22}, {0x1fffe7, 21}, {0x1fffe8, 21}, {0x7ffff3, 23}, {0x3fffea, 22}, {0x3fffeb, 22},
    {0x1ffffee, 25}, {0x1ffffef, 25}, {0xfffff4, 24}, {0xfffff5, 24}, {0x3ffffea, 26}, {0x7ffff4, 23},
    {0x3ffffeb, 26}, {0x7ffffe6, 27}, {0x3ffffec, 26}, {0x3ffffed, 26}, {0x7ffffe7, 27}, {0x7ffffe8, 27},
    {0x7ffffe9, 27}, {0x7ffffea, 27}, {0x7ffffeb, 27}, {0xffffffe, 28}, {0x7ffffec, 27}, {0x7ffffed, 27},
    {0x7ffffee, 27}, {0x7ffffef, 27}, {0x7fffff0, 27}, {0x3ffffee, 26}, {0x3fffffff, 30},
};

// The Huffman codes as a binary tree, built once: node 0 is the root; children 0 and 1 of node n
// are next[n][0] and next[n][1] (0: none); a leaf holds its symbol.
struct HuffmanTree {
  std::vector<std::array<std::uint16_t, 2>> next{{0, 0}};
  std::vector<std::int16_t> symbol{-1};
  HuffmanTree() {
    for (int s = 0; s < 257; ++s) {
      std::size_t node = 0;
      for (int i = kHuffman[s].length - 1; i >= 0; --i) {
        const int bit = (kHuffman[s].bits >> i) & 1;
        if (!next[node][bit]) {
          next[node][bit] = static_cast<std::uint16_t>(next.size());
          next.push_back({0, 0});
          symbol.push_back(-1);
        }
        node = next[node][bit];
      }
      symbol[node] = static_cast<std::int16_t>(s);
    }
  }
};

bool HuffmanDecode(const std::uint8_t* p, std::size_t n, std::string* out) {
  static const HuffmanTree tree;
  std::size_t node = 0;
  int depth = 0;  // bits since the last symbol: the padding must be < 8 bits of ones
  bool all_ones = true;
  for (std::size_t i = 0; i < n; ++i) {
    for (int b = 7; b >= 0; --b) {
      const int bit = (p[i] >> b) & 1;
      node = tree.next[node][bit];
      if (!node) return false;
      ++depth;
      all_ones = all_ones && bit;
      const int s = tree.symbol[node];
      if (s < 0) continue;
      if (s == 256) return false;  // EOS inside a string
      out->push_back(static_cast<char>(s));
      node = 0, depth = 0, all_ones = true;
    }
  }
  return depth < 8 && all_ones;
}

// An integer with an N-bit prefix (RFC 7541 5.1).
bool Integer(const std::uint8_t*& p, const std::uint8_t* end, int prefix, std::uint64_t* v) {
  if (p == end) return false;
  const std::uint8_t max = static_cast<std::uint8_t>((1u << prefix) - 1);
  *v = *p++ & max;
  if (*v < max) return true;
  for (int shift = 0; shift < 56; shift += 7) {
    if (p == end) return false;
    const std::uint8_t b = *p++;
    *v += std::uint64_t{b & 0x7fu} << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

bool String(const std::uint8_t*& p, const std::uint8_t* end, std::string* s) {
  if (p == end) return false;
  const bool huffman = *p & 0x80;
  std::uint64_t n;
  if (!Integer(p, end, 7, &n) || n > static_cast<std::uint64_t>(end - p)) return false;
  s->clear();
  const bool ok = huffman ? HuffmanDecode(p, n, s) : (s->assign(reinterpret_cast<const char*>(p), n), true);
  p += n;
  return ok;
}

void PutInteger(std::string* out, std::uint8_t first, int prefix, std::uint64_t v) {
  const std::uint64_t max = (1u << prefix) - 1;
  if (v < max) {
    out->push_back(static_cast<char>(first | v));
    return;
  }
  out->push_back(static_cast<char>(first | max));
  for (v -= max; v >= 0x80; v >>= 7) out->push_back(static_cast<char>((v & 0x7f) | 0x80));
  out->push_back(static_cast<char>(v));
}

void PutString(std::string* out, const std::string& s) {
  PutInteger(out, 0, 7, s.size());
  *out += s;
}

}  // namespace

void Encode(const std::vector<Header>& headers, std::string* out) {
  for (const Header& h : headers) {
    out->push_back(0);  // literal header field without indexing, new name
    PutString(out, h.first);
    PutString(out, h.second);
  }
}

bool Decoder::Lookup(std::uint64_t index, Header* header) const {
  if (index >= 1 && index <= 61) {
    *header = {kStatic[index - 1][0], kStatic[index - 1][1]};
    return true;
  }
  if (index < 62 || index - 62 >= table_.size()) return false;
  *header = table_[index - 62];
  return true;
}

void Decoder::Insert(Header header) {
  const std::size_t size = 32 + header.first.size() + header.second.size();
  while (!table_.empty() && table_size_ + size > max_size_) {
    table_size_ -= 32 + table_.back().first.size() + table_.back().second.size();
    table_.pop_back();
  }
  if (size > max_size_) return;  // larger than the table: it empties it, and is not kept
  table_size_ += size;
  table_.push_front(std::move(header));
}

bool Decoder::Decode(const std::uint8_t* p, std::size_t size, std::vector<Header>* headers) {
  const std::uint8_t* end = p + size;
  while (p < end) {
    const std::uint8_t b = *p;
    std::uint64_t v;
    Header h;
    if (b & 0x80) {  // indexed field
      if (!Integer(p, end, 7, &v) || !Lookup(v, &h)) return false;
      headers->push_back(std::move(h));
    } else if ((b & 0xe0) == 0x20) {  // table size update
      if (!Integer(p, end, 5, &v) || v > 4096) return false;
      max_size_ = static_cast<std::size_t>(v);
      while (table_size_ > max_size_) {
        table_size_ -= 32 + table_.back().first.size() + table_.back().second.size();
        table_.pop_back();
      }
    } else {  // a literal: with incremental indexing (01), without (0000) or never indexed (0001)
      const bool index = (b & 0xc0) == 0x40;
      if (!Integer(p, end, index ? 6 : 4, &v)) return false;
      if (v == 0) {
        if (!String(p, end, &h.first)) return false;
      } else {
        Header named;
        if (!Lookup(v, &named)) return false;
        h.first = std::move(named.first);
      }
      if (!String(p, end, &h.second)) return false;
      if (index) Insert(h);
      headers->push_back(std::move(h));
    }
  }
  return true;
}

}  // namespace artem::hpack
