// fanoutd: the Fanout pub/sub server. Parses flags, starts the broker, prints the address it
// listens on, and on SIGINT/SIGTERM drains queued output (bounded by a deadline) and exits 0.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>

#include "net/broker.h"
#include "net/config.h"
#include "net/log.h"
#include "net/read_file.h"
#include "tools/flags.h"

using namespace fanout;

namespace {

// The first line of a file, without its line ending; false with *err if unreadable or empty.
bool read_first_line(const std::string& path, std::string* out, std::string* err) {
  std::string text;
  if (!read_file(path, &text, err)) return false;
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    *err = path + " has no password on its first line";
    return false;
  }
  *out = std::move(line);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  ServerConfig cfg;
  std::string log_level = "info";
  size_t max_bulk = cfg.request.max_bulk_len, max_inline = cfg.request.max_inline_len,
         max_args = cfg.request.max_args;
  int64_t soft_seconds = cfg.output.soft_ms / 1000;
  Flags flags(
      "fanoutd: a sharded pub/sub relay that speaks the Redis pub/sub protocol.\n"
      "usage: fanoutd [--bind 127.0.0.1] [--port 7379] [--shards N] [--backend epoll|io_uring]");
  flags.add_string("bind", &cfg.bind, "address to listen on (IPv4 or IPv6)");
  flags.add_int("port", &cfg.port, "TCP port; 0 picks a free one");
  flags.add_int("shards", &cfg.shards, "event-loop threads; 0 means one per core");
  flags.add_string("backend", &cfg.backend, "event backend: epoll or io_uring");
  flags.add_size("max-clients", &cfg.max_clients, "connections accepted at once");
  flags.add_custom("policy", "disconnect", "slow-subscriber policy: disconnect|drop-oldest|drop-newest",
                   [&](const std::string& s) {
                     auto p = parse_policy(s);
                     if (!p) return "--policy must be disconnect, drop-oldest or drop-newest, got '" + s + "'";
                     cfg.output.policy = *p;
                     return std::string();
                   });
  flags.add_size("client-hard-limit", &cfg.output.hard_bytes, "per-client queued bytes that trigger the policy at once (0: none)");
  flags.add_size("client-soft-limit", &cfg.output.soft_bytes, "per-client queued bytes tolerated for --client-soft-seconds (0: none)");
  flags.add_int64("client-soft-seconds", &soft_seconds, "how long the soft limit may be exceeded");
  flags.add_size("client-max-messages", &cfg.output.max_messages, "per-client queued messages (0: none)");
  flags.add_size("max-queued-bytes", &cfg.max_queued_bytes, "process-wide cap on queued output");
  flags.add_size("max-query-buffer", &cfg.max_query_buffer, "per-client unparsed input before it is closed");
  flags.add_size("max-bulk-len", &max_bulk, "largest bulk string accepted");
  flags.add_size("max-args", &max_args, "most arguments in one command");
  flags.add_size("max-inline", &max_inline, "longest inline command line");
  flags.add_size("copy-threshold", &cfg.copy_threshold, "messages up to this size are copied per client instead of referenced");
  flags.add_size("iov-batch", &cfg.iov_batch, "iovecs per sendmsg (at most IOV_MAX)");
  flags.add_size("max-send-bytes", &cfg.max_send_bytes, "bytes sent per client per loop iteration");
  flags.add_size("mailbox-depth", &cfg.mailbox_depth, "messages per shard-to-shard ring");
  flags.add_size("uring-sq-entries", &cfg.uring_sq_entries, "io_uring: submission queue entries per shard (a power of two)");
  flags.add_size("uring-buffers", &cfg.uring_buffers, "io_uring: receive buffers per shard (a power of two)");
  flags.add_size("uring-buffer-size", &cfg.uring_buffer_size, "io_uring: bytes per receive buffer");
  flags.add_bool("uring-fixed-files", &cfg.uring_fixed_files, "io_uring: put sockets in the registered file table");
  flags.add_int("idle-timeout", &cfg.idle_timeout_s, "close a client silent this many seconds (0: never; subscribers exempt, as in Redis)");
  flags.add_int("request-timeout", &cfg.request_timeout_s, "close a client whose command stays incomplete this many seconds (0: never)");
  flags.add_int("tcp-keepalive", &cfg.tcp_keepalive_s, "TCP keepalive idle seconds on client sockets, to find half-open peers (0: off)");
  flags.add_string("requirepass", &cfg.requirepass, "password clients must AUTH with (default user); empty: none");
  std::string requirepass_file;
  flags.add_string("requirepass-file", &requirepass_file, "read the default user's password from this file (its first line), keeping it out of the process list");
  flags.add_string("aclfile", &cfg.aclfile, "users, passwords and rights in Redis ACL file syntax (user <name> on >pass &channel-glob +publish ...)");
  flags.add_bool("protected-mode", &cfg.protected_mode, "refuse to listen on a non-loopback address without --requirepass");
  flags.add_size("max-channels-per-client", &cfg.max_channels_per_client, "channels (and shard channels) one client may subscribe to");
  flags.add_size("max-patterns-per-client", &cfg.max_patterns_per_client, "patterns one client may subscribe to");
  flags.add_size("max-channel-len", &cfg.max_channel_len, "longest channel name a client may subscribe to");
  flags.add_size("max-pattern-len", &cfg.max_pattern_len, "longest pattern a client may subscribe to");
  flags.add_size("max-pattern-wildcards", &cfg.max_pattern_wildcards, "most wildcards ('*' runs, '?', '[...]') in one pattern");
  flags.add_int("shutdown-timeout-ms", &cfg.shutdown_timeout_ms, "how long shutdown waits to flush queued output");
  flags.add_string("log-level", &log_level, "debug|info|warn|error");
  int exit_code = 0;
  if (!flags.parse_main(argc, argv, "fanoutd", &exit_code)) return exit_code;
  std::string err;
  LogLevel level;
  if (!parse_log_level(log_level, &level)) {
    std::fprintf(stderr, "fanoutd: --log-level must be debug, info, warn or error\n");
    return 2;
  }
  set_log_level(level);
  if (!requirepass_file.empty()) {
    if (!cfg.requirepass.empty()) {
      std::fprintf(stderr, "fanoutd: give --requirepass or --requirepass-file, not both\n");
      return 2;
    }
    if (!read_first_line(requirepass_file, &cfg.requirepass, &err)) {
      std::fprintf(stderr, "fanoutd: --requirepass-file: %s\n", err.c_str());
      return 2;
    }
  }
  cfg.output.soft_ms = soft_seconds * 1000;
  cfg.request.max_bulk_len = max_bulk;
  cfg.request.max_inline_len = max_inline;
  cfg.request.max_args = max_args;
  if (cfg.iov_batch == 0 || cfg.iov_batch > IOV_MAX) {
    std::fprintf(stderr, "fanoutd: --iov-batch must be between 1 and %d\n", IOV_MAX);
    return 2;
  }
  if (cfg.port < 0 || cfg.port > 65535) {
    std::fprintf(stderr, "fanoutd: --port must be between 0 and 65535\n");
    return 2;
  }

  // Signals are taken synchronously by the main thread; shard threads inherit the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // belt and braces: every send already uses MSG_NOSIGNAL

  Broker broker(cfg);
  if (!broker.start(&err)) {
    LOG_ERROR("cannot start: %s", err.c_str());
    return 1;
  }
  std::printf("listening on %s\n", broker.endpoint().c_str());
  std::fflush(stdout);
  LOG_OK("fanoutd ready: %d shard(s), %s backend, policy %s", broker.shards(), cfg.backend.c_str(),
         std::string(policy_name(cfg.output.policy)).c_str());

  int sig = 0;
  sigwait(&set, &sig);
  LOG_INFO("%s received: draining (up to %d ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
           cfg.shutdown_timeout_ms);
  broker.stop();
  broker.join();
  LOG_OK("fanoutd stopped");
  return 0;
}
