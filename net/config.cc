#include "net/config.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include "core/ascii.h"
#include "core/proxy_protocol.h"
#include "core/units.h"
#include "core/upstream_url.h"
#include "net/read_file.h"

namespace fanout {
namespace {

constexpr uint64_t kKiB = 1024, kMiB = kKiB << 10, kGiB = kMiB << 10, kTiB = kGiB << 10;


// Redis's parameters Fanout has no setting for, and the redis.conf directives that are not
// parameters: skipped with a warning, except where skipping would mislead (kRefused).
// Redis's, at the values that mean "off" here: nothing is stored, evicted or replicated (CONFIG
// GET shows them; CONFIG SET takes only these values).
constexpr std::pair<std::string_view, std::string_view> kRedisOff[] = {
    {"io-threads", "1"}, {"save", ""},         {"appendonly", "no"},          {"databases", "16"},
    {"maxmemory", "0"},  {"maxmemory-policy", "noeviction"}};

constexpr std::string_view kRedisOnly[] = {
#include "net/redis_config_names.inc"
};


bool choice_allowed(const Setting& s, std::string_view v) {
  std::string_view all = s.choices;
  while (!all.empty()) {
    size_t bar = all.find('|');
    if (all.substr(0, bar) == v) return true;
    if (bar == std::string_view::npos) break;
    all.remove_prefix(bar + 1);
  }
  return false;
}

std::string range_error(const Setting& s, const std::string& got, std::string_view shown) {
  const std::string who = shown.empty() ? "--" + std::string(s.name) : std::string(shown);
  if (s.kind == Setting::Kind::kChoice) {
    std::string list = s.choices;
    for (char& c : list) c = c == '|' ? ',' : c;
    return who + " must be one of " + list + ", got '" + got + "'";
  }
  if (s.kind == Setting::Kind::kBool) return who + " must be true or false (yes/no, 1/0), got '" + got + "'";
  return who + " must be " + setting_range(s) + (s.auto_ok ? " (or auto)" : "") + ", got " + got;
}

std::string octal(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%llo", static_cast<unsigned long long>(v));
  return buf;
}

// An octal number ("700", "0700"), as Redis reads an OCTAL_CONFIG.
bool parse_octal(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 21) return false;
  uint64_t v = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '7') return false;
    v = v * 8 + static_cast<uint64_t>(ch - '0');
  }
  *out = v;
  return true;
}

bool in_range(const Setting& s, uint64_t v) {
  if (s.auto_ok && v == static_cast<uint64_t>(int64_t{kPortAuto})) return true;
  return v >= s.min && v <= s.max && (!s.power_of_two || (v & (v - 1)) == 0);
}

// The value as the user would write it back (numbers stored in signed fields show their sign).
std::string number_text(const Setting& s, const ServerConfig& cfg) {
  uint64_t v = s.get(cfg);
  if (s.auto_ok && v == static_cast<uint64_t>(int64_t{kPortAuto})) return "auto";
  if (v > (1ull << 62)) return std::to_string(static_cast<int64_t>(v));  // a negative int field
  return std::to_string(v);
}

// Redis's loglevel and Fanout's levels.
constexpr std::pair<std::string_view, std::string_view> kRedisLogLevels[] = {
    {"debug", "debug"}, {"verbose", "debug"}, {"notice", "info"}, {"warning", "warn"}};
std::string redis_log_level(std::string_view fanout_level) {
  if (fanout_level == "debug") return "debug";
  if (fanout_level == "info") return "notice";
  return "warning";
}

// client-output-buffer-limit's value: "normal 0 0 0 slave ... pubsub <hard> <soft> <seconds>".
std::string output_buffer_limit_text(const ServerConfig& cfg) {
  return "normal 0 0 0 slave 268435456 67108864 60 pubsub " + std::to_string(cfg.output.hard_bytes) + " " +
         std::to_string(cfg.output.soft_bytes) + " " + std::to_string(cfg.output.soft_ms / 1000);
}

