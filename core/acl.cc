#include "core/acl.h"

#include <algorithm>
#include <cassert>
#include <climits>

#include "core/ascii.h"
#include "core/glob.h"

namespace fanout {
namespace {

constexpr std::string_view kCategoryNames[] = {
    "keyspace", "read", "write",  "set",      "sortedset", "list",       "hash",
    "string",   "bitmap", "hyperloglog", "geo", "stream", "pubsub",     "admin",
    "fast",     "slow", "blocking", "dangerous", "connection", "transaction", "scripting",
};
static_assert(std::size(kCategoryNames) == 21);

// Redis's ACLStringHasSpaces: any whitespace or NUL.
bool has_spaces(std::string_view s) {
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == '\0') return true;
  }
  return false;
}

// Redis's sdstrim: drops the characters of `set` from both ends.
std::string_view trim(std::string_view s, std::string_view set) {
  size_t b = s.find_first_not_of(set);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(set);
  return s.substr(b, e - b + 1);
}

// Redis's sdssplitlen on one character: empty pieces included.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

// Redis's ACLMergeSelectorArguments: a selector spread over several arguments ("(+get", "~x)")
// becomes one. False (with *bad, the argument that opened it) for an unmatched parenthesis.
bool merge_selectors(std::span<const std::string_view> in, std::vector<std::string>* out, std::string_view* bad) {
  bool open = false;
  std::string selector;
  for (std::string_view op : in) {
    if (!open && !op.empty() && op[0] == '(' && op.back() != ')') {
      selector.assign(op);
      *bad = op;
      open = true;
      continue;
    }
    if (open) {
      selector += ' ';
      selector += op;
      if (!op.empty() && op.back() == ')') {
        open = false;
        out->push_back(std::move(selector));
        selector.clear();
      }
      continue;
    }
    out->emplace_back(op);
  }
  return !open;
}

// Redis's ACLCheckPasswordHash: exactly 64 lower-case hex digits.
bool parse_password_hash(std::string_view hex, Sha256Digest* d) {
  if (hex.size() != 64) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return parse_sha256_hex(hex, d);
}

std::string format_line_error(std::string_view filename, size_t line, std::string_view text) {
  return std::string(filename) + ":" + std::to_string(line) + std::string(text);
}

}  // namespace

std::span<const std::string_view> acl_category_names() { return kCategoryNames; }

uint32_t acl_category_bit(std::string_view name) {
  for (size_t i = 0; i < std::size(kCategoryNames); ++i) {
    if (iequals(kCategoryNames[i], name)) return 1u << i;
  }
  return 0;
}

bool AclUser::check_password(std::string_view password) const {
  if (nopass) return true;
  const Sha256Digest d = sha256(password);
  bool ok = false;
  for (const Sha256Digest& p : passwords) ok |= digest_equal(p, d);  // no early exit
  return ok;
}

bool AclUser::can_run(size_t command, std::string_view first_arg) const {
  if (commands.bits.test(command)) return true;
  for (const auto& [index, args] : first_args) {
    if (index != command) continue;
    for (const std::string& a : args) {
      if (iequals(a, first_arg)) return true;
    }
  }
  return false;
}

bool AclUser::can_access(std::string_view name, bool is_pattern) const {
  if (all_channels) return true;
  for (const std::string& p : channel_patterns) {
    if (is_pattern ? p == name : glob_match(p, name)) return true;
  }
  return false;
}

bool AclUser::channels_shrunk_from(const AclUser& before) const {
  if (all_channels) return false;
  if (before.all_channels) return true;
  for (const std::string& p : before.channel_patterns) {
    if (std::find(channel_patterns.begin(), channel_patterns.end(), p) == channel_patterns.end()) return true;
  }
  return false;
}

