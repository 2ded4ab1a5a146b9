// The protocol half of a shard: its connections, topic table, message arena, mailboxes and the
// Redis command set. Backend-independent: it never calls the backend; it records what the loop
// must do (sends via the pending-write list, receive changes, closes) and Shard<Backend> applies
// those between phases. Thread: its shard only, except where SharedState says otherwise.
//
// The work is split by responsibility over several files:
//   shard_core.cc     connection lifecycle: accept, close, free, timeouts, shutdown
//   input.cc          received bytes -> commands; pausing input; blocked publishes
//   delivery.cc       PUBLISH, fan-out into client queues, slow-consumer policies, send results
//   mailboxes.cc      the rings to and from other shards
//   commands.cc       the command table, dispatch and ACL checks
//   acl_commands.cc   ACL, and the rules' changes on every shard
//   pubsub_commands.cc, connection_commands.cc, client_commands.cc, cluster_commands.cc,
//   fanout_commands.cc, info.cc   the commands themselves
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
#include "core/proxy_protocol.h"
#include "core/qsbr.h"
#include "core/topic_table.h"
#include "net/admin.h"
#include "net/completion.h"
#include "net/connection.h"
#include "net/log.h"
#include "net/listener.h"
#include "net/shared_state.h"
#include "net/socket.h"

namespace fanout {

// The client's peer and local addresses as CLIENT LIST shows them ("ip:port"; "?:0" once the
// socket has no peer), looked up on first use (each a getpeername/getsockname) and kept.
// Thread: the client's shard.
void look_up_addresses(Conn* c);

// The commands and subcommands ACL rules may name (every command of Redis 7.0, and the 7.2
// subcommands Fanout has), with their Redis categories, those Fanout runs marked served.
std::span<const AclCommandInfo> server_acl_catalog();
// Whether ACL CAT lists a catalog entry: a command or subcommand Fanout implements.
bool acl_cat_lists(std::string_view name);
// INFO commandstats' names ("publish", "client|list"), by ShardStats::commands slot.
std::span<const std::string_view> command_stat_names();

class ShardCore;
struct CommandSpec;
// Teardown once every shard has stopped, single-threaded: releases every connection, then bounces
// blocks between arenas until each is back with the shard that made it and freed.
void teardown_shards(std::span<ShardCore* const> shards);

class ShardCore : private TopicObserver {
 public:
  ShardCore(int id, SharedState* shared);
  virtual ~ShardCore();
  ShardCore(const ShardCore&) = delete;
  ShardCore& operator=(const ShardCore&) = delete;

  int id() const { return id_; }
  TopicTable& table() { return table_; }
  size_t connections() const { return live_; }
  ShardStats& stats() { return *stats_; }
  MessageArena& arena() { return arena_; }
  // Commands every shard answers that this shard started and are not complete yet.
  size_t admin_pending() const { return admin_.size(); }
  // PUBSUB CHANNELS replies being built: how many, and the bytes their pieces hold.
  size_t walking() const { return walking_.size(); }
  size_t walk_bytes() const { return walk_bytes_; }

  // Teardown after every shard thread stopped (Broker::join), single-threaded: releases every
  // connection (closing its socket), including blocks other shards still hold through this
  // shard's rings.
  virtual void final_release() = 0;
  // Teardown: empties this shard's inbound rings. Returns the items taken.
  size_t teardown_drain();

  // Changes the ACL rules everywhere, then replies (acl_commands.cc). Runs `edit` on the
  // authoritative rules (AclAuthority::change, serialised with every other shard's changes); on
  // an error replies it ("ERR <error>") and nothing changes. Otherwise this shard applies the new
  // rules at once and every other shard at its next loop iteration (apply_acl: clients of a
  // deleted user, and subscribers that lost a channel, are closed), and the client gets +OK (or
  // the edit's *count as an integer, with integer_reply) once every shard has them; its later
  // commands wait for that reply. CONFIG SET requirepass is
  //   change_acl(c, AclAuthority::set_requirepass(std::string(value)));
  // (and its name belongs in commands.cc's answers_later, which refuses it inside MULTI).
  // Thread: this shard's, from a command handler (c is the client running it).
  void change_acl(Conn* c, const AclAuthority::Edit& edit, bool integer_reply = false);
  // The rules this shard runs with (its snapshot). Thread: this shard's.
  const Acl& acl() const { return *acl_; }

