// fanout-load's options: the workload (connections, topics, sizes, load shape) and the scenario
// knobs for broadcaster users (slow and stopped readers, small receive buffers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fanout::load {

struct Options {
  std::string host = "127.0.0.1";
  int port = 7379;
  std::string proto = "redis";  // redis (RESP2 pub/sub: fanoutd, redis-server) or nats
  int subscribers = 1000;
  int topics = 1;
  int publishers = 1;
  size_t size = 64;
  std::string mode = "closed";  // closed: windows of `window` messages; open: fixed `rate`
  int window = 64;
  double rate = 10000;    // open loop: messages per second, all publishers together
  double duration = 10;   // seconds of measured publishing (after warm-up)
  double warmup = 1;      // seconds published but not measured
  uint64_t max_messages = 0;  // stop after this many published (0: duration only)
  int threads = 1;
  int connect_rate = 5000;  // new connections per second
  int rcvbuf = 0;           // subscriber SO_RCVBUF (0: kernel default)
  double slow_fraction = 0;  // subscribers that read at most slow_bps bytes per second
  size_t slow_bps = 64 * 1024;
  double stop_fraction = 0;  // subscribers that stop reading once subscribed
  std::string size_mix;      // "64:0.9,1024:0.1": payload sizes by weight (overrides size)
  int churn_subscribers = 0;  // extra subscribers that keep disconnecting and reconnecting
  double churn_rate = 0;      // reconnects per second across them
  double stall_timeout = 10;  // closed loop: seconds without progress before giving up
  std::string topic_prefix = "fanout-load.";
  // TLS (RESP only): the server's certificate is always verified, against tls_ca (else the
  // system's CAs) and for tls_sni (else host); tls_cert and tls_key present a client certificate.
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key, tls_sni;
  std::string json;
  int server_pid = 0;  // to report server CPU time per delivered message
  bool quiet = false;
};

}  // namespace fanout::load
