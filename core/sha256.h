// SHA-256 (FIPS 180-4), for ACL passwords: like Redis, Fanout keeps only their hashes, and ACL
// files may give a password as its hash ("#<64 hex digits>") instead of in clear. The digest is
// libcrypto's (OpenSSL 3): a library call, no syscalls. Every function may be called from any
// thread at once.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace fanout {

using Sha256Digest = std::array<uint8_t, 32>;

// The digest of `data` (any length). libcrypto failing to compute it (out of memory, or no
// provider offering SHA-256) aborts the process with a message: ACLs cannot work without it.
Sha256Digest sha256(std::string_view data);
// 64 lower-case hex digits.
std::string to_hex(const Sha256Digest& d);
// Parses 64 hex digits (either case); false if `hex` is anything else.
bool parse_sha256_hex(std::string_view hex, Sha256Digest* out);
// Compares in time independent of where the digests differ.
bool digest_equal(const Sha256Digest& a, const Sha256Digest& b);

}  // namespace fanout
