// Allocation-free parsers for what a load-generator connection receives, at millions of
// messages per second: RESP2/RESP3 arrays of bulk strings and integers (pushes, confirmations,
// PUBLISH replies) and the NATS core text protocol (MSG, PING, PONG, INFO, +OK, -ERR). Views
// point into the caller's buffer. Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fanout::load {

// One RESP frame: a simple line (+ - :) or an aggregate (* >) of up to kMaxElems bulk strings,
// integers and nulls, which is all pub/sub sends.
struct RespFrame {
  static constexpr int kMaxElems = 4;
  char type = 0;  // '+', '-', ':', '*', '>' (a lone bulk '$' too)
  int64_t integer = 0;
  std::string_view line;  // for '+', '-', lone '$'
  int n = 0;
  std::string_view elems[kMaxElems];
  int64_t ints[kMaxElems] = {};
  bool is_int[kMaxElems] = {};
};

// Parses one frame at buf; returns bytes consumed, 0 if incomplete, -1 if malformed or not a
// pub/sub frame.
long parse_resp_frame(const char* buf, size_t len, RespFrame* f);

struct NatsFrame {
  enum Kind { kMsg, kPing, kPong, kInfo, kOk, kErr } kind = kOk;
  std::string_view subject;
  std::string_view payload;
  std::string_view text;  // INFO body or -ERR text
};

long parse_nats_frame(const char* buf, size_t len, NatsFrame* f);

}  // namespace fanout::load