Acl::Acl(std::span<const AclCommandInfo> catalog) {
  assert(catalog.size() <= kAclMaxCommands);
  auto c = std::make_shared<Catalog>();
  c->names.reserve(catalog.size());
  for (const AclCommandInfo& info : catalog) c->names.emplace_back(info.name);
  c->parent.assign(catalog.size(), -1);
  c->children.resize(catalog.size());
  for (size_t i = 0; i < catalog.size(); ++i) {
    c->infos.push_back({c->names[i], catalog[i].categories, catalog[i].served});
    if (catalog[i].served) c->served.set(i);
    const size_t bar = c->names[i].find('|');
    if (bar == std::string::npos) {
      c->top.push_back(static_cast<uint16_t>(i));
      continue;
    }
    const std::string_view container = std::string_view(c->names[i]).substr(0, bar);
    for (size_t j = 0; j < i; ++j) {
      if (c->names[j] == container) {
        c->parent[i] = static_cast<int>(j);
        c->children[j].push_back(static_cast<uint16_t>(i));
      }
    }
    assert(c->parent[i] >= 0);  // a container comes before its subcommands
  }
  c->in_category.resize(std::size(kCategoryNames));
  for (size_t i = 0; i < catalog.size(); ++i) {
    for (size_t j = 0; j < std::size(kCategoryNames); ++j) {
      if (catalog[i].categories & (1u << j)) c->in_category[j].push_back(static_cast<uint16_t>(i));
    }
  }
  catalog_ = std::move(c);
  AclUser d = default_user();
  users_.emplace(d.name, std::move(d));
}

AclUser Acl::fresh_user(std::string_view name) {
  AclUser u;
  u.name = std::string(name);
  u.incarnation = next_incarnation_++;
  return u;
}

// Redis's ACLCreateDefaultUser: +@all ~* &* on nopass.
AclUser Acl::default_user(std::string_view name) {
  AclUser u = fresh_user(name);
  apply(&u, "+@all");
  apply(&u, "~*");
  apply(&u, "&*");
  apply(&u, "on");
  apply(&u, "nopass");
  finish(&u);
  return u;
}

int Acl::lookup(std::string_view name) const {
  const Catalog& c = *catalog_;
  const size_t bar = name.find('|');
  if (bar != std::string_view::npos && name.find('|', bar + 1) != std::string_view::npos) return -1;
  for (size_t i = 0; i < c.infos.size(); ++i) {
    if (iequals(c.names[i], name)) return static_cast<int>(i);
  }
  return -1;
}

int Acl::command_index(std::string_view full_name) const {
  const Catalog& c = *catalog_;
  for (size_t i = 0; i < c.names.size(); ++i) {
    if (c.names[i] == full_name) return static_cast<int>(i);
  }
  return -1;
}

void Acl::change(AclCommandBits* b, size_t i, bool allow) const {
  b->bits.set(i, allow);
  for (uint16_t sub : catalog_->children[i]) b->bits.set(sub, allow);
}

void Acl::change(AclUser* u, size_t i, bool allow) const {
  change(&u->commands, i, allow);
  std::erase_if(u->first_args, [i](const auto& f) { return f.first == i; });
}

// Redis's ACLSetSelectorCommandBitsForCategory: each command in the category (with all its
// subcommands), then each subcommand in it.
void Acl::set_category(AclCommandBits* b, uint32_t category, bool allow, AclUser* u) const {
  const Catalog& c = *catalog_;
  auto one = [&](size_t i) {
    if (u != nullptr) {
      change(u, i, allow);
    } else {
      change(b, i, allow);
    }
  };
  for (uint16_t t : c.top) {
    if (c.infos[t].categories & category) one(t);
    for (uint16_t sub : c.children[t]) {
      if (c.infos[sub].categories & category) one(sub);
    }
  }
}

void Acl::count_category(const AclCommandBits& b, uint32_t category, size_t* on, size_t* off) const {
  *on = *off = 0;
  for (uint16_t i : catalog_->in_category[static_cast<size_t>(__builtin_ctz(category))]) ++(b.bits.test(i) ? *on : *off);
}

void Acl::finish(AclUser* u) const {
  u->all_rights = u->all_channels && (u->commands.bits & catalog_->served) == catalog_->served;
  u->command_rules = find_command_rules(*u);
}

