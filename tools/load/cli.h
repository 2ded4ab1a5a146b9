// fanout-load's command line: the table of flags (README lists them; `--help` prints them with
// their defaults) and the checks every run passes before anything connects. Main thread only.
#pragma once

#include <string>

#include "tools/load/options.h"

namespace fanout::load {

// Parses argv into *o. Returns true to go on; false to exit with *exit_code: 0 after --help
// (printed), 2 after an unknown or malformed flag (the error printed as "fanout-load: ...").
bool parse_options(int argc, char** argv, Options* o, int* exit_code);

// Checks *o and settles what follows from it: the payload size is raised to the 32-byte header,
// and threads are capped at the subscribers. The target must be loopback (net's
// is_loopback_host, decided on every address the host resolves to). Returns "" or the error.
std::string validate_options(Options* o);

// Raises the soft RLIMIT_NOFILE towards the descriptors the run needs (one per connection plus
// 64), up to the hard limit; beyond it connects fail and are reported as such.
void raise_fd_limit(const Options& o);

}  // namespace fanout::load
