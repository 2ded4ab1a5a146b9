// What the shards of one server share: read-only config, the shard-to-shard rings (an N×N
// matrix of SPSC rings, ring(src, dst)), each shard's topic table (read lock-free for PUBLISH
// counts, under QSBR), statistics, and a few process-wide atomics. Built by the Broker before
// any shard thread starts; outlives them all.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/acl.h"
#include "core/message.h"
#include "core/qsbr.h"
#include "core/spsc_ring.h"
#include "core/topic_table.h"
#include "net/config.h"

namespace fanout {

struct MailItem {
  enum Kind : uint8_t { kPublish = 0, kReturn = 1 };
  Kind kind = kPublish;
  Block* block = nullptr;
};

// A counter written by one shard and read by any (INFO): relaxed, no lock prefix on the add.
struct Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(uint64_t n) { v.store(n, std::memory_order_relaxed); }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

struct alignas(64) ShardStats {
  Counter clients, connections_accepted, rejected_max_clients, accept_errors;
  Counter published, delivered, forwarded, remote_batches, bytes_sent;
  Counter overflow_hard, overflow_soft, overflow_messages, overflow_cap;
  Counter disconnected, dropped_newest, dropped_oldest;
  // Delivery accounting (see DeliveryTotals).
  Counter due, sent, discarded, queued_pushes;
  Counter protocol_errors, query_buffer_closes, send_errors, blocked_on_mailbox;
  Counter idle_timeouts, request_timeouts, auth_failures, auth_closes, subscriptions_refused, acl_denied;
  Counter queued_bytes, channels, patterns, shard_channels;
  // Backend counters, copied once per iteration.
  Counter sendmsg_calls, recv_calls, wait_calls, ctl_calls, sends_submitted, sends_completed,
      short_sends, eagain, completions, loop_iterations, accept_calls, enter_calls, cq_overflows,
      buffers_exhausted, stale_completions, register_calls;
};

// Every push owed to a subscriber (a message matched on the subscriber's shard) ends in exactly
// one of: sent (its last byte written to the socket), dropped by the newest- or oldest-first
// policy, discarded (still queued when its connection closed, including the push that
// triggered a disconnect), or still queued. Exact once the shards are quiescent; INFO reads
// the shards without stopping them, so a live snapshot may be off by what is in motion.
struct DeliveryTotals {
  uint64_t due = 0, sent = 0, dropped_newest = 0, dropped_oldest = 0, discarded = 0, queued = 0;
  bool balanced() const {
    return due == sent + dropped_newest + dropped_oldest + discarded + queued;
  }
};

struct SharedState {
  SharedState(const ServerConfig& c, int n, Acl a)
      : cfg(c), acl(std::move(a)), nshards(n), qsbr(n), tables(n, nullptr), stats(n), wake_fds(n, -1) {
    for (int i = 0; i < n * n; ++i) {
      rings.emplace_back(i / n == i % n ? nullptr : new SpscRing<MailItem>(c.mailbox_depth));
    }
  }
  SpscRing<MailItem>& ring(int src, int dst) { return *rings[src * nshards + dst]; }

  const ServerConfig& cfg;
  const Acl acl;  // users and their rights, read-only while shards run
  const int nshards;
  Qsbr qsbr;
  std::vector<TopicTable*> tables;
  std::vector<ShardStats> stats;
  std::vector<std::unique_ptr<SpscRing<MailItem>>> rings;
  std::vector<int> wake_fds;
  std::atomic<uint64_t> clients{0};
  std::atomic<uint64_t> next_client_id{1};
  std::atomic<bool> stopping{false};
  int64_t start_ms = 0;
  int port = 0;
  std::string backend_name;
  std::string backend_setup;  // io_uring: the setup flags the kernel accepted

  DeliveryTotals deliveries() const {
    DeliveryTotals t;
    for (const ShardStats& s : stats) {
      t.due += s.due.get();
      t.sent += s.sent.get();
      t.dropped_newest += s.dropped_newest.get();
      t.dropped_oldest += s.dropped_oldest.get();
      t.discarded += s.discarded.get();
      t.queued += s.queued_pushes.get();
    }
    return t;
  }
};

}  // namespace fanout
