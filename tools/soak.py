"""Soak: fanoutd under 10,000 subscribers and a steady publish rate for minutes, its RSS sampled
throughout. Passes when every message arrived (no loss, duplicate or reorder, nothing dropped or
discarded by the server, the delivery accounting balanced) and RSS stayed flat once the
subscribers were connected and warmed up. Bounded: fanout-load stops after --duration, and the
script gives up --duration + 180 s after starting it.

usage: soak.py --fanoutd BIN --load BIN [--subscribers 10000] [--topics 10] [--rate 500]
               [--size 128] [--duration 300] [--backend epoll] [--shards 0] [--out DIR]
Writes DIR/rss.csv (one sample a second) and DIR/load.json, and DIR/rss.png if gnuplot exists.
"""
import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the checkout (tools/pylib)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "pylib"))
import local_servers  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            sys.exit(f"soak: needs {need} file descriptors per process, but the hard limit is {hard} "
                     f"(raise it, or pass fewer --subscribers)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def slope_mib_per_min(samples):
    """Least-squares slope of RSS over time."""
    if len(samples) < 2:
        return 0.0
    ts = [t for t, _ in samples]
    rs = [r / 1024 for _, r in samples]
    mt, mr = statistics.fmean(ts), statistics.fmean(rs)
    var = sum((t - mt) ** 2 for t in ts)
    return 60 * sum((t - mt) * (r - mr) for t, r in zip(ts, rs)) / var if var else 0.0


def plot(csv_path, png_path, title):
    if not shutil.which("gnuplot"):
        return False
    script = (f"set terminal pngcairo size 900,420; set output '{png_path}';"
              f"set title '{title}'; set xlabel 'seconds'; set ylabel 'RSS (MiB)';"
              "set datafile separator ','; set key off; set grid;"
              f"plot '{csv_path}' using 1:($2/1024) skip 1 with lines lw 2")
    return subprocess.run(["gnuplot", "-e", script], capture_output=True).returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fanoutd", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--subscribers", type=int, default=10000)
    ap.add_argument("--topics", type=int, default=10)
    ap.add_argument("--rate", type=float, default=500, help="messages per second, all publishers")
    ap.add_argument("--publishers", type=int, default=2)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--duration", type=float, default=300, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--backend", default="epoll")
    ap.add_argument("--shards", type=int, default=0)
    ap.add_argument("--out", default="/tmp/fanout-soak")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    need = a.subscribers + a.publishers + 256
    raise_fd_limit(need)

    server, port, log_path = local_servers.start_fanoutd(
        a.fanoutd, a.backend, ["--shards", str(a.shards), "--log-level", "warn"])
    csv_path, json_path = os.path.join(a.out, "rss.csv"), os.path.join(a.out, "load.json")
    load_cmd = [a.load, "--port", str(port), "--subscribers", str(a.subscribers), "--topics", str(a.topics),
                "--publishers", str(a.publishers), "--size", str(a.size), "--mode", "open",
                "--rate", str(a.rate), "--duration", str(a.duration), "--warmup", str(a.warmup),
                "--stall-timeout", "30", "--server-pid", str(server.pid), "--json", json_path, "--quiet"]
    failures = []
    samples = []  # (seconds since start, RSS KiB, connected clients)
    try:
        start = time.time()
        load = subprocess.Popen(load_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        connected_at = None
        with open(csv_path, "w") as csv:
            csv.write("seconds,rss_kib,connected_clients,queued_output_bytes\n")
            while load.poll() is None:
                if time.time() - start > a.duration + 180:
                    load.kill()
                    failures.append("fanout-load did not finish in time")
                    break
                t = time.time() - start
                try:
                    f = local_servers.info(port)
                    clients, queued = f.get("connected_clients", 0), f.get("queued_output_bytes", 0)
                except OSError:
                    clients, queued = -1, -1
                r = rss_kib(server.pid)
                samples.append((t, r, clients))
                csv.write(f"{t:.1f},{r},{clients},{queued}\n")
                csv.flush()
                if connected_at is None and clients >= a.subscribers + a.publishers:
                    connected_at = t
                time.sleep(1.0 - (time.time() - start - t) % 1.0)
        out = load.stdout.read()
        print(out, end="")
        if load.returncode != 0:
            failures.append(f"fanout-load exited {load.returncode}")
        r = json.load(open(json_path)) if os.path.exists(json_path) else {}
        for k in ("lost", "duplicated", "reordered", "protocol_errors", "publish_count_mismatches",
                  "failed_connects", "stalled", "closed_by_server"):
            if r.get(k, 0):
                failures.append(f"{k}: {r[k]:.0f}")
        if not r.get("received"):
            failures.append("nothing received")
        final = local_servers.info(port)
        for k in ("dropped_newest", "dropped_oldest", "slow_disconnected", "deliveries_discarded"):
            if final.get(k, 0):
                failures.append(f"server {k}: {final[k]}")
        ok, detail = local_servers.deliveries_balanced(port)
        if not ok:
            failures.append("delivery accounting: " + detail)

        # RSS once everyone is connected and warmed up (plus 2 s for the first publishes).
        if connected_at is None:
            failures.append("the subscribers never all connected")
            steady = []
        else:
            steady = [(t, rss) for t, rss, _ in samples if t >= connected_at + a.warmup + 2]
        if len(steady) >= 6:
            k = max(3, len(steady) // 10)
            base = statistics.median(r for _, r in steady[:k])
            end = statistics.median(r for _, r in steady[-k:])
            peak = max(r for _, r in steady)
            slope = slope_mib_per_min(steady)
            print(f"soak: RSS over {steady[-1][0] - steady[0][0]:.0f} s of steady load: start {base / 1024:.1f} MiB, "
                  f"end {end / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, slope {slope:+.2f} MiB/min "
                  f"({len(steady)} samples)")
            picks = [steady[i * (len(steady) - 1) // 9] for i in range(10)]
            print("soak: RSS MiB at " + ", ".join(f"{t:.0f}s {r / 1024:.1f}" for t, r in picks))
            if end > base * 1.05 + 4096:
                failures.append(f"RSS grew from {base / 1024:.1f} to {end / 1024:.1f} MiB")
            if peak > base * 1.10 + 8192:
                failures.append(f"RSS peaked at {peak / 1024:.1f} MiB from {base / 1024:.1f} MiB")
        else:
            failures.append(f"too few steady RSS samples ({len(steady)})")
        if plot(csv_path, os.path.join(a.out, "rss.png"),
                f"fanoutd RSS, {a.subscribers} subscribers, {a.rate:g} msg/s ({a.backend})"):
            print(f"soak: plot in {os.path.join(a.out, 'rss.png')}")
        print(f"soak: samples in {csv_path}")
        server.send_signal(signal.SIGTERM)
        if server.wait(timeout=30) != 0:
            failures.append(f"fanoutd exited {server.returncode}")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    if failures:
        with open(log_path) as f:
            print("soak: fanoutd log tail:\n" + f.read()[-2000:])
        for x in failures:
            print(f"soak: FAIL {x}")
        return 1
    print(f"soak: PASS ({r.get('published', 0):.0f} published, {r.get('received', 0):.0f} received, 0 lost)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
