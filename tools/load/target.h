// The server fanout-load drives, resolved once: every connection the tool makes (subscribers,
// publishers, churners, the INFO fetch) goes to this one socket address, IPv4 or IPv6, so the
// counters it reports are those of the server it loaded.
#pragma once

#include <string>

#include "net/socket.h"

namespace fanout::load {

// The resolved target: set once by resolve_target on the main thread, read-only afterwards (any
// thread).
struct Target {
  SocketAddress addr;  // a loopback address with the port set
};

// Resolves `host` (numeric IPv4/IPv6 or a name) and `port` with getaddrinfo into *out. A name
// with several addresses ("localhost": 127.0.0.1 and ::1) keeps the first one that accepts a TCP
// connection (that probe is closed at once), or the first one if none does. Every address kept
// is loopback (net's is_loopback): otherwise false with *err, as for a name that does not
// resolve. Main thread, before any worker starts.
bool resolve_target(const std::string& host, int port, Target* out, std::string* err);

// A blocking TCP socket connected to `t`, with SO_RCVBUF set to `rcvbuf` bytes first if it is
// above 0 (before connect, so the window scale is chosen for it). Returns the fd (close-on-exec),
// or -1 with errno set. Any thread.
int connect_target(const Target& t, int rcvbuf);

// One plaintext connection before the load (Redis protocol, without --tls): sends PING and
// waits up to timeout_ms for the first reply bytes. Returns "" when a RESP reply comes (any: with
// requirepass it is -NOAUTH), else why not, for one clear line: the server closed the connection
// without a reply or answered with TLS bytes (a TLS port: it needs --tls), or no reply came.
// `where` names the server in the message. Main thread.
std::string probe_plaintext(const Target& t, const std::string& where, int timeout_ms);

}  // namespace fanout::load
