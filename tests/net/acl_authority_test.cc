// AclAuthority: the rules in force change only through edits made one at a time, each publishing
// a newer snapshot; ACL LOAD's reload rebuilds them from the file, acl_rules and --requirepass;
// CONFIG SET requirepass's edit survives a reload; ACL SAVE's file loads back the same rules.
#include "net/acl_authority.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "net/shard_core.h"

namespace fanout {
namespace {

class AclAuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/fanout-acl-authority-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/users.acl";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  void write(const std::string& text) { std::ofstream(path_, std::ios::trunc) << text; }
  std::unique_ptr<AclAuthority> make(AclSources src) {
    Acl acl(server_acl_catalog());
    EXPECT_EQ(build_acl(server_acl_catalog(), src, nullptr, &acl), "");
    return std::make_unique<AclAuthority>(src, std::move(acl));
  }
  std::string dir_, path_;
};

TEST_F(AclAuthorityTest, EditsPublishNewerSnapshotsOneAtATime) {
  auto auth = make({});
  auto first = auth->current();
  const uint64_t v0 = auth->version();
  AclAuthority::Change bad = auth->change([](AclSources&, Acl& a, int64_t*) { return a.set_user("u", std::vector<std::string>{"+nosuch"}); });
  EXPECT_EQ(bad.error, "Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL");
  EXPECT_EQ(auth->current(), first);  // a failed edit publishes nothing
  EXPECT_EQ(auth->version(), v0);
  // Two threads editing at once: every edit lands, each on the one before, versions increasing.
  constexpr int kEach = 200;
  auto edits = [&](char prefix) {
    uint64_t last = 0;
    for (int i = 0; i < kEach; ++i) {
      AclAuthority::Change c = auth->change([&](AclSources&, Acl& a, int64_t*) {
        return a.set_user(std::string(1, prefix) + std::to_string(i), std::vector<std::string>{"on"});
      });
      EXPECT_GT(c.version, last);
      last = c.version;
    }
  };
  std::thread a(edits, 'a'), b(edits, 'b');
  a.join();
  b.join();
  EXPECT_EQ(auth->current()->users().size(), 1u + 2 * kEach);
  EXPECT_EQ(auth->version(), v0 + 2 * kEach);
  EXPECT_EQ(first->users().size(), 1u);  // a snapshot never changes
}

TEST_F(AclAuthorityTest, ReloadRebuildsFromTheSourcesAndKeepsRequirepass) {
  write("user pub on >p1 +publish\n");
  auto auth = make({path_, "user extra on nopass\n", "sekret"});
  EXPECT_TRUE(auth->current()->find("default")->check_password("sekret"));
  EXPECT_NE(auth->current()->find("extra"), nullptr);
  // CONFIG SET requirepass, then a reload of a changed file: the new password stays.
  ASSERT_EQ(auth->change(AclAuthority::set_requirepass("changed")).error, "");
  write("user pub on >p2 +publish\n");
  AclAuthority::Change c = auth->change(AclAuthority::reload());
  ASSERT_EQ(c.error, "");
  EXPECT_EQ(c.count, 3);  // default, pub, extra
  const Acl& now = *auth->current();
  EXPECT_TRUE(now.find("default")->check_password("changed"));
  EXPECT_TRUE(now.find("pub")->check_password("p2"));
  EXPECT_NE(now.find("extra"), nullptr);
  // A file that sets the default user otherwise cannot be combined with requirepass.
  write("user default on >other ~* &* +@all\n");
  EXPECT_EQ(auth->change(AclAuthority::reload()).error,
            "--requirepass sets the default user's password, but the ACL file configures the default user: set it "
            "there");
  ASSERT_EQ(auth->change(AclAuthority::set_requirepass("")).error, "");
  ASSERT_EQ(auth->change(AclAuthority::reload()).error, "");
  EXPECT_TRUE(auth->current()->find("default")->check_password("other"));
}

TEST_F(AclAuthorityTest, SavedRulesLoadBackAndRequirepassAgreesWithThem) {
  write("");
  auto auth = make({path_, "", "sekret"});
  ASSERT_EQ(auth->change([](AclSources&, Acl& a, int64_t*) {
    return a.set_user("u", std::vector<std::string>{"on", ">pw", "&n*", "+@pubsub", "~k"});
  }).error, "");
  const std::string before = auth->current()->file_text();
  ASSERT_EQ(auth->save(), "");
  // The saved file has the default user with requirepass's password: that agrees, it loads.
  ASSERT_EQ(auth->change(AclAuthority::reload()).error, "");
  EXPECT_EQ(auth->current()->file_text(), before);
  auto moved = make({path_, "", ""});
  EXPECT_EQ(moved->current()->file_text(), before);
}

}  // namespace
}  // namespace fanout
