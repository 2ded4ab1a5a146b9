"""The Fanout benchmark harness: the same workload against fanoutd (each backend), redis-server
and nats-server, measured side by side in one run.

Each server runs pinned to one core and fanout-load to the other (on this project's 2-core
machines: server on CPU 0, load on CPU 1), restarted for every grid point. Each point runs
--reps times after a warm-up; the table reports medians and the spread (min-max).

Writes, under --out (default results/):
  results.json         every run's raw fanout-load JSON plus the per-point summary
  results.md           the table: deliveries/s, MB/s, p50/p99/p99.9, server CPU per delivery,
                       fanoutd's messages per send and syscalls per 1,000 deliveries, and
                       fanoutd/Redis ratios; then, when both backends ran, epoll and io_uring
                       side by side
  backends.png         server CPU per delivery against subscribers, epoll and io_uring
  throughput_<size>.png  deliveries/s against subscribers, one line per server and backend
  latency.png          latency percentiles at 1,000 subscribers, per server and size

usage: bench/harness.py [--quick] [--reps N] [--duration S] [--out DIR]
                        [--servers fanoutd-epoll,fanoutd-io_uring,redis,nats]
                        [--subscribers 100,1000,5000,10000] [--sizes 64,1024]
                        [--baseline FANOUTD_BINARY] [--tls]
With --baseline, another fanoutd build (say, the previous commit's) runs the same grid as
baseline-epoll and baseline-io_uring (and -2shards where fanoutd-*-2shards runs), and results.md
gets a before/after table: fanoutd against the baseline, side by side in one run.
A fanoutd backend this kernel cannot run (say, io_uring disabled) is skipped with its reason.
A server name ending in -tls (redis-tls, fanoutd-epoll-tls) is that server on a TLS port
(bench/tls_rows.py; certificates from tools/tls_certs.sh in DIR/pki); its "vs redis" ratio is
against redis-tls. --tls runs fanoutd-epoll and redis plain and over TLS at 1,000 subscribers
(unless --servers or --subscribers say otherwise), then TLS handshakes per second against each
TLS server (--handshake-seconds, default 5) with the server's CPU time per handshake.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FANOUTD = os.path.join(ROOT, "bazel-bin/tools/fanoutd")
LOAD = os.path.join(ROOT, "bazel-bin/tools/load/fanout-load")
BASELINE = ""  # --baseline: another fanoutd build, run as baseline-<backend>
sys.dont_write_bytecode = True  # no __pycache__ in the checkout (tools/pylib)
sys.path.insert(0, os.path.join(ROOT, "tools", "pylib"))
from local_servers import free_port, wait_port  # noqa: E402
import tls_rows  # noqa: E402  (bench/, this script's folder)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cpus():
    n = os.cpu_count() or 1
    # Server on the first CPU, load on the rest (with one CPU both share it, and we say so).
    return ("0", "1" if n >= 2 else "0")


class Unavailable(Exception):
    """The server cannot run on this machine (a backend the kernel lacks)."""


class Server:
    """One server process, pinned, on a free loopback port (a TLS port for a -tls name)."""

    def __init__(self, name, server_cpu, pki=None):
        self.name = name
        self.cpu = server_cpu
        self.proc = None
        self.port = None
        self.tls = tls_rows.is_tls(name)
        self.pki = pki

    def start(self):
        self.port = free_port()
        pin = ["taskset", "-c", self.cpu]
        base = tls_rows.plain_name(self.name)
        if base.startswith("fanoutd-") or base.startswith("baseline-"):
            binary = FANOUTD if base.startswith("fanoutd-") else BASELINE
            backend = base.split("-")[1]
            shards = "1"
            if base.endswith("-2shards"):
                shards, pin = "2", []  # two shards use both cores: unpinned, sharing with the load
            cmd = pin + [binary, "--port", str(self.port), "--shards", shards, "--backend", backend,
                         "--log-level", "warn"]
            if self.tls:
                cmd += tls_rows.fanoutd_args(self.pki)
        elif base == "redis":
            cmd = pin + ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                         "--appendonly", "no", "--maxclients", "19000", "--protected-mode", "no"]
            if self.tls:
                cmd = tls_rows.redis_args(cmd, self.port, self.pki)
        elif self.name == "nats":
            cmd = pin + ["nats-server", "-a", "127.0.0.1", "-p", str(self.port)]
        else:
            raise SystemExit(f"unknown server {self.name}")
        self.err = tempfile.TemporaryFile(mode="w+")
        self.out = tempfile.NamedTemporaryFile(mode="w+", prefix="fanout-bench-")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err)
        if not wait_port(self.port):
            self.stop()
            self.err.seek(0)
            why = self.err.read().strip()
            if "is not available" in why:
                raise Unavailable(why)
            if "--tls-port" in why:
                raise Unavailable(f"this fanoutd has no TLS: {why}")
            raise SystemExit(f"{self.name} did not start: {why}")
        if self.tls and base != "redis":
            self.port = tls_rows.fanoutd_tls_port(self.out.name, self.proc)
            if self.port is None:
                self.stop()
                self.err.seek(0)
                raise SystemExit(f"{self.name} did not report a tls:// port: {self.err.read().strip()}")
        # The pid to sample for CPU time is the server itself (taskset execs it).
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "out", None):
            self.out.close()
            self.out = None

    def proto(self):
        return "nats" if self.name == "nats" else "redis"


def run_point(server, subs, size, args, load_cpu, rep_dir, reps=None):
    runs = []
    for rep in (range(args.reps) if reps is None else reps):
        out = os.path.join(rep_dir, f"{server.name}_{subs}_{size}_{rep}.json")
        cmd = ["taskset", "-c", load_cpu, LOAD, "--proto", server.proto(), "--port", str(server.port),
               "--subscribers", str(subs), "--topics", "1", "--publishers", "1", "--size", str(size),
               "--mode", "closed", "--window", str(args.window), "--duration", str(args.duration),
               "--warmup", str(args.warmup), "--connect-rate", "10000", "--quiet", "--json", out,
               "--server-pid", str(server.proc.pid)]
        if server.tls:
            cmd += tls_rows.load_args(server.pki)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration * 10 + 120)
        if p.returncode != 0 or not os.path.exists(out):
            log(f"  run failed ({server.name}, {subs} subs, {size} B): exit {p.returncode}\n{p.stdout}{p.stderr}")
            runs.append({"failed": True, "exit": p.returncode, "output": p.stdout[-2000:]})
            continue
        with open(out) as f:
            runs.append(json.load(f))
    return runs


def summarize(runs):
    ok = [r for r in runs if not r.get("failed")]
    if not ok:
        return {"failed": True}

    def med(key):
        return statistics.median(r[key] for r in ok)

    rates = [r["deliveries_per_second"] for r in ok]
    s = {
        "runs": len(ok),
        "failed_runs": len(runs) - len(ok),
        "deliveries_per_second": med("deliveries_per_second"),
        "deliveries_per_second_min": min(rates),
        "deliveries_per_second_max": max(rates),
        "payload_mb_per_second": med("payload_mb_per_second"),
        "p50_ns": med("latency_p50_ns"),
        "p99_ns": med("latency_p99_ns"),
        "p999_ns": med("latency_p999_ns"),
        "max_ns": med("latency_max_ns"),
        "server_cpu_ns_per_delivery": med("server_cpu_ns_per_delivery"),
        "lost": sum(r["lost"] for r in ok),
        "loader_saturated": any(r["loader_saturated"] for r in ok),
        "backend": ok[0].get("backend", ""),
        "kernel": ok[0].get("kernel", ""),
    }
    # fanoutd's own counters over the measured window (INFO before and after): sends completed
    # (sendmsg calls on epoll, SENDMSG completions on io_uring) and I/O syscalls.
    fan = [r for r in ok if r.get("server_sends", -1) > 0 and r.get("server_messages_delivered", -1) > 0]
    if fan:
        s["messages_per_send"] = statistics.median(r["server_messages_delivered"] / r["server_sends"] for r in fan)
        s["syscalls_per_1k_deliveries"] = statistics.median(
            1000 * r["server_syscalls"] / r["server_messages_delivered"] for r in fan)
    return s


def fmt_rate(v):
    return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.0f} k"


def fmt_ms(ns):
    return f"{ns / 1e6:.1f}" if ns >= 1e6 else f"{ns / 1e6:.2f}"


def write_table(points, args, path):
    lines = []
    lines.append(f"Closed loop, window {args.window}, one topic, one publisher; {args.reps} runs of "
                 f"{args.duration} s per point after {args.warmup} s warm-up; medians (min-max).")
    lines.append("Servers pinned to CPU 0 and fanout-load to CPU 1, except fanoutd-*-2shards, which runs "
                 "two shards on both CPUs, unpinned, sharing them with the load generator.")
    lines.append("")
    lines.append("| size | subscribers | server | deliveries/s (min-max) | MB/s | p50 ms | p99 ms | p99.9 ms | "
                 "server CPU ns/delivery | msgs/send | syscalls/1k deliveries | vs redis | lost |")
    lines.append("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        for subs in args.subscribers:
            for name in args.servers:
                redis = points.get(("redis-tls" if tls_rows.is_tls(name) else "redis", subs, size), {})
                s = points.get((name, subs, size))
                if not s:
                    continue
                if s.get("unavailable"):
                    lines.append(f"| {size} | {subs:,} | {name} | not available here | | | | | | | | | |")
                    continue
                if s.get("failed"):
                    lines.append(f"| {size} | {subs:,} | {name} | failed | | | | | | | | | |")
                    continue
                ratio = ""
                if redis and not redis.get("failed") and name not in ("redis", "redis-tls"):
                    ratio = f"{s['deliveries_per_second'] / redis['deliveries_per_second']:.2f}x"
                mps = f"{s['messages_per_send']:.1f}" if "messages_per_send" in s else ""
                spd = f"{s['syscalls_per_1k_deliveries']:.2f}" if "syscalls_per_1k_deliveries" in s else ""
                sat = " (loader saturated)" if s["loader_saturated"] else ""
                lines.append(
                    f"| {size} | {subs:,} | {name} | {fmt_rate(s['deliveries_per_second'])} "
                    f"({fmt_rate(s['deliveries_per_second_min'])}-{fmt_rate(s['deliveries_per_second_max'])}){sat} | "
                    f"{s['payload_mb_per_second']:.0f} | {fmt_ms(s['p50_ns'])} | {fmt_ms(s['p99_ns'])} | "
                    f"{fmt_ms(s['p999_ns'])} | {s['server_cpu_ns_per_delivery']:.0f} | {mps} | {spd} | {ratio} | {s['lost']} |")
    lines += backend_table(points, args)
    lines += baseline_table(points, args)
    lines += tls_rows.handshake_table(args.handshakes, args.handshake_seconds)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return "\n".join(lines)


def backend_pairs(args):
    """(epoll, io_uring) server names run with the same shard count, e.g. fanoutd-epoll and
    fanoutd-io_uring."""
    pairs = []
    for name in args.servers:
        if name.startswith("fanoutd-epoll"):
            other = name.replace("fanoutd-epoll", "fanoutd-io_uring")
            if other in args.servers:
                pairs.append((name, other))
    return pairs


def backend_table(points, args):
    """epoll and io_uring side by side on the same workload."""
    lines = []
    for ep, ur in backend_pairs(args):
        lines += ["", f"{ep} against {ur} (same workload, same pinning; ratio = io_uring / epoll):", "",
                  "| size | subscribers | deliveries/s epoll | io_uring | ratio | p99 ms epoll | io_uring | "
                  "CPU ns/delivery epoll | io_uring | syscalls/1k deliveries epoll | io_uring | msgs/send epoll | io_uring |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for size in args.sizes:
            for subs in args.subscribers:
                a, b = points.get((ep, subs, size)), points.get((ur, subs, size))
                if not a or not b or a.get("failed") or b.get("failed") or b.get("unavailable"):
                    continue
                lines.append(
                    f"| {size} | {subs:,} | {fmt_rate(a['deliveries_per_second'])} | {fmt_rate(b['deliveries_per_second'])} | "
                    f"{b['deliveries_per_second'] / a['deliveries_per_second']:.2f}x | {fmt_ms(a['p99_ns'])} | {fmt_ms(b['p99_ns'])} | "
                    f"{a['server_cpu_ns_per_delivery']:.0f} | {b['server_cpu_ns_per_delivery']:.0f} | "
                    f"{a.get('syscalls_per_1k_deliveries', 0):.2f} | {b.get('syscalls_per_1k_deliveries', 0):.2f} | "
                    f"{a.get('messages_per_send', 0):.1f} | {b.get('messages_per_send', 0):.1f} |")
    return lines


def baseline_table(points, args):
    """fanoutd against the --baseline build, same workload, same run (ratio = fanoutd / baseline)."""
    lines = []
    for name in args.servers:
        if not name.startswith("fanoutd-") or name.replace("fanoutd-", "baseline-") not in args.servers:
            continue
        base = name.replace("fanoutd-", "baseline-")
        lines += ["", f"{name} against {base} (this build against {BASELINE}; ratio = this / baseline):", "",
                  "| size | subscribers | deliveries/s this | baseline | ratio | p99 ms this | baseline | "
                  "CPU ns/delivery this | baseline |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for size in args.sizes:
            for subs in args.subscribers:
                a, b = points.get((name, subs, size)), points.get((base, subs, size))
                if not a or not b or a.get("failed") or b.get("failed") or a.get("unavailable") or b.get("unavailable"):
                    continue
                lines.append(
                    f"| {size} | {subs:,} | {fmt_rate(a['deliveries_per_second'])} | {fmt_rate(b['deliveries_per_second'])} | "
                    f"{a['deliveries_per_second'] / b['deliveries_per_second']:.2f}x | {fmt_ms(a['p99_ns'])} | "
                    f"{fmt_ms(b['p99_ns'])} | {a['server_cpu_ns_per_delivery']:.0f} | {b['server_cpu_ns_per_delivery']:.0f} |")
    return lines


def plot_backends(points, args, out_dir):
    """Server CPU per delivery against subscribers: one line per backend and size."""
    series = []
    for ep, ur in backend_pairs(args):
        for name in (ep, ur):
            for size in args.sizes:
                rows = [(subs, points[(name, subs, size)]) for subs in args.subscribers
                        if (name, subs, size) in points and not points[(name, subs, size)].get("failed")
                        and not points[(name, subs, size)].get("unavailable")]
                if rows:
                    series.append((f"{name} {size}B", rows))
    if not series:
        return []
    dat = os.path.join(out_dir, "backends.dat")
    with open(dat, "w") as f:
        for title, rows in series:
            f.write(f'"{title}"\n')
            for subs, s in rows:
                f.write(f"{subs} {s['server_cpu_ns_per_delivery']:.1f}\n")
            f.write("\n\n")
    png = os.path.join(out_dir, "backends.png")
    script = f"""
