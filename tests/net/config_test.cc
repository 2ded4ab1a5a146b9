// The configuration's one validation: every setting in the table rejects values outside its
// range with an error that names its flag and the range, whether the value came as text (a flag,
// later a config file) or was set directly (tests, embedders) and caught by validate_config().
#include "net/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/resp_parser.h"

namespace fanout {
namespace {

bool names_flag(const std::string& err, const Setting& s) {
  return err.rfind("--" + std::string(s.name) + " ", 0) == 0;
}

TEST(ConfigTest, EveryNumericSettingRejectsValuesOutsideItsRange) {
  size_t checked = 0;
  for (const Setting& s : server_settings()) {
    if (s.kind != Setting::Kind::kNumber && s.kind != Setting::Kind::kSize) continue;
    ++checked;
    ServerConfig cfg;
    EXPECT_EQ(validate_config(cfg), "") << "the default of --" << s.name;
    EXPECT_EQ(set_setting(cfg, s, std::to_string(s.min)), "") << s.name;
    EXPECT_EQ(set_setting(cfg, s, std::to_string(s.max)), "") << s.name;
    for (std::string bad : {std::to_string(s.max + 1), std::string("-1"), std::string("x"),
                            std::string("99999999999999999999")}) {
      if (bad == "-1" && s.min == 0) bad = "-5";
      ServerConfig c2;
      std::string err = set_setting(c2, s, bad);
      EXPECT_TRUE(names_flag(err, s)) << s.name << " = " << bad << ": " << err;
      EXPECT_NE(err.find(setting_range(s)), std::string::npos) << err;
    }
    if (s.min > 0) {
      ServerConfig c2;
      EXPECT_TRUE(names_flag(set_setting(c2, s, std::to_string(s.min - 1)), s)) << s.name;
      // Set directly (as a test or an embedder would), then caught by the validation.
      s.set(c2, s.min - 1);
      EXPECT_TRUE(names_flag(validate_config(c2), s)) << s.name;
    }
    ServerConfig c3;
    s.set(c3, s.max + 1);
    std::string err = validate_config(c3);
    EXPECT_TRUE(names_flag(err, s)) << s.name << ": " << err;
    if (s.power_of_two) {
      ServerConfig c4;
      EXPECT_TRUE(names_flag(set_setting(c4, s, std::to_string(s.min + 1 + (s.min == 1))), s)) << s.name;
    }
  }
  EXPECT_GT(checked, 25u);
}

TEST(ConfigTest, BoolsAndChoicesRejectAnythingElse) {
  for (const Setting& s : server_settings()) {
    ServerConfig cfg;
    if (s.kind == Setting::Kind::kBool) {
      EXPECT_EQ(set_setting(cfg, s, "no"), "") << s.name;
      EXPECT_EQ(setting_text(cfg, s), "false");
      EXPECT_EQ(set_setting(cfg, s, ""), "") << s.name;  // a bare --flag
      EXPECT_EQ(setting_text(cfg, s), "true");
      EXPECT_TRUE(names_flag(set_setting(cfg, s, "maybe"), s)) << s.name;
    } else if (s.kind == Setting::Kind::kChoice) {
      std::string err = set_setting(cfg, s, "bogus");
      EXPECT_TRUE(names_flag(err, s)) << err;
      EXPECT_NE(err.find("must be one of"), std::string::npos) << err;
    }
  }
  ServerConfig cfg;
  cfg.backend = "kqueue";  // set directly: caught at validation
  EXPECT_EQ(validate_config(cfg).rfind("--backend must be one of epoll,io_uring", 0), 0u);
}

// The values that used to be taken silently (issue 10).
TEST(ConfigTest, ValuesThatUsedToSpinTruncateOrOverflowAreRefused) {
  auto err_for = [](const char* name, const char* value) {
    ServerConfig cfg;
    return set_setting(cfg, *find_setting(name), value);
  };
  EXPECT_EQ(err_for("max-send-bytes", "0"), "--max-send-bytes must be between 1 and 1g bytes, got '0'");
  EXPECT_EQ(err_for("shards", "-1"), "--shards must be between 0 and 256, got '-1'");
  EXPECT_EQ(err_for("shards", "1000"), "--shards must be between 0 and 256, got '1000'");
  EXPECT_NE(err_for("max-bulk-len", "5g"), "");
  EXPECT_NE(err_for("uring-buffer-size", "5g"), "");
  EXPECT_NE(err_for("max-query-buffer", "99999999999g"), "");
  EXPECT_NE(err_for("client-soft-seconds", "9223372036854775807"), "");
  EXPECT_NE(err_for("uring-sq-entries", "100"), "");  // not a power of two
  ServerConfig cfg;
  cfg.output.soft_ms = -1000;
  EXPECT_EQ(validate_config(cfg).rfind("--client-soft-seconds must be", 0), 0u);
}

TEST(ConfigTest, RulesBetweenSettings) {
  ServerConfig cfg;
  cfg.request.max_bulk_len = cfg.max_query_buffer + 1;
  EXPECT_EQ(validate_config(cfg).rfind("--max-bulk-len", 0), 0u);
  cfg.request.max_bulk_len = cfg.max_query_buffer;
  EXPECT_EQ(validate_config(cfg), "");
  cfg.uring_buffers = 32768;
  cfg.uring_buffer_size = 1u << 20;
  EXPECT_EQ(validate_config(cfg).rfind("--uring-buffers x --uring-buffer-size", 0), 0u);
}

// Redis's bind syntax (space-separated, '-' for an optional address) and its octal
// unixsocketperm, which CONFIG GET shows as Redis does ("700").
TEST(ConfigTest, BindListsAndOctalModesAsRedisWritesThem) {
  std::vector<BindAddress> list;
  std::string err;
  ASSERT_TRUE(parse_bind_list("  127.0.0.1   -::1 * ", &list, &err));
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].host, "127.0.0.1");
  EXPECT_FALSE(list[0].optional);
  EXPECT_EQ(list[1].host, "::1");
  EXPECT_TRUE(list[1].optional);
  EXPECT_EQ(list[2].host, "*");
  EXPECT_TRUE(parse_bind_list("", &list, &err));
  EXPECT_TRUE(list.empty());
  EXPECT_FALSE(parse_bind_list("127.0.0.1 -", &list, &err));

