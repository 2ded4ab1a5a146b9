#include "tools/load/shared.h"

#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tools/load/payload.h"

namespace fanout::load {
namespace {

// Spreads slow and stopped subscribers evenly over indices (and so over topics).
double class_point(int sub) {
  return static_cast<double>((static_cast<uint64_t>(sub) * 2654435761u) % 10000) / 10000.0;
}

// "64:0.9,1024:0.1" (validated by the caller) as cumulative weights normalised to 1.
std::vector<std::pair<double, size_t>> parse_size_mix(const std::string& mix_text) {
  double total = 0;
  std::vector<std::pair<double, size_t>> mix;
  size_t pos = 0;
  while (pos < mix_text.size()) {
    size_t comma = mix_text.find(',', pos);
    std::string item = mix_text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t colon = item.find(':');
    size_t sz = std::stoul(item.substr(0, colon));
    double w = colon == std::string::npos ? 1.0 : std::stod(item.substr(colon + 1));
    if (w > 0) {
      total += w;
      mix.push_back({total, std::max(sz, kHeaderSize)});
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  for (auto& m : mix) m.first /= total;
  return mix;
}

}  // namespace

uint64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t process_cpu_ticks(int pid) {
  if (pid <= 0) return 0;
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE* f = std::fopen(path, "r");
  if (!f) return 0;
  char buf[4096];
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = 0;
  char* p = std::strrchr(buf, ')');  // the command name may hold spaces
  if (!p) return 0;
  unsigned long long ut = 0, st = 0;
  // Fields after ")": state(3) ... utime(14) stime(15).
  int field = 2;
  char* save = nullptr;
  for (char* tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(nullptr, " ", &save)) {
    ++field;
    if (field == 14) ut = std::strtoull(tok, nullptr, 10);
    if (field == 15) {
      st = std::strtoull(tok, nullptr, 10);
      break;
    }
  }
  return ut + st;
}

double cpu_seconds(int who) {
  struct rusage ru;
  getrusage(who, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

Shared::Shared(const Options& o, const Target& t)
    : opt(o),
      target(t),
      subs_per_topic(o.topics, 0),
      size_cdf(parse_size_mix(o.size_mix)),
      done_round(new std::atomic<uint64_t>[o.threads]),
      delivered(new std::atomic<uint64_t>[o.threads]),
      received_normal(new std::atomic<uint64_t>[o.threads]),
      pub_seq(static_cast<size_t>(o.publishers) * o.topics, 0) {
  for (int s = 0; s < o.subscribers; ++s) ++subs_per_topic[s % o.topics];
  for (int w = 0; w < o.threads; ++w) {
    done_round[w].store(0);
    delivered[w].store(0);
    received_normal[w].store(0);
    wake_fds.push_back(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  }
  normal_on_topic.assign(o.threads, std::vector<int>(o.topics, 0));
  for (int s = 0; s < o.subscribers; ++s) {
    if (is_normal(s)) ++normal_on_topic[s % o.threads][s % o.topics];
  }
  for (int i = 0; i < o.topics; ++i) topic_names.push_back(o.topic_prefix + std::to_string(i));
}

Shared::~Shared() {
  for (int fd : wake_fds) {
    if (fd >= 0) ::close(fd);
  }
}

size_t Shared::size_for(uint64_t n) const {
  if (size_cdf.empty()) return opt.size;
  // A fixed, well-spread point in [0, 1) per message: the mix is exact over a run and
  // reproducible between runs and servers.
  double x = static_cast<double>((n * 0x9E3779B97F4A7C15ull) >> 11) / 9007199254740992.0;
  for (const auto& [cdf, size] : size_cdf) {
    if (x < cdf) return size;
  }
  return size_cdf.back().second;
}

bool Shared::is_stopped(int sub) const {
  return sub < opt.subscribers && class_point(sub) < opt.stop_fraction;
}

bool Shared::is_slow(int sub) const {
  if (sub >= opt.subscribers) return false;
  double x = class_point(sub);
  return x >= opt.stop_fraction && x < opt.stop_fraction + opt.slow_fraction;
}

}  // namespace fanout::load
