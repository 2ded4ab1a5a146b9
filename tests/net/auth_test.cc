// Access control on every backend: --requirepass with Redis's replies (NOAUTH, WRONGPASS, HELLO
// AUTH, RESET signing out), rate-limited guessing, and protected mode.
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

INSTANTIATE_TEST_SUITE_P(Backends, AuthTest, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fanout::test
