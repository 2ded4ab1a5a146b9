// Fuzz target: the NATS server->client parser, fed a stream split at arbitrary points.
// Properties: feeding the stream in any chunking yields exactly the ops, and the same error after
// the same ops, as feeding it whole; every op returned consumed input (no loop); the parser never
// holds more than its limits allow; views lie within what was fed; a message's header block can
// be read (NatsHeaders) without harm.
//
// Input: byte 0 picks the limits (default or tight) and seeds the chunk sizes; the rest is the
// byte stream a server sends.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/nats_parser.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

struct Outcome {
  std::vector<std::string> ops;  // each op, flattened with its fields
  std::string error;
};

std::string flatten(const fanout::NatsOp& op) {
  std::string s(1, static_cast<char>('0' + static_cast<int>(op.kind)));
  for (std::string_view f : {op.subject, op.reply_to, op.headers, op.payload, op.error_text}) {
    s += std::to_string(f.size()) + ":";
    s.append(f);
  }
  s += std::to_string(op.sid) + (op.has_headers ? "h" : "-");
  if (op.info != nullptr) s += "i" + op.info->server_id + std::to_string(op.info->max_payload);
  return s;
}

Outcome run(const std::string& stream, const std::vector<size_t>& chunks,
            const fanout::NatsLimits& limits) {
  Outcome out;
  fanout::NatsParser parser(limits);
  const fanout::NatsLimits& l = parser.limits();  // as raised to the parser's floor
  const size_t bound = std::max(l.max_info_line + 2,
                                l.max_control_line + std::max(l.max_payload, l.max_payload_cap) + 4);
  size_t fed = 0;
  for (size_t k = 0; fed < stream.size() || k == 0; ++k) {
    size_t n = std::min(k < chunks.size() ? chunks[k] : stream.size() - fed, stream.size() - fed);
    // Each chunk in its own buffer, freed after use: a view kept across calls is caught by ASan.
    auto piece = std::make_unique<char[]>(n + 1);
    std::copy(stream.data() + fed, stream.data() + fed + n, piece.get());
    fed += n;
    std::string_view in(piece.get(), n);
    while (true) {
      fanout::NatsOp op;
      const size_t before = in.size();
      auto st = parser.next(&in, &op);
      FUZZ_CHECK(parser.buffered() <= bound);
      if (st == fanout::NatsParser::Status::kNeedMore) {
        FUZZ_CHECK(in.empty());
        break;
      }
      if (st == fanout::NatsParser::Status::kError) {
        out.error = parser.error();
        FUZZ_CHECK(!out.error.empty());
        FUZZ_CHECK(parser.next(&in, &op) == fanout::NatsParser::Status::kError);  // sticky
        return out;
      }
      FUZZ_CHECK(in.size() < before);  // progress: every op takes bytes (no loop)
      if (op.kind == fanout::NatsOp::Kind::kMsg) {
        FUZZ_CHECK(op.headers.size() + op.payload.size() <= parser.limits().max_payload);
        FUZZ_CHECK(!op.subject.empty());
        FUZZ_CHECK(op.has_headers || op.headers.empty());
        if (op.has_headers) {
          auto h = fanout::NatsHeaders::parse(op.headers);
          if (h) (void)h->get(fanout::kFanoutOriginHeader);
        }
      }
      if (op.kind == fanout::NatsOp::Kind::kInfo) FUZZ_CHECK(op.info == &parser.info());
      out.ops.push_back(flatten(op));
    }
    if (n == 0) break;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t ctl = data[0];
  std::string stream(reinterpret_cast<const char*>(data + 1), size - 1);
  fanout::NatsLimits limits;
  if (ctl & 1) {
    limits.max_control_line = 64;
    limits.max_info_line = 128;
    limits.max_payload = 64;
    limits.max_payload_cap = 256;  // an INFO may raise it this far
  }
  // Chunk sizes from a small generator seeded by the control byte: 1 to 16 bytes each (1 to 3
  // when bit 1 is set).
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
  FUZZ_CHECK(whole.ops == split.ops);
  FUZZ_CHECK(whole.error == split.error);
  return 0;
}
