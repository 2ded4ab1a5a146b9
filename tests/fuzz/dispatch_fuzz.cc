// Fuzz target: the command dispatcher, fed through real connection objects without sockets.
// A shard's protocol half (ShardCore) runs three connections; the input is a script of byte
// chunks sent by them, and a small loop plays the backend's part between chunks (sends complete
// in full, except for connection 2, which stops reading unless told to). Properties: nothing
// crashes or trips a sanitizer; every connection's output is a well-formed RESP stream; and
// after every round each push owed is sent, dropped, discarded or queued (DeliveryTotals); and
// once every connection is gone the shard holds no subscriptions and no queued bytes.
//
// Input: a sequence of [op][len][len bytes]. op bits 0-1: connection (0-2, 3 means 0); bit 2:
// connection 2 reads this round; bit 3: the client disconnects after sending; bit 4: a new
// connection replaces a closed one.
#include <sys/uio.h>

#include <cerrno>
#include <string>
#include <vector>

#include "core/resp_value.h"
#include "net/shard_core.h"
#include "tests/fuzz/fuzz_target.h"

namespace fanout {
namespace {

class FuzzShard : public ShardCore {
 public:
  using ShardCore::ShardCore;

  // One loop iteration's bookkeeping, as Shard<Backend> does it, with a kernel that takes every
  // byte (or none, for a reader that has stopped).
  void iterate(Conn* stopped, std::vector<std::string>* wire, const std::vector<Conn*>& conns) {
    retry_blocked();
    retry_backoff();
    publish_mailboxes();
    for (Conn* c : recv_changes_) c->recv_queued = false;
    recv_changes_.clear();
    take_pending([&](Conn* c) {
      struct iovec iov[64];
      size_t n = c->out.fill(iov, 64, 256 * 1024);
      if (n == 0) return;
      if (c == stopped) {
        on_sent(c, -EAGAIN);
        return;
      }
      size_t bytes = 0;
      for (size_t i = 0; i < n; ++i) {
        for (size_t k = 0; k < conns.size(); ++k) {
          if (conns[k] == c) (*wire)[k].append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
        }
        bytes += iov[i].iov_len;
      }
      on_sent(c, static_cast<int>(bytes));
    });
    for (Conn* c : close_list_) {
      unsubscribe_all(c);
      shared_->clients.fetch_sub(1, std::memory_order_relaxed);
      free_conn(c);
    }
    close_list_.clear();
    publish_mailboxes();
  }
  size_t queued() const { return queued_.bytes; }
};

// Parses every complete value in `wire` (dropping it); false if the stream is malformed.
bool well_formed(std::string* wire) {
  while (!wire->empty()) {
    RespValue v;
    std::string err;
    long n = parse_resp_value(wire->data(), wire->size(), &v, &err);
    if (n < 0) {
      std::fprintf(stderr, "malformed reply stream: %s\n", err.c_str());
      return false;
    }
    if (n == 0) break;
    wire->erase(0, static_cast<size_t>(n));
  }
  return true;
}

}  // namespace
}  // namespace fanout

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fanout;
  ServerConfig cfg;
  cfg.shards = 1;
  cfg.max_query_buffer = 64 * 1024;
  cfg.request.max_bulk_len = 4096;
  cfg.request.max_args = 64;
  cfg.request.max_inline_len = 1024;
  cfg.output.hard_bytes = 8 * 1024;
  cfg.output.soft_bytes = 0;
  cfg.output.max_messages = 64;
  // Users with partial rights, so AUTH, NOPERM and channel checks are reachable.
  static const Acl acl = [] {
    Acl a(server_acl_catalog());
    std::string err;
    std::vector<std::string> notes;
    bool ok = a.load("user pub on >p resetchannels &news.* +publish +ping\n"
                     "user sub on >s &news.* &a?c +@pubsub -publish -pubsub\n", &err, &notes);
    FUZZ_CHECK(ok);
    return a;
  }();
  SharedState shared(cfg, 1, acl);
  shared.qsbr.online(0);
  {
    FuzzShard shard(0, &shared);
    std::vector<uint64_t> ids(3, 0);  // by id: the server frees connections it closes
    std::vector<std::string> wire(3);
    auto conn = [&](size_t k) { return ids[k] ? shard.lookup(ids[k]) : nullptr; };
    auto open = [&](size_t k) {
      Conn* c = shard.accept(-1);  // no socket: FuzzShard::iterate plays the kernel
      ids[k] = c ? c->id() : 0;
      wire[k].clear();
    };
    for (size_t k = 0; k < 3; ++k) open(k);
    size_t i = 0;
    while (i + 2 <= size) {
      uint8_t op = data[i];
      size_t len = std::min<size_t>(data[i + 1], size - i - 2);
      const char* bytes = reinterpret_cast<const char*>(data + i + 2);
      i += 2 + len;
      size_t k = (op & 3) == 3 ? 0 : (op & 3);
      if (conn(k) == nullptr) {
        if (!(op & 16)) continue;
        open(k);
        if (conn(k) == nullptr) continue;
      }
      Conn* c = conn(k);
      if (!c->closing) shard.on_input(c, bytes, len);
      if (op & 8) shard.close_conn(c, "fuzz: client went away");
      std::vector<Conn*> live = {conn(0), conn(1), conn(2)};
      shard.iterate((op & 4) ? nullptr : live[2], &wire, live);
      shared.qsbr.quiescent(0);
      for (size_t j = 0; j < 3; ++j) FUZZ_CHECK(well_formed(&wire[j]));
      FUZZ_CHECK(shared.deliveries().balanced());
    }
    for (size_t j = 0; j < 3; ++j) {
      if (conn(j)) shard.close_conn(conn(j), "fuzz: done");
    }
    shard.iterate(nullptr, &wire, {nullptr, nullptr, nullptr});
    FUZZ_CHECK(shard.connections() == 0);
    FUZZ_CHECK(shard.queued() == 0);
    FUZZ_CHECK(shared.deliveries().balanced() && shared.deliveries().queued == 0);
    for (TopicKind kind : {TopicKind::kChannel, TopicKind::kPattern, TopicKind::kShardChannel}) {
      FUZZ_CHECK(shard.table().size(kind) == 0);
    }
    shared.qsbr.quiescent(0);
  }
  shared.qsbr.offline(0);
  return 0;
}
