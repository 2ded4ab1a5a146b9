#include "core/config_args.h"

namespace fanout {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'; }
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool split_config_args(std::string_view line, std::vector<std::string>* out) {
  size_t i = 0;
  const size_t n = line.size();
  auto at = [&](size_t k) { return k < n ? line[k] : '\0'; };
  // A closing quote ends the argument only before a blank or the end.
  auto ends_here = [&](size_t k) { return k + 1 >= n || is_blank(line[k + 1]); };
  for (;;) {
    while (i < n && is_blank(line[i])) ++i;
    if (i >= n) return true;
    std::string arg;
    bool in_double = false, in_single = false;
    for (bool done = false; !done; ++i) {
      const char c = at(i);
      if (in_double) {
        if (c == '\\' && at(i + 1) == 'x' && hex_value(at(i + 2)) >= 0 && hex_value(at(i + 3)) >= 0) {
          arg += static_cast<char>(hex_value(at(i + 2)) * 16 + hex_value(at(i + 3)));
          i += 3;
        } else if (c == '\\' && i + 1 < n) {
          ++i;
          switch (line[i]) {
            case 'n': arg += '\n'; break;
            case 'r': arg += '\r'; break;
            case 't': arg += '\t'; break;
            case 'b': arg += '\b'; break;
            case 'a': arg += '\a'; break;
            default: arg += line[i];
          }
        } else if (c == '"') {
          if (!ends_here(i)) return false;
          done = true;
        } else if (i >= n) {
          return false;  // unterminated
        } else {
          arg += c;
        }
      } else if (in_single) {
        if (c == '\\' && at(i + 1) == '\'') {
          ++i;
          arg += '\'';
        } else if (c == '\'') {
          if (!ends_here(i)) return false;
          done = true;
        } else if (i >= n) {
          return false;
        } else {
          arg += c;
        }
      } else if (i >= n || c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\0') {
        done = true;
      } else if (c == '"') {
        in_double = true;
      } else if (c == '\'') {
        in_single = true;
      } else {
        arg += c;
      }
    }
    out->push_back(std::move(arg));
  }
}

}  // namespace fanout
