#include "core/resp_parser.h"

#include "core/ascii.h"

#include <charconv>
#include <cstring>

namespace fanout {
namespace {

// Finds "\r\n" in [from, len); returns the offset of '\r' or npos.
size_t find_crlf(const char* buf, size_t from, size_t len) {
  if (len < 2 || from >= len - 1) return std::string_view::npos;
  const void* p = from < len ? std::memchr(buf + from, '\r', len - from) : nullptr;
  while (p != nullptr) {
    size_t at = static_cast<const char*>(p) - buf;
    if (at + 1 >= len) return std::string_view::npos;
    if (buf[at + 1] == '\n') return at;
    p = std::memchr(buf + at + 1, '\r', len - at - 1);
  }
  return std::string_view::npos;
}

// A multibulk or bulk length as Redis reads it (string2ll: no leading zeros, no "-0").
bool parse_int(const char* b, const char* e, int64_t* out) {
  long long v;
  if (!string2ll(std::string_view(b, static_cast<size_t>(e - b)), &v)) return false;
  *out = v;
  return true;
}


bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'; }

}  // namespace

void RequestParser::reset() {
  pos_ = 0;
  expected_args_ = -1;
  bulk_len_ = -1;
  offsets_.clear();
  views_.clear();
  consumed_ = 0;
  needed_ = 0;
}

RequestParser::Status RequestParser::fail(std::string msg) {
  error_ = std::move(msg);
  return Status::kError;
}

RequestParser::Status RequestParser::parse(const char* buf, size_t len) {
  if (consumed_ != 0 || !views_.empty()) {
    // The previous command was returned; start a new one.
    reset();
  }
  if (len == 0) return Status::kNeedMore;
  if (buf[0] == '*') return parse_multibulk(buf, len);
  return parse_inline(buf, len);
}

RequestParser::Status RequestParser::finish(const char* buf, size_t end) {
  views_.clear();
  views_.reserve(offsets_.size());
  for (auto [off, n] : offsets_) views_.emplace_back(buf + off, n);
  consumed_ = end;
  needed_ = 0;
  return Status::kCommand;
}

RequestParser::Status RequestParser::parse_multibulk(const char* buf, size_t len) {
  if (expected_args_ < 0) {
    size_t cr = find_crlf(buf, 1, len);
    if (cr == std::string_view::npos) {
      if (len > limits_.max_inline_len) return fail("Protocol error: too big mbulk count string");
      return Status::kNeedMore;
    }
    // The same limit whether or not the line's end has arrived yet, so the outcome does not
    // depend on how the input was split into reads.
    if (cr >= limits_.max_inline_len) return fail("Protocol error: too big mbulk count string");
    int64_t n;
    if (!parse_int(buf + 1, buf + cr, &n) || n > static_cast<int64_t>(limits_.max_args)) {
      return fail("Protocol error: invalid multibulk length");
    }
    pos_ = cr + 2;
    if (n <= 0) {
      // Redis treats "*0" and "*-1" as an empty command: skip it.
      offsets_.clear();
      size_t end = pos_;
      finish(buf, end);
      return Status::kCommand;
    }
    expected_args_ = n;
    offsets_.reserve(static_cast<size_t>(std::min<int64_t>(n, 1024)));
  }
  while (static_cast<int64_t>(offsets_.size()) < expected_args_) {
    if (bulk_len_ < 0) {
      if (pos_ >= len) return Status::kNeedMore;
      if (buf[pos_] != '$') {
        return fail(std::string("Protocol error: expected '$', got '") + buf[pos_] + "'");
      }
      size_t cr = find_crlf(buf, pos_ + 1, len);
      if (cr == std::string_view::npos) {
        if (len - pos_ > limits_.max_inline_len) return fail("Protocol error: too big bulk count string");
        return Status::kNeedMore;
      }
      if (cr - pos_ >= limits_.max_inline_len) return fail("Protocol error: too big bulk count string");
      int64_t n;
      if (!parse_int(buf + pos_ + 1, buf + cr, &n) || n < 0 ||
          static_cast<uint64_t>(n) > limits_.max_bulk_len) {
        return fail("Protocol error: invalid bulk length");
      }
      bulk_len_ = n;
      pos_ = cr + 2;
    }
    size_t need = pos_ + static_cast<size_t>(bulk_len_) + 2;
    if (len < need) {
      needed_ = need;
      return Status::kNeedMore;
    }
    if (buf[need - 2] != '\r' || buf[need - 1] != '\n') {
      return fail("Protocol error: invalid bulk terminator");
    }
    offsets_.emplace_back(pos_, static_cast<size_t>(bulk_len_));
    pos_ = need;
    bulk_len_ = -1;
  }
  return finish(buf, pos_);
}

RequestParser::Status RequestParser::parse_inline(const char* buf, size_t len) {
  const void* nl = std::memchr(buf + pos_, '\n', len - pos_);
  if (nl == nullptr) {
    if (len > limits_.max_inline_len) return fail("Protocol error: too big inline request");
    pos_ = len;  // scanned: do not rescan these bytes next time
    return Status::kNeedMore;
  }
  size_t at = static_cast<const char*>(nl) - buf;
  if (at > limits_.max_inline_len) return fail("Protocol error: too big inline request");
  size_t line_end = (at > 0 && buf[at - 1] == '\r') ? at - 1 : at;
  offsets_.clear();
  if (!split_inline_args(std::string_view(buf, line_end), &inline_buf_, &offsets_)) {
    return fail("Protocol error: unbalanced quotes in request");
  }
  if (offsets_.size() > limits_.max_args) return fail("Protocol error: invalid multibulk length");
  views_.clear();
  for (auto [off, n] : offsets_) views_.emplace_back(inline_buf_.data() + off, n);
  consumed_ = at + 1;
  needed_ = 0;
  return Status::kCommand;
}

bool split_inline_args(std::string_view line, std::string* storage,
                       std::vector<std::pair<size_t, size_t>>* out) {
  storage->clear();
  storage->reserve(line.size());
  size_t i = 0, n = line.size();
  while (true) {
    while (i < n && (is_space(line[i]) || line[i] == '\0')) ++i;
    if (i >= n) return true;
    size_t start = storage->size();
    bool in_dq = false, in_sq = false, done = false;
    while (!done) {
      if (in_dq) {
        if (i >= n) return false;
        char c = line[i];
        if (c == '\\' && i + 3 < n && line[i + 1] == 'x' && hex_digit_value(line[i + 2]) >= 0 &&
            hex_digit_value(line[i + 3]) >= 0) {
          storage->push_back(static_cast<char>(hex_digit_value(line[i + 2]) * 16 + hex_digit_value(line[i + 3])));
          i += 3;
        } else if (c == '\\' && i + 1 < n) {
          ++i;
          char e = line[i];
          switch (e) {
            case 'n': e = '\n'; break;
            case 'r': e = '\r'; break;
            case 't': e = '\t'; break;
            case 'b': e = '\b'; break;
            case 'a': e = '\a'; break;
            default: break;
          }
          storage->push_back(e);
        } else if (c == '"') {
          // A closing quote must be followed by a space or the end.
          if (i + 1 < n && !is_space(line[i + 1])) return false;
          done = true;
        } else {
          storage->push_back(c);
        }
      } else if (in_sq) {
        if (i >= n) return false;
        char c = line[i];
        if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
          ++i;
          storage->push_back('\'');
        } else if (c == '\'') {
          if (i + 1 < n && !is_space(line[i + 1])) return false;
          done = true;
        } else {
          storage->push_back(c);
        }
      } else {
        if (i >= n) {
          done = true;
          break;
        }
        char c = line[i];
        // Redis's sdssplitargs ends an unquoted argument at these five only (a vertical tab or
        // form feed is part of it).
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\0') {
          done = true;
        } else if (c == '"') {
          in_dq = true;
        } else if (c == '\'') {
          in_sq = true;
        } else {
          storage->push_back(c);
        }
      }
      if (i < n) ++i;
    }
    out->emplace_back(start, storage->size() - start);
  }
}

bool split_args(std::string_view line, std::vector<std::string>* out) {
  std::string storage;
  std::vector<std::pair<size_t, size_t>> spans;
  if (!split_inline_args(line, &storage, &spans)) return false;
  for (auto [off, n] : spans) out->emplace_back(storage.data() + off, n);
  return true;
}

}  // namespace fanout
