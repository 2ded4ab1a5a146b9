// The ACL commands on a sharded server, both backends: a change made on one shard is in force on
// every shard before its reply; clients of a deleted user, and subscribers that lost a channel,
// are closed on every shard (as Redis 7.0 closes them); ACL LOAD and SAVE use the ACL file; ACL
// LOG shows every shard's denials; changes from two shards at once serialise; a reload asked from
// outside the shards (SIGHUP's Broker::reload_acl) works as ACL LOAD. Replies are compared with
// redis-server byte for byte in tests/compat.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tests/net/server_fixture.h"
#include "tests/net/subscribers.h"

namespace fanout::test {
namespace {

constexpr std::string_view kWrongPass = "WRONGPASS invalid username-password pair or user is disabled.";

class AclCommandsTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    cfg.shards = 3;
    char dir[] = "/tmp/fanout-acl-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    cfg.aclfile = dir_ + "/users.acl";
    write_file("user default on nopass ~* &* +@all\n"
               "user pub on >pubpw resetchannels &news.* +publish\n");
  }
  void TearDown() override {
    ServerTest::TearDown();
    for (const std::string& f : files()) unlink((dir_ + "/" + f).c_str());
    rmdir(dir_.c_str());
  }
  void write_file(const std::string& text) {
    std::ofstream(cfg.aclfile, std::ios::trunc) << text;
  }
  std::string read_file() {
    std::ifstream in(cfg.aclfile);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::vector<std::string> files() {
    std::vector<std::string> out;
    if (DIR* d = opendir(dir_.c_str())) {
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] != '.') out.emplace_back(e->d_name);
      }
      closedir(d);
    }
    return out;
  }
  // A client that the kernel placed on `shard` (CLIENT INFO says which), signed in as `user`.
  std::unique_ptr<TestClient> on_shard(int shard, std::string_view user = {}, std::string_view pass = {}) {
    for (int attempt = 0; attempt < 500; ++attempt) {
      auto c = client();
      std::string info = c->call({"CLIENT", "INFO"}).str;
      if (info.find(" shard=" + std::to_string(shard) + " ") == std::string::npos) continue;
      if (!user.empty()) {
        EXPECT_EQ(c->call({"AUTH", user, pass}).str, "OK") << user;
      }
      return c;
    }
    ADD_FAILURE() << "no connection landed on shard " << shard;
    return client();
  }
  std::string dir_;
};

TEST_P(AclCommandsTest, AChangeIsInForceOnEveryShardBeforeItsReply) {
  start();
  auto admin = on_shard(0);
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "u", "on", ">pw1", "+@all", "allchannels"}).str, "OK");
  for (int s = 0; s < cfg.shards; ++s) on_shard(s, "u", "pw1");
  // The reply comes once every shard has the new rules: a client of any shard sees them at once.
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "u", "resetpass", ">pw2"}).str, "OK");
  for (int s = 0; s < cfg.shards; ++s) {
    auto c = on_shard(s);
    EXPECT_EQ(c->call({"AUTH", "u", "pw1"}).str, kWrongPass) << "shard " << s;
    EXPECT_EQ(c->call({"AUTH", "u", "pw2"}).str, "OK") << "shard " << s;
    EXPECT_EQ(c->call({"ACL", "WHOAMI"}).str, "u");
    EXPECT_EQ(c->call({"ACL", "GETUSER", "u"}).elements.size(), 12u);
  }
  // A command pipelined behind a change waits for its reply.
  admin->send_raw(encode_command({"ACL", "SETUSER", "v", "on", "nopass"}) + encode_command({"ACL", "USERS"}));
  RespValue ok, users;
  ASSERT_TRUE(admin->read(&ok));
  ASSERT_TRUE(admin->read(&users));
  EXPECT_EQ(ok.str, "OK");
  ASSERT_EQ(users.elements.size(), 4u);
  EXPECT_EQ(users.elements[3].str, "v");
}

