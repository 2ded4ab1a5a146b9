#include "net/broker.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <vector>

#include "net/epoll_backend.h"
#include "net/io_uring_backend.h"
#include "net/log.h"
#include "net/shard.h"
#include "net/socket.h"

namespace fanout {

namespace {

bool fail(std::string* err, StartError* why, StartError kind, std::string text) {
  *err = std::move(text);
  if (why) *why = kind;
  return false;
}

}  // namespace

namespace {

// The CPUs this process may run on (taskset, cgroups' cpusets), which --shards 0 uses.
int usable_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

Broker::Broker(const ServerConfig& cfg) : cfg_(cfg) {
  nshards_ = cfg_.shards > 0 ? cfg_.shards : usable_cpus();
}

Broker::~Broker() {
  stop();
  join();
}

// As Redis's adjustOpenFilesLimit (server.c): raise the soft descriptor limit up to the hard one
// if --max-clients needs it, else lower --max-clients to what fits, with a warning.
uint64_t Broker::reserved_descriptors() const {
  // Eventfds, rings and logs, the listeners, and the metrics endpoint's connections.
  return 32 + 4 * static_cast<uint64_t>(nshards_) + listeners_.size() +
         (cfg_.metrics_port != 0 ? kMaxHttpConnections : 0);
}

bool Broker::fit_descriptor_limit(std::string* err) {
  const uint64_t reserved = reserved_descriptors();
  const uint64_t needed = cfg_.max_clients + reserved;
  const uint64_t limit = raise_descriptor_limit(needed);
  if (limit >= needed) return true;
  if (limit <= reserved) {
    *err = "the descriptor limit (ulimit -n " + std::to_string(limit) + ") leaves no room for clients";
    return false;
  }
  size_t fits = static_cast<size_t>(limit - reserved);
  LOG_WARN("maxclients lowered from %zu to %zu: the descriptor limit is %llu; raise ulimit -n (the hard limit) "
           "to serve more", cfg_.max_clients, fits, static_cast<unsigned long long>(limit));
  cfg_.max_clients = fits;
  return true;
}

std::string Broker::check_config(const ServerConfig& cfg) {
  if (std::string e = validate_config(cfg); !e.empty()) return e;
  Acl acl(server_acl_catalog());
  std::string source;
  if (std::string e = build_acl(server_acl_catalog(), AclSources{cfg.aclfile, cfg.acl_rules, cfg.requirepass}, nullptr,
                                &acl, &source);
      !e.empty()) {
    return source.empty() ? e : source + ": " + e;
  }
  std::string err;
  if (!ListenerSet::check(cfg, acl.initial_user() != nullptr, &err)) return err;
  if (cfg.tls_port != 0) {
    std::string warning;
    if (!TlsContext::build(cfg, &err, &warning)) return "TLS: " + err;
    if (!warning.empty()) LOG_WARN("TLS: %s", warning.c_str());
  }
  return {};
}

ServerConfig Broker::live_config() const {
  if (!shared_) return cfg_;
  std::lock_guard<std::mutex> lock(shared_->config_mu);
  return shared_->config;
}

std::string Broker::endpoint() const {
  std::vector<std::string> e = listeners_.endpoints(Protocol::kResp);
  return e.empty() ? std::string() : e.front();
}

std::vector<std::string> Broker::endpoints(Protocol protocol) const { return listeners_.endpoints(protocol); }

bool Broker::start(std::string* err, StartError* why) {
  if (why) *why = StartError::kNone;
  if (std::string e = validate_config(cfg_); !e.empty()) return fail(err, why, StartError::kConfig, e);
  // Users: Redis's default user, the ACL file, ServerConfig::acl_rules, then --requirepass (which
  // sets the default user's password, and so cannot be combined with a file that configures the
  // default user otherwise).
  Acl acl(server_acl_catalog());
  const AclSources sources{cfg_.aclfile, cfg_.acl_rules, cfg_.requirepass};
  std::string source;
  if (std::string e = build_acl(server_acl_catalog(), sources, nullptr, &acl, &source); !e.empty()) {
    return fail(err, why, StartError::kConfig, source.empty() ? e : source + ": " + e);
  }
  if (acl.users().size() > 1) LOG_INFO("ACL: %zu users", acl.users().size());
  std::shared_ptr<TlsContext> tls;
  if (cfg_.tls_port != 0) {
    std::string e, warning;
    tls = TlsContext::build(cfg_, &e, &warning);
    if (!tls) return fail(err, why, StartError::kConfig, "TLS: " + e);
    if (!warning.empty()) LOG_WARN("TLS: %s", warning.c_str());
  }
  const bool unauthenticated = acl.initial_user() != nullptr;  // clients are signed in without a password
  bool config_error = false;
  if (!listeners_.open(cfg_, nshards_, unauthenticated, err, &config_error)) {
    return fail(err, why, config_error ? StartError::kConfig : StartError::kSystem, *err);
  }
  if (!fit_descriptor_limit(err)) return fail(err, why, StartError::kSystem, *err);
  port_ = listeners_.port();
  // --port auto and --tls-port auto become the ports the kernel chose: CONFIG GET and CONFIG
  // REWRITE show those, as Redis shows the port it listens on.
  if (cfg_.port == kPortAuto) cfg_.port = port_;
  if (cfg_.tls_port == kPortAuto) cfg_.tls_port = listeners_.tls_port();
  shared_ = std::make_unique<SharedState>(cfg_, nshards_, std::move(acl));
  shared_->reserved_descriptors = reserved_descriptors();
  shared_->start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  {
    std::random_device rd;
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 40; ++i) shared_->run_id += kHex[rd() % 16];
  }
  shared_->port = port_;
  shared_->tls_port = listeners_.tls_port();
  if (!cfg_.upstream.empty()) {
    auto node = std::make_unique<UpstreamNode>();
    std::string e;
    if (!UpstreamNode::build(cfg_, shared_->run_id, node.get(), &e)) return fail(err, why, StartError::kConfig, e);
    std::string servers;
    for (const UpstreamUrl& u : node->urls) servers += (servers.empty() ? "" : ", ") + u.display();
    LOG_INFO("tier: node %s joins through NATS (%s), subjects under \"%s\"; one link per shard", node->name.c_str(),
             servers.c_str(), node->map.prefix().c_str())
        .field("upstream_node", node->name);
    shared_->upstream = std::move(node);
  }
  if (tls) {
    shared_->tls.set(std::move(tls));
    // Kernel TLS needs the kernel's tls module: probed once here; connections are offered it only
    // if it was found (net/tls_kernel.h), so a kernel without it costs nothing per connection.
    shared_->kernel_tls = probe_kernel_tls();
    const char* mode = cfg_.tls_ktls == "no"              ? "records encrypted in userspace (--tls-ktls no)"
                       : shared_->kernel_tls.available ? "records encrypted by the kernel after each handshake "
                                                         "where the cipher allows (kernel TLS), else in userspace"
                                                       : "records encrypted in userspace";
    LOG_INFO("TLS on port %d: certificate %s (valid until %s); %s (kernel TLS: %s)", shared_->tls_port,
             shared_->tls.current()->subject().c_str(), shared_->tls.current()->not_after().c_str(), mode,
             shared_->kernel_tls.detail.c_str())
        .field("tls_port", shared_->tls_port)
        .field("kernel_tls", shared_->kernel_tls.available);
  }
  for (int i = 0; i < nshards_; ++i) {
    shared_->wake_fds[i] = make_eventfd();
    if (shared_->wake_fds[i] < 0) return fail(err, why, StartError::kSystem, "eventfd failed");
  }
  if (cfg_.backend == "io_uring") return start_shards<IoUringBackend>(err, why);
  return start_shards<EpollBackend>(err, why);
}

template <class Backend>
bool Broker::start_shards(std::string* err, StartError* why) {
  shared_->backend_name = Backend::kName;
  std::vector<Shard<Backend>*> typed;
  for (int i = 0; i < nshards_; ++i) {
    if (stop_requested_.load()) return fail(err, why, StartError::kStopped, "stopped during start-up");
    auto s = std::make_unique<Shard<Backend>>(i, shared_.get(), listeners_.for_shard(i));
    if (!s->init(err)) return fail(err, why, StartError::kSystem, *err);
    if constexpr (requires { s->backend().setup_description(); }) {
      shared_->backend_setup = s->backend().setup_description();
    }
    typed.push_back(s.get());
    shards_.push_back(std::move(s));
  }
  for (auto* s : typed) threads_.emplace_back([s] { s->run(); });
  // A stop that raced with start-up either sees running_ (and signals the shards itself) or
  // is seen here (Dekker, seq_cst on both sides).
  running_.store(true);
  if (stop_requested_.load()) signal_shards();
  return true;
}

void Broker::signal_shards() {
  std::lock_guard<std::mutex> lock(signal_mu_);
  if (torn_down_) return;
  shared_->stopping.store(true, std::memory_order_release);
  for (int fd : shared_->wake_fds) {
    if (fd >= 0) signal_eventfd(fd);
  }
}

bool Broker::reload_acl() {
  std::lock_guard<std::mutex> lock(signal_mu_);
  if (!running_.load() || torn_down_ || stop_requested_.load()) return false;
  shared_->acl_reload_requested.store(true);
  signal_eventfd(shared_->wake_fds[0]);
  return true;
}

bool Broker::reload_tls() {
  std::lock_guard<std::mutex> lock(signal_mu_);
  if (!running_.load() || torn_down_ || stop_requested_.load() || shared_->tls_port == 0) return false;
  // The file names as CONFIG SET last left them; the files are read again. config_mu is held
  // through the build and the swap, as CONFIG SET holds it: a reload that began before a CONFIG
  // SET cannot overwrite that CONFIG SET's context with an older one.
  std::lock_guard<std::mutex> config_lock(shared_->config_mu);
  std::string e, warning;
  std::shared_ptr<TlsContext> next = TlsContext::build(shared_->config, &e, &warning);
  if (!next) {
    LOG_ERROR("SIGHUP: the TLS certificate and key stay as they were: reloading failed: %s", e.c_str())
        .field("error", e);
    return true;
  }
  if (!warning.empty()) LOG_WARN("TLS: %s", warning.c_str());
  LOG_INFO("SIGHUP: TLS certificate reloaded: %s (valid until %s); open connections keep theirs",
           next->subject().c_str(), next->not_after().c_str())
      .field("subject", next->subject());
  shared_->tls.set(std::move(next));
  return true;
}

void Broker::stop() {
  stop_requested_.store(true);
  if (running_.load()) signal_shards();
}

uint64_t Broker::undelivered_clients() const {
  return shared_ ? shared_->undelivered.clients.load(std::memory_order_relaxed) : 0;
}

uint64_t Broker::undelivered_bytes() const {
  return shared_ ? shared_->undelivered.bytes.load(std::memory_order_relaxed) : 0;
}

void Broker::join() {
  if (joined_) return;
  joined_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lock(signal_mu_);
  torn_down_ = true;
  std::vector<ShardCore*> shards;
  for (auto& s : shards_) shards.push_back(s.get());
  teardown_shards(shards);
  shards_.clear();
  listeners_.close();
  if (shared_) {
    for (int fd : shared_->wake_fds) {
      if (fd >= 0) ::close(fd);
    }
  }
}

}  // namespace fanout
