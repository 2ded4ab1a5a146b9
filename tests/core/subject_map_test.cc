// Redis channels <-> NATS subjects: round trips of any bytes, injectivity, canonical decoding,
// and the covering subscription of a glob, checked against Fanout's glob matcher.
#include "core/subject_map.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/glob.h"
#include "core/nats_protocol.h"

namespace fanout {
namespace {

using namespace std::string_literals;

std::vector<std::string> tokens(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    out.emplace_back(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

// NATS's subject matching (docs.nats.io, "Subject-Based Messaging"): '*' matches one token, a
// final '>' one or more, any other token itself.
bool nats_match(std::string_view subscription, std::string_view subject) {
  std::vector<std::string> p = tokens(subscription), s = tokens(subject);
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == ">") return i == p.size() - 1 && s.size() > i;
    if (i >= s.size()) return false;
    if (p[i] != "*" && p[i] != s[i]) return false;
  }
  return p.size() == s.size();
}

const SubjectMap& map() {
  static const SubjectMap m = *SubjectMap::create();
  return m;
}

TEST(NatsMatchTest, TheTestsOwnMatcherFollowsNats) {
  EXPECT_TRUE(nats_match("a.*", "a.b"));
  EXPECT_FALSE(nats_match("a.*", "a.b.c"));
  EXPECT_FALSE(nats_match("a.*", "a"));
  EXPECT_TRUE(nats_match("a.>", "a.b.c"));
  EXPECT_FALSE(nats_match("a.>", "a"));
  EXPECT_TRUE(nats_match("a.b", "a.b"));
  EXPECT_FALSE(nats_match("a.b", "a.bc"));
}

TEST(SubjectMapTest, TheHeadersExamples) {
  EXPECT_EQ(map().subject_for_channel(ChannelKind::kChannel, "news.sport"), "fanout.c.news.sport");
  EXPECT_EQ(map().subject_for_channel(ChannelKind::kChannel, "news."), "fanout.c.news.~");
  EXPECT_EQ(map().subject_for_channel(ChannelKind::kChannel, "a b*"), "fanout.c.a~20b~2A");
  EXPECT_EQ(map().subject_for_channel(ChannelKind::kChannel, ""), "fanout.c.~");
  EXPECT_EQ(map().subject_for_channel(ChannelKind::kChannel, "~x"), "fanout.c.~7Ex");
  EXPECT_EQ(map().subject_for_channel(ChannelKind::kShardChannel, "{u1}.x"), "fanout.s.{u1}.x");
  EXPECT_EQ(map().subject_for_channel(ChannelKind::kChannel, ".."), "fanout.c.~.~.~");
  EXPECT_EQ(map().subject_for_channel(ChannelKind::kChannel, ">"), "fanout.c.~3E");
  EXPECT_EQ(map().subject_for_channel(ChannelKind::kChannel, "$SYS.x"), "fanout.c.$SYS.x");
  EXPECT_EQ(map().subject_for_channel(ChannelKind::kChannel, "\xc3\xa9"), "fanout.c.~C3~A9");
}

void expect_round_trip(ChannelKind kind, const std::string& channel) {
  std::string subject = map().subject_for_channel(kind, channel);
  ASSERT_TRUE(nats_subject_valid(subject, false)) << subject;
  ASSERT_EQ(map().subject_size(kind, channel), subject.size());
  auto back = map().channel_for_subject(subject);
  ASSERT_TRUE(back.has_value()) << subject;
  ASSERT_EQ(back->kind, kind);
  ASSERT_EQ(back->channel, channel) << subject;
}

TEST(SubjectMapTest, RoundTripsAnyBytes) {
  std::string all;
  for (int b = 0; b < 256; ++b) {
    std::string one(1, static_cast<char>(b));
    all += one;
    expect_round_trip(ChannelKind::kChannel, one);
    expect_round_trip(ChannelKind::kShardChannel, one);
    expect_round_trip(ChannelKind::kChannel, "x" + one + "y." + one);
  }
  expect_round_trip(ChannelKind::kChannel, all);
  for (std::string c : {""s, "."s, ".."s, "....."s, ".a."s, "a."s, ".a"s, " "s, " . "s, "*"s, ">"s,
                        "a.*.>"s, "~"s, "~~"s, "~41"s, "~.~"s, "$"s, "\0"s, "a\0b"s,
                        "\xe6\x96\xb0\xe9\x97\xbb.\xe4\xbd\x93\xe8\x82\xb2"s, "news.sport.eu"s,
                        "user:42:updates"s, std::string(100000, 'x'), std::string(5000, '.'),
                        std::string(3000, '\xff')}) {
    expect_round_trip(ChannelKind::kChannel, c);
    expect_round_trip(ChannelKind::kShardChannel, c);
  }
}

TEST(SubjectMapTest, InjectiveOnManyRandomNames) {
  // A small alphabet that hits the edges often: separators, escapes, hex digits, unsafe bytes.
  const std::string alphabet = "ab.~*> 2EA\x7f\x80"s + '\0';
  std::mt19937 rng(11);
  std::set<std::string> channels, subjects;
  for (int i = 0; i < 60000; ++i) {
    std::string c;
    for (size_t n = rng() % 9; n > 0; --n) c.push_back(alphabet[rng() % alphabet.size()]);
    ChannelKind kind = rng() % 4 == 0 ? ChannelKind::kShardChannel : ChannelKind::kChannel;
    std::string key = (kind == ChannelKind::kChannel ? "c:" : "s:") + c;
    if (!channels.insert(key).second) continue;
    std::string subject = map().subject_for_channel(kind, c);
    ASSERT_TRUE(subjects.insert(subject).second) << "two names map to " << subject;
    auto back = map().channel_for_subject(subject);
    ASSERT_TRUE(back.has_value() && back->channel == c && back->kind == kind) << subject;
  }
  EXPECT_GT(channels.size(), 30000u);  // distinct names (short ones repeat)
}

TEST(SubjectMapTest, RefusesWhatItNeverWrites) {
  for (std::string s :
       {""s, "fanout"s, "fanout."s, "fanout.c"s, "fanout.c."s, "fanout.s."s, "fanout.x.a"s,
        "fanoutc.a"s, "other.c.a"s, "fanout.c.a..b"s, "fanout.c.a."s, "fanout.c..a"s,
        "fanout.c.~41"s, "fanout.c.~2e"s, "fanout.c.~2E"s, "fanout.c.~7e"s, "fanout.c.a~"s,
        "fanout.c.a~2"s, "fanout.c.~~"s, "fanout.c.~~7E"s, "fanout.c.~G0"s, "fanout.c.a b"s,
        "fanout.c.*"s, "fanout.c.>"s, "fanout.c.a*b"s, "fanout.c.\x80"s, "fanout.c.a\tb"s,
        "fanout.c.x~"s, "fanout.c.~7"s}) {
    EXPECT_EQ(map().channel_for_subject(s), std::nullopt) << s;
  }
  // Whatever decodes, re-encodes to itself: decoding accepts canonical spellings only.
  const std::string alphabet = "fanout.cs~27EAF*>a ";
  std::mt19937 rng(5);
  int decoded = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string s = i % 2 ? "fanout.c." : "fanout.s.";
    for (size_t n = rng() % 8; n > 0; --n) s.push_back(alphabet[rng() % alphabet.size()]);
    auto m = map().channel_for_subject(s);
    if (!m) continue;
    ++decoded;
    ASSERT_EQ(map().subject_for_channel(m->kind, m->channel), s);
  }
  EXPECT_GT(decoded, 1000);
}

TEST(SubjectMapTest, OutParameterFormReusesItsString) {
  MappedChannel m;
  ASSERT_TRUE(map().channel_for_subject("fanout.s.a~20b.c", &m));
  EXPECT_EQ(m.kind, ChannelKind::kShardChannel);
  EXPECT_EQ(m.channel, "a b.c");
  ASSERT_TRUE(map().channel_for_subject("fanout.c.x", &m));
  EXPECT_EQ(m.channel, "x");
  EXPECT_FALSE(map().channel_for_subject("fanout.c.~41", &m));
  std::string out = "SUB ";
  map().append_subject_for_channel(ChannelKind::kChannel, "a.b", &out);
  EXPECT_EQ(out, "SUB fanout.c.a.b");
}

TEST(SubjectMapTest, Prefixes) {
  auto bare = SubjectMap::create("");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->subject_for_channel(ChannelKind::kChannel, "x"), "c.x");
  EXPECT_EQ(bare->covering_subject("x*"), "c.>");
  auto deep = SubjectMap::create("acme.prod.");
  ASSERT_TRUE(deep.has_value());
  EXPECT_EQ(deep->subject_for_channel(ChannelKind::kShardChannel, "x.y"), "acme.prod.s.x.y");
  EXPECT_EQ(deep->channel_for_subject("acme.prod.s.x.y")->channel, "x.y");
  EXPECT_EQ(deep->channel_for_subject("fanout.s.x.y"), std::nullopt);
  for (const char* bad : {"fanout", ".", "a..", ".a.", "a.*.", "a.>.", "a b.", "a\x80.", "*."}) {
    EXPECT_EQ(SubjectMap::create(bad), std::nullopt) << bad;
  }
}

