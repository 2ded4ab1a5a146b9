#include "core/sha256.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace fanout {
namespace {

// FIPS 180-4 / NIST examples, plus lengths around the padding boundaries (55, 56, 64 bytes),
// checked against sha256sum.
TEST(Sha256Test, KnownDigests) {
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(to_hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(to_hex(sha256(std::string(55, 'a'))), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(to_hex(sha256(std::string(56, 'a'))), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(to_hex(sha256(std::string(64, 'a'))), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  EXPECT_EQ(to_hex(sha256(std::string(1000000, 'a'))), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, HexRoundTripAndComparison) {
  Sha256Digest d;
  const std::string hex = to_hex(sha256("pw2"));
  ASSERT_TRUE(parse_sha256_hex(hex, &d));
  EXPECT_TRUE(digest_equal(d, sha256("pw2")));
  EXPECT_FALSE(digest_equal(d, sha256("pw3")));
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  ASSERT_TRUE(parse_sha256_hex(upper, &d));
  EXPECT_TRUE(digest_equal(d, sha256("pw2")));
  EXPECT_FALSE(parse_sha256_hex(hex.substr(1), &d));
  EXPECT_FALSE(parse_sha256_hex("g" + hex.substr(1), &d));
}

TEST(Sha256Test, DigestsDifferingOnlyInTheLastByteAreUnequal) {
  Sha256Digest a = sha256("x"), b = a;
  b[31] ^= 1;
  EXPECT_FALSE(digest_equal(a, b));
  b[31] ^= 1;
  EXPECT_TRUE(digest_equal(a, b));
}

// libcrypto's one-shot digest shares no state between callers: threads hashing at once each get
// their own input's digest (run under TSan by tools/test.sh).
TEST(Sha256Test, ConcurrentCallersGetTheirOwnDigests) {
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  const std::string empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  std::vector<int> wrong(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const bool odd = (i + t) % 2 == 1;
        if (to_hex(sha256(odd ? "abc" : "")) != (odd ? abc : empty)) ++wrong[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace fanout