  ServerConfig cfg;
  cfg.bind = "127.0.0.1 - ::1";
  EXPECT_EQ(validate_config(cfg), "--bind: '-' must be followed by an address");
  cfg.bind = "";
  EXPECT_NE(validate_config(cfg).find("listen nowhere"), std::string::npos);
  cfg.unixsocket = "/tmp/fanout.sock";
  EXPECT_EQ(validate_config(cfg), "");
  cfg.unixsocket = std::string(108, 'x');
  EXPECT_EQ(validate_config(cfg).rfind("--unixsocket must be at most 107 bytes", 0), 0u);

  const Setting& perm = *find_setting("unixsocketperm");
  ServerConfig c2;
  EXPECT_EQ(set_setting(c2, perm, "700"), "");
  EXPECT_EQ(c2.unixsocketperm, 0700u);
  EXPECT_EQ(setting_text(c2, perm), "700");
  EXPECT_EQ(set_setting(c2, perm, "0755"), "");
  EXPECT_EQ(c2.unixsocketperm, 0755u);
  EXPECT_EQ(set_setting(c2, perm, "800"), "--unixsocketperm must be an octal mode between 0 and 777, got '800'");
  EXPECT_NE(set_setting(c2, perm, "1000"), "");
  c2.unixsocketperm = 01000;  // set directly: caught at validation
  EXPECT_EQ(validate_config(c2).rfind("--unixsocketperm must be", 0), 0u);
  ServerConfig c3;
  c3.unixsocketperm = 0700;
  bool shown = false;
  for (const auto& [name, value] : config_parameters(c3)) {
    if (name == "unixsocketperm") shown = value == "700";
  }
  EXPECT_TRUE(shown);
}

TEST(ConfigTest, TheMetricsEndpointNeedsAnAddressAndAPortOfItsOwn) {
  ServerConfig cfg;
  cfg.metrics_port = 9121;
  EXPECT_EQ(validate_config(cfg), "");
  cfg.metrics_bind = " ";
  EXPECT_EQ(validate_config(cfg).rfind("--metrics-bind must name an address", 0), 0u);
  cfg.metrics_bind = "127.0.0.1";
  cfg.metrics_port = cfg.port;
  EXPECT_EQ(validate_config(cfg).rfind("--metrics-port must differ from --port", 0), 0u);
}

