// Fuzz target: HttpRequestReader (net/http_request) on any bytes, read whole and again in pieces.
// Properties: nothing crashes or trips a sanitizer; a read never takes more than it was given;
// no request's head takes more than the limit; once refused, the reader takes nothing more; and
// what it reads (each request's method, target, version, keep-alive, upgrade and headers, and
// whether it refuses the stream) does not depend on how the bytes were split.
// Input: [step][limit][bytes...]: pieces of 1 + step % 64 bytes; limit selects a small head
// limit (bit 0: 64 bytes instead of 8 KiB) and few headers (bit 1: 2 instead of 64).
#include <string>
#include <vector>

#include "net/http_request.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using fanout::HttpRequestReader;

// What a reader made of the bytes: one line per request, then the refusal's status if any.
std::vector<std::string> read_all(const char* data, size_t size, size_t step, HttpRequestReader::Limits limits) {
  HttpRequestReader r(limits);
  std::vector<std::string> out;
  size_t off = 0, end = 0;
  size_t head = 0;  // bytes taken since the last request ended
  while (off < size) {
    if (end <= off) end = std::min(size, off + step);
    const size_t given = end - off;
    size_t used = 0;
    const auto st = r.read(data + off, given, &used);
    FUZZ_CHECK(used <= given);
    off += used;
    head += used;
    if (st == HttpRequestReader::Status::kError) {
      FUZZ_CHECK(r.error_status() >= 400 && r.error_status() <= 505 && !r.error().empty());
      size_t more = 1;
      FUZZ_CHECK(r.read(data + off, size - off, &more) == HttpRequestReader::Status::kError && more == 0);
      // Which status a request with two faults gets may depend on where a read ended (a header
      // over the count is seen as its name starts, a bad character in it once read): that it is
      // refused does not.
      out.push_back("refused");
      break;
    }
    if (st == HttpRequestReader::Status::kRequest) {
      FUZZ_CHECK(head <= limits.max_head_bytes);
      const auto& q = r.request();
      FUZZ_CHECK(q.headers.size() <= limits.max_headers);
      std::string line = q.method + " " + q.target + " " + std::to_string(q.version_major) + "." +
                         std::to_string(q.version_minor) + (q.keep_alive ? " keep" : " close") +
                         (q.upgrade ? " upgrade" : "");
      for (const auto& [name, value] : q.headers) line += "|" + name + "=" + value;
      (void)q.path();
      out.push_back(line);
      r.next();
      head = 0;
      continue;
    }
    FUZZ_CHECK(used == given);  // kNeedMore takes everything given
    end = off;                  // the next piece
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = 1 + data[0] % 64;
  HttpRequestReader::Limits limits;
  if (data[1] & 1) limits.max_head_bytes = 64;
  if (data[1] & 2) limits.max_headers = 2;
  const char* bytes = reinterpret_cast<const char*>(data + 2);
  const size_t n = size - 2;
  const auto whole = read_all(bytes, n, n == 0 ? 1 : n, limits);
  const auto pieces = read_all(bytes, n, step, limits);
  // A stream cut short can end mid-request in one reading and not the other only at its end:
  // the requests and refusals read are the same.
  FUZZ_CHECK(whole == pieces);
  return 0;
}
