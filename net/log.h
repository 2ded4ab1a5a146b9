// Process-wide logging to stderr: one line per event, a timestamp, a level, and the shard.
// Coloured (green ok, yellow warn, red error) when stderr is a terminal, plain otherwise.
// Thread-safe: each line is formatted first and written with a single write(2).
#pragma once

#include <cstdarg>
#include <string_view>

namespace fanout {

enum class LogLevel { kDebug = 0, kInfo = 1, kOk = 2, kWarn = 3, kError = 4 };

bool parse_log_level(std::string_view s, LogLevel* out);
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
void log_line(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define FANOUT_LOG(level, ...)                                      \
  do {                                                              \
    if (::fanout::log_enabled(level)) ::fanout::log_line(level, __VA_ARGS__); \
  } while (0)
#define LOG_DEBUG(...) FANOUT_LOG(::fanout::LogLevel::kDebug, __VA_ARGS__)
#define LOG_INFO(...) FANOUT_LOG(::fanout::LogLevel::kInfo, __VA_ARGS__)
#define LOG_OK(...) FANOUT_LOG(::fanout::LogLevel::kOk, __VA_ARGS__)
#define LOG_WARN(...) FANOUT_LOG(::fanout::LogLevel::kWarn, __VA_ARGS__)
#define LOG_ERROR(...) FANOUT_LOG(::fanout::LogLevel::kError, __VA_ARGS__)

}  // namespace fanout