TEST_P(AclCommandsTest, DeluserClosesTheUsersClientsOnEveryShard) {
  start();
  auto admin = on_shard(0);
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "u", "on", ">pw", "+@all", "allchannels"}).str, "OK");
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "keep", "on", ">pw", "+@all", "allchannels"}).str, "OK");
  std::vector<std::unique_ptr<TestClient>> gone, kept;
  for (int s = 0; s < cfg.shards; ++s) {
    gone.push_back(on_shard(s, "u", "pw"));
    gone.push_back(on_shard(s, "u", "pw"));
    subscribe(*gone.back(), "SUBSCRIBE", "x");
    kept.push_back(on_shard(s, "keep", "pw"));
  }
  EXPECT_EQ(admin->call({"ACL", "DELUSER", "u", "nosuch"}).integer, 1);
  for (auto& c : gone) EXPECT_TRUE(c->wait_closed());
  for (auto& c : kept) EXPECT_EQ(c->call({"PING"}).str, "PONG");
  // A client deleting its own user gets its reply, then is closed.
  auto self = on_shard(cfg.shards - 1, "keep", "pw");
  EXPECT_EQ(self->call({"ACL", "DELUSER", "keep"}).integer, 1);
  EXPECT_TRUE(self->wait_closed());
  for (auto& c : kept) EXPECT_TRUE(c->wait_closed());
  EXPECT_EQ(admin->call({"ACL", "USERS"}).elements.size(), 2u);
}

TEST_P(AclCommandsTest, SetuserClosesTheSubscribersThatLostAChannel) {
  start();
  auto admin = on_shard(0);
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "s", "on", "nopass", "+@all", "resetchannels", "&a*", "&b*"}).str, "OK");
  struct PerShard {
    std::unique_ptr<TestClient> sub_a, psub_b, ssub_b1, plain;
  };
  std::vector<PerShard> shards;
  for (int s = 0; s < cfg.shards; ++s) {
    PerShard p{on_shard(s, "s", "x"), on_shard(s, "s", "x"), on_shard(s, "s", "x"), on_shard(s, "s", "x")};
    subscribe(*p.sub_a, "SUBSCRIBE", "a1");
    subscribe(*p.psub_b, "PSUBSCRIBE", "b*");
    subscribe(*p.ssub_b1, "SSUBSCRIBE", "b1");
    shards.push_back(std::move(p));
  }
  auto ping_all = [&](std::initializer_list<std::unique_ptr<TestClient> PerShard::*> which) {
    for (auto& p : shards) {
      for (auto m : which) {
        RespValue v = (p.*m)->call({"PING"});
        EXPECT_TRUE(v.str == "PONG" || (v.type == Type::kArray && v.elements[0].str == "pong")) << v.str;
      }
    }
  };
  // More channels: nobody can have lost one.
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "s", "&c*"}).str, "OK");
  ping_all({&PerShard::sub_a, &PerShard::psub_b, &PerShard::ssub_b1, &PerShard::plain});
  // a* goes: the subscriber to a1 is closed on every shard; the others stay.
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "s", "resetchannels", "&b*", "&c*"}).str, "OK");
  for (auto& p : shards) EXPECT_TRUE(p.sub_a->wait_closed());
  ping_all({&PerShard::psub_b, &PerShard::ssub_b1, &PerShard::plain});
  // Only b1 left: the pattern b* (a pattern must be granted as written) is closed; b1 stays.
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "s", "resetchannels", "&b1"}).str, "OK");
  for (auto& p : shards) EXPECT_TRUE(p.psub_b->wait_closed());
  ping_all({&PerShard::ssub_b1, &PerShard::plain});
  // Turning the user off, or changing its password, closes nobody (as in Redis).
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "s", "off", "resetpass"}).str, "OK");
  ping_all({&PerShard::ssub_b1, &PerShard::plain});
}

