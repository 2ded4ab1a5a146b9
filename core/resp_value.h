// A parsed RESP2/RESP3 value and a parser for replies and pushes (the client side of the protocol).
// Used by the load generator and the tests; the server parses requests with RequestParser.
// Thread-agnostic; values own their data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fanout {

struct RespValue {
  enum class Type {
    kSimple,     // +
    kError,      // -
    kInteger,    // :
    kBulk,       // $
    kNull,       // _ , $-1 , *-1
    kArray,      // *
    kMap,        // %  (elements are key, value, key, value ...)
    kSet,        // ~
    kPush,       // >
    kDouble,     // ,
    kBoolean,    // #
    kBigNumber,  // (
    kVerbatim,   // =  (str holds the text after "fmt:")
    kAttribute,  // |  (elements as in a map; precedes the value it annotates)
  };
  Type type = Type::kNull;
  std::string str;
  int64_t integer = 0;
  double dbl = 0;
  std::vector<RespValue> elements;

  bool is_aggregate() const {
    return type == Type::kArray || type == Type::kMap || type == Type::kSet ||
           type == Type::kPush || type == Type::kAttribute;
  }
};

// Parses one value from buf[0, len). Returns bytes consumed (>0) with *out filled, 0 when more
// bytes are needed, or -1 on malformed input (with *error set). Attributes are returned as their
// own value, as they appear on the wire.
long parse_resp_value(const char* buf, size_t len, RespValue* out, std::string* error,
                      size_t max_depth = 64);

// Encodes a value back to the wire (RESP3 markers kept as they are). Used by tests.
std::string encode_resp_value(const RespValue& v);

}  // namespace fanout
