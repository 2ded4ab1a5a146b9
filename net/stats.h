// Statistics a shard keeps and INFO shows: each counter is declared once, in one of the X-macro
// lists below, with its INFO name; the structs, the per-shard sums and INFO's lines all come from
// those lists. Thread: each shard (and its backend) writes only its own ShardStats; any thread
// may read them (INFO on another shard, the broker), relaxed.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

namespace fanout {

// A counter written by one shard and read by any: relaxed, no lock prefix on the add.
struct Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  void set(uint64_t n) { v.store(n, std::memory_order_relaxed); }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

// Each list below names a figure once: X(name, kind, help). `name` is its INFO name (and, with
// "fanout_" before it, its Prometheus name: net/figures.h), `kind` Counter or Gauge (Prometheus's
// metric types), `help` what it counts, for INFO's readers and Prometheus's HELP line.

// What a backend counts, so INFO can compare the backends (INFO "# Backend"). Each backend
// writes its shard's directly.
#define FANOUT_BACKEND_COUNTERS(X)                                                                   \
  X(sendmsg_calls, Counter, "sendmsg(2) calls (epoll)")                                              \
  X(recv_calls, Counter, "recv(2) calls (epoll); multishot receives armed (io_uring)")               \
  X(accept_calls, Counter, "accept4(2) calls (epoll)")                                               \
  X(connect_calls, Counter, "connect(2) calls (epoll); connects submitted (io_uring)")               \
  X(wait_calls, Counter, "epoll_wait calls, or io_uring_enter calls that waited")                    \
  X(epoll_ctl_calls, Counter, "epoll_ctl(2) calls")                                                  \
  X(io_uring_enter_calls, Counter, "io_uring_enter calls, submitting and waiting alike")             \
  X(io_uring_register_calls, Counter, "io_uring_register calls (registered-file updates)")           \
  X(sends_submitted, Counter, "sends handed to the backend")                                         \
  X(sends_completed, Counter, "sends completed (bytes taken, or an error)")                          \
  X(short_sends, Counter, "sends that took fewer bytes than offered")                                \
  X(send_eagain, Counter, "sends that took nothing: the socket was full")                            \
  X(completions, Counter, "completions reaped (io_uring CQEs, epoll events)")                        \
  X(cq_overflows, Counter, "waits that found io_uring's completion queue overflowed")                \
  X(recv_buffers_exhausted, Counter, "multishot receives ended by an empty buffer ring")              \
  X(stale_completions, Counter, "completions for a connection slot that has a new owner")            \
  X(io_uring_registered_ring_fds, Counter, "shards whose io_uring ring fd is registered")

struct BackendCounters {
#define FANOUT_DECLARE(name, kind, help) Counter name;
  FANOUT_BACKEND_COUNTERS(FANOUT_DECLARE)
#undef FANOUT_DECLARE
};

// Counters INFO shows summed over the shards, by section, under these names.
#define FANOUT_STATS_COUNTERS(X)                                                                     \
  X(total_connections_received, Counter, "client connections accepted")                             \
  X(rejected_connections, Counter, "client connections refused at --max-clients")                    \
  X(accept_errors, Counter, "accepts that failed (EMFILE, ENFILE, ENOBUFS...)")                      \
  X(messages_published, Counter, "PUBLISH and SPUBLISH commands run")                                \
  X(messages_delivered, Counter, "pushes queued to subscribers")                                     \
  X(messages_forwarded, Counter, "message references handed to other shards")                        \
  X(total_net_output_bytes, Counter, "bytes sent to clients")                                        \
  X(protocol_errors, Counter, "clients closed for a malformed request")                              \
  X(query_buffer_closes, Counter, "clients closed for a command over --max-query-buffer")            \
  X(idle_timeouts, Counter, "clients closed after --idle-timeout without input")                     \
  X(request_timeouts, Counter, "clients closed with a command incomplete past --request-timeout")    \
  X(auth_failures, Counter, "AUTH and HELLO AUTH attempts refused")                                  \
  X(auth_failure_closes, Counter, "clients closed for failing AUTH repeatedly")                       \
  X(subscriptions_refused, Counter, "subscriptions refused by a per-client limit")                   \
  X(acl_denied, Counter, "commands refused by ACL rules")                                            \
  X(send_errors, Counter, "clients closed because a send failed (EPIPE, ETIMEDOUT...)")              \
  X(recv_errors, Counter, "clients closed because a receive failed (ECONNRESET, ETIMEDOUT...)")      \
  X(blocked_on_mailbox, Counter, "PUBLISHes that waited for room in a shard-to-shard ring")          \
  X(total_commands_processed, Counter, "commands received")                                          \
  X(total_net_input_bytes, Counter, "bytes received from clients")                                   \
  X(total_reads_processed, Counter, "receive completions that brought input")                        \
  X(total_error_replies, Counter, "error replies sent")                                              \
  X(channel_lists_refused, Counter, "PUBSUB (SHARD)CHANNELS replies refused over --max-queued-bytes") \
  X(http_connections_received, Counter, "connections accepted on --metrics-port")                    \
  X(http_requests, Counter, "HTTP requests answered on --metrics-port")                              \
  X(http_error_responses, Counter, "HTTP requests answered with a 4xx or 5xx status") \
  X(proxy_headers_accepted, Counter, "PROXY protocol headers that named a client (--proxy-protocol)") \
  X(proxy_headers_refused, Counter, "connections closed for a missing or malformed PROXY header")

// TLS clients (--tls-port): handshakes done, resumed, and failed by why.
#define FANOUT_TLS_COUNTERS(X)                                                                       \
  X(tls_handshakes, Counter, "TLS handshakes completed")                                             \
  X(tls_resumptions, Counter, "TLS handshakes that resumed an earlier session")                      \
  X(tls_handshake_failures, Counter, "TLS handshakes that failed, for any reason")                   \
  X(tls_handshake_failures_not_tls, Counter, "TLS handshakes failed: the client did not speak TLS")  \
  X(tls_handshake_failures_certificate, Counter,                                                     \
    "TLS handshakes failed: a client certificate missing or not verified, or ours refused")          \
  X(tls_handshake_failures_protocol, Counter, "TLS handshakes failed: no version or cipher in common") \
  X(tls_handshake_timeouts, Counter, "TLS handshakes not done within --tls-handshake-timeout")       \
  X(tls_handshake_failures_other, Counter, "TLS handshakes failed otherwise (the client left, a bad record)") \
  X(tls_renegotiations_refused, Counter, "TLS clients closed for asking to renegotiate")             \
  X(tls_session_errors, Counter,                                                                     \
    "established TLS clients closed for a bad record, a key-update flood or a TLS 1.2 key at its limit") \
  X(tls_key_updates, Counter,                                                                        \
    "TLS 1.3 sending keys Fanout's record writer updated (asked by the client, or at the key's limit)") \
  X(tls_clients_on_plaintext_port, Counter, "clients closed for beginning a TLS handshake on a plaintext port")                 \
  X(tls_kernel_fallbacks, Counter,                                                                   \
    "TLS clients offered kernel TLS that stayed in userspace (the kernel refused the keys)")         \
  X(tls_kernel_closes, Counter,                                                                      \
    "TLS clients on kernel TLS closed for what it cannot do (a requested key update, a key's limit)")

// The tier's link (--upstream; net/upstream.h), summed over the shards' links.
#define FANOUT_UPSTREAM_COUNTERS(X)                                                                  \
  X(upstream_messages_in, Counter, "messages the NATS upstream delivered")                          \
  X(upstream_bytes_in, Counter, "payload bytes of the messages the NATS upstream delivered")        \
  X(upstream_messages_out, Counter, "local publishes sent upstream")                                \
  X(upstream_bytes_out, Counter, "payload bytes of the local publishes sent upstream")              \
  X(upstream_echoes_dropped, Counter, "messages from upstream dropped as this node's own")          \
  X(upstream_messages_unrouted, Counter,                                                            \
    "messages from upstream for no current subscription, or on a subject this tier never writes")   \
  X(upstream_not_forwarded, Counter,                                                                \
    "local publishes not sent upstream: over NATS's max_payload or control line (delivered locally)") \
  X(upstream_pending_dropped, Counter,                                                              \
    "publishes made while the link was down and dropped past --upstream-pending-bytes")             \
  X(upstream_reconnects, Counter, "times a link that was up went down (and reconnects)")            \
  X(upstream_slow_consumer, Counter, "times the NATS server reported this node a slow consumer")    \
  X(upstream_errors, Counter, "-ERR lines the NATS servers sent (permissions, slow consumer, ...)")  \
  X(upstream_name_clashes, Counter, "messages from another node using this node's --upstream-name")  \
  X(upstream_audit_repairs, Counter, "subscriptions the audit after a (re)subscription repaired")

#define FANOUT_BACKPRESSURE_COUNTERS(X)                                                              \
  X(overflow_hard, Counter, "pushes that met a client's --client-hard-limit")                        \
  X(overflow_soft, Counter, "pushes that found a client over --client-soft-limit too long")          \
  X(overflow_messages, Counter, "pushes that met a client's --client-max-messages")                  \
  X(overflow_total_cap, Counter, "pushes that met --max-queued-bytes")                               \
  X(slow_disconnected, Counter, "slow subscribers disconnected by the policy")                        \
  X(dropped_newest, Counter, "pushes dropped by the drop-newest policy")                             \
  X(dropped_oldest, Counter, "pushes dropped by the drop-oldest policy")

// Delivery accounting (DeliveryTotals): every push owed ends in exactly one of these.
#define FANOUT_DELIVERY_COUNTERS(X)                                                                  \
  X(deliveries_due, Counter, "pushes owed to subscribers")                                           \
  X(deliveries_sent, Counter, "pushes whose last byte was sent")                                     \
  X(deliveries_discarded, Counter, "pushes still queued when their client closed")                   \
  X(deliveries_queued, Gauge, "pushes in client queues now")

// One command's latency on one shard, in microseconds: log-linear buckets, 16 per power of two
// (values kept within 6%), as Redis's latencystats keep per command (HdrHistogram, server.c).
// Written by its shard (relaxed, one writer), read by any thread for INFO's percentiles.
struct LatencyHistogram {
  static constexpr int kSubBits = 4;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;
  std::array<Counter, kBuckets> buckets;

