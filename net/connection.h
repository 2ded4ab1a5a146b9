// One client connection. Owned by its shard (allocated in a slot, freed only at the end of a loop
// iteration once no backend operation is outstanding). Thread: its shard only.
//
// Connection lifecycle (ConnState):
//   1. kOpen: accepted into a slot; its id is the slot and the slot's new generation, so a late
//      completion for the slot's previous occupant (or for a reused fd) is recognised.
//      Receive completions feed the parser; commands reply into `out` and may subscribe; the
//      shard flushes `out` once per iteration from its pending-write list.
//   2. kClosing: close_conn() marked it; deliveries and flushes skip it. At the end of the
//      iteration its subscriptions are removed and its ops cancelled: kCancelled.
//   3. kCancelled: waiting for the final completion of every op it had outstanding.
//   4. Freed once may_free() holds: the one place that decides it (ShardCore::apply_closes).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/acl.h"
#include "core/backpressure.h"
#include "core/outbound_queue.h"
#include "core/resp_parser.h"
#include "core/topic_table.h"
#include "net/channel_walk.h"
#include "net/completion.h"
#include "net/http_request.h"
#include "net/listener.h"
#include "net/tls_session.h"

namespace fanout {

enum class ConnState : uint8_t { kOpen, kClosing, kCancelled };

struct AdminRequest;

// MULTI's queue (Redis's multiState): each queued command's arguments and their bytes, and
// whether a command was refused while queuing (EXEC then answers EXECABORT).
struct Transaction {
  std::vector<std::vector<std::string>> commands;
  size_t bytes = 0;
  bool aborted = false;
};

struct Conn {
  Conn(ChunkPool* pool, QueueGauge* gauge, const RequestLimits& limits) : out(pool, gauge), parser(limits) {}

  ConnId id() const { return ConnId{slot, gen}; }
  bool closing() const { return state != ConnState::kOpen; }
  // The one predicate for freeing: cancelled, no backend operation outstanding, and in none of
  // the shard's lists (pending writes, receive changes).
  bool may_free() const {
    return state == ConnState::kCancelled && ops == 0 && !pending && !recv_queued;
  }
  // Channel and pattern subscriptions: the count Redis reports for (P)(UN)SUBSCRIBE.
  size_t subscriptions() const { return channels.size() + patterns.size(); }
  // RESP2 clients with any subscription may only run pub/sub commands.
  bool pubsub_mode() const { return subscriptions() + shard_channels.size() > 0; }
  // Input is held (buffered, not parsed) while a command waits: a PUBLISH for ring space, a
  // PUBSUB CHANNELS whose reply is still being built, or a command answered by every shard.
  bool held() const { return blocked || walk != nullptr || admin != nullptr; }
  // Bytes wait to be sent: queued replies and pushes, or TLS records (a handshake message, an
  // alert) not yet sent.
  bool output_pending() const { return !out.empty() || (tls && tls->has_output()); }
  // Commands received are waiting until the client reads its replies (over the pause threshold).
  bool waits_for_reader() const { return paused_for_output && !in.empty(); }

  // Hot: read for every delivery to this connection, kept together at the front.
  ConnState state = ConnState::kOpen;
  bool pending = false;     // in the pending-write list
  int proto = 2;
  SoftLimitState soft;
  Conn* next_pending = nullptr;
  OutboundQueue out;

  uint32_t slot = 0;
  uint32_t gen = 0;
  int fd = -1;
  uint64_t client_id = 0;
  Protocol protocol = Protocol::kResp;  // from the listener that accepted it
  bool local = false;                   // accepted on the unix socket (CLIENT LIST flag U)
  // This shard's NATS link (net/upstream.h), not a client: no client limits, timeouts or counts.
  bool upstream_link = false;
  // Accepted on --tls-port: every byte in and out passes through it (userspace records).
  std::unique_ptr<TlsSession> tls;

  RequestParser parser;
  std::string in;  // unparsed input (a partial command, or input held while blocked)
  ClientSubs channels, patterns, shard_channels;
  std::string name;

  int ops = 0;              // backend operations outstanding
  bool recv_on = false;     // a receive op is outstanding
  bool want_recv = true;    // what the shard wants; applied between phases
  bool recv_queued = false; // in the shard's receive-change list
  bool send_inflight = false;
  bool close_after_flush = false;  // QUIT, or a protocol error: reply, then close
  bool awaiting_proxy = false;     // --proxy-protocol: its PROXY header must come before any command
  bool input_ended = false;        // the client shut down its side
  bool blocked = false;            // a PUBLISH waits for mailbox space
  std::unique_ptr<ChannelWalk> walk;  // a PUBSUB CHANNELS reply being built
  AdminRequest* admin = nullptr;      // a CLIENT LIST or KILL waiting for the other shards
  std::unique_ptr<Transaction> multi; // commands queued since MULTI
  // Protocol::kHttp: the metrics endpoint's request reader (null on a RESP connection, which
  // uses `parser`).
  std::unique_ptr<HttpRequestReader> http;
  bool paused_for_output = false;  // input paused until the client reads its replies
  int64_t created_ms = 0;
  int64_t last_input_ms = 0;    // for --idle-timeout (HTTP: the last input or send progress)
  int64_t partial_since_ms = -1;  // when the buffered, incomplete command began (-1: none)
  uint64_t commands = 0;          // commands executed
  // Signed in as; null until AUTH when the default user needed a password (the client then runs
  // as the default user while it takes none: ShardCore::execute). Points into its shard's rules
  // (ShardCore::acl_), re-pointed whenever they are replaced (apply_acl).
  const AclUser* user = nullptr;
  int auth_failures = 0;
  // CLIENT REPLY (Redis's CLIENT_REPLY_OFF, _SKIP_NEXT, _SKIP): the queue's replies_muted()
  // follows them after every command.
  bool reply_off = false, reply_skip_next = false, reply_skipping = false;
  std::string_view last_cmd = "NULL";  // CLIENT LIST's cmd=: a static name ("client|list")
  // "ip:port", looked up when CLIENT LIST first needs them; "/path:0" on the unix socket, as Redis
  // shows those (anet.c anetFdToString).
  std::string addr, laddr;
};

}  // namespace fanout
