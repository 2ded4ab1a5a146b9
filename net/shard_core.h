// The protocol half of a shard: its connections, topic table, message arena and the Redis
// command set. Backend-independent: it never calls the backend; it records what the loop must
// do (sends via the pending-write list, receive changes, closes) and ShardLoop<Backend> applies
// those between phases. Thread: its shard only, except where SharedState says otherwise.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/episode.h"
#include "core/message.h"
#include "core/outbound_queue.h"
#include "core/qsbr.h"
#include "core/topic_table.h"
#include "net/connection.h"
#include "net/shared_state.h"

namespace fanout {

// The commands and subcommands ACL rules may name, with their Redis categories.
std::span<const AclCommandInfo> server_acl_catalog();

class ShardCore {
 public:
  ShardCore(int id, SharedState* shared);
  virtual ~ShardCore();
  ShardCore(const ShardCore&) = delete;
  ShardCore& operator=(const ShardCore&) = delete;

  int id() const { return id_; }
  TopicTable& table() { return table_; }

  // A new socket: a connection, or null if it was refused (max clients).
  Conn* accept(int fd);
  // accept failed (EMFILE, ENFILE, ENOBUFS...): counted, logged once per episode.
  void on_accept_error(int err);
  Conn* lookup(uint64_t id) {
    uint32_t slot = static_cast<uint32_t>(id);
    if (slot >= conns_.size() || !conns_[slot] || conns_[slot]->gen != (id >> 32)) return nullptr;
    return conns_[slot].get();
  }
  void on_input(Conn* c, const char* data, size_t n);
  void on_sent(Conn* c, int res);
  // The client shut down its side (or closed): replies it is owed are still sent, then it is
  // closed. (On io_uring the end of input can arrive in the same batch as the commands before it.)
  void on_peer_eof(Conn* c);
  // Marks for close; the loop cancels and frees it at the end of the iteration.
  void close_conn(Conn* c, const char* why);

  // Loop phases.
  size_t drain_mailboxes(size_t budget);
  void retry_blocked();
  void retry_backoff();
  // Once a second: closes clients idle past --idle-timeout and clients whose command has stayed
  // incomplete past --request-timeout, and logs the end of quiet episodes.
  void reap_stalled();
  bool publish_mailboxes();  // end of iteration: push returns, make batches visible, wake peers
  bool mailboxes_idle();     // before sleeping: true when no inbound ring has items
  void begin_shutdown();
  bool drained() const;
  void set_now(int64_t now_ms) { now_ms_ = now_ms; }
  int64_t now_ms() const { return now_ms_; }
  size_t connections() const { return live_; }
  ShardStats& stats() { return *stats_; }
  template <class F>
  void for_each_conn(F&& f) {
    for (auto& c : conns_) if (c) f(c.get());
  }
  // Teardown after every shard thread stopped: releases everything, including blocks that
  // other shards still hold references to through this shard's rings.
  void final_release();
  // Teardown: empties this shard's inbound rings (single-threaded, after every shard stopped).
  size_t teardown_drain();
  MessageArena& arena() { return arena_; }

 protected:
  // What the loop must apply.
  Conn* pending_head_ = nullptr;
  std::vector<Conn*> recv_changes_;
  std::vector<Conn*> close_list_;
  std::vector<Conn*> blocked_;
  std::vector<Conn*> backoff_;
  int64_t backoff_until_ms_ = 0;

  // Empties the pending-write list, calling send(c) for each connection still open: the one
  // walk both the loop's flush and test harnesses use.
  template <class F>
  void take_pending(F&& send) {
    Conn* list = pending_head_;
    pending_head_ = nullptr;
    while (list) {
      Conn* c = list;
      list = c->next_pending;
      c->pending = false;
      c->next_pending = nullptr;
      if (!c->closing) send(c);
    }
  }
  void mark_pending(Conn* c) {
    if (c->pending || c->closing) return;
    c->pending = true;
    c->next_pending = pending_head_;
    pending_head_ = c;
  }
  void set_want_recv(Conn* c, bool want);
  void unsubscribe_all(Conn* c);
  void update_topic_gauges();
  void free_conn(Conn* c);

  const int id_;
  SharedState* shared_;
  const ServerConfig& cfg_;
  ShardStats* stats_;
  RetireList retire_;
  TopicTable table_;
  MessageArena arena_;
  ChunkPool chunks_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> gens_;  // per slot, survives the connection
  size_t live_ = 0;
  QueueGauge queued_;  // every client queue's bytes and pushes, summed
  uint64_t delivered_ = 0;  // pushes enqueued by the current deliver()
  size_t queued_cap_;
  int64_t now_ms_ = 0;
  int64_t next_reap_ms_ = 0;
  // Logged once when they begin and once when they end (after a quiet second).
  Episode accept_failing_, refusing_clients_, shedding_for_cap_;
  int64_t auth_window_ms_ = 0;   // the second auth_window_failures_ counts in
  int auth_window_failures_ = 0;
  bool shutting_down_ = false;
  std::vector<uint32_t> remote_counts_;
  std::vector<uint8_t> ring_dirty_;
  std::vector<MailItem> mail_buf_;

 private:
  size_t process(Conn* c, const char* buf, size_t len);
  void process_buffered(Conn* c);
  // False when the command could not run yet (mailbox full); it is retried later.
  bool execute(Conn* c, std::span<const std::string_view> args);
  void reply_error(Conn* c, std::string_view msg);
  // -1 when blocked on a full mailbox, else the number of receivers.
  int64_t publish(TopicKind kind, std::string_view channel, std::string_view payload);
  uint32_t deliver(Block* b, Hold* h);
  uint32_t deliver_to_subscribers(Block* b, Hold* h);
  void push_message(Conn* c, std::string_view header, Hold* h, std::string_view body);
  bool admit_overflow(Conn* c, Overflow why, size_t len);
  void maybe_pause_input(Conn* c);
  void end_episodes();

  // Commands (commands.cc).
  void cmd_subscribe(Conn* c, TopicKind kind, std::span<const std::string_view> args);
  void cmd_unsubscribe(Conn* c, TopicKind kind, std::span<const std::string_view> args);
  // Why `name` may not be subscribed by `c` (a per-client limit), or empty.
  std::string subscription_refusal(const Conn* c, TopicKind kind, std::string_view name) const;
  void cmd_pubsub(Conn* c, std::span<const std::string_view> args);
  void cmd_hello(Conn* c, std::span<const std::string_view> args);
  void cmd_client(Conn* c, std::span<const std::string_view> args);
  void cmd_info(Conn* c, std::span<const std::string_view> args);
  void cmd_reset(Conn* c);
  // Checks a default-user password. On failure replies WRONGPASS, counts it, and closes a client
  // that keeps failing (or any failing client while this shard sees a burst of failures).
  bool check_auth(Conn* c, std::string_view user, std::string_view pass);
  void hello_reply(Conn* c);
  void subscription_reply(Conn* c, std::string_view kind, std::string_view name, bool null_name,
                          size_t count);
};

}  // namespace fanout