 protected:
  // An accepted socket: the connection, or null with the reply to refuse it with (null reply:
  // close without one, as when shutting down).
  struct Accepted {
    Conn* conn = nullptr;
    const char* refusal = nullptr;
  };
  Accepted accept(int fd, const Listener& l);
  // accept failed (EMFILE, ENFILE, ENOBUFS...): counted, logged once per episode.
  void on_accept_error(int err);
  // A receive or send completion: stale ones (a slot with a new owner) are counted and dropped.
  void on_io_completion(const Completion& e);

  // Loop phases, in the order Shard<Backend>::iterate runs them.
  void set_now(int64_t now_ms) { now_ms_ = now_ms; }
  void begin_shutdown(int64_t deadline_ms);
  size_t drain_mailboxes(size_t budget);
  void retry_blocked();
  void retry_backoff();
  // Advances every PUBSUB CHANNELS and FANOUT TOPCHANNELS reply in the making by one slice
  // (ChannelWalk), and shard 0's walk for /metrics' top channels (with --metrics-port: a slice
  // every 10 ms at most, a new walk a second after the last).
  void step_walks();
  void refresh_top_channels();
  // Once a second: closes clients idle past --idle-timeout and clients whose command has stayed
  // incomplete past --request-timeout, logs the end of quiet episodes, and samples what INFO
  // shows per second (sample_second, and the largest client buffers).
  void reap_stalled();
  void sample_second();
  // CONFIG RESETSTAT's part on this shard.
  void reset_stats();
  // CONFIG SET's part on this shard: takes the new configuration if it is newer than its own and
  // applies what is derived from it (the queued-output cap, open clients' request limits, the log
  // level).
  void apply_config(const ServerConfig& cfg, uint64_t version);
  void publish_mailboxes();  // push returns, make batches visible, wake peers
  // During shutdown: closes every client once all output is sent and the rings are empty, or
  // at the deadline (counting what was left undelivered and logging it); then the metrics
  // endpoint's connections, once every shard has closed its clients.
  void shutdown_step();
  void close_http_when_all_drained();
  // True once shutdown has closed every connection and each is freed, or its cancelled
  // operations have had a grace period to complete.
  bool may_exit();
  // True once the drain is over: every connection closed (clients once drained or at the
  // deadline, the metrics endpoint's once every shard's clients are).
  bool drained() const { return http_closed_; }
  // A TLS client's next send (tls_io.cc): its staged records, or records made now from its queue
  // (packed from the queue's iovecs, written into iov first). Returns 1 with iov[0] set, or 0
  // when nothing can be sent yet (the handshake is not done, the queue is empty).
  size_t tls_next_send(Conn* c, struct iovec* iov, size_t max_iov);
  // Empties the pending-write list, calling send(c) for each connection still open.
  template <class F>
  void take_pending(F&& send) {
    Conn* list = pending_head_;
    pending_head_ = nullptr;
    while (list) {
      Conn* c = list;
      list = c->next_pending;
      c->pending = false;
      c->next_pending = nullptr;
      if (!c->closing()) send(c);
    }
  }
  // Empties the receive-change list, calling apply(c) for each connection still open.
  template <class F>
  void take_recv_changes(F&& apply) {
    if (recv_changes_.empty()) return;
    std::vector<Conn*> list;
    list.swap(recv_changes_);
    for (Conn* c : list) {
      c->recv_queued = false;
      if (!c->closing()) apply(c);
    }
  }
  // Connections marked for close: cancel(c) for each not yet cancelled (after its
  // subscriptions are gone), then free(c) for each that may_free(), which must close its fd.
  template <class Cancel, class Free>
  void take_closes(Cancel&& cancel, Free&& free) {
    if (close_list_.empty()) return;
    for (Conn* c : close_list_) {
      if (c->state != ConnState::kClosing) continue;
      unsubscribe_all(c);
      if (c->upstream_link) {
        upstream_link_closed(c);
      } else {
        (c->http ? shared_->http_connections : shared_->clients).fetch_sub(1, std::memory_order_relaxed);
      }
      c->state = ConnState::kCancelled;
      cancel(c);
    }
    size_t kept = 0;
    for (Conn* c : close_list_) {
      if (c->may_free()) {
        free(c->fd);
        release_conn(c);
      } else {
        close_list_[kept++] = c;
      }
    }
    close_list_.resize(kept);
  }
  // The tier (net/upstream_link.cc): one step of the link, each iteration (connect, time out,
  // keepalive, subscription batches).
  void upstream_step();
  // Connections the shard opens itself (the NATS link), for the loop to hand to the backend's
  // connect: f(conn, address) for each, once.
  struct PendingConnect {
    Conn* conn;
    SocketAddress addr;
  };
  template <class F>
  void take_connects(F&& connect) {
    for (PendingConnect& p : connects_) {
      if (p.conn->closing()) continue;
      ++p.conn->ops;
      connect(p);
    }
    connects_.clear();
  }
  void upstream_connected(Conn* c, int res);
  // The wait before the next iteration: 0 while work is queued, else until the next timer.
  int next_timeout_ms();
  // Counts an iteration that was busy (from waking to its end) for `us` microseconds.
  void account_busy(int64_t us) {
    stats_->loop_iterations.add();
    stats_->loop_busy_us.add(static_cast<uint64_t>(us));
    if (static_cast<uint64_t>(us) > stats_->loop_busy_max_us.get()) stats_->loop_busy_max_us.set(static_cast<uint64_t>(us));
    if (us > 1000) stats_->loop_iterations_over_1ms.add();
  }
  // Releases every connection; close(fd) for each socket.
  template <class Close>
  void release_all(Close&& close) {
    for (auto& c : conns_) {
      if (!c) continue;
      if (c->state == ConnState::kOpen || c->state == ConnState::kClosing) unsubscribe_all(c.get());
      if (c->fd >= 0) close(c->fd);
      c->fd = -1;
      release_conn(c.get());
    }
    stats_->queued_bytes.set(queued_.bytes);
    stats_->deliveries_queued.set(queued_.pushes);
  }

