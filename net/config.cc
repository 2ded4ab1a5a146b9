#include "net/config.h"

#include <algorithm>
#include <climits>
#include <cstdio>

#include "core/ascii.h"
#include "core/units.h"

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

const Setting kSettings[] = {
    FANOUT_STRING("bind", bind,
                  "addresses to listen on, as Redis's bind: \"127.0.0.1 ::1\"; '-' marks one that may be "
                  "missing (\"-::1\"); * every IPv4 and ::* every IPv6 address; empty: no TCP"),
    FANOUT_NUMBER("port", port, 0, 65535, "", "TCP port; 0 picks a free one"),
    FANOUT_STRING("unixsocket", unixsocket, "also listen on this unix socket path (a stale socket file is replaced)"),
    Setting{"unixsocketperm", Setting::Kind::kOctal, "the unix socket's mode, in octal (0: as the umask leaves it)",
            0, 0777, "", false, nullptr,
            [](const ServerConfig& c) { return static_cast<uint64_t>(c.unixsocketperm); },
            [](ServerConfig& c, uint64_t v) { c.unixsocketperm = static_cast<uint32_t>(v); }},
    FANOUT_NUMBER("metrics-port", metrics_port, 0, 65535, "",
                  "serve HTTP GET /metrics (Prometheus) and /healthz on this port (0: off)"),
    FANOUT_STRING("metrics-bind", metrics_bind, "addresses for --metrics-port, in --bind's syntax"),
    FANOUT_NUMBER("shards", shards, 0, 256, "", "event-loop threads; 0 means one per core"),
    Setting{"backend", Setting::Kind::kChoice, "event backend", 0, 0, "", false, "epoll|io_uring",
            nullptr, nullptr, [](const ServerConfig& c) { return c.backend; },
            [](ServerConfig& c, std::string_view v) { c.backend.assign(v); }},
    FANOUT_NUMBER("max-clients", max_clients, 1, 10'000'000, "",
                  "connections accepted at once (lowered at start to what the descriptor limit allows)"),
    Setting{"policy", Setting::Kind::kChoice, "slow-subscriber policy", 0, 0, "", false,
            "disconnect|drop-oldest|drop-newest", nullptr, nullptr,
            [](const ServerConfig& c) { return std::string(policy_name(c.output.policy)); },
            [](ServerConfig& c, std::string_view v) { c.output.policy = *parse_policy(v); }},
    FANOUT_SIZE("client-hard-limit", output.hard_bytes, 0, kTiB,
                "per-client queued bytes that trigger the policy at once (0: none)"),
    FANOUT_SIZE("client-soft-limit", output.soft_bytes, 0, kTiB,
                "per-client queued bytes tolerated for --client-soft-seconds (0: none)"),
    Setting{"client-soft-seconds", Setting::Kind::kNumber, "how long the soft limit may be exceeded",
            0, 365 * 86400, "seconds", false, nullptr,
            [](const ServerConfig& c) { return static_cast<uint64_t>(c.output.soft_ms / 1000); },
            [](ServerConfig& c, uint64_t v) { c.output.soft_ms = static_cast<int64_t>(v) * 1000; }},
    FANOUT_NUMBER("client-max-messages", output.max_messages, 0, UINT32_MAX, "",
                  "per-client queued messages (0: none)"),
    FANOUT_SIZE("max-queued-bytes", max_queued_bytes, kKiB, kTiB, "process-wide cap on queued output"),
    FANOUT_SIZE("max-query-buffer", max_query_buffer, kKiB, kGiB,
                "per-client unparsed input before it is closed (holds a whole command)"),
    FANOUT_SIZE("max-bulk-len", request.max_bulk_len, 1, 512 * kMiB,
                "largest bulk string accepted: the largest message (at most --max-query-buffer)"),
    FANOUT_NUMBER("max-args", request.max_args, 1, 1 << 20, "", "most arguments in one command"),
    FANOUT_SIZE("max-inline", request.max_inline_len, 16, 64 * kMiB, "longest inline command line"),
    FANOUT_SIZE("copy-threshold", copy_threshold, 0, 64 * kKiB,
                "messages up to this size are copied per client instead of referenced"),
    FANOUT_NUMBER("iov-batch", iov_batch, 1, 1024, "", "iovecs per sendmsg (at most IOV_MAX)"),
    FANOUT_SIZE("max-send-bytes", max_send_bytes, 1, kGiB, "bytes sent per client per loop iteration"),
    FANOUT_NUMBER("mailbox-depth", mailbox_depth, 1, 1 << 24, "",
                  "messages one shard-to-shard ring holds (its memory grows on demand)"),
    FANOUT_POW2("uring-sq-entries", uring_sq_entries, 8, 32768,
                "io_uring: submission queue entries per shard"),
    FANOUT_POW2("uring-buffers", uring_buffers, 16, 32768,
                "io_uring: receive buffers per shard (fewer starve busy connections)"),
    FANOUT_SIZE("uring-buffer-size", uring_buffer_size, 512, kMiB, "io_uring: bytes per receive buffer"),
    FANOUT_BOOL("uring-fixed-files", uring_fixed_files, "io_uring: put sockets in the registered file table"),
    FANOUT_NUMBER("idle-timeout", idle_timeout_s, 0, 10 * 365 * 86400, "seconds",
                  "close a client silent this long (0: never; subscribers exempt, as in Redis)"),
    FANOUT_NUMBER("request-timeout", request_timeout_s, 0, 365 * 86400, "seconds",
                  "close a client whose command stays incomplete this long (0: never)"),
    FANOUT_NUMBER("tcp-keepalive", tcp_keepalive_s, 0, 32767, "seconds",
                  "TCP keepalive idle time on client sockets, to find half-open peers (0: off)"),
    FANOUT_NUMBER("tcp-user-timeout", tcp_user_timeout_ms, 0, INT_MAX, "ms",
                  "drop a client whose sent data stays unacknowledged this long (TCP_USER_TIMEOUT; 0: "
                  "the kernel's ~15 minutes of retransmission)"),
    FANOUT_STRING("requirepass", requirepass, "password clients must AUTH with (default user); empty: none"),
    FANOUT_STRING("aclfile", aclfile,
                  "users, passwords and rights in Redis ACL file syntax (user <name> on >pass &channel-glob ...)"),
    FANOUT_BOOL("protected-mode", protected_mode,
                "refuse to listen on a non-loopback address while clients need no password"),
    FANOUT_NUMBER("max-channels-per-client", max_channels_per_client, 1, 1 << 24, "",
                  "channels (and shard channels) one client may subscribe to"),
    FANOUT_NUMBER("max-patterns-per-client", max_patterns_per_client, 0, 1 << 20, "",
                  "patterns one client may subscribe to"),
    FANOUT_SIZE("max-channel-len", max_channel_len, 1, 64 * kMiB, "longest channel name a client may subscribe to"),
    FANOUT_SIZE("max-pattern-len", max_pattern_len, 1, 64 * kKiB, "longest pattern a client may subscribe to"),
    FANOUT_NUMBER("max-pattern-wildcards", max_pattern_wildcards, 0, 1024, "",
                  "most wildcards ('*' runs, '?' and '[...]' sets) in one pattern"),
    FANOUT_NUMBER("shutdown-timeout-ms", shutdown_timeout_ms, 0, 3'600'000, "ms",
                  "how long shutdown waits to flush queued output"),
};

