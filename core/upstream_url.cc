#include "core/upstream_url.h"

#include <charconv>

namespace fanout {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 section 2.1 percent-decoding of userinfo.
bool decode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size() || hex(in[i + 1]) < 0 || hex(in[i + 2]) < 0) return false;
    out->push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
    i += 2;
  }
  return true;
}

bool parse_one(std::string_view url, UpstreamUrl* u, std::string* why) {
  std::string_view rest;
  if (url.starts_with("nats://")) {
    rest = url.substr(7);
  } else if (url.starts_with("tls://")) {
    rest = url.substr(6);
    u->tls = true;
  } else {
    *why = "the scheme must be nats:// or tls://";
    return false;
  }
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view info = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = info.find(':');
    bool ok = colon == std::string_view::npos
                  ? decode(info, &u->token)
                  : decode(info.substr(0, colon), &u->user) && decode(info.substr(colon + 1), &u->password);
    if (!ok) {
      *why = "a bad %-escape in the user information";
      return false;
    }
  }
  std::string_view port;
  if (rest.starts_with("[")) {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      *why = "an unclosed '[' around an IPv6 address";
      return false;
    }
    u->host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        *why = "only a port may follow the host";
        return false;
      }
      port = rest.substr(1);
    }
  } else {
    const size_t colon = rest.find(':');
    u->host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (u->host.empty() || u->host.find_first_of("/?#") != std::string::npos) {
    *why = u->host.empty() ? "no host" : "a path or query after the host";
    return false;
  }
  if (!port.empty() || rest.ends_with(":")) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || end != port.data() + port.size() || v == 0 || v > 65535) {
      *why = "the port must be a number from 1 to 65535";
      return false;
    }
    u->port = static_cast<uint16_t>(v);
  }
  return true;
}

}  // namespace

std::string UpstreamUrl::display() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool parse_upstream_urls(std::string_view text, std::vector<UpstreamUrl>* out, std::string* err) {
  out->clear();
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view one = trim(text.substr(0, comma));
    UpstreamUrl u;
    std::string why;
    if (one.empty()) {
      why = "an empty URL";
    } else if (!parse_one(one, &u, &why)) {
      why = "\"" + std::string(one) + "\": " + why;
    }
    if (!why.empty()) {
      *err = why;
      out->clear();
      return false;
    }
    out->push_back(std::move(u));
    if (comma == std::string_view::npos) return true;
    text.remove_prefix(comma + 1);
  }
}

}  // namespace fanout