// Redis's client-output-buffer-limit (config.c, setConfigClientOutputBufferLimitOption): groups of
// "<class> <hard> <soft> <seconds>", class normal, replica (slave) or pubsub. Fanout's pubsub
// limits are its per-client limits; the other classes have nothing to limit here and are checked
// only for syntax.
std::string set_output_buffer_limit(ServerConfig& cfg, std::span<const std::string> args) {
  std::vector<std::string> words;
  for (const std::string& a : args) {
    size_t i = 0;
    while (i < a.size()) {
      while (i < a.size() && a[i] == ' ') ++i;
      size_t j = a.find(' ', i);
      if (j == std::string::npos) j = a.size();
      if (j > i) words.push_back(a.substr(i, j - i));
      i = j;
    }
  }
  if (words.empty() || words.size() % 4 != 0) {
    return "client-output-buffer-limit takes <class> <hard> <soft> <seconds> groups (class normal, replica or pubsub)";
  }
  OutputLimits out = cfg.output;
  for (size_t i = 0; i < words.size(); i += 4) {
    const std::string cls = lowercase(words[i]);
    uint64_t hard, soft, secs;
    if (cls != "normal" && cls != "replica" && cls != "slave" && cls != "pubsub") {
      return "client-output-buffer-limit: unknown class '" + words[i] + "' (normal, replica or pubsub)";
    }
    if (!parse_redis_memory(words[i + 1], &hard) || !parse_redis_memory(words[i + 2], &soft) ||
        !parse_unsigned(words[i + 3], &secs) || secs > 365 * 86400 || hard > kTiB || soft > kTiB) {
      return "client-output-buffer-limit: bad limits '" + words[i + 1] + " " + words[i + 2] + " " + words[i + 3] + "'";
    }
    if (cls != "pubsub") continue;
    out.hard_bytes = hard;
    out.soft_bytes = soft;
    out.soft_ms = static_cast<int64_t>(secs) * 1000;
  }
  cfg.output = out;
  return {};
}

// The redis.conf directives that Fanout refuses rather than skips: skipping would leave the server
// doing something other than the file asks (running in the foreground when told to daemonize,
// a command table it cannot rename).
std::string refusal(std::string_view name, std::span<const std::string> args) {
  auto first = [&] { return args.empty() ? std::string() : lowercase(args[0]); };
  if (name == "daemonize" && first() == "yes") return "daemonize yes: fanoutd stays in the foreground (run it under systemd)";
  if (name == "maxmemory" && first() != "0") {
    return "maxmemory: Fanout stores no data; its memory cap is fanout-max-queued-bytes (queued output) and the "
           "per-client client-output-buffer-limit";
  }
  if (name == "replicaof" || name == "slaveof") return std::string(name) + ": Fanout does not replicate";
  if (name == "include") return "include: Fanout reads one config file (merge the included one into it)";
  if (name == "rename-command") return "rename-command: Fanout cannot rename its commands";
  if (name == "loadmodule") return "loadmodule: Fanout has no modules";
  return {};
}

}  // namespace

std::string Setting::config_name() const { return redis ? std::string(redis) : "fanout-" + std::string(name); }

const Setting* find_setting(std::string_view name, bool* redis_named) {
  const std::string n = lowercase(name);
  std::string_view own = n;
  if (own.starts_with("fanout-")) own.remove_prefix(7);
  for (const Setting& s : server_settings()) {
    if (s.redis && n == s.redis) {
      if (redis_named) *redis_named = true;
      return &s;
    }
  }
  for (const Setting& s : server_settings()) {
    if (own == s.name) {
      if (redis_named) *redis_named = false;
      return &s;
    }
  }
  return nullptr;
}

std::string setting_range(const Setting& s) {
  if (s.kind == Setting::Kind::kOctal) return "an octal mode between " + octal(s.min) + " and " + octal(s.max);
  auto unit = [&](uint64_t v) {
    std::string t = std::to_string(v);
    if (s.kind == Setting::Kind::kSize && v >= kKiB && v % kKiB == 0) {
      const char* suffix[] = {"k", "m", "g", "t"};
      int i = -1;
      while (v >= kKiB && v % kKiB == 0 && i < 3) {
        v /= kKiB;
        ++i;
      }
      t = std::to_string(v) + suffix[i];
    }
    return t;
  };
  std::string r = std::string(s.power_of_two ? "a power of two " : "") + "between " + unit(s.min) +
                  " and " + unit(s.max);
  if (*s.unit) r += std::string(" ") + s.unit;
  return r;
}

