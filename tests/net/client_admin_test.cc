// CLIENT LIST, INFO, KILL and REPLY, and MULTI/EXEC, against the real server on both backends.
// LIST and KILL see the clients of every shard (net/admin.h); replies keep their order when a
// command waits for the other shards; a PUBLISH inside EXEC never waits for ring space.
#include <set>
#include <sstream>

#include "tests/net/server_fixture.h"
#include "tests/net/subscribers.h"

namespace fanout::test {
namespace {

using Type = RespValue::Type;

// CLIENT LIST's lines, each as its fields in order.
std::vector<std::vector<std::pair<std::string, std::string>>> parse_list(const std::string& text) {
  std::vector<std::vector<std::pair<std::string, std::string>>> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::pair<std::string, std::string>> fields;
    std::istringstream f(line);
    std::string kv;
    while (f >> kv) {
      size_t eq = kv.find('=');
      fields.emplace_back(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
    }
    lines.push_back(fields);
  }
  return lines;
}

std::string field(const std::vector<std::pair<std::string, std::string>>& line, std::string_view name) {
  for (const auto& [k, v] : line) {
    if (k == name) return v;
  }
  return "<missing>";
}

class ClientAdminTest : public ServerTest {};

TEST_P(ClientAdminTest, ListAndKillSeeTheClientsOfEveryShard) {
  cfg.shards = 4;
  start();
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(client());
    ASSERT_EQ(clients.back()->call({"CLIENT", "SETNAME", "c" + std::to_string(i)}).str, "OK");
    if (i < 5) subscribe(*clients.back(), "SUBSCRIBE", "news");
  }
  auto asker = client();
  // The reply waits for every shard, and the command pipelined behind it waits for the reply.
  asker->send_raw(encode_command({"CLIENT", "LIST"}) + encode_command({"PING"}));
  RespValue list, pong;
  ASSERT_TRUE(asker->read(&list));
  ASSERT_TRUE(asker->read(&pong));
  EXPECT_EQ(pong.str, "PONG");
  auto lines = parse_list(list.str);
  ASSERT_EQ(lines.size(), 21u);
  // Redis 7.0's fields in its order, then Fanout's.
  const std::vector<std::string> redis_fields = {
      "id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub", "ssub", "multi",
      "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl", "oll", "omem", "tot-mem", "events",
      "cmd", "user", "redir", "resp", "shard", "backend"};
  std::set<std::string> shards, ids;
  std::map<std::string, std::string> id_of, addr_of;
  for (const auto& l : lines) {
    ASSERT_GE(l.size(), redis_fields.size());
    for (size_t i = 0; i < redis_fields.size(); ++i) EXPECT_EQ(l[i].first, redis_fields[i]);
    shards.insert(field(l, "shard"));
    EXPECT_EQ(field(l, "backend"), GetParam());
    EXPECT_EQ(field(l, "laddr"), "127.0.0.1:" + std::to_string(port));
    EXPECT_TRUE(ids.insert(field(l, "id")).second);
    id_of[field(l, "name")] = field(l, "id");
    addr_of[field(l, "name")] = field(l, "addr");
    if (field(l, "name") == "c0") {
      EXPECT_EQ(field(l, "flags"), "P");
      EXPECT_EQ(field(l, "sub"), "1");
      EXPECT_EQ(field(l, "cmd"), "subscribe");
    } else if (field(l, "cmd") == "client|list") {
      EXPECT_EQ(field(l, "argv-mem"), "10");  // the asker's own command, as Redis counts it
    } else if (field(l, "name") == "c9") {
      EXPECT_EQ(field(l, "flags"), "N");
      EXPECT_EQ(field(l, "cmd"), "client|setname");
    }
  }
  EXPECT_GE(shards.size(), 2u) << "20 clients all landed on one shard of 4";
  EXPECT_EQ(parse_list(asker->call({"CLIENT", "LIST", "TYPE", "pubsub"}).str).size(), 5u);
  EXPECT_EQ(parse_list(asker->call({"CLIENT", "LIST", "ID", id_of["c7"], id_of["c8"], "999999"}).str).size(), 2u);
  RespValue self = asker->call({"CLIENT", "INFO"});
  auto me = parse_list(self.str);
  ASSERT_EQ(me.size(), 1u);
  EXPECT_EQ(field(me[0], "cmd"), "client|info");
  EXPECT_EQ(field(me[0], "argv-mem"), "10");  // "client" + "info", as Redis counts

