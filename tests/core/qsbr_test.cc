// QSBR: a retired object is freed only after every participant has announced a quiescent state
// at or past its retirement, or is offline; a participant that never announces holds everything
// back. The concurrent case checks, under the sanitizers, that readers walking a list never touch
// a node a writer freed.
#include "core/qsbr.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace fanout {
namespace {

struct Tracked {
  explicit Tracked(int* freed) : freed(freed) {}
  ~Tracked() { ++*freed; }
  int* freed;
};

TEST(QsbrTest, FreedOnlyAfterEveryParticipantAnnouncesAGracePeriod) {
  Qsbr q(3);
  for (int i = 0; i < 3; ++i) q.online(i);
  int freed = 0;
  RetireList list(&q);
  list.retire(new Tracked(&freed));
  EXPECT_EQ(list.collect(), 0u);  // nobody has moved on yet
  q.quiescent(0);
  q.quiescent(1);
  EXPECT_EQ(list.collect(), 0u);  // participant 2 may still hold it
  EXPECT_EQ(freed, 0);
  q.quiescent(2);
  EXPECT_EQ(list.collect(), 1u);
  EXPECT_EQ(freed, 1);
  EXPECT_EQ(list.pending(), 0u);
}

TEST(QsbrTest, AnOfflineParticipantHoldsNothingBack) {
  Qsbr q(2);
  q.online(0);
  q.online(1);
  q.offline(1);  // blocked in its backend's wait: no pointers held
  int freed = 0;
  RetireList list(&q);
  list.retire(new Tracked(&freed));
  q.quiescent(0);
  EXPECT_EQ(list.collect(), 1u);
  // Coming back online announces the current epoch: it cannot hold what was retired before.
  list.retire(new Tracked(&freed));
  q.online(1);
  EXPECT_EQ(list.collect(), 0u);  // participant 0 has not moved past this one yet
  q.quiescent(0);
  EXPECT_EQ(list.collect(), 1u);
  EXPECT_EQ(freed, 2);
}

TEST(QsbrTest, AReaderThatNeverGoesQuiescentHoldsEverything) {
  Qsbr q(2);
  q.online(0);
  q.online(1);  // participant 1 stays inside one long read
  int freed = 0;
  RetireList list(&q);
  for (int round = 0; round < 100; ++round) {
    list.retire(new Tracked(&freed));
    q.quiescent(0);
    list.collect();
  }
  EXPECT_EQ(freed, 0);
  EXPECT_EQ(list.pending(), 100u);
  q.quiescent(1);
  EXPECT_EQ(list.collect(), 100u);
  EXPECT_EQ(freed, 100);
}

TEST(QsbrTest, ItemsRetiredLaterWaitForTheirOwnGracePeriod) {
  Qsbr q(2);
  q.online(0);
  q.online(1);
  int freed = 0;
  RetireList list(&q);
  list.retire(new Tracked(&freed));  // epoch e
  q.quiescent(1);                    // participant 1 is past e
  list.retire(new Tracked(&freed));  // epoch e + 1: participant 1's announcement predates it
  q.quiescent(0);
  EXPECT_EQ(list.collect(), 1u);  // only the first
  q.quiescent(1);
  EXPECT_EQ(list.collect(), 1u);
  EXPECT_EQ(freed, 2);
}

// Readers walk a shared list between quiescent announcements (sometimes going offline, as a
// shard does around its wait); a writer unlinks nodes and retires them. A node freed while a
// reader could still reach it shows as a poisoned value here and as a use-after-free under ASan.
TEST(QsbrTest, ConcurrentReadersNeverSeeAFreedNode) {
  constexpr int kReaders = 3;
  constexpr int kNodes = 20000;
  struct Node {
    std::atomic<Node*> next{nullptr};
    std::atomic<uint64_t> magic{0xfeedface};
    ~Node() { magic.store(0xdeadbeef, std::memory_order_relaxed); }
  };
  Qsbr q(kReaders + 1);
  std::atomic<Node*> head{nullptr};
  std::atomic<bool> done{false};
  std::atomic<uint64_t> bad{0}, walks{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      q.online(r);
      for (uint64_t i = 0; !done.load(std::memory_order_relaxed); ++i) {
        for (Node* n = head.load(std::memory_order_acquire); n; n = n->next.load(std::memory_order_acquire)) {
          if (n->magic.load(std::memory_order_relaxed) != 0xfeedface) bad.fetch_add(1);
        }
        walks.fetch_add(1, std::memory_order_relaxed);
        if (i % 16 == 15) {
          q.offline(r);
          std::this_thread::yield();
          q.online(r);
        } else {
          q.quiescent(r);
        }
      }
      q.offline(r);
    });
  }
  const int w = kReaders;
  q.online(w);
  {
    RetireList list(&q);
    // At least kNodes, and on until the readers have walked a while (they may start late on a
    // loaded machine), within a bound.
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (int i = 0; i < kNodes || (walks.load() < 1000 && std::chrono::steady_clock::now() < give_up); ++i) {
      // Push a node at the head, then unlink the second one (if any) and retire it.
      Node* n = new Node;
      n->next.store(head.load(std::memory_order_relaxed), std::memory_order_relaxed);
      head.store(n, std::memory_order_release);
      Node* victim = n->next.load(std::memory_order_relaxed);
      if (victim) {
        n->next.store(victim->next.load(std::memory_order_relaxed), std::memory_order_release);
        list.retire(victim);
      }
      q.quiescent(w);
      list.collect();
    }
    done = true;
    for (auto& t : readers) t.join();
    q.offline(w);
    list.collect();
    EXPECT_EQ(list.pending(), 0u);
  }
  for (Node* n = head.load(); n;) {
    Node* next = n->next.load();
    delete n;
    n = next;
  }
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GE(walks.load(), 1000u);
}

}  // namespace
}  // namespace fanout