const char* Acl::rule_error_text(RuleError e) {
  // Redis's ACLSetUserStringError.
  switch (e) {
    case RuleError::kUnknown: return "Unknown command or category name in ACL";
    case RuleError::kSyntax: return "Syntax error";
    case RuleError::kKeyAfterAll:
      return "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any "
             "effect. Try 'resetkeys' to start with an empty list of patterns";
    case RuleError::kChannelAfterAll:
      return "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have "
             "any effect. Try 'resetchannels' to start with an empty list of channels";
    case RuleError::kNoSuchPassword: return "The password you are trying to remove from the user does not exist";
    case RuleError::kBadHash:
      return "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters";
    case RuleError::kFirstArgOfSubcommand: return "Allowing first-arg of a subcommand is not supported";
    case RuleError::kSelector: return "Selectors are not supported by Fanout";
    case RuleError::kNone: break;
  }
  return "Wrong format";
}

// Redis's ACLSetUser and ACLSetSelector, for one rule.
Acl::RuleError Acl::apply(AclUser* u, std::string_view op) const {
  if (op.empty()) return RuleError::kNone;
  auto is = [op](std::string_view word) { return iequals(op, word); };
  if (is("on") || is("off")) {
    u->enabled = is("on");
  } else if (is("skip-sanitize-payload")) {
    u->sanitize = AclUser::Sanitize::kSkip;
  } else if (is("sanitize-payload")) {
    u->sanitize = AclUser::Sanitize::kSanitize;
  } else if (is("nopass")) {
    u->nopass = true;
    u->passwords.clear();
  } else if (is("resetpass")) {
    u->nopass = false;
    u->passwords.clear();
  } else if (op[0] == '>' || op[0] == '#' || op[0] == '<' || op[0] == '!') {
    // A password in clear ('>' adds, '<' removes) or as its hash ('#' adds, '!' removes).
    Sha256Digest d;
    if (op[0] == '>' || op[0] == '<') {
      d = sha256(op.substr(1));
    } else if (!parse_password_hash(op.substr(1), &d)) {
      return RuleError::kBadHash;
    }
    auto it = std::find(u->passwords.begin(), u->passwords.end(), d);
    if (op[0] == '>' || op[0] == '#') {
      if (it == u->passwords.end()) u->passwords.push_back(d);
      u->nopass = false;
    } else if (it != u->passwords.end()) {
      u->passwords.erase(it);
    } else {
      return RuleError::kNoSuchPassword;
    }
  } else if (op[0] == '(' && op.back() == ')') {
    return RuleError::kSelector;
  } else if (is("clearselectors")) {
    // No user has selectors here: nothing to clear.
  } else if (is("reset")) {
    apply(u, "resetpass");
    apply(u, "resetkeys");
    apply(u, "resetchannels");
    apply(u, "off");
    apply(u, "sanitize-payload");
    apply(u, "-@all");
  } else if (is("allkeys") || is("~*")) {
    u->all_keys = true;
    u->key_patterns.clear();
  } else if (is("resetkeys")) {
    u->all_keys = false;
    u->key_patterns.clear();
  } else if (is("allchannels") || is("&*")) {
    u->all_channels = true;
    u->channel_patterns.clear();
  } else if (is("resetchannels")) {
    u->all_channels = false;
    u->channel_patterns.clear();
  } else if (is("allcommands") || is("+@all")) {
    u->commands.bits.set();
    u->commands.all = true;
    u->first_args.clear();
  } else if (is("nocommands") || is("-@all")) {
    u->commands.bits.reset();
    u->commands.all = false;
    u->first_args.clear();
  } else if (op[0] == '~' || op[0] == '%') {
    if (u->all_keys) return RuleError::kKeyAfterAll;
    uint8_t flags = 0;
    size_t offset = 1;
    if (op[0] == '%') {
      // "%R~", "%W~", "%RW~": as Redis 7.2.6+ reads them (7.0.15 accepted "%~k" and then crashed
      // describing it, CVE-2024-31227).
      for (; offset < op.size(); ++offset) {
        const char ch = op[offset];
        if ((ch == 'R' || ch == 'r') && !(flags & AclKeyPattern::kRead)) {
          flags |= AclKeyPattern::kRead;
        } else if ((ch == 'W' || ch == 'w') && !(flags & AclKeyPattern::kWrite)) {
          flags |= AclKeyPattern::kWrite;
        } else if (ch == '~' && flags) {
          ++offset;
          break;
        } else {
          return RuleError::kSyntax;
        }
      }
    } else {
      flags = AclKeyPattern::kRead | AclKeyPattern::kWrite;
    }
    const std::string_view pattern = op.substr(std::min(offset, op.size()));
    if (has_spaces(pattern)) return RuleError::kSyntax;
    auto it = std::find_if(u->key_patterns.begin(), u->key_patterns.end(),
                           [pattern](const AclKeyPattern& k) { return k.pattern == pattern; });
    if (it == u->key_patterns.end()) {
      u->key_patterns.push_back({std::string(pattern), flags});
    } else {
      it->flags |= flags;
    }
  } else if (op[0] == '&') {
    if (u->all_channels) return RuleError::kChannelAfterAll;
    const std::string_view pattern = op.substr(1);
    if (has_spaces(pattern)) return RuleError::kSyntax;
    if (std::find(u->channel_patterns.begin(), u->channel_patterns.end(), pattern) == u->channel_patterns.end()) {
      u->channel_patterns.emplace_back(pattern);
    }
  } else if ((op[0] == '+' || op[0] == '-') && (op.size() < 2 || op[1] != '@')) {
    const std::string_view name = op.substr(1);
    const size_t bar = name.rfind('|');
    if (op[0] == '-' || bar == std::string_view::npos) {
      const int i = lookup(name);
      if (i < 0) return RuleError::kUnknown;
      change(u, static_cast<size_t>(i), op[0] == '+');
    } else {
      const std::string_view command = name.substr(0, bar), sub = name.substr(bar + 1);
      const int i = lookup(command);
      if (i < 0) return RuleError::kUnknown;
      if (catalog_->parent[i] >= 0) return RuleError::kFirstArgOfSubcommand;
      if (sub.empty()) return RuleError::kSyntax;
      if (!catalog_->children[i].empty()) {
        const int s = lookup(name);
        if (s < 0) return RuleError::kUnknown;
        change(u, static_cast<size_t>(s), true);
      } else {
        // "+select|0": the first argument allowed although the command is not.
        auto it = std::find_if(u->first_args.begin(), u->first_args.end(),
                               [i](const auto& f) { return f.first == i; });
        if (it == u->first_args.end()) it = u->first_args.insert(u->first_args.end(), {static_cast<uint16_t>(i), {}});
        if (std::none_of(it->second.begin(), it->second.end(), [sub](const std::string& a) { return iequals(a, sub); })) {
          it->second.emplace_back(sub);
        }
      }
    }
  } else if (op[0] == '+' || op[0] == '-') {
    const uint32_t category = acl_category_bit(op.substr(2));
    if (category == 0) return RuleError::kUnknown;
    set_category(&u->commands, category, op[0] == '+', u);
  } else {
    return RuleError::kSyntax;
  }
  return RuleError::kNone;
}

