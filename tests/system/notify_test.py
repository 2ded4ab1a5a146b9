"""fanoutd under systemd's notification protocol (sd_notify(3)), with this test as the manager: a
unix datagram socket named by NOTIFY_SOCKET (a path, then an abstract name) receives READY=1 with
a STATUS once fanoutd listens (its "listening on" line already written, a client served), then
STOPPING=1 when SIGTERM begins the drain. A start that fails says why in STATUS, never READY=1;
a NOTIFY_SOCKET nobody listens on does not stop fanoutd from serving.

usage: notify_test.py FANOUTD_BINARY [--backend epoll|io_uring]
"""
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile

import local_servers  # noqa: E402  (tools/pylib, put on the path by run_py.sh)
from checks import check, summary  # noqa: E402  (tools/pylib)


def fields(datagram):
    """A notification's newline-separated KEY=VALUE assignments as a dict."""
    return dict(line.split("=", 1) for line in datagram.decode().split("\n") if "=" in line)


def receive(sock, timeout=15):
    sock.settimeout(timeout)
    try:
        return fields(sock.recv(4096))
    except socket.timeout:
        return {}


def manager_socket(abstract):
    """A bound datagram socket and the NOTIFY_SOCKET value naming it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"fanout-notify-test-{os.getpid()}"
        s.bind("\0" + name)
        return s, "@" + name
    path = os.path.join(tempfile.mkdtemp(prefix="fanout-notify-"), "notify")
    s.bind(path)
    return s, path


def ready_then_stopping(binary, backend, abstract):
    tag = "abstract" if abstract else "path"
    sock, address = manager_socket(abstract)
    env = dict(os.environ, NOTIFY_SOCKET=address)
    p, port, log_path = local_servers.start_fanoutd(binary, backend, ["--shards", "1"], env=env)
    try:
        first = receive(sock)
        check(f"{tag}: READY=1 once listening", first.get("READY") == "1", first)
        check(f"{tag}: with a STATUS naming the address", first.get("STATUS", "").startswith(
            f"listening on 127.0.0.1:{port}: 1 shard(s), {backend} backend"), first)
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"PING\r\n")
        check(f"{tag}: a client is served once READY=1 arrived", c.recv(100) == b"+PONG\r\n")
        c.close()
        p.send_signal(signal.SIGTERM)
        second = receive(sock)
        check(f"{tag}: STOPPING=1 when SIGTERM begins the drain", second.get("STOPPING") == "1", second)
        check(f"{tag}: with a STATUS saying so", second.get("STATUS") == "draining: SIGTERM received", second)
        check(f"{tag}: exits 0", p.wait(timeout=15) == 0)
        check(f"{tag}: nothing else was sent", receive(sock, timeout=0.2) == {})
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        sock.close()


def ready_after_listening_line(binary, backend):
    """READY=1 comes after fanoutd wrote its "listening on" line: when the datagram is read, the
    line is already waiting on fanoutd's stdout."""
    sock, address = manager_socket(False)
    p = subprocess.Popen([binary, "--port", "auto", "--shards", "1", "--backend", backend],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env=dict(os.environ, NOTIFY_SOCKET=address))
    try:
        got = receive(sock)
        if got.get("READY") != "1" and "is not available" in got.get("STATUS", ""):
            print(f"SKIPPED: {backend} backend: {got.get('STATUS')}", flush=True)
            return
        waiting = select.select([p.stdout], [], [], 0)[0]
        line = p.stdout.readline().decode() if waiting else ""
        check("READY=1 comes after the listening line", got.get("READY") == "1" and line.startswith("listening on "),
              (got, line))
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        sock.close()


def failed_start(binary, backend):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    sock, address = manager_socket(False)
    r = subprocess.run([binary, "--port", str(taken.getsockname()[1]), "--shards", "1", "--backend", backend],
                       capture_output=True, text=True, timeout=30, env=dict(os.environ, NOTIFY_SOCKET=address))
    got = receive(sock, timeout=1)
    if "is not available" in r.stderr:
        print(f"SKIPPED: {backend} backend: {r.stderr.strip()}", flush=True)
        return
    check("a failed start exits 1", r.returncode == 1, (r.returncode, r.stderr[-300:]))
    check("and tells the manager why, never READY=1", "READY" not in got and
          got.get("STATUS", "").startswith("cannot start: cannot listen on 127.0.0.1:"), got)
    taken.close()
    sock.close()


def nobody_listening(binary, backend):
    env = dict(os.environ, NOTIFY_SOCKET="/nonexistent/fanout-notify")
    p, port, log_path = local_servers.start_fanoutd(binary, backend, ["--shards", "1"], env=env)
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"PING\r\n")
        check("a NOTIFY_SOCKET nobody listens on: still serves", c.recv(100) == b"+PONG\r\n")
        c.close()
        p.send_signal(signal.SIGTERM)
        check("and exits 0", p.wait(timeout=15) == 0)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def main():
    binary = sys.argv[1]
    backend = sys.argv[3] if len(sys.argv) > 3 else "epoll"
    ready_then_stopping(binary, backend, abstract=False)
    ready_then_stopping(binary, backend, abstract=True)
    ready_after_listening_line(binary, backend)
    failed_start(binary, backend)
    nobody_listening(binary, backend)
    sys.exit(summary())


if __name__ == "__main__":
    main()
