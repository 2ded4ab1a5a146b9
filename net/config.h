// Server configuration and the one place its values are validated.
//
// ServerConfig is filled at start (by a config file in redis.conf syntax, by fanoutd's flags, by
// tests and embedders directly). Each shard keeps its own copy; CONFIG SET changes the live
// settings on every shard at a loop boundary (net/admin.h). server_settings() lists every setting
// once: its Fanout name, Redis's name where Redis has the same setting, help, range, unit and
// whether it may change live. Flags, file directives and CONFIG SET all go through
// apply_directive(), and validate_config() checks a whole configuration against the table plus
// the rules between settings; Broker::start calls it, so every way of configuring a server gets
// the same checks and the same errors ("--NAME must be ..., got VALUE").
//
// Names: a setting Redis also has is named as Redis names it (maxclients, timeout,
// client-query-buffer-limit...) and reads sizes in Redis's units (1k = 1000, 1kb = 1024, util.c
// memtoull); Fanout's own are "fanout-<name>" in files and CONFIG, "--<name>" on the command line.
// Every setting also answers to its Fanout name (max-clients, idle-timeout...), which reads sizes
// in binary units (1k = 1024).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/backpressure.h"
#include "core/resp_parser.h"

namespace fanout {

// --port auto: a free port the kernel picks (tests). Redis's port 0 means no TCP listener.
inline constexpr int kPortAuto = -1;

struct ServerConfig {
  ServerConfig() { request.max_bulk_len = 32u << 20; }

