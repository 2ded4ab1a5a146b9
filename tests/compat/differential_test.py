"""Differential test: random command sequences against fanoutd and a redis-server it starts,
compared byte for byte.

Each case is a random sequence of steps over 2-5 connections (RESP2 and RESP3, pipelined, some
split mid-command) drawn from the pub/sub, connection, transaction and error-path commands both
servers have. Redis runs the case first; its replies per connection and step are the reference,
and fanoutd's must be the same bytes after normalising only what Redis itself varies (client ids,
the order of a dict walk) and the differences Fanout makes on purpose (KNOWN_DIFFERENCES). A
mismatch is shrunk to a minimal sequence (dropping steps while it still differs) and printed.

Runs for --seconds (bounded in time and in cases), with a seed printed for reproduction.

usage: differential_test.py FANOUTD [--backend epoll|io_uring] [--seconds S] [--seed N]
"""
import argparse
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time

import local_servers
from local_servers import free_port, resp_command as mb, wait_port

# What Fanout answers differently on purpose, in one place (README, "Where Fanout differs"):
# each is a regex replacement applied to both servers' bytes before comparing. The generator
# also leaves out what differs by design rather than by bytes: data commands (Fanout has no
# keys), PUBSUB CHANNELS and CLIENT LIST/KILL inside MULTI (refused: they answer over several
# loop iterations), HELP (lists only what Fanout has).
KNOWN_DIFFERENCES = [
    # HELLO names the server and its version.
    (rb"\$6\r\nserver\r\n\$\d+\r\n\w+\r\n\$7\r\nversion\r\n\$\d+\r\n[\d.]+\r\n", b"SERVER-VERSION"),
    # fanoutd answers as a one-node Redis Cluster (--cluster-enabled, on by default): HELLO's mode.
    (rb"\$4\r\nmode\r\n\$\d+\r\n(cluster|standalone)\r\n", b"MODE"),
]
# What Redis itself varies between runs.
VARIES = [
    (rb"\$2\r\nid\r\n:\d+", b"$2\r\nid\r\n:N"),  # HELLO's client id
]

# Split sends are off here: with them, the reply to a command sent in two parts sometimes came
# after its step's synchronising PINGs on both servers (not yet understood). Splits at every offset
# are covered by the parser tests and tests/compat's "split command" case.
SPLIT = False
CHANNELS = ["a", "b", "c.x", "c.y"]
PATTERNS = ["*", "c.*", "[ab]", "?"]


class Model:
    """What each connection is subscribed to, so the generator avoids commands whose reply order
    Redis leaves to a dict walk (UNSUBSCRIBE or SUNSUBSCRIBE of everything, with more than one)."""

    def __init__(self, n):
        self.channels = [set() for _ in range(n)]
        self.shard = [set() for _ in range(n)]
        self.patterns = [[] for _ in range(n)]
        self.proto = [2] * n
        self.multi = [False] * n
        self.reply_off = [False] * n