TEST_P(AclCommandsTest, LoadReplacesTheRulesAndKeepsTheClientsItStillAllows) {
  write_file("user default on nopass ~* &* +@all\n"
             "user a on >apw allchannels +@all\n"
             "user b on >bpw allchannels +@all\n");
  start();
  auto admin = on_shard(0);
  std::vector<std::unique_ptr<TestClient>> a, b, default_sub, default_other;
  for (int s = 0; s < cfg.shards; ++s) {
    a.push_back(on_shard(s, "a", "apw"));
    b.push_back(on_shard(s, "b", "bpw"));
    default_sub.push_back(on_shard(s));
    subscribe(*default_sub.back(), "SUBSCRIBE", "old.x");
    default_other.push_back(on_shard(s));
    subscribe(*default_other.back(), "SUBSCRIBE", "new.x");
  }
  // A broken file changes nothing, and says why as Redis does.
  write_file("user a on >apw2 +@nosuch\nuser c bogus\n");
  const std::string before = admin->call({"ACL", "LIST"}).elements[1].str;
  EXPECT_EQ(admin->call({"ACL", "LOAD"}).str,
            "ERR " + cfg.aclfile + ":1: Error in applying operation '+@nosuch': Unknown command or category name in ACL. " +
                cfg.aclfile + ":2: Syntax error. WARNING: ACL errors detected, no change to the previously active "
                              "ACL rules was performed");
  EXPECT_EQ(admin->call({"ACL", "LIST"}).elements[1].str, before);
  // b goes, a changes its password, the default user keeps only new.*.
  write_file("user default on nopass ~* resetchannels &new.* +@all\n"
             "user a on >apw2 allchannels +@all\n");
  EXPECT_EQ(admin->call({"ACL", "LOAD"}).str, "OK");
  for (int s = 0; s < cfg.shards; ++s) {
    EXPECT_TRUE(b[s]->wait_closed()) << "shard " << s;
    EXPECT_TRUE(default_sub[s]->wait_closed()) << "shard " << s;
    EXPECT_EQ(a[s]->call({"ACL", "WHOAMI"}).str, "a");  // still signed in: its user is still there
    EXPECT_EQ(default_other[s]->call({"PING"}).elements[0].str, "pong");
    auto fresh = on_shard(s);
    EXPECT_EQ(fresh->call({"AUTH", "a", "apw"}).str, kWrongPass);
    EXPECT_EQ(fresh->call({"AUTH", "a", "apw2"}).str, "OK");
  }
  // A missing file: Redis's error, nothing changes.
  unlink(cfg.aclfile.c_str());
  EXPECT_EQ(admin->call({"ACL", "LOAD"}).str,
            "ERR Error loading ACLs, opening file '" + cfg.aclfile + "': No such file or directory");
  EXPECT_EQ(admin->call({"ACL", "USERS"}).elements.size(), 2u);
}

TEST_P(AclCommandsTest, SaveWritesTheFileAtomicallyAndLoadReadsItBack) {
  start();
  auto admin = on_shard(1);
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "new", "on", ">pw", "~k*", "&n*", "+@pubsub", "-publish"}).str, "OK");
  RespValue list = admin->call({"ACL", "LIST"});
  ASSERT_EQ(admin->call({"ACL", "SAVE"}).str, "OK");
  std::string want;
  for (const RespValue& line : list.elements) want += line.str + "\n";
  EXPECT_EQ(read_file(), want);
  EXPECT_EQ(files(), std::vector<std::string>{"users.acl"});  // no temporary file left behind
  ASSERT_EQ(admin->call({"ACL", "DELUSER", "new"}).integer, 1);
  ASSERT_EQ(admin->call({"ACL", "LOAD"}).str, "OK");
  EXPECT_EQ(admin->call({"ACL", "LIST"}).elements.size(), list.elements.size());
  EXPECT_EQ(on_shard(2)->call({"AUTH", "new", "pw"}).str, "OK");
  // A file that cannot be replaced: Redis's error (the reason goes to the log).
  ASSERT_EQ(unlink(cfg.aclfile.c_str()), 0);
  ASSERT_EQ(mkdir(cfg.aclfile.c_str(), 0700), 0);
  EXPECT_EQ(admin->call({"ACL", "SAVE"}).str,
            "ERR There was an error trying to save the ACLs. Please check the server logs for more information");
  EXPECT_EQ(files(), std::vector<std::string>{"users.acl"});
  rmdir(cfg.aclfile.c_str());
  stop();
  // Without an ACL file, LOAD and SAVE are refused as Redis refuses them.
  cfg.aclfile.clear();
  start();
  auto c = client();
  const std::string no_file =
      "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL "
      "SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order "
      "to store users in the Redis configuration.";
  EXPECT_EQ(c->call({"ACL", "LOAD"}).str, no_file);
  EXPECT_EQ(c->call({"ACL", "SAVE"}).str, no_file);
}

