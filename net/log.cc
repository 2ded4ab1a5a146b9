#include "net/log.h"

#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace fanout {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
const bool g_tty = isatty(STDERR_FILENO) == 1;

}  // namespace

bool parse_log_level(std::string_view s, LogLevel* out) {
  if (s == "debug") *out = LogLevel::kDebug;
  else if (s == "info") *out = LogLevel::kInfo;
  else if (s == "warn" || s == "warning") *out = LogLevel::kWarn;
  else if (s == "error") *out = LogLevel::kError;
  else return false;
  return true;
}

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

bool log_enabled(LogLevel level) {
  // "ok" lines are info-level news that happen to be good.
  int l = level == LogLevel::kOk ? static_cast<int>(LogLevel::kInfo) : static_cast<int>(level);
  return l >= g_level.load(std::memory_order_relaxed);
}

void log_line(LogLevel level, const char* fmt, ...) {
  char buf[1024];
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  static const char* kNames[] = {"debug", "info", "ok", "warn", "error"};
  static const char* kColors[] = {"\x1b[2m", "", "\x1b[32m", "\x1b[33m", "\x1b[31m"};
  int i = static_cast<int>(level);
  int n = std::snprintf(buf, sizeof(buf), "%s%02d:%02d:%02d.%03d %-5s ", g_tty ? kColors[i] : "",
                        tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(tv.tv_usec / 1000),
                        kNames[i]);
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(buf + n, sizeof(buf) - n - 8, fmt, ap);
  va_end(ap);
  n += m < 0 ? 0 : (m > static_cast<int>(sizeof(buf)) - n - 8 ? static_cast<int>(sizeof(buf)) - n - 8 : m);
  if (g_tty) n += std::snprintf(buf + n, sizeof(buf) - n, "\x1b[0m");
  buf[n++] = '\n';
  ssize_t w = write(STDERR_FILENO, buf, n);
  (void)w;
}

}  // namespace fanout
