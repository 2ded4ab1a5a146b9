// In-process fan-out: one shard's write path delivering W messages to each of N sockets, the
// way a loop iteration flushes, measured per delivered message. Compares referencing each
// message as its own iovec with copying small frames into the client's chunk (one iovec for
// the lot), and the epoll backend (sendmsg inline) with io_uring (SENDMSG SQEs, one submit per
// flush). Real loopback TCP sockets; the readers are drained outside the timed region.
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/message.h"
#include "core/outbound_queue.h"
#include "net/epoll_backend.h"
#include "net/io_uring_backend.h"
#include "net/socket.h"

namespace fanout {
namespace {

struct Pair {
  int tx = -1, rx = -1;
};

// N connected loopback TCP pairs (TCP, not AF_UNIX: the cost profile is the real one).
std::vector<Pair> make_pairs(int n) {
  std::string err;
  int lfd = listen_tcp("127.0.0.1", 0, 4096, false, &err);
  int port = local_port(lfd);
  std::vector<Pair> pairs(n);
  for (auto& p : pairs) {
    p.rx = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(p.rx, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) abort();
    while ((p.tx = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK)) < 0) {
    }
    tune_accepted(p.tx, 0, 0);
  }
  close(lfd);
  return pairs;
}

void drain(std::vector<Pair>& pairs) {
  char buf[1 << 16];
  for (auto& p : pairs) {
    while (recv(p.rx, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
    }
  }
}

// Plays the shard's part: a send's completion consumes its bytes from that socket's queue.
struct Sink {
  std::vector<std::unique_ptr<OutboundQueue>>* queues;
  std::vector<uint8_t> inflight;
  size_t outstanding = 0;
  size_t bytes = 0;
  void on_completion(const Completion& c) {
    if (c.op != Op::kSend) return;  // the receives armed on the sending sockets end at close
    OutboundQueue& q = *(*queues)[c.id.slot];
    inflight[c.id.slot] = 0;
    --outstanding;
    if (c.res > 0) {
      q.complete(static_cast<size_t>(c.res));
      bytes += static_cast<size_t>(c.res);
    } else {
      q.send_failed();
    }
  }
};

// args: sockets, messages per flush, payload size, copy (0/1), registered files (0/1, io_uring)
template <class Backend>
void BM_FanoutFlush(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int window = static_cast<int>(state.range(1));
  const size_t size = static_cast<size_t>(state.range(2));
  const bool copy = state.range(3) != 0;
  ServerConfig cfg;
  cfg.uring_fixed_files = state.range(4) != 0;
  Backend backend;
  BackendCounters counters;
  std::string err;
  int wake = make_eventfd();
  if (!backend.init(wake, cfg, &counters, &err) || !backend.start(&err)) {
    state.SkipWithError(err.c_str());
    close(wake);
    return;
  }
  auto pairs = make_pairs(n);
  // Arm a receive on each sending socket, as the shard does on accept (on io_uring this also
  // enters it in the registered file table). Nothing arrives on them.
  for (int i = 0; i < n; ++i) backend.recv(pairs[i].tx, ConnId{static_cast<uint32_t>(i), 1});
  ChunkPool pool;
  MessageArena arena(0, 1);
  std::vector<std::unique_ptr<OutboundQueue>> queues;
  for (int i = 0; i < n; ++i) queues.push_back(std::make_unique<OutboundQueue>(&pool));
  std::vector<struct iovec> iov(256);
  Sink sink{&queues, std::vector<uint8_t>(n, 0)};
  std::string payload(size, 'p');
  uint64_t deliveries = 0, sends = 0;
  for (auto _ : state) {
    // Publish W messages: encode once each, enqueue a reference (or a copy) per subscriber.
    for (int m = 0; m < window; ++m) {
      Block* b = arena.create(0, "channel", payload);
      for (auto& q : queues) q->append_push({}, &b->origin_hold, b->frame(), copy);
      hold_release(&b->origin_hold);
    }
    // Flush as a loop iteration does: one send per socket, then one wait that submits them all
    // (io_uring) and collects the completions. A few rounds finish what short sends left; a
    // socket that is full keeps its rest for the next iteration.
    for (int round = 0; round < 4; ++round) {
      size_t before = sink.bytes;
      for (int i = 0; i < n; ++i) {
        OutboundQueue& q = *queues[i];
        if (sink.inflight[i] || q.empty()) continue;
        size_t k = q.fill(iov.data(), iov.size(), 1 << 20);
        size_t bytes = 0;
        for (size_t j = 0; j < k; ++j) bytes += iov[j].iov_len;
        sink.inflight[i] = 1;
        ++sink.outstanding;
        ++sends;
        backend.send(pairs[i].tx, ConnId{static_cast<uint32_t>(i), 1}, iov.data(), static_cast<int>(k), bytes);
      }
      if (sink.outstanding != 0) {
        backend.wait(0);
        backend.dispatch(sink);
      }
      if (sink.outstanding == 0 && sink.bytes == before) break;
    }
    deliveries += static_cast<uint64_t>(n) * window;
    state.PauseTiming();
    drain(pairs);
    while (sink.outstanding != 0) {  // sends that waited for room complete once drained
      backend.wait(1);
      backend.dispatch(sink);
      drain(pairs);
    }
    state.ResumeTiming();
  }
  state.counters["deliveries/s"] = benchmark::Counter(static_cast<double>(deliveries), benchmark::Counter::kIsRate);
  state.counters["msgs_per_send"] = static_cast<double>(deliveries) / static_cast<double>(sends);
  state.counters["syscalls_per_send"] =
      static_cast<double>(counters.sendmsg_calls.get() + counters.io_uring_enter_calls.get()) / static_cast<double>(sends);
  backend.finish();
  for (auto& p : pairs) {
    close(p.tx);
    close(p.rx);
  }
  close(wake);
}

void Args(benchmark::internal::Benchmark* b, bool uring) {
  for (int window : {1, 8, 64}) {
    for (int size : {32, 64, 128, 256, 1024, 4096}) {
      for (int copy : {0, 1}) {
        if (window == 1 && copy) continue;  // one message: nothing to coalesce
        b->Args({1000, window, size, copy, 0});
        if (uring && !copy) b->Args({1000, window, size, copy, 1});
      }
    }
  }
  b->ArgNames({"sockets", "window", "size", "copy", "fixed"});
  b->Unit(benchmark::kMillisecond);
}
void EpollArgs(benchmark::internal::Benchmark* b) { Args(b, false); }
void UringArgs(benchmark::internal::Benchmark* b) { Args(b, true); }
BENCHMARK_TEMPLATE(BM_FanoutFlush, EpollBackend)->Apply(EpollArgs);
BENCHMARK_TEMPLATE(BM_FanoutFlush, IoUringBackend)->Apply(UringArgs);

}  // namespace
}  // namespace fanout

BENCHMARK_MAIN();
