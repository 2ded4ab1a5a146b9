// fanoutd: the Fanout pub/sub server. Builds its flags from the server's settings table
// (net/config), starts the broker, prints the address it listens on, and on SIGINT/SIGTERM drains
// queued output (bounded by --shutdown-timeout-ms) and exits 0. A stop request during start-up
// works too: start-up gives up at its next step and the process exits 0.
// Under systemd (Type=notify, tools/systemd/fanoutd.service) it reports READY=1 once listening,
// STATUS= lines, and STOPPING=1 when the drain begins (tools/systemd_notify.h).
// --version (or -v, as redis-server) prints the release, commit, build and libraries.
// Exit codes: 0 stopped; 2 a bad flag or setting (every one reported as "fanoutd: --flag ...");
// 1 the system refused (the port is taken, a backend the kernel lacks), or a second SIGINT or
// SIGTERM ended the drain early.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>

#include "net/broker.h"
#include "net/config.h"
#include "net/log.h"
#include "net/read_file.h"
#include "tools/build_info.h"
#include "tools/flags.h"
#include "tools/systemd_notify.h"

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

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "fanoutd: %s\n", msg.c_str());
  return 2;
}

// The flags, from the server's settings table plus fanoutd's own. Returns -1 to go on, else the
// exit code (0 after --help or --version, 2 after a bad flag).
int parse_flags(int argc, char** argv, ServerConfig* cfg) {
  if (argc == 2 && std::string_view(argv[1]) == "-v") argv[1] = const_cast<char*>("--version");
  std::string log_level = "info", log_format = "text", requirepass_file;
  bool version = false;
  Flags flags(
      "fanoutd: a sharded pub/sub relay that speaks the Redis pub/sub protocol.\n"
      "usage: fanoutd [--bind 127.0.0.1] [--port 7379] [--shards N] [--backend epoll|io_uring]");
  for (const Setting& s : server_settings()) {
    std::string help = s.help;
    if (s.kind == Setting::Kind::kNumber || s.kind == Setting::Kind::kSize) help += "; " + setting_range(s);
    if (s.kind == Setting::Kind::kChoice) help += ": " + std::string(s.choices);
    flags.add_custom(s.name, setting_text(*cfg, s), help.c_str(),
                     [cfg, &s](const std::string& v) { return set_setting(*cfg, s, v); },
                     s.kind == Setting::Kind::kBool);
  }
  flags.add_string("requirepass-file", &requirepass_file,
                   "read the default user's password from this file (its first line), keeping it out of the process list");
  flags.add_custom("log-level", log_level, "debug|info|warn|error", [&](const std::string& v) {
    LogLevel level;
    if (!parse_log_level(v, &level)) return "--log-level must be one of debug,info,warn,error, got '" + v + "'";
    log_level = v;
    return std::string();
  });
  flags.add_custom("log-format", log_format,
                   "text (time=... level=... msg=\"...\" key=value ...) or json (one object per line)",
                   [&](const std::string& v) {
                     LogFormat format;
                     if (!parse_log_format(v, &format)) return "--log-format must be one of text,json, got '" + v + "'";
                     log_format = v;
                     return std::string();
                   });
  flags.add_bool("version", &version, "print the version, git commit, build and libraries, and exit (also -v)");
  int exit_code = 0;
  if (!flags.parse_main(argc, argv, "fanoutd", &exit_code)) return exit_code;
  if (version) {
    std::fputs(version_text().c_str(), stdout);
    return 0;
  }
  LogLevel level;
  parse_log_level(log_level, &level);
  set_log_level(level);
  LogFormat format;
  parse_log_format(log_format, &format);
  set_log_format(format);
  std::string err;
  if (!requirepass_file.empty()) {
    if (!cfg->requirepass.empty()) return usage_error("give --requirepass or --requirepass-file, not both");
    if (!read_first_line(requirepass_file, &cfg->requirepass, &err)) return usage_error("--requirepass-file: " + err);
  }
  if (std::string e = validate_config(*cfg); !e.empty()) return usage_error(e);
  return -1;
}