TEST(SubjectMapTest, ControlLineFit) {
  // 4064 bytes of subject leave room for "HPUB <subject> <hdr> <total>" within 4096.
  EXPECT_TRUE(subject_fits_control_line(4064));
  EXPECT_FALSE(subject_fits_control_line(4065));
  EXPECT_TRUE(subject_fits_control_line(8000, 8192));
  const std::string fits(4064 - 9, 'x'), over(4064 - 8, 'x');
  EXPECT_TRUE(subject_fits_control_line(map().subject_size(ChannelKind::kChannel, fits)));
  EXPECT_FALSE(subject_fits_control_line(map().subject_size(ChannelKind::kChannel, over)));
  // Escaped bytes take three.
  EXPECT_EQ(map().subject_size(ChannelKind::kChannel, std::string(1000, ' ')), 9u + 3000u);
}

struct Cover {
  const char* pattern;
  const char* subject;
};

TEST(CoveringSubjectTest, Cases) {
  for (Cover c : std::vector<Cover>{
           {"news", "fanout.c.news"},
           {"a.b", "fanout.c.a.b"},
           {"a.b.*", "fanout.c.a.b.>"},
           {"news.*", "fanout.c.news.>"},
           {"news.sp*", "fanout.c.news.>"},
           {"news*", "fanout.c.>"},
           {"*", "fanout.c.>"},
           {"", "fanout.c.~"},
           {"a?b", "fanout.c.>"},
           {"a.?", "fanout.c.a.>"},
           {"[.]", "fanout.c.>"},
           {"a.[.]", "fanout.c.a.>"},
           {"\\*", "fanout.c.~2A"},
           {"a\\.b", "fanout.c.a.b"},
           {"a\\.b*", "fanout.c.a.>"},
           {"a.[bc]", "fanout.c.a.*"},
           {"a.[bc].d", "fanout.c.a.*.d"},
           {"a.x[bc]y.d.e f", "fanout.c.a.*.d.e~20f"},
           {"a.[^x].d", "fanout.c.a.>"},   // [^x] matches '.'
           {"a.[,-/].d", "fanout.c.a.>"},  // ','..'/' holds '.'
           {"a.[/-,].d", "fanout.c.a.>"},  // reversed ranges are swapped
           {"a.[-/].d", "fanout.c.a.*.d"}, // no range: '-' and '/' alone
           {"a.[\\.].d", "fanout.c.a.>"},  // an escaped '.' in a set
           {"a.[a-z].d.*", "fanout.c.a.*.d.>"},
           {"a.[bc", "fanout.c.a.*"},      // unclosed: the set runs to the end
           {"a.[b.", "fanout.c.a.>"},      // ... and holds the '.'
           {"a.[", "fanout.c.a.*"},        // matches nothing: any subject covers it
           {"a.b\\", "fanout.c.a.b\\"},    // a final '\' is literal (and a safe byte)
           {"a..*", "fanout.c.a.~.>"},
           {".*", "fanout.c.~.>"},
           {"a b.*", "fanout.c.a~20b.>"},
           {"~.*", "fanout.c.~7E.>"},
       }) {
    EXPECT_EQ(map().covering_subject(c.pattern), c.subject) << c.pattern;
    EXPECT_TRUE(nats_subject_valid(map().covering_subject(c.pattern), true)) << c.pattern;
  }
  // The careful cases of the brief, end to end.
  EXPECT_TRUE(nats_match(map().covering_subject("news.*"), map().subject_for_channel(ChannelKind::kChannel, "news.")));
  EXPECT_TRUE(nats_match(map().covering_subject("news*"), map().subject_for_channel(ChannelKind::kChannel, "news")));
  EXPECT_TRUE(nats_match(map().covering_subject("news*"), map().subject_for_channel(ChannelKind::kChannel, "news.x")));
  EXPECT_TRUE(nats_match(map().covering_subject("a?b"), map().subject_for_channel(ChannelKind::kChannel, "a.b")));
  EXPECT_FALSE(nats_match(map().covering_subject("a.b"), map().subject_for_channel(ChannelKind::kChannel, "a.b.c")));
  EXPECT_FALSE(nats_match(map().covering_subject("*"), map().subject_for_channel(ChannelKind::kShardChannel, "x")));
}

