#include "core/acl.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

// A small catalog in Redis's shape: a container ("pubsub") before its subcommands, and a command
// this server does not run ("get").
constexpr AclCommandInfo kCatalog[] = {
    {"publish", kAclPubsub | kAclFast, true},         {"subscribe", kAclPubsub | kAclSlow, true},
    {"psubscribe", kAclPubsub | kAclSlow, true},      {"unsubscribe", kAclPubsub | kAclSlow, true},
    {"pubsub", kAclSlow, true},                       {"pubsub|channels", kAclPubsub | kAclSlow, true},
    {"pubsub|numsub", kAclPubsub | kAclSlow, true},   {"ping", kAclFast | kAclConnection, true},
    {"info", kAclSlow | kAclDangerous, true},         {"get", kAclRead | kAclString | kAclFast, false},
    {"select", kAclFast | kAclConnection, true},
};

class AclTest : public ::testing::Test {
 protected:
  Acl acl{kCatalog};
  size_t cmd(std::string_view name) { return static_cast<size_t>(acl.command_index(name)); }
  std::string set(std::string_view user, std::vector<std::string_view> rules) { return acl.set_user(user, rules); }
  std::string describe(std::string_view user) { return acl.describe(*acl.find(user)); }
};

TEST_F(AclTest, DefaultUserIsRedisDefault) {
  const AclUser* d = acl.initial_user();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->name, "default");
  EXPECT_TRUE(d->check_password("anything"));
  EXPECT_TRUE(d->can_run(cmd("info")));
  EXPECT_TRUE(d->can_access("any", false));
  EXPECT_TRUE(d->all_rights);
  EXPECT_EQ(describe("default"), "on nopass ~* &* +@all");
}

TEST_F(AclTest, FileSeparatesPublishersFromSubscribersByChannelGlob) {
  const std::string hash = to_hex(sha256("pw2"));
  ASSERT_EQ(acl.load_file("# publishers and subscribers\n"
                          "user default off\n"
                          "\n"
                          "user pub on >pw1 resetchannels &news.* +publish +ping\n"
                          "user sub on #" + hash + " &news.* &alerts +@pubsub -publish -pubsub ~*\n",
                          "users.acl"),
            "");
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
  // Described as Redis's ACL LIST describes them.
  EXPECT_EQ(describe("default"), "off resetchannels -@all");
  EXPECT_EQ(describe("pub"), "on #" + to_hex(sha256("pw1")) + " resetchannels &news.* -@all +publish +ping");
  EXPECT_EQ(describe("sub"), "on #" + hash + " ~* resetchannels &news.* &alerts -@all +subscribe +psubscribe "
                             "+unsubscribe");
}

TEST_F(AclTest, RulesApplyInOrder) {
  ASSERT_EQ(set("u", {"on", "nopass", "+@all", "-@dangerous", "-pubsub", "+pubsub|numsub"}), "");
  const AclUser* u = acl.find("u");
  EXPECT_TRUE(u->enabled);
  EXPECT_TRUE(u->check_password(""));
  EXPECT_FALSE(u->can_run(cmd("info")));
  EXPECT_FALSE(u->can_run(cmd("pubsub|channels")));
  EXPECT_TRUE(u->can_run(cmd("pubsub|numsub")));
  EXPECT_TRUE(u->can_run(cmd("publish")));
  EXPECT_FALSE(u->can_access("x", false));  // a new user has no channels
  EXPECT_FALSE(u->all_rights);
  // Later rules on the same user build on what it has; "reset" starts over.
  ASSERT_EQ(set("u", {">secret", "allchannels"}), "");
  EXPECT_FALSE(u->check_password("other"));
  EXPECT_TRUE(u->check_password("secret"));
  EXPECT_TRUE(u->can_access("x", false));
  ASSERT_EQ(set("u", {"<secret", "resetchannels", "&a"}), "");
  EXPECT_FALSE(u->check_password("secret"));
  EXPECT_TRUE(u->can_access("a", false));
  EXPECT_FALSE(u->can_access("b", false));
  ASSERT_EQ(set("u", {"reset"}), "");
  EXPECT_FALSE(u->enabled);
  EXPECT_FALSE(u->can_run(cmd("publish")));
  EXPECT_FALSE(u->can_access("a", false));
  EXPECT_EQ(describe("u"), "off sanitize-payload resetchannels -@all");
  // A new user: off, no password, no channels, no commands (Redis 7.0's acl-pubsub-default).
  ASSERT_EQ(set("new", {}), "");
  EXPECT_EQ(describe("new"), "off resetchannels -@all");
}

