// systemd's service notification protocol, spoken directly (sd_notify(3)): a Type=notify service
// tells its manager it is ready (READY=1), what it is doing (STATUS=...) and that it is stopping
// (STOPPING=1) with one datagram per message on the unix socket named by $NOTIFY_SOCKET.
// Written here, not linked from libsystemd: the protocol is one sendto(2), systemd treats it (not
// its C wrapper) as the stable interface, and sd_notify(3)'s Notes have carried a standalone
// reimplementation since 2024 for programs that want nothing else from libsystemd; linking it
// would load libcap, libgcrypt, libgpg-error, liblzma, libzstd and liblz4 into the relay for
// this alone (the path of the 2024 xz backdoor into sshd).
#pragma once

#include <string_view>

namespace fanout {

// Sends `state`, newline-separated assignments such as "READY=1\nSTATUS=listening", to the
// socket in $NOTIFY_SOCKET: a filesystem path ("/run/systemd/notify") or, starting with '@', an
// abstract socket. Returns 1 when sent, 0 when NOTIFY_SOCKET is unset (not run by systemd: there
// is nobody to tell), or -errno (-EAFNOSUPPORT for an address it cannot use, such as vsock:).
// Any thread.
int systemd_notify(std::string_view state);

}  // namespace fanout
