// Incremental parser for what a NATS server sends a client (protocol doc, "Client Protocol"):
// INFO, MSG, HMSG, PING, PONG, +OK and -ERR, over a byte stream that arrives in pieces of any size.
//
// Owns: the bytes of at most one partial op (a control line up to its limit, or a message up to
// max_payload plus its line), and the last INFO. Views it returns point into the caller's input
// when the op was whole in it (no copy), into the parser's own buffer otherwise. Thread: one
// owner at a time (the link's shard); no shared state.
//
// Protocol of use, for one connection:
//   NatsParser p(limits);
//   on each read of bytes [data, data + n):
//     std::string_view in(data, n);
//     NatsOp op;
//     while (true) {
//       NatsParser::Status st = p.next(&in, &op);
//       if (st == NatsParser::Status::kNeedMore) break;   // `in` is empty: every byte was taken
//       if (st == NatsParser::Status::kError) { close the link, logging p.error(); break; }
//       handle(op);  // op's views last until the next call to next(), and as long as `data`
//     }
//   (after kNeedMore `data` may be reused: the parser copied what it still needs.)
//
// Grammar, as nats-server writes it and nats.c / nats-server parse it (server/parser.go):
// op names in any case; arguments separated by runs of spaces or tabs; every line ends in CRLF.
//   INFO <json>
//   MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n
//   HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>\r\n<headers><payload>\r\n
//   PING | PONG | +OK           (nothing else on the line but spaces or tabs)
//   -ERR '<text>'
// Stricter than those parsers, on purpose (each is an error, and the link closes): a line ending
// in a bare LF, anything but blanks after PING/PONG/+OK, sizes that are not plain digits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/nats_protocol.h"

namespace fanout {

struct NatsLimits {
  // Longest control line accepted (bytes, without its CRLF), INFO apart. NATS's 4096 bounds the
  // arguments of a client's PUB/HPUB ("<subject> [reply-to] [<hdr>] <size>"); the server
  // delivers that message as "HMSG <subject> <sid> [reply-to] <hdr> <total>", adding the op, a
  // sid (up to 20 digits) and a header size: 64 bytes of room keep any message the server
  // accepted within this limit.
  size_t max_control_line = kNatsMaxControlLine + 64;
  // Longest INFO line (bytes): INFO's connect_urls grow with the cluster, past 4096. 64 KiB is
  // nats-server's own bound for the lines of its routes and leaf nodes (16 x 4096).
  size_t max_info_line = 64 * 1024;
  // Largest message accepted (bytes: an HMSG's total, headers included). A server refuses larger
  // publishes from its clients and announces its limit in INFO: each INFO that carries
  // max_payload replaces this value (up or down, but never above max_payload_cap), from the op
  // after the INFO on, so the link need not copy it over. (A cluster's servers normally share
  // the setting; a message from a server that allows more than this one announced is refused.)
  size_t max_payload = kNatsDefaultMaxPayload;
  // The most an INFO may raise max_payload to, so that no server can make the parser hold more:
  // 64 MiB, nats-server's default max_pending, which max_payload may not exceed.
  size_t max_payload_cap = 64 * 1024 * 1024;
};

// One op from the server. Which fields are set depends on kind; the others are empty or zero.
struct NatsOp {
  enum class Kind : uint8_t { kInfo, kMsg, kPing, kPong, kOk, kErr };
  Kind kind = Kind::kPing;
  // kMsg (MSG and HMSG):
  std::string_view subject;
  uint64_t sid = 0;
  std::string_view reply_to;  // empty when the message has none
  bool has_headers = false;   // HMSG: `headers` is the header block (NatsHeaders::parse reads it)
  std::string_view headers;
  std::string_view payload;   // the message's bytes, headers excluded; binary
  // kErr: the text, without its quotes (e.g. "Maximum Payload Violation").
  std::string_view error_text;
  // kInfo: the parsed INFO (NatsParser::info() holds it too, until the next INFO).
  const NatsServerInfo* info = nullptr;
};

class NatsParser {
 public:
  enum class Status : uint8_t { kNeedMore, kOp, kError };

  explicit NatsParser(const NatsLimits& limits = NatsLimits());

  // Parses the next op from the front of *input and advances *input past the bytes it used.
  //   kOp: *op is filled; call again with the rest of *input (maybe empty).
  //   kNeedMore: all of *input was taken (the partial op is kept, within the limits).
  //   kError: the stream is not the NATS protocol, or breaks a limit: error() says how; the link
  //     must be closed. Sticky: every later call returns kError until reset().
  // The ops returned, and the error, are the same however the stream is split into inputs.
  Status next(std::string_view* input, NatsOp* op);

  // New limits, applied from the next op begun (a partial op keeps those it began with). Line
  // limits below 16 bytes are raised to 16.
  void set_limits(const NatsLimits& limits);
  const NatsLimits& limits() const { return limits_; }

  const std::string& error() const { return error_; }
  // The last INFO received (defaults before the first).
  const NatsServerInfo& info() const { return info_; }
  // Bytes held of a partial op: at most the longer line limit + 2, or a message's line, its
  // CRLF and max_payload + 2.
  size_t buffered() const { return pending_.size(); }
  // Forgets everything, and max_payload as an INFO set it: for a new connection.
  void reset();

 private:
  // The parsed fields of a control line as offsets from the op's first byte, so that they can
  // be read from the caller's input or, once the op is split, from pending_.
  struct Line {
    NatsOp::Kind kind = NatsOp::Kind::kPing;
    size_t size = 0;  // the line's bytes, without CRLF
    size_t subject_off = 0, subject_len = 0, reply_off = 0, reply_len = 0;
    size_t text_off = 0, text_len = 0;  // INFO's JSON, -ERR's text
    uint64_t sid = 0;
    bool has_headers = false;
    uint64_t header_size = 0, total_size = 0;
    size_t op_size() const;  // the whole op's bytes: line, CRLF and any message with its CRLF
  };

  Status fail(std::string message);
  // Checks a line's first bytes (all of them, or as many as have arrived): its op and its length.
  Status check_head(std::string_view head, bool complete);
  Status parse_line(std::string_view line, Line* out);
  Status emit(const char* base, const Line& line, NatsOp* op);
  Status next_split(std::string_view* input, NatsOp* op);

  NatsLimits configured_;   // as set_limits() gave them
  NatsLimits limits_;       // those, with max_payload as the last INFO said
  NatsLimits op_limits_;    // those in force for the op being parsed
  std::string pending_;     // the partial op's bytes, from its first
  bool line_done_ = false;  // pending_ holds the op's whole control line (and `line_` is parsed)
  bool emitted_from_pending_ = false;  // the last op returned points into pending_
  Line line_;
  NatsServerInfo info_;
  std::string error_;
};

}  // namespace fanout
