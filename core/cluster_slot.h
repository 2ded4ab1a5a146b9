// Redis Cluster's hash slots: CRC16 (XMODEM) and the slot of a key with its {hash tag} rules, as
// Redis computes them (crc16.c, cluster.c keyHashSlot), so CLUSTER KEYSLOT answers what a
// cluster client computes for the same key. Pure; thread: any.
#pragma once

#include <cstdint>
#include <string_view>

namespace fanout {

// Redis Cluster's slot count (cluster.h CLUSTER_SLOTS): slots are 0 to 16383.
inline constexpr uint32_t kClusterSlots = 16384;

// CRC16 as Redis's crc16.c computes it: the XMODEM variant (polynomial 0x1021, initial value 0,
// no reflection, no final xor); crc16("123456789") is 0x31C3.
uint16_t crc16_xmodem(std::string_view data);

// The hash slot of `key` (cluster.c keyHashSlot): CRC16 of the part between the first '{' and the
// first '}' after it when that part is not empty, else of the whole key; the low 14 bits.
// "foo{bar}{zap}" hashes "bar", "foo{{bar}}zap" hashes "{bar", and "foo{}{bar}", "{}" and "{"
// hash the whole key.
uint32_t key_hash_slot(std::string_view key);

}  // namespace fanout
