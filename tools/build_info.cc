#include "tools/build_info.h"

#include <link.h>
#include <openssl/crypto.h>
#include <stdlib.h>

#include <climits>
#include <cstring>
#include <string_view>

#include "net/version.h"
#include "tools/build_stamp.h"  // FANOUT_COMMIT, generated (tools/BUILD)

#ifndef FANOUT_COMPILATION_MODE
#define FANOUT_COMPILATION_MODE "unknown"
#endif
#ifndef FANOUT_SANITIZER
#define FANOUT_SANITIZER "none"
#endif

namespace fanout {
namespace {

// The version of the liburing shared object this process loaded, read from its real file name
// (Debian installs liburing.so.2 -> liburing.so.2.3); liburing 2.3 has no version call of its own.
std::string loaded_liburing() {
  std::string path;
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void* out) {
        if (info->dlpi_name != nullptr && std::strstr(info->dlpi_name, "/liburing.so") != nullptr) {
          *static_cast<std::string*>(out) = info->dlpi_name;
          return 1;
        }
        return 0;
      },
      &path);
  if (path.empty()) return "unknown";
  char real[PATH_MAX];
  if (realpath(path.c_str(), real) != nullptr) path = real;
  std::string_view name(path);
  name.remove_prefix(name.rfind('/') + 1);
  constexpr std::string_view kPrefix = "liburing.so.";
  if (name.substr(0, kPrefix.size()) != kPrefix || name.size() == kPrefix.size()) return "unknown";
  return std::string(name.substr(kPrefix.size()));
}

}  // namespace

BuildInfo build_info() {
  BuildInfo b;
  b.version = std::string(kFanoutVersion);
  b.commit = FANOUT_COMMIT;
  b.mode = FANOUT_COMPILATION_MODE;
  b.sanitizer = FANOUT_SANITIZER;
#if defined(__clang__)
  b.compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  b.compiler = "gcc " __VERSION__;
#else
  b.compiler = "unknown";
#endif
  b.liburing = loaded_liburing();
  // The library loaded at run time (libssl's, which the TLS listener uses), not the headers'.
  b.openssl = OpenSSL_version(OPENSSL_VERSION);
  return b;
}

std::string version_text() {
  BuildInfo b = build_info();
  return "fanoutd " + b.version + "\n" +
         "commit " + b.commit + "\n" +
         "build " + b.mode + ", sanitizer " + b.sanitizer + ", " + b.compiler + "\n" +
         "liburing " + b.liburing + "\n" +
         "openssl " + b.openssl + "\n";
}

}  // namespace fanout
