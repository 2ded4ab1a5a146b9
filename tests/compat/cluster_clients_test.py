"""Redis Cluster clients against fanoutd, which answers as a Redis Cluster of one node owning every
slot (net/cluster_commands.cc), with a redis-server in cluster mode given every slot as the
reference:

- the CLUSTER, READONLY and READWRITE replies, byte for byte in RESP2 and RESP3, errors included
  (the node id, the port and the cluster bus port normalised: fanoutd has no bus and says 0);
- ioredis's Redis.Cluster (third_party/node) connects, and SSUBSCRIBE + SPUBLISH and SUBSCRIBE +
  PUBLISH deliver; redis-py's RedisCluster (Debian's 4.3.4) connects, PUBLISH counts, its pubsub()
  SUBSCRIBE delivers, and read_from_replicas (READONLY on every connection) works; redis-cli -c
  SSUBSCRIBE/SPUBLISH and SUBSCRIBE/PUBLISH, and redis-cli --cluster check finds every slot covered;
- on fanoutd alone: over TLS (redis-py and ioredis are told the TLS port and reconnect to it), and
  with --cluster-enabled no, where both clients refuse it as Redis's standalone mode makes them.

usage: cluster_clients_test.py FANOUTD --backend epoll|io_uring --certs-script tools/tls_certs.sh
"""
import argparse
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import redis
from redis.cluster import RedisCluster

import local_servers  # noqa: E402  (tools/pylib, on the path through run_py.sh)
from checks import check, summary  # noqa: E402
from local_servers import free_port, wait_port  # noqa: E402
from local_servers import resp_command as mb  # noqa: E402

HERE = os.path.dirname(os.path.realpath(__file__))


def start_redis_cluster(workdir):
    """redis-server 7.0 in cluster mode, announcing 127.0.0.1 (as fanoutd tells a client on
    loopback), given slots 0-16383; returns once its CLUSTER INFO says ok. Its bus gets a free port
    of its own: by default it is the port + 10000, past 65535 for half the ports free_port() gives
    (the CI run where redis-server did not start)."""
    port = free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                          "no", "--cluster-enabled", "yes", "--cluster-port", str(free_port()), "--cluster-config-file",
                          os.path.join(workdir, "nodes.conf"), "--cluster-announce-ip", "127.0.0.1", "--dir", workdir],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_port(port):
        p.kill()
        raise SystemExit("redis-server (cluster mode) did not start")
    r = redis.Redis(port=port, socket_timeout=5)
    r.execute_command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
    end = time.time() + 15
    while time.time() < end and b"cluster_state:ok" not in r.execute_command("CLUSTER", "INFO"):
        time.sleep(0.05)
    check("redis-server (cluster mode) reaches cluster_state:ok", b"cluster_state:ok" in r.execute_command("CLUSTER", "INFO"))
    r.close()
    return p, port


def read_reply(sock, timeout=5):
    """Reads one whole RESP value (a reply) and returns its bytes."""
    data, end = b"", time.time() + timeout
    while time.time() < end:
        n = value_end(data, 0)
        if n is not None:
            return data[:n]
        sock.settimeout(max(0.01, end - time.time()))
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            break
        if not chunk:
            return data + b"<EOF>"
        data += chunk
    return data + b"<TIMEOUT>"


def value_end(data, i):
    """The offset after the RESP value starting at i, or None while it is incomplete."""
    nl = data.find(b"\r\n", i)
    if nl < 0:
        return None
    kind, head, j = data[i:i + 1], data[i + 1:nl], nl + 2
    if kind in b"$=":
        n = int(head)
        return j if n < 0 else (j + n + 2 if len(data) >= j + n + 2 else None)
    if kind in b"*%~>":
        for _ in range(max(int(head), 0) * (2 if kind == b"%" else 1)):
            j = value_end(data, j)
            if j is None:
                return None
    return j


