"""The tier's faults (issue 13; the review's and the newcomer's findings), one fanoutd node or two
and one NATS server (or a fake one) on loopback:

  tier_faults_test.py FANOUTD --backend epoll|io_uring

  - a server that stops reading: the link's unsent output is bounded by --upstream-pending-bytes
    (the link is given up and reconnects), so the node's memory stays bounded;
  - credentials: each URL's own user and password go to that server;
  - two nodes given one --upstream-name still get each other's messages, and say so;
  - CLIENT LIST and CLIENT KILL leave the NATS links alone."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from checks import check, summary
from local_servers import free_port, info, start_fanoutd, wait_for, wait_port

FANOUTD = sys.argv[1]
BACKEND = sys.argv[sys.argv.index("--backend") + 1] if "--backend" in sys.argv else "epoll"


def cmd(port, *args):
    s = socket.create_connection(("127.0.0.1", port), 5)
    out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() if isinstance(x, str) else x for x in args))
    s.sendall(out)
    data = b""
    s.settimeout(5)
    while not data.endswith(b"\r\n"):
        data += s.recv(1 << 16)
    s.close()
    return data


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class StalledServer:
    """A fake NATS server: INFO, then PONG to the handshake's PING, then it never reads again."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self.conns.append(c)
            c.sendall(b'INFO {"server_id":"fake","version":"2.9.0","proto":1,"headers":true,"max_payload":1048576}\r\n')
            buf = b""
            c.settimeout(5)
            try:
                while b"PING\r\n" not in buf:
                    buf += c.recv(4096)
                c.sendall(b"PONG\r\n")
            except OSError:
                pass  # then: never read again


def stalled_server():
    fake = StalledServer()
    p, port, _ = start_fanoutd(FANOUTD, BACKEND, ["--shards", "1", "--upstream", f"nats://127.0.0.1:{fake.port}",
                                                  "--upstream-pending-bytes", "1mb"])
    try:
        check("stalled_link_up", wait_for(lambda: int(info(port, "upstream").get("upstream_links_up", 0)) == 1))
        rss0 = rss_kb(p.pid)
        payload = b"x" * 65536
        s = socket.create_connection(("127.0.0.1", port), 5)
        for _ in range(640):  # 40 MiB offered to a server that reads nothing
            s.sendall(b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$65536\r\n" + payload + b"\r\n")
        s.settimeout(10)
        got = b""
        while got.count(b"\r\n") < 640:
            got += s.recv(1 << 16)
        s.close()
        up = info(port, "upstream")
        grown_mb = (rss_kb(p.pid) - rss0) / 1024
        check("stalled_server_link_given_up", int(up.get("upstream_reconnects", "0")) >= 1, str(up))
        # A plain build's figure (the suite is a heavy one: CI runs it plain). Under ASan the
        # quarantine keeps freed memory for a while, and this grows by ~110-125 MB with the bound
        # working; the two checks around it hold there too.
        check("stalled_server_memory_bounded", grown_mb < 20, f"RSS grew {grown_mb:.1f} MB")
        check("stalled_server_oldest_dropped", int(up.get("upstream_pending_dropped", "0")) > 0, str(up))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=15)


def start_nats(tmp, *args):
    port = free_port()
    log = open(os.path.join(tmp, f"nats{port}.log"), "w")
    proc = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(port), *args], stdout=log, stderr=subprocess.STDOUT)
    if not wait_port(port):
        raise SystemExit("nats-server did not start")
    return proc, port


def credentials(tmp):
    # The first URL's server is down; the second's credentials must go to the second.
    nats, nport = start_nats(tmp, "--user", "bob", "--pass", "bobpw")
    dead = free_port()
    p, port, _ = start_fanoutd(FANOUTD, BACKEND, [
        "--shards", "1", "--upstream", f"nats://alice:alicepw@127.0.0.1:{dead},nats://bob:bobpw@127.0.0.1:{nport}"])
    try:
        check("each_urls_own_credentials", wait_for(lambda: int(info(port, "upstream").get("upstream_links_up", 0)) == 1, 15),
              str(info(port, "upstream")))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=15)
        nats.terminate()
        nats.wait(timeout=10)


def name_clash_and_client_kill(tmp):
    nats, nport = start_nats(tmp)
    nodes = [start_fanoutd(FANOUTD, BACKEND, ["--shards", "2", "--upstream", f"nats://127.0.0.1:{nport}",
                                              "--upstream-name", "same"]) for _ in range(2)]
    try:
        ports = [n[1] for n in nodes]
        check("clash_links_up", wait_for(lambda: all(int(info(p, "upstream").get("upstream_links_up", 0)) == 2 for p in ports)))
        sub = socket.create_connection(("127.0.0.1", ports[1]), 5)
        sub.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n")
        sub.settimeout(0.2)
        got = b""

        def arrived():
            nonlocal got
            cmd(ports[0], "PUBLISH", "news", "hello")
            try:
                got += sub.recv(1 << 16)
            except socket.timeout:
                pass
            return b"hello" in got
        check("same_name_messages_still_arrive", wait_for(arrived, 15, 0.1))
        clashes = int(info(ports[1], "upstream").get("upstream_name_clashes", "0"))
        check("same_name_reported", clashes > 0, str(clashes))
        # Logged once per episode: the episode ends once quiet, and a new one is logged again.
        log1 = nodes[1][2]
        count = lambda text: open(log1).read().count(text)
        warned = "uses this node's --upstream-name"
        check("same_name_episode_ends", wait_for(lambda: count("no more messages from another node with this name"), 10))
        before_warnings = count(warned)
        check("same_name_logged_again_in_a_new_episode",
              wait_for(lambda: (cmd(ports[0], "PUBLISH", "news", "again"), count(warned) > before_warnings)[1], 10, 0.2),
              f"{count(warned)} warnings")
        # The links are not clients: CLIENT LIST does not show them, CLIENT KILL does not cut them.
        listing = cmd(ports[0], "CLIENT", "LIST")
        check("client_list_omits_links", listing.count(b"id=") == 1, listing.decode(errors="replace"))
        before = info(ports[0], "upstream").get("upstream_reconnects")
        cmd(ports[0], "CLIENT", "KILL", "TYPE", "normal")
        time.sleep(0.5)
        up = info(ports[0], "upstream")
        check("client_kill_leaves_links", up.get("upstream_reconnects") == before and int(up.get("upstream_links_up", 0)) == 2,
              str(up))
        sub.close()
    finally:
        for p, _, _ in nodes:
            p.send_signal(signal.SIGTERM)
        for p, _, _ in nodes:
            p.wait(timeout=15)
        nats.terminate()
        nats.wait(timeout=10)


def main():
    if shutil.which("nats-server") is None:
        print("SKIPPED: nats-server is not installed (tools/setup.sh installs it)")
        return 0
    tmp = tempfile.mkdtemp(prefix="tier-faults-")
    stalled_server()
    credentials(tmp)
    name_clash_and_client_kill(tmp)
    return summary(f"tier faults ({BACKEND}): ")


if __name__ == "__main__":
    sys.exit(main())
