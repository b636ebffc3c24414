// The HPACK decoder (src/hpack.cpp) against RFC 7541 Appendix C: requests without (C.3) and with
// (C.4) Huffman coding sharing one dynamic table across blocks; responses without (C.5) and with
// (C.6) Huffman in a 256-byte table, where entries are evicted (after the last block an index
// past the three entries left is refused, which a table that kept everything would answer);
// malformed blocks refused; and what the encoder writes decodes back.
#include <cstdio>
#include <string>
#include <vector>

#include "hpack.h"

namespace {

int failures = 0;

void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL %s\n", what.c_str());
    ++failures;
  }
}

std::vector<std::uint8_t> Hex(const std::string& text) {
  std::vector<std::uint8_t> bytes;
  std::string digits;
  for (const char c : text)
    if (c != ' ') digits += c;
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2)
    bytes.push_back(static_cast<std::uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  return bytes;
}

using Headers = std::vector<artem::hpack::Header>;

void Expect(artem::hpack::Decoder& decoder, const std::string& hex, const Headers& want, const std::string& what) {
  const std::vector<std::uint8_t> block = Hex(hex);
  Headers got;
  Check(decoder.Decode(block.data(), block.size(), &got), what + ": decodes");
  Check(got == want, what + ": the RFC's header list");
}

Headers Request(const std::string& scheme, const std::string& path) {
  return {{":method", "GET"}, {":scheme", scheme}, {":path", path}, {":authority", "www.example.com"}};
}

Headers Response(const std::string& status, const std::string& second) {
  return {{":status", status},
          {"cache-control", "private"},
          {"date", "Mon, 21 Oct 2013 20:13:2" + second + " GMT"},
          {"location", "https://www.example.com"}};
}

const char kTable256[] = "3fe101 ";  // a dynamic table size update to 256 (C.5 and C.6 use 256)

void Requests(bool huffman) {
  artem::hpack::Decoder d;
  const std::string what = huffman ? "C.4." : "C.3.";
  Expect(d,
         huffman ? "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"
                 : "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
         Request("http", "/"), what + "1");
  Headers second = Request("http", "/");
  second.emplace_back("cache-control", "no-cache");
  Expect(d, huffman ? "8286 84be 5886 a8eb 1064 9cbf" : "8286 84be 5808 6e6f 2d63 6163 6865", second,
         what + "2");
  Headers third = Request("https", "/index.html");
  third.emplace_back("custom-key", "custom-value");
  Expect(d,
         huffman ? "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"
                 : "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
         third, what + "3");
}

void Responses(bool huffman) {
  artem::hpack::Decoder d;
  const std::string what = huffman ? "C.6." : "C.5.";
  Expect(d,
         kTable256 +
             std::string(huffman ? "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 "
                                   "2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"
                                 : "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 "
                                   "3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 "
                                   "7861 6d70 6c65 2e63 6f6d"),
         Response("302", "1"), what + "1");
  Expect(d, huffman ? "4883 640e ffc1 c0bf" : "4803 3330 37c1 c0bf", Response("307", "1"), what + "2");
  Headers third = Response("200", "2");
  third.emplace_back("content-encoding", "gzip");
  third.emplace_back("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1");
  Expect(d,
         huffman ? "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 "
                   "821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed "
                   "4ee5 b106 3d50 07"
                 : "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 "
                   "677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 "
                   "553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
         third, what + "3");
  // The table now holds set-cookie (62), content-encoding (63) and the second date (64) only.
  Expect(d, "be bf c0", {third[5], third[4], third[2]}, what + "3's table");
  const std::vector<std::uint8_t> evicted = Hex("c1");
  Headers got;
  Check(!d.Decode(evicted.data(), evicted.size(), &got), what + "3: index 65 was evicted");
}

void Malformed() {
  const char* blocks[] = {
      "80",                                         // index 0
      "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 fe",  // C.4.1 with its padding's last bit cleared
      "4188 f1e3 c2e5 f23a 6b",                      // a string longer than the block
      "3fe121",                                      // a table size update past 4096
      "ff",                                          // an integer cut short
  };
  for (const char* hex : blocks) {
    artem::hpack::Decoder d;
    const std::vector<std::uint8_t> block = Hex(hex);
    Headers got;
    Check(!d.Decode(block.data(), block.size(), &got), std::string("refused: ") + hex);
  }
}

void RoundTrip() {
  const Headers headers = {{":method", "POST"},
                           {":path", "/artem.v1.Stylizer/Stylize"},
                           {"authorization", "Bearer t0ken"},
                           {"x-long", std::string(300, 'v')}};
  std::string block;
  artem::hpack::Encode(headers, &block);
  artem::hpack::Decoder d;
  Headers got;
  Check(d.Decode(reinterpret_cast<const std::uint8_t*>(block.data()), block.size(), &got) && got == headers,
        "what Encode writes decodes back");
}

}  // namespace

int main() {
  Requests(false);
  Requests(true);
  Responses(false);
  Responses(true);
  Malformed();
  RoundTrip();
  if (failures) {
    std::fprintf(stderr, "hpack: %d check(s) failed\n", failures);
    return 1;
  }
  std::printf("hpack: all checks passed\n");
  return 0;
}