std::string Acl::set_user(std::string_view name, std::span<const std::string> rules) {
  std::vector<std::string_view> views(rules.begin(), rules.end());
  return set_user(name, std::span<const std::string_view>(views));
}

std::string Acl::set_user(std::string_view name, std::span<const std::string_view> rules) {
  std::vector<std::string> merged;
  std::string_view bad;
  if (!merge_selectors(rules, &merged, &bad)) {
    return "Unmatched parenthesis in acl selector starting at '" + std::string(bad) + "'.";
  }
  auto it = users_.find(name);
  AclUser work = it != users_.end() ? it->second : AclUser();
  for (const std::string& r : merged) {
    if (RuleError e = apply(&work, r); e != RuleError::kNone) {
      return "Error in ACL SETUSER modifier '" + r + "': " + rule_error_text(e);
    }
  }
  finish(&work);
  if (it != users_.end()) {
    it->second = std::move(work);
  } else {
    AclUser fresh = fresh_user(name);
    work.name = fresh.name;
    work.incarnation = fresh.incarnation;
    users_.emplace(work.name, std::move(work));
  }
  return {};
}

bool Acl::del_user(std::string_view name) {
  auto it = users_.find(name);
  if (it == users_.end()) return false;
  users_.erase(it);
  return true;
}

