// Access control on every backend: --requirepass with Redis's replies (NOAUTH, WRONGPASS, HELLO
// AUTH, RESET signing out), rate-limited guessing, protected mode, and ACL users whose rights
// to publish and to subscribe are granted separately, by channel glob.
#include <unistd.h>

#include <cstdio>

#include "core/sha256.h"
#include "tests/net/server_fixture.h"
#include "tests/net/subscribers.h"

namespace fanout::test {
namespace {

class AuthTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    cfg.requirepass = "sekret";
  }
};

TEST_P(AuthTest, CommandsNeedAuthAndGetRedisErrors) {
  start();
  auto c = client();
  EXPECT_EQ(c->call({"PING"}).str, "NOAUTH Authentication required.");
  EXPECT_EQ(c->call({"SUBSCRIBE", "x"}).str, "NOAUTH Authentication required.");
  EXPECT_EQ(c->call({"PUBLISH", "x", "y"}).str, "NOAUTH Authentication required.");
  EXPECT_EQ(c->call({"HELLO", "3"}).str,
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
            "AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
            "protocol version at the same time");
  RespValue bad = c->call({"AUTH", "wrong"});
  EXPECT_EQ(bad.type, Type::kError);
  EXPECT_EQ(bad.str, "WRONGPASS invalid username-password pair or user is disabled.");
  EXPECT_EQ(c->call({"AUTH", "sekret"}).str, "OK");
  EXPECT_EQ(c->call({"PING"}).str, "PONG");
  subscribe(*c, "SUBSCRIBE", "x");
  auto pub = client();
  EXPECT_EQ(pub->call({"AUTH", "default", "sekret"}).str, "OK");
  EXPECT_EQ(pub->call({"PUBLISH", "x", "hi"}).integer, 1);
  RespValue m;
  ASSERT_TRUE(c->read(&m));
  EXPECT_EQ(m.elements[2].str, "hi");
  // RESET signs the client out, as in Redis.
  EXPECT_EQ(pub->call({"RESET"}).str, "RESET");
  EXPECT_EQ(pub->call({"PING"}).str, "NOAUTH Authentication required.");
  EXPECT_EQ(pub->call({"AUTH", "nobody", "sekret"}).str,
            "WRONGPASS invalid username-password pair or user is disabled.");
}

TEST_P(AuthTest, HelloAuthAuthenticatesAndSwitchesProtocol) {
  start();
  auto c = client();
  RespValue hello = c->call({"HELLO", "3", "AUTH", "default", "sekret", "SETNAME", "me"});
  EXPECT_EQ(hello.type, Type::kMap);
  EXPECT_EQ(c->call({"PING"}).str, "PONG");
  EXPECT_EQ(c->call({"CLIENT", "GETNAME"}).str, "me");
  auto d = client();
  EXPECT_EQ(d->call({"HELLO", "3", "AUTH", "default", "nope"}).str,
            "WRONGPASS invalid username-password pair or user is disabled.");
}

TEST_P(AuthTest, RepeatedFailuresCloseTheConnection) {
  start();
  auto c = client();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c->call({"AUTH", "guess" + std::to_string(i)}).type, Type::kError) << i;
  }
  EXPECT_TRUE(c->wait_closed(3000));
  auto admin = client();
  EXPECT_EQ(admin->call({"AUTH", "sekret"}).str, "OK");
  std::string in = admin->call({"INFO", "everything"}).str;
  EXPECT_EQ(info_field(in, "auth_failures"), 3);
  EXPECT_EQ(info_field(in, "auth_failure_closes"), 1);
}

TEST_P(AuthTest, ProtectedModeRefusesANetworkBindWithoutAPassword) {
  cfg.requirepass.clear();
  cfg.bind = "0.0.0.0";
  Broker b(cfg);
  std::string err;
  EXPECT_FALSE(b.start(&err));
  EXPECT_NE(err.find("refusing to listen on 0.0.0.0 without authentication"), std::string::npos) << err;
}

class AclTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    cfg.acl_rules =
        "user default off\n"
        "user pub on >pubpw resetchannels &news.* +publish +ping\n"
        "user sub on >subpw &news.* &alerts +@pubsub -publish -spublish -pubsub +acl|whoami +client|info\n"
        "user admin on >adminpw allchannels +@all\n"
        "user gone off >gonepw +@all allchannels\n";
  }
  std::unique_ptr<TestClient> as(std::string_view user, std::string_view pass) {
    auto c = client();
    EXPECT_EQ(c->call({"AUTH", user, pass}).str, "OK") << user;
    return c;
  }
};

constexpr std::string_view kNoChannel =
    "NOPERM this user has no permissions to access one of the channels used as arguments";