set terminal pngcairo size 900,560 font ",11"
set output "{png}"
set title "Server CPU per delivered message: epoll against io_uring (closed loop, window {args.window})"
set xlabel "subscribers"
set ylabel "server CPU ns per delivery"
set logscale x
set grid
set key outside right
set yrange [0:*]
plot for [i=0:{len(series) - 1}] "{dat}" index i using 1:2 with linespoints lw 2 title columnheader(1)
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return [png]


def plot(points, args, out_dir):
    if not shutil.which("gnuplot"):
        log("gnuplot missing: no plots (tools/setup.sh installs it)")
        return []
    made = []
    for size in args.sizes:
        dat = os.path.join(out_dir, f"throughput_{size}.dat")
        with open(dat, "w") as f:
            for name in args.servers:
                f.write(f'"{name}"\n')
                for subs in args.subscribers:
                    s = points.get((name, subs, size))
                    if s and not s.get("failed") and not s.get("unavailable"):
                        f.write(f"{subs} {s['deliveries_per_second'] / 1e6:.4f} "
                                f"{s['deliveries_per_second_min'] / 1e6:.4f} {s['deliveries_per_second_max'] / 1e6:.4f}\n")
                f.write("\n\n")
        png = os.path.join(out_dir, f"throughput_{size}.png")
        script = f"""
set terminal pngcairo size 900,560 font ",11"
set output "{png}"
set title "Fan-out throughput, {size}-byte payloads (closed loop, window {args.window})"
set xlabel "subscribers"
set ylabel "deliveries per second (millions)"
set logscale x
set grid
set key outside right
set yrange [0:*]
plot for [i=0:{len(args.servers) - 1}] "{dat}" index i using 1:2:3:4 with yerrorlines lw 2 title columnheader(1)
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        made.append(png)
    # Latency percentiles at the grid point closest to 1,000 subscribers.
    subs = min(args.subscribers, key=lambda n: abs(n - 1000))
    dat = os.path.join(out_dir, "latency.dat")
    with open(dat, "w") as f:
        f.write("server p50 p99 p99.9 max\n")
        for size in args.sizes:
            for name in args.servers:
                s = points.get((name, subs, size))
                if s and not s.get("failed") and not s.get("unavailable"):
                    f.write(f'"{name} {size}B" {s["p50_ns"] / 1e6:.3f} {s["p99_ns"] / 1e6:.3f} '
                            f'{s["p999_ns"] / 1e6:.3f} {s["max_ns"] / 1e6:.3f}\n')
    png = os.path.join(out_dir, "latency.png")
    script = f"""