#undef FANOUT_NUMBER
#undef FANOUT_SIZE
#undef FANOUT_POW2
#undef FANOUT_BOOL
#undef FANOUT_STRING

bool choice_allowed(const Setting& s, std::string_view v) {
  std::string_view all = s.choices;
  while (!all.empty()) {
    size_t bar = all.find('|');
    if (all.substr(0, bar) == v) return true;
    if (bar == std::string_view::npos) break;
    all.remove_prefix(bar + 1);
  }
  return false;
}

std::string range_error(const Setting& s, const std::string& got) {
  if (s.kind == Setting::Kind::kChoice) {
    std::string list = s.choices;
    for (char& c : list) c = c == '|' ? ',' : c;
    return "--" + std::string(s.name) + " must be one of " + list + ", got '" + got + "'";
  }
  if (s.kind == Setting::Kind::kBool) {
    return "--" + std::string(s.name) + " must be true or false (yes/no, 1/0), got '" + got + "'";
  }
  return "--" + std::string(s.name) + " must be " + setting_range(s) + ", got " + got;
}

std::string octal(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%llo", static_cast<unsigned long long>(v));
  return buf;
}

// An octal number ("700", "0700"), as Redis reads an OCTAL_CONFIG.
bool parse_octal(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 21) return false;
  uint64_t v = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '7') return false;
    v = v * 8 + static_cast<uint64_t>(ch - '0');
  }
  *out = v;
  return true;
}

