// Socket helpers: listeners (one per shard with SO_REUSEPORT), accepted-socket options, and
// address formatting. Thin wrappers over the syscalls; errors are returned as text.
#pragma once

#include <string>

namespace fanout {

// Binds and listens on host:port, non-blocking, in an SO_REUSEPORT group so every shard can
// have its own listener. The first listener (`join` false) binds before enabling SO_REUSEPORT,
// so the bind fails if any other socket holds the port, and an ephemeral port is never one that
// another process's reuseport group already uses; the shards' listeners then join it. Returns
// the fd or -1 with *err.
int listen_tcp(const std::string& host, int port, int backlog, bool join, std::string* err);
// The local port of a bound socket.
int local_port(int fd);
// "127.0.0.1:6379" or "[::1]:6379".
std::string format_endpoint(const std::string& host, int port);
// TCP_NODELAY on an accepted socket (replies and pushes are already batched per iteration), and
// TCP keepalive probes after `keepalive_s` idle seconds (0: off), as Redis's tcp-keepalive, so a
// peer that vanished without a FIN or RST (a half-open connection) is found and closed.
void tune_accepted(int fd, int keepalive_s = 0);
// Creates an eventfd for cross-shard wake-ups.
int make_eventfd();
// Adds one to an eventfd (async-signal-safe, any thread).
void signal_eventfd(int fd);

}  // namespace fanout
