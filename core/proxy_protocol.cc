#include "core/proxy_protocol.h"

#include <arpa/inet.h>

#include <cstring>

namespace fanout {
namespace {

constexpr char kV2Signature[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
constexpr size_t kV1Max = 107;  // "PROXY TCP6 " + two full IPv6 addresses + two ports + CRLF

bool parse_port(std::string_view s, uint16_t* out) {
  // v1: 0 to 65535, no leading zero (the specification's "must not have leading zeroes").
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

ProxyParse fail(std::string* error, std::string why) {
  *error = std::move(why);
  return ProxyParse::kError;
}

// Version 1 (section 2.1): "PROXY TCP4|TCP6 src dst sport dport\r\n" or "PROXY UNKNOWN ...\r\n".
ProxyParse parse_v1(const char* data, size_t n, ProxyHeader* out, std::string* error) {
  const std::string_view in(data, n);
  const size_t cr = in.find('\r'), lf = in.find('\n');
  // The line ends at its first CR, which must be followed by LF; a LF anywhere before is wrong
  // whatever follows.
  if (lf != std::string_view::npos && (cr == std::string_view::npos || lf != cr + 1)) {
    return fail(error, "PROXY v1 header not ended by CRLF");
  }
  if (cr == std::string_view::npos || cr + 1 >= n) {
    if (n >= kV1Max) return fail(error, "PROXY v1 header longer than 107 bytes");
    return ProxyParse::kNeedMore;
  }
  if (cr + 2 > kV1Max) return fail(error, "PROXY v1 header longer than 107 bytes");
  if (data[cr + 1] != '\n') return fail(error, "PROXY v1 header not ended by CRLF");
  std::string_view line = in.substr(0, cr);
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (pos <= line.size()) {
    size_t sp = line.find(' ', pos);
    if (sp == std::string_view::npos) sp = line.size();
    parts.push_back(line.substr(pos, sp - pos));
    pos = sp + 1;
  }
  out->length = cr + 2;
  if (parts.size() >= 2 && parts[1] == "UNKNOWN") {
    out->local = true;  // the rest of the line is ignored (section 2.1)
    return ProxyParse::kOk;
  }
  if (parts.size() != 6) return fail(error, "PROXY v1 header needs 6 fields");
  const bool v6 = parts[1] == "TCP6";
  if (!v6 && parts[1] != "TCP4") return fail(error, "PROXY v1 protocol must be TCP4, TCP6 or UNKNOWN");
  const int af = v6 ? AF_INET6 : AF_INET;
  const std::string src(parts[2]), dst(parts[3]);
  if (inet_pton(af, src.c_str(), out->src) != 1 || inet_pton(af, dst.c_str(), out->dst) != 1) {
    return fail(error, "PROXY v1 header has a bad address");
  }
  if (!parse_port(parts[4], &out->src_port) || !parse_port(parts[5], &out->dst_port)) {
    return fail(error, "PROXY v1 header has a bad port");
  }
  out->family = v6 ? ProxyHeader::Family::kTcp6 : ProxyHeader::Family::kTcp4;
  return ProxyParse::kOk;
}

uint16_t be16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}

// Version 2 (section 2.2): the signature, version and command, family and transport, length,
// addresses, then TLVs (skipped).
ProxyParse parse_v2(const char* data, size_t n, ProxyHeader* out, std::string* error) {
  if (n < 16) return ProxyParse::kNeedMore;
  const uint8_t ver_cmd = static_cast<uint8_t>(data[12]), fam = static_cast<uint8_t>(data[13]);
  if ((ver_cmd >> 4) != 2) return fail(error, "PROXY v2 header with a version other than 2");
  const uint8_t cmd = ver_cmd & 0x0f;
  if (cmd > 1) return fail(error, "PROXY v2 header with an unknown command");
  const size_t len = be16(data + 14);
  if (len > kMaxProxyV2Payload) return fail(error, "PROXY v2 header longer than the limit");
  if (n < 16 + len) return ProxyParse::kNeedMore;
  out->length = 16 + len;
  const char* p = data + 16;
  if (cmd == 0) {  // LOCAL: the connection's own addresses (section 2.2, "the receiver must accept")
    out->local = true;
    return ProxyParse::kOk;
  }
  switch (fam) {
    case 0x00:  // UNSPEC
      out->local = true;
      return ProxyParse::kOk;
    case 0x11:  // TCP over IPv4
    case 0x12:  // UDP over IPv4: addresses as TCP's
      if (len < 12) return fail(error, "PROXY v2 IPv4 addresses truncated");
      std::memcpy(out->src, p, 4);
      std::memcpy(out->dst, p + 4, 4);
      out->src_port = be16(p + 8);
      out->dst_port = be16(p + 10);
      out->family = ProxyHeader::Family::kTcp4;
      return ProxyParse::kOk;
    case 0x21:
    case 0x22:
      if (len < 36) return fail(error, "PROXY v2 IPv6 addresses truncated");
      std::memcpy(out->src, p, 16);
      std::memcpy(out->dst, p + 16, 16);
      out->src_port = be16(p + 32);
      out->dst_port = be16(p + 34);
      out->family = ProxyHeader::Family::kTcp6;
      return ProxyParse::kOk;
    case 0x31:
    case 0x32: {
      if (len < 216) return fail(error, "PROXY v2 unix addresses truncated");
      const size_t plen = strnlen(p, 108);
      // The path becomes the client's addr in CLIENT LIST, ACL LOG and the logs: printable bytes
      // only, so a balancer's peer cannot forge fields or lines there.
      for (size_t i = 0; i < plen; ++i) {
        if (p[i] <= ' ' || p[i] >= 0x7f) return fail(error, "PROXY v2 unix path with a blank or unprintable byte");
      }
      out->src_path.assign(p, plen);
      out->family = ProxyHeader::Family::kUnix;
      return ProxyParse::kOk;
    }
    default:
      return fail(error, "PROXY v2 header with an unknown address family");
  }
}

}  // namespace

ProxyParse parse_proxy_header(const char* data, size_t n, ProxyHeader* out, std::string* error) {
  *out = ProxyHeader{};
  // Decide the version from as many bytes as are here: a prefix of either signature needs more.
  const size_t sig = std::min<size_t>(n, sizeof(kV2Signature));
  if (std::memcmp(data, kV2Signature, sig) == 0) {
    if (n < sizeof(kV2Signature)) return ProxyParse::kNeedMore;
    return parse_v2(data, n, out, error);
  }
  static constexpr std::string_view kV1 = "PROXY ";
  const size_t v1 = std::min(n, kV1.size());
  if (std::string_view(data, v1) == kV1.substr(0, v1)) {
    if (n < kV1.size()) return ProxyParse::kNeedMore;
    return parse_v1(data, n, out, error);
  }
  return fail(error, "no PROXY protocol header");
}

bool parse_cidr_list(std::string_view text, std::vector<CidrBlock>* out, std::string* error) {
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == ',')) ++pos;
    if (pos >= text.size()) break;
    size_t end = text.find_first_of(" ,", pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string item(text.substr(pos, end - pos));
    pos = end;
    CidrBlock b;
    const size_t slash = item.find('/');
    const std::string addr = item.substr(0, slash);
    b.v6 = addr.find(':') != std::string::npos;
    const int max = b.v6 ? 128 : 32;
    b.prefix = max;
    bool ok = inet_pton(b.v6 ? AF_INET6 : AF_INET, addr.c_str(), b.addr) == 1;
    if (ok && slash != std::string::npos) {
      const std::string bits = item.substr(slash + 1);
      ok = !bits.empty() && bits.size() <= 3 && bits.find_first_not_of("0123456789") == std::string::npos &&
           std::stoi(bits) <= max;
      if (ok) b.prefix = std::stoi(bits);
    }
    if (!ok) {
      *error = "'" + item + "' is not an address or address/prefix";
      return false;
    }
    out->push_back(b);
  }
  return true;
}

bool cidr_match(const std::vector<CidrBlock>& blocks, bool v6, const uint8_t* addr) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  uint8_t mapped4[4];
  const bool is_mapped = v6 && std::memcmp(addr, kMapped, 12) == 0;
  if (is_mapped) std::memcpy(mapped4, addr + 12, 4);
  for (const CidrBlock& b : blocks) {
    const uint8_t* a = addr;
    if (b.v6 != v6) {
      if (!is_mapped || b.v6) continue;
      a = mapped4;  // an IPv4 client on a dual-stack socket
    }
    int bits = b.prefix, i = 0;
    bool match = true;
    for (; bits >= 8; bits -= 8, ++i) {
      if (a[i] != b.addr[i]) match = false;
    }
    if (match && bits > 0) {
      const uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits));
      match = (a[i] & mask) == (b.addr[i] & mask);
    }
    if (match) return true;
  }
  return false;
}

}  // namespace fanout
