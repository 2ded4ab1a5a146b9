"""fanoutd listening as Redis does, checked with Redis's own client and against redis-server
7.0.15: a --bind list with optional addresses, --unixsocket with --unixsocketperm (redis-cli -s
connects; CLIENT LIST shows the unix clients exactly as redis-server does; CONFIG GET answers
with Redis's names), a stale socket file replaced at start and the file removed at exit, new
clients refused once the drain begins.

usage: listen_test.py FANOUTD_BINARY [--backend epoll|io_uring]
"""
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

import local_servers  # noqa: E402  (tools/pylib, put on the path by run_py.sh)
from checks import check, summary  # noqa: E402  (tools/pylib)


def cli(path, *args):
    r = subprocess.run(["redis-cli", "-s", path, *args], capture_output=True, text=True, timeout=10)
    return r.stdout.strip()


def wait_path(path, timeout=10):
    end = time.time() + timeout
    while not os.path.exists(path) and time.time() < end:
        time.sleep(0.02)
    return os.path.exists(path)


def client_fields(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def start(binary, backend, args):
    """fanoutd with `args` (which name a --unixsocket); returns (proc, the lines it printed up to
    the unix socket's, which comes last of the endpoints, log path)."""
    log = tempfile.NamedTemporaryFile(prefix="fanoutd-", suffix=".log", delete=False)
    p = subprocess.Popen([binary, "--backend", backend, *args], stdout=subprocess.PIPE, stderr=log, text=True)
    log.close()
    path = args[args.index("--unixsocket") + 1]
    lines = []
    while not lines or lines[-1] != f"listening on {path}":
        line = p.stdout.readline()
        if not line:
            raise SystemExit(f"fanoutd did not start: {lines} {open(log.name).read()[-500:]}")
        lines.append(line.strip())
    return p, lines, log.name


def redis_reference(sock_dir):
    """redis-server 7.0.15 on a unix socket: its CLIENT LIST for a plain and a subscribed client."""
    path = os.path.join(sock_dir, "redis.sock")
    r = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", path, "--unixsocketperm", "770",
                          "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_path(path):
            return None
        time.sleep(0.1)
        return listing(path)
    finally:
        r.terminate()
        r.wait(timeout=10)


def listing(path):
    """CLIENT LIST over redis-cli -s while a subscriber is connected: (its fields, the asker's)."""
    sub = socket.socket(socket.AF_UNIX)
    sub.connect(path)
    sub.sendall(local_servers.resp_command("SUBSCRIBE", "news"))
    sub.recv(100)
    lines = cli(path, "CLIENT", "LIST").splitlines()
    sub.close()
    fields = [client_fields(line) for line in lines]
    subscribed = [f for f in fields if f.get("cmd") == "subscribe"]
    asker = [f for f in fields if f.get("cmd") == "client|list"]
    return (subscribed[0] if subscribed else None, asker[0] if asker else None, path)


def unix_socket(binary, backend, sock_dir):
    path = os.path.join(sock_dir, "fanout.sock")
    # A socket file left by a process that died: bound, closed, nobody listening.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    # 192.0.2.1 (TEST-NET-1) is on no interface here; not loopback, so protected mode goes off.
    p, lines, log = start(binary, backend, ["--port", "auto", "--bind", "127.0.0.1 -::1 -192.0.2.1",
                                            "--protected-mode", "no", "--unixsocket", path, "--unixsocketperm", "770", "--shards", "2"])
    try:
        check("the first line is the first --bind address", bool(re.match(r"listening on 127\.0\.0\.1:\d+$", lines[0])),
              lines)
        check("the unix socket is announced", lines[-1] == f"listening on {path}", lines)
        tcp_port = int(lines[0].rsplit(":", 1)[1])
        log_text = open(log).read()
        check("an optional address not on this host is skipped with a warning",
              "--bind: skipping 192.0.2.1" in log_text, log_text[-500:])
        check("the stale socket file was replaced", stat.S_ISSOCK(os.stat(path).st_mode))
        check("--unixsocketperm 770", stat.S_IMODE(os.stat(path).st_mode) == 0o770, oct(os.stat(path).st_mode))
        check("redis-cli -s PING", cli(path, "PING") == "PONG")
        check("CONFIG GET unixsocket", cli(path, "CONFIG", "GET", "unixsocket").splitlines() == ["unixsocket", path])
        check("CONFIG GET unixsocketperm, in octal as Redis shows it",
              cli(path, "CONFIG", "GET", "unixsocketperm").splitlines() == ["unixsocketperm", "770"])
        check("CONFIG GET bind, as given", cli(path, "CONFIG", "GET", "bind").splitlines()[1] == "127.0.0.1 -::1 -192.0.2.1")
        ours = listing(path)
        ref = redis_reference(sock_dir)
        check("redis-server answered", ref is not None and ref[0] is not None)
        if ref and ref[0] and ours[0]:
            for mine, theirs, what in ((ours[0], ref[0], "subscriber"), (ours[1], ref[1], "asker")):
                for field in ("addr", "laddr"):
                    check(f"CLIENT LIST {field} of a unix {what} as redis-server shows it",
                          mine[field] == f"{path}:0" and theirs[field] == f"{ref[2]}:0", (mine[field], theirs[field]))
                check(f"CLIENT LIST flags of a unix {what} as redis-server shows them",
                      mine["flags"] == theirs["flags"], (mine["flags"], theirs["flags"]))
        # TCP clients on the same server stay TCP.
        with socket.create_connection(("127.0.0.1", tcp_port), timeout=5) as s:
            s.sendall(b"CLIENT INFO\r\n")
            info = s.recv(4096).decode()
            check("a TCP client is not flagged U", " flags=N " in info and "laddr=127.0.0.1:" in info, info)
        # A second server may not take over the path while this one serves it.
        r = subprocess.run([binary, "--backend", backend, "--port", "auto", "--unixsocket", path],
                           capture_output=True, text=True, timeout=30)
        check("a live socket is not taken over (exit 1)", r.returncode == 1 and "another process is listening" in r.stderr,
              (r.returncode, r.stderr))
        check("and still serves", cli(path, "PING") == "PONG")

        p.send_signal(signal.SIGTERM)
        check("SIGTERM: exit 0", p.wait(timeout=20) == 0)
        check("the socket file is removed at exit", not os.path.exists(path))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def refused_during_drain(binary, backend, sock_dir):
    """Once the drain begins a new unix client is refused (the last shard shuts the listener)."""
    path = os.path.join(sock_dir, "drain.sock")
    p, lines, log = start(binary, backend, ["--port", "auto", "--unixsocket", path, "--shards", "2",
                                            "--shutdown-timeout-ms", "3000", "--client-hard-limit", "64m"])
    try:
        tcp_port = int(lines[0].rsplit(":", 1)[1])
        # A subscriber that reads nothing holds the drain open.
        stalled = socket.socket(socket.AF_UNIX)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(path)
        stalled.sendall(local_servers.resp_command("SUBSCRIBE", "d"))
        stalled.recv(100)
        pub = socket.create_connection(("127.0.0.1", tcp_port), timeout=10)
        for _ in range(200):
            pub.sendall(local_servers.resp_command("PUBLISH", "d", b"x" * 16384))
        replies = b""
        while replies.count(b"\r\n") < 200:
            replies += pub.recv(65536)
        p.send_signal(signal.SIGTERM)
        end = time.time() + 5
        while "stopping" not in open(log).read() and time.time() < end:
            time.sleep(0.01)
        refused = False
        end = time.time() + 5
        while not refused and time.time() < end:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(1)
                s.connect(path)
                s.sendall(b"PING\r\n")
                refused = s.recv(100) == b""
                s.close()
            except (ConnectionRefusedError, ConnectionResetError, FileNotFoundError):
                refused = True
            except socket.timeout:
                pass
            time.sleep(0.05)
        check("a unix client during the drain is refused", refused)
        check("the drain exits 0", p.wait(timeout=20) == 0)
        stalled.close()
        pub.close()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def refusals(binary, backend, sock_dir):
    not_socket = os.path.join(sock_dir, "plain-file")
    open(not_socket, "w").write("data")
    r = subprocess.run([binary, "--backend", backend, "--port", "auto", "--unixsocket", not_socket],
                       capture_output=True, text=True, timeout=30)
    check("a path that is not a socket is refused (exit 1)",
          r.returncode == 1 and "exists and is not a socket" in r.stderr, (r.returncode, r.stderr))
    check("and left as it was", open(not_socket).read() == "data")
    r = subprocess.run([binary, "--backend", backend, "--port", "auto", "--requirepass", "x", "--bind",
                        "127.0.0.1 192.0.2.1"], capture_output=True, text=True, timeout=30)
    check("an unmarked address not on this host fails the start (exit 1)",
          r.returncode == 1 and "192.0.2.1" in r.stderr, (r.returncode, r.stderr))
    for args, want in ((["--bind", "127.0.0.1 -"], "fanoutd: --bind: '-' must be followed by an address"),
                       (["--bind", ""], "fanoutd: --bind is empty and there is no --unixsocket"),
                       (["--unixsocketperm", "800"], "fanoutd: --unixsocketperm must be an octal mode between 0 and 777"),
                       (["--bind", "127.0.0.1 -0.0.0.0"], "fanoutd: refusing to listen on 0.0.0.0 without authentication")):
        r = subprocess.run([binary, "--backend", backend, "--port", "auto", *args], capture_output=True, text=True, timeout=30)
        check(f"{args}: exit 2", r.returncode == 2 and r.stderr.startswith(want), (r.returncode, r.stderr))


def main():
    binary = sys.argv[1]
    backend = sys.argv[3] if len(sys.argv) > 3 else "epoll"
    with tempfile.TemporaryDirectory(prefix="fanout-listen-", dir="/tmp") as sock_dir:
        p, _, _ = local_servers.start_fanoutd(binary, backend, ["--shards", "1"])  # exits 0 if skipped
        p.terminate()
        p.wait(timeout=20)
        unix_socket(binary, backend, sock_dir)
        refused_during_drain(binary, backend, sock_dir)
        refusals(binary, backend, sock_dir)
    sys.exit(summary())


if __name__ == "__main__":
    main()