TEST_P(AclCommandsTest, LogShowsTheDenialsOfEveryShard) {
  start();
  auto admin = on_shard(0);
  for (int s = 0; s < cfg.shards; ++s) {
    auto pub = on_shard(s, "pub", "pubpw");
    EXPECT_EQ(pub->call({"PUBLISH", "other" + std::to_string(s), "x"}).type, Type::kError);
    EXPECT_EQ(pub->call({"PUBLISH", "other" + std::to_string(s), "x"}).type, Type::kError);  // counted in the same entry
  }
  auto c = on_shard(1);
  EXPECT_EQ(c->call({"AUTH", "pub", "wrong"}).str, kWrongPass);
  RespValue log = admin->call({"ACL", "LOG"});
  ASSERT_EQ(log.elements.size(), static_cast<size_t>(cfg.shards) + 1);
  auto field = [](const RespValue& entry, std::string_view name) -> const RespValue& {
    for (size_t i = 0; i + 1 < entry.elements.size(); i += 2) {
      if (entry.elements[i].str == name) return entry.elements[i + 1];
    }
    static RespValue none;
    return none;
  };
  EXPECT_EQ(field(log.elements[0], "reason").str, "auth");
  EXPECT_EQ(field(log.elements[0], "object").str, "AUTH");
  EXPECT_EQ(field(log.elements[0], "username").str, "pub");
  EXPECT_NE(field(log.elements[0], "client-info").str.find(" shard=1 "), std::string::npos);
  for (int s = 0; s < cfg.shards; ++s) {
    const RespValue& e = log.elements[cfg.shards - s];  // newest first
    EXPECT_EQ(field(e, "count").integer, 2);
    EXPECT_EQ(field(e, "reason").str, "channel");
    EXPECT_EQ(field(e, "context").str, "toplevel");
    EXPECT_EQ(field(e, "object").str, "other" + std::to_string(s));
    EXPECT_NE(field(e, "client-info").str.find(" shard=" + std::to_string(s) + " "), std::string::npos);
    EXPECT_NE(field(e, "client-info").str.find(" cmd=publish user=pub "), std::string::npos);
  }
  EXPECT_EQ(admin->call({"ACL", "LOG", "1"}).elements.size(), 1u);
  EXPECT_EQ(admin->call({"ACL", "LOG", "RESET"}).str, "OK");
  EXPECT_EQ(on_shard(2)->call({"ACL", "LOG"}).elements.size(), 0u);
}

TEST_P(AclCommandsTest, ChangesFromTwoShardsAtOnceAreSerialised) {
  start();
  auto a = on_shard(0), b = on_shard(1);
  constexpr int kEach = 100;
  std::string pa, pb;
  for (int i = 0; i < kEach; ++i) {
    pa += encode_command({"ACL", "SETUSER", "a" + std::to_string(i), "on", "nopass", "+ping"});
    pb += encode_command({"ACL", "SETUSER", "b" + std::to_string(i), "on", "nopass", "+ping"});
  }
  a->send_raw(pa);
  b->send_raw(pb);
  for (int i = 0; i < kEach; ++i) {
    RespValue v;
    ASSERT_TRUE(a->read(&v));
    EXPECT_EQ(v.str, "OK");
    ASSERT_TRUE(b->read(&v));
    EXPECT_EQ(v.str, "OK");
  }
  // Every change made it, and every shard runs the same rules.
  const RespValue want = a->call({"ACL", "LIST"});
  EXPECT_EQ(want.elements.size(), 2u + 2 * kEach);
  for (int s = 0; s < cfg.shards; ++s) {
    auto c = on_shard(s);
    RespValue got = c->call({"ACL", "LIST"});
    ASSERT_EQ(got.elements.size(), want.elements.size()) << "shard " << s;
    for (size_t i = 0; i < got.elements.size(); ++i) EXPECT_EQ(got.elements[i].str, want.elements[i].str);
    EXPECT_EQ(c->call({"AUTH", "b99", "x"}).str, "OK");
  }
}