// A random pattern, and channels that it matches by construction (each glob unit replaced by
// what it may stand for), plus random channels.
std::string random_pattern(std::mt19937& rng) {
  static const std::vector<std::string> parts = {"a", "b", ".", ".", "*", "?", "[ab]", "[^a]", "[a-c]",
                                                 "[.]", "[-/]", "[,-/]", "\\.", "\\*", "\\", "~", " ", "[", "]", "^"};
  std::string p;
  for (size_t n = rng() % 7; n > 0; --n) p += parts[rng() % parts.size()];
  return p;
}

std::string random_channel(std::mt19937& rng) {
  static const std::string alphabet = "ab..c* ~-/\\[";
  std::string c;
  for (size_t n = rng() % 7; n > 0; --n) c.push_back(alphabet[rng() % alphabet.size()]);
  return c;
}

std::string instance_of(const std::string& p, std::mt19937& rng) {
  std::string c;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '*') {
      for (size_t n = rng() % 4; n > 0; --n) c.push_back("ab.."[rng() % 4]);
    } else if (p[i] == '?') {
      c.push_back("ab.x"[rng() % 4]);
    } else if (p[i] == '\\' && i + 1 < p.size()) {
      c.push_back(p[++i]);
    } else if (p[i] == '[') {
      c.push_back("ab.-x"[rng() % 5]);  // maybe in the set: glob_match decides
      size_t close = p.find(']', i + 1);
      i = close == std::string::npos ? p.size() : close;
    } else {
      c.push_back(p[i]);
    }
  }
  return c;
}

TEST(CoveringSubjectTest, ReceivesEveryChannelThePatternMatches) {
  std::mt19937 rng(3);
  int matched = 0, narrower = 0;
  for (int i = 0; i < 6000; ++i) {
    const std::string pattern = random_pattern(rng);
    const std::string cover = map().covering_subject(pattern);
    ASSERT_TRUE(nats_subject_valid(cover, true)) << pattern << " -> " << cover;
    if (cover != "fanout.c.>") ++narrower;
    for (int k = 0; k < 20; ++k) {
      const std::string channel = k % 2 ? random_channel(rng) : instance_of(pattern, rng);
      if (!glob_match(pattern, channel)) continue;
      ++matched;
      ASSERT_TRUE(nats_match(cover, map().subject_for_channel(ChannelKind::kChannel, channel)))
          << "pattern [" << pattern << "] matches [" << channel << "] but " << cover
          << " does not receive " << map().subject_for_channel(ChannelKind::kChannel, channel);
    }
  }
  // Both sides of the property were exercised.
  EXPECT_GT(matched, 15000);
  EXPECT_GT(narrower, 1500);
}

}  // namespace
}  // namespace fanout
