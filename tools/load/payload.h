// The payload every fanout-load message carries: a fixed binary header (magic, publisher id,
// stream sequence, send timestamp in ns, closed-loop round) followed by filler up to the requested size. Pure.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace fanout::load {

inline constexpr uint32_t kMagic = 0x464e4c44;  // "FNLD"
inline constexpr size_t kHeaderSize = 4 + 4 + 8 + 8 + 8;

struct PayloadHeader {
  uint32_t publisher = 0;
  uint64_t seq = 0;      // per (publisher, topic) stream, from 0
  uint64_t send_ns = 0;  // CLOCK_MONOTONIC; the intended send time in open-loop mode
  uint64_t round = 0;    // closed loop: the window this message belongs to
};

// Writes a payload of max(size, kHeaderSize) bytes into out (resized).
inline void encode_payload(const PayloadHeader& h, size_t size, std::string* out) {
  if (size < kHeaderSize) size = kHeaderSize;
  out->assign(size, 'x');
  char* p = out->data();
  std::memcpy(p, &kMagic, 4);
  std::memcpy(p + 4, &h.publisher, 4);
  std::memcpy(p + 8, &h.seq, 8);
  std::memcpy(p + 16, &h.send_ns, 8);
  std::memcpy(p + 24, &h.round, 8);
}

inline bool decode_payload(std::string_view p, PayloadHeader* h) {
  if (p.size() < kHeaderSize) return false;
  uint32_t magic;
  std::memcpy(&magic, p.data(), 4);
  if (magic != kMagic) return false;
  std::memcpy(&h->publisher, p.data() + 4, 4);
  std::memcpy(&h->seq, p.data() + 8, 8);
  std::memcpy(&h->send_ns, p.data() + 16, 8);
  std::memcpy(&h->round, p.data() + 24, 8);
  return true;
}

}  // namespace fanout::load
