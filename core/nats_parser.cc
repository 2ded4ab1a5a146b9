#include "core/nats_parser.h"

#include <algorithm>
#include <cstring>

#include "core/ascii.h"
#include "core/units.h"

namespace fanout {
namespace {

// The ops a server sends, in the order of `kOps` below.
enum OpIndex { kOpInfo, kOpMsg, kOpHmsg, kOpPing, kOpPong, kOpOk, kOpErr, kOpCount };
constexpr std::string_view kOps[kOpCount] = {"INFO", "MSG", "HMSG", "PING", "PONG", "+OK", "-ERR"};

// Limits below these would let a line's length be judged before its op is known (the longest op
// name and its blank are 5 bytes), and the same stream could then fail differently by its splits.
constexpr size_t kMinLineLimit = 16;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; }

// A byte string for an error message: printable ASCII as is, other bytes as \xNN, at most 40.
std::string printable(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < 40; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (s.size() > 40) out += "...";
  return out;
}

}  // namespace

size_t NatsParser::Line::op_size() const {
  return size + 2 + (kind == NatsOp::Kind::kMsg ? static_cast<size_t>(total_size) + 2 : 0);
}

NatsParser::NatsParser(const NatsLimits& limits) {
  set_limits(limits);
  op_limits_ = limits_;
}

void NatsParser::set_limits(const NatsLimits& limits) {
  limits_ = limits;
  limits_.max_control_line = std::max(limits_.max_control_line, kMinLineLimit);
  limits_.max_info_line = std::max(limits_.max_info_line, kMinLineLimit);
  configured_ = limits_;
}

void NatsParser::reset() {
  limits_ = configured_;  // the last server's INFO no longer speaks
  std::string().swap(pending_);
  line_done_ = false;
  emitted_from_pending_ = false;
  line_ = Line();
  info_ = NatsServerInfo();
  error_.clear();
  op_limits_ = limits_;
}

NatsParser::Status NatsParser::fail(std::string message) {
  error_ = std::move(message);
  std::string().swap(pending_);  // the link closes: hold nothing more
  line_done_ = false;
  emitted_from_pending_ = false;
  return Status::kError;
}

// The op is judged from the first bytes of a line, so that garbage is refused as soon as it
// arrives rather than after a line's worth of it. A partial head's last byte is left out if it
// is a CR (it may be the CR of the line's CRLF), so that the verdict and its message are the same
// whether the line arrives whole or byte by byte.
NatsParser::Status NatsParser::check_head(std::string_view head, bool complete) {
  std::string_view judged = head;
  if (!complete && !judged.empty() && judged.back() == '\r') judged.remove_suffix(1);
  unsigned candidates = (1u << kOpCount) - 1;
  size_t i = 0;
  for (; i < judged.size() && !is_blank(judged[i]); ++i) {
    const char c = ascii_upper(judged[i]);
    for (int k = 0; k < kOpCount; ++k) {
      if (i >= kOps[k].size() || kOps[k][i] != c) candidates &= ~(1u << k);
    }
    if (candidates == 0) {
      return fail("unknown protocol operation '" + printable(judged.substr(0, i + 1)) + "'");
    }
  }
  const bool word_done = i < judged.size() || complete;
  int op = -1;
  for (int k = 0; k < kOpCount; ++k) {
    if ((candidates & (1u << k)) && kOps[k].size() == i) op = k;
  }
  if (!word_done) return Status::kNeedMore;  // the op is still a prefix of a known one
  if (op < 0) {
    if (judged.empty()) return fail("empty control line");
    // With the blank that ended the word, if any: a line that starts with one shows something.
    return fail("unknown protocol operation '" + printable(judged.substr(0, i + 1)) + "'");
  }
  const bool info = op == kOpInfo;
  const size_t limit = info ? op_limits_.max_info_line : op_limits_.max_control_line;
  // A partial line of limit + 2 bytes or more cannot end within the limit, CRLF aside.
  if (complete ? head.size() > limit : head.size() > limit + 1) {
    return fail(std::string(info ? "INFO" : "control") + " line longer than " +
                std::to_string(limit) + " bytes");
  }
  return Status::kOp;
}

