// The server's own figures: INFO fetched over RESP from the target before and after a run, so
// the report can name the server's backend and give its counters' deltas (sends, syscalls,
// deliveries). redis-server answers the same INFO; nats-server has none.
#pragma once

#include <map>
#include <string>

#include "tools/load/target.h"
#include "tools/load/tls.h"

namespace fanout::load {

// INFO's "field:value" lines as a map ("backend" -> "io_uring"); empty if unknown.
using InfoFields = std::map<std::string, std::string>;

// Sends INFO everything to `t` over a connection of its own (blocking, 2 s receive timeout;
// through TLS if `tls` is not null) and returns the fields. Empty for proto "nats", or if the
// server cannot be reached or answers with an error. Main thread (it blocks).
InfoFields fetch_server_info(const Target& t, const std::string& proto, const TlsClient* tls);

// Parses INFO text: "field:value" lines, skipping "# Section" lines and anything without ':'.
// Pure.
InfoFields parse_info(const std::string& text);

}  // namespace fanout::load
