#include "tools/load/protocol.h"

#include "core/resp_writer.h"
#include "tools/load/stream_parser.h"

namespace fanout::load {
namespace {

constexpr std::string_view kNatsConnect = "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false}\r\n";

// RESP, subscriber side: pushes and subscription confirmations, nothing else.
void redis_subscriber_event(const RespFrame& f, bool ready, Event* ev) {
  ev->kind = Event::kError;
  if ((f.type != '*' && f.type != '>') || f.n < 3) return;
  std::string_view kind = f.elems[0];
  if (kind == "message" && f.n == 3) {
    ev->kind = Event::kMessage;
    ev->payload = f.elems[2];
  } else if (kind == "pmessage" && f.n == 4) {
    ev->kind = Event::kMessage;
    ev->payload = f.elems[3];
  } else if (kind == "subscribe" && !ready) {
    ev->kind = Event::kReady;
  }
}

void nats_event(const NatsFrame& f, Role role, bool ready, Event* ev) {
  switch (f.kind) {
    case NatsFrame::kMsg:
      if (role == kSub) {
        ev->kind = Event::kMessage;
        ev->payload = f.payload;
      }
      break;
    case NatsFrame::kPing:
      ev->kind = Event::kPing;
      break;
    case NatsFrame::kPong:
      if (!ready) ev->kind = Event::kReady;
      break;
    case NatsFrame::kErr:
      ev->kind = Event::kError;
      break;
    default:
      break;
  }
}

}  // namespace

Proto proto_from_name(const std::string& name) { return name == "nats" ? Proto::kNats : Proto::kRedis; }

long decode_event(Proto p, Role role, bool ready, const char* buf, size_t len, Event* ev) {
  *ev = Event{};
  if (p == Proto::kNats) {
    NatsFrame f;
    long n = parse_nats_frame(buf, len, &f);
    if (n > 0) nats_event(f, role, ready, ev);
    return n;
  }
  RespFrame f;
  long n = parse_resp_frame(buf, len, &f);
  if (n <= 0) return n;
  if (role == kSub) {
    redis_subscriber_event(f, ready, ev);
  } else if (f.type == ':') {
    ev->kind = Event::kCount;
    ev->count = f.integer;
  } else {
    ev->kind = Event::kError;
  }
  return n;
}

void encode_subscribe(Proto p, std::string_view topic, std::string* out) {
  if (p == Proto::kNats) {
    out->append(kNatsConnect);
    out->append("SUB ").append(topic).append(" 1\r\nPING\r\n");
    return;
  }
  resp::StringOut o{out};
  resp::array(o, 2);
  resp::bulk(o, "SUBSCRIBE");
  resp::bulk(o, topic);
}

bool encode_publisher_hello(Proto p, std::string* out) {
  if (p == Proto::kRedis) return true;
  out->append(kNatsConnect);
  out->append("PING\r\n");
  return false;
}

void encode_publish(Proto p, std::string_view topic, std::string_view payload, std::string* out) {
  if (p == Proto::kNats) {
    out->append("PUB ").append(topic).append(" ").append(std::to_string(payload.size())).append("\r\n");
    out->append(payload).append("\r\n");
    return;
  }
  resp::StringOut o{out};
  resp::array(o, 3);
  resp::bulk(o, "PUBLISH");
  resp::bulk(o, topic);
  resp::bulk(o, payload);
}

void encode_pong(Proto p, std::string* out) {
  if (p == Proto::kNats) out->append("PONG\r\n");
}

}  // namespace fanout::load
