#include "core/subject_map.h"

#include <vector>

#include "core/glob.h"

namespace fanout {
namespace {

constexpr char kEscape = '~';
constexpr char kHex[] = "0123456789ABCDEF";

// Bytes a token may hold as they are (see subject_map.h).
bool safe_byte(unsigned char c) {
  return c >= 0x21 && c <= 0x7e && c != '.' && c != '*' && c != '>' && c != kEscape;
}

size_t token_size(std::string_view token) {
  if (token.empty()) return 1;
  size_t n = 0;
  for (char c : token) n += safe_byte(static_cast<unsigned char>(c)) ? 1 : 3;
  return n;
}

void append_token(std::string_view token, std::string* out) {
  if (token.empty()) {
    out->push_back(kEscape);
    return;
  }
  for (char ch : token) {
    auto c = static_cast<unsigned char>(ch);
    if (safe_byte(c)) {
      out->push_back(ch);
    } else {
      out->push_back(kEscape);
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

int upper_hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes one written token, appending its bytes; false for anything append_token never writes.
bool decode_token(std::string_view token, std::string* out) {
  if (token.empty()) return false;
  if (token.size() == 1 && token[0] == kEscape) return true;  // the empty token
  for (size_t i = 0; i < token.size(); ++i) {
    auto c = static_cast<unsigned char>(token[i]);
    if (safe_byte(c)) {
      out->push_back(static_cast<char>(c));
      continue;
    }
    if (c != kEscape || token.size() - i < 3) return false;
    int hi = upper_hex_value(token[i + 1]), lo = upper_hex_value(token[i + 2]);
    if (hi < 0 || lo < 0) return false;
    auto b = static_cast<unsigned char>(hi * 16 + lo);
    // A safe byte is never escaped, and '.' never occurs inside a token.
    if (safe_byte(b) || b == '.') return false;
    out->push_back(static_cast<char>(b));
    i += 2;
  }
  return true;
}

template <typename Fn>
void for_each_token(std::string_view s, Fn fn) {
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) {
      fn(s.substr(start), true);
      return;
    }
    fn(s.substr(start, dot - start), false);
    start = dot + 1;
  }
}

// One position of a Redis glob, as stringmatchlen reads it (Redis util.c; the same reading as
// core/glob.cc and the reference matcher in tests/fuzz/glob_fuzz.cc).
struct Unit {
  enum Type : uint8_t { kLiteral, kAny, kSet, kStar } type;
  char byte = 0;              // kLiteral: the byte ("\x" already resolved to x)
  bool set_has_dot = false;   // kSet: whether the set matches '.'
};

std::vector<Unit> read_units(std::string_view p) {
  std::vector<Unit> units;
  const size_t n = p.size();
  for (size_t i = 0; i < n;) {
    const char c = p[i];
    if (c == '*') {
      while (i < n && p[i] == '*') ++i;
      units.push_back({Unit::kStar});
    } else if (c == '?') {
      units.push_back({Unit::kAny});
      ++i;
    } else if (c == '[') {
      // The set's extent, exactly as the matcher scans it: optional '^', members with '\'
      // escapes and "a-z" ranges, up to ']'; an unclosed set runs to the pattern's end.
      size_t q = i + 1;
      if (q < n && p[q] == '^') ++q;
      while (true) {
        if (q >= n) {
          q = n - 1;
          break;
        }
        if (p[q] == '\\' && n - q >= 2) {
          ++q;
        } else if (p[q] == ']') {
          break;
        } else if (n - q >= 3 && p[q + 1] == '-') {
          q += 2;
        }
        ++q;
      }
      // Alone, the set is a pattern that matches one byte exactly when the set does.
      Unit u{Unit::kSet};
      u.set_has_dot = glob_match(p.substr(i, q - i + 1), ".");
      units.push_back(u);
      i = q + 1;
    } else if (c == '\\' && n - i >= 2) {
      units.push_back({Unit::kLiteral, p[i + 1]});
      i += 2;
    } else {
      units.push_back({Unit::kLiteral, c});  // a final lone '\' is literal too
      ++i;
    }
  }
  return units;
}

}  // namespace

std::optional<SubjectMap> SubjectMap::create(std::string_view prefix) {
  if (!prefix.empty()) {
    if (prefix.back() != '.') return std::nullopt;
    bool ok = true;
    for_each_token(prefix.substr(0, prefix.size() - 1), [&](std::string_view t, bool) {
      if (t.empty()) ok = false;
      for (char ch : t) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x21 || c > 0x7e || c == '*' || c == '>') ok = false;
      }
    });
    if (!ok) return std::nullopt;
  }
  return SubjectMap(prefix);
}

SubjectMap::SubjectMap(std::string_view prefix)
    : prefix_(prefix), channels_(prefix_ + "c."), shards_(prefix_ + "s.") {}

