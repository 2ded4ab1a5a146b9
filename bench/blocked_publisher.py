"""CPU time of a shard whose publisher is blocked on a full shard-to-shard ring.

Starts fanoutd with two shards and finds, by CLIENT INFO's shard field, a
publisher on one shard and two clients on the other: a subscriber of "x", and a holder. The holder
sends one SUBSCRIBE naming --channels channels (all but its last bytes first, so that only running
it is timed), which keeps its shard busy for a while; meanwhile the publisher pipelines PUBLISH x
until the ring to that shard (--mailbox-depth 1024) is full and its PUBLISH waits. Over one
second inside that stall (checked: neither the subscriber nor the holder received anything in
it), the script reads each fanoutd thread's CPU time from /proc/PID/task/*/stat. The busiest
thread is the held shard; the rest (the blocked publisher's shard and the main thread) should use
next to none. With --baseline BINARY another fanoutd build is measured the same way in the same
run, side by side.

usage: /usr/bin/python3 bench/blocked_publisher.py [--fanoutd BIN] [--baseline BIN]
                                                   [--backend epoll|io_uring] [--channels N]
"""
import argparse
import faulthandler
import os
import re
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the checkout (tools/pylib)
sys.path.insert(0, os.path.join(ROOT, "tools", "pylib"))
from local_servers import resp_command  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """{tid: user + system CPU seconds} for every thread of pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (stat 14, 15)
    return out


def client_shard(sock):
    sock.sendall(resp_command("CLIENT", "INFO"))
    buf = b""
    while not buf.endswith(b"\r\n") or buf.count(b"\r\n") < 2:
        buf += sock.recv(4096)
    return int(re.search(rb"shard=(\d+)", buf).group(1))


def connect_on(port, shard, want_other=None, tries=200):
    """A connection to the given shard (or, with want_other, to any shard but that one)."""
    for _ in range(tries):
        s = socket.create_connection(("127.0.0.1", port))
        got = client_shard(s)
        if (want_other is None and got == shard) or (want_other is not None and got != want_other):
            return s, got
        s.close()
    raise SystemExit("could not place a connection on the shard wanted")


def received_nothing(sock):
    sock.setblocking(False)
    try:
        data = sock.recv(1 << 16)
        return False if data else True
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)


def drain(sock, stop):
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            if not sock.recv(1 << 20):
                return
        except socket.timeout:
            pass
        except OSError:
            return


def measure(binary, backend, channels):
    proc = subprocess.Popen([binary, "--port", "auto", "--shards", "2", "--backend", backend,
                             "--mailbox-depth", "1024", "--max-channels-per-client", str(channels + 10),
                             "--log-level", "warn"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stop = threading.Event()
    try:
        port = int(re.search(r":(\d+)$", proc.stdout.readline().strip()).group(1))
        pub, pshard = connect_on(port, 0)
        sub, held = connect_on(port, None, want_other=pshard)
        holder, _ = connect_on(port, held)
        sub.sendall(resp_command("SUBSCRIBE", "x"))
        assert b"subscribe" in sub.recv(4096)
        names = [b"ch:%d" % i for i in range(channels)]
        big = b"".join([b"*%d\r\n$9\r\nSUBSCRIBE\r\n" % (channels + 1)] +
                       [b"$%d\r\n%s\r\n" % (len(n), n) for n in names])
        holder.sendall(big[:-2])
        time.sleep(1.0)  # its bytes are in; the command is not complete yet
        batch = resp_command("PUBLISH", "x", "m") * 20000
        holder.sendall(big[-2:])  # the held shard runs the SUBSCRIBE from here
        time.sleep(0.05)
        pub.sendall(batch)
        time.sleep(0.3)  # the ring fills, the PUBLISH waits
        a = thread_cpu(proc.pid)
        t0 = time.perf_counter()
        time.sleep(1.0)
        b = thread_cpu(proc.pid)
        window = time.perf_counter() - t0
        stalled = received_nothing(sub) and received_nothing(holder)
        used = sorted(((b[t] - a.get(t, 0)) / window for t in b), reverse=True)
        t = threading.Thread(target=drain, args=(holder, stop))
        t.start()
        # Afterwards every PUBLISH is answered: nothing was lost while it waited.
        pub.settimeout(60)
        replies = 0
        buf = b""
        while replies < 20000:
            chunk = pub.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
            replies += buf.count(b"\r\n")
            buf = buf[buf.rfind(b"\r\n") + 2:]
        stop.set()
        t.join()
        return {"held_shard": used[0], "others": sum(used[1:]), "threads": used, "stalled": stalled,
                "replies": replies}
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=30)


def main():
    faulthandler.dump_traceback_later(50, exit=True)
    ap = argparse.ArgumentParser()
    ap.add_argument("--fanoutd", default=os.path.join(ROOT, "bazel-bin/tools/fanoutd"))
    ap.add_argument("--baseline", default="")
    ap.add_argument("--backend", default="epoll")
    ap.add_argument("--channels", type=int, default=1_000_000)
    a = ap.parse_args()
    print(f"# A shard held by one SUBSCRIBE of {a.channels:,} channels; the other shard's publisher "
          f"blocked on the ring to it ({a.backend}). CPU in seconds per second of the stall.")
    for label, binary in [("fanoutd", a.fanoutd)] + ([("baseline", a.baseline)] if a.baseline else []):
        r = measure(binary, a.backend, a.channels)
        note = "" if r["stalled"] else "  (the stall ended inside the window: use more --channels)"
        print(f"- {label}: held shard {r['held_shard']:.2f}, blocked publisher's shard and the rest "
              f"{r['others']:.2f} (threads: {', '.join(f'{x:.2f}' for x in r['threads'])}); "
              f"PUBLISH replies afterwards {r['replies']:,} of 20,000{note}", flush=True)


if __name__ == "__main__":
    main()