std::string set_setting(ServerConfig& cfg, const Setting& s, std::string_view text, std::string_view shown,
                        bool redis_units) {
  const std::string got(text);
  switch (s.kind) {
    case Setting::Kind::kString:
      s.set_text(cfg, text);
      return {};
    case Setting::Kind::kChoice:
      if (!choice_allowed(s, text)) return range_error(s, got, shown);
      s.set_text(cfg, text);
      return {};
    case Setting::Kind::kBool: {
      std::string t = lowercase(text);
      if (t.empty() || t == "true" || t == "yes" || t == "1") {
        s.set(cfg, 1);
      } else if (t == "false" || t == "no" || t == "0") {
        s.set(cfg, 0);
      } else {
        return range_error(s, got, shown);
      }
      return {};
    }
    case Setting::Kind::kNumber:
    case Setting::Kind::kSize:
    case Setting::Kind::kOctal: {
      uint64_t v;
      if (s.auto_ok && lowercase(text) == "auto") {
        s.set(cfg, static_cast<uint64_t>(int64_t{kPortAuto}));
        return {};
      }
      bool ok = s.kind == Setting::Kind::kOctal    ? parse_octal(text, &v)
                : s.kind == Setting::Kind::kNumber ? parse_unsigned(text, &v)
                : redis_units                      ? parse_redis_memory(text, &v)
                                                   : parse_size(text, &v);
      if (!ok || !in_range(s, v) || (s.auto_ok && v > s.max)) return range_error(s, "'" + got + "'", shown);
      s.set(cfg, v);
      return {};
    }
  }
  return {};
}

std::string setting_text(const ServerConfig& cfg, const Setting& s) {
  switch (s.kind) {
    case Setting::Kind::kString:
    case Setting::Kind::kChoice: return s.get_text(cfg);
    case Setting::Kind::kBool: return s.get(cfg) ? "true" : "false";
    case Setting::Kind::kOctal: return octal(s.get(cfg));
    default: return number_text(s, cfg);
  }
}

Applied apply_directive(ServerConfig& cfg, std::string_view name, std::span<const std::string> args,
                        DirectiveSource src, std::string* err) {
  const std::string n = lowercase(name);
  const std::string shown = src == DirectiveSource::kFlag ? "--" + std::string(name) : std::string(name);
  if (n == "client-output-buffer-limit") {
    *err = set_output_buffer_limit(cfg, args);
    return err->empty() ? Applied::kSet : Applied::kError;
  }
  if (n == "loglevel") {
    if (args.size() == 1) {
      for (const auto& [redis, own] : kRedisLogLevels) {
        if (lowercase(args[0]) == redis) {
          cfg.log_level = std::string(own);
          return Applied::kSet;
        }
      }
    }
    *err = shown + " must be one of debug,verbose,notice,warning";
    return Applied::kError;
  }
  if (n == "user" && src == DirectiveSource::kFile) {
    // redis.conf's inline ACL users, applied after the ACL file as Redis applies them.
    std::string line = "user";
    for (const std::string& a : args) line += " " + a;
    cfg.acl_rules += line + "\n";
    return Applied::kSet;
  }
  bool redis_named = false;
  if (const Setting* s = find_setting(n, &redis_named)) {
    std::string value;
    if (s == find_setting("bind")) {
      // Redis's bind takes several addresses, as arguments or in one.
      for (const std::string& a : args) value += (value.empty() ? "" : " ") + a;
    } else if (args.size() == 1) {
      value = args[0];
    } else if (args.empty() && s->kind == Setting::Kind::kBool && src == DirectiveSource::kFlag) {
      value = "";  // a bare --flag
    } else {
      *err = shown + " takes one value, got " + std::to_string(args.size());
      return Applied::kError;
    }
    *err = set_setting(cfg, *s, value, shown, redis_named);
    return err->empty() ? Applied::kSet : Applied::kError;
  }
  if (std::string why = refusal(n, args); !why.empty()) {
    *err = why;
    return Applied::kError;
  }
  if (n == "include" || n == "user" || n == "rename-command" || n == "loadmodule" ||
      std::find(std::begin(kRedisOnly), std::end(kRedisOnly), n) != std::end(kRedisOnly)) {
    return Applied::kIgnored;
  }
  *err = "unknown " + std::string(src == DirectiveSource::kFlag ? "flag " : "directive ") + shown;
  return Applied::kError;
}

std::string load_config_file(const std::string& path, ServerConfig& cfg, std::vector<std::string>* ignored) {
  std::string text, why;
  if (!read_file(path, &text, &why)) return why;
  char resolved[PATH_MAX];
  cfg.config_file = realpath(path.c_str(), resolved) ? resolved : path;
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto where = [&] { return path + ":" + std::to_string(line_no) + ": '" + std::string(line) + "': "; };
    std::vector<std::string> args;
    if (!split_args(line, &args)) return where() + "unbalanced quotes";
    if (args.empty()) continue;
    const std::string name = args.front();
    std::string err;
    switch (apply_directive(cfg, name, std::span(args).subspan(1), DirectiveSource::kFile, &err)) {
      case Applied::kSet: break;
      case Applied::kIgnored: ignored->push_back(lowercase(name)); break;
      case Applied::kError: return where() + err;
    }
  }
  return {};
}

