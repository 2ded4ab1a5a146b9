#include "tools/load/stream_parser.h"

#include <charconv>
#include <cstring>

namespace fanout::load {
namespace {

// Offset of '\r' of the first "\r\n" at or after `from`, or -1.
long find_crlf(const char* buf, size_t from, size_t len) {
  while (from + 1 < len) {
    const void* p = std::memchr(buf + from, '\r', len - from - 1);
    if (p == nullptr) return -1;
    size_t at = static_cast<const char*>(p) - buf;
    if (buf[at + 1] == '\n') return static_cast<long>(at);
    from = at + 1;
  }
  return -1;
}

bool to_int(const char* b, const char* e, int64_t* out) {
  auto [p, ec] = std::from_chars(b, e, *out);
  return ec == std::errc() && p == e && b != e;
}

// A bulk string, integer or null element at buf[pos]. Returns the end or -1/0.
long element(const char* buf, size_t pos, size_t len, std::string_view* s, int64_t* i, bool* is_int) {
  if (pos >= len) return 0;
  long cr = find_crlf(buf, pos + 1, len);
  if (cr < 0) return 0;
  int64_t n;
  if (!to_int(buf + pos + 1, buf + cr, &n)) return -1;
  char t = buf[pos];
  if (t == ':') {
    *i = n;
    *is_int = true;
    return cr + 2;
  }
  if (t == '_' ) {
    *s = {};
    return cr + 2;
  }
  if (t != '$') return -1;
  if (n < 0) {
    *s = {};
    return cr + 2;
  }
  size_t end = static_cast<size_t>(cr) + 2 + static_cast<size_t>(n) + 2;
  if (end > len) return 0;
  *s = std::string_view(buf + cr + 2, static_cast<size_t>(n));
  *is_int = false;
  return static_cast<long>(end);
}

}  // namespace

long parse_resp_frame(const char* buf, size_t len, RespFrame* f) {
  if (len == 0) return 0;
  char t = buf[0];
  f->type = t;
  f->n = 0;
  if (t == '_') {
    if (len < 3) return 0;
    f->line = {};
    return 3;
  }
  if (t == '$') {
    bool is_int = false;
    long end = element(buf, 0, len, &f->line, &f->integer, &is_int);
    return end;
  }
  long cr = find_crlf(buf, 1, len);
  if (cr < 0) return 0;
  if (t == '+' || t == '-') {
    f->line = std::string_view(buf + 1, static_cast<size_t>(cr) - 1);
    return cr + 2;
  }
  int64_t n;
  if (!to_int(buf + 1, buf + cr, &n)) return -1;
  if (t == ':') {
    f->integer = n;
    return cr + 2;
  }
  if ((t != '*' && t != '>') || n < 0 || n > RespFrame::kMaxElems) return -1;
  size_t pos = static_cast<size_t>(cr) + 2;
  for (int k = 0; k < n; ++k) {
    f->is_int[k] = false;
    long end = element(buf, pos, len, &f->elems[k], &f->ints[k], &f->is_int[k]);
    if (end <= 0) return end;
    pos = static_cast<size_t>(end);
  }
  f->n = static_cast<int>(n);
  return static_cast<long>(pos);
}

long parse_nats_frame(const char* buf, size_t len, NatsFrame* f) {
  long cr = find_crlf(buf, 0, len);
  if (cr < 0) return 0;
  std::string_view line(buf, static_cast<size_t>(cr));
  size_t after = static_cast<size_t>(cr) + 2;
  auto starts = [&](std::string_view p) {
    if (line.size() < p.size()) return false;
    for (size_t i = 0; i < p.size(); ++i) {
      char c = line[i];
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
      if (c != p[i]) return false;
    }
    return true;
  };
  if (starts("MSG ")) {
    // MSG <subject> <sid> [reply-to] <#bytes>
    std::string_view rest = line.substr(4);
    std::string_view parts[4];
    int np = 0;
    size_t i = 0;
    while (i < rest.size() && np < 4) {
      while (i < rest.size() && rest[i] == ' ') ++i;
      size_t j = i;
      while (j < rest.size() && rest[j] != ' ') ++j;
      if (j > i) parts[np++] = rest.substr(i, j - i);
      i = j;
    }
    if (np < 3) return -1;
    int64_t n;
    std::string_view size = parts[np - 1];
    if (!to_int(size.data(), size.data() + size.size(), &n) || n < 0) return -1;
    size_t end = after + static_cast<size_t>(n) + 2;
    if (end > len) return 0;
    f->kind = NatsFrame::kMsg;
    f->subject = parts[0];
    f->payload = std::string_view(buf + after, static_cast<size_t>(n));
    return static_cast<long>(end);
  }
  if (starts("PING")) f->kind = NatsFrame::kPing;
  else if (starts("PONG")) f->kind = NatsFrame::kPong;
  else if (starts("INFO")) f->kind = NatsFrame::kInfo, f->text = line.substr(4);
  else if (starts("+OK")) f->kind = NatsFrame::kOk;
  else if (starts("-ERR")) f->kind = NatsFrame::kErr, f->text = line.substr(4);
  else return -1;
  return static_cast<long>(after);
}

}  // namespace fanout::load