def normalize(raw, node_id, port):
    """Replaces what legitimately differs between the two servers: the node id, the client port,
    CLUSTER NODES' bus port (fanoutd has no bus: 0), HELLO's server name and version."""
    raw = raw.replace(node_id.encode(), b"I" * 40).replace(node_id.upper().encode(), b"J" * 40)
    raw = raw.replace(b":%d\r\n" % port, b":PORT\r\n")
    raw = re.sub(rb"\$6\r\nserver\r\n\$\d+\r\n\w+\r\n\$7\r\nversion\r\n\$\d+\r\n[\d.]+\r\n", b"SERVER-VERSION", raw)
    raw = re.sub(rb"\$2\r\nid\r\n:\d+", b"$2\r\nid\r\n:N", raw)
    m = re.match(rb"([$=])(\d+)\r\n(.*)\r\n$", raw, re.S)
    if m and b"myself,master" in m.group(3):
        body = re.sub(rb":%d@\d+ " % port, b":PORT@BUS ", m.group(3))
        raw = m.group(1) + b"%d\r\n" % len(body) + body + b"\r\n"
    return raw


def sequences(node_id):
    """Command sequences (each on a new connection) whose replies must match Redis's."""
    keys = ["123456789", "", "{}", "{", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "{user1000}.following",
            "\xff\x00\x80"]
    return {
        "topology resp2": [("CLUSTER", "SLOTS"), ("CLUSTER", "SHARDS"), ("CLUSTER", "NODES"), ("CLUSTER", "INFO"),
                           ("CLUSTER", "MYID"), ("CLUSTER", "LINKS"), ("cluster", "slots")],
        "topology resp3": [("HELLO", "3"), ("CLUSTER", "SLOTS"), ("CLUSTER", "SHARDS"), ("CLUSTER", "NODES"),
                           ("CLUSTER", "INFO"), ("CLUSTER", "MYID"), ("CLUSTER", "LINKS"),
                           ("CLUSTER", "REPLICAS", node_id), ("CLUSTER", "GETKEYSINSLOT", "0", "5")],
        "keyslot": [("CLUSTER", "KEYSLOT", k) for k in keys],
        "keys and nodes": [("CLUSTER", "COUNTKEYSINSLOT", s) for s in ("0", "16383", "16384", "-1", "x", "01")] +
                          [("CLUSTER", "GETKEYSINSLOT", *a) for a in (("0", "10"), ("0", "-1"), ("16384", "0"),
                                                                     ("x", "1"), ("0", "x"))] +
                          [("CLUSTER", "REPLICAS", node_id), ("CLUSTER", "SLAVES", node_id),
                           ("CLUSTER", "REPLICAS", "nosuch"), ("CLUSTER", "COUNT-FAILURE-REPORTS", node_id),
                           ("CLUSTER", "COUNT-FAILURE-REPORTS", node_id.upper())],
        "errors": [("CLUSTER",), ("CLUSTER", "FOO"), ("CLUSTER", "SLOTS", "x"), ("CLUSTER", "KEYSLOT"),
                   ("CLUSTER", "INFO", "x"), ("CLUSTER", "MEET", "x"), ("READONLY", "x"), ("READONLY",),
                   ("READWRITE",), ("readwrite", "y")],
        "hello says cluster": [("HELLO", "2"), ("HELLO", "3")],
        "subscribed context": [("SUBSCRIBE", "a"), ("CLUSTER", "SLOTS"), ("READONLY",), ("CLUSTER", "NOSUCH"),
                               ("UNSUBSCRIBE",), ("CLUSTER", "KEYSLOT", "a")],
        "multi": [("MULTI",), ("CLUSTER", "KEYSLOT", "foo"), ("CLUSTER", "COUNTKEYSINSLOT", "99999"), ("READONLY",),
                  ("EXEC",)],
    }


def differential(fport, rport):
    def run(port):
        ids = redis.Redis(port=port, socket_timeout=5)
        node_id = ids.execute_command("CLUSTER", "MYID").decode()
        ids.close()
        out = {}
        for name, steps in sequences(node_id).items():
            s = socket.create_connection(("127.0.0.1", port))
            got = []
            for step in steps:
                s.sendall(mb(*[a.encode("latin-1") for a in step]))
                got.append(normalize(read_reply(s), node_id, port))
            s.close()
            out[name] = got
        return out
    got, want = run(fport), run(rport)
    for name in want:
        for i, (g, w) in enumerate(zip(got[name], want[name])):
            check(f"{name} step {i} as redis", g == w, f"\n  fanoutd: {g!r}\n  redis:   {w!r}")


