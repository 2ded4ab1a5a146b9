// Fuzz target: the request parser (RESP multibulk and inline commands), pipelined and split at
// arbitrary points. Property: feeding a stream in any chunking yields exactly the commands, and
// the same error at the same place, as feeding it whole; and the parser's own contract holds
// (consumed bytes within the buffer, arguments within it).
//
// Input: byte 0 picks the limits (default or tight) and seeds the chunk sizes; the rest is the
// byte stream a client sends.
#include <string>
#include <vector>

#include "core/resp_parser.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

struct Outcome {
  std::vector<std::vector<std::string>> commands;
  std::string error;  // empty unless the stream ended in a protocol error
  size_t unconsumed = 0;
};

// Feeds `stream` in chunks of the given sizes (the last chunk takes the rest), the way a
// connection does: parse all buffered input, drop consumed bytes, keep the rest.
Outcome run(const std::string& stream, const std::vector<size_t>& chunks,
            const fanout::RequestLimits& limits) {
  Outcome out;
  fanout::RequestParser parser(limits);
  std::string buf;
  size_t fed = 0, k = 0;
  while (fed < stream.size() || k == 0) {
    size_t n = k < chunks.size() ? chunks[k] : stream.size() - fed;
    n = std::min(n, stream.size() - fed);
    ++k;
    buf.append(stream, fed, n);
    fed += n;
    while (!buf.empty()) {
      auto st = parser.parse(buf.data(), buf.size());
      if (st == fanout::RequestParser::Status::kNeedMore) break;
      if (st == fanout::RequestParser::Status::kError) {
        out.error = parser.error();
        FUZZ_CHECK(!out.error.empty());
        return out;
      }
      size_t used = parser.consumed();
      FUZZ_CHECK(used > 0 && used <= buf.size());
      std::vector<std::string> args;
      for (std::string_view a : parser.args()) {
        args.emplace_back(a);
      }
      if (!args.empty()) out.commands.push_back(std::move(args));
      buf.erase(0, used);
    }
    if (n == 0 && fed >= stream.size()) break;
  }
  out.unconsumed = buf.size();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t ctl = data[0];
  std::string stream(reinterpret_cast<const char*>(data + 1), size - 1);
  fanout::RequestLimits limits;
  if (ctl & 1) {
    limits.max_bulk_len = 64;
    limits.max_args = 8;
    limits.max_inline_len = 96;
  }
  // Chunk sizes from a small generator seeded by the control byte: 1 to 16 bytes each.
  std::vector<size_t> chunks;
  uint32_t x = ctl * 2654435761u + 1;
  for (size_t total = 0; total < stream.size();) {
    x = x * 1103515245u + 12345u;
    size_t n = 1 + ((x >> 16) % ((ctl & 2) ? 3 : 16));
    chunks.push_back(n);
    total += n;
  }
  Outcome whole = run(stream, {stream.size()}, limits);
  Outcome split = run(stream, chunks, limits);
  FUZZ_CHECK(whole.commands == split.commands);
  FUZZ_CHECK(whole.error == split.error);
  if (whole.error.empty()) FUZZ_CHECK(whole.unconsumed == split.unconsumed);
  return 0;
}