bool in_range(const Setting& s, uint64_t v) {
  return v >= s.min && v <= s.max && (!s.power_of_two || (v & (v - 1)) == 0);
}

// The value as the user would write it back (numbers stored in signed fields show their sign).
std::string number_text(const Setting& s, const ServerConfig& cfg) {
  uint64_t v = s.get(cfg);
  if (v > (1ull << 62)) return std::to_string(static_cast<int64_t>(v));  // a negative int field
  return std::to_string(v);
}

}  // namespace

std::span<const Setting> server_settings() { return kSettings; }

const Setting* find_setting(std::string_view name) {
  for (const Setting& s : kSettings) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

std::string setting_range(const Setting& s) {
  if (s.kind == Setting::Kind::kOctal) return "an octal mode between " + octal(s.min) + " and " + octal(s.max);
  auto unit = [&](uint64_t v) {
    std::string t = std::to_string(v);
    if (s.kind == Setting::Kind::kSize && v >= kKiB && v % kKiB == 0) {
      const char* suffix[] = {"k", "m", "g", "t"};
      int i = -1;
      while (v >= kKiB && v % kKiB == 0 && i < 3) {
        v /= kKiB;
        ++i;
      }
      t = std::to_string(v) + suffix[i];
    }
    return t;
  };
  std::string r = std::string(s.power_of_two ? "a power of two " : "") + "between " + unit(s.min) +
                  " and " + unit(s.max);
  if (*s.unit) r += std::string(" ") + s.unit;
  return r;
}

std::string set_setting(ServerConfig& cfg, const Setting& s, std::string_view text) {
  const std::string got(text);
  switch (s.kind) {
    case Setting::Kind::kString:
      s.set_text(cfg, text);
      return {};
    case Setting::Kind::kChoice:
      if (!choice_allowed(s, text)) return range_error(s, got);
      s.set_text(cfg, text);
      return {};
    case Setting::Kind::kBool: {
      std::string t = lowercase(text);
      if (t.empty() || t == "true" || t == "yes" || t == "1") {
        s.set(cfg, 1);
      } else if (t == "false" || t == "no" || t == "0") {
        s.set(cfg, 0);
      } else {
        return range_error(s, got);
      }
      return {};
    }
    case Setting::Kind::kNumber:
    case Setting::Kind::kSize:
    case Setting::Kind::kOctal: {
      uint64_t v;
      bool ok = s.kind == Setting::Kind::kSize    ? parse_size(text, &v)
                : s.kind == Setting::Kind::kOctal ? parse_octal(text, &v)
                                                  : parse_unsigned(text, &v);
      if (!ok || !in_range(s, v)) return range_error(s, "'" + got + "'");
      s.set(cfg, v);
      return {};
    }
  }
  return {};
}

std::string setting_text(const ServerConfig& cfg, const Setting& s) {
  switch (s.kind) {
    case Setting::Kind::kString:
    case Setting::Kind::kChoice: return s.get_text(cfg);
    case Setting::Kind::kBool: return s.get(cfg) ? "true" : "false";
    case Setting::Kind::kOctal: return octal(s.get(cfg));
    default: return number_text(s, cfg);
  }
}

std::vector<std::pair<std::string, std::string>> config_parameters(const ServerConfig& cfg) {
  std::vector<std::pair<std::string, std::string>> out;
  auto yes_no = [](bool b) { return std::string(b ? "yes" : "no"); };
  // Redis's names for what Fanout has too.
  out.emplace_back("bind", cfg.bind);
  out.emplace_back("port", std::to_string(cfg.port));
  out.emplace_back("unixsocket", cfg.unixsocket);
  out.emplace_back("unixsocketperm", octal(cfg.unixsocketperm));
  out.emplace_back("maxclients", std::to_string(cfg.max_clients));
  out.emplace_back("timeout", std::to_string(cfg.idle_timeout_s));
  out.emplace_back("tcp-keepalive", std::to_string(cfg.tcp_keepalive_s));
  out.emplace_back("protected-mode", yes_no(cfg.protected_mode));
  out.emplace_back("requirepass", cfg.requirepass);
  out.emplace_back("aclfile", cfg.aclfile);
  out.emplace_back("client-query-buffer-limit", std::to_string(cfg.max_query_buffer));
  out.emplace_back("proto-max-bulk-len", std::to_string(cfg.request.max_bulk_len));
  out.emplace_back("client-output-buffer-limit",
                   "normal 0 0 0 slave 268435456 67108864 60 pubsub " + std::to_string(cfg.output.hard_bytes) + " " +
                       std::to_string(cfg.output.soft_bytes) + " " + std::to_string(cfg.output.soft_ms / 1000));
  // Redis's, at the values that mean "off" here: nothing is stored, evicted or replicated.
  static constexpr std::pair<const char*, const char*> kOff[] = {
      {"io-threads", "1"}, {"save", ""},         {"appendonly", "no"},          {"databases", "16"},
      {"maxmemory", "0"},  {"cluster-enabled", "no"}, {"maxmemory-policy", "noeviction"}};
  for (const auto& [name, value] : kOff) out.emplace_back(name, value);
  // Fanout's own, by flag.
  static constexpr std::string_view kRedisNamed[] = {"bind", "port", "unixsocket", "unixsocketperm", "max-clients", "idle-timeout", "tcp-keepalive",
                                                     "protected-mode", "requirepass", "aclfile", "max-query-buffer",
                                                     "max-bulk-len", "client-hard-limit", "client-soft-limit",
                                                     "client-soft-seconds"};
  for (const Setting& s : server_settings()) {
    if (std::find(std::begin(kRedisNamed), std::end(kRedisNamed), s.name) != std::end(kRedisNamed)) continue;
    out.emplace_back("fanout-" + std::string(s.name), setting_text(cfg, s));
  }
  return out;
}

bool parse_bind_list(std::string_view text, std::vector<BindAddress>* out, std::string* err) {
  out->clear();
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ') {
      ++i;
      continue;
    }
    size_t end = text.find(' ', i);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(i, end - i);
    BindAddress a;
    if (word.front() == '-') {
      a.optional = true;
      word.remove_prefix(1);
    }
    if (word.empty()) {
      *err = "'-' must be followed by an address";
      return false;
    }
    a.host.assign(word);
    out->push_back(std::move(a));
    i = end;
  }
  return true;
}

