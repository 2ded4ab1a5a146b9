#include "core/acl.h"

#include <algorithm>
#include <cassert>

#include "core/ascii.h"
#include "core/glob.h"

namespace fanout {
namespace {

struct Category {
  std::string_view name;
  uint32_t bit;  // 0: a Redis category none of this server's commands is in
};

constexpr Category kCategories[] = {
    {"pubsub", kAclPubsub}, {"connection", kAclConnection}, {"fast", kAclFast},
    {"slow", kAclSlow},     {"admin", kAclAdmin},           {"dangerous", kAclDangerous},
    {"transaction", kAclTransaction},
    {"keyspace", 0},        {"read", 0},                    {"write", 0},
    {"set", 0},             {"sortedset", 0},               {"list", 0},
    {"hash", 0},            {"string", 0},                  {"bitmap", 0},
    {"hyperloglog", 0},     {"geo", 0},                     {"stream", 0},
    {"blocking", 0},        {"scripting", 0},
};

}  // namespace

bool AclUser::check_password(std::string_view password) const {
  if (nopass) return true;
  const Sha256Digest d = sha256(password);
  bool ok = false;
  for (const Sha256Digest& p : passwords) ok |= digest_equal(p, d);  // no early exit
  return ok;
}

bool AclUser::can_access(std::string_view name, bool is_pattern) const {
  if (all_channels) return true;
  for (const std::string& p : channel_patterns) {
    if (is_pattern ? p == name : glob_match(p, name)) return true;
  }
  return false;
}

Acl::Acl(std::span<const AclCommandInfo> catalog) : catalog_(catalog.begin(), catalog.end()) {
  assert(catalog_.size() <= kAclMaxCommands);
  AclUser& d = users_.emplace_back();
  d.name = "default";
  d.enabled = true;
  d.nopass = true;
  d.all_channels = true;
  for (size_t i = 0; i < catalog_.size(); ++i) d.commands.set(i);
  d.all_rights = true;
}

int Acl::command_index(std::string_view full_name) const {
  for (size_t i = 0; i < catalog_.size(); ++i) {
    if (catalog_[i].name == full_name) return static_cast<int>(i);
  }
  return -1;
}

AclUser* Acl::find_mutable(std::string_view name) {
  for (AclUser& u : users_) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

const AclUser* Acl::find(std::string_view name) const {
  for (const AclUser& u : users_) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

const AclUser* Acl::initial_user() const {
  const AclUser* d = find("default");
  return d && d->enabled && d->nopass ? d : nullptr;
}

bool Acl::set_user(std::string_view name, std::span<const std::string> rules, std::string* err,
                   std::vector<std::string>* notes) {
  if (name.empty() || name.find_first_of(" \t\r\n") != std::string_view::npos) {
    *err = "invalid user name '" + std::string(name) + "'";
    return false;
  }
  AclUser* u = find_mutable(name);
  AclUser fresh;
  AclUser work = u ? *u : fresh;
  if (!u) work.name = std::string(name);
  for (const std::string& r : rules) {
    if (!apply(&work, r, err, notes)) {
      *err = "user '" + std::string(name) + "': " + *err;
      return false;
    }
  }
  work.all_rights = work.all_channels && work.commands.count() == catalog_.size();
  if (u) {
    *u = std::move(work);
  } else {
    users_.push_back(std::move(work));
  }
  return true;
}

bool Acl::apply(AclUser* u, std::string_view rule, std::string* err, std::vector<std::string>* notes) {
  const std::string r = lowercase(rule);
  auto set_commands = [&](bool on, auto&& pick) {
    for (size_t i = 0; i < catalog_.size(); ++i) {
      if (pick(catalog_[i])) u->commands.set(i, on);
    }
  };
  if (r == "on" || r == "off") {
    u->enabled = r == "on";
  } else if (r == "nopass") {
    u->nopass = true;
    u->passwords.clear();
  } else if (r == "resetpass") {
    u->nopass = false;
    u->passwords.clear();
  } else if (rule[0] == '>' || rule[0] == '<' || rule[0] == '#' || rule[0] == '!') {
    // A password in clear ('>' adds, '<' removes) or as its hash ('#' adds, '!' removes).
    const bool hashed = rule[0] == '#' || rule[0] == '!';
    const bool add = rule[0] == '>' || rule[0] == '#';
    Sha256Digest d;
    if (!hashed) {
      d = sha256(rule.substr(1));
    } else if (!parse_sha256_hex(rule.substr(1), &d)) {
      *err = "'" + std::string(rule.substr(0, 1)) + "' must be followed by a SHA-256 hash of 64 hex digits";
      return false;
    }
    auto it = std::find(u->passwords.begin(), u->passwords.end(), d);
    if (add) {
      if (it == u->passwords.end()) u->passwords.push_back(d);
      u->nopass = false;
    } else if (it != u->passwords.end()) {
      u->passwords.erase(it);
    } else {
      *err = hashed ? "no such password hash to remove ('!...')" : "no such password to remove ('<...')";
      return false;
    }
  } else if (r == "allchannels" || rule == "&*") {
    u->all_channels = true;
    u->channel_patterns.clear();
  } else if (r == "resetchannels") {
    u->all_channels = false;
    u->channel_patterns.clear();
  } else if (rule[0] == '&') {
    std::string p(rule.substr(1));
    if (!u->all_channels &&
        std::find(u->channel_patterns.begin(), u->channel_patterns.end(), p) == u->channel_patterns.end()) {
      u->channel_patterns.push_back(std::move(p));
    }
  } else if (r == "allkeys" || r == "resetkeys" || rule[0] == '~' || r.starts_with("%r~") ||
             r.starts_with("%w~") || r.starts_with("%rw~")) {
    // Key patterns: a pub/sub server has no keys. Accepted so Redis ACL files load unchanged.
  } else if (r == "sanitize-payload" || r == "skip-sanitize-payload") {
    // Payload sanitising concerns RESTORE; nothing to do.
  } else if (r == "allcommands" || r == "+@all") {
    set_commands(true, [](const AclCommandInfo&) { return true; });
  } else if (r == "nocommands" || r == "-@all") {
    set_commands(false, [](const AclCommandInfo&) { return true; });
  } else if (r == "reset") {
    std::string name = std::move(u->name);
    *u = AclUser();
    u->name = std::move(name);
  } else if ((rule[0] == '+' || rule[0] == '-') && rule.size() > 2 && rule[1] == '@') {
    const bool on = rule[0] == '+';
    std::string_view cat = std::string_view(r).substr(2);
    const Category* found = nullptr;
    for (const Category& c : kCategories) {
      if (c.name == cat) found = &c;
    }
    if (!found) {
      *err = "unknown command category in '" + std::string(rule) + "'";
      return false;
    }
    set_commands(on, [&](const AclCommandInfo& c) { return (c.categories & found->bit) != 0; });
  } else if ((rule[0] == '+' || rule[0] == '-') && rule.size() > 1) {
    const bool on = rule[0] == '+';
    const std::string name = r.substr(1);
    if (name.find('|') != std::string::npos) {
      int i = command_index(name);
      if (i < 0) {
        notes->push_back("'" + std::string(rule) + "': this server has no such subcommand (ignored)");
        return true;
      }
      u->commands.set(static_cast<size_t>(i), on);
    } else {
      bool any = false;
      set_commands(on, [&](const AclCommandInfo& c) {
        bool match = c.name == name || (c.name.size() > name.size() && c.name.starts_with(name) &&
                                        c.name[name.size()] == '|');
        any |= match;
        return match;
      });
      if (!any) notes->push_back("'" + std::string(rule) + "': this server has no such command (ignored)");
    }
  } else if (rule[0] == '(' || r == "clearselectors") {
    *err = "selectors ('" + std::string(rule) + "') are not supported";
    return false;
  } else {
    *err = "syntax error in rule '" + std::string(rule) + "'";
    return false;
  }
  return true;
}

bool Acl::load(std::string_view text, std::string* err, std::vector<std::string>* notes) {
  size_t line_no = 0;
  std::vector<std::string> seen;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    std::vector<std::string> words;
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
      if (i > start) words.emplace_back(line.substr(start, i - start));
    }
    if (words.empty() || words[0][0] == '#') continue;
    const std::string where = "line " + std::to_string(line_no) + ": ";
    if (words[0] != "user" || words.size() < 2) {
      *err = where + "expected 'user <name> <rules...>'";
      return false;
    }
    std::vector<std::string> rules = {"reset"};
    rules.insert(rules.end(), words.begin() + 2, words.end());
    if (std::find(seen.begin(), seen.end(), words[1]) != seen.end()) {
      *err = where + "duplicate user '" + words[1] + "'";
      return false;
    }
    seen.push_back(words[1]);
    if (!set_user(words[1], rules, err, notes)) {
      *err = where + *err;
      return false;
    }
  }
  return true;
}

}  // namespace fanout
