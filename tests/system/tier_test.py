"""The tier (issue 13): three fanoutd nodes, each joined to a different server of a three-server
NATS cluster (routes), all on loopback.

  tier_test.py FANOUTD --backend epoll|io_uring

Checks, each named:
  - delivery: subscribers on every node (channels, patterns, shard channels, a binary name; RESP2
    and RESP3) and publishers on every node: every subscriber gets every matching message exactly
    once per matching subscription, in each publisher's order;
  - PUBLISH answers the local receivers only; a node's own messages are not delivered twice (echo);
  - churn: thousands of channels and patterns subscribed and unsubscribed on every node; after the
    linger the NATS subscriptions of each node's links equal its local interest exactly
    (nats-server's /connz?subs=1);
  - failure: one NATS server killed; its node reconnects to another server of the cluster (it knew
    only the killed one: the others came in INFO's connect_urls), re-subscribes, and delivery
    resumes; nothing published after the recovery is lost or duplicated.
Needs nats-server (Debian's package; tools/setup.sh installs it)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from checks import check, summary
from local_servers import free_port, info, start_fanoutd, wait_for, wait_port

FANOUTD = sys.argv[1]
BACKEND = sys.argv[sys.argv.index("--backend") + 1] if "--backend" in sys.argv else "epoll"
NODES = 3
N = 100  # messages per publisher per channel


class Resp:
    """A blocking RESP2/RESP3 client that keeps pushes (message, pmessage, smessage) in order."""

    def __init__(self, port, proto=2):
        self.s = socket.create_connection(("127.0.0.1", port), 5)
        self.buf = b""
        self.pushes = []
        if proto == 3:
            self.call(b"HELLO", b"3")

    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _fill(self):
        d = self.s.recv(1 << 16)
        if not d:
            raise ConnectionError("closed")
        self.buf += d

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b"-", b":", b"_", b"#", b","):
            return rest if t != b":" else int(rest)
        if t in (b"$", b"="):
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if t in (b"*", b">", b"~"):
            return [self.read() for _ in range(int(rest))]
        if t == b"%":
            return [self.read() for _ in range(2 * int(rest))]
        raise ValueError(f"unexpected {line!r}")

    def call(self, *args):
        self.send(*args)
        while True:
            v = self.read()
            if isinstance(v, list) and v and v[0] in (b"message", b"pmessage", b"smessage"):
                self.pushes.append(v)
                continue
            return v

    def subscribe(self, verb, *names):
        self.send(verb, *names)
        for _ in names:
            self.read()

    def drain(self, until, timeout=20):
        """Reads pushes until until(self.pushes) is true or timeout s pass."""
        end = time.time() + timeout
        self.s.settimeout(0.2)
        try:
            while not until(self.pushes) and time.time() < end:
                try:
                    v = self.read()
                except socket.timeout:
                    continue
                if isinstance(v, list) and v and v[0] in (b"message", b"pmessage", b"smessage"):
                    self.pushes.append(v)
        finally:
            self.s.settimeout(5)
        return until(self.pushes)


def nats_cluster(tmp):
    """Three nats-servers joined by routes, each with a monitoring port."""
    ports = [(free_port(), free_port(), free_port()) for _ in range(NODES)]
    procs = []
    for i, (client, route, mon) in enumerate(ports):
        routes = ",".join(f"nats://127.0.0.1:{r}" for j, (_, r, _) in enumerate(ports) if j != i)
        log = open(os.path.join(tmp, f"nats{i}.log"), "w")
        procs.append(subprocess.Popen(
            ["nats-server", "-a", "127.0.0.1", "-p", str(client), "-m", str(mon), "--cluster_name", "tier",
             "--cluster", f"nats://127.0.0.1:{route}", "--routes", routes, "-n", f"nats{i}"],
            stdout=log, stderr=subprocess.STDOUT))
    for client, _, mon in ports:
        if not wait_port(client) or not wait_port(mon):
            raise SystemExit("nats-server did not start")
    ok = wait_for(lambda: all(monitor(m, "routez").get("num_routes") == NODES - 1 for _, _, m in ports), 20)
    check("nats_cluster_routes_formed", ok)
    return procs, ports


def monitor(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=2) as r:
            return json.load(r)
    except OSError:
        return {}


def links_up(port):
    i = info(port, "upstream")
    return int(i.get("upstream_links_up", "0")) == int(i.get("upstream_links", "-1"))


def node_subjects(ports, node):
    """The subjects node `node`'s links hold on the cluster's servers (all of them: a link may have
    failed over)."""
    subjects = []
    for _, _, mon in ports:
        for c in monitor(mon, "connz?subs=1&limit=10000").get("connections", []):
            if c.get("name", "").startswith(f"fanoutd node{node} "):
                subjects += c.get("subscriptions_list", [])
    return sorted(subjects)


def main():
    if shutil.which("nats-server") is None:
        print("SKIPPED: nats-server is not installed (tools/setup.sh installs it)")
        return 0
    tmp = tempfile.mkdtemp(prefix="tier-")
    nats, ports = nats_cluster(tmp)
    nodes = []
    try:
        for i in range(NODES):
            p, port, log = start_fanoutd(FANOUTD, BACKEND, [
                "--shards", "2", "--upstream", f"nats://127.0.0.1:{ports[i][0]}", "--upstream-name", f"node{i}",
                "--upstream-linger", "200", "--upstream-ping-interval", "500"])
            nodes.append((p, port, log))
        check("links_up_on_every_node", wait_for(lambda: all(links_up(n[1]) for n in nodes)))
        delivery(nodes)
        churn(nodes, ports)
        failure(nodes, nats, ports)
    finally:
        for p, _, _ in nodes:
            p.send_signal(signal.SIGTERM)
        for p, _, _ in nodes:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        for p in nats:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
    return summary(f"tier ({BACKEND}): ")


CHANNEL = b"news.a"
BINARY = b"bin\x00\xff.x y*>~"
SHARD = b"{room}.7"


def delivery(nodes):
    # On every node: RESP2 subscribers of a channel, a pattern, a binary name and a shard channel;
    # a RESP3 one of the channel and the pattern together (both deliveries expected).
    subs = []
    for i, (_, port, _) in enumerate(nodes):
        a = Resp(port)
        a.subscribe(b"SUBSCRIBE", CHANNEL, BINARY)
        b = Resp(port)
        b.subscribe(b"PSUBSCRIBE", b"news.*", b"bin*")
        c = Resp(port, proto=3)
        c.subscribe(b"SUBSCRIBE", CHANNEL)
        c.subscribe(b"PSUBSCRIBE", b"n?ws.a")
        d = Resp(port)
        d.subscribe(b"SSUBSCRIBE", SHARD)
        subs.append({"a": a, "b": b, "c": c, "d": d})
    pubs = [Resp(port) for _, port, _ in nodes]
    # Interest crosses the cluster asynchronously: warm up until a message from every node reaches
    # every node's channel subscriber.
    def warm():
        for i, p in enumerate(pubs):
            p.call(b"PUBLISH", CHANNEL, b"warm %d" % i)
        for s in subs:
            s["a"].drain(lambda ps: False, timeout=0.1)
        return all({bytes(m[2]).split()[1] for m in s["a"].pushes if m[2].startswith(b"warm")} >= {b"0", b"1", b"2"}
                   for s in subs)
    check("interest_crossed_the_cluster", wait_for(warm, timeout=20, step=0.1))
    time.sleep(0.3)
    for s in subs:
        for k in s:
            s[k].drain(lambda ps: False, timeout=0.2)
            s[k].pushes.clear()
    local_counts = []
    for seq in range(N):
        for i, p in enumerate(pubs):
            local_counts.append(p.call(b"PUBLISH", CHANNEL, b"%d:%d" % (i, seq)))
            p.call(b"PUBLISH", BINARY, b"%d:%d" % (i, seq))
            p.call(b"SPUBLISH", SHARD, b"%d:%d" % (i, seq))
    # PUBLISH counts the local receivers: a, b (news.*), c twice (channel and n?ws.a).
    check("publish_answers_local_receivers", set(local_counts) == {4}, f"{set(local_counts)}")
    want = {  # client -> pushes expected per publisher
        "a": 2 * N, "b": 2 * N, "c": 2 * N, "d": N}
    for i, s in enumerate(subs):
        for k, per in want.items():
            s[k].drain(lambda ps, per=per: len(ps) >= per * NODES, timeout=20)
            s[k].drain(lambda ps: False, timeout=0.3)  # anything extra would show now
            got = s[k].pushes
            check(f"node{i}_{k}_count", len(got) == per * NODES, f"{len(got)} != {per * NODES}")
            # Per (kind, subscription, channel, publisher): 0..N-1 in order, exactly once.
            streams = {}
            for m in got:
                key = tuple(m[:-1])
                node, seq = m[-1].split(b":")
                streams.setdefault(key + (node,), []).append(int(seq))
            ok = all(v == list(range(N)) for v in streams.values())
            check(f"node{i}_{k}_exactly_once_in_order", ok and len(streams) == (per // N) * NODES,
                  f"{ {k2: v[:5] for k2, v in streams.items() if v != list(range(N))} } streams={len(streams)}")
    binary_ok = any(m[1] == BINARY for m in subs[0]["a"].pushes)
    check("binary_channel_name_round_trips", binary_ok)
    for s in subs:
        for c in s.values():
            c.s.close()
    for p in pubs:
        p.s.close()
    echoes = sum(int(info(port, "upstream").get("upstream_echoes_dropped", "0")) for _, port, _ in nodes)
    check("own_echoes_dropped_not_delivered", echoes > 0, f"{echoes}")


def churn(nodes, ports):
    # Every node: 2,000 channels and 500 patterns subscribed, then most unsubscribed again, by
    # clients that stay (a) and by one that leaves (b).
    clients = []
    expected = {}
    for i, (_, port, _) in enumerate(nodes):
        a, b = Resp(port), Resp(port)
        chans = [b"churn.%d.%d" % (i, k) for k in range(2000)]
        pats = [b"p%d.%d.*" % (i, k) for k in range(500)]
        for k in range(0, 2000, 200):
            a.subscribe(b"SUBSCRIBE", *chans[k:k + 200])
        a.subscribe(b"PSUBSCRIBE", *pats)
        b.subscribe(b"SUBSCRIBE", *chans[:300])
        a.subscribe(b"UNSUBSCRIBE", *chans[100:])  # keeps 100; b keeps 300 until it leaves
        a.subscribe(b"PUNSUBSCRIBE", *pats[50:])
        clients.append((a, b))
        expected[i] = ({f"fanout.c.churn.{i}.{k}" for k in range(100)} | {f"fanout.c.p{i}.{k}.>" for k in range(50)})
    for a, b in clients:
        b.s.close()
    # The linger (200 ms) passes, the delivery phase's subscriptions (closed before) are gone too,
    # and each node's links hold its local interest exactly, each subject once.
    for i in range(NODES):
        ok = wait_for(lambda: (lambda have: len(have) == len(set(have)) and set(have) == expected[i])(
            node_subjects(ports, i)), timeout=20, step=0.2)
        have = node_subjects(ports, i)
        check(f"node{i}_upstream_equals_local_interest", ok,
              f"missing {sorted(expected[i] - set(have))[:5]} extra {sorted(set(have) - expected[i])[:5]} "
              f"duplicates {len(have) - len(set(have))}")
    for a, _ in clients:
        a.s.close()


def failure(nodes, nats, ports):
    # Node 0 knows only NATS server 0. Kill it: node 0 fails over to a server the cluster announced.
    _, port0, log0 = nodes[0]
    sub = Resp(port0)
    sub.subscribe(b"SUBSCRIBE", b"after.kill")
    pub = Resp(nodes[1][1])
    check("before_kill_delivery", wait_for(lambda: (pub.call(b"PUBLISH", b"after.kill", b"probe"),
                                                     sub.drain(lambda ps: len(ps) > 0, timeout=0.2))[1], 20, 0.1))
    before = int(info(port0, "upstream").get("upstream_reconnects", "0"))
    nats[0].kill()
    nats[0].wait(timeout=10)
    ok = wait_for(lambda: int(info(port0, "upstream").get("upstream_reconnects", "0")) >= before + 2 and links_up(port0),
                  timeout=30, step=0.2)
    check("node_failed_over_to_another_server", ok, json.dumps(info(port0, "upstream")))
    # Delivery resumes: probe until a message arrives, then count a clean run.
    sub.pushes.clear()
    check("delivery_resumed_after_failover",
          wait_for(lambda: (pub.call(b"PUBLISH", b"after.kill", b"probe"),
                            sub.drain(lambda ps: len(ps) > 0, timeout=0.2))[1], 30, 0.1))
    sub.drain(lambda ps: False, timeout=0.5)
    sub.pushes.clear()
    for seq in range(N):
        pub.call(b"PUBLISH", b"after.kill", b"%d" % seq)
    sub.drain(lambda ps: len(ps) >= N, timeout=20)
    sub.drain(lambda ps: False, timeout=0.3)
    got = [int(m[2]) for m in sub.pushes]
    check("after_failover_exactly_once_in_order", got == list(range(N)), f"{got[:10]}... ({len(got)})")
    audits = int(info(port0, "upstream").get("upstream_audit_repairs", "0"))
    check("audit_found_nothing_lost", audits == 0, f"{audits}")
    sub.s.close()
    pub.s.close()


if __name__ == "__main__":
    sys.exit(main())