TEST_F(AclTest, AllRightsCoversOnlyWhatTheServerRuns) {
  // "get" is not served: denying it leaves every right this server checks.
  ASSERT_EQ(set("u", {"on", "+@all", "-get", "&*"}), "");
  EXPECT_TRUE(acl.find("u")->all_rights);
  EXPECT_EQ(describe("u"), "on &* +@all -@read");  // the only @read command here
  ASSERT_EQ(set("u", {"-select"}), "");
  EXPECT_FALSE(acl.find("u")->all_rights);
}

TEST_F(AclTest, ErrorsAreRedisErrorsAndChangeNothing) {
  ASSERT_EQ(set("u", {"on", "&a"}), "");
  const std::string before = describe("u");
  struct Case {
    std::string_view rule, error;
  } cases[] = {
      {"+nosuch", "Unknown command or category name in ACL"},
      {"+@nosuch", "Unknown command or category name in ACL"},
      {"-select|0", "Unknown command or category name in ACL"},
      {"+pubsub|nosuch", "Unknown command or category name in ACL"},
      {"bogus", "Syntax error"},
      {"+pubsub|", "Syntax error"},
      {"%X~k", "Syntax error"},
      {"%~k", "Syntax error"},
      {"<nothere", "The password you are trying to remove from the user does not exist"},
      {"#abc", "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"},
      {"+pubsub|channels|x", "Allowing first-arg of a subcommand is not supported"},
      {"(+get ~x)", "Selectors are not supported by Fanout"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(set("u", {"off", c.rule}), "Error in ACL SETUSER modifier '" + std::string(c.rule) + "': " +
                                             std::string(c.error))
        << c.rule;
  }
  EXPECT_EQ(set("u", {"allchannels", "&x"}),
            "Error in ACL SETUSER modifier '&x': Adding a pattern after the * pattern (or the 'allchannels' flag) "
            "is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels");
  EXPECT_EQ(set("u", {"allkeys", "~x"}),
            "Error in ACL SETUSER modifier '~x': Adding a pattern after the * pattern (or the 'allkeys' flag) is "
            "not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns");
  EXPECT_EQ(set("u", {"(+get", "~x"}), "Unmatched parenthesis in acl selector starting at '(+get'.");
  EXPECT_EQ(set("u", {"(+get", "~x)"}), "Error in ACL SETUSER modifier '(+get ~x)': Selectors are not supported by Fanout");
  EXPECT_EQ(describe("u"), before);  // every failed SETUSER left the user as it was
  EXPECT_EQ(set("nobody", {"+nosuch"}), "Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL");
  EXPECT_EQ(acl.find("nobody"), nullptr);
}

TEST_F(AclTest, KeyPatternsAreKeptAndDescribedNeverChecked) {
  ASSERT_EQ(set("k", {"on", "%R~a", "%W~b", "~c", "%RW~d", "%W~a", "&ch", "+get", "skip-sanitize-payload"}), "");
  EXPECT_EQ(describe("k"), "on skip-sanitize-payload ~a %W~b ~c ~d resetchannels &ch -@all +@read");
  EXPECT_EQ(Acl::describe_keys(*acl.find("k")), "~a %W~b ~c ~d");
  EXPECT_EQ(Acl::describe_channels(*acl.find("k")), "&ch");
  ASSERT_EQ(set("k", {"allkeys"}), "");
  EXPECT_EQ(Acl::describe_keys(*acl.find("k")), "~*");
  ASSERT_EQ(set("k", {"resetkeys", "%R~"}), "");
  EXPECT_EQ(Acl::describe_keys(*acl.find("k")), "%R~");
}

TEST_F(AclTest, CommandRulesAreDescribedAsRedisFindsThem) {
  ASSERT_EQ(set("a", {"+@all", "-@dangerous"}), "");
  EXPECT_EQ(acl.describe_commands(*acl.find("a")), "+@all -@dangerous");
  ASSERT_EQ(set("b", {"+pubsub"}), "");
  EXPECT_EQ(acl.describe_commands(*acl.find("b")), "-@all +pubsub");
  // The best-fitting category, then single commands in catalog order, then first arguments.
  ASSERT_EQ(set("c", {"+@pubsub", "-pubsub|numsub", "+select|0", "+select|1", "+select|0"}), "");
  EXPECT_EQ(acl.describe_commands(*acl.find("c")), "-@all +@pubsub -pubsub|numsub +select|0 +select|1");
  ASSERT_EQ(set("d", {"+@all", "-publish", "-pubsub|channels"}), "");
  EXPECT_EQ(acl.describe_commands(*acl.find("d")), "+@all -publish -pubsub|channels");
}

TEST_F(AclTest, FirstArgumentsAllowOneUseOfADeniedCommand) {
  ASSERT_EQ(set("u", {"+select|0"}), "");
  const AclUser* u = acl.find("u");
  EXPECT_FALSE(u->can_run(cmd("select")));
  EXPECT_TRUE(u->can_run(cmd("select"), "0"));
  EXPECT_FALSE(u->can_run(cmd("select"), "1"));
  ASSERT_EQ(set("u", {"-select"}), "");  // a rule on the command drops them
  EXPECT_FALSE(u->can_run(cmd("select"), "0"));
  ASSERT_EQ(set("u", {"+SELECT|A", "-@all"}), "");  // and so does -@all
  EXPECT_FALSE(u->can_run(cmd("select"), "a"));
}

TEST_F(AclTest, LoadReportsEveryProblemAsRedisAndKeepsTheOldRules) {
  ASSERT_EQ(set("keep", {"on"}), "");
  EXPECT_EQ(acl.load_file("user a on >apw &news* +@all +@nosuch\n"
                          "user b on bogus <x\n"
                          "user a off\n"
                          "users x\n"
                          "user\n"
                          "user c\ton\n"
                          "user d on +get|x|y\n",
                          "/etc/f.acl"),
            "/etc/f.acl:1: Error in applying operation '+@nosuch': Unknown command or category name in ACL. "
            "/etc/f.acl:2: Syntax error. WARNING: Duplicate user 'a' found on line 3. "
            "/etc/f.acl:4 should start with user keyword followed by the username. "
            "/etc/f.acl:5 should start with user keyword followed by the username. "
            "'/etc/f.acl:6: username 'c\ton' contains invalid characters. "
            "/etc/f.acl:7: Error in applying operation '+get|x|y': Unknown command or category name in ACL. "
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
  EXPECT_NE(acl.find("keep"), nullptr);
  EXPECT_EQ(acl.find("a"), nullptr);
  // A good file replaces every user; the default user comes back as Redis's if it has none.
  ASSERT_EQ(acl.load_file("user a on nopass &* +@all\r\n  user b  on\n", "f"), "");
  EXPECT_EQ(acl.find("keep"), nullptr);
  EXPECT_EQ(describe("a"), "on nopass &* +@all");
  EXPECT_EQ(describe("b"), "on resetchannels -@all");  // runs of spaces are empty rules
  EXPECT_EQ(describe("default"), "on nopass ~* &* +@all");
  ASSERT_EQ(acl.load_file("user default on\n", "f"), "");
  EXPECT_EQ(describe("default"), "on resetchannels -@all");  // from nothing, not from Redis's default
  EXPECT_EQ(acl.initial_user(), nullptr);
}

TEST_F(AclTest, SavedFileLoadsBackTheSameRules) {
  ASSERT_EQ(set("u", {"on", ">pw", "~k*", "%R~r", "&news.*", "+@pubsub", "-publish", "+select|0"}), "");
  ASSERT_EQ(set("v", {"on", "+@all", "-@dangerous", "allchannels", "nopass"}), "");
  const std::string text = acl.file_text();
  EXPECT_EQ(text.substr(0, text.find('\n')), "user default on nopass ~* &* +@all");
  Acl again(kCatalog);
  ASSERT_EQ(again.load_file(text, "saved"), "");
  EXPECT_EQ(again.file_text(), text);
  EXPECT_TRUE(again.find("u")->check_password("pw"));
}

TEST_F(AclTest, IncarnationsTellARecreatedUserApart) {
  ASSERT_EQ(set("u", {"on"}), "");
  const uint64_t first = acl.find("u")->incarnation;
  ASSERT_EQ(set("u", {"off"}), "");
  EXPECT_EQ(acl.find("u")->incarnation, first);  // changed, still the same user
  EXPECT_TRUE(acl.del_user("u"));
  EXPECT_FALSE(acl.del_user("u"));
  ASSERT_EQ(set("u", {"on"}), "");
  EXPECT_NE(acl.find("u")->incarnation, first);
  // A loaded file keeps the incarnations of the users it still names.
  Acl loaded(kCatalog);
  ASSERT_EQ(loaded.load_file("user u on\nuser w on\n", "f"), "");
  loaded.keep_incarnations(acl);
  EXPECT_EQ(loaded.find("u")->incarnation, acl.find("u")->incarnation);
  EXPECT_EQ(loaded.find("default")->incarnation, acl.find("default")->incarnation);
  EXPECT_NE(loaded.find("w")->incarnation, loaded.find("u")->incarnation);
  EXPECT_NE(loaded.find("w")->incarnation, loaded.find("default")->incarnation);
}

TEST_F(AclTest, ChannelsShrinkAsRedisDecidesToCheckSubscribers) {
  ASSERT_EQ(set("u", {"resetchannels", "&a*", "&b*"}), "");
  AclUser before = *acl.find("u");
  ASSERT_EQ(set("u", {"&c*"}), "");
  EXPECT_FALSE(acl.find("u")->channels_shrunk_from(before));  // a superset
  ASSERT_EQ(set("u", {"resetchannels", "&b*"}), "");
  EXPECT_TRUE(acl.find("u")->channels_shrunk_from(before));
  ASSERT_EQ(set("u", {"allchannels"}), "");
  EXPECT_FALSE(acl.find("u")->channels_shrunk_from(before));
  before = *acl.find("u");
  ASSERT_EQ(set("u", {"resetchannels", "&*x"}), "");
  EXPECT_TRUE(acl.find("u")->channels_shrunk_from(before));
}

TEST_F(AclTest, RequirepassSetsTheDefaultUsersPassword) {
  acl.set_default_password("sekret");
  EXPECT_EQ(acl.initial_user(), nullptr);
  EXPECT_TRUE(acl.find("default")->check_password("sekret"));
  EXPECT_EQ(describe("default"), "on #" + to_hex(sha256("sekret")) + " ~* &* +@all");
  acl.set_default_password("");
  EXPECT_NE(acl.initial_user(), nullptr);
}

TEST(AclCategoryTest, RedisOrderAndNames) {
  ASSERT_EQ(acl_category_names().size(), 21u);
  EXPECT_EQ(acl_category_names()[0], "keyspace");
  EXPECT_EQ(acl_category_names()[20], "scripting");
  EXPECT_EQ(acl_category_bit("PubSub"), kAclPubsub);
  EXPECT_EQ(acl_category_bit("connection"), kAclConnection);
  EXPECT_EQ(acl_category_bit("all"), 0u);
}

}  // namespace
}  // namespace fanout