std::string Acl::load_file(std::string_view text, std::string_view filename, bool add_default) {
  std::map<std::string, AclUser, std::less<>> loaded;
  std::string errors;
  const std::vector<std::string_view> lines = split(text, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    const size_t line_no = i + 1;
    const std::string_view line = trim(lines[i], " \t\r\n");
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string_view> argv = split(line, ' ');
    if (argv[0] != "user" || argv.size() < 2) {
      errors += format_line_error(filename, line_no, " should start with user keyword followed by the username. ");
      continue;
    }
    if (has_spaces(argv[1])) {
      errors += "'" + format_line_error(filename, line_no, ": username '" + std::string(argv[1]) +
                                                               "' contains invalid characters. ");
      continue;
    }
    if (loaded.count(argv[1])) {
      errors += "WARNING: Duplicate user '" + std::string(argv[1]) + "' found on line " + std::to_string(line_no) + ". ";
      continue;
    }
    AclUser u = fresh_user(argv[1]);
    std::vector<std::string> merged;
    std::string_view bad;
    if (!merge_selectors(std::span(argv).subspan(2), &merged, &bad)) {
      errors += format_line_error(filename, line_no, ": Unmatched parenthesis in selector definition.");
      merged.clear();
    }
    bool syntax_error = false;
    for (const std::string& arg : merged) {
      const std::string_view op = trim(arg, "\t\r\n");
      const RuleError e = apply(&u, op);
      if (e == RuleError::kUnknown) {
        // Redis names the rule for unknown commands only (it carries no secret).
        errors += format_line_error(filename, line_no, ": Error in applying operation '" + std::string(op) +
                                                           "': " + rule_error_text(e) + ". ");
      } else if (e != RuleError::kNone && !syntax_error) {
        errors += format_line_error(filename, line_no, ": " + std::string(rule_error_text(e)) + ". ");
        syntax_error = true;
      }
    }
    finish(&u);
    loaded.emplace(u.name, std::move(u));
  }
  if (!errors.empty()) {
    return errors + "WARNING: ACL errors detected, no change to the previously active ACL rules was performed";
  }
  if (add_default && !loaded.count("default")) {
    AclUser d = default_user();
    loaded.emplace(d.name, std::move(d));
  }
  users_ = std::move(loaded);
  return {};
}

void Acl::replace_users(const Acl& other) {
  for (const auto& [name, u] : other.users_) {
    AclUser copy = u;
    copy.incarnation = next_incarnation_++;
    users_.insert_or_assign(name, std::move(copy));
  }
}

void Acl::keep_incarnations(const Acl& before) {
  next_incarnation_ = std::max(next_incarnation_, before.next_incarnation_);
  for (auto& [name, u] : users_) {
    if (const AclUser* b = before.find(name)) {
      u.incarnation = b->incarnation;
    } else {
      u.incarnation = next_incarnation_++;
    }
  }
}

void Acl::set_default_password(std::string_view password) {
  auto it = users_.find("default");
  if (it == users_.end()) return;
  AclUser& d = it->second;
  apply(&d, "resetpass");
  apply(&d, password.empty() ? std::string("nopass") : ">" + std::string(password));
  finish(&d);
}

const AclUser* Acl::find(std::string_view name) const {
  auto it = users_.find(name);
  return it == users_.end() ? nullptr : &it->second;
}

