// The rings between shards: messages in (delivered to local subscribers), blocks going back to
// the shard that made them, and the wake-ups both ways (empty to non-empty for the consumer,
// room again for a producer whose PUBLISH waits).
#include "net/shard_core.h"
#include "net/socket.h"

namespace fanout {

size_t ShardCore::drain_mailboxes(size_t budget) {
  // A request injected from outside the shards (SIGHUP: Broker::reload_acl) is taken here too.
  if (id_ == 0 && !shutting_down_ && shared_->acl_reload_requested.load(std::memory_order_relaxed) &&
      shared_->acl_reload_requested.exchange(false)) {
    reload_acl_on_signal();
  }
  size_t total = 0;
  for (int s = 0; s < shared_->nshards; ++s) {
    if (s == id_) continue;
    auto& ring = shared_->ring(s, id_);
    bool wake_producer = false;
    size_t got = ring.pop(mail_buf_.data(), std::min(budget, mail_buf_.size()), &wake_producer);
    if (wake_producer) signal_eventfd(shared_->wake_fds[s]);
    if (got) stats_->remote_batches.add();
    for (size_t i = 0; i < got; ++i) {
      const MailItem& item = mail_buf_[i];
      if (item.kind == MailItem::kAdmin) {
        run_admin_part(*item.admin);
        send_admin(item.admin->origin, MailItem::kAdminDone, item.admin);
        continue;
      }
      if (item.kind == MailItem::kAdminDone) {
        if (--item.admin->outstanding == 0) finish_admin(item.admin);
        continue;
      }
      if (item.kind == MailItem::kUpstreamInterest) {
        std::unique_ptr<UpstreamInterestItem> it(item.interest);
        if (up_) apply_interest(it->gained, it->kind, it->subject, it->from);
        continue;
      }
      Block* b = item.block;
      if (item.kind == MailItem::kReturn) {
        arena_.free_returned(b);
        continue;
      }
      Hold* h = arena_.adopt(b);
      deliver(b, h);
      hold_release(h);  // the adoption guard
    }
    total += got;
  }
  return total;
}

void ShardCore::send_admin(int dst, MailItem::Kind kind, AdminRequest* r) {
  // Never waits for room: one request per waiting client, which sends nothing more meanwhile.
  MailItem item;
  item.kind = kind;
  item.admin = r;
  shared_->ring(id_, dst).push_unbounded(item);
  ring_dirty_[dst] = 1;
}

void ShardCore::publish_mailboxes() {
  for (int d = 0; d < shared_->nshards; ++d) {
    if (d == id_) continue;
    auto& ring = shared_->ring(id_, d);
    if (arena_.has_returns()) {
      // Returns never wait for room: there are never more than the blocks that shard sent here,
      // which its own ring and its clients' queue limits bound.
      auto& ret = arena_.returns(d);
      for (Block* b : ret) ring.push_unbounded(MailItem{MailItem::kReturn, b});
      if (!ret.empty()) ring_dirty_[d] = 1;
      ret.clear();
    }
    if (!ring_dirty_[d]) continue;
    ring_dirty_[d] = 0;
    if (ring.publish()) signal_eventfd(shared_->wake_fds[d]);
  }
  arena_.clear_returns_count();
  stats_->queued_bytes.set(queued_.bytes);
  stats_->deliveries_queued.set(queued_.pushes);
  retire_.collect();
}

size_t ShardCore::teardown_drain() {
  size_t n = 0;
  for (int d = 0; d < shared_->nshards; ++d) {
    if (d != id_) shared_->ring(id_, d).publish();
  }
  for (int s = 0; s < shared_->nshards; ++s) {
    if (s == id_) continue;
    size_t got;
    while ((got = shared_->ring(s, id_).pop(mail_buf_.data(), mail_buf_.size())) != 0) {
      for (size_t i = 0; i < got; ++i) {
        Block* b = mail_buf_[i].block;
        if (mail_buf_[i].kind == MailItem::kReturn) {
          arena_.free_returned(b);
        } else if (mail_buf_[i].kind == MailItem::kPublish) {
          hold_release(arena_.adopt(b));
        } else if (mail_buf_[i].kind == MailItem::kUpstreamInterest) {
          delete mail_buf_[i].interest;
        }  // a command for every shard: its origin frees it (final_release)
      }
      n += got;
    }
  }
  return n;
}

void teardown_shards(std::span<ShardCore* const> shards) {
  for (ShardCore* s : shards) s->final_release();
  bool progress = true;
  while (progress) {
    progress = false;
    for (ShardCore* s : shards) progress |= s->teardown_drain() != 0;
    for (ShardCore* s : shards) {
      for (size_t o = 0; o < shards.size(); ++o) {
        auto& ret = s->arena().returns(static_cast<int>(o));
        for (Block* b : ret) shards[o]->arena().free_returned(b);
        progress |= !ret.empty();
        ret.clear();
      }
    }
  }
}

}  // namespace fanout
