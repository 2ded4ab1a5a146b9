// Helpers shared by the integration suites: subscribing, and reading many subscribers at once
// while checking per-publisher order (payloads are "publisher:sequence...").
#pragma once

#include <sys/epoll.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/net/test_client.h"

namespace fanout::test {

using Type = RespValue::Type;

inline bool is_push(const RespValue& v, std::string_view kind) {
  return (v.type == Type::kArray || v.type == Type::kPush) && !v.elements.empty() &&
         v.elements[0].str == kind;
}


inline void subscribe(TestClient& c, std::string_view verb, std::string_view name) {
  c.command({verb, name});
  RespValue v;
  ASSERT_TRUE(c.read(&v));
  ASSERT_EQ(v.elements.size(), 3u);
  ASSERT_EQ(v.elements[1].str, name);
}

// Reads from many subscribers at once with epoll and checks per-publisher order.
class Collector {
 public:
  explicit Collector(std::vector<std::unique_ptr<TestClient>>* subs) : subs_(subs) {
    ep_ = epoll_create1(0);
    for (size_t i = 0; i < subs->size(); ++i) {
      struct epoll_event ev {};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      epoll_ctl(ep_, EPOLL_CTL_ADD, (*subs)[i]->fd(), &ev);
    }
    next_.assign(subs->size(), {});
    got_.assign(subs->size(), 0);
  }
  ~Collector() { close(ep_); }

  // Runs until every subscriber has `want` messages or the deadline passes.
  void run(size_t want, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::vector<struct epoll_event> evs(256);
    size_t done = 0;
    for (size_t g : got_) done += g >= want;
    while (done < subs_->size() && std::chrono::steady_clock::now() < deadline) {
      int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), 100);
      for (int i = 0; i < n; ++i) {
        size_t idx = evs[i].data.u64;
        TestClient& c = *(*subs_)[idx];
        if (!c.fill(0)) {
          epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd(), nullptr);
          continue;
        }
        RespValue v;
        while (c.next_buffered(&v)) {
          if (!is_push(v, "message")) {
            ++errors_;
            continue;
          }
          // payload "publisher:sequence"
          const std::string& p = v.elements[2].str;
          size_t colon = p.find(':');
          int pub = std::stoi(p.substr(0, colon));
          long seq = std::stol(p.substr(colon + 1));
          long& expect = next_[idx][pub];
          if (seq != expect) ++errors_;  // loss, duplicate or reorder
          expect = seq + 1;
          if (++got_[idx] == want) ++done;
        }
      }
    }
  }
  size_t errors() const { return errors_; }
  size_t complete(size_t want) const {
    size_t n = 0;
    for (size_t g : got_) n += g == want;
    return n;
  }

 private:
  std::vector<std::unique_ptr<TestClient>>* subs_;
  int ep_;
  std::vector<std::map<int, long>> next_;
  std::vector<size_t> got_;
  size_t errors_ = 0;
};

}  // namespace fanout::test
