#include "core/resp_value.h"

#include <charconv>
#include <cstdlib>
#include <cstring>

namespace fanout {
namespace {

using Type = RespValue::Type;

// Returns offset of "\r\n" at or after `from`, or npos.
size_t find_crlf(const char* buf, size_t from, size_t len) {
  for (size_t i = from; i + 1 < len; ++i) {
    if (buf[i] == '\r' && buf[i + 1] == '\n') return i;
  }
  return std::string_view::npos;
}

bool to_int(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

long parse(const char* buf, size_t len, RespValue* out, std::string* error, size_t depth) {
  if (len == 0) return 0;
  if (depth == 0) {
    *error = "nesting too deep";
    return -1;
  }
  size_t cr = find_crlf(buf, 1, len);
  if (cr == std::string_view::npos) return 0;
  std::string_view line(buf + 1, cr - 1);
  size_t pos = cr + 2;
  out->elements.clear();
  out->str.clear();
  out->integer = 0;
  char marker = buf[0];
  switch (marker) {
    case '+':
      out->type = Type::kSimple;
      out->str.assign(line);
      return static_cast<long>(pos);
    case '-':
      out->type = Type::kError;
      out->str.assign(line);
      return static_cast<long>(pos);
    case ':':
      out->type = Type::kInteger;
      if (!to_int(line, &out->integer)) break;
      return static_cast<long>(pos);
    case '_':
      if (!line.empty()) break;
      out->type = Type::kNull;
      return static_cast<long>(pos);
    case '#':
      if (line != "t" && line != "f") break;
      out->type = Type::kBoolean;
      out->integer = line == "t";
      return static_cast<long>(pos);
    case ',': {
      out->type = Type::kDouble;
      out->str.assign(line);
      char* end = nullptr;
      std::string tmp(line);
      out->dbl = std::strtod(tmp.c_str(), &end);
      if (tmp.empty() || end != tmp.c_str() + tmp.size()) break;
      return static_cast<long>(pos);
    }
    case '(':
      out->type = Type::kBigNumber;
      out->str.assign(line);
      if (line.empty()) break;
      return static_cast<long>(pos);
    case '$':
    case '=':
    case '!': {
      int64_t n;
      if (!to_int(line, &n) || n < -1) break;
      if (n == -1) {
        if (marker != '$') break;
        out->type = Type::kNull;
        return static_cast<long>(pos);
      }
      if (len < pos + static_cast<size_t>(n) + 2) return 0;
      if (buf[pos + n] != '\r' || buf[pos + n + 1] != '\n') break;
      out->type = marker == '=' ? Type::kVerbatim : (marker == '!' ? Type::kError : Type::kBulk);
      std::string_view body(buf + pos, static_cast<size_t>(n));
      if (marker == '=') {
        if (body.size() < 4 || body[3] != ':') break;
        body.remove_prefix(4);
      }
      out->str.assign(body);
      return static_cast<long>(pos + n + 2);
    }
    case '*':
    case '%':
    case '~':
    case '>':
    case '|': {
      int64_t n;
      if (!to_int(line, &n) || n < -1) break;
      if (n == -1) {
        if (marker != '*') break;
        out->type = Type::kNull;
        return static_cast<long>(pos);
      }
      out->type = marker == '*'   ? Type::kArray
                  : marker == '%' ? Type::kMap
                  : marker == '~' ? Type::kSet
                  : marker == '>' ? Type::kPush
                                  : Type::kAttribute;
      size_t count = static_cast<size_t>(n) * ((marker == '%' || marker == '|') ? 2 : 1);
      if (count > len) {
        // Each element takes at least 3 bytes: more are needed before this can complete.
        return 0;
      }
      out->elements.resize(count);
      for (size_t i = 0; i < count; ++i) {
        long used = parse(buf + pos, len - pos, &out->elements[i], error, depth - 1);
        if (used <= 0) return used;
        pos += static_cast<size_t>(used);
      }
      return static_cast<long>(pos);
    }
    default:
      break;
  }
  *error = std::string("malformed RESP value starting with '") + marker + "'";
  return -1;
}

void encode(const RespValue& v, std::string* out) {
  auto line = [&](char m, std::string_view s) {
    out->push_back(m);
    out->append(s);
    out->append("\r\n");
  };
  switch (v.type) {
    case Type::kSimple: line('+', v.str); return;
    case Type::kError: line('-', v.str); return;
    case Type::kInteger: line(':', std::to_string(v.integer)); return;
    case Type::kNull: out->append("_\r\n"); return;
    case Type::kBoolean: line('#', v.integer ? "t" : "f"); return;
    case Type::kDouble: line(',', v.str); return;
    case Type::kBigNumber: line('(', v.str); return;
    case Type::kBulk:
      line('$', std::to_string(v.str.size()));
      out->append(v.str);
      out->append("\r\n");
      return;
    case Type::kVerbatim:
      line('=', std::to_string(v.str.size() + 4));
      out->append("txt:");
      out->append(v.str);
      out->append("\r\n");
      return;
    default: {
      char m = v.type == Type::kArray ? '*'
               : v.type == Type::kMap ? '%'
               : v.type == Type::kSet ? '~'
               : v.type == Type::kPush ? '>'
                                       : '|';
      size_t n = v.elements.size();
      if (v.type == Type::kMap || v.type == Type::kAttribute) n /= 2;
      line(m, std::to_string(n));
      for (const auto& e : v.elements) encode(e, out);
    }
  }
}

}  // namespace

long parse_resp_value(const char* buf, size_t len, RespValue* out, std::string* error,
                      size_t max_depth) {
  return parse(buf, len, out, error, max_depth);
}

std::string encode_resp_value(const RespValue& v) {
  std::string s;
  encode(v, &s);
  return s;
}

}  // namespace fanout
