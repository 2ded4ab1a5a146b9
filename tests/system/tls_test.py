"""TLS with real clients, every assertion run against redis-server 7.0's --tls-port (the reference)
and against fanoutd (both backends): redis-cli --tls, redis-py (ssl=True), ioredis (tls: {...}),
RESP3 over Python's ssl, mutual TLS (--tls-auth-clients yes, optional, and Redis's default) with
requirepass and an ACL user, settings from a config file, --tls-ca-cert-dir, bad input on both
ports, TLS 1.2 and 1.3, --tls-protocols, ciphers, an expired certificate, a key with a
passphrase, session resumption, --maxclients, and record-level cases (tls_stream_cases.py: one
byte per segment, a long pipeline, KeyUpdate, renegotiation, records shared by messages). What
only fanoutd has (--tls-handshake-timeout, SIGHUP reloading certificates, CLIENT INFO's tls=
field, INFO's TLS counters) is in tls_fanoutd_checks.py, run only against fanoutd.

usage: tls_test.py --against redis [--certs-script tools/tls_certs.sh]
       tls_test.py --against fanoutd FANOUTD_BINARY [--backend epoll|io_uring] [--certs-script ...]
(--against defaults to $FANOUT_TLS_AGAINST, else fanoutd when a binary is given)
"""
import argparse
import os
import random
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import redis

import tls_clients as tc
import tls_pki
import tls_stream_cases
from checks import check, summary  # noqa: E402  (tools/pylib, put on the path by run_py.sh)

SIZES = [0, 64, 20 * 1024, 1024 * 1024]  # 20 KiB and 1 MiB cross 16 KiB TLS records
V12, V13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3


def payload(size):
    return random.Random(size).randbytes(size)


def tls_args(pki, auth="optional", cert=None, key=None, extra=(), ca=None):
    """Redis's TLS flags naming the test PKI; auth None leaves --tls-auth-clients at its default."""
    out = ["--tls-cert-file", cert or pki.server_crt, "--tls-key-file", key or pki.server_key,
           "--tls-ca-cert-file", ca or pki.ca_crt]
    return out + (["--tls-auth-clients", auth] if auth else []) + list(extra)


