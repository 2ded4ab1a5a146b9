// The client side of the NATS client protocol (docs.nats.io, "Client Protocol", reference
// /reference/reference-protocols/nats-protocol): what a client sends (CONNECT, PING, PONG, SUB,
// UNSUB, PUB, HPUB), the server's INFO as a struct, and NATS message headers (ADR-4, "NATS Message
// Headers"). The incremental parser of what a server sends is in core/nats_parser.h.
//
// Pure: no I/O, no clock. Every function here is thread-agnostic (any thread, no shared state).
// Encoders append to a std::string and, when they refuse an input, append nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fanout {

// NATS's MAX_CONTROL_LINE_SIZE (nats-server server/const.go): the longest argument text of a
// client's control line that a server accepts by default ("PUB <subject> [reply] <size>" past the
// op). A longer line is answered "-ERR 'maximum control line exceeded'" and the connection closed.
inline constexpr size_t kNatsMaxControlLine = 4096;
// NATS's default max_payload (MAX_PAYLOAD_SIZE, 1 MiB); a server announces its own in INFO.
inline constexpr size_t kNatsDefaultMaxPayload = 1024 * 1024;
// The header a Fanout node puts on what it publishes upstream, naming the node: each node drops
// the messages that carry its own name (its echo), whichever of its links receives them.
inline constexpr std::string_view kFanoutOriginHeader = "Fanout-Origin";

// What CONNECT says (protocol doc, "CONNECT"). Fixed by the encoder, since the parser and the
// upstream link rely on them: verbose false (no +OK per op), pedantic false, headers true (HPUB and
// HMSG), no_responders false, protocol 1 (the server may send INFO again: cluster changes, lame
// duck mode), lang "c++".
struct NatsConnectOptions {
  std::string name;     // shown by the server's monitoring (connz); empty: left out
  std::string version;  // the client's version (Fanout's); empty: left out
  // Credentials: user and pass are sent when user is non-empty, auth_token when non-empty.
  std::string user, pass, auth_token;
  bool tls_required = false;  // the client insists on TLS
  // Whether the server sends this connection the messages it published itself. Echo only ever
  // concerns one connection's own publishes: messages from other connections (other nodes, and
  // this node's other shards, which keep links of their own) arrive either way. So false is safe,
  // and saves the server sending a shard back what it published on a channel it also subscribes
  // to; the node must still drop its own messages by kFanoutOriginHeader (they reach its other
  // shards' links). True, the default, keeps that header check the one mechanism, exercised on
  // every publish; the link may choose false as an optimisation.
  bool echo = true;
};

// Appends "CONNECT {json}\r\n". False (nothing appended) if a string field is not valid UTF-8,
// which JSON cannot carry.
bool append_nats_connect(std::string* out, const NatsConnectOptions& options);

// "PING\r\n" and "PONG\r\n".
void append_nats_ping(std::string* out);
void append_nats_pong(std::string* out);

// Whether `subject` is one a client may subscribe to (wildcards allowed) or publish to (no
// wildcards): non-empty '.'-separated tokens, none empty, no byte <= 0x20 or 0x7f (NATS subjects
// end at whitespace; control bytes are refused too); in a publish subject no token is "*" or ">",
// in a subscription ">" may only be the last token (nats-server's IsValidSubject and
// IsValidLiteralSubject, server/sublist.go, with control bytes refused as well).
bool nats_subject_valid(std::string_view subject, bool wildcards_allowed);

// Appends "SUB <subject> <sid>\r\n" (no queue group). False if the subject is not valid for a
// subscription. sid: the client's number for the subscription, echoed in each MSG.
bool append_nats_sub(std::string* out, std::string_view subject, uint64_t sid);

// Appends "UNSUB <sid>\r\n", or "UNSUB <sid> <max_msgs>\r\n" when max_msgs > 0 (the server then
// unsubscribes by itself after that many messages in all).
void append_nats_unsub(std::string* out, uint64_t sid, uint64_t max_msgs = 0);

// One header line of an HPUB: "<name>: <value>". Name: bytes 0x21..0x7e except ':' (ADR-4);
// value: printable ASCII (0x20..0x7e), no leading or trailing space (a reader trims them).
struct NatsHeader {
  std::string_view name;
  std::string_view value;
};

