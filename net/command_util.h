// Small helpers the command files share: integers and Redis's error texts. Thread: any (pure functions).
#pragma once

#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>

#include "core/ascii.h"

namespace fanout {

// A whole string as a signed decimal integer, as Redis reads one (string2ll: "01" and "-0" are
// not integers).
inline bool parse_ll(std::string_view s, long long* out) { return string2ll(s, out); }

// Redis's CLIENT SETNAME rule: names are printable ASCII without spaces ('!' to '~').
inline bool valid_client_name(std::string_view n) {
  for (char ch : n) {
    if (ch < '!' || ch > '~') return false;
  }
  return true;
}

// Redis's rejectCommandFormat: error text never carries CR or LF.
inline std::string sanitize(std::string s) {
  std::replace(s.begin(), s.end(), '\r', ' ');
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

// Redis's arity error (server.c, processCommand).
inline std::string wrong_args(std::string_view cmd) {
  return "ERR wrong number of arguments for '" + std::string(cmd) + "' command";
}

// Redis's reply to an unknown subcommand (server.c, addReplySubcommandSyntaxError).
inline std::string unknown_subcommand(std::string_view sub, std::string_view command_upper) {
  return "ERR unknown subcommand '" + sanitize(std::string(sub)) + "'. Try " +
         std::string(command_upper) + " HELP.";
}

}  // namespace fanout
