// The configuration's one validation: every setting in the table rejects values outside its
// range with an error that names its flag and the range, whether the value came as text (a flag,
// later a config file) or was set directly (tests, embedders) and caught by validate_config().
#include "net/config.h"

#include <gtest/gtest.h>

#include <string>

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

TEST(ConfigTest, TextRoundTripsThroughTheTable) {
  ServerConfig cfg;
  for (const Setting& s : server_settings()) {
    ServerConfig copy;
    EXPECT_EQ(set_setting(copy, s, setting_text(cfg, s)), "") << s.name;
    EXPECT_EQ(setting_text(copy, s), setting_text(cfg, s)) << s.name;
  }
}

}  // namespace
}  // namespace fanout