namespace {

// One setting as a config file line: "maxclients 100" (values quoted where Redis would need it).
std::string quoted(const std::string& v) {
  bool plain = !v.empty();
  for (char c : v) {
    if (c <= ' ' || c == '"' || c == '\'' || c == '\\' || c == 0x7f || static_cast<unsigned char>(c) > 0x7e) plain = false;
  }
  if (plain) return v;
  std::string out = "\"";
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < ' ' || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Every directive CONFIG REWRITE writes: its config name, its line, and whether it is at its
// default.
struct RewriteLine {
  std::string name, line;
  bool is_default;
};
std::vector<RewriteLine> rewrite_lines(const ServerConfig& cfg) {
  std::vector<RewriteLine> out;
  const ServerConfig defaults;
  for (const Setting& s : server_settings()) {
    std::string_view own = s.name;
    if (own == "client-hard-limit" || own == "client-soft-limit" || own == "client-soft-seconds" || own == "log-level") {
      continue;  // written as client-output-buffer-limit and loglevel
    }
    std::string v = setting_text(cfg, s);
    if (s.redis && s.kind == Setting::Kind::kBool) v = s.get(cfg) ? "yes" : "no";
    out.push_back({s.config_name(), s.config_name() + " " + quoted(v), setting_text(defaults, s) == setting_text(cfg, s)});
  }
  out.push_back({"client-output-buffer-limit",
                 "client-output-buffer-limit pubsub " + std::to_string(cfg.output.hard_bytes) + " " +
                     std::to_string(cfg.output.soft_bytes) + " " + std::to_string(cfg.output.soft_ms / 1000),
                 defaults.output.hard_bytes == cfg.output.hard_bytes && defaults.output.soft_bytes == cfg.output.soft_bytes &&
                     defaults.output.soft_ms == cfg.output.soft_ms});
  out.push_back({"loglevel", "loglevel " + redis_log_level(cfg.log_level), cfg.log_level == defaults.log_level});
  return out;
}

}  // namespace

std::string rewrite_config_text(std::string_view old_text, const ServerConfig& cfg) {
  // As Redis: a directive already in the file keeps its place (the first occurrence is rewritten,
  // later ones dropped), even at its default; one not in the file is appended only if it differs
  // from the default. Everything else (comments, blank lines, skipped Redis directives, users) stays.
  std::vector<RewriteLine> lines = rewrite_lines(cfg);
  std::vector<bool> written(lines.size(), false);
  std::string out;
  size_t pos = 0;
  while (pos < old_text.size()) {
    size_t end = old_text.find('\n', pos);
    if (end == std::string_view::npos) end = old_text.size();
    std::string_view line = old_text.substr(pos, end - pos);
    pos = end + 1;
    std::vector<std::string> args;
    std::string_view trimmed = line;
    while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t')) trimmed.remove_prefix(1);
    if (trimmed.empty() || trimmed.front() == '#' || !split_args(trimmed, &args) || args.empty()) {
      out.append(line).push_back('\n');
      continue;
    }
    std::string name = lowercase(args[0]);
    if (const Setting* s = find_setting(name)) {
      std::string_view own = s->name;
      name = own == "client-hard-limit" || own == "client-soft-limit" || own == "client-soft-seconds"
                 ? "client-output-buffer-limit"
             : own == "log-level" ? "loglevel"
                                  : s->config_name();
    }
    auto it = std::find_if(lines.begin(), lines.end(), [&](const RewriteLine& l) { return l.name == name; });
    if (it == lines.end()) {
      out.append(line).push_back('\n');
      continue;
    }
    const size_t i = static_cast<size_t>(it - lines.begin());
    if (written[i]) continue;  // a repeat: the first occurrence holds the value now
    written[i] = true;
    out += it->line + "\n";
  }
  bool header = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (written[i] || lines[i].is_default) continue;
    if (!header) {
      out += "# Generated by CONFIG REWRITE\n";
      header = true;
    }
    out += lines[i].line + "\n";
  }
  return out;
}