def with_redis_cli(t, srv, pki):
    for cert in (True, False):
        code, out = tc.redis_cli(pki, srv.tls_port, "PING", cert=cert)
        check(f"{t} redis-cli --tls PING (client cert {cert})", code == 0 and out == "PONG", out)
    code, out = tc.redis_cli(pki, srv.tls_port, "PUBLISH", "tls-cli", "nobody")
    check(f"{t} redis-cli --tls PUBLISH to nobody", out == "0", out)
    sub = subprocess.Popen(["redis-cli", *tc.cli_tls_args(pki, True), "-h", tc.HOST, "-p", str(srv.tls_port),
                            "SUBSCRIBE", "tls-cli"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        reader = tc.OutputReader(sub)
        check(f"{t} redis-cli --tls SUBSCRIBE confirmed", reader.wait_for("subscribe\ntls-cli\n1\n"), reader.out)
        code, out = tc.redis_cli(pki, srv.tls_port, "PUBLISH", "tls-cli", "hello over tls", cert=False)
        check(f"{t} redis-cli --tls PUBLISH reaches 1", out == "1", out)
        check(f"{t} redis-cli --tls subscriber gets the message",
              reader.wait_for("message\ntls-cli\nhello over tls\n"), reader.out)
    finally:
        sub.terminate()
        sub.wait(timeout=10)


def next_message(ps, kind, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        m = ps.get_message(timeout=1.0)
        if m and m["type"] == kind:
            return m
    return None


def with_redis_py(t, srv, pki, cert):
    kw = dict(host=tc.HOST, port=srv.tls_port, ssl=True, ssl_ca_certs=pki.ca_crt, ssl_cert_reqs="required",
              ssl_check_hostname=True, socket_timeout=10)
    if cert:
        kw.update(ssl_certfile=pki.client_crt, ssl_keyfile=pki.client_key)
    label = f"{t} redis-py ssl=True{' with a client cert' if cert else ''}"
    pub, sub = redis.Redis(**kw), redis.Redis(**kw)
    try:
        check(f"{label} PING", pub.ping() is True)
        ps = sub.pubsub()
        ps.subscribe("tls-py")
        check(f"{label} subscribed", next_message(ps, "subscribe") is not None)
        for size in SIZES:
            data = payload(size)
            n = pub.publish("tls-py", data)
            m = next_message(ps, "message")
            got = m["data"] if m else None
            check(f"{label} {size} B binary message intact (receivers {n})", n == 1 and got == data,
                  f"got {len(got) if got is not None else None} B")
        ps.close()
    except (redis.RedisError, OSError) as e:
        check(f"{label} ran", False, repr(e))
    finally:
        pub.close()
        sub.close()


def with_resp3(t, srv, pki):
    """RESP3 over TLS with HELLO 3 (the installed redis-py 4.3 has no protocol=3)."""
    ctx = tc.client_ctx(pki, cert=True)
    with tc.Conn(srv.tls_port, ctx, timeout=10) as sub, tc.Conn(srv.tls_port, ctx, timeout=10) as pub:
        hello = sub.call("HELLO", "3")
        check(f"{t} RESP3 HELLO 3 over TLS", isinstance(hello, dict) and hello.get(b"proto") == 3, hello)
        r = sub.call("SUBSCRIBE", "tls-r3")
        check(f"{t} RESP3 subscribe push", r == [b"subscribe", b"tls-r3", 1], r)
        for size in SIZES:
            data = payload(size)
            n = pub.call("PUBLISH", "tls-r3", data)
            m = sub.reply()
            check(f"{t} RESP3 {size} B push intact", n == 1 and m == [b"message", b"tls-r3", data],
                  f"receivers {n}, got {type(m).__name__} of {len(m) if m else 0}")


def with_ioredis(t, srv, pki, cert):
    label = f"{t} ioredis tls{' with a client cert' if cert else ''}"
    r = tc.ioredis(pki, srv.tls_port, cert)
    if r.get("ran") is False:
        check(f"{label} ran", False, r.get("output", "")[-2000:])
        return
    check(f"{label} PING, no errors", r.get("ping") == "PONG" and not r["errors"] and not r.get("timeout"), r)
    check(f"{label} 0 B, 64 B, 20 KiB messages intact",
          r.get("receivers") == [1, 1, 1] and [m["size"] for m in r["received"]] == [0, 64, 20480]
          and all(m["intact"] for m in r["received"]), r)


def clients(t, srv, pki):
    with_redis_cli(t, srv, pki)
    for cert in (False, True):
        with_redis_py(t, srv, pki, cert)
        with_ioredis(t, srv, pki, cert)
    with_resp3(t, srv, pki)
    with tc.Conn(srv.plain_port, None) as c:
        check(f"{t} the plaintext port still answers beside TLS", c.call("PING") == b"PONG")


def optional_auth(t, srv, pki):
    """--tls-auth-clients optional: a certificate is not needed, but one given must be valid."""
    check(f"{t} optional: no client cert works", tc.ping(srv.tls_port, tc.client_ctx(pki)) == "ok")
    check(f"{t} optional: a valid client cert works", tc.ping(srv.tls_port, tc.client_ctx(pki, cert=True)) == "ok")
    r = tc.ping(srv.tls_port, tc.client_ctx(pki, untrusted=True))
    check(f"{t} optional: a cert from an untrusted CA refused", r.startswith("refused"), r)


def mutual(t, start, pki, tmp):
    """--tls-auth-clients yes with requirepass, then Redis's default (yes) with an ACL user: the
    certificate and AUTH both apply."""
    with start(tls_args(pki, "yes", extra=["--requirepass", "tls-pass"]), plain=False) as srv:
        port = srv.tls_port
        r = tc.ping(port, tc.client_ctx(pki))
        check(f"{t} mtls yes: no client cert refused", r.startswith("refused"), r)
        r = tc.ping(port, tc.client_ctx(pki, untrusted=True))
        check(f"{t} mtls yes: a cert from an untrusted CA refused", r.startswith("refused"), r)
        code, out = tc.redis_cli(pki, port, "--no-auth-warning", "-a", "tls-pass", "PING", cert=False)
        check(f"{t} mtls yes: redis-cli without a cert gets no PONG", out != "PONG", out)
        code, out = tc.redis_cli(pki, port, "--no-auth-warning", "-a", "tls-pass", "PING")
        check(f"{t} mtls yes: redis-cli with a cert and -a gets PONG", out == "PONG", out)
        with tc.Conn(port, tc.client_ctx(pki, cert=True)) as c:
            r = c.call("PING")
            check(f"{t} mtls yes + requirepass: cert without AUTH gets NOAUTH", str(r).startswith("NOAUTH"), r)
            r = c.call("AUTH", "tls-pass")
            check(f"{t} mtls yes + requirepass: cert and AUTH", r == b"OK" and c.call("PING") == b"PONG", r)
    acl = os.path.join(tmp, "users.acl")
    with open(acl, "w") as f:
        f.write("user default off\nuser alice on >alice-pass allchannels +@all\n")
    with start(tls_args(pki, None, extra=["--aclfile", acl]), plain=False) as srv:
        port = srv.tls_port
        r = tc.ping(port, tc.client_ctx(pki))
        check(f"{t} default tls-auth-clients (yes, as Redis): no client cert refused", r.startswith("refused"), r)
        r = tc.ping(port, tc.client_ctx(pki, untrusted=True))
        check(f"{t} default tls-auth-clients: untrusted cert refused", r.startswith("refused"), r)
        with tc.Conn(port, tc.client_ctx(pki, cert=True)) as c:
            r = c.call("PUBLISH", "acl-chan", "x")
            check(f"{t} mtls + ACL user: cert without AUTH gets NOAUTH", str(r).startswith("NOAUTH"), r)
            r = c.call("AUTH", "alice", "wrong")
            check(f"{t} mtls + ACL user: wrong password WRONGPASS", str(r).startswith("WRONGPASS"), r)
            r = c.call("AUTH", "alice", "alice-pass")
            check(f"{t} mtls + ACL user: cert and AUTH alice", r == b"OK", r)
            check(f"{t} mtls + ACL user: signed in, PUBLISH", c.call("PUBLISH", "acl-chan", "x") == 0)


def config_file_and_ca_dir(t, start, pki, tmp):
    """The TLS settings from a config file in redis.conf syntax (the same file for both servers),
    then --tls-ca-cert-dir (a directory hashed by openssl rehash) in place of a CA file."""
    conf = os.path.join(tmp, "tls.conf")
    with open(conf, "w") as f:
        f.write(f"tls-cert-file {pki.server_crt}\ntls-key-file {pki.server_key}\n"
                f"tls-ca-cert-file {pki.ca_crt}\ntls-auth-clients optional\n"
                'tls-protocols "TLSv1.2 TLSv1.3"\ntls-ciphersuites TLS_CHACHA20_POLY1305_SHA256\n')
    with start([], plain=False, config=conf) as srv:
        with tc.Conn(srv.tls_port, tc.client_ctx(pki, minimum=V13)) as c:
            got = c.s.cipher()[0]
            check(f"{t} config file: TLS settings apply (its TLS 1.3 suite chosen)",
                  got == "TLS_CHACHA20_POLY1305_SHA256" and tc.answers(c), got)
        r = tc.ping(srv.tls_port, tc.client_ctx(pki, maximum=V12))
        check(f"{t} config file: tls-protocols \"TLSv1.2 TLSv1.3\" lets TLS 1.2 in", r == "ok", r)
        r = tc.ping(srv.tls_port, tc.client_ctx(pki, untrusted=True))
        check(f"{t} config file: tls-auth-clients optional refuses an untrusted cert", r.startswith("refused"), r)
    cadir = os.path.join(tmp, "ca-dir")
    os.makedirs(cadir)
    shutil.copy(pki.ca_crt, cadir)
    subprocess.run(["openssl", "rehash", cadir], check=True, capture_output=True, timeout=30)
    args = ["--tls-cert-file", pki.server_crt, "--tls-key-file", pki.server_key, "--tls-ca-cert-dir", cadir,
            "--tls-auth-clients", "yes"]
    with start(args, plain=False) as srv:
        r = tc.ping(srv.tls_port, tc.client_ctx(pki, cert=True))
        check(f"{t} --tls-ca-cert-dir: a client of the CA accepted", r == "ok", r)
        r = tc.ping(srv.tls_port, tc.client_ctx(pki, untrusted=True))
        check(f"{t} --tls-ca-cert-dir: a client of another CA refused", r.startswith("refused"), r)
        r = tc.ping(srv.tls_port, tc.client_ctx(pki))
        check(f"{t} --tls-ca-cert-dir: no client cert refused", r.startswith("refused"), r)


def bad_input(t, srv, pki):
    ctx = tc.client_ctx(pki)
    with tc.Conn(srv.tls_port, ctx) as good:
        check(f"{t} bad input: a TLS client is up", tc.answers(good))
        plain = socket.create_connection((tc.HOST, srv.tls_port), timeout=5)
        plain.sendall(b"PI")  # under a TLS record header: the server must wait for more
        check(f"{t} bad input: a TLS client is served while a plaintext one is half-way",
              tc.answers(good))
        plain.sendall(b"NG\r\n")
        closed, got = tc.closed_within(plain, 10)
        plain.close()
        check(f"{t} bad input: plaintext PING on the TLS port closed, unanswered",
              closed and b"PONG" not in got, f"closed {closed}, got {got!r}")
        junk = socket.create_connection((tc.HOST, srv.tls_port), timeout=5)
        junk.sendall(b"\x00\xff\x13garbage, not a ClientHello\r\n" * 8)
        closed, got = tc.closed_within(junk, 10)
        junk.close()
        check(f"{t} bad input: garbage instead of a ClientHello closed", closed, got)
        r = tc.ping(srv.plain_port, ctx, timeout=3)
        check(f"{t} bad input: a TLS client on the plaintext port fails", r != "ok", r)
        check(f"{t} bad input: the TLS client from before still served", tc.answers(good))
    check(f"{t} bad input: server healthy after (TLS)", tc.ping(srv.tls_port, ctx) == "ok")
    with tc.Conn(srv.plain_port, None) as c:
        check(f"{t} bad input: server healthy after (plaintext)", c.call("PING") == b"PONG")


def versions(t, srv, start, pki):
    for name, v in (("TLSv1.2", V12), ("TLSv1.3", V13)):
        try:
            with tc.Conn(srv.tls_port, tc.client_ctx(pki, minimum=v, maximum=v)) as c:
                ok = c.call("PING") == b"PONG"
                check(f"{t} default protocols: a {name}-only client works", ok and c.s.version() == name,
                      c.s.version())
        except (ssl.SSLError, OSError, EOFError) as e:
            check(f"{t} default protocols: a {name}-only client works", False, repr(e))
    with start(tls_args(pki, "no", extra=["--tls-protocols", "TLSv1.3"]), plain=False) as s13:
        r = tc.ping(s13.tls_port, tc.client_ctx(pki, minimum=V12, maximum=V12))
        check(f"{t} --tls-protocols TLSv1.3: a TLSv1.2-only client refused", r.startswith("refused"), r)
        r = tc.ping(s13.tls_port, tc.client_ctx(pki, minimum=V13))
        check(f"{t} --tls-protocols TLSv1.3 (--port 0): a TLSv1.3 client works", r == "ok", r)
    c12, c13 = "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_CHACHA20_POLY1305_SHA256"
    with start(tls_args(pki, "no", extra=["--tls-ciphers", c12, "--tls-ciphersuites", c13]), plain=False) as sc:
        for v, want in ((V12, c12), (V13, c13)):
            with tc.Conn(sc.tls_port, tc.client_ctx(pki, minimum=v, maximum=v)) as c:
                got = c.s.cipher()[0]
                check(f"{t} --tls-ciphers/--tls-ciphersuites: {want} chosen", got == want and tc.answers(c), got)


def certificates(t, start, pki):
    with start(tls_args(pki, "no", cert=pki.expired_crt, key=pki.expired_key), plain=False) as srv:
        r = tc.ping(srv.tls_port, tc.client_ctx(pki))
        check(f"{t} expired server cert: a verifying client refuses it", "certificate has expired" in r, r)
        code, out = tc.redis_cli(pki, srv.tls_port, "PING", cert=False)
        check(f"{t} expired server cert: redis-cli --cacert refuses it", out != "PONG", out)
        r = tc.ping(srv.tls_port, tc.client_ctx(pki, verify=False))
        check(f"{t} expired server cert: served (a client not verifying gets PONG)", r == "ok", r)
    extra = ["--tls-key-file-pass", pki.key_pass]
    with start(tls_args(pki, "no", key=pki.server_enc_key, extra=extra), plain=False) as srv:
        r = tc.ping(srv.tls_port, tc.client_ctx(pki))
        check(f"{t} --tls-key-file-pass: an encrypted key serves", r == "ok", r)


def max_clients(t, start, pki):
    """--maxclients 2: a TLS client over the limit is closed with nothing but TLS records on the
    wire (redis-server writes no plaintext error there), and is served once a place frees up."""
    with start(tls_args(pki, "no", extra=["--maxclients", "2"]), plain=False) as srv:
        ctx = tc.client_ctx(pki)
        with tc.Conn(srv.tls_port, ctx) as a:
            b = tc.Conn(srv.tls_port, ctx)
            check(f"{t} --maxclients 2: two TLS clients served", tc.answers(a) and tc.answers(b))
            third = socket.create_connection((tc.HOST, srv.tls_port), timeout=5)
            third.sendall(tc.client_hello(pki))
            closed, got = tc.closed_within(third, 10)
            third.close()
            check(f"{t} --maxclients 2: a third TLS client closed, no plaintext on the TLS port",
                  closed and (got == b"" or got[:1] in (b"\x15", b"\x16")), got[:80])
            b.close()
            served = tc.wait_until(lambda: tc.ping(srv.tls_port, ctx) == "ok", timeout=10)
            check(f"{t} --maxclients 2: a TLS client served once one left", served)


def resumption(t, srv, pki):
    for v in (V12, V13):
        for cert in (False, True):
            answered, reused = tc.resumed(srv.tls_port, tc.client_ctx(pki, cert=cert, minimum=v, maximum=v))
            check(f"{t} session resumption {v.name} (client cert {cert})", answered and reused, (answered, reused))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", nargs="?")
    ap.add_argument("--against", choices=["redis", "fanoutd"], default=os.environ.get("FANOUT_TLS_AGAINST"))
    ap.add_argument("--backend", default="epoll", choices=["epoll", "io_uring"])
    here = os.path.dirname(os.path.realpath(__file__))
    ap.add_argument("--certs-script", default=os.path.join(here, "..", "..", "tools", "tls_certs.sh"),
                    help="tools/tls_certs.sh, which makes the test PKI")
    a = ap.parse_args()
    against = a.against or ("fanoutd" if a.binary else None)
    if against is None or (against == "fanoutd" and not a.binary):
        ap.error("say --against redis, or give the fanoutd binary")
    for tool in ("redis-server", "redis-cli", "openssl", "node"):
        if not shutil.which(tool):
            raise SystemExit(f"missing {tool}: run tools/setup.sh --test")
    t = "redis:" if against == "redis" else f"fanoutd {a.backend}:"

    def start(args, plain=True, config=None):
        return tc.Server(against, args, plain=plain, binary=a.binary, backend=a.backend, config=config)

    tmp = tempfile.mkdtemp(prefix="fanout-tls-")
    began = time.time()
    try:
        pki = tls_pki.make(tmp, a.certs_script)
        timed(t, "pki", began)
        run_case(t, "one server (optional client certs)", lambda: shared_server(t, start, pki))
        run_case(t, "mutual", lambda: mutual(t, start, pki, tmp))
        run_case(t, "config file, CA dir", lambda: config_file_and_ca_dir(t, start, pki, tmp))
        run_case(t, "versions", lambda: versions_case(t, start, pki))
        run_case(t, "certificates", lambda: certificates(t, start, pki))
        run_case(t, "max clients", lambda: max_clients(t, start, pki))
        if against == "fanoutd":
            import tls_fanoutd_checks
            for name, case in tls_fanoutd_checks.cases(t, start, pki, tmp, tls_args):
                run_case(t, name, case)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary(f"{t} {time.time() - began:.1f} s, ")


def shared_server(t, start, pki):
    """The cases that share one server with --tls-auth-clients optional and a plaintext port."""
    with start(tls_args(pki, "optional")) as srv:
        for name, case in (("clients", lambda: clients(t, srv, pki)),
                           ("optional", lambda: optional_auth(t, srv, pki)),
                           ("bad input", lambda: bad_input(t, srv, pki)),
                           ("resumption", lambda: resumption(t, srv, pki)),
                           ("records", lambda: tls_stream_cases.run(t, srv, pki))):
            run_case(t, name, case)
        check(f"{t} the server survived the shared cases", srv.alive())


def versions_case(t, start, pki):
    with start(tls_args(pki, "no"), plain=False) as srv:
        versions(t, srv, start, pki)


def run_case(t, name, fn):
    began = time.time()
    try:
        fn()
    except (ssl.SSLError, OSError, EOFError, ValueError, subprocess.SubprocessError) as e:
        check(f"{t} {name}: ran to the end", False, repr(e))
    except SystemExit as e:  # a server that did not start; a skip (code 0) ends the test
        if e.code in (0, None):
            raise
        check(f"{t} {name}: its servers started", False, str(e)[-2000:])
    timed(t, name, began)


def timed(t, name, began):
    print(f"{t} {name}: {time.time() - began:.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