set terminal pngcairo size 900,560 font ",11"
set output "{png}"
set title "Delivery latency at {subs:,} subscribers (closed loop, window {args.window})"
set ylabel "milliseconds"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -30
set grid ytics
set key outside right
plot "{dat}" using 2:xtic(1) title "p50", "" using 3 title "p99", "" using 4 title "p99.9", "" using 5 title "max"
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    made.append(png)
    return made + plot_backends(points, args, out_dir)


def measure_handshakes(args, pki, server_cpu, load_cpu, raw_dir, unavailable):
    """TLS handshakes per second against each TLS server, a fresh server each, into args.handshakes."""
    for name in args.servers:
        if not tls_rows.is_tls(name):
            continue
        if name in unavailable:
            args.handshakes[name] = {"unavailable": unavailable[name]}
            continue
        log(f"{name}: TLS handshakes for {args.handshake_seconds} s")
        srv = Server(name, server_cpu, pki).start()
        try:
            r = tls_rows.measure_handshakes(srv, pki, load_cpu, args.handshake_seconds,
                                            os.path.join(raw_dir, f"{name}_handshakes.json"))
        finally:
            srv.stop()
        args.handshakes[name] = r
        log(f"          {name}: " + (r["failed"] if r.get("failed") else f"{r['handshakes_per_second']:.0f} handshakes/s"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 100 and 1,000 subscribers, one short run each")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--servers", default=None, help="default: fanoutd-epoll,fanoutd-io_uring,redis,nats,"
                    "fanoutd-epoll-2shards,fanoutd-io_uring-2shards (--tls: fanoutd-epoll,fanoutd-epoll-tls,redis,redis-tls)")
    ap.add_argument("--subscribers", default=None, help="default: 100,1000,5000,10000 (--tls: 1000)")
    ap.add_argument("--sizes", default="64,1024")
    ap.add_argument("--out", default=os.path.join(ROOT, "results"))
    ap.add_argument("--baseline", default="", help="another fanoutd binary to run side by side")
    ap.add_argument("--tls", action="store_true", help="plain and TLS rows, then TLS handshakes per second")
    ap.add_argument("--handshake-seconds", type=float, default=5.0)
    args = ap.parse_args()
    if args.servers is None:
        args.servers = ("fanoutd-epoll,fanoutd-epoll-tls,redis,redis-tls" if args.tls else
                        "fanoutd-epoll,fanoutd-io_uring,redis,nats,fanoutd-epoll-2shards,fanoutd-io_uring-2shards")
    if args.subscribers is None:
        args.subscribers = "1000" if args.tls else "100,1000,5000,10000"
    global BASELINE
    BASELINE = os.path.abspath(args.baseline) if args.baseline else ""
    if args.quick:
        args.reps, args.duration, args.warmup = 1, 1.0, 0.5
        args.subscribers = "100,1000" if not args.tls else args.subscribers
    args.servers = [s for s in args.servers.split(",") if s]
    if BASELINE:
        args.servers += [s.replace("fanoutd-", "baseline-") for s in args.servers if s.startswith("fanoutd-")]
    args.subscribers = [int(x) for x in args.subscribers.split(",")]
    args.sizes = [int(x) for x in args.sizes.split(",")]
    for tool in (FANOUTD, LOAD):
        if not os.path.exists(tool):
            raise SystemExit(f"missing {tool}: run bench/run.sh (it builds first)")
    for name, exe in (("redis", "redis-server"), ("nats", "nats-server")):
        if any(tls_rows.plain_name(s) == name for s in args.servers) and not shutil.which(exe):
            raise SystemExit(f"{exe} missing: run tools/setup.sh")
    os.makedirs(args.out, exist_ok=True)
    pki = tls_rows.make_pki(args.out) if any(tls_rows.is_tls(s) for s in args.servers) else None
    args.handshakes = {}
    raw_dir = os.path.join(args.out, "runs")
    os.makedirs(raw_dir, exist_ok=True)
    server_cpu, load_cpu = cpus()
    started = time.time()
    points, raw, unavailable = {}, [], {}
    # Each repetition runs every server once, in turn (a fresh server each time), so that drift in
    # the machine's speed during a run falls on every server alike rather than on whichever ran
    # last.
    for size in args.sizes:
        for subs in args.subscribers:
            runs_of = {name: [] for name in args.servers}
            for rep in range(args.reps):
                for name in args.servers:
                    if name in unavailable:
                        continue
                    log(f"[{time.time() - started:6.0f}s] {name}: {subs} subscribers, {size} B, run {rep + 1}")
                    try:
                        srv = Server(name, server_cpu, pki).start()
                    except Unavailable as e:
                        log(f"          skipped: {e}")
                        unavailable[name] = str(e)
                        continue
                    try:
                        runs_of[name] += run_point(srv, subs, size, args, load_cpu, raw_dir, reps=[rep])
                    finally:
                        srv.stop()
            for name in args.servers:
                if name in unavailable:
                    points[(name, subs, size)] = {"unavailable": unavailable[name]}
                    continue
                s = summarize(runs_of[name])
                points[(name, subs, size)] = s
                raw.append({"server": name, "subscribers": subs, "size": size, "summary": s, "runs": runs_of[name]})
                if not s.get("failed"):
                    log(f"          {name}: {fmt_rate(s['deliveries_per_second'])} deliveries/s, p99 {fmt_ms(s['p99_ns'])} ms")
    if args.tls:
        measure_handshakes(args, pki, server_cpu, load_cpu, raw_dir, unavailable)
    elapsed = time.time() - started
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"parameters": {k: v for k, v in vars(args).items()}, "elapsed_seconds": elapsed,
                   "server_cpu": server_cpu, "load_cpu": load_cpu, "points": raw}, f, indent=1)
    table = write_table(points, args, os.path.join(args.out, "results.md"))
    plots = plot(points, args, args.out)
    print(table)
    print(f"\nwrote {args.out}/results.json, results.md" + "".join(f", {os.path.basename(p)}" for p in plots)
          + f" in {elapsed:.0f} s")
    for name, why in unavailable.items():
        print(f"skipped {name}: {why}")
    failed = [k for k, s in points.items() if s.get("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