// TLS as Redis's tlsConfigure checks it: a certificate and key, and CAs whenever client
// certificates are asked for (tls-auth-clients is yes by default, as in Redis).
TEST(ConfigTest, ATlsPortNeedsItsFiles) {
  ServerConfig cfg;
  std::string err;
  const std::vector<std::string> port{"6380"};
  ASSERT_EQ(apply_directive(cfg, "tls-port", port, DirectiveSource::kFile, &err), Applied::kSet) << err;
  EXPECT_EQ(validate_config(cfg).rfind("--tls-port needs --tls-cert-file and --tls-key-file", 0), 0u);
  cfg.tls_cert_file = "/etc/fanout/server.crt";
  cfg.tls_key_file = "/etc/fanout/server.key";
  EXPECT_EQ(validate_config(cfg).rfind("--tls-auth-clients yes (yes is the default, as in Redis) needs", 0), 0u);
  cfg.tls_auth_clients = "optional";
  EXPECT_NE(validate_config(cfg), "");
  cfg.tls_ca_cert_dir = "/etc/ssl/certs";
  EXPECT_EQ(validate_config(cfg), "");
  cfg.tls_auth_clients = "no";
  cfg.tls_ca_cert_dir.clear();
  EXPECT_EQ(validate_config(cfg), "");
  cfg.tls_port = cfg.port;
  EXPECT_EQ(validate_config(cfg).rfind("--tls-port must differ from --port", 0), 0u);
  const std::vector<std::string> maybe{"maybe"};
  EXPECT_EQ(apply_directive(cfg, "tls-auth-clients", maybe, DirectiveSource::kFile, &err), Applied::kError);
  EXPECT_NE(err.find("yes,no,optional"), std::string::npos) << err;
}

TEST(ConfigTest, TextRoundTripsThroughTheTable) {
  ServerConfig cfg;
  for (const Setting& s : server_settings()) {
    ServerConfig copy;
    EXPECT_EQ(set_setting(copy, s, setting_text(cfg, s)), "") << s.name;
    EXPECT_EQ(setting_text(copy, s), setting_text(cfg, s)) << s.name;
  }
}

// Every setting answers to its Fanout name, "fanout-<name>" and Redis's name; Redis's name reads
// sizes in Redis's units, Fanout's in binary ones.
TEST(ConfigTest, DirectivesByEveryName) {
  ServerConfig cfg;
  std::string err;
  auto apply = [&](std::string_view name, std::vector<std::string> args, DirectiveSource src = DirectiveSource::kFile) {
    err.clear();
    return apply_directive(cfg, name, args, src, &err);
  };
  EXPECT_EQ(apply("MAXCLIENTS", {"77"}), Applied::kSet);
  EXPECT_EQ(cfg.max_clients, 77u);
  EXPECT_EQ(apply("fanout-max-clients", {"78"}), Applied::kSet);
  EXPECT_EQ(cfg.max_clients, 78u);
  EXPECT_EQ(apply("client-query-buffer-limit", {"2m"}), Applied::kSet);
  EXPECT_EQ(cfg.max_query_buffer, 2000000u);  // Redis's m
  EXPECT_EQ(apply("max-query-buffer", {"2m"}), Applied::kSet);
  EXPECT_EQ(cfg.max_query_buffer, 2u << 20);  // Fanout's m
  EXPECT_EQ(apply("bind", {"127.0.0.1", "::1"}), Applied::kSet);
  EXPECT_EQ(cfg.bind, "127.0.0.1 ::1");
  EXPECT_EQ(apply("client-output-buffer-limit", {"normal", "0", "0", "0", "pubsub", "1mb", "1kb", "7"}), Applied::kSet);
  EXPECT_EQ(cfg.output.hard_bytes, 1u << 20);
  EXPECT_EQ(cfg.output.soft_bytes, 1024u);
  EXPECT_EQ(cfg.output.soft_ms, 7000);
  EXPECT_EQ(apply("client-output-buffer-limit", {"pubsub 2mb 0 0"}), Applied::kSet);  // CONFIG SET's one string
  EXPECT_EQ(cfg.output.hard_bytes, 2u << 20);
  EXPECT_EQ(apply("client-output-buffer-limit", {"pubsub", "1mb"}), Applied::kError);
  EXPECT_EQ(apply("client-output-buffer-limit", {"master", "1", "1", "1"}), Applied::kError);
  EXPECT_EQ(apply("loglevel", {"warning"}), Applied::kSet);
  EXPECT_EQ(cfg.log_level, "warn");
  EXPECT_EQ(apply("loglevel", {"warn"}), Applied::kError);  // Redis's levels under Redis's name
  EXPECT_EQ(apply("port", {"auto"}), Applied::kSet);
  EXPECT_EQ(cfg.port, kPortAuto);
  cfg.max_query_buffer = 64u << 20;  // room for the default largest bulk again
  EXPECT_EQ(validate_config(cfg), "");
  EXPECT_EQ(apply("save", {""}), Applied::kIgnored);
  EXPECT_EQ(apply("appendonly", {"yes"}), Applied::kIgnored);
  EXPECT_EQ(apply("daemonize", {"yes"}), Applied::kError);
  EXPECT_EQ(apply("nosuch", {"1"}), Applied::kError);
  EXPECT_EQ(err, "unknown directive nosuch");
  EXPECT_EQ(apply("nosuch", {"1"}, DirectiveSource::kFlag), Applied::kError);
  EXPECT_EQ(err, "unknown flag --nosuch");
  EXPECT_EQ(apply("maxclients", {"1", "2"}), Applied::kError);
  EXPECT_EQ(err, "maxclients takes one value, got 2");
  EXPECT_EQ(apply("timeout", {"x"}, DirectiveSource::kFlag), Applied::kError);
  EXPECT_EQ(err, "--timeout must be between 0 and 315360000 seconds, got 'x'");
  EXPECT_EQ(apply("user", {"bob", "on", ">pw"}), Applied::kSet);
  EXPECT_EQ(cfg.acl_rules, "user bob on >pw\n");
}

