"""fanoutd's metrics endpoint as Prometheus sees it: GET /metrics from a running fanoutd under load
passes `promtool check metrics` (Debian's promtool, unpacked into .tools/ by tools/setup.sh),
counters move by exactly what clients did (N messages published: +N), and GET /healthz turns 503
once a SIGTERM has begun the drain.

usage: metrics_test.py FANOUTD_BINARY [--backend epoll|io_uring]
"""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import local_servers  # noqa: E402  (tools/pylib, put on the path by run_py.sh)
from checks import check, summary  # noqa: E402  (tools/pylib)


def promtool_binary():
    found = shutil.which("promtool")
    if found:
        return found
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    unpacked = os.path.join(root, ".tools", "prometheus", "usr", "bin", "promtool")
    return unpacked if os.path.exists(unpacked) else None


def get(port, path, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read().decode()


def metric_sum(text, name, labels=""):
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        if m and m.group(1) == name and labels in (m.group(2) or ""):
            total += float(m.group(3))
    return total


class Load:
    """Subscribers on a few channels and publishers pipelining PUBLISH until stopped."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.threads = []
        self.published = 0

    def subscriber(self, channel):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(local_servers.resp_command("SUBSCRIBE", channel))
        s.settimeout(0.2)
        while not self.stop.is_set():
            try:
                if not s.recv(65536):
                    break
            except socket.timeout:
                pass
        s.close()

    def publisher(self, channel):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        batch = local_servers.resp_command("PUBLISH", channel, "x" * 100) * 50
        while not self.stop.is_set():
            s.sendall(batch)
            got = 0
            while got < 50:
                got += s.recv(65536).count(b"\r\n")
            self.published += 50
        s.close()

    def __enter__(self):
        for i in range(4):
            self.threads.append(threading.Thread(target=self.subscriber, args=(f"load.{i % 2}",)))
        for i in range(2):
            self.threads.append(threading.Thread(target=self.publisher, args=(f"load.{i}",)))
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)


def under_load(port, mport, promtool):
    with Load(port) as load:
        while load.published < 2000:
            time.sleep(0.02)
        for i in range(5):
            status, headers, body = get(mport, "/metrics")
            check(f"scrape {i}: 200", status == 200, status)
            check(f"scrape {i}: Content-Type of the text format 0.0.4",
                  headers.get("content-type") == "text/plain; version=0.0.4; charset=utf-8", headers)
            r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True, timeout=60)
            check(f"scrape {i}: promtool check metrics passes", r.returncode == 0 and not r.stdout.strip() and
                  not r.stderr.strip(), (r.returncode, r.stdout[-800:], r.stderr[-800:]))
            check(f"scrape {i}: per-shard samples while publishing",
                  metric_sum(body, "fanout_messages_published_total", 'shard="1"') +
                  metric_sum(body, "fanout_messages_published_total", 'shard="0"') > 0)
        print(f"under load: {load.published} messages published; last scrape {len(body)} bytes, "
              f"{sum(1 for l in body.splitlines() if l and not l.startswith('#'))} samples", flush=True)


def counters_move(port, mport):
    """N messages published: the published counter, PUBLISH's calls and its histogram's count
    grow by N; delivered by N per subscriber."""
    n = 500
    sub = socket.create_connection(("127.0.0.1", port), timeout=10)
    sub.sendall(local_servers.resp_command("SUBSCRIBE", "counted"))
    sub.recv(100)
    conn = http.client.HTTPConnection("127.0.0.1", mport, timeout=10)  # kept alive
    _, _, before = get(mport, "/metrics", conn)
    pub = socket.create_connection(("127.0.0.1", port), timeout=10)
    pub.sendall(local_servers.resp_command("PUBLISH", "counted", "m") * n)
    replies = b""
    while replies.count(b"\r\n") < n:
        replies += pub.recv(65536)
    got = b""
    while got.count(b"counted") < n:
        got += sub.recv(65536)
    _, _, after = get(mport, "/metrics", conn)
    publish = 'cmd="publish"'
    for name, labels, want in (("fanout_messages_published_total", "", n),
                               ("fanout_messages_delivered_total", "", n),
                               ("fanout_cmdstat_calls_total", publish, n),
                               ("fanout_command_latency_seconds_count", publish, n)):
        grew = metric_sum(after, name, labels) - metric_sum(before, name, labels)
        check(f"{name}{{{labels}}} grows by {want}", grew == want, grew)
    info = local_servers.info(port, "stats")
    check("and agrees with INFO's sum", metric_sum(after, "fanout_messages_published_total") ==
          int(info["messages_published"]), (metric_sum(after, "fanout_messages_published_total"), info["messages_published"]))
    conn.close()
    sub.close()
    pub.close()


def healthz_while_draining(binary, backend):
    mport = local_servers.free_port()
    p, port, log = local_servers.start_fanoutd(binary, backend, [
        "--shards", "2", "--metrics-port", str(mport), "--shutdown-timeout-ms", "20000", "--client-hard-limit", "64m"])
    try:
        check("healthz 200 while serving", get(mport, "/healthz")[:1] == (200,))
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", port))
        stalled.sendall(local_servers.resp_command("SUBSCRIBE", "held"))
        stalled.recv(100)
        pub = socket.create_connection(("127.0.0.1", port), timeout=10)
        for _ in range(1000):
            pub.sendall(local_servers.resp_command("PUBLISH", "held", b"x" * 16384))
        replies = b""
        while replies.count(b"\r\n") < 1000:
            replies += pub.recv(65536)
        p.send_signal(signal.SIGTERM)
        status = None
        end = time.time() + 10
        while status != 503 and time.time() < end:
            status, _, body = get(mport, "/healthz")
            time.sleep(0.02)
        check("healthz 503 once the drain has begun", status == 503, status)
        stalled.close()  # the drain can finish
        check("the drain exits 0", p.wait(timeout=30) == 0)
        pub.close()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def main():
    binary = sys.argv[1]
    backend = sys.argv[3] if len(sys.argv) > 3 else "epoll"
    promtool = promtool_binary()
    check("promtool is there (tools/setup.sh unpacks Debian's into .tools/)", promtool is not None)
    if promtool:
        bad = subprocess.run([promtool, "check", "metrics"], input="# HELP x a counter\n# TYPE x counter\nx 1\n",
                             capture_output=True, text=True, timeout=60)
        check("promtool refuses what breaks the conventions (a counter without _total)", bad.returncode != 0)
    mport = local_servers.free_port()
    p, port, log = local_servers.start_fanoutd(binary, backend, ["--shards", "2", "--metrics-port", str(mport)])
    try:
        if promtool:
            under_load(port, mport, promtool)
        counters_move(port, mport)
    finally:
        p.send_signal(signal.SIGTERM)
        check("exits 0", p.wait(timeout=30) == 0)
    healthz_while_draining(binary, backend)
    sys.exit(summary())


if __name__ == "__main__":
    main()
