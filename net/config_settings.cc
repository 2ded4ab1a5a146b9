// The settings table: every setting of ServerConfig once, with its flag name, Redis's name where
// Redis has the same setting, help, range, unit and whether CONFIG SET may change it live
// (net/config.h's Setting). Parsing, files and CONFIG REWRITE are in config.cc.
#include <climits>
#include <cstdint>

#include "net/config.h"

namespace fanout {
namespace {

constexpr uint64_t kKiB = 1024, kMiB = kKiB << 10, kGiB = kMiB << 10, kTiB = kGiB << 10;

// Table rows. NUMBER and SIZE read and write an integer field (cast checked by the range);
// the range check happens before any value is stored.
#define FANOUT_NUMBER(flag, field, lo, hi, unit, help)                                         \
  Setting {                                                                                    \
    flag, Setting::Kind::kNumber, help, lo, hi, unit, false, nullptr,                          \
        [](const ServerConfig& c) { return static_cast<uint64_t>(c.field); },                  \
        [](ServerConfig& c, uint64_t v) { c.field = static_cast<decltype(c.field)>(v); }       \
  }
#define FANOUT_SIZE(flag, field, lo, hi, help)                                                 \
  Setting {                                                                                    \
    flag, Setting::Kind::kSize, help, lo, hi, "bytes", false, nullptr,                         \
        [](const ServerConfig& c) { return static_cast<uint64_t>(c.field); },                  \
        [](ServerConfig& c, uint64_t v) { c.field = static_cast<decltype(c.field)>(v); }       \
  }
#define FANOUT_POW2(flag, field, lo, hi, help)                                                 \
  Setting {                                                                                    \
    flag, Setting::Kind::kNumber, help, lo, hi, "", true, nullptr,                             \
        [](const ServerConfig& c) { return static_cast<uint64_t>(c.field); },                  \
        [](ServerConfig& c, uint64_t v) { c.field = static_cast<decltype(c.field)>(v); }       \
  }
#define FANOUT_BOOL(flag, field, help)                                                         \
  Setting {                                                                                    \
    flag, Setting::Kind::kBool, help, 0, 1, "", false, nullptr,                                \
        [](const ServerConfig& c) { return static_cast<uint64_t>(c.field); },                  \
        [](ServerConfig& c, uint64_t v) { c.field = v != 0; }                                  \
  }
#define FANOUT_STRING(flag, field, help)                                                       \
  Setting {                                                                                    \
    flag, Setting::Kind::kString, help, 0, 0, "", false, nullptr, nullptr, nullptr,            \
        [](const ServerConfig& c) { return c.field; },                                         \
        [](ServerConfig& c, std::string_view v) { c.field.assign(v); }                         \
  }

// A row with Redis's name for it and whether CONFIG SET may change it.
constexpr Setting named(Setting s, const char* redis, bool live = false) {
  s.redis = redis;
  s.live = live;
  return s;
}
constexpr Setting live(Setting s) {
  s.live = true;
  return s;
}
constexpr bool kLive = true;

const Setting kSettings[] = {
    named(FANOUT_STRING("bind", bind,
                        "addresses to listen on, as Redis's bind: \"127.0.0.1 ::1\"; '-' marks one that may be "
                        "missing (\"-::1\"); * every IPv4 and ::* every IPv6 address; empty: no TCP"),
          "bind"),
    [] {
      Setting s = named(FANOUT_NUMBER("port", port, 0, 65535, "",
                                      "TCP port; 0: no TCP listener (as Redis); auto: a free one (tests)"),
                        "port");
      s.auto_ok = true;
      return s;
    }(),
    named(FANOUT_STRING("unixsocket", unixsocket,
                        "also listen on this unix socket path (a stale socket file is replaced)"),
          "unixsocket"),
    named(Setting{"unixsocketperm", Setting::Kind::kOctal, "the unix socket's mode, in octal (0: as the umask leaves it)",
                  0, 0777, "", false, nullptr,
                  [](const ServerConfig& c) { return static_cast<uint64_t>(c.unixsocketperm); },
                  [](ServerConfig& c, uint64_t v) { c.unixsocketperm = static_cast<uint32_t>(v); }},
          "unixsocketperm"),
    FANOUT_NUMBER("metrics-port", metrics_port, 0, 65535, "",
                  "serve HTTP GET /metrics (Prometheus) and /healthz on this port (0: off)"),
    FANOUT_STRING("metrics-bind", metrics_bind, "addresses for --metrics-port, in --bind's syntax"),
    FANOUT_NUMBER("shards", shards, 0, 256, "", "event-loop threads; 0 means one per core"),
    Setting{"backend", Setting::Kind::kChoice, "event backend", 0, 0, "", false, "epoll|io_uring",
            nullptr, nullptr, [](const ServerConfig& c) { return c.backend; },
            [](ServerConfig& c, std::string_view v) { c.backend.assign(v); }},
    named(FANOUT_NUMBER("max-clients", max_clients, 1, 10'000'000, "",
                        "connections accepted at once (lowered at start to what the descriptor limit allows)"),
          "maxclients", kLive),
    live(Setting{"policy", Setting::Kind::kChoice, "slow-subscriber policy", 0, 0, "", false,
                 "disconnect|drop-oldest|drop-newest", nullptr, nullptr,
                 [](const ServerConfig& c) { return std::string(policy_name(c.output.policy)); },
                 [](ServerConfig& c, std::string_view v) { c.output.policy = *parse_policy(v); }}),
    live(FANOUT_SIZE("client-hard-limit", output.hard_bytes, 0, kTiB,
                     "per-client queued bytes that trigger the policy at once (0: none); "
                     "client-output-buffer-limit's pubsub hard limit")),
    live(FANOUT_SIZE("client-soft-limit", output.soft_bytes, 0, kTiB,
                     "per-client queued bytes tolerated for --client-soft-seconds (0: none)")),
    live(Setting{"client-soft-seconds", Setting::Kind::kNumber, "how long the soft limit may be exceeded",
                 0, 365 * 86400, "seconds", false, nullptr,
                 [](const ServerConfig& c) { return static_cast<uint64_t>(c.output.soft_ms / 1000); },
                 [](ServerConfig& c, uint64_t v) { c.output.soft_ms = static_cast<int64_t>(v) * 1000; }}),
    live(FANOUT_NUMBER("client-max-messages", output.max_messages, 0, UINT32_MAX, "",
                       "per-client queued messages (0: none)")),
    live(FANOUT_SIZE("max-queued-bytes", max_queued_bytes, kKiB, kTiB, "process-wide cap on queued output")),
    named(FANOUT_SIZE("max-query-buffer", max_query_buffer, kKiB, kGiB,
                      "per-client unparsed input before it is closed (holds a whole command)"),
          "client-query-buffer-limit", kLive),
    named(FANOUT_SIZE("max-bulk-len", request.max_bulk_len, 1, 512 * kMiB,
                      "largest bulk string accepted: the largest message (at most --max-query-buffer)"),
          "proto-max-bulk-len", kLive),
    live(FANOUT_NUMBER("max-args", request.max_args, 1, 1 << 20, "", "most arguments in one command")),
    live(FANOUT_SIZE("max-inline", request.max_inline_len, 16, 64 * kMiB, "longest inline command line")),
    live(FANOUT_SIZE("copy-threshold", copy_threshold, 0, 64 * kKiB,
                     "messages up to this size are copied per client instead of referenced")),
    FANOUT_NUMBER("iov-batch", iov_batch, 1, 1024, "", "iovecs per sendmsg (at most IOV_MAX)"),
    live(FANOUT_SIZE("max-send-bytes", max_send_bytes, 1, kGiB, "bytes sent per client per loop iteration")),
    FANOUT_NUMBER("mailbox-depth", mailbox_depth, 1, 1 << 24, "",
                  "messages one shard-to-shard ring holds (its memory grows on demand)"),
    FANOUT_POW2("uring-sq-entries", uring_sq_entries, 8, 32768,
                "io_uring: submission queue entries per shard"),
    FANOUT_POW2("uring-buffers", uring_buffers, 16, 32768,
                "io_uring: receive buffers per shard (fewer starve busy connections)"),
    FANOUT_SIZE("uring-buffer-size", uring_buffer_size, 512, kMiB, "io_uring: bytes per receive buffer"),
    FANOUT_BOOL("uring-fixed-files", uring_fixed_files, "io_uring: put sockets in the registered file table"),
    named(FANOUT_NUMBER("idle-timeout", idle_timeout_s, 0, 10 * 365 * 86400, "seconds",
                        "close a client silent this long (0: never; subscribers exempt, as in Redis)"),
          "timeout", kLive),
    live(FANOUT_NUMBER("request-timeout", request_timeout_s, 0, 365 * 86400, "seconds",
                       "close a client whose command stays incomplete this long (0: never)")),
    named(FANOUT_NUMBER("tcp-keepalive", tcp_keepalive_s, 0, 32767, "seconds",
                        "TCP keepalive idle time on client sockets, to find half-open peers (0: off; new "
                        "connections)"),
          "tcp-keepalive", kLive),
    live(FANOUT_NUMBER("tcp-user-timeout", tcp_user_timeout_ms, 0, INT_MAX, "ms",
                       "drop a client whose sent data stays unacknowledged this long (TCP_USER_TIMEOUT; 0: "
                       "the kernel's ~15 minutes of retransmission; new connections)")),
    named(FANOUT_STRING("requirepass", requirepass, "password clients must AUTH with (default user); empty: none"),
          "requirepass", kLive),
    named(FANOUT_STRING("aclfile", aclfile,
                        "users, passwords and rights in Redis ACL file syntax (user <name> on >pass "
                        "&channel-glob ...)"),
          "aclfile"),
    named(FANOUT_BOOL("protected-mode", protected_mode,
                      "refuse to listen on a non-loopback address while clients need no password"),
          "protected-mode"),
    live(FANOUT_NUMBER("max-channels-per-client", max_channels_per_client, 1, 1 << 24, "",
                       "channels (and shard channels) one client may subscribe to")),
    live(FANOUT_NUMBER("max-patterns-per-client", max_patterns_per_client, 0, 1 << 20, "",
                       "patterns one client may subscribe to")),
    live(FANOUT_SIZE("max-channel-len", max_channel_len, 1, 64 * kMiB,
                     "longest channel name a client may subscribe to")),
    live(FANOUT_SIZE("max-pattern-len", max_pattern_len, 1, 64 * kKiB, "longest pattern a client may subscribe to")),
    live(FANOUT_NUMBER("max-pattern-wildcards", max_pattern_wildcards, 0, 1024, "",
                       "most wildcards ('*' runs, '?' and '[...]' sets) in one pattern")),
    FANOUT_BOOL("proxy-protocol", proxy_protocol,
                "connections from --proxy-protocol-from begin with a PROXY protocol v1/v2 header naming the "
                "client (behind HAProxy or a cloud load balancer)"),
    FANOUT_STRING("proxy-protocol-from", proxy_protocol_from,
                  "the balancers' addresses, as address blocks (\"10.0.0.0/8 ::1\"); their connections must send "
                  "the header, others may not"),
    [] {
      Setting s = named(FANOUT_NUMBER("tls-port", tls_port, 0, 65535, "",
                                      "TLS port for clients at every --bind address (0: no TLS; auto: a free one)"),
                        "tls-port");
      s.auto_ok = true;
      return s;
    }(),
    named(FANOUT_STRING("tls-cert-file", tls_cert_file, "the server's certificate chain (PEM); reloaded on SIGHUP"),
          "tls-cert-file", kLive),
    named(FANOUT_STRING("tls-key-file", tls_key_file, "the certificate's private key (PEM); reloaded on SIGHUP"),
          "tls-key-file", kLive),
    named(FANOUT_STRING("tls-key-file-pass", tls_key_file_pass, "the passphrase of an encrypted --tls-key-file"),
          "tls-key-file-pass", kLive),
    named(FANOUT_STRING("tls-ca-cert-file", tls_ca_cert_file,
                        "CA certificates (PEM) that client certificates must chain to"),
          "tls-ca-cert-file", kLive),
    named(FANOUT_STRING("tls-ca-cert-dir", tls_ca_cert_dir, "a directory of CA certificates (c_rehash layout)"),
          "tls-ca-cert-dir", kLive),
    named(Setting{"tls-auth-clients", Setting::Kind::kChoice,
                  "client certificates: yes (required, as Redis's default), optional (verified when sent), no", 0, 0,
                  "", false, "yes|no|optional", nullptr, nullptr,
                  [](const ServerConfig& c) { return c.tls_auth_clients; },
                  [](ServerConfig& c, std::string_view v) { c.tls_auth_clients.assign(v); }},
          "tls-auth-clients", kLive),
    named(FANOUT_STRING("tls-protocols", tls_protocols,
                        "TLS versions accepted, space-separated (TLSv1.2, TLSv1.3; empty: both)"),
          "tls-protocols", kLive),
    named(FANOUT_STRING("tls-ciphers", tls_ciphers, "TLS 1.2 ciphers, OpenSSL's cipher list syntax (empty: OpenSSL's)"),
          "tls-ciphers", kLive),
    named(FANOUT_STRING("tls-ciphersuites", tls_ciphersuites,
                        "TLS 1.3 cipher suites, colon-separated (empty: OpenSSL's)"),
          "tls-ciphersuites", kLive),
    named(FANOUT_BOOL("tls-prefer-server-ciphers", tls_prefer_server_ciphers,
                      "choose the cipher by the server's order, not the client's"),
          "tls-prefer-server-ciphers", kLive),
    named(FANOUT_BOOL("tls-session-caching", tls_session_caching,
                      "let clients resume TLS sessions (a cache, and tickets for TLS 1.3)"),
          "tls-session-caching", kLive),
    named(FANOUT_NUMBER("tls-session-cache-size", tls_session_cache_size, 1, 10'000'000, "",
                        "TLS sessions cached for resumption"),
          "tls-session-cache-size", kLive),
    named(FANOUT_NUMBER("tls-session-cache-timeout", tls_session_cache_timeout_s, 1, 86400 * 7, "seconds",
                        "how long a cached TLS session may be resumed"),
          "tls-session-cache-timeout", kLive),
    live(FANOUT_NUMBER("tls-handshake-timeout", tls_handshake_timeout_ms, 100, 600'000, "ms",
                  "close a TLS client whose handshake is not done after this long")),
    live(Setting{"tls-ktls", Setting::Kind::kChoice,
                 "kernel TLS for sending: auto (after the handshake, when the kernel's tls module was found at "
                 "start and the cipher is AES-GCM or ChaCha20-Poly1305) or no (always in userspace); for "
                 "connections accepted after a change", 0, 0, "", false, "auto|no", nullptr, nullptr,
                 [](const ServerConfig& c) { return c.tls_ktls; },
                 [](ServerConfig& c, std::string_view v) { c.tls_ktls.assign(v); }}),
    named(FANOUT_BOOL("cluster-enabled", cluster_enabled,
                      "answer as a Redis Cluster of one node owning every slot (CLUSTER SLOTS, SHARDS, NODES, "
                      "INFO...), so cluster clients connect; no: as a standalone Redis"),
          "cluster-enabled"),
    named(FANOUT_STRING("cluster-announce-ip", cluster_announce_ip,
                        "the address CLUSTER SLOTS/SHARDS/NODES give clients (empty: the one each client reached)"),
          "cluster-announce-ip", kLive),
    named(FANOUT_NUMBER("cluster-announce-port", cluster_announce_port, 0, 65535, "",
                        "the plaintext port CLUSTER SLOTS/SHARDS/NODES give clients (0: --port)"),
          "cluster-announce-port", kLive),
    named(FANOUT_NUMBER("cluster-announce-tls-port", cluster_announce_tls_port, 0, 65535, "",
                        "the TLS port CLUSTER SLOTS/SHARDS/NODES give TLS clients (0: --tls-port)"),
          "cluster-announce-tls-port", kLive),
    live(FANOUT_NUMBER("shutdown-timeout-ms", shutdown_timeout_ms, 0, 3'600'000, "ms",
                       "how long shutdown waits to flush queued output")),
    FANOUT_STRING("upstream", upstream,
                  "join a tier through these NATS servers: nats://[user:pass@]host[:port], comma-separated "
                  "(empty: a single node; tls:// is not supported yet)"),
    FANOUT_STRING("upstream-user", upstream_user, "the NATS user (with --upstream-password-file)"),
    FANOUT_STRING("upstream-password-file", upstream_password_file, "a file whose first line is the NATS password"),
    FANOUT_STRING("upstream-token-file", upstream_token_file, "a file whose first line is the NATS auth token"),
    FANOUT_NUMBER("upstream-ping-interval", upstream_ping_interval_ms, 100, 3'600'000, "ms",
                  "PING the NATS server this often; two unanswered mean the link is dead (reconnect)"),
    FANOUT_STRING("upstream-name", upstream_name,
                  "this node's id in the tier, unique per node (empty: host name, pid and random bytes)"),
    FANOUT_STRING("upstream-prefix", upstream_prefix, "the tier's NATS subject namespace (ends with '.')"),
    FANOUT_NUMBER("upstream-linger", upstream_linger_ms, 0, 3'600'000, "ms",
                  "how long an upstream subscription outlives its last local subscriber (churn stays local)"),
    FANOUT_SIZE("upstream-pending-bytes", upstream_pending_bytes, 0, kTiB,
                "publishes kept for the NATS link while it is down; past this the oldest are dropped and counted"),
    live(Setting{"log-level", Setting::Kind::kChoice, "log level (Redis's loglevel: debug, verbose and notice, "
                 "warning)", 0, 0, "", false, "debug|info|warn|error", nullptr, nullptr,
                 [](const ServerConfig& c) { return c.log_level; },
                 [](ServerConfig& c, std::string_view v) { c.log_level.assign(v); }}),
    live(Setting{"log-format", Setting::Kind::kChoice,
                 "text (time=... level=... msg=\"...\" key=value ...) or json (one object per line)", 0, 0, "",
                 false, "text|json", nullptr, nullptr, [](const ServerConfig& c) { return c.log_format; },
                 [](ServerConfig& c, std::string_view v) { c.log_format.assign(v); }}),
};

#undef FANOUT_NUMBER
#undef FANOUT_SIZE
#undef FANOUT_POW2
#undef FANOUT_BOOL
#undef FANOUT_STRING

}  // namespace

std::span<const Setting> server_settings() { return kSettings; }

}  // namespace fanout
