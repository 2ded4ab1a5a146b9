// fanout-handshakes: how many TLS handshakes per second a server completes. Each of
// --connections threads connects, completes a full TLS handshake (no session resumption; the
// server's certificate verified as fanout-load verifies it), sends PING, reads +PONG and closes
// (close_notify, then close), over and over for --duration seconds. Reports handshakes per
// second, the time each took from connect to PONG, failures with the first reason, and with
// --server-pid the server's CPU time per handshake. Loopback targets only; bounded in time.
//
// main is the steps: parse, check, resolve the target, load the certificates, probe once, run the
// threads, report (stdout, and --json).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/histogram.h"
#include "net/socket.h"
#include "tools/load/options.h"
#include "tools/load/shared.h"
#include "tools/load/target.h"
#include "tools/load/tls.h"

using namespace fanout;
using namespace fanout::load;

namespace {

constexpr char kPing[] = "*1\r\n$4\r\nPING\r\n";

// What one thread measured; merged on the main thread after join.
struct ThreadResult {
  Histogram latency;  // ns, connect to PONG, handshakes that succeeded
  uint64_t failures = 0;
};

bool line_complete(const std::string& s) { return s.find("\r\n") != std::string::npos; }

// One thread's loop until `end_ns`: a fresh connection and a full handshake each time.
void run_thread(const TlsClient& tls, const Target& target, uint64_t end_ns, ThreadResult* r, std::mutex* mu,
                std::string* first_failure) {
  std::string reply, err;
  while (now_ns() < end_ns) {
    uint64_t t0 = now_ns();
    bool ok = tls.request(target, kPing, line_complete, 5000, &reply, nullptr, &err);
    if (ok && reply.rfind("+PONG\r\n", 0) == 0) {
      r->latency.record(now_ns() - t0);
      continue;
    }
    ++r->failures;
    std::lock_guard<std::mutex> lock(*mu);
    if (first_failure->empty()) first_failure->assign(ok ? "PING answered " + reply.substr(0, 60) : err);
  }
}

double ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.duration = 5;
  int connections = 4;
  CLI::App app("fanout-handshakes: TLS handshakes per second (connect, handshake, PING, close) against a "
               "loopback server.\nusage: fanout-handshakes --port 6380 --tls-ca ca.crt [--connections 4] "
               "[--duration 5]",
               "fanout-handshakes");
  app.add_option("--host", o.host, "server address (loopback only)")->capture_default_str();
  app.add_option("--port", o.port, "server's TLS port")->capture_default_str();
  app.add_option("--tls-ca", o.tls_ca, "CA certificates (PEM) to verify the server with (default: the system's)");
  app.add_option("--tls-cert", o.tls_cert, "client certificate (PEM) for mutual TLS, with --tls-key");
  app.add_option("--tls-key", o.tls_key, "the client certificate's private key (PEM, unencrypted)");
  app.add_option("--tls-sni", o.tls_sni, "server name to send and verify (default: --host; none for an IP)");
  app.add_option("--connections", connections, "threads, each with one connection at a time")->capture_default_str();
  app.add_option("--duration", o.duration, "seconds")->capture_default_str();
  app.add_option("--server-pid", o.server_pid, "server process, for its CPU time per handshake");
  app.add_option("--json", o.json, "write every figure and parameter to this file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto fail = [](const std::string& m, int code) {
    std::fprintf(stderr, "fanout-handshakes: %s\n", m.c_str());
    return code;
  };
  if (!is_loopback_host(o.host)) return fail("only loopback targets (127.0.0.0/8, ::1, localhost) are allowed", 2);
  if (connections < 1 || connections > 256) return fail("--connections must be in [1, 256]", 2);
  if (o.duration <= 0 || o.duration > 600) return fail("--duration must be in (0, 600] seconds", 2);
  if (o.tls_cert.empty() != o.tls_key.empty()) return fail("--tls-cert and --tls-key go together", 2);
  if (o.server_pid > 0 && access(("/proc/" + std::to_string(o.server_pid) + "/stat").c_str(), R_OK) != 0) {
    return fail("--server-pid " + std::to_string(o.server_pid) + ": no such process", 2);
  }
  Target target;
  std::string err;
  if (!resolve_target(o.host, o.port, &target, &err)) return fail(err, 2);
  std::unique_ptr<TlsClient> tls = TlsClient::create(o, &err);
  if (!tls) return fail(err, 2);
  TlsSessionInfo session;
  err = tls_probe(*tls, target, format_endpoint(address_text(target.addr), o.port), &session);
  if (!err.empty()) return fail(err, 1);

  std::vector<ThreadResult> results(static_cast<size_t>(connections));
  std::vector<std::thread> threads;
  std::mutex mu;
  std::string first_failure;
  uint64_t cpu0 = process_cpu_ticks(o.server_pid);
  uint64_t start = now_ns(), end = start + static_cast<uint64_t>(o.duration * 1e9);
  for (auto& r : results) threads.emplace_back(run_thread, std::cref(*tls), std::cref(target), end, &r, &mu, &first_failure);
  for (auto& t : threads) t.join();
  double wall = static_cast<double>(now_ns() - start) / 1e9;
  uint64_t cpu1 = process_cpu_ticks(o.server_pid);

  Histogram lat;
  uint64_t failures = 0;
  for (const auto& r : results) {
    lat.merge(r.latency);
    failures += r.failures;
  }
  double per_s = static_cast<double>(lat.count()) / wall;
  double server_us = 0;
  // A server just started may have used no whole tick yet: 0 at the start is a reading.
  if (o.server_pid > 0 && cpu1 > cpu0 && lat.count()) {
    server_us = static_cast<double>(cpu1 - cpu0) / static_cast<double>(sysconf(_SC_CLK_TCK)) * 1e6 /
                static_cast<double>(lat.count());
  }
  std::printf("fanout-handshakes: %d connection(s) for %.1f s, %s %s\n", connections, wall, session.version.c_str(),
              session.cipher.c_str());
  std::printf("  %llu handshakes, %.0f per second; connect to PONG: p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
              static_cast<unsigned long long>(lat.count()), per_s, ms(lat.quantile(0.5)), ms(lat.quantile(0.99)),
              ms(lat.max()));
  if (server_us > 0) std::printf("  server CPU: %.0f us per handshake\n", server_us);
  if (failures) {
    std::printf("  failures: %llu (the first: %s)\n", static_cast<unsigned long long>(failures), first_failure.c_str());
  }
  if (!o.json.empty()) {
    nlohmann::ordered_json j;
    j["tool"] = "fanout-handshakes";
    j["host"] = o.host;
    j["port"] = o.port;
    j["connections"] = connections;
    j["duration"] = o.duration;
    j["tls_version"] = session.version;
    j["tls_cipher"] = session.cipher;
    j["handshakes"] = lat.count();
    j["handshakes_per_second"] = per_s;
    j["latency_p50_ns"] = lat.quantile(0.5);
    j["latency_p99_ns"] = lat.quantile(0.99);
    j["latency_max_ns"] = lat.max();
    j["server_cpu_us_per_handshake"] = server_us;
    j["failures"] = failures;
    j["first_failure"] = first_failure;
    std::ofstream(o.json) << j.dump(2) << "\n";
  }
  return failures || lat.count() == 0 ? 1 : 0;
}
