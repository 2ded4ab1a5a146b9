// RESP2/RESP3 reply encoding into any byte sink with append(const char*, size_t).
//
// Stateless helpers; thread-agnostic. The protocol version decides the aggregate markers:
// RESP3 has push '>', map '%', set '~' and null '_'; RESP2 folds them into '*' and "$-1".
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace fanout::resp {

inline constexpr int kResp2 = 2;
inline constexpr int kResp3 = 3;

// Writes "<marker><n>\r\n" into `out`, returns bytes written (at most 22).
inline size_t format_header(char* out, char marker, int64_t n) {
  out[0] = marker;
  auto [p, ec] = std::to_chars(out + 1, out + 21, n);
  (void)ec;
  p[0] = '\r';
  p[1] = '\n';
  return static_cast<size_t>(p + 2 - out);
}

template <class Out>
void header(Out& out, char marker, int64_t n) {
  char buf[24];
  out.append(buf, format_header(buf, marker, n));
}

template <class Out>
void simple(Out& out, std::string_view s) {
  out.append("+", 1);
  out.append(s.data(), s.size());
  out.append("\r\n", 2);
}

// `msg` is the whole error line without '-' (e.g. "ERR unknown command").
template <class Out>
void error(Out& out, std::string_view msg) {
  out.append("-", 1);
  out.append(msg.data(), msg.size());
  out.append("\r\n", 2);
}

template <class Out>
void integer(Out& out, int64_t v) {
  header(out, ':', v);
}

template <class Out>
void bulk(Out& out, std::string_view s) {
  header(out, '$', static_cast<int64_t>(s.size()));
  out.append(s.data(), s.size());
  out.append("\r\n", 2);
}

template <class Out>
void null(Out& out, int proto) {
  if (proto == kResp3) {
    out.append("_\r\n", 3);
  } else {
    out.append("$-1\r\n", 5);
  }
}

template <class Out>
void array(Out& out, size_t n) {
  header(out, '*', static_cast<int64_t>(n));
}

// A push (pub/sub confirmations and messages): '>' in RESP3, '*' in RESP2.
template <class Out>
void push(Out& out, size_t n, int proto) {
  header(out, proto == kResp3 ? '>' : '*', static_cast<int64_t>(n));
}

// A map of n pairs: '%' in RESP3, a flat array of 2n in RESP2.
template <class Out>
void map(Out& out, size_t n, int proto) {
  if (proto == kResp3) {
    header(out, '%', static_cast<int64_t>(n));
  } else {
    header(out, '*', static_cast<int64_t>(2 * n));
  }
}

// A set of n members: '~' in RESP3, an array in RESP2.
template <class Out>
void set(Out& out, size_t n, int proto) {
  header(out, proto == kResp3 ? '~' : '*', static_cast<int64_t>(n));
}

// Verbatim text ("=len\r\ntxt:...") in RESP3, bulk in RESP2 (as Redis replies to INFO).
template <class Out>
void verbatim(Out& out, std::string_view s, int proto) {
  if (proto != kResp3) {
    bulk(out, s);
    return;
  }
  header(out, '=', static_cast<int64_t>(s.size() + 4));
  out.append("txt:", 4);
  out.append(s.data(), s.size());
  out.append("\r\n", 2);
}

// A growable std::string-backed sink, for tests and cold paths.
struct StringOut {
  std::string* s;
  void append(const char* p, size_t n) { s->append(p, n); }
};

}  // namespace fanout::resp