  const int id_;
  bool serves_http_ = false;  // this shard accepts on the metrics endpoint (set by Shard)
  SharedState* shared_;
  ServerConfig cfg_;  // this shard's copy: CONFIG SET replaces it at a loop boundary
  uint64_t cfg_version_ = 0;
  ShardStats* stats_;
  int64_t now_ms_ = 0;
  bool shutting_down_ = false;

 private:
  // The tier (net/upstream.cc, net/upstream_link.cc; net/upstream.h says how it works).
  void topic_added(TopicNode* node) override;
  void topic_removed(TopicNode* node) override;
  void report_interest(bool gained, UpstreamKind kind, const std::string& subject);
  void apply_interest(bool gained, UpstreamKind kind, std::string_view subject, int from);
  // Why (kind, name) cannot be subscribed upstream ("" if it can): its NATS subject is too long.
  std::string upstream_refusal(TopicKind kind, std::string_view name) const;
  void upstream_message(const NatsOp& op);
  void upstream_publish(TopicKind kind, std::string_view channel, std::string_view payload);
  void upstream_connect();
  void upstream_input(Conn* c, const char* data, size_t n);
  void upstream_info(const NatsServerInfo& info);
  void upstream_pong();
  void upstream_ping(bool batch);
  void upstream_error(std::string_view text);
  void upstream_fail(const std::string& why);
  void upstream_down();
  void upstream_link_closed(Conn* c);
  void upstream_audit();
  // When the link next has timed work (a retry, a PING, a handshake's deadline, a linger's end), ms.
  int64_t upstream_next_ms() const;
  bool shard_has_interest(int shard, UpstreamKind kind, std::string_view subject) const;
  std::unique_ptr<UpstreamShard> up_;  // with --upstream
  size_t link_live_ = 0;               // of live_, the NATS link's connection (0 or 1)
  std::vector<PendingConnect> connects_;
  Episode upstream_not_forwarded_, upstream_errors_, upstream_name_clash_;