const AclUser* Acl::initial_user() const {
  const AclUser* d = find("default");
  return d && d->enabled && d->nopass ? d : nullptr;
}

// Redis's ACLDescribeSelectorCommandRules: start from +@all or -@all, then add (or remove) the
// category that fits the user best while one fits better than it misfits, then the single
// commands (and first arguments) still different.
std::string Acl::find_command_rules(const AclUser& u) const {
  const Catalog& c = *catalog_;
  const bool additive = !u.commands.all;
  std::string rules = additive ? "-@all " : "+@all ";
  AclCommandBits fake, temp = u.commands;
  if (!additive) {
    fake.bits.set();
    fake.all = true;
  }
  bool applied[std::size(kCategoryNames)] = {};
  while (true) {
    int best = -1;
    size_t mindiff = INT_MAX, maxsame = 0;
    for (size_t j = 0; j < std::size(kCategoryNames); ++j) {
      if (applied[j]) continue;
      size_t on, off;
      count_category(temp, 1u << j, &on, &off);
      const size_t diff = additive ? off : on, same = additive ? on : off;
      if (same > diff && (diff < mindiff || (diff == mindiff && same > maxsame))) {
        best = static_cast<int>(j);
        mindiff = diff;
        maxsame = same;
      }
    }
    if (best < 0) break;
    set_category(&fake, 1u << best, additive);
    set_category(&temp, 1u << best, !additive);
    rules += additive ? "+@" : "-@";
    rules += kCategoryNames[best];
    rules += ' ';
    applied[best] = true;
  }
  auto single = [&](size_t i) {
    const bool user_bit = u.commands.bits.test(i);
    if (user_bit != fake.bits.test(i)) {
      rules += user_bit ? '+' : '-';
      rules += c.names[i];
      rules += ' ';
      change(&fake, i, user_bit);
    }
  };
  for (uint16_t t : c.top) {
    single(t);
    for (uint16_t sub : c.children[t]) single(sub);
    if (u.commands.bits.test(t)) continue;
    for (const auto& [index, args] : u.first_args) {
      if (index != t) continue;
      for (const std::string& a : args) rules += "+" + c.names[t] + "|" + a + " ";
    }
  }
  rules.pop_back();
  return rules;
}

std::string Acl::describe_keys(const AclUser& u) {
  if (u.all_keys) return "~*";
  std::string s;
  for (const AclKeyPattern& k : u.key_patterns) {
    if (!s.empty()) s += ' ';
    s += k.flags == AclKeyPattern::kRead ? "%R~" : k.flags == AclKeyPattern::kWrite ? "%W~" : "~";
    s += k.pattern;
  }
  return s;
}

std::string Acl::describe_channels(const AclUser& u) {
  if (u.all_channels) return "&*";
  std::string s;
  for (const std::string& p : u.channel_patterns) {
    if (!s.empty()) s += ' ';
    s += '&';
    s += p;
  }
  return s;
}

// Redis's ACLDescribeUser: flags, passwords (as hashes), keys, channels, commands.
std::string Acl::describe(const AclUser& u) const {
  std::string s = u.enabled ? "on " : "off ";
  if (u.nopass) s += "nopass ";
  if (u.sanitize == AclUser::Sanitize::kSkip) s += "skip-sanitize-payload ";
  if (u.sanitize == AclUser::Sanitize::kSanitize) s += "sanitize-payload ";
  for (const Sha256Digest& p : u.passwords) s += "#" + to_hex(p) + " ";
  if (std::string keys = describe_keys(u); !keys.empty()) s += keys + " ";
  s += u.all_channels ? "&* " : "resetchannels ";
  if (!u.all_channels) {
    for (const std::string& p : u.channel_patterns) s += "&" + p + " ";
  }
  return s + describe_commands(u);
}

std::string Acl::file_text() const {
  std::string out;
  for (const auto& [name, u] : users_) out += "user " + name + " " + describe(u) + "\n";
  return out;
}

}  // namespace fanout
