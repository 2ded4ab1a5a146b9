// fanoutd: the Fanout pub/sub server. Builds its flags from the server's settings table
// (net/config), starts the broker, prints the address it listens on, and on SIGINT/SIGTERM drains
// queued output (bounded by --shutdown-timeout-ms) and exits 0. A stop request during start-up
// works too: start-up gives up at its next step and the process exits 0. SIGHUP reloads the ACL
// file (as ACL LOAD does) without stopping, and logs what came of it.
// Exit codes: 0 stopped; 2 a bad flag or setting (every one reported as "fanoutd: --flag ...");
// 1 the system refused (the port is taken, a backend the kernel lacks), or a second SIGINT or
// SIGTERM ended the drain early.
#include <signal.h>
#include <unistd.h>

#include <atomic>
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

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "fanoutd: %s\n", msg.c_str());
  return 2;
}

// The flags, from the server's settings table plus fanoutd's own. Returns -1 to go on, else the
// exit code (0 after --help, 2 after a bad flag).
int parse_flags(int argc, char** argv, ServerConfig* cfg) {
  std::string log_level = "info", requirepass_file;
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
  int exit_code = 0;
  if (!flags.parse_main(argc, argv, "fanoutd", &exit_code)) return exit_code;
  LogLevel level;
  parse_log_level(log_level, &level);
  set_log_level(level);
  std::string err;
  if (!requirepass_file.empty()) {
    if (!cfg->requirepass.empty()) return usage_error("give --requirepass or --requirepass-file, not both");
    if (!read_first_line(requirepass_file, &cfg->requirepass, &err)) return usage_error("--requirepass-file: " + err);
  }
  if (std::string e = validate_config(*cfg); !e.empty()) return usage_error(e);
  return -1;
}

// Runs the broker until a stop request has drained it. `set` holds the signals (stop, and SIGHUP),
// which a thread of their own takes; it is ended before the broker goes away (it is woken here
// if still waiting).
int serve(const ServerConfig& cfg, const sigset_t& set) {
  Broker broker(cfg);
  std::atomic<bool> exiting{false};
  std::thread signals([&broker, &exiting, set] {
    bool stopping = false;
    while (true) {
      int sig = 0;
      sigwait(&set, &sig);
      if (exiting.load()) return;  // the wake-up from end_signals()
      if (sig == SIGHUP) {
        // The shards reload and log the outcome; nothing to do before they run or while stopping.
        if (broker.reload_acl()) {
          LOG_INFO("SIGHUP received: reloading the ACL file");
        } else {
          LOG_WARN("SIGHUP received while fanoutd is not serving: ignored");
        }
        continue;
      }
      const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
      if (!stopping) {
        stopping = true;
        broker.stop();
        LOG_INFO("%s received: stopping (a second one exits at once)", name);
        continue;
      }
      // An operator who will not wait for the drain: leave now, saying so (exit code 1).
      LOG_WARN("%s received again: exiting without finishing the drain", name);
      std::_Exit(1);
    }
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
  LOG_OK("fanoutd ready: %d shard(s), %s backend, policy %s, max clients %zu", broker.shards(),
         cfg.backend.c_str(), std::string(policy_name(cfg.output.policy)).c_str(), broker.config().max_clients);
  broker.join();  // returns once a stop request has drained the shards
  end_signals();
  if (uint64_t clients = broker.undelivered_clients()) {
    LOG_WARN("fanoutd stopped at the drain deadline (--shutdown-timeout-ms %d): %llu bytes to %llu "
             "clients were not delivered", cfg.shutdown_timeout_ms,
             static_cast<unsigned long long>(broker.undelivered_bytes()),
             static_cast<unsigned long long>(clients));
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
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // belt and braces: every send already uses MSG_NOSIGNAL
  ServerConfig cfg;
  if (int code = parse_flags(argc, argv, &cfg); code >= 0) return code;
  return serve(cfg, set);
}
