#include "core/acl_log.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

AclLogEntry denial(std::string object, int64_t ms, AclLogEntry::Reason reason = AclLogEntry::Reason::kChannel,
                   std::string user = "u") {
  AclLogEntry e;
  e.reason = reason;
  e.object = std::move(object);
  e.username = std::move(user);
  e.ctime_ms = ms;
  e.client_info = "id=" + std::to_string(ms);
  return e;
}

TEST(AclLogTest, RepeatsWithinAMinuteCountInOneEntryMovedToTheFront) {
  AclLog log;
  log.add(denial("a", 1000));
  log.add(denial("b", 2000));
  log.add(denial("a", 3000));  // like the first: counted there, which becomes the newest
  ASSERT_EQ(log.entries().size(), 2u);
  EXPECT_EQ(log.entries()[0].object, "a");
  EXPECT_EQ(log.entries()[0].count, 2u);
  EXPECT_EQ(log.entries()[0].ctime_ms, 3000);
  EXPECT_EQ(log.entries()[0].client_info, "id=3000");  // the last client that did it
  EXPECT_EQ(log.entries()[1].object, "b");
  // Another reason, context or user, or over 60 s later, is another entry.
  log.add(denial("a", 3000, AclLogEntry::Reason::kCommand));
  log.add(denial("a", 3000, AclLogEntry::Reason::kChannel, "v"));
  AclLogEntry multi = denial("a", 3000);
  multi.context = AclLogEntry::Context::kMulti;
  log.add(multi);
  log.add(denial("a", 3000 + AclLog::kGroupingMs + 1));
  EXPECT_EQ(log.entries().size(), 6u);
  log.reset();
  EXPECT_TRUE(log.entries().empty());
}

TEST(AclLogTest, OnlyTheTenNewestAreSearchedAndTheLogIsBounded) {
  AclLog log(16);
  log.add(denial("old", 0));
  for (int i = 0; i < 10; ++i) log.add(denial("x" + std::to_string(i), 1));
  log.add(denial("old", 2));  // eleventh from the front: a new entry, as in Redis
  EXPECT_EQ(log.entries().size(), 12u);
  EXPECT_EQ(log.entries()[0].count, 1u);
  for (int i = 0; i < 100; ++i) log.add(denial("y" + std::to_string(i), 3));
  EXPECT_EQ(log.entries().size(), 16u);
  EXPECT_EQ(log.entries()[0].object, "y99");
  EXPECT_EQ(log.entries()[15].object, "y84");
}

TEST(AclLogTest, RedisNames) {
  EXPECT_EQ(AclLogEntry::reason_name(AclLogEntry::Reason::kAuth), "auth");
  EXPECT_EQ(AclLogEntry::reason_name(AclLogEntry::Reason::kChannel), "channel");
  EXPECT_EQ(AclLogEntry::reason_name(AclLogEntry::Reason::kCommand), "command");
  EXPECT_EQ(AclLogEntry::context_name(AclLogEntry::Context::kToplevel), "toplevel");
  EXPECT_EQ(AclLogEntry::context_name(AclLogEntry::Context::kMulti), "multi");
}

}  // namespace
}  // namespace fanout