  // KILL by id reaches the client's shard, whichever it is.
  EXPECT_EQ(asker->call({"CLIENT", "KILL", "ID", id_of["c9"]}).integer, 1);
  EXPECT_TRUE(clients[9]->wait_closed());
  EXPECT_EQ(asker->call({"CLIENT", "KILL", "ID", id_of["c9"]}).integer, 0);
  // The old form: +OK, then Redis's error once nobody has that address.
  EXPECT_EQ(asker->call({"CLIENT", "KILL", addr_of["c10"]}).str, "OK");
  EXPECT_TRUE(clients[10]->wait_closed());
  RespValue gone = asker->call({"CLIENT", "KILL", addr_of["c10"]});
  EXPECT_EQ(gone.type, Type::kError);
  EXPECT_EQ(gone.str, "ERR No such client");
  // Every subscriber, on every shard.
  EXPECT_EQ(asker->call({"CLIENT", "KILL", "TYPE", "pubsub"}).integer, 5);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(clients[i]->wait_closed()) << i;
  EXPECT_EQ(asker->call({"CLIENT", "KILL", "USER", "default", "SKIPME", "yes", "MAXAGE", "100000"}).integer, 0);
  // SKIPME no names the asker too: it gets its reply, then is closed, and nothing after runs.
  asker->send_raw(encode_command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"}) + encode_command({"PING"}));
  RespValue killed;
  ASSERT_TRUE(asker->read(&killed));
  EXPECT_EQ(killed.integer, 14);  // c5..c8 (4), c11..c19 (9) and the asker
  EXPECT_TRUE(asker->wait_closed());
  for (int i = 5; i < 20; ++i) {
    if (i == 9 || i == 10) continue;
    EXPECT_TRUE(clients[i]->wait_closed()) << i;
  }
}

TEST_P(ClientAdminTest, ClientReplyMutesRepliesButNotMessages) {
  start();
  auto sub = client(), pub = client();
  sub->send_raw(encode_command({"CLIENT", "REPLY", "OFF"}) + encode_command({"PING"}) +
                encode_command({"SUBSCRIBE", "news"}));
  ASSERT_EQ(await_stat("pubsub_channels", 1), 1);
  EXPECT_EQ(pub->call({"PUBLISH", "news", "still delivered"}).integer, 1);
  RespValue v;
  ASSERT_TRUE(sub->read(&v));  // no +PONG; the subscribe confirmation is a push, as in Redis 7.0.15
  ASSERT_TRUE(is_push(v, "subscribe"));
  ASSERT_TRUE(sub->read(&v));
  ASSERT_TRUE(is_push(v, "message"));
  EXPECT_EQ(v.elements[2].str, "still delivered");
  // SKIP mutes exactly the next command.
  pub->send_raw(encode_command({"CLIENT", "REPLY", "SKIP"}) + encode_command({"ECHO", "muted"}) +
                encode_command({"ECHO", "heard"}) + encode_command({"CLIENT", "REPLY", "ON"}));
  ASSERT_TRUE(pub->read(&v));
  EXPECT_EQ(v.str, "heard");
  ASSERT_TRUE(pub->read(&v));
  EXPECT_EQ(v.str, "OK");
  // A PUBSUB CHANNELS answered later is muted as its command was.
  pub->send_raw(encode_command({"CLIENT", "REPLY", "SKIP"}) + encode_command({"PUBSUB", "CHANNELS"}) +
                encode_command({"CLIENT", "LIST", "ID", "1"}) + encode_command({"ECHO", "after"}));
  ASSERT_TRUE(pub->read(&v));
  EXPECT_EQ(v.type, Type::kBulk);
  EXPECT_EQ(v.str.find("news"), std::string::npos) << "the muted PUBSUB CHANNELS reply arrived";
  ASSERT_TRUE(pub->read(&v));
  EXPECT_EQ(v.str, "after");
}

TEST_P(ClientAdminTest, MultiExecRunsWholeAndPublishesNeverWaitForRingSpace) {
  cfg.shards = 4;
  cfg.mailbox_depth = 1;
  start();
  std::vector<std::unique_ptr<TestClient>> subs;
  for (int i = 0; i < 12; ++i) {
    subs.push_back(client());
    subscribe(*subs.back(), "SUBSCRIBE", "news");
  }
  auto pub = client();
  constexpr int kMessages = 50;
  std::string batch = encode_command({"MULTI"});
  for (int i = 0; i < kMessages; ++i) batch += encode_command({"PUBLISH", "news", std::to_string(i)});
  batch += encode_command({"EXEC"}) + encode_command({"PING"});
  pub->send_raw(batch);
  RespValue v;
  ASSERT_TRUE(pub->read(&v));
  EXPECT_EQ(v.str, "OK");
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(pub->read(&v));
    EXPECT_EQ(v.str, "QUEUED");
  }
  ASSERT_TRUE(pub->read(&v));
  ASSERT_EQ(v.type, Type::kArray);
  ASSERT_EQ(v.elements.size(), static_cast<size_t>(kMessages));
  for (const RespValue& e : v.elements) EXPECT_EQ(e.integer, 12);
  ASSERT_TRUE(pub->read(&v));
  EXPECT_EQ(v.str, "PONG");
  for (auto& s : subs) {
    for (int i = 0; i < kMessages; ++i) {
      ASSERT_TRUE(s->read(&v));
      ASSERT_TRUE(is_push(v, "message"));
      EXPECT_EQ(v.elements[2].str, std::to_string(i));
    }
  }
  // Refused while queuing: EXEC discards the transaction.
  EXPECT_EQ(pub->call({"MULTI"}).str, "OK");
  RespValue refused = pub->call({"PUBSUB", "CHANNELS"});
  EXPECT_EQ(refused.str, "ERR Command not allowed inside a transaction");
  EXPECT_EQ(pub->call({"PUBLISH", "news", "never"}).str, "QUEUED");
  EXPECT_EQ(pub->call({"EXEC"}).str, "EXECABORT Transaction discarded because of previous errors.");
  EXPECT_EQ(pub->call({"EXEC"}).str, "ERR EXEC without MULTI");
  EXPECT_EQ(pub->call({"PUBLISH", "news", "last"}).integer, 12);
  for (auto& s : subs) {
    ASSERT_TRUE(s->read(&v));
    EXPECT_EQ(v.elements[2].str, "last");
  }
}

// Redis 7.0 keeps one ID filter: the last given.
TEST_P(ClientAdminTest, KillWithTwoIdsKillsTheLast) {
  start();
  auto a = client(), b = client(), asker = client();
  const int64_t ida = a->call({"CLIENT", "ID"}).integer, idb = b->call({"CLIENT", "ID"}).integer;
  EXPECT_EQ(asker->call({"CLIENT", "KILL", "ID", std::to_string(ida), "ID", std::to_string(idb)}).integer, 1);
  EXPECT_TRUE(b->wait_closed());
  EXPECT_EQ(a->call({"PING"}).str, "PONG");
}

// Commands already received wait while the client's unread replies are over the pause threshold
// (4 MiB): 300 pipelined CLIENT LISTs of 300 clients (about 100 KB each, 30 MB in all) from a
// client that reads nothing stay a few MiB queued (the whole 30 MB was queued before), and all
// arrive, in order, once it reads.
TEST_P(ClientAdminTest, PipelinedRepliesWaitForTheReader) {
  cfg.shards = 2;
  start();
  std::vector<std::unique_ptr<TestClient>> idle;
  for (int i = 0; i < 300; ++i) idle.push_back(client());
  auto greedy = client(4096);
  std::string batch;
  constexpr int kLists = 300;
  for (int i = 0; i < kLists; ++i) batch += encode_command({"CLIENT", "LIST"}) + encode_command({"ECHO", std::to_string(i)});
  greedy->send_raw(batch);
  auto watcher = client();
  int64_t worst = 0;
  for (int i = 0; i < 30; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    worst = std::max(worst, info_field(watcher->call({"INFO", "memory"}).str, "queued_output_bytes"));
  }
  EXPECT_LT(worst, 8 << 20) << "unread replies grew past the pause threshold";
  RespValue v;
  for (int i = 0; i < kLists; ++i) {
    ASSERT_TRUE(greedy->read(&v, 10000)) << i;
    EXPECT_EQ(v.type, Type::kBulk);
    ASSERT_TRUE(greedy->read(&v, 10000)) << i;
    EXPECT_EQ(v.str, std::to_string(i));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ClientAdminTest, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fanout::test
