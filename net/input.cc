// Received bytes -> commands: parsing (zero-copy from the backend's buffer when a read holds whole
// commands), the query-buffer and request-time limits, pausing input while replies are unread,
// and PUBLISHes blocked on a full mailbox.
#include "net/command_util.h"
#include "net/log.h"
#include "net/shard_core.h"
#include "net/socket.h"

namespace fanout {
namespace {

// A client whose unread replies exceed this stops being read until it catches up: request input
// can never grow reply memory without bound.
constexpr size_t kPauseInputBytes = 4u << 20;

}  // namespace

void ShardCore::on_input(Conn* c, const char* data, size_t n) {
  if (c->upstream_link) {
    upstream_input(c, data, n);  // not a client: not in INFO's client figures
    return;
  }
  if (c->http) {
    http_input(c, data, n);  // not a client: not in INFO's client figures
    return;
  }
  stats_->total_net_input_bytes.add(n);
  stats_->total_reads_processed.add();
  // Draining: nothing new is accepted (these bytes were never acknowledged).
  if (c->closing() || c->close_after_flush || shutting_down_) return;
  c->last_input_ms = now_ms_;
  const uint64_t commands_before = c->commands;
  // A TLS ClientHello on the plaintext port (a record of type handshake, version 3.x: RFC 8446
  // section 5.1) would wait as an unfinished inline command until --request-timeout: say so and
  // close now.
  if (!c->tls && c->commands == 0 && c->in.empty() && !c->awaiting_proxy && data[0] == 0x16 &&
      (n == 1 || data[1] == 0x03)) {
    tls_on_plaintext_port(c);
    return;
  }
  if (c->awaiting_proxy) {
    c->in.append(data, n);
    if (take_proxy_header(c) && !c->held()) process_buffered(c);
    if (c->closing()) return;
  } else if (c->in.empty() && !c->held()) {
    size_t used = process(c, data, n);
    if (used < n && !c->closing() && !c->close_after_flush) {
      size_t need = c->parser.bytes_needed();
      if (need > n - used) c->in.reserve(need);
      c->in.append(data + used, n - used);
    }
  } else {
    c->in.append(data, n);
    if (!c->held()) process_buffered(c);
  }
  if (c->in.size() > cfg_.max_query_buffer) {
    close_for_query_buffer(c, c->in.size());
    return;
  }
  // The request clock runs while a command is incomplete, from the read that began it: a
  // pipelining client whose reads end mid-command keeps completing commands and restarts it.
  // Input held while the client waits on this server is not the client's delay.
  if (c->in.empty() || c->held()) {
    c->partial_since_ms = -1;
  } else if (c->partial_since_ms < 0 || c->commands != commands_before) {
    c->partial_since_ms = now_ms_;
  }
  maybe_pause_input(c);
}

bool ShardCore::take_proxy_header(Conn* c) {
  ProxyHeader h;
  std::string why;
  switch (parse_proxy_header(c->in.data(), c->in.size(), &h, &why)) {
    case ProxyParse::kNeedMore:
      return false;  // --request-timeout closes a header that never completes
    case ProxyParse::kError:
      stats_->proxy_headers_refused.add();
      if (refusing_proxy_headers_.hit(now_ms_)) {
        LOG_WARN("closing client: %s (--proxy-protocol; logged once until a quiet second, INFO "
                 "proxy_headers_refused counts them)", why.c_str())
            .field("shard", id_)
            .client(log_client(c));
      }
      close_conn(c, "bad PROXY header");
      c->in.clear();
      return false;
    case ProxyParse::kOk:
      break;
  }
  stats_->proxy_headers_accepted.add();
  if (!h.local) c->addr = proxy_client_endpoint(h);  // LOCAL / UNKNOWN: the balancer itself
  c->in.erase(0, h.length);
  c->awaiting_proxy = false;
  return true;
}

void ShardCore::close_for_query_buffer(Conn* c, size_t bytes) {
  stats_->query_buffer_closes.add();
  LOG_WARN("closing client: a command of %zu bytes or more exceeds --max-query-buffer (%zu)", bytes,
           cfg_.max_query_buffer)
      .field("shard", id_)
      .client(log_client(c))
      .field("bytes", bytes)
      .field("max_query_buffer", cfg_.max_query_buffer);
  close_conn(c, "query buffer limit");
  c->in.clear();
}

void ShardCore::maybe_pause_input(Conn* c) {
  if (!c->paused_for_output && c->out.bytes() > kPauseInputBytes) {
    c->paused_for_output = true;
    set_want_recv(c, false);
  }
}

void ShardCore::process_buffered(Conn* c) {
  size_t used = process(c, c->in.data(), c->in.size());
  c->in.erase(0, used);
}

size_t ShardCore::process(Conn* c, const char* buf, size_t len) {
  size_t off = 0;
  // Once the shard is shutting down nothing more is run, wherever the bytes come from (a read,
  // or commands held behind a reply being built or a blocked PUBLISH): none was acknowledged.
  // Commands already received wait, too, while the client's unread replies are over the pause
  // threshold: a pipeline of commands with large replies cannot grow them without bound.
  while (off < len && !c->closing() && !c->close_after_flush && !c->held() && !c->paused_for_output &&
         !shutting_down_) {
    auto st = c->parser.parse(buf + off, len - off);
    if (st == RequestParser::Status::kNeedMore) break;
    if (st == RequestParser::Status::kError) {
      stats_->protocol_errors.add();
      reply_error(c, sanitize("ERR " + c->parser.error()));
      LOG_DEBUG("protocol error").field("shard", id_).client(log_client(c)).field("error", c->parser.error());
      close_after_reply(c);
      c->in.clear();
      return len;
    }
    // A command larger than the query buffer is refused however its bytes arrived (all in one
    // read, or held between reads until the buffer overflowed).
    if (c->parser.consumed() > cfg_.max_query_buffer) {
      close_for_query_buffer(c, c->parser.consumed());
      return len;
    }
    auto args = c->parser.args();
    ++c->commands;
    stats_->total_commands_processed.add();
    if (!args.empty() && !execute(c, args)) {
      c->parser.reset();
      if (!c->blocked) {
        c->blocked = true;
        blocked_.push_back(c);
        stats_->blocked_on_mailbox.add();
        set_want_recv(c, false);
      }
      break;
    }
    after_command(c);
    off += c->parser.consumed();
    maybe_pause_input(c);
  }
  return off;
}

void ShardCore::after_command(Conn* c) {
  // Redis's resetClient: SKIP lasts one command; CLIENT REPLY SKIP arms it for the next.
  c->reply_skipping = c->reply_skip_next;
  c->reply_skip_next = false;
  c->out.set_replies_muted(c->reply_off || c->reply_skipping);
}

void ShardCore::retry_blocked() {
  // Runs only once a ring a blocked PUBLISH waits on has room (its consumer's pop woke this
  // shard), never by polling; and not at all once shutdown began (those were never
  // acknowledged, and input is no longer read).
  if (blocked_.empty() || shutting_down_) return;
  // The consumer's wake-up is one-shot: if another client of this shard took the slot it made,
  // ask again, or the blocked one would wait for an unrelated wake-up.
  bool room = false;
  for (int d = 0; d < shared_->nshards; ++d) {
    if (!awaiting_space_[d]) continue;
    auto& ring = shared_->ring(id_, d);
    if (ring.free_slots() > 0 || ring.await_space()) room = true;
  }
  if (!room) return;
  std::fill(awaiting_space_.begin(), awaiting_space_.end(), 0);
  retry_soon_ = false;
  std::vector<Conn*> list;
  list.swap(blocked_);
  for (Conn* c : list) {
    if (c->closing()) continue;
    c->blocked = false;
    process_buffered(c);
    resume_input(c);
  }
}

void ShardCore::retry_backoff() {
  if (backoff_.empty() || now_ms_ < backoff_until_ms_) return;
  for (Conn* c : backoff_) mark_pending(c);
  backoff_.clear();
}

void ShardCore::on_sent_resume_input(Conn* c) {
  if (c->paused_for_output && c->out.bytes() <= kPauseInputBytes / 2) {
    c->paused_for_output = false;
    if (c->partial_since_ms >= 0) c->partial_since_ms = now_ms_;  // the pause was ours
    if (!c->held() && !c->in.empty()) process_buffered(c);  // commands that waited for the reader
    resume_input(c);
  }
}

}  // namespace fanout