void SubjectMap::append_subject_for_channel(ChannelKind kind, std::string_view channel,
                                            std::string* out) const {
  out->reserve(out->size() + subject_size(kind, channel));
  out->append(kind == ChannelKind::kChannel ? channels_ : shards_);
  for_each_token(channel, [&](std::string_view t, bool last) {
    append_token(t, out);
    if (!last) out->push_back('.');
  });
}

std::string SubjectMap::subject_for_channel(ChannelKind kind, std::string_view channel) const {
  std::string out;
  append_subject_for_channel(kind, channel, &out);
  return out;
}

size_t SubjectMap::subject_size(ChannelKind kind, std::string_view channel) const {
  size_t n = (kind == ChannelKind::kChannel ? channels_ : shards_).size();
  for_each_token(channel, [&](std::string_view t, bool last) { n += token_size(t) + (last ? 0 : 1); });
  return n;
}

bool SubjectMap::channel_for_subject(std::string_view subject, MappedChannel* out) const {
  std::string_view rest;
  if (subject.substr(0, channels_.size()) == channels_) {
    out->kind = ChannelKind::kChannel;
    rest = subject.substr(channels_.size());
  } else if (subject.substr(0, shards_.size()) == shards_) {
    out->kind = ChannelKind::kShardChannel;
    rest = subject.substr(shards_.size());
  } else {
    return false;
  }
  out->channel.clear();
  bool ok = true;
  for_each_token(rest, [&](std::string_view t, bool last) {
    if (!ok) return;
    ok = decode_token(t, &out->channel);
    if (!last) out->channel.push_back('.');
  });
  return ok;
}

std::optional<MappedChannel> SubjectMap::channel_for_subject(std::string_view subject) const {
  MappedChannel m;
  if (!channel_for_subject(subject, &m)) return std::nullopt;
  return m;
}

// Why the result receives every channel C that glob_match(pattern, C) accepts.
//
// Redis's matcher reads the pattern as a sequence of units (read_units): a literal byte, '?', a
// set, or a run of '*'. A unit other than '*' consumes exactly one byte of C, and without '*' a
// match consumes C exactly (both ends reached together), so C[i] matches unit i for every i.
// Split the units into pattern tokens at the literal '.' units (escaped "\." included), and let
// T_1..T_m be the tokens before the first one holding a '*', a '?' or a set that matches '.'
// ("open" units; T_m+1 is that token, if any).
//  1. Units of T_1..T_m are literals and sets that do not match '.', and no '*' comes before them,
//     so C's first |T_1|+1+...+|T_m|+1 bytes match them position by position: C's dots there are
//     exactly at the literal '.' units, and C's first m tokens align with T_1..T_m.
//  2. A token of literals only is matched by exactly its bytes: its written form (append_token,
//     the same as for channels) is that token of C's subject. A token holding a set is non-empty
//     and dot-free in C, so it is one NATS token, which "*" matches.
//  3. No open token (m = all tokens): by 1, C has exactly as many tokens as the pattern; the
//     result has one NATS token per pattern token, each matching C's (by 2).
//  4. An open token T_m+1: C continues after its m-th token and the '.' that ends it (by 1), so C
//     has at least one more token (maybe empty: "news.*" matches "news."), written as at least
//     one non-empty NATS token (the empty token is "~"); ">" matches one or more tokens.
// With no glob unit at all the pattern matches only its literal bytes: the exact subject.
// Narrow: NATS's '*' stands for exactly one whole token and ">" for one or more. A token holding a
// set is "*" because the set's bytes vary; once an open unit is reached, C's token count varies
// ('*' and a '?' or set that can be '.' each can add dots), which only ">" covers. (A pattern
// that matches nothing at all, such as "a?[", still gets a subject; it receives nothing useful.)
std::string SubjectMap::covering_subject(std::string_view pattern) const {
  const std::vector<Unit> units = read_units(pattern);
  std::string literal;
  bool all_literal = true;
  for (const Unit& u : units) {
    if (u.type != Unit::kLiteral) all_literal = false;
    literal.push_back(u.byte);
  }
  if (all_literal) return subject_for_channel(ChannelKind::kChannel, literal);
  std::string out = channels_;
  std::string token;
  bool has_set = false;
  auto close_token = [&] {
    if (has_set) {
      out.push_back('*');
    } else {
      append_token(token, &out);
    }
    token.clear();
    has_set = false;
  };
  for (const Unit& u : units) {
    if (u.type == Unit::kStar || u.type == Unit::kAny || (u.type == Unit::kSet && u.set_has_dot)) {
      out.push_back('>');
      return out;
    }
    if (u.type == Unit::kSet) {
      has_set = true;
    } else if (u.byte == '.') {
      close_token();
      out.push_back('.');
    } else {
      token.push_back(u.byte);
    }
  }
  close_token();
  return out;
}

}  // namespace fanout