std::string validate_config(const ServerConfig& cfg) {
  for (const Setting& s : kSettings) {
    if (s.kind == Setting::Kind::kChoice && !choice_allowed(s, s.get_text(cfg))) {
      return range_error(s, s.get_text(cfg));
    }
    if ((s.kind == Setting::Kind::kNumber || s.kind == Setting::Kind::kSize) && !in_range(s, s.get(cfg))) {
      return range_error(s, number_text(s, cfg));
    }
    if (s.kind == Setting::Kind::kOctal && !in_range(s, s.get(cfg))) return range_error(s, octal(s.get(cfg)));
  }
  std::vector<BindAddress> binds;
  std::string why;
  if (!parse_bind_list(cfg.bind, &binds, &why)) return "--bind: " + why;
  if (!parse_bind_list(cfg.metrics_bind, &binds, &why)) return "--metrics-bind: " + why;
  if (cfg.metrics_port != 0 && binds.empty()) return "--metrics-bind must name an address when --metrics-port is set";
  // sockaddr_un's sun_path holds 108 bytes with the terminating NUL (unix(7)).
  if (cfg.unixsocket.size() > 107) {
    return "--unixsocket must be at most 107 bytes (a unix socket path's limit), got " +
           std::to_string(cfg.unixsocket.size());
  }
  if (cfg.bind.find_first_not_of(" ") == std::string::npos && cfg.unixsocket.empty()) {
    return "--bind is empty and there is no --unixsocket: fanoutd would listen nowhere";
  }
  if (cfg.metrics_port != 0 && cfg.metrics_port == cfg.port) {
    return "--metrics-port must differ from --port (" + std::to_string(cfg.port) + ")";
  }
  // Between settings.
  if (cfg.request.max_bulk_len > cfg.max_query_buffer) {
    return "--max-bulk-len (" + std::to_string(cfg.request.max_bulk_len) +
           ") must not exceed --max-query-buffer (" + std::to_string(cfg.max_query_buffer) +
           "): a command carrying a bulk that large would be closed at the query-buffer limit";
  }
  if (static_cast<uint64_t>(cfg.uring_buffers) * cfg.uring_buffer_size > kGiB) {
    return "--uring-buffers x --uring-buffer-size must be at most 1g per shard, got " +
           std::to_string(cfg.uring_buffers) + " x " + std::to_string(cfg.uring_buffer_size);
  }
  return {};
}

}  // namespace fanout