  // Connection lifecycle (shard_core.cc).
  // A new connection in a free slot (the caller has checked the limits).
  Conn* add_conn(int fd, const Listener& l);
  // The NATS link's connection (net/upstream_link.cc): not a client.
  Conn* add_link_conn(int fd);
  Accepted accept_http(int fd, const Listener& l);
  Conn* lookup(ConnId id) {
    if (id.slot >= conns_.size() || !conns_[id.slot] || conns_[id.slot]->gen != id.gen) return nullptr;
    return conns_[id.slot].get();
  }
  // Marks for close; the loop cancels and frees it at the end of the iteration.
  void close_conn(Conn* c, const char* why);
  // The client shut down its side (or closed): the commands it sent are still run and answered,
  // then it is closed.
  void on_peer_eof(Conn* c);
  // The last reply is queued (QUIT, a protocol error, too many failed AUTHs, end of input): no
  // more input is read and no more pushes are queued; the connection closes once its queue is
  // sent.
  void close_after_reply(Conn* c);
  // A held command finished: read on, or, if the client's input had ended, close after replies.
  void resume_input(Conn* c);
  void release_conn(Conn* c);
  void mark_pending(Conn* c) {
    if (c->pending || c->closing()) return;
    c->pending = true;
    c->next_pending = pending_head_;
    pending_head_ = c;
  }
  // Input wanted or not; applied by the loop between phases. Once shutdown begins no input is
  // read again.
  void set_want_recv(Conn* c, bool want);
  void unsubscribe_all(Conn* c);
  void update_topic_gauges();
  void end_episodes();
  // Logs the end of episode e once it has been quiet for kEpisodeQuietMs: "<head> (<count> <what>
  // over <ms> ms)", with the shard, count and duration as fields.
  void end_episode(Episode& e, const char* head, const char* what);
  static constexpr int64_t kEpisodeQuietMs = 1000;
  // A client as a log line names it (net/log.h): id, addr, name, user. Looks its addresses up on
  // first use (look_up_addresses).
  LogClient log_client(Conn* c);

  // Input (input.cc).
  void on_input(Conn* c, const char* data, size_t n);
  size_t process(Conn* c, const char* buf, size_t len);
  void process_buffered(Conn* c);
  void maybe_pause_input(Conn* c);
  void close_for_query_buffer(Conn* c, size_t bytes);
  // --proxy-protocol: takes the PROXY header from the start of c->in, naming the client by the
  // address it carries. False while it is incomplete, or after closing c for a bad one.
  bool take_proxy_header(Conn* c);
  // After a send: input paused for unread replies resumes once they are half gone.
  void on_sent_resume_input(Conn* c);

  // TLS clients (tls_io.cc).
  // A connection accepted on --tls-port: its session, from the context current now.
  void start_tls(Conn* c);
  // Received ciphertext: the handshake, then plaintext into on_input().
  void tls_input(Conn* c, const char* data, size_t n);
  // Counts a failed handshake by its reason, logs it (once per episode) and closes: after its
  // alert is sent, or at once (send_alert false: a timeout, whose client is not reading).
  void tls_handshake_failed(Conn* c, const std::string& why, bool send_alert = true);
  // Logs (once per episode) and closes a TLS client: after the alert its session staged has been
  // sent (a failed handshake), or at once (a session that broke after it: nothing more is sent).
  void tls_close(Conn* c, const std::string& why, bool send_alert);
  void on_tls_sent(Conn* c, int res);
  // A plaintext client's first bytes are a TLS handshake record: logged (once per episode), closed.
  void tls_on_plaintext_port(Conn* c);
  // Kernel TLS (net/tls_kernel.h): hands c's sending to the kernel, or keeps it in userspace for
  // good if the kernel refuses (counted, logged once per episode). Only once every ciphertext byte
  // of the session is sent and no send is in flight.
  void tls_start_kernel(Conn* c);
  // A kernel TLS client's next send: its queue's iovecs, as a plaintext client's, once charged to
  // its key's limit (closed instead when it would pass it).
  size_t kernel_tls_next_send(Conn* c, struct iovec* iov, size_t max_iov);