NatsParser::Status NatsParser::parse_line(std::string_view line, Line* out) {
  *out = Line();
  out->size = line.size();
  size_t word = 0;
  while (word < line.size() && !is_blank(line[word])) ++word;
  int op = -1;
  for (int k = 0; k < kOpCount; ++k) {
    if (iequals(line.substr(0, word), kOps[k])) op = k;
  }
  // Arguments: the blank-separated fields after the op (up to 5: HMSG with a reply-to).
  std::string_view fields[6];
  size_t nfields = 0;
  for (size_t i = word; i < line.size();) {
    while (i < line.size() && is_blank(line[i])) ++i;
    size_t j = i;
    while (j < line.size() && !is_blank(line[j])) ++j;
    if (j > i) {
      if (nfields < 6) fields[nfields] = line.substr(i, j - i);
      ++nfields;
    }
    i = j;
  }
  auto offset = [&](std::string_view f) { return static_cast<size_t>(f.data() - line.data()); };
  switch (op) {
    case kOpPing:
    case kOpPong:
    case kOpOk:
      if (nfields != 0) return fail(std::string(kOps[op]) + " followed by '" + printable(line) + "'");
      out->kind = op == kOpPing ? NatsOp::Kind::kPing
                                : op == kOpPong ? NatsOp::Kind::kPong : NatsOp::Kind::kOk;
      return Status::kOp;
    case kOpErr: {
      out->kind = NatsOp::Kind::kErr;
      std::string_view text;
      if (nfields > 0) {
        text = line.substr(offset(fields[0]));
        while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
        if (text.size() >= 2 && text.front() == '\'' && text.back() == '\'') {
          text = text.substr(1, text.size() - 2);
        }
      }
      out->text_off = text.empty() ? 0 : offset(text);
      out->text_len = text.size();
      return Status::kOp;
    }
    case kOpInfo: {
      out->kind = NatsOp::Kind::kInfo;
      if (nfields == 0) return fail("INFO without its JSON");
      std::string_view json = line.substr(offset(fields[0]));
      NatsServerInfo info;
      std::string why;
      if (!parse_nats_info(json, &info, &why)) return fail(why);
      info_ = std::move(info);
      if (info_.max_payload > 0) {
        limits_.max_payload = static_cast<size_t>(
            std::min<uint64_t>(info_.max_payload, limits_.max_payload_cap));
      }
      return Status::kOp;
    }
    default:
      break;
  }
  // MSG <subject> <sid> [reply-to] <#bytes>; HMSG <subject> <sid> [reply-to] <hdr> <total>.
  const bool hmsg = op == kOpHmsg;
  const size_t min_fields = hmsg ? 4 : 3;
  if (nfields != min_fields && nfields != min_fields + 1) {
    return fail(std::string(hmsg ? "HMSG" : "MSG") + " with " + std::to_string(nfields) +
                " arguments: '" + printable(line) + "'");
  }
  out->kind = NatsOp::Kind::kMsg;
  out->has_headers = hmsg;
  out->subject_off = offset(fields[0]);
  out->subject_len = fields[0].size();
  if (!parse_unsigned(fields[1], &out->sid)) return fail("bad sid '" + printable(fields[1]) + "'");
  if (nfields == min_fields + 1) {
    out->reply_off = offset(fields[2]);
    out->reply_len = fields[2].size();
  }
  std::string_view total = fields[nfields - 1];
  if (!parse_unsigned(total, &out->total_size)) {
    return fail("bad message size '" + printable(total) + "'");
  }
  if (hmsg) {
    std::string_view hdr = fields[nfields - 2];
    if (!parse_unsigned(hdr, &out->header_size)) {
      return fail("bad header size '" + printable(hdr) + "'");
    }
    if (out->header_size > out->total_size) {
      return fail("header size " + std::to_string(out->header_size) + " exceeds the message's " +
                  std::to_string(out->total_size) + " bytes");
    }
  }
  if (out->total_size > op_limits_.max_payload) {
    return fail("message of " + std::to_string(out->total_size) + " bytes exceeds max_payload " +
                std::to_string(op_limits_.max_payload));
  }
  return Status::kOp;
}

