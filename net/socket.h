// Socket helpers: address resolution, the loopback test protected mode and fanout-load share,
// listeners (one per shard with SO_REUSEPORT), accepted-socket options, and address formatting.
// Thin wrappers over the syscalls; errors are returned as text. Thread: any.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <vector>

namespace fanout {

struct ServerConfig;
struct ProxyHeader;

// One resolved socket address.
struct SocketAddress {
  struct sockaddr_storage ss {};
  socklen_t len = 0;
  const struct sockaddr* sa() const { return reinterpret_cast<const struct sockaddr*>(&ss); }
  int family() const { return ss.ss_family; }
};

// Resolves `host` (a numeric IPv4 or IPv6 address, or a name) and `port` for TCP; `passive` for
// binding; `family` AF_UNSPEC, AF_INET or AF_INET6. False with *err ("'1.2.3.4.5' is not a valid
// address or host name: ...").
bool resolve_tcp(const std::string& host, int port, bool passive, std::vector<SocketAddress>* out,
                 std::string* err, int family = AF_UNSPEC);
// One address of a bind list, as Redis's anetTcpServer/anetTcp6Server resolve it: an address
// with a ':' is IPv6, anything else IPv4; "*" is every IPv4 address (0.0.0.0) and "::*" every
// IPv6 one (::). The first address the host resolves to. False with *err.
bool resolve_bind(const std::string& host, int port, SocketAddress* out, std::string* err);
// True for an address on the loopback interface: 127.0.0.0/8, ::1, and the IPv4-mapped
// ::ffff:127.0.0.0/104 (RFC 4291 section 2.5.5.2). Decided on the address itself, never on how a
// name is spelled.
bool is_loopback(const struct sockaddr* sa);
// True if `host` resolves, and every address it resolves to is loopback.
bool is_loopback_host(const std::string& host);

// Binds and listens on `addr`, non-blocking, in an SO_REUSEPORT group so every shard can have its
// own listener. The first listener (`join` false) binds before enabling SO_REUSEPORT, so the bind
// fails if any other socket holds the port, and an ephemeral port is never one that another
// process's reuseport group already uses; the shards' listeners then join it. Returns the fd or
// -1 with *err, and errno saying why (EADDRINUSE, EADDRNOTAVAIL, EAFNOSUPPORT...).
int listen_tcp(const SocketAddress& addr, int backlog, bool join, std::string* err);
// The same for `host`: its first address that can be bound.
int listen_tcp(const std::string& host, int port, int backlog, bool join, std::string* err);
// Listens on a unix socket at `path` (unix(7)), non-blocking, with mode `perm` (0: as the umask
// leaves it). A socket file already there is replaced when nothing accepts on it (a stale one,
// left by a process that died); a live socket, or a file of another kind, is an error (Redis
// unlinks whatever is there: two servers on one path would be a silent mistake). Returns the fd,
// or -1 with *err.
int listen_unix(const std::string& path, uint32_t perm, int backlog, std::string* err);
// Stops a listener for good: the kernel refuses new connections (and resets those not yet
// accepted) instead of completing them into a backlog nobody will accept from.
void stop_listening(int fd);
// The local port of a bound socket.
int local_port(int fd);
// "127.0.0.1:6379" or "[::1]:6379".
std::string format_endpoint(const std::string& host, int port);
// The address as text ("127.0.0.1", "::1").
std::string address_text(const SocketAddress& addr);
// A connected socket's peer (local: its own) address as Redis shows it in CLIENT LIST
// ("127.0.0.1:6379", "[::1]:6379"; anet.c anetFormatAddr), or "?:0" if getpeername(2) or
// getsockname(2) fails.
std::string socket_endpoint(int fd, bool local);
// A connected TCP socket's own address as a cluster node announces it (CLUSTER SLOTS: "127.0.0.1",
// "::1", an IPv4-mapped IPv6 address as its IPv4 address), or empty when it has none (a unix
// socket) or getsockname(2) fails. Thread: any.
std::string socket_local_ip(int fd);
// Options on an accepted socket: TCP_NODELAY (replies and pushes are already batched per
// iteration); TCP keepalive probes after cfg.tcp_keepalive_s idle seconds, as Redis's
// tcp-keepalive, so a peer that vanished without a FIN or RST is found; and TCP_USER_TIMEOUT
// (tcp(7)) of cfg.tcp_user_timeout_ms, so a peer that stops acknowledging data (a link that went
// down mid-stream) is dropped after that long instead of after ~15 minutes of retransmissions.
// 0 turns either off.
void tune_accepted(int fd, const ServerConfig& cfg);
void tune_accepted(int fd, int keepalive_s, int user_timeout_ms);
// Kernel TLS for sending (Linux Documentation/networking/tls.rst): attaches the "tls" upper-layer
// protocol to a connected TCP socket (setsockopt(SOL_TCP, TCP_ULP, "tls"); EEXIST, already there,
// is fine), then gives it the write keys (setsockopt(SOL_TLS, TLS_TX, info, size): `info` is a
// struct tls12_crypto_info_* from <linux/tls.h>). From then on what is sent on fd goes out as TLS
// application-data records the kernel encrypts; receiving is unchanged. Call it only once every
// byte sent before has been handed to the kernel. False with *err naming the option and errno
// (ENOENT: no tls module; ENOTCONN: the connection is closing; ENOMEM): the socket then sends as
// before (a tls ULP without TX keys passes sends through). Thread: any.
bool enable_kernel_tls_tx(int fd, const void* info, size_t size, std::string* err);
// Refuses an accepted socket: a best-effort reply (never blocking), then close.
void refuse_socket(int fd, const char* reply);
// Creates an eventfd for cross-shard wake-ups.
int make_eventfd();
// Adds one to an eventfd (async-signal-safe, any thread).
void signal_eventfd(int fd);

// As Redis's adjustOpenFilesLimit (server.c): raises the soft RLIMIT_NOFILE toward `needed`
// descriptors, up to the hard limit. Returns the soft limit now (UINT64_MAX if unlimited, or if it
// cannot be read). Thread: any.
uint64_t raise_descriptor_limit(uint64_t needed);

// A connected socket's peer IP: *v6 and 4 (IPv4) or 16 (IPv6) bytes in network order into addr.
// False for other families or if getpeername(2) fails. Thread: any.
bool peer_ip(int fd, bool* v6, uint8_t* addr);
// The client a PROXY header names, as CLIENT LIST shows addresses ("10.1.2.3:5555", "[::1]:80",
// "/path:0" for a unix socket, as Redis shows unix clients). Thread: any.
std::string proxy_client_endpoint(const ProxyHeader& h);

}  // namespace fanout
