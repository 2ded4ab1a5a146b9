// MULTI, EXEC and DISCARD as Redis 7.0 has them (multi.c): commands after MULTI are checked
// (unknown command, arity, authentication, ACL) and queued with +QUEUED; a refused one makes EXEC
// answer EXECABORT; EXEC runs the queue in one go and answers an array of their replies.
// Fanout has no keys, so there is nothing to WATCH; a PUBLISH inside EXEC never waits for ring
// space (the queue is bounded by --max-query-buffer instead), so the transaction runs whole in
// one iteration, and commands that answer over several iterations (PUBSUB CHANNELS and
// SHARDCHANNELS, CLIENT LIST and KILL) are refused while queuing.
#include <string>

#include "core/resp_writer.h"
#include "net/command_util.h"
#include "net/shard_core.h"

namespace fanout {

void ShardCore::cmd_multi(Conn* c) {
  if (c->multi) {
    reply_error(c, "ERR MULTI calls can not be nested");  // not flagged, as in Redis
    return;
  }
  c->multi = std::make_unique<Transaction>();
  resp::simple(c->out, "OK");
}

void ShardCore::cmd_discard(Conn* c) {
  if (!c->multi) {
    reply_error(c, "ERR DISCARD without MULTI");
    return;
  }
  c->multi.reset();
  resp::simple(c->out, "OK");
}

void ShardCore::queue_in_transaction(Conn* c, std::span<const std::string_view> args, bool deferred) {
  if (deferred) {
    reject(c, "ERR Command not allowed inside a transaction");
    return;
  }
  size_t bytes = 0;
  for (std::string_view a : args) bytes += a.size() + sizeof(std::string);
  if (c->multi->bytes + bytes > cfg_.max_query_buffer) {
    reject(c, "ERR MULTI holds more than --max-query-buffer (" + std::to_string(cfg_.max_query_buffer) +
                  " bytes); transaction discarded at EXEC");
    return;
  }
  c->multi->commands.emplace_back(args.begin(), args.end());
  c->multi->bytes += bytes;
  resp::simple(c->out, "QUEUED");
}

void ShardCore::cmd_exec(Conn* c) {
  if (!c->multi) {
    reply_error(c, "ERR EXEC without MULTI");
    return;
  }
  std::unique_ptr<Transaction> t = std::move(c->multi);
  if (t->aborted) {
    reply_error(c, "EXECABORT Transaction discarded because of previous errors.");
    return;
  }
  resp::array(c->out, t->commands.size());
  exec_running_ = true;
  std::vector<std::string_view> args;
  for (const std::vector<std::string>& command : t->commands) {
    args.assign(command.begin(), command.end());
    bool done = execute(c, args, /*queued=*/true);  // a PUBLISH does not wait inside EXEC: always done
    (void)done;
    if (c->closing()) break;
  }
  exec_running_ = false;
  c->last_cmd = "exec";  // CLIENT LIST's cmd=, as Redis shows it after EXEC
}

}  // namespace fanout