def with_ioredis(port, label, env_extra=None):
    pkg = os.environ.get("FANOUT_NODE_PACKAGE", "")
    modules = os.path.join(os.path.dirname(os.path.realpath(pkg)), "node_modules") if pkg else ""
    if not modules or not os.path.isdir(os.path.join(modules, "ioredis")):
        check(f"{label} ioredis installed (tools/setup.sh)", False, modules)
        return None
    env = dict(os.environ, NODE_PATH=modules, **(env_extra or {}))
    out = subprocess.run(["node", os.path.join(HERE, "cluster_ioredis_check.js"), str(port)], capture_output=True,
                         text=True, timeout=30, env=env)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"errors": [out.stdout + out.stderr]}


def check_ioredis(port, label, env_extra=None):
    r = with_ioredis(port, label, env_extra)
    if r is None:
        return
    check(f"{label} ioredis Cluster connects and pings", r.get("ping") == "PONG", r)
    check(f"{label} ioredis Cluster no errors", not r.get("errors") and not r.get("timeout"), r)
    check(f"{label} ioredis Cluster's one node is the address it used", r.get("nodes") == [f"127.0.0.1:{port}"], r)
    check(f"{label} ioredis ssubscribe + spublish", r.get("sreceivers") == 1 and
          ["smessage", "io-shard", "sharded"] in r.get("messages", []), r)
    check(f"{label} ioredis subscribe + publish", r.get("receivers") == 1 and
          ["message", "io-chan", "plain"] in r.get("messages", []), r)
    check(f"{label} ioredis cluster keyslot", r.get("keyslot") == 3443, r)


def check_redis_py(port, label, **kw):
    rc = RedisCluster(host="127.0.0.1", port=port, socket_timeout=5, **kw)
    nodes = [(n.host, n.port, n.server_type) for n in rc.get_nodes()]
    check(f"{label} redis-py RedisCluster: one primary, the address it used", nodes == [("127.0.0.1", port, "primary")],
          nodes)
    p = rc.pubsub()
    p.subscribe("py-chan")
    m = p.get_message(timeout=5)
    check(f"{label} redis-py RedisCluster pubsub subscribe confirmed", m is not None and m["type"] == "subscribe", m)
    check(f"{label} redis-py RedisCluster publish counts the subscriber", rc.publish("py-chan", "hello") == 1)
    got, end = None, time.time() + 5
    while got is None and time.time() < end:
        got = p.get_message(timeout=0.5)
    check(f"{label} redis-py RedisCluster pubsub delivers", got is not None and got["data"] == b"hello", got)
    p.close()
    check(f"{label} redis-py keyslot (client and server agree)",
          rc.keyslot("{user1000}.following") == 3443 == rc.cluster_keyslot("{user1000}.following"))
    rc.close()
    ro = RedisCluster(host="127.0.0.1", port=port, socket_timeout=5, read_from_replicas=True, **kw)
    check(f"{label} redis-py read_from_replicas (READONLY on connect) pings", ro.ping() is True)
    ro.close()


def read_until(proc, text, timeout=5):
    fd, data, end = proc.stdout.fileno(), b"", time.time() + timeout
    while time.time() < end and text.encode() not in data:
        if not select.select([fd], [], [], max(0.0, end - time.time()))[0]:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def check_redis_cli(port, label):
    cli = ["redis-cli", "-c", "-p", str(port)]
    for sub_cmd, pub_cmd, kind in (("SSUBSCRIBE", "SPUBLISH", "smessage"), ("SUBSCRIBE", "PUBLISH", "message")):
        sub = subprocess.Popen(cli + [sub_cmd, "cli-chan"], stdout=subprocess.PIPE)
        n, end = 0, time.time() + 5
        while n != 1 and time.time() < end:
            out = subprocess.run(cli + [pub_cmd, "cli-chan", "hi"], capture_output=True, text=True, timeout=10)
            n = int(out.stdout.strip() or 0)
            if n != 1:
                time.sleep(0.05)
        check(f"{label} redis-cli -c {pub_cmd} reaches the subscriber", n == 1, n)
        shown = read_until(sub, f"{kind}\ncli-chan\nhi")
        sub.send_signal(signal.SIGINT)
        sub.communicate(timeout=5)
        check(f"{label} redis-cli -c {sub_cmd} shows the {kind}", f"{kind}\ncli-chan\nhi" in shown, shown)
    out = subprocess.run(["redis-cli", "--cluster", "check", f"127.0.0.1:{port}"], capture_output=True, text=True,
                         timeout=20)
    check(f"{label} redis-cli --cluster check: every slot covered",
          out.returncode == 0 and "[OK] All 16384 slots covered." in out.stdout, out.stdout + out.stderr)


