// Fuzz target: the PROXY protocol header parser (core/proxy_protocol). Properties, on any bytes:
// it reads only what it is given (ASan), a header it accepts takes at most the bytes given, and
// the answer does not depend on how the bytes were split across reads: every prefix of an
// accepted header needs more (never an error), a longer input gives the same header, and an
// input refused stays refused however many bytes follow.
#include <cstring>
#include <string>

#include "core/proxy_protocol.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* p = reinterpret_cast<const char*>(data);
  fanout::ProxyHeader h;
  std::string why;
  const fanout::ProxyParse whole = fanout::parse_proxy_header(p, size, &h, &why);
  if (whole == fanout::ProxyParse::kOk) {
    FUZZ_CHECK(h.length > 0 && h.length <= size);
    for (size_t k = 0; k < h.length; ++k) {
      fanout::ProxyHeader part;
      FUZZ_CHECK(fanout::parse_proxy_header(p, k, &part, &why) == fanout::ProxyParse::kNeedMore);
    }
    fanout::ProxyHeader exact;
    FUZZ_CHECK(fanout::parse_proxy_header(p, h.length, &exact, &why) == fanout::ProxyParse::kOk);
    FUZZ_CHECK(exact.length == h.length && exact.family == h.family && exact.local == h.local &&
               exact.src_port == h.src_port && std::memcmp(exact.src, h.src, 16) == 0);
  } else if (whole == fanout::ProxyParse::kError) {
    std::string longer(p, size);
    longer += "\r\n\r\nPROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
    fanout::ProxyHeader more;
    FUZZ_CHECK(fanout::parse_proxy_header(longer.data(), longer.size(), &more, &why) == fanout::ProxyParse::kError);
  }
  return 0;
}
