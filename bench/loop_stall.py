"""Loop stalls from admin commands on a shard holding many channels.

Starts fanoutd (one shard, pinned to CPU 0), subscribes --channels channels on one connection,
then measures, from a probe process on CPU 1 that publishes on a channel of its own and times each
message to its subscriber (one every ~2 ms):
  - the delivery latency with nothing else going on (baseline);
  - the latency while another client runs INFO back to back, and INFO's own round-trip time;
  - the latency while another client runs PUBSUB CHANNELS (which lists every channel), and how
    long that reply took.
A delay of the probe beyond its baseline is loop time the shard spent on the admin command
instead of its other clients; fanoutd's own INFO says it directly (loop_iterations_over_1ms and
loop_busy_max_us, read before and after each phase), where the binary has those fields. With --baseline BINARY the same is measured for another fanoutd
build in the same run, side by side.

usage: /usr/bin/python3 bench/loop_stall.py [--fanoutd BIN] [--baseline BIN] [--channels N]
                                            [--backend epoll|io_uring] [--out FILE]
"""
import argparse
import multiprocessing
import os
import re
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the checkout (tools/pylib)
sys.path.insert(0, os.path.join(ROOT, "tools", "pylib"))
from local_servers import resp_command  # noqa: E402


def read_reply(sock, buf=b""):
    """Reads one small RESP reply (a simple line, an integer, a bulk, or an array of those);
    returns (its bytes, the rest)."""
    def line_end(pos):
        nonlocal buf
        while True:
            end = buf.find(b"\r\n", pos)
            if end >= 0:
                return end
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise EOFError
            buf += chunk

    def value(pos):
        nonlocal buf
        end = line_end(pos)
        kind, n = buf[pos:pos + 1], buf[pos + 1:end]
        pos = end + 2
        if kind in (b"$", b"="):
            n = int(n)
            while n >= 0 and len(buf) < pos + n + 2:
                buf += sock.recv(1 << 20)
            return pos + max(n, -2) + 2
        if kind in (b"*", b">", b"%"):
            for _ in range(max(int(n), 0) * (2 if kind == b"%" else 1)):
                pos = value(pos)
        return pos

    end = value(0)
    return buf[:end], buf[end:]


def read_names(sock):
    """Reads a PUBSUB CHANNELS reply of names without CR or LF, cheaply (the probe shares this
    CPU): N names end after 1 + 2N line ends. Returns N."""
    buf = b""
    while b"\r\n" not in buf:
        buf += sock.recv(1 << 20)
    n = int(buf[1:buf.index(b"\r\n")])
    seen, last = buf.count(b"\r\n"), buf[-1:]
    while seen < 1 + 2 * n:
        chunk = sock.recv(1 << 22)
        if not chunk:
            raise EOFError
        seen += chunk.count(b"\r\n") + (last == b"\r" and chunk[:1] == b"\n")
        last = chunk[-1:]
    return n


def probe(port, stop_at, out):
    """Publishes on "probe" every ~2 ms and times each message to its subscriber."""
    os.sched_setaffinity(0, {1})
    sub = socket.create_connection(("127.0.0.1", port))
    sub.sendall(resp_command("SUBSCRIBE", "probe"))
    _, sbuf = read_reply(sub)
    pub = socket.create_connection(("127.0.0.1", port))
    pbuf = b""
    samples = []
    while time.time() < stop_at:
        t0 = time.perf_counter()
        pub.sendall(resp_command("PUBLISH", "probe", "x"))
        _, sbuf = read_reply(sub, sbuf)
        samples.append((time.time(), (time.perf_counter() - t0) * 1000))
        _, pbuf = read_reply(pub, pbuf)
        time.sleep(0.002)
    out.put(samples)


def subscribe_many(port, n):
    s = socket.create_connection(("127.0.0.1", port))
    batch = 10000
    buf = b""
    for start in range(0, n, batch):
        names = [b"ch:%d" % i for i in range(start, min(n, start + batch))]
        s.sendall(resp_command("SUBSCRIBE", *names))
        # Confirmations: consume them in bulk by counting "subscribe" pushes.
        want = len(names)
        marker = b"$9\r\nsubscribe\r\n"
        while want:
            buf += s.recv(1 << 20)
            cut = buf.rfind(marker)
            if cut < 0:
                continue
            want -= buf.count(marker, 0, cut + len(marker))
            buf = buf[cut + len(marker):]
    return s


