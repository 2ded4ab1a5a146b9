// Reads a whole, small configuration file: the config file, the ACL file (at start, ACL LOAD,
// SIGHUP), a password file.
#pragma once

#include <cstddef>
#include <string>

namespace fanout {

// The most a configuration file may hold: larger ones are refused, not read.
inline constexpr size_t kMaxConfigFileBytes = 64u << 20;

// Appends the file's bytes to *out; false with *err ("cannot open PATH: reason", "PATH is not a
// regular file", "PATH is larger than 64 MiB") on failure. Only regular files are read, and the
// open never blocks: a FIFO or a device (/dev/zero) named as a config or ACL file is refused
// instead of stalling or filling the reading thread (a shard thread for ACL LOAD and SIGHUP).
// Thread: any; it blocks on the disk only.
bool read_file(const std::string& path, std::string* out, std::string* err);

}  // namespace fanout