  // Delivery (delivery.cc).
  void on_sent(Conn* c, int res);
  // A send that moved nothing (err: an errno): try again, back off, or close; plaintext and TLS
  // clients alike.
  void on_send_error(Conn* c, int err);
  // -1 when blocked on a full mailbox, else the number of receivers. With may_wait false (inside
  // EXEC) it never blocks: rings take the message past their depth.
  int64_t publish(TopicKind kind, std::string_view channel, std::string_view payload, bool may_wait = true);
  uint32_t deliver(Block* b, Hold* h);
  uint32_t deliver_to_subscribers(Block* b, Hold* h);
  void push_message(Conn* c, std::string_view header, Hold* h, std::string_view body);
  bool admit_overflow(Conn* c, Overflow why, size_t len);
  // Logs the first push of an episode that a drop policy shed for a slow subscriber.
  void log_policy_drop(Conn* c, Overflow why);

  // The metrics endpoint's HTTP (http_endpoint.cc).
  void http_input(Conn* c, const char* data, size_t n);
  // Reads and answers the requests c->in holds, one at a time: the next once the last
  // response is sent.
  void http_process(Conn* c);
  void http_route(Conn* c, const HttpRequest& req);
  // Queues a whole response; closes after it unless keep_alive.
  void http_reply(Conn* c, int status, std::string_view content_type, std::string_view body, bool keep_alive,
                  bool head_only = false, std::string_view extra_headers = {});
  void http_on_sent(Conn* c);
  // Once a second: a request head incomplete too long (408), a connection idle too long.
  void http_timeouts(Conn* c);