// Runs the broker until a stop request has drained it. `set` holds the stop signals, which a
// thread of their own takes; it is ended before the broker goes away (it has either handled its
// signal, or is still waiting and is woken here).
int serve(const ServerConfig& cfg, const sigset_t& set) {
  Broker broker(cfg);
  std::atomic<bool> exiting{false};
  std::thread signals([&broker, &exiting, set] {
    int sig = 0;
    sigwait(&set, &sig);
    if (exiting.load()) return;  // the wake-up from end_signals()
    broker.stop();
    const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    systemd_notify(std::string("STOPPING=1\nSTATUS=draining: ") + name + " received");
    LOG_INFO("%s received: stopping (a second one exits at once)", name).field("signal", name);
    sigwait(&set, &sig);
    if (exiting.load()) return;
    // An operator who will not wait for the drain: leave now, saying so (exit code 1).
    LOG_WARN("%s received again: exiting without finishing the drain", sig == SIGINT ? "SIGINT" : "SIGTERM")
        .field("signal", sig == SIGINT ? "SIGINT" : "SIGTERM");
    std::_Exit(1);
  });
  auto end_signals = [&] {
    exiting = true;
    pthread_kill(signals.native_handle(), SIGTERM);
    signals.join();
  };
  std::string err;
  StartError why = StartError::kNone;
  if (!broker.start(&err, &why)) {
    end_signals();
    if (why == StartError::kStopped) {
      LOG_OK("fanoutd stopped during start-up");
      return 0;
    }
    systemd_notify("STATUS=cannot start: " + err);
    if (why == StartError::kConfig) return usage_error(err);
    LOG_ERROR("cannot start: %s", err.c_str());
    return 1;
  }
  if (broker.stop_requested()) {
    // The stop came as the last shard started: say so rather than announce a listener.
    broker.join();
    end_signals();
    LOG_OK("fanoutd stopped during start-up");
    return 0;
  }
  std::printf("listening on %s\n", broker.endpoint().c_str());
  std::fflush(stdout);
  const BuildInfo build = build_info();
  const std::string policy(policy_name(cfg.output.policy));
  LOG_OK("fanoutd ready: %d shard(s), %s backend, policy %s, max clients %zu", broker.shards(),
         cfg.backend.c_str(), policy.c_str(), broker.config().max_clients)
      .field("addr", broker.endpoint())
      .field("version", build.version)
      .field("commit", build.commit)
      .field("shards", broker.shards())
      .field("backend", cfg.backend)
      .field("policy", policy)
      .field("max_clients", broker.config().max_clients);
  // After the "listening on" line, so a client started on READY=1 finds the listener.
  systemd_notify("READY=1\nSTATUS=listening on " + broker.endpoint() + ": " + std::to_string(broker.shards()) +
                 " shard(s), " + cfg.backend + " backend, policy " + policy);
  broker.join();  // returns once a stop request has drained the shards
  end_signals();
  if (uint64_t clients = broker.undelivered_clients()) {
    LOG_WARN("fanoutd stopped at the drain deadline (--shutdown-timeout-ms %d): %llu bytes to %llu "
             "clients were not delivered", cfg.shutdown_timeout_ms,
             static_cast<unsigned long long>(broker.undelivered_bytes()),
             static_cast<unsigned long long>(clients))
        .field("undelivered_bytes", broker.undelivered_bytes())
        .field("undelivered_clients", clients);
  } else {
    LOG_OK("fanoutd stopped: every queued message was delivered");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Signals are taken synchronously by one thread of their own, from the very start: every other
  // thread (the shards included) inherits this mask, and a stop request during a slow start-up
  // reaches the broker at once.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // belt and braces: every send already uses MSG_NOSIGNAL
  ServerConfig cfg;
  if (int code = parse_flags(argc, argv, &cfg); code >= 0) return code;
  return serve(cfg, set);
}
