// The tier (issue 13): fanoutd nodes joined through a NATS cluster. What each node and each shard
// keeps for it; the work is ShardCore's (net/upstream.cc: interest, delivery, publishing;
// net/upstream_link.cc: the NATS client connection).
//
// How it works (README "Scale out"; DESIGN.md "An upstream link"):
//   - Every shard keeps one NATS client connection (its link), in its own event loop, opened with
//     the backend's connect operation: no side thread, no lock on the fan-out path.
//   - Interest: the upstream subscription of a channel (or of a pattern's covering subject) is
//     owned by the shard upstream_owner(kind, subject, shards). A shard whose table gains the
//     first local subscriber of a topic tells the owner (a control item on their ring, or directly
//     when it is the owner); likewise when the last leaves. The owner subscribes on its link and
//     unsubscribes after --upstream-linger (core/upstream_interest.h).
//   - A message from upstream arrives at the owner of the subscription it matched (NATS sends one
//     copy per matching subscription, each with its sid): the owner encodes it once (a routed
//     block: core/message.h) and hands a reference to each shard that has that interest, which
//     delivers it to exactly the subscriptions that sid stands for.
//   - A local PUBLISH is delivered locally at once and published upstream on the publishing shard's
//     own link (so one publisher's messages keep their order), tagged with the node's name in a
//     NATS header; every node drops messages carrying its own name (its echo).
// Thread: UpstreamNode is immutable after start, shared by every shard; UpstreamShard is its
// shard's only.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/nats_parser.h"
#include "core/nats_protocol.h"
#include "core/subject_map.h"
#include "core/topic_table.h"
#include "core/upstream_interest.h"
#include "core/upstream_servers.h"
#include "core/upstream_url.h"
#include "net/config.h"

namespace fanout {

struct Conn;

// The node's tier settings, resolved at start (credential files read). Immutable afterwards.
struct UpstreamNode {
  // Builds it from cfg (validate_config has checked the settings). False with *err when a
  // credentials file cannot be read or TLS is asked for (tls:// upstreams are not built yet).
  static bool build(const ServerConfig& cfg, const std::string& run_id, UpstreamNode* out, std::string* err);

  std::vector<UpstreamUrl> urls;
  std::string name;  // the node's name in the tier: --upstream-name or generated
  // Fanout-Origin's value: "<name>/<16 hex digits of this process's run id>", so that two
  // processes given one name are told apart (and the clash is reported) instead of each dropping
  // the other's messages as its own.
  std::string origin;
  SubjectMap map = *SubjectMap::create();
  std::string user, password, token;  // from the settings' files (a URL's own credentials win)
  int64_t ping_interval_ms = 30'000;
  int64_t linger_ms = 1'000;
  size_t pending_bytes = 64u << 20;
};

// A control item between shards: shard `from` gained or lost local interest in (kind, subject).
// Allocated by the sender, freed by the owner (or by the teardown if it never ran).
struct UpstreamInterestItem {
  bool gained = false;
  UpstreamKind kind = UpstreamKind::kChannel;
  std::string subject;
  int from = 0;
};

// SUB lines per confirmed batch when (re)subscribing: each batch is followed by a PING, the next
// sent on its PONG, so a reconnect re-subscribes at the server's pace, not as one storm.
inline constexpr size_t kResubscribeBatch = 256;

// One shard's link and the subscriptions it owns.
struct UpstreamShard {
  explicit UpstreamShard(const UpstreamNode& node);

  enum class State : uint8_t {
    kDown,         // waiting for retry_at_ms
    kConnecting,   // the backend's connect is in flight
    kHandshaking,  // connected: waiting for the server's INFO
    kSyncing,      // CONNECT and PING sent: the PONG says the server took them
    kUp,
  };
  static const char* state_name(State s);

  const UpstreamNode& node;
  UpstreamInterest interest;
  UpstreamServers servers;
  NatsParser parser;
  State state = State::kDown;
  Conn* conn = nullptr;              // the link's connection while not kDown
  std::string server;                // "host:port" of the server connected to (or tried)
  UpstreamUrl url;                   // that server, with its credentials
  uint64_t failures = 0;             // attempts failed since the link was last up
  int64_t retry_at_ms = 0;           // kDown: when to try next
  int64_t state_since_ms = 0;
  int64_t last_ping_ms = 0;
  int pings_out = 0;                 // keepalive PINGs unanswered
  std::deque<bool> pongs_due;        // per PING sent, in order: true for a batch's PING
  bool resyncing = false;            // a (re)subscription is in progress: audit when it completes
  size_t max_payload = kNatsDefaultMaxPayload;  // from the server's INFO
  bool reading_paused = false;       // a ring to another shard is full: reading waits
  // Publishes made while the link is not up, oldest first, as encoded HPUB frames (bounded by
  // node.pending_bytes: the oldest are dropped past it).
  struct Pending {
    std::string frame;     // the HPUB
    size_t payload_bytes;  // its payload's, for upstream_bytes_out
  };
  std::deque<Pending> pending;
  size_t pending_size = 0;
  // Patterns on this shard per covering subject: interest in a cover begins with its first
  // pattern and ends with its last.
  std::unordered_map<std::string, uint32_t> covers;
  std::string last_error;
  std::string scratch;  // reused for control lines
};

}  // namespace fanout
