// write_json: every figure and parameter of a run as one JSON object, one "key": value per line
// in a fixed order that bench/ and the tests read (nlohmann::ordered_json keeps the order).
// Counts are integers; a figure that is a whole number is written as one ("rate": 10000), others
// with full precision, and a figure that is not finite as 0.
#include <sys/utsname.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tools/load/report.h"

namespace fanout::load {
namespace {

class JsonLines {
 public:
  explicit JsonLines(nlohmann::ordered_json* out) : out_(*out) {}
  void num(const char* k, double v) {
    if (!std::isfinite(v)) v = 0;
    if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {  // 2^53: exact as an integer
      out_[k] = static_cast<int64_t>(v);
    } else {
      out_[k] = v;
    }
  }
  void str(const char* k, const std::string& v) { out_[k] = v; }
  void flag(const char* k, bool v) { out_[k] = v; }

 private:
  nlohmann::ordered_json& out_;
};

void json_parameters(JsonLines& j, const Options& o) {
  j.str("tool", "fanout-load");
  j.str("proto", o.proto);
  j.str("mode", o.mode);
  j.str("host", o.host);
  j.num("port", o.port);
  j.num("subscribers", o.subscribers);
  j.num("topics", o.topics);
  j.num("publishers", o.publishers);
  j.num("size", static_cast<double>(o.size));
  j.num("window", o.window);
  j.num("rate", o.rate);
  j.num("duration", o.duration);
  j.num("warmup", o.warmup);
  j.num("threads", o.threads);
  j.num("rcvbuf", o.rcvbuf);
  j.num("slow_fraction", o.slow_fraction);
  j.num("stop_fraction", o.stop_fraction);
}

void json_machine_and_server(JsonLines& j, const Options& o, const InfoFields& a) {
  struct utsname u;
  uname(&u);
  auto get = [&](const char* k) { return a.count(k) ? a.at(k) : std::string(); };
  j.str("kernel", std::string(u.release));
  j.num("cores", std::thread::hardware_concurrency());
  j.str("server", a.count("fanout_version") ? "fanoutd" : (o.proto == "nats" ? "nats-server" : "redis-server"));
  j.str("server_version", get(a.count("fanout_version") ? "fanout_version" : "redis_version"));
  j.str("backend", a.count("backend") ? get("backend") : get("multiplexing_api"));
  j.num("server_shards", a.count("shards") ? std::stod(a.at("shards")) : 1);
}

void json_figures(JsonLines& j, const Shared& sh, const Summary& s) {
  const Histogram& lat = s.latency;
  j.num("measured_seconds", s.measured_s);
  j.num("deliveries", static_cast<double>(lat.count()));
  j.num("deliveries_per_second", s.deliveries_per_s);
  j.num("payload_mb_per_second", s.mb_per_s);
  j.num("latency_p50_ns", static_cast<double>(lat.quantile(0.5)));
  j.num("latency_p90_ns", static_cast<double>(lat.quantile(0.9)));
  j.num("latency_p99_ns", static_cast<double>(lat.quantile(0.99)));
  j.num("latency_p999_ns", static_cast<double>(lat.quantile(0.999)));
  j.num("latency_max_ns", static_cast<double>(lat.max()));
  j.num("latency_mean_ns", lat.mean());
  j.num("published", static_cast<double>(sh.published.load()));
  j.num("received", static_cast<double>(s.normal.received));
  j.num("lost", static_cast<double>(s.normal.lost));
  j.num("duplicated", static_cast<double>(s.normal.duplicated));
  j.num("reordered", static_cast<double>(s.normal.reordered));
  j.num("slow_received", static_cast<double>(s.slow.received));
  j.num("slow_lost", static_cast<double>(s.slow.lost));
  j.num("stopped_received", static_cast<double>(s.stopped.received));
  j.num("stopped_lost", static_cast<double>(s.stopped.lost));
  j.num("closed_by_server", static_cast<double>(s.closed_by_server));
}

void json_scenario_and_errors(JsonLines& j, const Options& o, const Shared& sh, const Summary& s) {
  j.str("size_mix", o.size_mix);
  j.num("churn_subscribers", o.churn_subscribers);
  j.num("churn_rate", o.churn_rate);
  j.num("churn_reconnects", static_cast<double>(sh.churn_reconnects.load()));
  j.num("churn_received", static_cast<double>(sh.churn_received.load()));
  j.num("protocol_errors", static_cast<double>(sh.protocol_errors.load()));
  j.num("publish_count_mismatches", static_cast<double>(sh.count_mismatches.load()));
  j.num("failed_connects", s.failed_connects);
  j.num("stalled", s.stalled);
  j.flag("tls", o.tls);
  j.str("tls_version", s.tls_version);
  j.str("tls_cipher", s.tls_cipher);
  j.num("tls_failures", static_cast<double>(s.tls_failures));
}

void json_costs(JsonLines& j, const Summary& s) {
  j.num("server_cpu_ns_per_delivery", s.server_cpu_ns_per_delivery);
  j.num("server_sendmsg_calls", static_cast<double>(s.d_sendmsg));
  j.num("server_messages_delivered", static_cast<double>(s.d_delivered));
  j.num("server_wait_calls", static_cast<double>(s.d_wait));
  j.num("server_sends", static_cast<double>(s.d_sends));
  j.num("server_syscalls", static_cast<double>(s.d_syscalls));
  j.num("server_enter_calls", static_cast<double>(s.d_enter));
  j.num("server_completions", static_cast<double>(s.d_completions));
  j.num("loader_cpu_seconds", s.loader_cpu_s);
  j.num("loader_busiest_thread_share", s.busiest);
}

}  // namespace

void write_json(const Options& o, const Shared& sh, const Summary& s) {
  if (o.json.empty()) return;
  nlohmann::ordered_json doc = nlohmann::ordered_json::object();
  JsonLines j(&doc);
  json_parameters(j, o);
  json_machine_and_server(j, o, s.server);
  json_figures(j, sh, s);
  json_scenario_and_errors(j, o, sh, s);
  json_costs(j, s);
  j.flag("loader_saturated", s.saturated);
  std::ofstream out(o.json);
  // Strings (a host name, a server's version) that are not UTF-8 are written with U+FFFD.
  out << doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
}

}  // namespace fanout::load
