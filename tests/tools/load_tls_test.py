"""fanout-load --tls against real TLS servers: Debian's redis-server 7.0 (built with TLS) on a TLS
port only, and fanoutd's --tls-port, with certificates from tools/tls_certs.sh. Every delivery is verified as over plain
TCP: 200 subscribers over two threads get every message whole (64-byte payloads, then a mix with
20,000-byte ones that span several TLS records), slow readers too; INFO comes through TLS. The
server's certificate is always checked: another CA, an expired certificate and a name the
certificate does not carry each stop the run before any load with a message naming the problem.
Mutual TLS (--tls-auth-clients yes): without --tls-cert the run fails, saying a client certificate
is wanted; with one from another CA it fails naming the server's alert; with the right one it passes.

usage: load_tls_test.py FANOUT_LOAD TLS_CERTS_SH FANOUTD
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import local_servers  # noqa: E402  (tools/pylib, put on the path by run_py.sh)
from checks import check, summary  # noqa: E402  (tools/pylib)

SUBSCRIBERS = 200
MESSAGES = 640  # ten closed-loop rounds of 64


def start_redis(tmp, name, pki, cert, key, auth_clients):
    """redis-server with only a TLS port (a free one, tried up to 5 times); returns (proc, port)."""
    for _ in range(5):
        port = local_servers.free_port()
        log = open(os.path.join(tmp, f"redis-{name}.log"), "w")
        proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
             "--tls-cert-file", os.path.join(pki, cert), "--tls-key-file", os.path.join(pki, key),
             "--tls-ca-cert-file", os.path.join(pki, "ca.crt"), "--tls-auth-clients", auth_clients,
             "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=log, stderr=subprocess.STDOUT)
        if local_servers.wait_port(port, timeout=5):
            return proc, port
        proc.kill()
        proc.wait()
    sys.exit(f"FAIL redis-server ({name}) did not start: {open(os.path.join(tmp, f'redis-{name}.log')).read()[-500:]}")


def start_fanoutd(fanoutd, pki, auth_clients):
    """fanoutd (epoll, one shard) with a TLS port; returns (proc, its TLS port)."""
    proc, _, err = local_servers.start_fanoutd(fanoutd, "epoll", [
        "--shards", "1", "--log-level", "warn", "--tls-port", "auto",
        "--tls-cert-file", os.path.join(pki, "server.crt"), "--tls-key-file", os.path.join(pki, "server.key"),
        "--tls-ca-cert-file", os.path.join(pki, "ca.crt"), "--tls-auth-clients", auth_clients])
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on tls://"):
        proc.kill()
        sys.exit(f"FAIL fanoutd reported no TLS port: {line!r} {open(err).read()[-500:]}")
    return proc, int(line.rsplit(":", 1)[1])


def load(binary, port, pki, tmp, name, *args, host="127.0.0.1"):
    """One fanout-load run; returns (exit code, output, the JSON report or {})."""
    out = os.path.join(tmp, f"{name}.json")
    cmd = [binary, "--host", host, "--port", str(port), "--tls", "--quiet", "--json", out,
           "--duration", "10", "--warmup", "0", "--stall-timeout", "5", *args]
    cmd = [a.replace("PKI/", pki + "/") for a in cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    report = json.load(open(out)) if os.path.exists(out) else {}
    return r.returncode, r.stdout + r.stderr, report


def verified_run(binary, port, pki, tmp, name, *args, subscribers=SUBSCRIBERS, server="redis-server"):
    code, text, j = load(binary, port, pki, tmp, name, "--tls-ca", "PKI/ca.crt", "--subscribers",
                         str(subscribers), "--threads", "2", "--messages", str(MESSAGES), *args)
    check(f"{name}: exits 0", code == 0, text)
    check(f"{name}: every message reached every subscriber", j.get("received") == subscribers * MESSAGES,
          (j.get("received"), subscribers * MESSAGES))
    for k in ("lost", "duplicated", "reordered", "protocol_errors", "publish_count_mismatches", "failed_connects",
              "tls_failures", "closed_by_server"):
        check(f"{name}: {k} 0", j.get(k) == 0, (k, j.get(k)))
    check(f"{name}: over TLS 1.3", j.get("tls") is True and j.get("tls_version") == "TLSv1.3", text)
    check(f"{name}: INFO through TLS names the server", j.get("server") == server and
          j.get("server_version", ""), (j.get("server"), j.get("server_version")))
    return text, j


def refused(binary, port, pki, tmp, name, want, *args, host="127.0.0.1"):
    code, text, _ = load(binary, port, pki, tmp, name, "--subscribers", "10", *args, host=host)
    check(f"{name}: exits 1", code == 1, (code, text))
    check(f"{name}: says '{want}'", want in text, text)
    check(f"{name}: stops before any load", "deliveries" not in text, text)


def main():
    binary = os.path.abspath(sys.argv[1])
    script = os.path.abspath(sys.argv[2])
    fanoutd = os.path.abspath(sys.argv[3])
    if not shutil.which("redis-server"):
        print("SKIPPED: no redis-server (tools/setup.sh --test installs it)")
        return
    tmp = tempfile.mkdtemp(prefix="fanout-load-tls-")
    procs = []
    try:
        pki = os.path.join(tmp, "pki")
        r = subprocess.run(["/bin/bash", script, pki], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            sys.exit(f"FAIL tools/tls_certs.sh: {r.stderr}")
        redis, port = start_redis(tmp, "optional", pki, "server.crt", "server.key", "optional")
        procs.append(redis)
        expired, expired_port = start_redis(tmp, "expired", pki, "server-expired.crt", "server-expired.key",
                                            "optional")
        procs.append(expired)
        mutual, mutual_port = start_redis(tmp, "mutual", pki, "server.crt", "server.key", "yes")
        procs.append(mutual)

        text, _ = verified_run(binary, port, pki, tmp, "64-byte")
        check("the report says TLS and what was verified",
              "tls: TLSv1.3" in text and "server certificate verified for 127.0.0.1" in text, text)
        verified_run(binary, port, pki, tmp, "mixed sizes", "--size-mix", "64:0.5,20000:0.5", subscribers=50)
        code, text, j = load(binary, port, pki, tmp, "slow readers", "--tls-ca", "PKI/ca.crt", "--subscribers", "100",
                             "--messages", "640", "--size", "1k", "--slow-fraction", "0.2", "--slow-bps", "100k")
        check("slow readers: exits 0 with nothing lost by the others", code == 0 and j.get("lost") == 0 and
              j.get("received", 0) > 0 and j.get("received", 1) % 640 == 0, (code, j.get("received"), text))
        check("slow readers: read through TLS too", j.get("slow_received", 0) > 0, j.get("slow_received"))
        code, text, j = load(binary, port, pki, tmp, "localhost", "--tls-ca", "PKI/ca.crt", "--subscribers", "20",
                             "--messages", "64", host="localhost")
        check("--host localhost: verified by DNS name, exits 0",
              code == 0 and "verified for localhost" in text and j.get("received") == 20 * 64, text)

        refused(binary, port, pki, tmp, "another CA", "server certificate verification failed: self-signed",
                "--tls-ca", "PKI/other-ca.crt")
        refused(binary, port, pki, tmp, "the system's CAs", "server certificate verification failed")
        refused(binary, port, pki, tmp, "a name not in the certificate",
                "server certificate verification failed: hostname mismatch",
                "--tls-ca", "PKI/ca.crt", "--tls-sni", "example.com")
        refused(binary, expired_port, pki, tmp, "expired", "server certificate verification failed: certificate has "
                "expired", "--tls-ca", "PKI/ca.crt")

        refused(binary, mutual_port, pki, tmp, "mutual, no client certificate", "--tls-cert and --tls-key",
                "--tls-ca", "PKI/ca.crt")
        refused(binary, mutual_port, pki, tmp, "mutual, another CA's client", "alert unknown ca",
                "--tls-ca", "PKI/ca.crt", "--tls-cert", "PKI/other-client.crt", "--tls-key", "PKI/other-client.key")
        verified_run(binary, mutual_port, pki, tmp, "mutual", "--tls-cert", "PKI/client.crt",
                     "--tls-key", "PKI/client.key")

        code, text, _ = load(binary, port, pki, tmp, "key of another certificate", "--tls-ca", "PKI/ca.crt",
                             "--tls-cert", "PKI/client.crt", "--tls-key", "PKI/other-client.key")
        check("a key that is not the certificate's: exits 2 saying so",
              code == 2 and "does not belong to --tls-cert" in text, (code, text))
        code, text, _ = load(binary, port, pki, tmp, "encrypted key", "--tls-ca", "PKI/ca.crt",
                             "--tls-cert", "PKI/server.crt", "--tls-key", "PKI/server-pass.key")
        check("an encrypted key: exits 2 saying so", code == 2 and "unencrypted keys only" in text, (code, text))

        proc, fport = start_fanoutd(fanoutd, pki, "no")
        procs.append(proc)
        verified_run(binary, fport, pki, tmp, "fanoutd", server="fanoutd")
        # Without --tls against a TLS port: one clear line at once, not subscribers waiting for ever.
        for name, p in (("redis-server", port), ("fanoutd", fport)):
            t0 = time.time()
            r = subprocess.run([binary, "--port", str(p), "--subscribers", "5", "--duration", "1", "--quiet"],
                               capture_output=True, text=True, timeout=60)
            check(f"no --tls against {name}'s TLS port: exits 1 saying to add --tls within 10 s",
                  r.returncode == 1 and "add --tls" in r.stderr and time.time() - t0 < 10,
                  (r.returncode, r.stderr[-300:], time.time() - t0))
        proc, fport = start_fanoutd(fanoutd, pki, "yes")
        procs.append(proc)
        refused(binary, fport, pki, tmp, "fanoutd mutual, no client certificate", "--tls-cert and --tls-key",
                "--tls-ca", "PKI/ca.crt")
        verified_run(binary, fport, pki, tmp, "fanoutd mutual", "--tls-cert", "PKI/client.crt", "--tls-key",
                     "PKI/client.key", server="fanoutd")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(summary())


if __name__ == "__main__":
    main()
