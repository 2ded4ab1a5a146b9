"""Start-up memory at any core count: the resident set of an idle fanoutd
right after it listens, for 1, 2, 16 and 64 shards on each backend. With --baseline, another
fanoutd build is measured in the same run, side by side.

usage: /usr/bin/python3 bench/startup_rss.py [--fanoutd BIN] [--baseline BIN] [--shards 1,2,16,64]
"""
import argparse
import os
import re
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kib(binary, backend, shards):
    p = subprocess.Popen([binary, "--port", "auto", "--shards", str(shards), "--backend", backend,
                          "--log-level", "error"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        if not re.match(r"listening on ", line):
            return None, p.stderr.read().strip()[-200:]
        time.sleep(0.3)  # the shard threads are up and waiting
        with open(f"/proc/{p.pid}/status") as f:
            rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        return rss, ""
    finally:
        p.terminate()
        p.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fanoutd", default=os.path.join(ROOT, "bazel-bin/tools/fanoutd"))
    ap.add_argument("--baseline", default="")
    ap.add_argument("--shards", default="1,2,16,64")
    a = ap.parse_args()
    builds = [("this build", a.fanoutd)] + ([("baseline", a.baseline)] if a.baseline else [])
    shards = [int(x) for x in a.shards.split(",")]
    print("| backend | shards | " + " | ".join(f"{label} RSS" for label, _ in builds) + " |")
    print("|---|---:|" + "---:|" * len(builds))
    for backend in ("epoll", "io_uring"):
        for n in shards:
            cells = []
            for _, binary in builds:
                rss, why = rss_kib(binary, backend, n)
                cells.append(f"{rss / 1024:.1f} MiB" if rss is not None else f"(did not start: {why})")
            print(f"| {backend} | {n} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