TEST_P(AclTest, PublishersAndSubscribersHaveSeparateRightsByChannelGlob) {
  start();
  auto anon = client();
  EXPECT_EQ(anon->call({"PING"}).str, "NOAUTH Authentication required.");  // default is off
  auto pub = as("pub", "pubpw");
  auto sub = as("sub", "subpw");
  auto admin = as("admin", "adminpw");
  // The publisher may publish to news.*, and nothing else.
  EXPECT_EQ(pub->call({"PUBLISH", "alerts", "x"}).str, kNoChannel);
  EXPECT_EQ(pub->call({"SUBSCRIBE", "news.a"}).str,
            "NOPERM this user has no permissions to run the 'subscribe' command");
  EXPECT_EQ(pub->call({"INFO"}).str, "NOPERM this user has no permissions to run the 'info' command");
  EXPECT_EQ(pub->call({"PUBSUB", "CHANNELS"}).str,
            "NOPERM this user has no permissions to run the 'pubsub|channels' command");
  // The subscriber may subscribe to news.* and alerts; a pattern must be granted as written;
  // one channel out of bounds refuses the whole command.
  EXPECT_EQ(sub->call({"SUBSCRIBE", "news.a", "secret"}).str, kNoChannel);
  EXPECT_EQ(sub->call({"PSUBSCRIBE", "news.a*"}).str, kNoChannel);
  EXPECT_EQ(sub->call({"PUBLISH", "news.a", "x"}).str,
            "NOPERM this user has no permissions to run the 'publish' command");
  EXPECT_EQ(sub->call({"ACL", "WHOAMI"}).str, "sub");
  EXPECT_NE(sub->call({"CLIENT", "INFO"}).str.find(" user=sub "), std::string::npos);
  subscribe(*sub, "SUBSCRIBE", "news.a");
  subscribe(*sub, "PSUBSCRIBE", "news.*");
  EXPECT_EQ(pub->call({"PUBLISH", "news.a", "hello"}).integer, 2);
  RespValue m;
  ASSERT_TRUE(sub->read(&m));
  EXPECT_EQ(m.elements.back().str, "hello");
  ASSERT_TRUE(sub->read(&m));
  EXPECT_EQ(m.elements.back().str, "hello");
  // Everything for the admin, who sees the refusals counted.
  std::string in = admin->call({"INFO", "everything"}).str;
  EXPECT_EQ(info_field(in, "acl_denied"), 7);
  EXPECT_EQ(admin->call({"ACL", "WHOAMI"}).str, "admin");
}

TEST_P(AclTest, SigningInAndOutFollowsRedis) {
  start();
  auto c = client();
  EXPECT_EQ(c->call({"AUTH", "gone", "gonepw"}).str,
            "WRONGPASS invalid username-password pair or user is disabled.");  // off
  EXPECT_EQ(c->call({"AUTH", "pub", "subpw"}).str,
            "WRONGPASS invalid username-password pair or user is disabled.");  // another's password
  RespValue hello = c->call({"HELLO", "3", "AUTH", "sub", "subpw"});
  ASSERT_EQ(hello.type, Type::kMap);
  EXPECT_EQ(c->call({"ACL", "WHOAMI"}).str, "sub");
  EXPECT_EQ(c->call({"AUTH", "pub", "pubpw"}).str, "OK");  // switching users
  EXPECT_EQ(c->call({"ACL", "WHOAMI"}).str,
            "NOPERM this user has no permissions to run the 'acl|whoami' command");
  EXPECT_EQ(c->call({"RESET"}).str, "RESET");
  EXPECT_EQ(c->call({"PING"}).str, "NOAUTH Authentication required.");
  // AUTH with one argument names the default user, which is off here.
  EXPECT_EQ(c->call({"AUTH", "x"}).str, "WRONGPASS invalid username-password pair or user is disabled.");
}

TEST_P(AclTest, FileWithHashedPasswordsAndBadFilesAreReported) {
  char path[] = "/tmp/fanout-acl-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string text = "user default on #" + to_hex(sha256("hashed")) + " allchannels +@all\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  cfg.acl_rules.clear();
  cfg.aclfile = path;
  start();
  auto c = client();
  EXPECT_EQ(c->call({"PING"}).str, "NOAUTH Authentication required.");
  EXPECT_EQ(c->call({"AUTH", "hashed"}).str, "OK");
  EXPECT_EQ(c->call({"PING"}).str, "PONG");
  stop();
  // A bad rule names its line; --requirepass cannot also set the file's default user.
  cfg.acl_rules = "user ok on\nuser bad on +@nosuch\n";
  Broker b1(cfg);
  std::string err;
  EXPECT_FALSE(b1.start(&err));
  EXPECT_EQ(err, "acl_rules:2: Error in applying operation '+@nosuch': Unknown command or category name in ACL. "
                 "WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
  cfg.acl_rules.clear();
  cfg.requirepass = "x";
  Broker b2(cfg);
  EXPECT_FALSE(b2.start(&err));
  EXPECT_NE(err.find("--requirepass sets the default user's password"), std::string::npos) << err;
  unlink(path);
  cfg.aclfile = "/nonexistent/acl";
  Broker b3(cfg);
  EXPECT_FALSE(b3.start(&err));
  EXPECT_EQ(err, "--aclfile: Error loading ACLs, opening file '/nonexistent/acl': No such file or directory");
}

INSTANTIATE_TEST_SUITE_P(Backends, AclTest, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Backends, AuthTest, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fanout::test