  // Addresses to listen on for RESP clients, as Redis's bind takes them: space-separated, each
  // an IPv4 or IPv6 address or a host name, "*" for every IPv4 address and "::*" for every IPv6
  // one; a leading '-' marks one that may be missing from this host (Redis 7.0). Empty: no TCP.
  std::string bind = "127.0.0.1";
  int port = 7379;  // kPortAuto: any free port; 0: none (as Redis)
  std::string unixsocket;       // a unix socket path to listen on too (empty: none), as Redis's
  uint32_t unixsocketperm = 0;  // its mode (octal, as Redis's unixsocketperm); 0: as the umask leaves it
  int metrics_port = 0;         // HTTP port for /metrics and /healthz (0: off)
  std::string metrics_bind = "127.0.0.1";  // addresses for it, in --bind's syntax
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
  size_t mailbox_depth = 16'384;           // items per shard-to-shard ring (they grow on demand)
  int shutdown_timeout_ms = 5'000;
  int idle_timeout_s = 0;      // close clients silent this long (0: never); subscribers exempt, as in Redis
  int request_timeout_s = 60;  // close a client whose command stays incomplete this long (slowloris)
  int tcp_keepalive_s = 300;   // keepalive idle seconds on accepted sockets, for half-open peers (0: off)
  int tcp_user_timeout_ms = 0;  // TCP_USER_TIMEOUT: drop a peer whose data stays unacknowledged (0: kernel's)
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
  size_t uring_sq_entries = 2048;          // io_uring: submission queue entries per shard (a power of two)
  size_t uring_buffers = 1024;             // io_uring: receive buffers per shard (a power of two)
  size_t uring_buffer_size = 16u << 10;    // io_uring: bytes per receive buffer
  bool uring_fixed_files = true;           // io_uring: sockets in the registered file table
  // Behind a load balancer: connections from these sources (space-separated address blocks) must
  // begin with a PROXY protocol v1 or v2 header naming the client (HAProxy's proxy-protocol.txt).
  bool proxy_protocol = false;
  std::string proxy_protocol_from;
  // TLS for clients, with Redis's names and defaults (Redis 6+, tls.c): a TLS listener on
  // tls_port at every --bind address, beside the plaintext one on port (0: off).
  int tls_port = 0;  // kPortAuto: any free port (tests)
  std::string tls_cert_file, tls_key_file, tls_key_file_pass;
  std::string tls_ca_cert_file, tls_ca_cert_dir;  // the CAs client certificates must come from
  std::string tls_auth_clients = "yes";  // yes (a certificate is required), optional, no
  std::string tls_protocols;             // "TLSv1.2 TLSv1.3" when empty, as Redis
  std::string tls_ciphers, tls_ciphersuites;  // TLS 1.2 cipher list, TLS 1.3 suites ("": OpenSSL's)
  bool tls_prefer_server_ciphers = false;
  bool tls_session_caching = true;
  size_t tls_session_cache_size = 20'480;   // sessions
  int tls_session_cache_timeout_s = 300;
  int tls_handshake_timeout_ms = 10'000;    // close a client whose handshake takes longer
  // Kernel TLS for sending (net/tls_kernel.h): auto hands a connection's encryption to the kernel
  // after its handshake when the start-up probe found the tls module and the cipher is one the
  // kernel takes (AES-128/256-GCM, ChaCha20-Poly1305; TLS 1.2 or 1.3); no keeps every one in
  // userspace. Read at each TLS accept.
  std::string tls_ktls = "auto";
  // The tier (issue 13): NATS servers to join through ("": a single node); see README "Scale out".
  std::string upstream;                   // nats://[user:pass@]host:port or tls://..., comma-separated
  std::string upstream_user;              // overrides a URL's user
  std::string upstream_password_file;     // the password, read from this file (first line)
  std::string upstream_token_file;        // an auth token, read from this file (first line)
  int upstream_ping_interval_ms = 30'000; // PING the server this often; 2 unanswered: reconnect
  std::string upstream_name;              // node id ("": host name, pid and random bytes)
  std::string upstream_prefix = "fanout.";  // subject namespace of this tier
  int upstream_linger_ms = 1'000;         // an upstream subscription outlives its last local subscriber
  size_t upstream_pending_bytes = 64u << 20;  // publishes kept while the link is down (bytes)
  // Tests only, not settings: 1 offers kernel TLS whatever the probe found (the real setsockopt
  // then decides); 2 offers it and pretends the kernel took the keys without asking it, so the
  // connection then sends its plaintext as is (only a test client expecting that may connect).
  int tls_ktls_test = 0;
  uint64_t tls_test_key_limit = 0;  // tests: bytes one key may encrypt, on kernel TLS or the record writer (0: the cipher's)
  // Redis Cluster, emulated (net/cluster_commands.cc): this server answers as a cluster of one
  // node that owns every slot, so cluster clients (ioredis Cluster, redis-py RedisCluster) connect.
  // On by default (Redis's default is no); no answers CLUSTER as a standalone Redis does.
  bool cluster_enabled = true;
  // What CLUSTER SLOTS, SHARDS and NODES tell clients to connect to (Redis's names): an address
  // ("": the local address the asking client reached), the plaintext port (0: --port) and the
  // TLS port (0: --tls-port). For a server behind NAT or a load balancer.
  std::string cluster_announce_ip;
  int cluster_announce_port = 0;
  int cluster_announce_tls_port = 0;
  std::string log_level = "info";          // debug|info|warn|error (Redis's loglevel, mapped)
  std::string log_format = "text";         // text (key=value) or json: one line per event
  // Not settings: where the configuration came from.
  std::string config_file;                 // absolute path of the file read at start ("" if none)
};

// One setting: how it is named, parsed, shown and bounded.
struct Setting {
  // kOctal: a number written in octal (a file mode), shown as Redis shows it ("700").
  enum class Kind : uint8_t { kNumber, kSize, kBool, kString, kChoice, kOctal };
  const char* name;  // the flag, without "--"
  Kind kind;
  const char* help;
  uint64_t min = 0, max = 0;  // kNumber and kSize: the inclusive range
  const char* unit = "";      // "bytes", "ms", "seconds", or "" for a count
  bool power_of_two = false;
  const char* choices = nullptr;  // kChoice: "epoll|io_uring"
  // Access to the value, as an unsigned number (kNumber, kSize, kBool) or text (kString,
  // kChoice). A number set out of range is stored as given; validate_config() reports it.
  uint64_t (*get)(const ServerConfig&) = nullptr;
  void (*set)(ServerConfig&, uint64_t) = nullptr;
  std::string (*get_text)(const ServerConfig&) = nullptr;
  void (*set_text)(ServerConfig&, std::string_view) = nullptr;
  const char* redis = nullptr;  // Redis's name for the same setting (redis.conf, CONFIG), if any
  bool live = false;            // CONFIG SET may change it while the server runs
  bool auto_ok = false;         // kNumber: "auto" is a value (stored as -1: kPortAuto)