NatsParser::Status NatsParser::emit(const char* base, const Line& line, NatsOp* op) {
  *op = NatsOp();
  op->kind = line.kind;
  switch (line.kind) {
    case NatsOp::Kind::kInfo:
      op->info = &info_;
      break;
    case NatsOp::Kind::kErr:
      op->error_text = std::string_view(base + line.text_off, line.text_len);
      break;
    case NatsOp::Kind::kMsg: {
      const char* body = base + line.size + 2;
      const size_t total = static_cast<size_t>(line.total_size);
      if (body[total] != '\r' || body[total + 1] != '\n') {
        return fail("message of " + std::to_string(total) + " bytes not followed by CRLF");
      }
      op->subject = std::string_view(base + line.subject_off, line.subject_len);
      op->sid = line.sid;
      op->reply_to = std::string_view(base + line.reply_off, line.reply_len);
      op->has_headers = line.has_headers;
      const size_t hdr = static_cast<size_t>(line.header_size);
      op->headers = std::string_view(body, hdr);
      op->payload = std::string_view(body + hdr, total - hdr);
      break;
    }
    default:
      break;
  }
  return Status::kOp;
}

NatsParser::Status NatsParser::next(std::string_view* input, NatsOp* op) {
  if (!error_.empty()) return Status::kError;
  if (emitted_from_pending_) {
    // Done with the op returned from pending_; a large message's buffer is not kept.
    if (pending_.capacity() > 64 * 1024) {
      std::string().swap(pending_);
    } else {
      pending_.clear();
    }
    emitted_from_pending_ = false;
    line_done_ = false;
  }
  if (!pending_.empty()) return next_split(input, op);
  if (input->empty()) return Status::kNeedMore;
  op_limits_ = limits_;
  const char* p = input->data();
  const size_t n = input->size();
  // No line may be longer than this, so the search for its end stops here.
  const size_t scan = std::min(n, std::max(op_limits_.max_control_line, op_limits_.max_info_line) + 2);
  const void* nl = std::memchr(p, '\n', scan);
  if (nl == nullptr) {
    if (check_head(std::string_view(p, scan), false) == Status::kError) return Status::kError;
    pending_.assign(p, n);  // n == scan: a longer head fails the check
    input->remove_prefix(n);
    return Status::kNeedMore;
  }
  const size_t at = static_cast<size_t>(static_cast<const char*>(nl) - p);
  const bool crlf = at > 0 && p[at - 1] == '\r';
  std::string_view line(p, crlf ? at - 1 : at);
  if (check_head(line, true) == Status::kError) return Status::kError;
  if (!crlf) return fail("control line ends in LF without CR");
  if (parse_line(line, &line_) == Status::kError) return Status::kError;
  const size_t need = line_.op_size();
  if (need <= n) {
    input->remove_prefix(need);
    return emit(p, line_, op);
  }
  // A message whose bytes have not all arrived: keep them, with room for the rest.
  pending_.reserve(need);
  pending_.assign(p, n);
  line_done_ = true;
  input->remove_prefix(n);
  return Status::kNeedMore;
}

NatsParser::Status NatsParser::next_split(std::string_view* input, NatsOp* op) {
  if (!line_done_) {
    // pending_ holds the start of a line; its end may be in this input.
    const size_t longest = std::max(op_limits_.max_control_line, op_limits_.max_info_line) + 2;
    const size_t scan = std::min(input->size(), longest - pending_.size());
    const void* nl = std::memchr(input->data(), '\n', scan);
    if (nl == nullptr) {
      pending_.append(input->data(), scan);
      if (check_head(pending_, false) == Status::kError) return Status::kError;
      input->remove_prefix(scan);  // all of it: had there been more, the check would have failed
      return Status::kNeedMore;
    }
    const size_t at = static_cast<size_t>(static_cast<const char*>(nl) - input->data());
    pending_.append(input->data(), at + 1);
    input->remove_prefix(at + 1);
    const size_t end = pending_.size() - 1;  // the LF
    const bool crlf = end > 0 && pending_[end - 1] == '\r';
    std::string_view line(pending_.data(), crlf ? end - 1 : end);
    if (check_head(line, true) == Status::kError) return Status::kError;
    if (!crlf) return fail("control line ends in LF without CR");
    if (parse_line(line, &line_) == Status::kError) return Status::kError;
    line_done_ = true;
    pending_.reserve(line_.op_size());
  }
  const size_t need = line_.op_size();
  const size_t take = std::min(need - pending_.size(), input->size());
  pending_.append(input->data(), take);
  input->remove_prefix(take);
  if (pending_.size() < need) return Status::kNeedMore;
  emitted_from_pending_ = true;
  return emit(pending_.data(), line_, op);
}

}  // namespace fanout