def loop_fields(sock):
    """INFO's loop figures (None where the binary lacks them)."""
    sock.sendall(resp_command("INFO", "backend"))
    reply, _ = read_reply(sock)
    fields = {}
    for line in reply.decode(errors="replace").split("\r\n"):
        k, _, v = line.partition(":")
        if v.isdigit():
            fields[k] = int(v)
    return fields.get("loop_iterations_over_1ms"), fields.get("loop_busy_max_us")


def measure(binary, backend, channels, extra=()):
    proc = subprocess.Popen(["taskset", "-c", "0", binary, "--port", "auto", "--shards", "1", "--backend",
                             backend, "--max-channels-per-client", str(channels + 10), "--log-level", "warn",
                             *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        port = int(re.search(r":(\d+)$", line.strip()).group(1))
        os.sched_setaffinity(0, {1})
        holder = subscribe_many(port, channels)
        q = socket.create_connection(("127.0.0.1", port))
        phases = {}
        out = multiprocessing.Queue()
        start = time.time() + 0.5
        stop_at = start + 9
        p = multiprocessing.Process(target=probe, args=(port, stop_at, out))
        p.start()
        time.sleep(start + 1.5 - time.time())
        phases["baseline"] = (time.time() - 1.0, time.time())
        loop = {"start": loop_fields(q)}
        t = time.time()
        info_ms = []
        while time.time() < t + 2.0:
            t0 = time.perf_counter()
            q.sendall(resp_command("INFO"))
            read_reply(q)
            info_ms.append((time.perf_counter() - t0) * 1000)
        phases["INFO"] = (t, time.time())
        loop["INFO"] = loop_fields(q)
        time.sleep(0.3)
        t = time.time()
        chan_ms = []
        listed = 0
        while time.time() < t + 3.0 and len(chan_ms) < 3:
            t0 = time.perf_counter()
            q.sendall(resp_command("PUBSUB", "CHANNELS"))
            listed = read_names(q)
            chan_ms.append((time.perf_counter() - t0) * 1000)
        phases["PUBSUB CHANNELS"] = (t, time.time())
        loop["PUBSUB CHANNELS"] = loop_fields(q)
        samples = out.get(timeout=30)
        p.join()
        holder.close()
        q.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    def during(name):
        a, b = phases[name]
        return [ms for ts, ms in samples if a <= ts <= b]

    return {
        "probe_baseline": during("baseline"),
        "probe_info": during("INFO"),
        "probe_channels": during("PUBSUB CHANNELS"),
        "info_ms": info_ms,
        "channels_ms": chan_ms,
        "listed": listed,
        "loop": loop,
    }


def summary(xs):
    if not xs:
        return "-"
    xs = sorted(xs)
    return (f"p50 {statistics.median(xs):.3f} ms, p99 {xs[int(len(xs) * 0.99) - 1 if len(xs) > 1 else 0]:.3f} ms, "
            f"max {xs[-1]:.3f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fanoutd", default=os.path.join(ROOT, "bazel-bin/tools/fanoutd"))
    ap.add_argument("--baseline", default="")
    ap.add_argument("--channels", type=int, default=1_000_000)
    ap.add_argument("--backend", default="epoll")
    ap.add_argument("--out", default="")
    ap.add_argument("--server-args", default="", help="more fanoutd flags, space-separated")
    a = ap.parse_args()
    lines = [f"# Loop stalls with {a.channels:,} channels on one shard ({a.backend}); times in ms", ""]
    def loop_line(r, phase, before):
        (o0, m0), (o1, m1) = r["loop"][before], r["loop"][phase]
        if o1 is None:
            return "(no loop figures in this build)"
        return (f"{o1 - o0} iterations over 1 ms (longest since start, the subscribing included: "
                f"{m1 / 1000:.1f} ms)")

    for label, binary in [("fanoutd", a.fanoutd)] + ([("baseline", a.baseline)] if a.baseline else []):
        r = measure(binary, a.backend, a.channels, a.server_args.split())
        lines += [
            f"## {label}: {binary}",
            f"- probe delivery, idle:                 {summary(r['probe_baseline'])}",
            f"- probe delivery, during INFO:          {summary(r['probe_info'])}",
            f"- INFO round trip ({len(r['info_ms'])} calls):       {summary(r['info_ms'])}",
            f"- server loop during INFO:              {loop_line(r, 'INFO', 'start')}",
            f"- probe delivery, during PUBSUB CHANNELS: {summary(r['probe_channels'])}",
            f"- PUBSUB CHANNELS round trip ({len(r['channels_ms'])} calls, {r['listed']:,} names): "
            f"{summary(r['channels_ms'])}",
            f"- server loop during PUBSUB CHANNELS:   {loop_line(r, 'PUBSUB CHANNELS', 'INFO')}",
            "",
        ]
        print("\n".join(lines[-9:]), flush=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
