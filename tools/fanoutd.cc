// fanoutd: the Fanout pub/sub server. Reads a config file and flags (net/config's settings table,
// CLI11 for the command line), starts the broker, prints the address it listens on, and on SIGINT/SIGTERM drains
// queued output (bounded by --shutdown-timeout-ms) and exits 0. A stop request during start-up
// works too: start-up gives up at its next step and the process exits 0. SIGHUP reloads the ACL
// file (as ACL LOAD does) and the TLS certificate and key without stopping, and logs what came
// of them.
// Under systemd (Type=notify, tools/systemd/fanoutd.service) it reports READY=1 once listening,
// STATUS= lines, and STOPPING=1 when the drain begins (tools/systemd_notify.h).
// --version (or -v, as redis-server) prints the release, commit, build and libraries.
// Exit codes: 0 stopped (or --help, --version, --check-config passed); 2 a bad flag, config file
// or setting (every one reported as "fanoutd: ...");
// 1 the system refused (the port is taken, a backend the kernel lacks), or a second SIGINT or
// SIGTERM ended the drain early.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "net/broker.h"
#include "net/config.h"
#include "net/log.h"
#include "net/read_file.h"
#include "tools/build_info.h"
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

// The name an option was given by on this command line ("--max-clients" or "--maxclients"), for
// its error messages and for the units its value is read in.
std::string typed_name(int argc, char** argv, const CLI::Option& opt) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    a = a.substr(0, a.find('='));
    if (a.size() > 2 && a.starts_with("--") && opt.check_lname(std::string(a.substr(2)))) return std::string(a);
  }
  return "--" + opt.get_single_name();
}

