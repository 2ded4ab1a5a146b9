// A small command-line flag parser shared by the tools: "--name value" and "--name=value",
// "--help" listing every flag with its default, sizes with k/m/g suffixes (core/units). Not thread-safe; use
// from main() only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace fanout {

class Flags {
 public:
  explicit Flags(std::string usage) : usage_(std::move(usage)) {}

  void add_string(const char* name, std::string* v, const char* help);
  void add_int(const char* name, int* v, const char* help);
  void add_int64(const char* name, int64_t* v, const char* help);
  void add_double(const char* name, double* v, const char* help);
  // Accepts plain bytes or k/m/g (KiB/MiB/GiB) suffixes.
  void add_size(const char* name, size_t* v, const char* help);
  void add_bool(const char* name, bool* v, const char* help);
  // A flag with its own parser; returns an error message or "". A bool flag may stand alone
  // ("--name" passes "").
  void add_custom(const char* name, std::string default_text, const char* help,
                  std::function<std::string(const std::string&)> set, bool is_bool = false);

  // Returns false on error (message in *err) or when --help was given (*help_shown = true).
  bool parse(int argc, char** argv, std::string* err, bool* help_shown);
  std::string help() const;
  // For main(): parses; on --help prints it (exit code 0), on an error prints "prog: error"
  // (exit code 2). Returns true to go on, false with *exit_code set to stop.
  bool parse_main(int argc, char** argv, const char* prog, int* exit_code);

 private:
  struct Flag {
    std::string name, help, def;
    bool is_bool = false;
    std::function<std::string(const std::string&)> set;
  };
  std::string usage_;
  std::vector<Flag> flags_;
};

}  // namespace fanout
