"""The benchmark harness's TLS rows (bench/harness.py --tls): a server name ending in "-tls"
(redis-tls, fanoutd-epoll-tls, fanoutd-io_uring-tls) is that server on a TLS port with the
certificates tools/tls_certs.sh makes (clients not asked for certificates), and fanout-load drives
it with --tls, verifying the server's certificate. Then TLS handshakes per second (connect,
handshake, PING, close: tools/load/fanout-handshakes) against each TLS server, with the
server's CPU time per handshake.

A module for bench/harness.py; nothing to run on its own.
"""
import json
import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CERTS = os.path.join(ROOT, "tools", "tls_certs.sh")
HANDSHAKES = os.path.join(ROOT, "bazel-bin/tools/load/fanout-handshakes")


def is_tls(name):
    return name.endswith("-tls")


def plain_name(name):
    """The server a TLS row runs: "fanoutd-epoll-2shards-tls" -> "fanoutd-epoll-2shards"."""
    return name[:-len("-tls")] if is_tls(name) else name


def make_pki(out_dir):
    """tools/tls_certs.sh into out_dir/pki (kept when still usable); returns that directory."""
    pki = os.path.join(out_dir, "pki")
    r = subprocess.run(["/bin/bash", CERTS, pki], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SystemExit(f"tools/tls_certs.sh failed: {r.stderr.strip()}")
    return pki


def redis_args(cmd, port, pki):
    """redis-server's command with its plain port closed and `port` as its TLS port."""
    i = cmd.index("--port")
    return cmd[:i] + ["--port", "0", "--tls-port", str(port)] + cmd[i + 2:] + [
        "--tls-cert-file", os.path.join(pki, "server.crt"), "--tls-key-file", os.path.join(pki, "server.key"),
        "--tls-ca-cert-file", os.path.join(pki, "ca.crt"), "--tls-auth-clients", "no"]


def fanoutd_args(pki):
    """fanoutd's TLS flags: a TLS port of its choosing (reported on stdout) besides the plain one."""
    return ["--tls-port", "auto", "--tls-cert-file", os.path.join(pki, "server.crt"),
            "--tls-key-file", os.path.join(pki, "server.key"), "--tls-ca-cert-file", os.path.join(pki, "ca.crt"),
            "--tls-auth-clients", "no"]


def fanoutd_tls_port(out_path, proc, timeout=10):
    """The port of fanoutd's "listening on tls://127.0.0.1:PORT" line in its stdout file (polled,
    at most `timeout` s); None if it exits or never says so."""
    end = time.time() + timeout
    while time.time() < end:
        with open(out_path) as f:
            for line in f:
                if line.startswith("listening on tls://"):
                    return int(line.strip().rsplit(":", 1)[1])
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None


def load_args(pki):
    return ["--tls", "--tls-ca", os.path.join(pki, "ca.crt")]


def measure_handshakes(server, pki, load_cpu, seconds, out_path, connections=4):
    """fanout-handshakes against a started TLS server (pinned to the load CPU); its JSON, or
    {"failed": ...}."""
    if not os.path.exists(HANDSHAKES):
        return {"failed": f"missing {HANDSHAKES}: run bench/run.sh (it builds first)"}
    cmd = ["taskset", "-c", load_cpu, HANDSHAKES, "--port", str(server.port), "--tls-ca", os.path.join(pki, "ca.crt"),
           "--connections", str(connections), "--duration", str(seconds), "--server-pid", str(server.proc.pid),
           "--json", out_path]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 5 + 60)
    if p.returncode != 0 or not os.path.exists(out_path):
        return {"failed": f"exit {p.returncode}: {(p.stdout + p.stderr).strip()[-500:]}"}
    with open(out_path) as f:
        return json.load(f)


def handshake_table(results, seconds):
    """Markdown lines: one row per TLS server."""
    if not results:
        return []
    lines = ["", f"TLS handshakes (full handshake, no resumption; connect, handshake, PING, close), "
                 f"{seconds} s per server, 4 connections at a time:", "",
             "| server | handshakes/s | p50 ms | p99 ms | server CPU us/handshake | failures |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        if r.get("failed") or r.get("unavailable"):
            lines.append(f"| {name} | {r.get('failed') or r.get('unavailable')} | | | | |")
            continue
        lines.append(f"| {name} | {r['handshakes_per_second']:.0f} | {r['latency_p50_ns'] / 1e6:.2f} | "
                     f"{r['latency_p99_ns'] / 1e6:.2f} | {r['server_cpu_us_per_handshake']:.0f} | {r['failures']} |")
    return lines


if __name__ == "__main__":
    print(__doc__)