// The command line, as redis-server takes it: `fanoutd [CONFIG-FILE] [--directive value ...]`,
// the file read first and the flags overriding it, every directive also a flag (Redis's name, or
// Fanout's), parsed by CLI11. Returns -1 to go on, else the exit code (0 after --help or
// --check-config, 2 after a bad flag, file or setting).
int parse_command_line(int argc, char** argv, ServerConfig* cfg) {
  if (argc == 2 && std::string_view(argv[1]) == "-v") argv[1] = const_cast<char*>("--version");
  CLI::App app(
      "fanoutd: a sharded pub/sub relay that speaks the Redis pub/sub protocol.\n"
      "A config file in redis.conf syntax is read first; flags override it. Redis's names are the canonical\n"
      "ones where Fanout has the same setting (sizes in Redis's units there: 1k = 1000, 1kb = 1024); Fanout's\n"
      "own names read sizes in binary units (1k = 1024).",
      "fanoutd");
  std::string config_path, requirepass_file;
  bool check_only = false, version = false;
  app.add_option("config-file", config_path, "a config file in redis.conf syntax");
  app.add_flag("--version", version, "print the version, git commit, build and libraries, and exit (also -v)");
  app.add_flag("--check-config", check_only, "validate the configuration (file, flags, ACL file) and exit");
  app.add_option("--requirepass-file", requirepass_file,
                 "read the default user's password from this file (its first line), keeping it out of the process list");
  struct Given {
    CLI::Option* opt;
    std::vector<std::string> values;
  };
  std::vector<std::unique_ptr<Given>> given;
  const ServerConfig defaults;
  auto add = [&](const std::string& names, const std::string& help, int min_args, int max_args) {
    auto g = std::make_unique<Given>();
    g->opt = app.add_option(names, g->values, help)->expected(min_args, max_args)->type_name("VALUE");
    if (max_args == 1) g->opt->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    given.push_back(std::move(g));
  };
  for (const Setting& s : server_settings()) {
    std::string names = "--" + std::string(s.redis ? s.redis : s.name);
    if (s.redis && std::string_view(s.redis) != s.name) names += ",--" + std::string(s.name);
    names += ",--fanout-" + std::string(s.name);
    std::string help = s.help;
    if (s.kind == Setting::Kind::kNumber || s.kind == Setting::Kind::kSize || s.kind == Setting::Kind::kOctal) {
      help += "; " + setting_range(s);
    }
    if (s.kind == Setting::Kind::kChoice) help += ": " + std::string(s.choices);
    help += " (default " + setting_text(defaults, s) + (s.live ? "; CONFIG SET changes it live)" : ")");
    const bool several = std::string_view(s.name) == "bind";
    add(names, help, s.kind == Setting::Kind::kBool ? 0 : 1, several ? -1 : 1);
  }
  add("--client-output-buffer-limit", "Redis's form of the per-client limits: pubsub <hard> <soft> <seconds>", 1, -1);
  add("--loglevel", "Redis's log level: debug, verbose, notice, warning", 1, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }
  if (version) {
    std::fputs(version_text().c_str(), stdout);
    return 0;
  }
  std::string err;
  std::vector<std::string> ignored;
  if (!config_path.empty()) {
    if (err = load_config_file(config_path, *cfg, &ignored); !err.empty()) return usage_error(err);
  }
  for (const auto& g : given) {
    if (g->opt->count() == 0) continue;
    const std::string typed = typed_name(argc, argv, *g->opt);
    if (apply_directive(*cfg, typed.substr(2), g->values, DirectiveSource::kFlag, &err) != Applied::kSet) {
      return usage_error(err);
    }
  }
  LogLevel level;
  parse_log_level(cfg->log_level, &level);
  set_log_level(level);
  LogFormat format;
  parse_log_format(cfg->log_format, &format);
  set_log_format(format);
  if (!ignored.empty()) {
    std::string list;
    for (const std::string& n : ignored) list += (list.empty() ? "" : ", ") + n;
    LOG_WARN("%s: skipped Redis directives Fanout has no use for: %s", config_path.c_str(), list.c_str());
  }
  if (!cfg->aclfile.empty() && !cfg->acl_rules.empty()) {
    // Redis refuses this too (ACLLoadConfiguredUsers): one place holds the users.
    return usage_error("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path "
                       "is invalid. This setup is very likely to lead to configuration errors and security holes, "
                       "please define either an ACL file or declare users directly in your redis.conf, but not both.");
  }
  if (!requirepass_file.empty()) {
    if (!cfg->requirepass.empty()) return usage_error("give requirepass or --requirepass-file, not both");
    if (!read_first_line(requirepass_file, &cfg->requirepass, &err)) return usage_error("--requirepass-file: " + err);
  }
  if (std::string e = validate_config(*cfg); !e.empty()) return usage_error(e);
  if (check_only) {
    if (std::string e = Broker::check_config(*cfg); !e.empty()) return usage_error(e);
    std::printf("fanoutd: configuration OK%s\n", cfg->config_file.empty() ? "" : (" (" + cfg->config_file + ")").c_str());
    return 0;
  }
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
        // Each reload logs its own outcome: the TLS certificate here, the ACL file on shard 0 (or
        // that there is no ACL file to reload).
        const bool tls = broker.reload_tls();
        if (broker.reload_acl()) {
          if (!tls || !broker.live_config().aclfile.empty()) {
            LOG_INFO("SIGHUP received: reloading the ACL file").field("signal", "SIGHUP");
          }
        } else if (!tls) {
          LOG_WARN("SIGHUP received while fanoutd is not serving: ignored").field("signal", "SIGHUP");
        }
        continue;
      }
      const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
      if (!stopping) {
        stopping = true;
        broker.stop();
        systemd_notify(std::string("STOPPING=1\nSTATUS=draining: ") + name + " received");
        LOG_INFO("%s received: stopping (a second one exits at once)", name).field("signal", name);
        continue;
      }
      // An operator who will not wait for the drain: leave now, saying so (exit code 1).
      LOG_WARN("%s received again: exiting without finishing the drain", name).field("signal", name);
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
  // One line per endpoint, RESP first ("listening on 127.0.0.1:7379", then the others and the
  // unix socket), then the metrics endpoint's: scripts read the first line for the port.
  for (const std::string& e : broker.endpoints(Protocol::kResp)) std::printf("listening on %s\n", e.c_str());
  for (const std::string& e : broker.endpoints(Protocol::kHttp)) std::printf("metrics on http://%s/metrics\n", e.c_str());
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
             "clients were not delivered", broker.live_config().shutdown_timeout_ms,
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
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // belt and braces: every send already uses MSG_NOSIGNAL
  ServerConfig cfg;
  if (int code = parse_command_line(argc, argv, &cfg); code >= 0) return code;
  return serve(cfg, set);
}
