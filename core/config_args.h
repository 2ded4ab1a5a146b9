// Splitting one line of a redis.conf-syntax file into its arguments, as Redis does (sds.c
// sdssplitargs, used by config.c loadServerConfigFromString). Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fanout {

// Splits `line` into arguments separated by blanks. "double quotes" take the escapes \xHH, \n, \r,
// \t, \b, \a and \<any char>; 'single quotes' take \' only; a closing quote must be followed by a
// blank or the end of the line. Returns false (and leaves *out partly filled) on unbalanced quotes
// or a closing quote followed by another character, where Redis stops with "Unbalanced quotes in
// configuration line". Thread: any.
bool split_config_args(std::string_view line, std::vector<std::string>* out);

}  // namespace fanout