def over_tls(binary, backend, certs_script):
    """fanoutd with a plaintext and a TLS port: TLS cluster clients are told the TLS port."""
    d = tempfile.mkdtemp(prefix="fanout-cluster-pki-")
    subprocess.run([certs_script, d], check=True, capture_output=True, timeout=60)
    pki = {n: os.path.join(d, n) for n in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}
    p, plain, tls, _ = local_servers.start_fanoutd_tls(
        binary, backend, ["--tls-cert-file", pki["server.crt"], "--tls-key-file", pki["server.key"],
                          "--tls-ca-cert-file", pki["ca.crt"], "--shards", "2", "--log-level", "warn"])
    try:
        check_redis_py(tls, "fanoutd TLS", ssl=True, ssl_ca_certs=pki["ca.crt"], ssl_certfile=pki["client.crt"],
                       ssl_keyfile=pki["client.key"])
        check_redis_py(plain, "fanoutd beside TLS, plaintext")
        check_ioredis(tls, "fanoutd TLS", {"TLS_CA": pki["ca.crt"], "TLS_CERT": pki["client.crt"],
                                           "TLS_KEY": pki["client.key"]})
    finally:
        p.terminate()
        p.wait(timeout=15)
        shutil.rmtree(d, ignore_errors=True)


def standalone(binary, backend):
    """With --cluster-enabled no, fanoutd is a standalone Redis: what the clients need is gone."""
    p, port, _ = local_servers.start_fanoutd(binary, backend, ["--cluster-enabled", "no", "--log-level", "warn"])
    try:
        try:
            RedisCluster(host="127.0.0.1", port=port, socket_timeout=5)
            refused = "connected"
        except redis.exceptions.RedisClusterException as e:
            refused = str(e)
        check("redis-py RedisCluster needs INFO cluster_enabled:1", "Cluster mode is not enabled" in refused, refused)
        r = with_ioredis(port, "standalone fanoutd") or {}
        errors = " ".join(r.get("errors", []))
        alive = redis.Redis(port=port, socket_timeout=5).ping()
        check("ioredis Cluster needs CLUSTER SLOTS (the server is up, its slots cannot be read)",
              alive and "Failed to refresh slots cache" in errors, r)
    finally:
        p.terminate()
        p.wait(timeout=15)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fanoutd")
    ap.add_argument("--backend", default="epoll")
    ap.add_argument("--certs-script", required=True)
    a = ap.parse_args()
    for tool in ("redis-server", "redis-cli", "node"):
        if not shutil.which(tool):
            raise SystemExit(f"missing {tool}: run tools/setup.sh --test")
    workdir = tempfile.mkdtemp(prefix="fanout-redis-cluster-")
    fproc, fport, _ = local_servers.start_fanoutd(a.fanoutd, a.backend, ["--shards", "2", "--log-level", "warn"])
    rproc, rport = start_redis_cluster(workdir)
    try:
        differential(fport, rport)
        for port, label in ((fport, "fanoutd"), (rport, "redis")):
            check_ioredis(port, label)
            check_redis_py(port, label)
            check_redis_cli(port, label)
        ok, detail = local_servers.deliveries_balanced(fport)
        check("fanoutd delivery accounting adds up", ok, detail)
        fproc.send_signal(signal.SIGTERM)
        check("fanoutd exits 0 on SIGTERM", fproc.wait(timeout=15) == 0)
        over_tls(a.fanoutd, a.backend, a.certs_script)
        standalone(a.fanoutd, a.backend)
    finally:
        for p in (fproc, rproc):
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
