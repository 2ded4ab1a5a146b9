// Fuzz target: the Redis channel <-> NATS subject map and the covering subscription of a glob.
// Properties: any channel round-trips in both namespaces through a valid literal subject of the
// size subject_size() says; whatever decodes as a subject re-encodes to itself (canonical
// decoding: a bijection on the image); the covering subject of any pattern is a valid
// subscription, and receives the channel whenever glob_match says the pattern matches it.
//
// Input: pattern and channel separated by the first 0xff byte (a channel alone if there is
// none); the whole input is also tried as a subject.
#include <string>
#include <string_view>
#include <vector>

#include "core/glob.h"
#include "core/nats_protocol.h"
#include "core/subject_map.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

std::vector<std::string_view> tokens(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    out.push_back(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

// NATS's token matching: '*' one token, a final '>' one or more.
bool nats_match(std::string_view subscription, std::string_view subject) {
  std::vector<std::string_view> p = tokens(subscription), s = tokens(subject);
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == ">") return i == p.size() - 1 && s.size() > i;
    if (i >= s.size()) return false;
    if (p[i] != "*" && p[i] != s[i]) return false;
  }
  return p.size() == s.size();
}

const fanout::SubjectMap& map() {
  static const fanout::SubjectMap m = *fanout::SubjectMap::create();
  return m;
}

void round_trip(fanout::ChannelKind kind, std::string_view channel) {
  const std::string subject = map().subject_for_channel(kind, channel);
  FUZZ_CHECK(fanout::nats_subject_valid(subject, false));
  FUZZ_CHECK(map().subject_size(kind, channel) == subject.size());
  auto back = map().channel_for_subject(subject);
  FUZZ_CHECK(back.has_value() && back->kind == kind && back->channel == channel);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t cut = in.find('\xff');
  std::string_view pattern = cut == std::string_view::npos ? std::string_view() : in.substr(0, cut);
  std::string_view channel = cut == std::string_view::npos ? in : in.substr(cut + 1);
  round_trip(fanout::ChannelKind::kChannel, channel);
  round_trip(fanout::ChannelKind::kShardChannel, channel);
  round_trip(fanout::ChannelKind::kChannel, in);
  for (std::string_view s : {in, channel}) {
    if (auto m = map().channel_for_subject(s)) {
      FUZZ_CHECK(map().subject_for_channel(m->kind, m->channel) == s);
    }
  }
  const std::string cover = map().covering_subject(pattern);
  FUZZ_CHECK(fanout::nats_subject_valid(cover, true));
  if (fanout::glob_match(pattern, channel)) {
    FUZZ_CHECK(nats_match(cover, map().subject_for_channel(fanout::ChannelKind::kChannel, channel)));
  }
  // Shard channels live apart: no pattern's subscription receives them.
  FUZZ_CHECK(!nats_match(cover, map().subject_for_channel(fanout::ChannelKind::kShardChannel, channel)));
  return 0;
}