def random_command(rng, m, k):
    """One command for connection k, as argument lists, updating the model."""
    ch, pat = rng.choice(CHANNELS), rng.choice(PATTERNS)
    subscribed = m.channels[k] or m.shard[k] or m.patterns[k]
    r = rng.random()
    if m.multi[k] and r < 0.3:
        m.multi[k] = False
        return [rng.choice(["EXEC", "DISCARD"])]
    if r < 0.18:
        names = rng.sample(CHANNELS, rng.randint(1, 2))
        if not m.multi[k]:
            m.channels[k].update(names)
        return ["SUBSCRIBE", *names]
    if r < 0.26:
        if not m.multi[k]:
            m.channels[k].discard(ch)
        return ["UNSUBSCRIBE", ch]
    if r < 0.29 and len(m.channels[k]) <= 1 and not m.multi[k]:
        m.channels[k].clear()
        return ["UNSUBSCRIBE"]
    if r < 0.36:
        if not m.multi[k] and pat not in m.patterns[k]:
            m.patterns[k].append(pat)
        return ["PSUBSCRIBE", pat]
    if r < 0.41:
        if m.multi[k]:
            return ["PUNSUBSCRIBE", pat]
        if rng.random() < 0.4:
            m.patterns[k].clear()
            return ["PUNSUBSCRIBE"]
        if pat in m.patterns[k]:
            m.patterns[k].remove(pat)
        return ["PUNSUBSCRIBE", pat]
    if r < 0.45:
        if not m.multi[k]:
            m.shard[k].add(ch)
        return ["SSUBSCRIBE", ch]
    if r < 0.47 and len(m.shard[k]) <= 1 and not m.multi[k]:
        m.shard[k].clear()
        return ["SUNSUBSCRIBE"]
    if r < 0.62:
        return ["PUBLISH", ch, rng.choice(["m", "", "x" * rng.randint(1, 40), "\r\n*1\r\n"])]
    if r < 0.65:
        return ["SPUBLISH", ch, "s"]
    if r < 0.69:
        # PUBSUB CHANNELS is refused inside MULTI on purpose (KNOWN_DIFFERENCES' note).
        listing = [] if m.multi[k] else [["PUBSUB", "CHANNELS", ch], ["PUBSUB", "CHANNELS", "a", "b"]]
        return rng.choice([["PUBSUB", "NUMSUB", ch, "a"], ["PUBSUB", "NUMPAT"], ["PUBSUB", "SHARDNUMSUB", ch],
                           ["PUBSUB", "NOPE"], *listing])
    if r < 0.74:
        # No data commands (SET, GET): Redis runs them and Fanout, which has no keys, does not know
        # them; in RESP2's subscribed mode both refuse them, which tests/compat checks. A case
        # that depends on that state would not survive shrinking.
        return rng.choice([["PING"], ["PING", "hi"], ["ECHO", "e"], ["ECHO"], ["SELECT", "0"], ["SELECT", "01"],
                           ["CLIENT", "GETNAME"], ["CLIENT", "SETNAME", "n" + str(k)], ["CLIENT", "ID", "x"],
                           ["NOSUCH", "x"], ["CLIENT", "NOPE"], ["AUTH", "a", "b", "c"]])
    if r < 0.78 and not m.multi[k] and not subscribed:
        m.proto[k] = rng.choice([2, 3])
        return ["HELLO", str(m.proto[k])]
    if r < 0.82:
        if m.multi[k]:
            return ["MULTI"]  # nested: an error, the transaction goes on
        m.multi[k] = not (m.proto[k] == 2 and subscribed)
        return ["MULTI"]
    if r < 0.86 and not m.multi[k]:
        mode = rng.choice(["ON", "OFF", "SKIP"])
        return ["CLIENT", "REPLY", mode]
    if r < 0.88 and not m.multi[k]:
        m.channels[k].clear()
        m.shard[k].clear()
        m.patterns[k].clear()
        m.proto[k] = 2
        return ["RESET"]
    return ["PING"]


