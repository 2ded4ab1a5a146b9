// Server configuration, filled from the command line by tools/fanoutd and read-only afterwards
// (shared by every shard without synchronisation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/backpressure.h"
#include "core/resp_parser.h"

namespace fanout {

struct ServerConfig {
  std::string bind = "127.0.0.1";
  int port = 7379;
  int shards = 0;  // 0: one per core
  std::string backend = "epoll";
  size_t max_clients = 100'000;
  OutputLimits output;                     // per-client pubsub output limits and policy
  size_t max_queued_bytes = 2ull << 30;    // process-wide cap on queued output
  size_t max_query_buffer = 64u << 20;     // per-client unparsed input
  RequestLimits request;                   // bulk length, argument count, inline length
  size_t copy_threshold = 0;               // pushes at most this long are copied, not referenced
  size_t iov_batch = 256;                  // iovecs per sendmsg
  size_t max_send_bytes = 512u << 10;      // bytes per client per loop iteration
  size_t mailbox_depth = 16'384;           // items per shard-to-shard ring
  int shutdown_timeout_ms = 5'000;
  int idle_timeout_s = 0;      // close clients silent this long (0: never); subscribers exempt, as in Redis
  int request_timeout_s = 60;  // close a client whose command stays incomplete this long (slowloris)
  int tcp_keepalive_s = 300;   // keepalive idle seconds on accepted sockets, for half-open peers (0: off)
  std::string requirepass;     // AUTH password for the default user (empty: none, as in Redis)
  std::string aclfile;         // users and rights, Redis ACL file syntax (read at start)
  std::string acl_rules;       // more ACL file lines, applied after aclfile (tests, embedding)
  bool protected_mode = true;  // refuse a non-loopback bind without requirepass
  // Per connection, so one client cannot make every PUBLISH expensive or hold unbounded memory.
  size_t max_channels_per_client = 100'000;  // channels + shard channels subscribed
  size_t max_patterns_per_client = 1'000;    // patterns subscribed
  size_t max_channel_len = 64u << 10;        // bytes in a channel name (subscribed)
  size_t max_pattern_len = 1024;             // bytes in a pattern
  size_t max_pattern_wildcards = 32;         // '*' runs, '?' and '[...]' sets in a pattern
  size_t uring_sq_entries = 4096;          // io_uring: submission queue entries per shard (a power of two)
  size_t uring_buffers = 1024;             // io_uring: receive buffers per shard (a power of two)
  size_t uring_buffer_size = 16u << 10;    // io_uring: bytes per receive buffer
  bool uring_fixed_files = true;           // io_uring: sockets in the registered file table
};

}  // namespace fanout
