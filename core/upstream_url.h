// The --upstream list: NATS server URLs as NATS clients take them (nats.go's and nats.c's
// "nats://[user:password@]host:port", "tls://..." for TLS, comma-separated; port 4222 when
// omitted; IPv6 hosts in brackets). Pure parsing; name resolution is the caller's.
// Thread: any.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fanout {

struct UpstreamUrl {
  bool tls = false;   // tls:// (nats:// is plaintext unless the server requires TLS)
  std::string host;   // a name or an address, without brackets
  uint16_t port = 4222;
  std::string user, password;  // from the URL's userinfo, percent-decoded ("" when absent)
  std::string token;           // userinfo with no ':' is a token, as NATS clients read it
  // "host:port" as logs show it (brackets around an IPv6 address; never the credentials).
  std::string display() const;
};

// Parses a comma-separated list (spaces around commas allowed). False with *err naming the
// offending URL on: a scheme other than nats:// or tls://, an empty host, a port outside 1-65535
// or not a number, a path or query after the port, an unclosed '[' or a bad %-escape.
bool parse_upstream_urls(std::string_view text, std::vector<UpstreamUrl>* out, std::string* err);

}  // namespace fanout
