#include "net/log.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace fanout {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};
const bool g_tty = isatty(STDERR_FILENO) == 1;

// True when stderr is the journal stream systemd connected (JOURNAL_STREAM is "device:inode" of
// it, systemd.exec(5)); a child's inherited variable with another stderr does not count.
bool stderr_is_journal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  unsigned long long dev = 0, ino = 0;
  if (env == nullptr || std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  return fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}
const bool g_journal = stderr_is_journal();

// "ok" lines are info-level news that happen to be good: "info" in the line, green on a terminal.
const char* level_name(LogLevel level) {
  static const char* kNames[] = {"debug", "info", "info", "warn", "error"};
  return kNames[static_cast<int>(level)];
}

// RFC 3339 (section 5.6), UTC, milliseconds: 2026-11-30T19:47:16.123Z.
std::string rfc3339_ms(int64_t unix_ms) {
  time_t s = static_cast<time_t>(unix_ms / 1000);
  struct tm tm {};
  gmtime_r(&s, &tm);
  char buf[96];  // room for any int the compiler sees, though a year has 4 digits
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return buf;
}

// A text value: bare when it is printable ASCII without `"`, `=` or `\`, else quoted and escaped.
void append_text_value(std::string& out, std::string_view v) {
  bool bare = !v.empty();
  for (unsigned char ch : v) {
    if (ch <= ' ' || ch > '~' || ch == '"' || ch == '=' || ch == '\\') {
      bare = false;
      break;
    }
  }
  if (bare) {
    out += v;
    return;
  }
  out += '"';
  for (unsigned char ch : v) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < ' ' || ch > '~') {
          char hex[5];
          std::snprintf(hex, sizeof(hex), "\\x%02x", ch);
          out += hex;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  out += '"';
}

std::string cut(std::string_view v, size_t max) {
  if (v.size() <= max) return std::string(v);
  return std::string(v.substr(0, max)) + "...";
}

int64_t now_unix_ms() {
  struct timespec ts {};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

bool parse_log_level(std::string_view s, LogLevel* out) {
  if (s == "debug") *out = LogLevel::kDebug;
  else if (s == "info") *out = LogLevel::kInfo;
  else if (s == "warn" || s == "warning") *out = LogLevel::kWarn;
  else if (s == "error") *out = LogLevel::kError;
  else return false;
  return true;
}

bool parse_log_format(std::string_view s, LogFormat* out) {
  if (s == "text") *out = LogFormat::kText;
  else if (s == "json") *out = LogFormat::kJson;
  else return false;
  return true;
}

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

void set_log_format(LogFormat format) { g_format.store(static_cast<int>(format), std::memory_order_relaxed); }

bool log_enabled(LogLevel level) {
  int l = level == LogLevel::kOk ? static_cast<int>(LogLevel::kInfo) : static_cast<int>(level);
  return l >= g_level.load(std::memory_order_relaxed);
}

std::string format_log_line(LogFormat format, LogLevel level, int64_t unix_ms, std::string_view msg,
                            std::span<const LogField> fields) {
  std::string line;
  if (format == LogFormat::kJson) {
    nlohmann::ordered_json j;
    j["time"] = rfc3339_ms(unix_ms);
    j["level"] = level_name(level);
    j["msg"] = cut(msg, kLogMessageMax);
    for (const LogField& f : fields) {
      if (f.number) {
        j[f.key] = nlohmann::ordered_json::parse(f.text);  // digits from std::to_string
      } else {
        j[f.key] = cut(f.text, kLogValueMax);
      }
    }
    line = j.dump(-1, ' ', true, nlohmann::ordered_json::error_handler_t::replace);
  } else {
    line = "time=" + rfc3339_ms(unix_ms) + " level=" + level_name(level) + " msg=";
    append_text_value(line, cut(msg, kLogMessageMax));
    for (const LogField& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      if (f.number) {
        line += f.text;
      } else {
        append_text_value(line, cut(f.text, kLogValueMax));
      }
    }
  }
  line += '\n';
  return line;
}

LogEvent::LogEvent(LogLevel level, const char* fmt, ...) : level_(level) {
  char buf[kLogMessageMax + 1];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n > 0) msg_.assign(buf, std::min<size_t>(static_cast<size_t>(n), kLogMessageMax));
  if (n > static_cast<int>(kLogMessageMax)) msg_ += "...";
}

LogEvent& LogEvent::field(std::string_view key, std::string_view value) {
  fields_.push_back({std::string(key), cut(value, kLogValueMax), false});
  return *this;
}

LogEvent& LogEvent::client(const LogClient& c) {
  field("id", c.id).field("addr", c.addr).field("name", c.name);
  if (!c.user.empty()) field("user", c.user);
  return *this;
}

LogEvent::~LogEvent() {
  try {
    const auto format = static_cast<LogFormat>(g_format.load(std::memory_order_relaxed));
    std::string line = format_log_line(format, level_, now_unix_ms(), msg_, fields_);
    if (g_journal) {
      // syslog priorities (RFC 5424 section 6.2.1): debug 7, info 6, notice 5 (ok), warning 4, err 3.
      static const char* kPriority[] = {"<7>", "<6>", "<5>", "<4>", "<3>"};
      line.insert(0, kPriority[static_cast<int>(level_)]);
    } else if (g_tty && format == LogFormat::kText) {
      static const char* kColors[] = {"\x1b[2m", "", "\x1b[32m", "\x1b[33m", "\x1b[31m"};
      line.insert(0, kColors[static_cast<int>(level_)]);
      line.insert(line.size() - 1, "\x1b[0m");
    }
    ssize_t w = write(STDERR_FILENO, line.data(), line.size());
    (void)w;
  } catch (...) {
    // Out of memory while logging: the line is lost, never the process.
  }
}

}  // namespace fanout