TEST_P(AclCommandsTest, ExecRefusesWhatTheRulesNoLongerAllow) {
  start();
  auto admin = on_shard(0);
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "pub", "+@transaction"}).str, "OK");
  auto pub = on_shard(1, "pub", "pubpw");
  ASSERT_EQ(pub->call({"MULTI"}).str, "OK");
  ASSERT_EQ(pub->call({"PUBLISH", "news.a", "x"}).str, "QUEUED");
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "pub", "resetchannels", "&other"}).str, "OK");
  RespValue exec = pub->call({"EXEC"});
  ASSERT_EQ(exec.elements.size(), 1u);
  EXPECT_EQ(exec.elements[0].str,
            "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This "
            "command is no longer allowed for the following reason: no permission to access one of the channels "
            "used as arguments");
  RespValue log = admin->call({"ACL", "LOG", "1"});
  ASSERT_EQ(log.elements.size(), 1u);
  EXPECT_EQ(log.elements[0].elements[5].str, "multi");
  // Changes answer over several loop iterations: refused inside MULTI, as CLIENT KILL is.
  ASSERT_EQ(admin->call({"MULTI"}).str, "OK");
  EXPECT_EQ(admin->call({"ACL", "SETUSER", "x"}).str, "ERR Command not allowed inside a transaction");
  EXPECT_EQ(admin->call({"ACL", "LIST"}).str, "QUEUED");
  EXPECT_EQ(admin->call({"EXEC"}).str, "EXECABORT Transaction discarded because of previous errors.");
}

TEST_P(AclCommandsTest, AReloadAskedFromOutsideWorksAsAclLoad) {
  start();
  write_file("user default on nopass ~* &* +@all\nuser pub on >newpw resetchannels &news.* +publish\n");
  ASSERT_TRUE(broker->reload_acl());
  // No reply to wait for: poll until a client on every shard sees the new password.
  for (int s = 0; s < cfg.shards; ++s) {
    bool reloaded = false;
    for (int i = 0; i < 200 && !reloaded; ++i) {
      auto c = on_shard(s);
      reloaded = c->call({"AUTH", "pub", "newpw"}).str == "OK";
      if (!reloaded) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(reloaded) << "shard " << s;
  }
  // A broken file leaves the rules as they are (tests/system/process_test.py reads the log that
  // says so).
  write_file("user pub bogus\n");
  ASSERT_TRUE(broker->reload_acl());
  auto c = on_shard(0);
  EXPECT_EQ(c->call({"PING"}).str, "PONG");
  EXPECT_EQ(c->call({"AUTH", "pub", "newpw"}).str, "OK");
  broker->stop();
  EXPECT_FALSE(broker->reload_acl());
}

TEST_P(AclCommandsTest, AClientNotSignedInNeedsAuthOnlyWhileTheDefaultUserHasAPassword) {
  start();
  auto admin = on_shard(0, "pub", "pubpw");  // pub may not run ACL: give it the rights first
  auto root = on_shard(0);
  ASSERT_EQ(root->call({"ACL", "SETUSER", "pub", "+@all"}).str, "OK");
  auto before = on_shard(1);  // connected while the default user took no password: signed in
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "default", "resetpass", ">dpw"}).str, "OK");
  auto anon = client();  // on any shard (CLIENT INFO, which tells, would need AUTH)
  EXPECT_EQ(anon->call({"PING"}).str, "NOAUTH Authentication required.");
  EXPECT_EQ(before->call({"PING"}).str, "PONG");
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "default", "nopass"}).str, "OK");
  EXPECT_EQ(anon->call({"PING"}).str, "PONG");  // as Redis: asked at every command
  EXPECT_EQ(anon->call({"ACL", "WHOAMI"}).str, "default");
  ASSERT_EQ(admin->call({"ACL", "SETUSER", "default", "resetpass", ">dpw"}).str, "OK");
  EXPECT_EQ(anon->call({"PING"}).str, "NOAUTH Authentication required.");
  EXPECT_EQ(before->call({"PING"}).str, "PONG");
}

INSTANTIATE_TEST_SUITE_P(Backends, AclCommandsTest, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fanout::test