  void record(uint64_t us) { buckets[index(us)].add(); }
  static int index(uint64_t v) {
    if (v < kSub) return static_cast<int>(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - kSubBits;
    return (shift + 1) * kSub + static_cast<int>(v >> shift) - kSub;
  }
  // The largest value bucket i holds.
  static uint64_t bucket_high(int i) {
    if (i < kSub) return static_cast<uint64_t>(i);
    int shift = i / kSub - 1;
    uint64_t base = static_cast<uint64_t>(kSub + i % kSub) << shift;
    return base + ((uint64_t{1} << shift) - 1);
  }
};

// INFO commandstats, latencystats: one command (or subcommand, "client|list") on one shard, as
// Redis counts it: calls, microseconds spent, calls refused before running (unknown subcommand,
// arity, auth, ACL, context) and calls that ran and answered an error. The histogram is made on
// the command's first call (most shards see few commands) and published with release.
struct CommandStat {
  Counter calls, usec, rejected_calls, failed_calls;
  std::atomic<LatencyHistogram*> latency{nullptr};
  ~CommandStat() { delete latency.load(std::memory_order_relaxed); }
};

// INFO errorstats: replies by their error code (the first word, as Redis counts them).
inline constexpr std::string_view kErrorCodes[] = {"ERR",     "NOAUTH",  "NOPERM", "WRONGPASS",
                                                   "EXECABORT", "NOPROTO", "OTHER"};

struct alignas(64) ShardStats {
#define FANOUT_DECLARE(name, kind, help) Counter name;
  FANOUT_STATS_COUNTERS(FANOUT_DECLARE)
  FANOUT_TLS_COUNTERS(FANOUT_DECLARE)
  FANOUT_UPSTREAM_COUNTERS(FANOUT_DECLARE)
  FANOUT_BACKPRESSURE_COUNTERS(FANOUT_DECLARE)
  FANOUT_DELIVERY_COUNTERS(FANOUT_DECLARE)
#undef FANOUT_DECLARE
  // Gauges of this shard, for INFO's sums and its "# Shards" lines. clients: Redis clients (RESP
  // connections); http_connections: the metrics endpoint's.
  Counter clients, channels, patterns, shard_channels, queued_bytes, http_connections;
  // Of `clients`, those on --tls-port: encrypted in userspace (from the accept on), or by the
  // kernel (kernel TLS, from the switch after the handshake on).
  Counter tls_userspace_clients, tls_kernel_clients;
  // The tier's link on this shard (set each iteration): 1 while up; the subscriptions it owns;
  // the bytes of publishes kept while it is down.
  Counter upstream_link_up, upstream_subscriptions, upstream_pending_bytes;
  Counter remote_batches;
  // The loop: iterations, the time they were busy (from waking to the end of the iteration, in
  // microseconds), the longest one, and how many were busier than a millisecond (a stall other
  // clients of the shard felt).
  Counter loop_iterations, loop_busy_us, loop_busy_max_us, loop_iterations_over_1ms;
  BackendCounters backend;
  // Sampled once a second by the shard: commands run in the last second, the largest client
  // query buffer and output queue (bytes), and clients waiting on a full ring.
  Counter ops_last_second, input_bytes_last_second, output_bytes_last_second;
  Counter max_client_input, max_client_output, blocked_clients;
  std::array<Counter, std::size(kErrorCodes)> errors;  // by kErrorCodes
  // Per command, indexed as CommandTable numbers them (net/commands.cc); set up before the
  // shard threads start.
  std::unique_ptr<CommandStat[]> commands;
  size_t ncommands = 0;
};

// Every push owed to a subscriber (a message matched on the subscriber's shard) ends in exactly
// one of: sent (its last byte written to the socket), dropped by the newest- or oldest-first
// policy, discarded (still queued when its connection closed, including the push that
// triggered a disconnect), or still queued. Exact once the shards are quiescent; INFO reads
// the shards without stopping them, so a live snapshot may be off by what is in motion.
struct DeliveryTotals {
  uint64_t due = 0, sent = 0, dropped_newest = 0, dropped_oldest = 0, discarded = 0, queued = 0;
  bool balanced() const {
    return due == sent + dropped_newest + dropped_oldest + discarded + queued;
  }
};

}  // namespace fanout