  // Commands (commands.cc and the *_commands.cc files).
  // False when the command could not run yet (mailbox full); it is retried later.
  // queued: a command EXEC runs from the MULTI queue (only its ACL rights are checked again).
  bool execute(Conn* c, std::span<const std::string_view> args, bool queued = false);
  void reply_error(Conn* c, std::string_view msg);
  bool cmd_publish(Conn* c, TopicKind kind, std::span<const std::string_view> args);
  void cmd_subscribe(Conn* c, TopicKind kind, std::span<const std::string_view> args);
  void cmd_unsubscribe(Conn* c, TopicKind kind, std::span<const std::string_view> args);
  // Why `name` may not be subscribed by `c` (a per-client limit), or empty.
  std::string subscription_refusal(const Conn* c, TopicKind kind, std::string_view name) const;
  void subscription_reply(Conn* c, std::string_view kind, std::string_view name, bool null_name,
                          size_t count);
  void cmd_pubsub(Conn* c, std::span<const std::string_view> args);
  void start_channel_walk(Conn* c, TopicKind kind, std::span<const std::string_view> args);
  // One slice of c's walk; true once its reply is complete.
  bool step_walk(Conn* c);
  // Drops c's walk (finished, or its client gone), with the memory it held.
  void end_walk(Conn* c);
  // FANOUT (fanout_commands.cc). TOPCHANNELS walks in slices (ChannelWalk::top).
  void cmd_fanout(Conn* c, std::span<const std::string_view> args);
  bool step_top_channels(Conn* c);
  void cmd_ping(Conn* c, std::span<const std::string_view> args);
  void cmd_quit(Conn* c);
  void cmd_auth(Conn* c, std::span<const std::string_view> args);
  void cmd_select(Conn* c, std::span<const std::string_view> args);
  void cmd_hello(Conn* c, std::span<const std::string_view> args);
  void hello_reply(Conn* c);
  // CLIENT (client_commands.cc). LIST and KILL are answered by every shard (net/admin.h).
  void cmd_client(Conn* c, std::span<const std::string_view> args);
  void client_list(Conn* c, std::span<const std::string_view> args);
  void client_kill(Conn* c, std::span<const std::string_view> args);
  // CLIENT LIST's line for c, without the newline; argv_mem: the bytes of the command c is
  // running (the asking client's), else 0.
  std::string client_info_line(Conn* c, size_t argv_mem);
  bool client_matches(Conn* c, const ClientFilter& f);
  // Redis's addReplyHelp: the lines as an array of simple strings.
  void reply_help(Conn* c, std::span<const char* const> lines);
  // Commands every shard answers: the origin starts one (its part first), each shard runs its
  // part when the request arrives, and the origin replies once all are in.
  void start_admin(Conn* c, std::unique_ptr<AdminRequest> r);
  void run_admin_part(AdminRequest& r);
  void finish_admin(AdminRequest* r);
  void send_admin(int dst, MailItem::Kind kind, AdminRequest* r);
  // MULTI, EXEC, DISCARD (transaction.cc).
  void cmd_multi(Conn* c);
  void cmd_exec(Conn* c);
  void cmd_discard(Conn* c);
  void queue_in_transaction(Conn* c, std::span<const std::string_view> args, bool deferred);
  // A command refused before it ran: the error, and a MULTI in progress is then discarded at EXEC
  // (a refused EXEC answers EXECABORT with the reason at once).
  void reject(Conn* c, std::string_view msg, const CommandSpec* spec = nullptr);
  // A command Fanout does not have: Redis's answer for it (commands.cc).
  void reject_unknown(Conn* c, std::span<const std::string_view> args);
  // After each command: CLIENT REPLY SKIP mutes exactly the one command after it.
  void after_command(Conn* c);
  void cmd_config(Conn* c, std::span<const std::string_view> args);
  void config_set(Conn* c, std::span<const std::string_view> args);
  void config_rewrite(Conn* c);
  void cmd_command(Conn* c, std::span<const std::string_view> args);
  void cmd_acl(Conn* c, std::span<const std::string_view> args);
  // LATENCY and SLOWLOG: Fanout keeps per-command latency histograms (INFO latencystats, LATENCY
  // HISTOGRAM), not Redis's latency events or slow log, which answer as a Redis with none recorded.
  void cmd_latency(Conn* c, std::span<const std::string_view> args);
  void cmd_slowlog(Conn* c, std::span<const std::string_view> args);
  void latency_histogram(Conn* c, std::span<const std::string_view> args);
  void cmd_info(Conn* c, std::span<const std::string_view> args);
  // CLUSTER, READONLY, READWRITE (cluster_commands.cc): a Redis Cluster of one node owning every
  // slot, with Redis 7.0.15's replies; with --cluster-enabled no, Redis's "cluster support
  // disabled" error.
  void cmd_cluster(Conn* c, std::span<const std::string_view> args);
  void cmd_readonly(Conn* c);
  // Where CLUSTER SLOTS, SHARDS and NODES tell client c to connect: the address c reached (or
  // --cluster-announce-ip; "" on the unix socket), and the port for c (its TLS port to a TLS
  // client), besides the plaintext and TLS ports (0: none) that CLUSTER SHARDS lists. Looks the
  // address up (getsockname) at each call.
  struct ClusterEndpoint {
    std::string ip;
    int port = 0, plain_port = 0, tls_port = 0;
  };
  ClusterEndpoint cluster_endpoint(Conn* c) const;
  void cluster_slots(Conn* c);
  void cluster_shards(Conn* c);
  std::string cluster_nodes_line(Conn* c) const;
  void cmd_reset(Conn* c);
  // Checks a password. On failure replies WRONGPASS, counts it, logs it (ACL LOG, its object
  // `command` as the client wrote it: "AUTH", "hello"), and closes a client that keeps failing
  // (or any failing client while this shard sees a burst of failures).
  bool check_auth(Conn* c, std::string_view command, std::string_view user, std::string_view pass);
  // ACL (acl_commands.cc): Redis 7.0's subcommands but selectors.
  void acl_getuser(Conn* c, std::string_view name);
  void acl_log(Conn* c, std::span<const std::string_view> args);
  void acl_cat(Conn* c, std::span<const std::string_view> args);
  void acl_dryrun(Conn* c, std::span<const std::string_view> args);  // commands.cc
  // Publishes a change made by AclAuthority::change to every shard (c null: a SIGHUP reload,
  // `done` logged once every shard has it).
  void publish_acl(Conn* c, AclAuthority::Change change, bool integer_reply, std::string done);
  // SIGHUP (SharedState::acl_reload_requested), on shard 0: ACL LOAD without a client.
  void reload_acl_on_signal();
  // Swaps in rules newer than this shard's (an older version arriving late is skipped: the newer
  // includes it): each client is signed in as its user's new rules, or closed if the user is
  // gone (or deleted and created again) or, for a subscriber, if a subscription is no longer
  // allowed (Redis 7.0's ACLKillPubsubClientsIfNeeded; ACL LOAD as Redis 7.4 handles it). The
  // client that asked (r's) gets its reply before it is closed.
  void apply_acl(const std::shared_ptr<const Acl>& rules, uint64_t version, AdminRequest* r);
  // Records a denial in ACL LOG (context MULTI inside MULTI or EXEC).
  void log_acl_denial(Conn* c, AclLogEntry::Reason reason, std::string_view object, std::string_view user,
                      std::span<const std::string_view> args);

