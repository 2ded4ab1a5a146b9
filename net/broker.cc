#include "net/broker.h"

#include <unistd.h>

#include <vector>

#include "net/epoll_backend.h"
#include "net/io_uring_backend.h"
#include "net/log.h"
#include "net/read_file.h"
#include "net/shard.h"
#include "net/socket.h"

namespace fanout {

namespace {

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

Broker::Broker(const ServerConfig& cfg) : cfg_(cfg) {
  nshards_ = cfg_.shards > 0 ? cfg_.shards : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

Broker::~Broker() {
  stop();
  join();
}

// Users: Redis's default user, then the ACL file, then ServerConfig::acl_rules, then --requirepass
// (which sets the default user's password, and so cannot be combined with a file that
// configures the default user).
bool Broker::build_acl(Acl* acl, std::string* err) {
  std::vector<std::string> notes;
  std::string text, why;
  if (!cfg_.aclfile.empty()) {
    if (!read_file(cfg_.aclfile, &text, err)) return false;
    if (!acl->load(text, &why, &notes)) {
      *err = "ACL file " + cfg_.aclfile + ": " + why;
      return false;
    }
  }
  if (!acl->load(cfg_.acl_rules, &why, &notes)) {
    *err = "ACL rules: " + why;
    return false;
  }
  for (const std::string& n : notes) LOG_INFO("ACL: %s", n.c_str());
  if (!cfg_.requirepass.empty()) {
    const AclUser* d = acl->find("default");
    if (!d->nopass || !d->enabled || !d->all_rights) {
      *err = "--requirepass sets the default user's password, but the ACL file configures the default user: set it there";
      return false;
    }
    if (!acl->set_user("default", std::vector<std::string>{"resetpass", ">" + cfg_.requirepass}, err, &notes)) return false;
  }
  if (acl->users() > 1) LOG_INFO("ACL: %zu users", acl->users());
  return true;
}

std::string Broker::endpoint() const { return format_endpoint(cfg_.bind, port_); }

bool Broker::start(std::string* err) {
  Acl acl(server_acl_catalog());
  if (!build_acl(&acl, err)) return false;
  // Redis's protected mode, made strict: a relay open to the network with no password is a
  // mistake far more often than a choice, so it needs saying explicitly.
  const bool open = acl.initial_user() != nullptr;  // clients are signed in without a password
  if (!is_loopback(cfg_.bind) && open && cfg_.protected_mode) {
    *err = "refusing to listen on " + cfg_.bind +
           " without authentication: set --requirepass (or --aclfile with a password for the "
           "default user, or the default user off), or pass --protected-mode=false to serve anyone "
           "who can connect";
    return false;
  }
  if (!is_loopback(cfg_.bind) && open) {
    LOG_WARN("protected mode is off: %s accepts unauthenticated clients from the network", cfg_.bind.c_str());
  }
  shared_ = std::make_unique<SharedState>(cfg_, nshards_, std::move(acl));
  shared_->start_ms = monotonic_ms();
  int port = cfg_.port;
  for (int i = 0; i < nshards_; ++i) {
    int fd = listen_tcp(cfg_.bind, port, 4096, /*join=*/i > 0, err);
    if (fd < 0) return false;
    listen_fds_.push_back(fd);
    if (port == 0) port = local_port(fd);  // the other shards join the same ephemeral port
  }
  port_ = port;
  shared_->port = port;
  for (int i = 0; i < nshards_; ++i) {
    shared_->wake_fds[i] = make_eventfd();
    if (shared_->wake_fds[i] < 0) {
      *err = "eventfd failed";
      return false;
    }
  }
  if (cfg_.backend == "epoll") return start_shards<EpollBackend>(err);
  if (cfg_.backend == "io_uring") return start_shards<IoUringBackend>(err);
  *err = "unknown backend '" + cfg_.backend + "'; use --backend epoll or --backend io_uring";
  return false;
}

template <class Backend>
bool Broker::start_shards(std::string* err) {
  shared_->backend_name = Backend::kName;
  std::vector<Shard<Backend>*> typed;
  for (int i = 0; i < nshards_; ++i) {
    auto s = std::make_unique<Shard<Backend>>(i, shared_.get(), listen_fds_[i]);
    if (!s->init(err)) return false;
    if constexpr (requires { s->backend().setup_description(); }) {
      shared_->backend_setup = s->backend().setup_description();
    }
    typed.push_back(s.get());
    shards_.push_back(std::move(s));
  }
  for (auto* s : typed) threads_.emplace_back([s] { s->run(); });
  return true;
}

void Broker::stop() {
  if (!shared_) return;
  shared_->stopping.store(true, std::memory_order_release);
  for (int fd : shared_->wake_fds) {
    if (fd >= 0) signal_eventfd(fd);
  }
}

void Broker::join() {
  if (joined_) return;
  joined_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Single-threaded teardown: release every connection, then bounce blocks between arenas until
  // each is back with its origin and freed.
  for (auto& s : shards_) s->final_release();
  bool progress = true;
  while (progress) {
    progress = false;
    for (auto& s : shards_) progress |= s->teardown_drain() != 0;
    for (auto& s : shards_) {
      for (int o = 0; o < nshards_; ++o) {
        auto& ret = s->arena().returns(o);
        for (Block* b : ret) shards_[o]->arena().free_returned(b);
        progress |= !ret.empty();
        ret.clear();
      }
    }
  }
  shards_.clear();
  for (int fd : listen_fds_) ::close(fd);
  listen_fds_.clear();
  if (shared_) {
    for (int fd : shared_->wake_fds) {
      if (fd >= 0) ::close(fd);
    }
  }
}

}  // namespace fanout
