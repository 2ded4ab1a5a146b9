// NATS message headers, read in place (ADR-4; status lines as nats-server and nats.go write and
// read them: "NATS/1.0 503", "NATS/1.0 408 Request Timeout").
#include "core/nats_protocol.h"

namespace fanout {
namespace {

constexpr std::string_view kVersion = "NATS/1.0";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits off the next line of *rest (up to "\r\n", which is dropped). False if there is no
// "\r\n", or the line holds a bare CR or LF.
bool next_line(std::string_view* rest, std::string_view* line) {
  size_t at = rest->find("\r\n");
  if (at == std::string_view::npos) return false;
  *line = rest->substr(0, at);
  rest->remove_prefix(at + 2);
  return line->find_first_of("\r\n") == std::string_view::npos;
}

// The name of a "<name>:<value>" line, or empty if the line is not one.
std::string_view field_name(std::string_view line) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return {};
  std::string_view name = line.substr(0, colon);
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x21 || c > 0x7e) return {};
  }
  return name;
}

}  // namespace

std::optional<NatsHeaders> NatsHeaders::parse(std::string_view block) {
  NatsHeaders h;
  std::string_view rest = block, line;
  if (!next_line(&rest, &line) || line.substr(0, kVersion.size()) != kVersion) return std::nullopt;
  std::string_view status = line.substr(kVersion.size());
  if (!status.empty()) {
    if (status.front() != ' ' && status.front() != '\t') return std::nullopt;
    status = trim(status);
    // Three digits, then optionally a description after a space (nats.go's readHeaders).
    if (status.size() < 3) return std::nullopt;
    for (size_t i = 0; i < 3; ++i) {
      if (status[i] < '0' || status[i] > '9') return std::nullopt;
    }
    if (status.size() > 3 && status[3] != ' ' && status[3] != '\t') return std::nullopt;
    h.status_ = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
    h.description_ = trim(status.substr(3));
  }
  const char* fields_begin = rest.data();
  while (true) {
    if (!next_line(&rest, &line)) return std::nullopt;
    if (line.empty()) break;
    if (field_name(line).empty()) return std::nullopt;
  }
  if (!rest.empty()) return std::nullopt;  // bytes after the empty line that ends the block
  h.fields_ = std::string_view(fields_begin, static_cast<size_t>(rest.data() - fields_begin) - 2);
  return h;
}

std::optional<std::string_view> NatsHeaders::get(std::string_view name) const {
  std::string_view rest = fields_, line;
  while (next_line(&rest, &line)) {
    if (field_name(line) == name) return trim(line.substr(name.size() + 1));
  }
  return std::nullopt;
}

}  // namespace fanout
