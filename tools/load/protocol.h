// The two wire protocols fanout-load speaks, as adapters between the bytes and what the worker
// acts on: RESP2 pub/sub (fanoutd, redis-server) and the NATS core text protocol (nats-server).
// Encoders append to a connection's output buffer; the decoder turns one received frame into
// one protocol-neutral event. Pure (no sockets, no clock); any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fanout::load {

// Which protocol (--proto), chosen once per run.
enum class Proto { kRedis, kNats };
// What a connection is for: a subscriber receives messages, a publisher sends them (and, over
// RESP, reads one count reply per PUBLISH).
enum Role { kSub = 0, kPub = 1 };

// "redis" or "nats" (validated by the caller); anything else is kRedis.
Proto proto_from_name(const std::string& name);

// One decoded frame, as the receiving connection's role sees it.
struct Event {
  enum Kind {
    kNone,     // nothing to do (NATS INFO and +OK, a repeated PONG, a message on a publisher)
    kMessage,  // a published message: `payload` views the caller's buffer
    kReady,    // the subscription (RESP) or the handshake (NATS PONG) is confirmed
    kPing,     // the server pinged: answer with encode_pong
    kCount,    // a PUBLISH reply: `count` receivers
    kError,    // an error reply, or a frame that has no place here: count a protocol error
  };
  Kind kind = kNone;
  std::string_view payload;
  int64_t count = 0;
};

// Decodes the frame at buf[0, len) received by a connection of `role` that is `ready` (its
// kReady already seen). Returns the bytes consumed (> 0) with *ev set, 0 if the frame is
// incomplete, -1 if it is malformed (the caller counts a protocol error and closes).
long decode_event(Proto p, Role role, bool ready, const char* buf, size_t len, Event* ev);

// A subscriber's opening bytes: SUBSCRIBE over RESP; CONNECT, SUB and PING (its PONG is the
// kReady) over NATS.
void encode_subscribe(Proto p, std::string_view topic, std::string* out);
// A publisher's opening bytes. Returns true if it may publish at once (RESP: it sends nothing
// first), false if it must wait for kReady (NATS: CONNECT and PING).
bool encode_publisher_hello(Proto p, std::string* out);
// One message to `topic`: PUBLISH (answered with a count) or PUB (no reply).
void encode_publish(Proto p, std::string_view topic, std::string_view payload, std::string* out);
// True if each encode_publish is answered with a kCount, in order.
inline bool publish_is_counted(Proto p) { return p == Proto::kRedis; }
// The answer to a kPing.
void encode_pong(Proto p, std::string* out);

}  // namespace fanout::load
