// Process-wide logging to stderr: one line per event, each a message and key=value fields.
//   text (default): time=2026-11-30T19:47:16.123Z level=warn msg="..." shard=0 id=7 addr=...
//   json (--log-format json): {"time":"2026-11-30T19:47:16.123Z","level":"warn","msg":"...",...}
// The shape is Go's log/slog TextHandler and JSONHandler (time, level, msg, then the fields);
// times are RFC 3339 in UTC with milliseconds. A line concerning a client names it as Redis's
// CLIENT LIST does: id, addr, name, user.
// Any byte is safe in a value: text quotes a value holding anything but printable ASCII, or `"`,
// `=` or `\`, writing `\"`, `\\`, `\n`, `\r`, `\t` and `\xHH` for the rest, so a line is printable
// ASCII; json escapes as RFC 8259 requires (ASCII output, `\uXXXX`), and a byte that is not
// UTF-8 becomes U+FFFD (JSON strings are Unicode). A string value is cut at kLogValueMax bytes
// (ending "..."), a message at kLogMessageMax.
// Text lines are coloured (green ok, yellow warn, red error) when stderr is a terminal; when
// stderr is systemd's journal (JOURNAL_STREAM, systemd.exec(5)) each line starts with its syslog
// priority, "<4>" for warn (sd-daemon(3)), which the journal takes off and keeps as the priority.
// Thread-safe: each line is formatted first and written with a single write(2).
//
// Usage: LOG_WARN("printf %s", "message").field("shard", 0).client({id, addr, name, user});
// the line is written at the end of the statement, and nothing is formatted below the level.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace fanout {

enum class LogLevel { kDebug = 0, kInfo = 1, kOk = 2, kWarn = 3, kError = 4 };
enum class LogFormat { kText = 0, kJson = 1 };

inline constexpr size_t kLogValueMax = 512;     // bytes of a string field kept
inline constexpr size_t kLogMessageMax = 1024;  // bytes of a message kept

bool parse_log_level(std::string_view s, LogLevel* out);  // debug, info, warn (warning), error
bool parse_log_format(std::string_view s, LogFormat* out);  // text, json
void set_log_level(LogLevel level);
void set_log_format(LogFormat format);
bool log_enabled(LogLevel level);

// One field of a line: a key (from the code, never from the network) and a string (any bytes) or
// an integer.
struct LogField {
  std::string key;
  std::string text;  // the string value, or the integer's digits
  bool number = false;
};

// A client as a log line names it: CLIENT LIST's id, addr ("ip:port"), name and user.
struct LogClient {
  uint64_t id = 0;
  std::string_view addr, name, user;
};

// The line for one event, without writing it: `unix_ms` milliseconds since the epoch. For tests.
std::string format_log_line(LogFormat format, LogLevel level, int64_t unix_ms, std::string_view msg,
                            std::span<const LogField> fields);

// One event being built; its destructor writes the line. Made by the LOG_* macros.
class LogEvent {
 public:
  LogEvent(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  ~LogEvent();
  LogEvent(const LogEvent&) = delete;
  LogEvent& operator=(const LogEvent&) = delete;

  LogEvent& field(std::string_view key, std::string_view value);
  LogEvent& field(std::string_view key, const char* value) { return field(key, std::string_view(value)); }
  LogEvent& field(std::string_view key, const std::string& value) { return field(key, std::string_view(value)); }
  template <class T>
    requires std::is_integral_v<T> && (!std::is_same_v<T, bool>) && (!std::is_same_v<T, char>)
  LogEvent& field(std::string_view key, T value) {
    fields_.push_back({std::string(key), std::to_string(value), true});
    return *this;
  }
  LogEvent& field(std::string_view key, bool value) { return field(key, value ? "true" : "false"); }
  // id, addr, name and user (user left out when empty: nobody signed in).
  LogEvent& client(const LogClient& c);

 private:
  LogLevel level_;
  std::string msg_;
  std::vector<LogField> fields_;
};

// Lets a LogEvent chain be the second operand of ?: (as glog's LogMessageVoidify).
struct LogVoidify {
  void operator&(const LogEvent&) {}
};

#define FANOUT_LOG(level, ...) \
  !::fanout::log_enabled(level) ? (void)0 : ::fanout::LogVoidify() & ::fanout::LogEvent(level, __VA_ARGS__)
#define LOG_DEBUG(...) FANOUT_LOG(::fanout::LogLevel::kDebug, __VA_ARGS__)
#define LOG_INFO(...) FANOUT_LOG(::fanout::LogLevel::kInfo, __VA_ARGS__)
#define LOG_OK(...) FANOUT_LOG(::fanout::LogLevel::kOk, __VA_ARGS__)
#define LOG_WARN(...) FANOUT_LOG(::fanout::LogLevel::kWarn, __VA_ARGS__)
#define LOG_ERROR(...) FANOUT_LOG(::fanout::LogLevel::kError, __VA_ARGS__)

}  // namespace fanout
