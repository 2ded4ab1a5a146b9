// Incremental parser for client requests: RESP multibulk arrays and inline (telnet) commands.
//
// Owns: only its resumable state (argument offsets, inline unescape buffer). It never owns the
// input bytes. Thread: one owner at a time (a connection's shard); no locking.
//
// Protocol of use, for one connection:
//   1. Call parse(buf, len) with all unconsumed input, starting at the first byte of a command.
//   2. kNeedMore: keep the bytes, call again with the same prefix plus new bytes appended (the
//      buffer may move; offsets are kept, not pointers, and already-scanned bytes are not rescanned).
//   3. kCommand: args() is valid until the buffer changes; drop consumed() bytes, call again.
//   4. kError: error() is the Redis error text (without "-ERR "); the connection must be closed
//      after replying, as Redis does for protocol errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fanout {

struct RequestLimits {
  size_t max_bulk_len = 512 * 1024 * 1024;  // Redis proto-max-bulk-len
  size_t max_args = 1024 * 1024;            // Redis's multibulk count limit
  size_t max_inline_len = 64 * 1024;        // Redis PROTO_INLINE_MAX_SIZE
};

class RequestParser {
 public:
  enum class Status { kNeedMore, kCommand, kError };

  explicit RequestParser(const RequestLimits& limits = RequestLimits()) : limits_(limits) {}
  // New limits (CONFIG SET): checked from the next header parsed on.
  void set_limits(const RequestLimits& limits) { limits_ = limits; }

  Status parse(const char* buf, size_t len);

  std::span<const std::string_view> args() const { return views_; }
  size_t consumed() const { return consumed_; }
  const std::string& error() const { return error_; }
  // Bytes the current partial command is known to need in total (0 when unknown); lets the caller
  // size its buffer once for a large bulk instead of growing it per read.
  size_t bytes_needed() const { return needed_; }
  void reset();

 private:
  Status parse_multibulk(const char* buf, size_t len);
  Status parse_inline(const char* buf, size_t len);
  Status fail(std::string msg);
  Status finish(const char* buf, size_t end);

  RequestLimits limits_;
  size_t pos_ = 0;            // next unscanned byte of the current command
  int64_t expected_args_ = -1;  // -1: multibulk header not read yet
  int64_t bulk_len_ = -1;       // -1: reading a bulk header
  std::vector<std::pair<size_t, size_t>> offsets_;  // (offset, length) of each argument
  std::vector<std::string_view> views_;
  std::string inline_buf_;  // unescaped inline arguments live here
  size_t consumed_ = 0;
  size_t needed_ = 0;
  std::string error_;
};

// Splits an inline command line as Redis's sdssplitargs does (sds.c: blanks separate arguments;
// "double quotes" take \xHH, \n, \r, \t, \b, \a and \<any>; 'single quotes' take \' only; a
// closing quote must be followed by a blank or the end). Returns false on unbalanced quotes, where
// Redis answers "Protocol error: unbalanced quotes in request" (inline) or stops with "Unbalanced
// quotes in configuration line" (redis.conf). Arguments are (offset, length) in *storage.
bool split_inline_args(std::string_view line, std::string* storage,
                       std::vector<std::pair<size_t, size_t>>* out);

// The same, as strings: redis.conf's lines (net/config.cc) are split by it as Redis splits them.
// Thread: any.
bool split_args(std::string_view line, std::vector<std::string>* out);

}  // namespace fanout
