// CRC16/XMODEM and Redis Cluster's key hash slots. The expected slots are what redis-server 7.0.15
// (cluster-enabled yes) answered to CLUSTER KEYSLOT for the same keys.
#include "core/cluster_slot.h"

#include <gtest/gtest.h>

#include <string>

namespace fanout {
namespace {

TEST(Crc16, RedisTestVector) {
  // crc16.c's header and the cluster specification: "Output for '123456789': 31C3".
  EXPECT_EQ(crc16_xmodem("123456789"), 0x31C3);
  EXPECT_EQ(crc16_xmodem(""), 0);
  EXPECT_EQ(crc16_xmodem(std::string(1, '\0')), 0);
  EXPECT_EQ(crc16_xmodem("A"), 0x58E5);  // XMODEM's check value for one byte
}

TEST(KeyHashSlot, WholeKeys) {
  EXPECT_EQ(key_hash_slot("123456789"), 0x31C3u & 0x3FFF);  // 12739
  EXPECT_EQ(key_hash_slot("foo"), 12182u);
  EXPECT_EQ(key_hash_slot(""), 0u);
  EXPECT_EQ(key_hash_slot("bar"), 5061u);
  EXPECT_EQ(key_hash_slot(std::string("\xff\x00\x80", 3)), 7915u);  // binary keys: every byte counts
}

TEST(KeyHashSlot, HashTags) {
  // Only what is between the first '{' and the first '}' after it is hashed...
  EXPECT_EQ(key_hash_slot("{user1000}.following"), 3443u);
  EXPECT_EQ(key_hash_slot("{user1000}.followers"), 3443u);
  EXPECT_EQ(key_hash_slot("foo{bar}{zap}"), key_hash_slot("bar"));
  EXPECT_EQ(key_hash_slot("foo{bar}{zap}"), 5061u);
  EXPECT_EQ(key_hash_slot("foo{{bar}}zap"), key_hash_slot("{bar"));
  EXPECT_EQ(key_hash_slot("foo{{bar}}zap"), 4015u);
  EXPECT_EQ(key_hash_slot("{{}}"), key_hash_slot("{"));
  EXPECT_EQ(key_hash_slot("a{b}c}"), key_hash_slot("b"));
  EXPECT_EQ(key_hash_slot("{ }"), key_hash_slot(" "));
  // ...unless it is empty, or there is no '}' after the '{': then the whole key is hashed.
  EXPECT_EQ(key_hash_slot("foo{}{bar}"), crc16_xmodem("foo{}{bar}") & 0x3FFFu);
  EXPECT_EQ(key_hash_slot("foo{}{bar}"), 8363u);
  EXPECT_EQ(key_hash_slot("{}"), 15257u);
  EXPECT_EQ(key_hash_slot("{"), 4092u);
  EXPECT_EQ(key_hash_slot("}"), 12090u);
  EXPECT_EQ(key_hash_slot("{bar"), crc16_xmodem("{bar") & 0x3FFFu);
}

TEST(KeyHashSlot, AlwaysInRange) {
  std::string key;
  for (int i = 0; i < 2000; ++i) {
    key.push_back(static_cast<char>(i * 37));
    EXPECT_LT(key_hash_slot(key), kClusterSlots);
  }
}

}  // namespace
}  // namespace fanout
