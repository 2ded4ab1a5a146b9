// Microbenchmarks of core/: RESP parse and encode, glob match, topic lookup and receiver counts,
// outbound queue push / fill-iovec / complete, and the cross-shard ring between two threads.
#include <benchmark/benchmark.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/glob.h"
#include "core/message.h"
#include "core/outbound_queue.h"
#include "core/qsbr.h"
#include "core/resp_parser.h"
#include "core/resp_writer.h"
#include "core/spsc_ring.h"
#include "core/topic_table.h"

namespace fanout {
namespace {

void BM_ParsePublishPipeline(benchmark::State& state) {
  std::string one = "*3\r\n$7\r\nPUBLISH\r\n$12\r\nchannel.name\r\n$" + std::to_string(state.range(0)) +
                    "\r\n" + std::string(static_cast<size_t>(state.range(0)), 'x') + "\r\n";
  std::string buf;
  for (int i = 0; i < 64; ++i) buf += one;
  RequestParser p;
  for (auto _ : state) {
    size_t off = 0;
    while (off < buf.size()) {
      p.parse(buf.data() + off, buf.size() - off);
      benchmark::DoNotOptimize(p.args().data());
      off += p.consumed();
    }
  }
  state.SetItemsProcessed(state.iterations() * 64);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(buf.size()));
}
BENCHMARK(BM_ParsePublishPipeline)->Arg(64)->Arg(1024);

void BM_ParseInline(benchmark::State& state) {
  std::string buf = "PUBLISH channel.name \"hello world\"\r\n";
  RequestParser p;
  for (auto _ : state) {
    p.parse(buf.data(), buf.size());
    benchmark::DoNotOptimize(p.args().data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseInline);

void BM_EncodeMessageBlock(benchmark::State& state) {
  MessageArena arena(0, 1);
  std::string payload(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    Block* b = arena.create(0, "channel.name", payload);
    benchmark::DoNotOptimize(b->data());
    hold_release(&b->origin_hold);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeMessageBlock)->Arg(64)->Arg(1024);

void BM_EncodeReplies(benchmark::State& state) {
  std::string s;
  resp::StringOut out{&s};
  for (auto _ : state) {
    s.clear();
    resp::push(out, 3, resp::kResp2);
    resp::bulk(out, "subscribe");
    resp::bulk(out, "channel.name");
    resp::integer(out, 42);
    benchmark::DoNotOptimize(s.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeReplies);

void BM_GlobMatch(benchmark::State& state) {
  const char* patterns[] = {"news.*", "news.[a-m]*.eu", "*.sport.*", "n?ws.*.*"};
  const char* subject = "news.football.sport.eu";
  for (auto _ : state) {
    for (const char* p : patterns) benchmark::DoNotOptimize(glob_match(p, subject));
  }
  state.SetItemsProcessed(state.iterations() * 4);
}
BENCHMARK(BM_GlobMatch);

void BM_GlobAdversarial(benchmark::State& state) {
  std::string subject(static_cast<size_t>(state.range(0)), 'a');
  for (auto _ : state) benchmark::DoNotOptimize(glob_match("*a*a*a*a*a*b", subject));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GlobAdversarial)->Arg(64)->Arg(1024);

void BM_TopicLookup(benchmark::State& state) {
  Qsbr qsbr(1);
  RetireList retire(&qsbr);
  TopicTable table(&retire);
  ClientSubs subs;
  int owner = 0;
  const int n = static_cast<int>(state.range(0));
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    names.push_back("channel." + std::to_string(i));
    table.subscribe(TopicKind::kChannel, names.back(), &owner, &subs);
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.find(TopicKind::kChannel, names[i++ % names.size()]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TopicLookup)->Arg(100)->Arg(100000);

void BM_CountReceiversWithPatterns(benchmark::State& state) {
  Qsbr qsbr(1);
  RetireList retire(&qsbr);
  TopicTable table(&retire);
  ClientSubs subs, pats;
  int owner = 0;
  table.subscribe(TopicKind::kChannel, "news.football", &owner, &subs);
  for (int i = 0; i < state.range(0); ++i) {
    table.subscribe(TopicKind::kPattern, "feed." + std::to_string(i) + ".*", &owner, &pats);
  }
  for (auto _ : state) benchmark::DoNotOptimize(table.count_receivers(TopicKind::kChannel, "news.football"));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CountReceiversWithPatterns)->Arg(0)->Arg(10)->Arg(100);

// One publish reaching one subscriber's queue, then that queue being flushed: the per-subscriber
// cost of the write path, by reference and by copy.
void BM_QueuePushFillComplete(benchmark::State& state) {
  ChunkPool pool;
  MessageArena arena(0, 1);
  OutboundQueue q(&pool);
  Block* b = arena.create(0, "channel.name", std::string(static_cast<size_t>(state.range(0)), 'x'));
  const bool copy = state.range(1) != 0;
  struct iovec iov[64];
  for (auto _ : state) {
    for (int i = 0; i < 64; ++i) q.append_push({}, &b->origin_hold, b->frame(), copy);
    size_t n = q.fill(iov, 64, 1 << 20);
    size_t bytes = 0;
    for (size_t i = 0; i < n; ++i) bytes += iov[i].iov_len;
    q.complete(bytes);
  }
  state.SetItemsProcessed(state.iterations() * 64);
  hold_release(&b->origin_hold);
}
BENCHMARK(BM_QueuePushFillComplete)->ArgsProduct({{64, 1024}, {0, 1}})->ArgNames({"size", "copy"});

void BM_RingThroughput(benchmark::State& state) {
  SpscRing<uint64_t> ring(4096);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> consumed{0};
  std::thread consumer([&] {
    uint64_t buf[256], n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      size_t k = ring.pop(buf, 256);
      n += k;
      if (k == 0) std::this_thread::yield();
    }
    while (size_t k = ring.pop(buf, 256)) n += k;
    consumed = n;
  });
  uint64_t pushed = 0;
  for (auto _ : state) {
    for (int i = 0; i < 256; ++i) {
      while (!ring.try_push(pushed)) {
        ring.publish();
        std::this_thread::yield();
      }
      ++pushed;
    }
    ring.publish();
  }
  stop = true;
  consumer.join();
  state.SetItemsProcessed(static_cast<int64_t>(pushed));
}
BENCHMARK(BM_RingThroughput)->UseRealTime();

}  // namespace
}  // namespace fanout

BENCHMARK_MAIN();