std::string rewrite_config_file(const ServerConfig& cfg) {
  if (cfg.config_file.empty()) return "The server is running without a config file";
  std::string old_text, why;
  if (!read_file(cfg.config_file, &old_text, &why)) {
    if (errno != ENOENT) return "Rewriting config file: " + why;
    old_text.clear();
  }
  const std::string text = rewrite_config_text(old_text, cfg);
  // A temporary file of this rewrite's own (callers serialise rewrites, this makes sure), with the
  // file's mode kept (0600 for a new one: it may hold requirepass).
  static std::atomic<uint64_t> serial{0};
  const std::string tmp = cfg.config_file + ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(++serial);
  struct stat st {};
  const mode_t mode = ::stat(cfg.config_file.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0600;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return "Rewriting config file: " + std::string(std::strerror(errno));
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string e = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return "Rewriting config file: " + e;
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), cfg.config_file.c_str()) != 0) {
    std::string e = std::strerror(errno);
    ::unlink(tmp.c_str());
    return "Rewriting config file: " + e;
  }
  return {};
}

std::optional<std::string_view> redis_off_value(std::string_view name) {
  for (const auto& [n, v] : kRedisOff) {
    if (n == name) return v;
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> config_parameters(const ServerConfig& cfg) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Setting& s : server_settings()) {
    std::string_view own = s.name;
    if (own == "client-hard-limit" || own == "client-soft-limit" || own == "client-soft-seconds" || own == "log-level") {
      continue;
    }
    std::string v = setting_text(cfg, s);
    if (s.redis && s.kind == Setting::Kind::kBool) v = s.get(cfg) ? "yes" : "no";
    out.emplace_back(s.config_name(), v);
  }
  out.emplace_back("client-output-buffer-limit", output_buffer_limit_text(cfg));
  out.emplace_back("loglevel", redis_log_level(cfg.log_level));
  out.emplace_back("fanout-log-level", cfg.log_level);
  for (const auto& [name, value] : kRedisOff) out.emplace_back(name, value);
  return out;
}

bool parse_bind_list(std::string_view text, std::vector<BindAddress>* out, std::string* err) {
  out->clear();
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ') {
      ++i;
      continue;
    }
    size_t end = text.find(' ', i);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(i, end - i);
    BindAddress a;
    if (word.front() == '-') {
      a.optional = true;
      word.remove_prefix(1);
    }
    if (word.empty()) {
      *err = "'-' must be followed by an address";
      return false;
    }
    a.host.assign(word);
    out->push_back(std::move(a));
    i = end;
  }
  return true;
}

namespace {

// The --upstream-* settings together (issue 13).
std::string validate_upstream(const ServerConfig& cfg) {
  if (cfg.upstream.empty()) {
    if (!cfg.upstream_user.empty() || !cfg.upstream_password_file.empty() || !cfg.upstream_token_file.empty()) {
      return "--upstream-* settings need --upstream (the NATS servers to join through)";
    }
    return {};
  }
  std::vector<UpstreamUrl> urls;
  std::string why;
  if (!parse_upstream_urls(cfg.upstream, &urls, &why)) return "--upstream: " + why;
  if (!cfg.upstream_password_file.empty() && !cfg.upstream_token_file.empty()) {
    return "--upstream-password-file and --upstream-token-file exclude each other (NATS takes a user and password, "
           "or a token)";
  }
  if (cfg.upstream_password_file.empty() != cfg.upstream_user.empty()) {
    return "--upstream-user and --upstream-password-file go together (a URL may carry both instead: "
           "nats://user:password@host:port)";
  }
  // NATS subjects: tokens of printable characters without spaces, '.'-separated; the prefix is
  // the leading tokens of every subject the tier uses (core/subject_map.h).
  const std::string& p = cfg.upstream_prefix;
  bool prefix_ok = p.size() >= 2 && p.back() == '.' && p.front() != '.' && p.find("..") == std::string::npos;
  for (char ch : p) prefix_ok = prefix_ok && ch > ' ' && ch < 0x7f && ch != '*' && ch != '>';
  if (!prefix_ok) {
    return "--upstream-prefix must be NATS subject tokens ending with '.', without spaces, '*' or '>' (default "
           "\"fanout.\"), got \"" + p + "\"";
  }
  if (cfg.upstream_name.find_first_of(" \r\n") != std::string::npos || cfg.upstream_name.size() > 128) {
    return "--upstream-name must be at most 128 bytes without spaces or line breaks (it travels in a NATS header)";
  }
  return {};
}

}  // namespace