  // The name files, CONFIG GET/SET and CONFIG REWRITE use: Redis's, else "fanout-<name>".
  std::string config_name() const;
};

// Every setting of ServerConfig that a flag, a config file or CONFIG SET can set.
std::span<const Setting> server_settings();
// The setting called `name` by any of its names (Fanout's, "fanout-<name>", Redis's), matched
// case-insensitively as Redis matches directives; *redis_named: it was Redis's name.
const Setting* find_setting(std::string_view name, bool* redis_named = nullptr);

// Parses `text` into the setting (a number, a size with k/m/g suffixes, true/false/yes/no, one of
// the choices). Returns "" or the error ("--port must be between 0 and 65535, got 'x'"), naming
// the setting as `shown` (default "--<name>"). redis_units: sizes as Redis reads them (1k = 1000).
std::string set_setting(ServerConfig& cfg, const Setting& s, std::string_view text, std::string_view shown = {},
                        bool redis_units = false);

// Where a directive comes from: its errors name it as written there ("--maxclients", "maxclients").
enum class DirectiveSource : uint8_t { kFlag, kFile, kConfigSet };
// What apply_directive did.
enum class Applied : uint8_t { kSet, kIgnored, kError };
// Applies one directive: a setting by any of its names with its argument(s) (bind takes several
// addresses; client-output-buffer-limit takes "<class> <hard> <soft> <seconds>" groups, Fanout
// keeping the pubsub class's; loglevel takes Redis's levels), or a Redis 7.0 directive Fanout has
// no use for (save, appendonly, ...: kIgnored, to be reported by the caller). kError with *err
// for an unknown directive, a wrong argument count or a bad value. Thread: any (on its own cfg).
Applied apply_directive(ServerConfig& cfg, std::string_view name, std::span<const std::string> args,
                        DirectiveSource src, std::string* err);

// Reads a config file in redis.conf syntax (Redis's config.c: one directive per line, arguments
// split as sdssplitargs splits them, '#' comments). Returns "" or the first error as
// "FILE:LINE: 'directive ...': why" (unknown directive, bad value, unbalanced quotes, unreadable
// file); *ignored lists the Redis directives it skipped. Sets cfg.config_file to the absolute
// path. Thread: any.
std::string load_config_file(const std::string& path, ServerConfig& cfg, std::vector<std::string>* ignored);

// CONFIG REWRITE (Redis's config.c rewriteConfig): the file's text with every setting whose
// directive appears in it rewritten in place to its current value (later repeats dropped),
// comments and other lines kept, and settings not in it that differ from their defaults appended.
std::string rewrite_config_text(std::string_view old_text, const ServerConfig& cfg);
// Writes rewrite_config_text() of cfg.config_file back to it atomically (a temporary file of its
// own in the same directory with the file's mode, fsync, rename). Returns "" or the error.
// Thread: any, one at a time (CONFIG REWRITE holds SharedState::config_mu).
std::string rewrite_config_file(const ServerConfig& cfg);
// The value as text, for help and CONFIG-style listings.
std::string setting_text(const ServerConfig& cfg, const Setting& s);
// The range as text ("between 1 and 1024", "a power of two between 8 and 32768").
std::string setting_range(const Setting& s);

// CONFIG GET's view of a configuration: (name, value) for every parameter, Redis's name and
// format where Redis has the same setting ("maxclients", "timeout", "client-output-buffer-limit"
// as "normal 0 0 0 slave ... pubsub <hard> <soft> <seconds>"), a Redis parameter Fanout has no
// use for at the value that means off ("save" "", "appendonly" "no"), and "fanout-<flag>" for
// Fanout's own. Thread: any.
std::vector<std::pair<std::string, std::string>> config_parameters(const ServerConfig& cfg);
// A Redis parameter Fanout shows at the value that means "off" (save "", appendonly no,
// maxmemory 0...): that value, or nullopt for any other name. Thread: any.
std::optional<std::string_view> redis_off_value(std::string_view name);

// One address of a bind list: the host as written (without the '-'), and whether it may be
// missing from this host.
struct BindAddress {
  std::string host;
  bool optional = false;
};
// Parses Redis's bind syntax (config.c, "bind"; networking listenToPort): space-separated
// addresses, each optionally prefixed with '-'. False with *err for a lone '-'. Thread: any.
bool parse_bind_list(std::string_view text, std::vector<BindAddress>* out, std::string* err);

// Checks every setting's range and the rules between settings. Returns "" or the first error,
// naming the flag and its range. Called by Broker::start; Thread: any.
std::string validate_config(const ServerConfig& cfg);

}  // namespace fanout
