// Redis channel names <-> NATS subjects, and Redis glob patterns -> the NATS subscription that
// covers them: how a Fanout node names what it publishes and subscribes to upstream.
//
// The mapping. A channel is split on '.' into tokens (k dots: k + 1 tokens, some maybe empty);
// each token is written on its own, and the tokens joined by '.' under a namespace:
//   <prefix>c.<tokens>   channels (PUBLISH, SUBSCRIBE, PSUBSCRIBE)
//   <prefix>s.<tokens>   shard channels (SPUBLISH, SSUBSCRIBE)
// A token's bytes that are "safe" (0x21..0x7e except '.', '*', '>' and '~') are written as they
// are; any other byte is written "~XX" (two upper-case hex digits), and the empty token is "~".
//   "news.sport"   -> fanout.c.news.sport        "news." -> fanout.c.news.~
//   "a b*"         -> fanout.c.a~20b~2A           ""      -> fanout.c.~
//   "~x"           -> fanout.c.~7Ex               (shard) "{u1}.x" -> fanout.s.{u1}.x
// Why per-byte escapes: names stay readable in NATS tools (`nats sub 'fanout.c.news.>'`), and
// the common ASCII names are written unchanged. The price is 3 bytes per escaped byte (UTF-8 or
// binary names grow 3x; base64url would grow 4/3 but make every such token unreadable); what
// does not fit a control line is refused (subject_fits_control_line), never truncated.
//
// Why it is a bijection onto its image (so that channel_for_subject inverts it, and two channels
// never share a subject): the token split is invertible (join with '.'); every written token is
// non-empty, dot-free and uses only safe bytes and '~'; decoding reads a token left to right, where
// '~' either is the whole token (empty) or starts exactly one "~XX", so each written token decodes
// to exactly one byte string. channel_for_subject accepts only canonical spellings: a safe byte
// escaped, lower-case hex, an escaped '.', "~" inside a longer token, a raw unsafe byte or an
// empty token are all refused, so decode(s) succeeds only for s = encode(decode(s)).
//
// Every subject written is a valid literal NATS subject: tokens non-empty, printable ASCII, no
// whitespace, and never "*" or ">" (those bytes are escaped).
//
// Pure; every function is thread-agnostic (a SubjectMap is immutable after create()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fanout {

// Which Redis namespace a name lives in (Redis keeps channels and shard channels apart).
enum class ChannelKind : uint8_t { kChannel, kShardChannel };

struct MappedChannel {
  ChannelKind kind = ChannelKind::kChannel;
  std::string channel;  // Redis's bytes: binary
};

// Room, in bytes, that the control lines carrying a subject need besides it: the arguments
// nats-server measures against its max_control_line ("<subject> <hdr> <total>" of HPUB, or
// "<subject> <sid>" of SUB: at most 22 bytes) rounded up. The HMSG line that brings such a
// subject back ("HMSG <subject> <sid> <hdr> <total>", <= subject + 48) then also fits the
// parser's default limit (NatsLimits: 4096 + 64).
inline constexpr size_t kSubjectLineOverhead = 32;

// Whether a subject of subject_size bytes can be sent in SUB and HPUB to a server whose
// max_control_line is the given one (NATS's default 4096, MAX_CONTROL_LINE_SIZE). A subject that
// does not fit would make the server answer "-ERR 'maximum control line exceeded'" and close the
// link: the caller refuses the channel instead, naming the limit.
inline bool subject_fits_control_line(size_t subject_size, size_t max_control_line = 4096) {
  return subject_size + kSubjectLineOverhead <= max_control_line;
}

class SubjectMap {
 public:
  static constexpr std::string_view kDefaultPrefix = "fanout.";

  // A map under `prefix`: "" or one or more tokens each followed by '.' ("fanout.",
  // "acme.prod."), tokens of bytes 0x21..0x7e other than '.', '*' and '>'. nullopt otherwise.
  static std::optional<SubjectMap> create(std::string_view prefix = kDefaultPrefix);

  const std::string& prefix() const { return prefix_; }

  // The subject for a channel (any bytes, empty included). append_ writes it at the end of *out
  // (for a caller that reuses a buffer); subject_size() says its length without writing it.
  std::string subject_for_channel(ChannelKind kind, std::string_view channel) const;
  void append_subject_for_channel(ChannelKind kind, std::string_view channel,
                                  std::string* out) const;
  size_t subject_size(ChannelKind kind, std::string_view channel) const;

  // The channel a subject names, or nullopt for any subject this map never writes (another
  // prefix, another namespace, a non-canonical spelling). The out-parameter form reuses
  // out->channel's storage and returns false (out unspecified) where the other returns nullopt.
  std::optional<MappedChannel> channel_for_subject(std::string_view subject) const;
  bool channel_for_subject(std::string_view subject, MappedChannel* out) const;

  // The narrowest NATS subscription subject that receives every channel the Redis glob
  // `pattern` can match (PSUBSCRIBE: Redis's stringmatchlen, as core/glob.h implements it; shard
  // channels have no patterns in Redis). Always a valid subscription subject in the channel
  // namespace: the pattern's exact subject if it has no glob character; otherwise its leading
  // tokens, each exact (all literal) or "*" (literal bytes and [sets] that cannot match '.'), up
  // to the first token with a '*', a '?' or a set that can match '.', where ">" stands for it and
  // the rest; "<prefix>c.>" when that is the first token. The proof is in subject_map.cc.
  // A long literal pattern gives a long subject: check it with subject_fits_control_line too.
  // Work: O(pattern).
  std::string covering_subject(std::string_view pattern) const;

 private:
  explicit SubjectMap(std::string_view prefix);

  std::string prefix_;
  std::string channels_;  // prefix_ + "c."
  std::string shards_;    // prefix_ + "s."
};

}  // namespace fanout