std::string validate_config(const ServerConfig& cfg) {
  for (const Setting& s : server_settings()) {
    if (s.kind == Setting::Kind::kChoice && !choice_allowed(s, s.get_text(cfg))) {
      return range_error(s, s.get_text(cfg), {});
    }
    if ((s.kind == Setting::Kind::kNumber || s.kind == Setting::Kind::kSize) && !in_range(s, s.get(cfg))) {
      return range_error(s, number_text(s, cfg), {});
    }
    if (s.kind == Setting::Kind::kOctal && !in_range(s, s.get(cfg))) return range_error(s, octal(s.get(cfg)), {});
  }
  std::vector<BindAddress> binds;
  std::string why;
  if (!parse_bind_list(cfg.bind, &binds, &why)) return "--bind: " + why;
  if (!parse_bind_list(cfg.metrics_bind, &binds, &why)) return "--metrics-bind: " + why;
  if (cfg.metrics_port != 0 && binds.empty()) return "--metrics-bind must name an address when --metrics-port is set";
  // sockaddr_un's sun_path holds 108 bytes with the terminating NUL (unix(7)).
  if (cfg.unixsocket.size() > 107) {
    return "--unixsocket must be at most 107 bytes (a unix socket path's limit), got " +
           std::to_string(cfg.unixsocket.size());
  }
  if (cfg.bind.find_first_not_of(" ") == std::string::npos && cfg.unixsocket.empty()) {
    return "--bind is empty and there is no --unixsocket: fanoutd would listen nowhere";
  }
  if (cfg.metrics_port != 0 && cfg.metrics_port == cfg.port) {
    return "--metrics-port must differ from --port (" + std::to_string(cfg.port) + ")";
  }
  // Between settings.
  if (cfg.request.max_bulk_len > cfg.max_query_buffer) {
    return "--max-bulk-len (" + std::to_string(cfg.request.max_bulk_len) +
           ") must not exceed --max-query-buffer (" + std::to_string(cfg.max_query_buffer) +
           "): a command carrying a bulk that large would be closed at the query-buffer limit";
  }
  if (cfg.proxy_protocol) {
    std::vector<CidrBlock> blocks;
    std::string why;
    if (!parse_cidr_list(cfg.proxy_protocol_from, &blocks, &why)) return "--proxy-protocol-from: " + why;
    if (blocks.empty()) {
      return "--proxy-protocol needs --proxy-protocol-from: the balancers whose connections carry the header "
             "(a header from anyone else would let a client name any address)";
    }
  }
  if (cfg.tls_port != 0) {
    // As Redis's tlsConfigure: a certificate and its key, and the CAs client certificates are
    // checked against whenever they are asked for.
    if (cfg.tls_cert_file.empty() || cfg.tls_key_file.empty()) {
      return "--tls-port needs --tls-cert-file and --tls-key-file (tools/tls_certs.sh makes a test pair)";
    }
    if (cfg.tls_auth_clients != "no" && cfg.tls_ca_cert_file.empty() && cfg.tls_ca_cert_dir.empty()) {
      return "--tls-auth-clients " + cfg.tls_auth_clients +
             " (yes is the default, as in Redis) needs --tls-ca-cert-file or --tls-ca-cert-dir to check client "
             "certificates against; or --tls-auth-clients no";
    }
    if (cfg.tls_port == cfg.port && cfg.port != kPortAuto) {
      return "--tls-port must differ from --port (" + std::to_string(cfg.port) + ")";
    }
    if (cfg.metrics_port != 0 && cfg.metrics_port == cfg.tls_port) {
      return "--metrics-port must differ from --tls-port (" + std::to_string(cfg.tls_port) + ")";
    }
  }
  if (std::string why = validate_upstream(cfg); !why.empty()) return why;
  // Written into CLUSTER NODES' space-separated line: Redis copies at most NET_IP_STR_LEN - 1 (45)
  // bytes of it.
  if (cfg.cluster_announce_ip.size() > 45 ||
      std::any_of(cfg.cluster_announce_ip.begin(), cfg.cluster_announce_ip.end(),
                  [](char ch) { return ch < '!' || ch > '~'; })) {
    return "--cluster-announce-ip must be an address of at most 45 printable characters without spaces, got '" +
           cfg.cluster_announce_ip + "'";
  }
  if (static_cast<uint64_t>(cfg.uring_buffers) * cfg.uring_buffer_size > kGiB) {
    return "--uring-buffers x --uring-buffer-size must be at most 1g per shard, got " +
           std::to_string(cfg.uring_buffers) + " x " + std::to_string(cfg.uring_buffer_size);
  }
  return {};
}

}  // namespace fanout
