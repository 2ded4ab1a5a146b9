// The PROXY protocol header a load balancer (HAProxy, cloud balancers) sends before a client's
// bytes, naming the client it accepted: version 1 (text) and version 2 (binary), as HAProxy's
// specification defines them (doc/proxy-protocol.txt, "The PROXY protocol", versions 1 & 2,
// sections 2.1 and 2.2). Pure: parsing and address matching only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fanout {

struct ProxyHeader {
  enum class Family : uint8_t { kUnspec, kTcp4, kTcp6, kUnix };
  // "PROXY UNKNOWN" (v1) and the LOCAL command or an unspecified family (v2): the connection's
  // own addresses stand (a balancer's health check).
  bool local = false;
  Family family = Family::kUnspec;
  uint8_t src[16] = {}, dst[16] = {};  // network order: 4 bytes for kTcp4, 16 for kTcp6
  uint16_t src_port = 0, dst_port = 0;
  std::string src_path;                // kUnix: the client's socket path
  size_t length = 0;                   // bytes the header took
};

enum class ProxyParse : uint8_t { kNeedMore, kOk, kError };

// The most bytes a header may take before it is refused: v1's 107, or v2's 16-byte preamble plus
// up to this much address and TLV data (HAProxy sends a few hundred bytes of TLVs at most).
inline constexpr size_t kMaxProxyV2Payload = 4096;

// Parses the header at the start of data[0, n). kNeedMore: not all of it is here yet (and nothing
// seen so far is wrong); kError with *error saying why (not a PROXY header, a malformed one, or
// one over the limits); kOk with *out filled and out->length the bytes it took. Thread: any.
ProxyParse parse_proxy_header(const char* data, size_t n, ProxyHeader* out, std::string* error);

// An address block: "10.0.0.0/8", "::1/128", or a single address ("127.0.0.1" = /32).
struct CidrBlock {
  bool v6 = false;
  uint8_t addr[16] = {};
  int prefix = 0;
};
// Parses space- or comma-separated blocks. False with *error naming the bad one. Thread: any.
bool parse_cidr_list(std::string_view text, std::vector<CidrBlock>* out, std::string* error);
// Whether the address (4 bytes if !v6, 16 if v6, network order) is in one of the blocks. An IPv4
// address mapped into IPv6 (::ffff:a.b.c.d) matches IPv4 blocks too. Thread: any.
bool cidr_match(const std::vector<CidrBlock>& blocks, bool v6, const uint8_t* addr);

}  // namespace fanout