def random_case(rng):
    n = rng.randint(2, 5)
    m = Model(n)
    steps = []
    for _ in range(rng.randint(5, 40)):
        k = rng.randrange(n)
        cmds = [random_command(rng, m, k) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        data = b"".join(mb(*c) for c in cmds)
        split = rng.randrange(1, len(data)) if SPLIT and rng.random() < 0.15 and len(data) > 1 else None
        steps.append((k, data, split, cmds))
    return n, steps


def run_case(port, n, steps, expect=None, quiet=0.03):
    """Runs the steps on n fresh connections; returns, per step, the bytes each connection got.
    With `expect` (the reference run's), waits until each connection has as many bytes."""
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    # Each step ends with two PINGs, one after the other, on a connection of its own: both servers
    # run one loop here, so the first PONG means the step's commands have run, and the second, a
    # loop iteration later, that the replies they queued were written (a loaded machine made
    # fixed waits miss them).
    sync = socket.create_connection(("127.0.0.1", port))
    sync.settimeout(5)
    # TCP_NODELAY on every connection: a step sent after one that got no reply (CLIENT REPLY OFF)
    # was held back by Nagle until the server's delayed ACK (~40 ms), so it reached the server
    # after the sync PINGs and the next step: a PUBLISH then ran after a later PSUBSCRIBE (CI, seed
    # 867143198). The sync PINGs order only what has been sent.
    for c in conns + [sync]:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for c in conns:
        c.setblocking(False)
    out = []
    try:
        for i, (k, data, split, _) in enumerate(steps):
            if split is None:
                conns[k].sendall(data)
            else:
                conns[k].sendall(data[:split])
                time.sleep(0.002)
                conns[k].sendall(data[split:])
            for _ in range(2):
                sync.sendall(b"*1\r\n$4\r\nPING\r\n")
                pong = b""
                while not pong.endswith(b"+PONG\r\n"):
                    pong += sync.recv(64)
            got = [b""] * n
            want = expect[i] if expect else None
            # Until as many bytes as Redis sent have come (or, without a reference, 30 ms of quiet);
            # missing bytes are waited for 250 ms after the last that came.
            deadline = time.time() + 2.0
            last = time.time()
            while time.time() < deadline:
                progress = False
                for j, c in enumerate(conns):
                    try:
                        d = c.recv(65536)
                        if d:
                            got[j] += d
                            progress = True
                    except BlockingIOError:
                        pass
                    except OSError:
                        pass
                if progress:
                    last = time.time()
                if want and all(len(got[j]) >= len(want[j]) for j in range(n)) and time.time() - last > 0.005:
                    break
                if want and time.time() - last > 0.25:
                    break
                if not want and time.time() - last > quiet:
                    break
                time.sleep(0.001)
            out.append(got)
    finally:
        for c in conns + [sync]:
            c.close()
    return out


def split_frames(b):
    """Top-level RESP values in b (the rest, if incomplete, as one last piece)."""
    def end_of(i):
        nl = b.find(b"\r\n", i)
        if nl < 0:
            return None
        t, line = b[i:i + 1], b[i + 1:nl]
        if t in (b"$", b"=", b"!"):
            n = int(line)
            return nl + 2 if n < 0 else (nl + 2 + n + 2 if nl + 2 + n + 2 <= len(b) else None)
        if t in (b"*", b">", b"~", b"%", b"|"):
            n = int(line) * (2 if t in (b"%", b"|") else 1)
            j = nl + 2
            for _ in range(max(n, 0)):
                j = end_of(j)
                if j is None:
                    return None
            return j
        return nl + 2
    out, i = [], 0
    while i < len(b):
        try:
            j = end_of(i)
        except ValueError:
            j = None
        if j is None:
            out.append(b[i:])
            break
        out.append(b[i:j])
        i = j
    return out


PMESSAGE = re.compile(rb"^[*>]4\r\n\$8\r\npmessage\r\n\$\d+\r\n.*?\r\n(\$\d+\r\n.*)$", re.S)


def normalise(b):
    for pat, rep in KNOWN_DIFFERENCES + VARIES:
        b = re.sub(pat, rep, b)
    # One PUBLISH reaches a client once per matching pattern in the order Redis walks its pattern
    # dict (random per process): sort each run of pmessages of the same channel and payload.
    frames = split_frames(b)
    i = 0
    while i < len(frames):
        m = PMESSAGE.match(frames[i])
        j = i + 1
        while m and j < len(frames) and (PMESSAGE.match(frames[j]) or [None, None])[1] == m.group(1):
            j += 1
        frames[i:j] = sorted(frames[i:j])
        i = j
    return b"".join(frames)


def differs(fport, rport, n, steps):
    """The first (step, connection, redis bytes, fanoutd bytes) that differ, or None."""
    want = run_case(rport, n, steps)
    got = run_case(fport, n, steps, expect=want)
    for i in range(len(steps)):
        for j in range(n):
            if normalise(want[i][j]) != normalise(got[i][j]):
                return i, j, want[i][j], got[i][j]
    return None


def shrink(fport, rport, n, steps, budget_s=60):
    """Drops steps while the case still differs (each attempt on fresh connections), for at most
    budget_s seconds."""
    end = time.time() + budget_s
    changed = True
    while changed and len(steps) > 1 and time.time() < end:
        changed = False
        for i in range(len(steps)):
            trial = steps[:i] + steps[i + 1:]
            if differs(fport, rport, n, trial):
                steps = trial
                changed = True
                break
    return steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fanoutd")
    ap.add_argument("--backend", default="epoll")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--max-cases", type=int, default=2000)
    a = ap.parse_args()
    # One CPU for this process: loopback packets are queued on the sending CPU's backlog, so sends
    # from two CPUs (the thread migrating between a step and its sync PING) can reach the server
    # out of order when the machine is loaded, and the PONG would not mean the step had run.
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is missing: run tools/setup.sh")
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    print(f"differential: seed {seed}, {a.backend}, up to {a.seconds:.0f} s", flush=True)
    rng = random.Random(seed)
    fproc, fport, _ = local_servers.start_fanoutd(a.fanoutd, a.backend, ["--shards", "1", "--log-level", "warn"])
    rport = free_port()
    rproc = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    failures = 0
    cases = steps_run = 0
    try:
        if not wait_port(rport):
            raise SystemExit("redis-server did not start")
        end = time.time() + a.seconds
        while time.time() < end and cases < a.max_cases and failures == 0:
            n, steps = random_case(rng)
            cases += 1
            steps_run += len(steps)
            d = differs(fport, rport, n, steps)
            if d is None:
                continue
            failures += 1
            small = shrink(fport, rport, n, steps)
            d = differs(fport, rport, n, small) or d
            print(f"DIFFERS (case {cases}, {n} connections, shrunk from {len(steps)} to {len(small)} steps):")
            for i, (k, _, split, cmds) in enumerate(small):
                print(f"  step {i}: conn {k}{' split' if split else ''}: {cmds}")
            print(f"  at step {d[0]}, conn {d[1]}:\n    redis:   {d[2]!r}\n    fanoutd: {d[3]!r}")
    finally:
        for p in (fproc, rproc):
            p.kill()
            p.wait()
    print(f"differential: {cases} cases, {steps_run} steps, {failures} differing", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
