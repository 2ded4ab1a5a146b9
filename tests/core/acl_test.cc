#include "core/acl.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

constexpr AclCommandInfo kCatalog[] = {
    {"publish", kAclPubsub | kAclFast},        {"subscribe", kAclPubsub | kAclSlow},
    {"psubscribe", kAclPubsub | kAclSlow},     {"unsubscribe", kAclPubsub | kAclSlow},
    {"pubsub|channels", kAclPubsub | kAclSlow}, {"pubsub|numsub", kAclPubsub | kAclSlow},
    {"ping", kAclFast | kAclConnection},        {"info", kAclSlow | kAclDangerous},
};

class AclTest : public ::testing::Test {
 protected:
  Acl acl{kCatalog};
  std::string err;
  std::vector<std::string> notes;
  size_t cmd(std::string_view name) { return static_cast<size_t>(acl.command_index(name)); }
};

TEST_F(AclTest, DefaultUserIsRedisDefault) {
  const AclUser* d = acl.initial_user();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->name, "default");
  EXPECT_TRUE(d->check_password("anything"));
  EXPECT_TRUE(d->can_run(cmd("info")));
  EXPECT_TRUE(d->can_access("any", false));
}

TEST_F(AclTest, FileSeparatesPublishersFromSubscribersByChannelGlob) {
  const std::string hash = to_hex(sha256("pw2"));
  ASSERT_TRUE(acl.load("# publishers and subscribers\n"
                       "user default off\n"
                       "\n"
                       "user pub on >pw1 resetchannels &news.* +publish +ping\n"
                       "user sub on #" + hash + " &news.* &alerts +@pubsub -publish -pubsub ~*\n",
                       &err, &notes))
      << err;
  EXPECT_EQ(acl.initial_user(), nullptr);  // default is off: everyone must AUTH
  const AclUser* pub = acl.find("pub");
  const AclUser* sub = acl.find("sub");
  ASSERT_TRUE(pub && sub);
  EXPECT_TRUE(pub->check_password("pw1"));
  EXPECT_FALSE(pub->check_password("pw2"));
  EXPECT_TRUE(sub->check_password("pw2"));  // given as a hash
  EXPECT_TRUE(pub->can_run(cmd("publish")));
  EXPECT_FALSE(pub->can_run(cmd("subscribe")));
  EXPECT_TRUE(sub->can_run(cmd("subscribe")));
  EXPECT_TRUE(sub->can_run(cmd("psubscribe")));
  EXPECT_FALSE(sub->can_run(cmd("publish")));
  EXPECT_FALSE(sub->can_run(cmd("pubsub|channels")));  // "-pubsub" takes every subcommand
  EXPECT_FALSE(sub->can_run(cmd("ping")));
  // Channels match the user's globs; a pattern must equal one of them.
  EXPECT_TRUE(pub->can_access("news.sports", false));
  EXPECT_FALSE(pub->can_access("alerts", false));
  EXPECT_TRUE(sub->can_access("alerts", false));
  EXPECT_TRUE(sub->can_access("news.*", true));
  EXPECT_FALSE(sub->can_access("news.s*", true));
  EXPECT_FALSE(sub->can_access("*", true));
}

TEST_F(AclTest, RulesApplyInOrder) {
  ASSERT_TRUE(acl.set_user("u", std::vector<std::string>{"on", "nopass", "+@all", "-@dangerous", "-pubsub", "+pubsub|numsub"}, &err, &notes)) << err;
  const AclUser* u = acl.find("u");
  EXPECT_TRUE(u->enabled);
  EXPECT_TRUE(u->check_password(""));
  EXPECT_FALSE(u->can_run(cmd("info")));
  EXPECT_FALSE(u->can_run(cmd("pubsub|channels")));
  EXPECT_TRUE(u->can_run(cmd("pubsub|numsub")));
  EXPECT_TRUE(u->can_run(cmd("publish")));
  EXPECT_FALSE(u->can_access("x", false));  // a new user has no channels
  // Later rules on the same user build on what it has; "reset" starts over.
  ASSERT_TRUE(acl.set_user("u", std::vector<std::string>{">secret", "allchannels"}, &err, &notes));
  EXPECT_FALSE(u->check_password("other"));
  EXPECT_TRUE(u->check_password("secret"));
  EXPECT_TRUE(u->can_access("x", false));
  ASSERT_TRUE(acl.set_user("u", std::vector<std::string>{"<secret", "resetchannels", "&a"}, &err, &notes));
  EXPECT_FALSE(u->check_password("secret"));
  EXPECT_TRUE(u->can_access("a", false));
  EXPECT_FALSE(u->can_access("b", false));
  ASSERT_TRUE(acl.set_user("u", std::vector<std::string>{"reset"}, &err, &notes));
  EXPECT_FALSE(u->enabled);
  EXPECT_FALSE(u->can_run(cmd("publish")));
  EXPECT_FALSE(u->can_access("a", false));
}

TEST_F(AclTest, RedisRulesWithoutMeaningHereAreNoted) {
  ASSERT_TRUE(acl.load("user app on >pw ~cache:* %R~x allkeys +get +set +publish +client|kill &*\n", &err, &notes)) << err;
  ASSERT_EQ(notes.size(), 3u);
  EXPECT_EQ(notes[0], "'+get': this server has no such command (ignored)");
  EXPECT_EQ(notes[2], "'+client|kill': this server has no such subcommand (ignored)");
  EXPECT_TRUE(acl.find("app")->can_run(cmd("publish")));
}

TEST_F(AclTest, BadFilesNameTheLine) {
  EXPECT_FALSE(acl.load("user a on\nuser b on +@nosuch\n", &err, &notes));
  EXPECT_EQ(err, "line 2: user 'b': unknown command category in '+@nosuch'");
  EXPECT_FALSE(acl.load("user a on\nuser a off\n", &err, &notes));
  EXPECT_EQ(err, "line 2: duplicate user 'a'");
  EXPECT_FALSE(acl.load("users a on\n", &err, &notes));
  EXPECT_EQ(err, "line 1: expected 'user <name> <rules...>'");
  EXPECT_FALSE(acl.load("user a #abc\n", &err, &notes));
  EXPECT_EQ(err, "line 1: user 'a': '#' must be followed by a SHA-256 hash of 64 hex digits");
  EXPECT_FALSE(acl.load("user a bogus\n", &err, &notes));
  EXPECT_EQ(err, "line 1: user 'a': syntax error in rule 'bogus'");
  EXPECT_FALSE(acl.load("user a (+get ~x)\n", &err, &notes));
  EXPECT_FALSE(acl.load("user a <nothere\n", &err, &notes));
}

}  // namespace
}  // namespace fanout