enum class NatsEncodeStatus : uint8_t {
  kOk,
  kInvalidSubject,   // not a valid publish subject (see nats_subject_valid)
  kInvalidHeader,    // header name or value outside what NatsHeader allows
  kPayloadTooLarge,  // header block + payload > max_payload: the server would close the link
};
const char* to_string(NatsEncodeStatus status);

// Appends "PUB <subject> <size>\r\n<payload>\r\n". payload: any bytes (binary-safe). max_payload:
// the server's, from INFO (bytes); a larger payload is kPayloadTooLarge, since nats-server answers
// "-ERR 'Maximum Payload Violation'" and closes the connection.
NatsEncodeStatus append_nats_pub(std::string* out, std::string_view subject,
                                 std::string_view payload, size_t max_payload);

// Appends "HPUB <subject> <hdr> <total>\r\nNATS/1.0\r\n<name>: <value>\r\n\r\n<payload>\r\n", where
// hdr is the header block's size and total = hdr + payload size (protocol doc, "HPUB"). The size
// checked against max_payload is total, as nats-server checks it.
NatsEncodeStatus append_nats_hpub(std::string* out, std::string_view subject, NatsHeader header,
                                  std::string_view payload, size_t max_payload);
// The same frame without its payload and final "\r\n", for a caller that sends the payload from
// where it already is (an iovec); it then sends payload_size bytes and "\r\n".
NatsEncodeStatus append_nats_hpub_prefix(std::string* out, std::string_view subject,
                                         NatsHeader header, size_t payload_size,
                                         size_t max_payload);

// The server's INFO (protocol doc, "INFO"), the fields a client acts on. Absent fields keep these
// defaults.
struct NatsServerInfo {
  std::string server_id, server_name, version;
  int proto = 0;                // 1: the server may send INFO again at any time
  uint64_t max_payload = 0;     // bytes a client may publish in one message (headers included)
  bool headers = false;         // HPUB/HMSG supported
  bool auth_required = false;
  bool tls_required = false;    // the client must start TLS
  bool tls_available = false;   // the client may start TLS
  bool lame_duck_mode = false;  // "ldm": the server is draining; reconnect elsewhere soon
  std::string nonce;            // to sign for nkey/JWT authentication (not used by Fanout yet)
  std::vector<std::string> connect_urls;  // other servers of the cluster, "host:port"
};

// Parses INFO's JSON object. Unknown fields are ignored (servers add fields); a known field of the
// wrong type, or max_payload 0 or negative, is an error. False with *error saying why.
bool parse_nats_info(std::string_view json, NatsServerInfo* out, std::string* error);

// A message's header block, read in place (views into the block, which must outlive it):
// "NATS/1.0[ <status>[ <description>]]\r\n" then "<name>:<value>\r\n" lines, then "\r\n"
// (ADR-4; status lines as nats-server writes them, e.g. "NATS/1.0 503" for no responders).
class NatsHeaders {
 public:
  // Parses `block` (HMSG's first <hdr> bytes). nullopt if it is not a well-formed block: no
  // "NATS/1.0" line, a bad status, a line without ':', a name outside 0x21..0x7e, a value with a
  // bare CR or LF, or no final empty line.
  static std::optional<NatsHeaders> parse(std::string_view block);

  int status() const { return status_; }  // 0 when the status line has none
  std::string_view description() const { return description_; }
  // The first value of header `name`, without surrounding spaces and tabs; nullopt if absent.
  // Names compare case-sensitively: ADR-4 defines header operations so, nats-server looks
  // headers up so (sliceHeader, server/client.go), and the NATS docs tell users to pick one
  // spelling. (HTTP's case-insensitive names do not apply; the node writes its own header with one
  // spelling, kFanoutOriginHeader, and reads it back the same way.)
  std::optional<std::string_view> get(std::string_view name) const;

 private:
  int status_ = 0;
  std::string_view description_;
  std::string_view fields_;  // the "<name>:<value>\r\n" lines
};

}  // namespace fanout
