// What a NATS client sends: PING, PONG, SUB, UNSUB, PUB, HPUB (CONNECT is in nats_json.cc, with
// the other JSON). Byte layouts from the protocol doc's sections of the same names.
#include <charconv>

#include "core/nats_protocol.h"

namespace fanout {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kHeaderVersion = "NATS/1.0\r\n";

void append_number(std::string* out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, static_cast<size_t>(end - buf));
}

bool header_name_valid(std::string_view name) {
  if (name.empty()) return false;
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x21 || c > 0x7e || c == ':') return false;
  }
  return true;
}

bool header_value_valid(std::string_view value) {
  if (!value.empty() && (value.front() == ' ' || value.back() == ' ')) return false;
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// The header block's size: "NATS/1.0\r\n" "<name>: <value>\r\n" "\r\n".
size_t header_block_size(NatsHeader h) {
  return kHeaderVersion.size() + h.name.size() + 2 + h.value.size() + 2 + 2;
}

NatsEncodeStatus hpub_prefix(std::string* out, std::string_view subject, NatsHeader header,
                             size_t payload_size, size_t max_payload) {
  if (!nats_subject_valid(subject, false)) return NatsEncodeStatus::kInvalidSubject;
  if (!header_name_valid(header.name) || !header_value_valid(header.value)) {
    return NatsEncodeStatus::kInvalidHeader;
  }
  const size_t hdr = header_block_size(header);
  if (payload_size > max_payload || hdr > max_payload - payload_size) {
    return NatsEncodeStatus::kPayloadTooLarge;
  }
  out->append("HPUB ");
  out->append(subject);
  out->push_back(' ');
  append_number(out, hdr);
  out->push_back(' ');
  append_number(out, hdr + payload_size);
  out->append(kCrlf);
  out->append(kHeaderVersion);
  out->append(header.name);
  out->append(": ");
  out->append(header.value);
  out->append(kCrlf);
  out->append(kCrlf);
  return NatsEncodeStatus::kOk;
}

}  // namespace

bool nats_subject_valid(std::string_view subject, bool wildcards_allowed) {
  if (subject.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = subject.find('.', start);
    std::string_view token =
        subject.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (token.empty()) return false;
    for (char ch : token) {
      auto c = static_cast<unsigned char>(ch);
      if (c <= 0x20 || c == 0x7f) return false;
    }
    if (token == "*" || token == ">") {
      if (!wildcards_allowed) return false;
      if (token == ">" && dot != std::string_view::npos) return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

void append_nats_ping(std::string* out) { out->append("PING\r\n"); }

void append_nats_pong(std::string* out) { out->append("PONG\r\n"); }

bool append_nats_sub(std::string* out, std::string_view subject, uint64_t sid) {
  if (!nats_subject_valid(subject, true)) return false;
  out->append("SUB ");
  out->append(subject);
  out->push_back(' ');
  append_number(out, sid);
  out->append(kCrlf);
  return true;
}

void append_nats_unsub(std::string* out, uint64_t sid, uint64_t max_msgs) {
  out->append("UNSUB ");
  append_number(out, sid);
  if (max_msgs > 0) {
    out->push_back(' ');
    append_number(out, max_msgs);
  }
  out->append(kCrlf);
}

const char* to_string(NatsEncodeStatus status) {
  switch (status) {
    case NatsEncodeStatus::kOk:
      return "ok";
    case NatsEncodeStatus::kInvalidSubject:
      return "not a valid NATS publish subject";
    case NatsEncodeStatus::kInvalidHeader:
      return "not a valid NATS header name or value";
    case NatsEncodeStatus::kPayloadTooLarge:
      return "larger than the server's max_payload";
  }
  return "?";
}

NatsEncodeStatus append_nats_pub(std::string* out, std::string_view subject,
                                 std::string_view payload, size_t max_payload) {
  if (!nats_subject_valid(subject, false)) return NatsEncodeStatus::kInvalidSubject;
  if (payload.size() > max_payload) return NatsEncodeStatus::kPayloadTooLarge;
  out->append("PUB ");
  out->append(subject);
  out->push_back(' ');
  append_number(out, payload.size());
  out->append(kCrlf);
  out->append(payload);
  out->append(kCrlf);
  return NatsEncodeStatus::kOk;
}

NatsEncodeStatus append_nats_hpub(std::string* out, std::string_view subject, NatsHeader header,
                                  std::string_view payload, size_t max_payload) {
  NatsEncodeStatus st = hpub_prefix(out, subject, header, payload.size(), max_payload);
  if (st != NatsEncodeStatus::kOk) return st;
  out->append(payload);
  out->append(kCrlf);
  return st;
}

NatsEncodeStatus append_nats_hpub_prefix(std::string* out, std::string_view subject,
                                         NatsHeader header, size_t payload_size,
                                         size_t max_payload) {
  return hpub_prefix(out, subject, header, payload_size, max_payload);
}

}  // namespace fanout
