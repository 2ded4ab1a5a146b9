#include "tools/load/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <regex>
#include <variant>

#include "core/units.h"
#include "net/socket.h"
#include "tools/load/payload.h"

namespace fanout::load {
namespace {

// A plain count without size suffixes (uint64_t is size_t here, which add_size would take).
struct CountField {
  uint64_t Options::*field;
};
using Field = std::variant<std::string Options::*, int Options::*, double Options::*, size_t Options::*,
                           bool Options::*, CountField>;
struct OptionRow {
  const char* name;
  Field field;
  const char* help;
};

// In --help order.
const OptionRow kOptionTable[] = {
    {"host", &Options::host, "server address (loopback only)"},
    {"port", &Options::port, "server port"},
    {"proto", &Options::proto, "redis (fanoutd, redis-server) or nats (nats-server)"},
    {"subscribers", &Options::subscribers, "subscriber connections"},
    {"topics", &Options::topics, "topics; subscriber i listens on topic i % topics"},
    {"publishers", &Options::publishers, "publisher connections"},
    {"size", &Options::size, "payload bytes (at least the 32-byte header)"},
    {"mode", &Options::mode, "closed (windows, nothing dropped) or open (fixed rate)"},
    {"window", &Options::window, "closed loop: messages in flight per round"},
    {"rate", &Options::rate, "open loop: messages per second, all publishers"},
    {"duration", &Options::duration, "measured seconds (after warm-up)"},
    {"warmup", &Options::warmup, "seconds published but not measured"},
    {"messages", CountField{&Options::max_messages}, "stop after this many messages published (0: by duration)"},
    {"threads", &Options::threads, "worker threads (each with its own event loop)"},
    {"connect-rate", &Options::connect_rate, "new connections per second during ramp-up"},
    {"rcvbuf", &Options::rcvbuf, "subscriber SO_RCVBUF bytes (0: kernel default)"},
    {"slow-fraction", &Options::slow_fraction, "fraction of subscribers that read slowly"},
    {"slow-bps", &Options::slow_bps, "bytes per second a slow subscriber reads"},
    {"stop-fraction", &Options::stop_fraction, "fraction of subscribers that never read"},
    {"size-mix", &Options::size_mix, "payload sizes by weight, e.g. 64:0.9,1024:0.1 (overrides --size)"},
    {"churn-subscribers", &Options::churn_subscribers, "extra subscribers that keep reconnecting"},
    {"churn-rate", &Options::churn_rate, "reconnects per second across the churn subscribers"},
    {"stall-timeout", &Options::stall_timeout, "seconds without progress before giving up"},
    {"topic-prefix", &Options::topic_prefix, "topic name prefix"},
    {"tls", &Options::tls, "connect over TLS (RESP only); the server's certificate is always verified"},
    {"tls-ca", &Options::tls_ca, "CA certificates (PEM) to verify the server with (default: the system's)"},
    {"tls-cert", &Options::tls_cert, "client certificate (PEM) for mutual TLS, with --tls-key"},
    {"tls-key", &Options::tls_key, "the client certificate's private key (PEM, unencrypted)"},
    {"tls-sni", &Options::tls_sni, "server name to send and verify (default: --host; none for an IP)"},
    {"json", &Options::json, "write every figure and parameter to this file"},
    {"server-pid", &Options::server_pid, "server process, for its CPU time per delivery"},
    {"quiet", &Options::quiet, "no progress line"},
};

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

// One row as a CLI11 option, its default shown in --help. Sizes take k/m/g (binary) suffixes.
void add_flag(CLI::App* app, Options* o, const OptionRow& row) {
  const std::string name = "--" + std::string(row.name);
  std::visit(Overloaded{
                 [&](std::string Options::*m) { app->add_option(name, o->*m, row.help)->capture_default_str(); },
                 [&](int Options::*m) { app->add_option(name, o->*m, row.help)->capture_default_str(); },
                 [&](double Options::*m) { app->add_option(name, o->*m, row.help)->capture_default_str(); },
                 [&](size_t Options::*m) {
                   app->add_option_function<std::string>(
                          name,
                          [o, m, name](const std::string& text) {
                            uint64_t v;
                            if (!parse_size(text, &v)) throw CLI::ValidationError(name, "needs bytes (k/m/g suffixes), got '" + text + "'");
                            o->*m = static_cast<size_t>(v);
                          },
                          row.help)
                       ->default_str(std::to_string(o->*m));
                 },
                 [&](bool Options::*m) { app->add_flag(name, o->*m, row.help); },
                 [&](CountField c) { app->add_option(name, o->*c.field, row.help)->capture_default_str(); },
             },
             row.field);
}

bool valid_size_mix(const std::string& mix) {
  static const std::regex kMix(R"(^\d+(:\d*\.?\d+)?(,\d+(:\d*\.?\d+)?)*$)");
  return mix.empty() || std::regex_match(mix, kMix);
}

}  // namespace

bool parse_options(int argc, char** argv, Options* o, int* exit_code) {
  CLI::App app(
      "fanout-load: pub/sub load generator for fanoutd, redis-server and nats-server.\n"
      "usage: fanout-load --port 7379 --subscribers 1000 --topics 1 --publishers 1 --size 64\n"
      "                   [--mode closed --window 64 | --mode open --rate 100000] --duration 10",
      "fanout-load");
  for (const OptionRow& row : kOptionTable) add_flag(&app, o, row);
  *exit_code = 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return false;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "fanout-load: %s\n", e.what());
    *exit_code = 2;
    return false;
  }
  return true;
}

std::string validate_options(Options* o) {
  if (!is_loopback_host(o->host)) return "only loopback targets (127.0.0.0/8, ::1, localhost) are allowed";
  if (o->proto != "redis" && o->proto != "nats") return "--proto must be redis or nats";
  if (o->mode != "closed" && o->mode != "open") return "--mode must be closed or open";
  if (o->subscribers < 1 || o->topics < 1 || o->publishers < 1 || o->threads < 1 || o->window < 1) {
    return "subscribers, topics, publishers, threads and window must be at least 1";
  }
  if (o->duration <= 0 || o->duration > 3600 || o->warmup < 0 || o->warmup > 600) {
    return "--duration must be in (0, 3600] and --warmup in [0, 600] seconds";
  }
  if (o->mode == "open" && (o->rate <= 0 || o->rate > 1e8)) return "--rate must be in (0, 1e8]";
  if (o->size < kHeaderSize) o->size = kHeaderSize;
  if (!valid_size_mix(o->size_mix)) return "--size-mix looks like 64:0.9,1024:0.1";
  if (o->churn_subscribers < 0 || o->churn_rate < 0) return "churn options must not be negative";
  if (o->threads > o->subscribers) o->threads = o->subscribers;
  if (!o->tls && (!o->tls_ca.empty() || !o->tls_cert.empty() || !o->tls_key.empty() || !o->tls_sni.empty())) {
    return "--tls-ca, --tls-cert, --tls-key and --tls-sni need --tls";
  }
  if (o->tls && o->proto != "redis") return "--tls needs --proto redis (NATS starts TLS inside its own protocol)";
  if (o->tls_cert.empty() != o->tls_key.empty()) return "--tls-cert and --tls-key go together";
  return "";
}

void raise_fd_limit(const Options& o) {
  raise_descriptor_limit(static_cast<uint64_t>(o.subscribers + o.churn_subscribers + o.publishers + 64));
}

}  // namespace fanout::load
