// Reads a whole (small) file: the ACL file, a password file. Start-up only.
#pragma once

#include <string>

namespace fanout {

// Appends the file's bytes to *out; false with *err ("cannot open PATH: reason") on failure.
bool read_file(const std::string& path, std::string* out, std::string* err);

}  // namespace fanout
