// What fanoutd --version prints: the release, the git commit it was built from (Bazel stamping,
// tools/workspace_status.sh; "unknown" outside a git checkout), the build (Bazel's compilation
// mode, the sanitizer config, the compiler) and the libraries it runs with. Any thread.
#pragma once

#include <string>

namespace fanout {

struct BuildInfo {
  std::string version;    // Fanout's release, as INFO's fanout_version ("0.1.0")
  std::string commit;     // 12-digit abbreviated hash, "-dirty" if the tree differed; or "unknown"
  std::string mode;       // Bazel's --compilation_mode: "opt", "dbg" or "fastbuild"
  std::string sanitizer;  // the .bazelrc config built with: "asan+ubsan", "ubsan", "tsan" or "none"
  std::string compiler;   // "gcc 12.2.0"
  std::string liburing;   // the shared library loaded, from its file name ("2.3"), else "unknown"
  std::string openssl;    // the OpenSSL loaded: "OpenSSL 3.0.19 27 Jan 2026"
};

BuildInfo build_info();

// --version's text: one "name value" line each (fanoutd, commit, build, liburing, openssl).
std::string version_text();

}  // namespace fanout