  friend struct CommandTable;

  RetireList retire_;
  TopicTable table_;
  MessageArena arena_;
  ChunkPool chunks_;
  TlsBufferPool tls_buffers_;  // before conns_: TLS sessions give their buffers back to it as they go
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> gens_;  // per slot, survives the connection
  size_t live_ = 0;       // connections in slots
  size_t http_live_ = 0;  // of which the metrics endpoint's
  QueueGauge queued_;  // every client queue's bytes and pushes, summed
  uint64_t delivered_ = 0;  // pushes enqueued by the current deliver()
  size_t queued_cap_;

  // What the loop must apply.
  Conn* pending_head_ = nullptr;
  std::vector<Conn*> recv_changes_;
  std::vector<Conn*> close_list_;
  std::vector<Conn*> blocked_;
  std::vector<Conn*> walking_;  // connections with a ChannelWalk
  std::unique_ptr<TopChannelsWalk> metrics_top_;  // shard 0: the walk for /metrics, while it runs
  int64_t next_top_refresh_ms_ = 0;  // its next slice, or the next walk's start
  size_t walk_bytes_ = 0;       // what those walks' replies hold so far
  std::vector<std::unique_ptr<AdminRequest>> admin_;  // commands every shard answers, begun here
  bool exec_running_ = false;   // inside EXEC: a PUBLISH does not wait for ring space
  std::vector<Conn*> backoff_;
  int64_t backoff_until_ms_ = 0;
  int64_t next_reap_ms_ = 0;
  uint64_t sampled_ops_ = 0, sampled_in_ = 0, sampled_out_ = 0;  // totals at the last sample
  int64_t shutdown_deadline_ms_ = 0;
  bool closed_all_ = false;   // the clients are closed (drained, or at the deadline)
  bool http_closed_ = false;  // and the metrics endpoint's connections too
  int64_t closed_all_ms_ = 0;

  // Mailboxes (mailboxes.cc).
  std::vector<uint32_t> remote_counts_;
  std::vector<uint8_t> ring_dirty_;
  std::vector<uint8_t> awaiting_space_;  // per destination: a blocked PUBLISH waits for room there
  bool retry_soon_ = false;              // room appeared while a blocked PUBLISH asked for it
  std::vector<MailItem> mail_buf_;

  // Logged once when they begin and once when they end (after a quiet second). The first line of
  // a client's episode names the client (the first one, when many are involved).
  Episode accept_failing_, refusing_clients_, shedding_for_cap_, refusing_proxy_headers_;
  Episode auth_failing_, slow_disconnects_, policy_drops_;
  std::vector<CidrBlock> proxy_from_;  // --proxy-protocol-from: sources whose connections send the header
  // TLS: the context this shard hands new sessions (refreshed when SharedState::tls changes), the
  // decrypted input of one receive, and the buffer a flush's iovecs are packed into for records.
  std::shared_ptr<const TlsContext> tls_ctx_;
  uint64_t tls_ctx_version_ = 0;
  std::string tls_plain_, tls_pack_;
  // TLS closes, one log episode per kind of failure (indexed by TlsFailure; closes with none, such
  // as a handshake timeout, count as kOther), and TLS ClientHellos on the plaintext port.
  Episode tls_failing_[static_cast<int>(TlsFailure::kOther) + 1];
  Episode tls_on_plaintext_port_, tls_kernel_fallback_;
  std::shared_ptr<const Acl> acl_;  // the rules as this shard last applied them
  uint64_t acl_version_ = 0;
  int64_t auth_window_ms_ = 0;   // the second auth_window_failures_ counts in
  int auth_window_failures_ = 0;
};

}  // namespace fanout