// CONFIG GET and CONFIG REWRITE name every setting once, and what REWRITE writes reads back the
// same.
TEST(ConfigTest, RewriteKeepsTheFileAndReadsBack) {
  ServerConfig cfg;
  cfg.max_clients = 500;
  cfg.output.hard_bytes = 1 << 20;
  cfg.requirepass = "p w\"q";
  cfg.log_level = "debug";
  const std::string old_text =
      "# top comment\nmaxclients 10\n\n  # indented comment\nsave \"\"\nMAXCLIENTS 20\nuser a on\ntimeout 0\n";
  const std::string text = rewrite_config_text(old_text, cfg);
  EXPECT_EQ(text,
            "# top comment\nmaxclients 500\n\n  # indented comment\nsave \"\"\nuser a on\ntimeout 0\n"
            "# Generated by CONFIG REWRITE\nrequirepass \"p w\\\"q\"\n"
            "client-output-buffer-limit pubsub 1048576 8388608 60\nloglevel debug\n");
  // Read back: the same settings.
  ServerConfig again;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    std::vector<std::string> args;
    ASSERT_TRUE(split_args(line, &args)) << line;
    if (args.empty() || args[0][0] == '#') continue;
    std::string err;
    std::vector<std::string> rest(args.begin() + 1, args.end());
    apply_directive(again, args[0], rest, DirectiveSource::kFile, &err);
    EXPECT_EQ(err, "") << line;
  }
  EXPECT_EQ(again.max_clients, 500u);
  EXPECT_EQ(again.requirepass, "p w\"q");
  EXPECT_EQ(again.output.hard_bytes, 1u << 20);
  EXPECT_EQ(again.log_level, "debug");
  std::vector<std::string> names;
  for (const auto& [name, value] : config_parameters(cfg)) names.push_back(name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end()) << "a parameter named twice";
}

}  // namespace
}  // namespace fanout

namespace fanout {
namespace {

// The --upstream-* settings are checked together at start (issue 13).
TEST(ConfigTest, UpstreamSettingsAreCheckedTogether) {
  auto err_with = [](auto set) {
    ServerConfig cfg;
    cfg.upstream = "nats://127.0.0.1:4222";
    set(cfg);
    return validate_config(cfg);
  };
  EXPECT_EQ(err_with([](ServerConfig&) {}), "");
  EXPECT_EQ(err_with([](ServerConfig& c) { c.upstream = "nats://a:1, tls://b:2"; }), "");
  EXPECT_NE(err_with([](ServerConfig& c) { c.upstream = "redis://a:1"; }).find("--upstream: \"redis://a:1\""),
            std::string::npos);
  EXPECT_NE(err_with([](ServerConfig& c) {
              c.upstream_user = "u";
              c.upstream_password_file = "/p";
              c.upstream_token_file = "/t";
            }).find("exclude each other"),
            std::string::npos);
  EXPECT_NE(err_with([](ServerConfig& c) { c.upstream_password_file = "/p"; }).find("go together"),
            std::string::npos);
  EXPECT_NE(err_with([](ServerConfig& c) { c.upstream_user = "bob"; }).find("go together"), std::string::npos);
  for (const char* prefix : {"", "fanout", ".fanout.", "a..b.", "a b.", "a*.", "a>.", "."}) {
    EXPECT_NE(err_with([&](ServerConfig& c) { c.upstream_prefix = prefix; }).find("--upstream-prefix"),
              std::string::npos)
        << prefix;
  }
  EXPECT_EQ(err_with([](ServerConfig& c) { c.upstream_prefix = "eu.west.tier1."; }), "");
  EXPECT_NE(err_with([](ServerConfig& c) { c.upstream_name = "node a"; }).find("--upstream-name"), std::string::npos);
  ServerConfig single;
  single.upstream_token_file = "/t";
  EXPECT_NE(validate_config(single).find("need --upstream"), std::string::npos);
}

}  // namespace
}  // namespace fanout
