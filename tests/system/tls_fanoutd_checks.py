"""fanoutd-only TLS checks, run by tls_test.py against fanoutd and never against redis-server
(Redis 7.0 has none of these, or behaves otherwise): the endpoint lines it prints, CLIENT INFO /
CLIENT LIST's tls= field, INFO's TLS counters (each failure under its reason),
--tls-session-caching no, --tls-handshake-timeout, an expired certificate logged, and SIGHUP
reloading the certificate, key and CA files (Redis reloads through CONFIG SET tls-cert-file)."""
import os
import re
import shutil
import signal
import socket
import ssl

import local_servers  # noqa: E402  (tools/pylib, put on the path by run_py.sh)
import tls_clients as tc
import tls_stream_cases
from checks import check  # noqa: E402  (tools/pylib)


def cases(t, start, pki, tmp, tls_args):
    """(name, function of no arguments) for each group of checks, for tls_test.run_case."""
    t = f"{t} [fanoutd only]"
    return [("endpoints and tls= fields", lambda: endpoints_and_fields(t, start, pki, tls_args)),
            ("INFO counters", lambda: counters(t, start, pki, tls_args)),
            ("no session caching", lambda: no_session_caching(t, start, pki, tls_args)),
            ("handshake timeout", lambda: handshake_timeout(t, start, pki, tls_args)),
            ("SIGHUP reload", lambda: reload_on_sighup(t, start, pki, tmp, tls_args)),
            ("SIGHUP reload: CA, expired", lambda: reload_ca_and_expired(t, start, pki, tmp, tls_args))]


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def endpoints_and_fields(t, start, pki, tls_args):
    with start(tls_args(pki, "optional")) as srv:
        check(f"{t} prints a plaintext line, then a tls:// line",
              srv.plain_port is not None and srv.plain_port != srv.tls_port, (srv.plain_port, srv.tls_port))
        with tc.Conn(srv.tls_port, tc.client_ctx(pki, cert=True)) as tls, tc.Conn(srv.plain_port, None) as plain:
            mine = fields(tls.call("CLIENT", "INFO").decode())
            check(f"{t} CLIENT INFO of a TLS client: tls=userspace", mine.get("tls") == "userspace", mine)
            theirs = fields(plain.call("CLIENT", "INFO").decode())
            check(f"{t} CLIENT INFO of a plaintext client: tls=no", theirs.get("tls") == "no", theirs)
            listed = {f.get("laddr", "").rsplit(":", 1)[-1]: f.get("tls")
                      for f in map(fields, plain.call("CLIENT", "LIST").decode().splitlines())}
            want = {str(srv.tls_port): "userspace", str(srv.plain_port): "no"}
            check(f"{t} CLIENT LIST: tls= by the port each client reached", listed == want, listed)
        r = tc.ping(srv.plain_port, tc.client_ctx(pki))
        check(f"{t} a TLS client on the plaintext port refused", r.startswith("refused"), r)
        line = logged(srv.log, r"TLS handshake on the plaintext port")
        check(f"{t} a TLS client on the plaintext port: the log names the TLS port",
              f"TLS is on port {srv.tls_port})" in line, line)
        check(f"{t} stops with exit code 0 (TLS clients had been served)", srv.stop() == 0)
    with start(tls_args(pki, "no"), plain=False) as srv:
        check(f"{t} --port 0: only a tls:// line", srv.plain_port is None, srv.plain_port)
        check(f"{t} --port 0: TLS serves", tc.ping(srv.tls_port, tc.client_ctx(pki)) == "ok")


def counters(t, start, pki, tls_args):
    """INFO's TLS counters move by exactly what clients did, a failure under its reason, and the
    failures add up to their parts (a server of TLS 1.2 only, with a 500 ms handshake timeout)."""
    parts = ["tls_handshake_failures_not_tls", "tls_handshake_failures_certificate",
             "tls_handshake_failures_protocol", "tls_handshake_timeouts", "tls_handshake_failures_other"]
    names = ["tls_handshakes", "tls_resumptions", "tls_handshake_failures", "tls_renegotiations_refused",
             "tls_clients_on_plaintext_port", *parts]
    extra = ["--tls-protocols", "TLSv1.2", "--tls-handshake-timeout", "500"]
    with start(tls_args(pki, "optional", extra=extra)) as srv:
        base = local_servers.info(srv.plain_port)
        missing = [n for n in names if n not in base]
        check(f"{t} INFO has the TLS counters", not missing, f"missing {missing}")
        if missing:
            return
        want = dict.fromkeys(names, 0)

        def after(what, **more):
            """Adds `more` to what is expected, polls INFO until every counter has reached it
            (10 s at most) and checks they are exactly that."""
            for k, v in more.items():
                want[k] += v
            moved = {}

            def reached():
                f = local_servers.info(srv.plain_port)
                moved.update({n: f[n] - base[n] for n in names})
                return all(moved[n] >= want[n] for n in names)
            tc.wait_until(reached, timeout=10)
            check(f"{t} INFO TLS counters after {what}", moved == want,
                  {n: (moved[n], want[n]) for n in names if moved[n] != want[n]})

        v12, v13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
        check(f"{t} a TLS 1.2 handshake", tc.ping(srv.tls_port, tc.client_ctx(pki, maximum=v12)) == "ok")
        after("a handshake", tls_handshakes=1)
        plain = socket.create_connection((tc.HOST, srv.tls_port), timeout=5)
        plain.sendall(b"PING\r\n")
        tc.closed_within(plain, 10)
        plain.close()
        after("plaintext on the TLS port", tls_handshake_failures=1, tls_handshake_failures_not_tls=1)
        tc.ping(srv.tls_port, tc.client_ctx(pki, untrusted=True))
        after("an untrusted client cert", tls_handshake_failures=1, tls_handshake_failures_certificate=1)
        tc.ping(srv.tls_port, tc.client_ctx(pki, minimum=v13))
        after("a TLS 1.3-only client", tls_handshake_failures=1, tls_handshake_failures_protocol=1)
        silent = socket.create_connection((tc.HOST, srv.tls_port), timeout=5)
        tc.closed_within(silent, 10)
        silent.close()
        after("a silent client", tls_handshake_failures=1, tls_handshake_timeouts=1)
        answered, reused = tc.resumed(srv.tls_port, tc.client_ctx(pki))
        check(f"{t} a resumed session", answered and reused, (answered, reused))
        after("a resumption", tls_handshakes=2, tls_resumptions=1)
        s = tls_stream_cases.SClient(pki, srv.tls_port, "-tls1_2")
        try:
            s.line("PING")
            s.pongs(1)
            s.line("R")
            s.ended()
        finally:
            s.close()
        after("a renegotiation", tls_handshakes=1, tls_renegotiations_refused=1)
        tc.ping(srv.plain_port, tc.client_ctx(pki))
        after("a TLS client on the plaintext port", tls_clients_on_plaintext_port=1)
        f = local_servers.info(srv.plain_port)
        check(f"{t} INFO tls_handshake_failures is the sum of its parts",
              f["tls_handshake_failures"] - base["tls_handshake_failures"] == sum(f[p] - base[p] for p in parts))


def no_session_caching(t, start, pki, tls_args):
    """--tls-session-caching no: a client offering its last session gets a full handshake. (Redis
    7.0.15 answers that handshake with an internal_error alert when it verifies client
    certificates, --tls-auth-clients optional or yes: it sets no session id context then.)"""
    with start(tls_args(pki, "optional", extra=["--tls-session-caching", "no"]), plain=False) as srv:
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            try:
                answered, reused = tc.resumed(srv.tls_port, tc.client_ctx(pki, minimum=v, maximum=v))
            except (ssl.SSLError, OSError, EOFError) as e:
                answered, reused = repr(e), None
            check(f"{t} --tls-session-caching no: {v.name} session offered, full handshake, served",
                  answered is True and reused is False, (answered, reused))


def handshake_timeout(t, start, pki, tls_args):
    """--tls-handshake-timeout 1000: a client silent after connecting, and one that stops half-way
    through its ClientHello, are closed; others are served meanwhile and after; a client past its
    handshake is not subject to it."""
    with start(tls_args(pki, "optional", extra=["--tls-handshake-timeout", "1000"])) as srv:
        ctx = tc.client_ctx(pki)
        with tc.Conn(srv.tls_port, ctx) as good:
            check(f"{t} handshake timeout: a client past its handshake", tc.answers(good))
            silent = socket.create_connection((tc.HOST, srv.tls_port), timeout=5)
            half = socket.create_connection((tc.HOST, srv.tls_port), timeout=5)
            hello = tc.client_hello(pki)
            half.sendall(hello[:len(hello) // 2])
            r = tc.ping(srv.tls_port, ctx)
            check(f"{t} handshake timeout: a new client served while two stall", r == "ok", r)
            check(f"{t} handshake timeout: the old client served while two stall", tc.answers(good))
            closed, got = tc.closed_within(silent, 10)
            check(f"{t} handshake timeout: a silent client closed", closed, got)
            closed, got = tc.closed_within(half, 10)
            check(f"{t} handshake timeout: a half ClientHello closed", closed, got)
            silent.close()
            half.close()
            check(f"{t} handshake timeout: not applied once the handshake is done (older than the silent one)",
                  tc.answers(good))
        check(f"{t} handshake timeout: server still serves", tc.ping(srv.tls_port, ctx) == "ok")


def serial(port, ctx):
    try:
        with tc.Conn(port, ctx) as c:
            return c.s.getpeercert().get("serialNumber")
    except (ssl.SSLError, OSError, EOFError) as e:
        return repr(e)


def put(src, dst):
    """Replaces dst with a copy of src (or with bytes, if src is bytes) in one rename."""
    tmp = dst + ".new"
    if isinstance(src, bytes):
        with open(tmp, "wb") as f:
            f.write(src)
    else:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def failure_logged(path, size, timeout=10):
    """Polls fanoutd's log past byte `size` for a line about TLS (or a certificate or key) that
    says something failed or stays as it was: that line, or "" after `timeout` s."""
    def line():
        with open(path, errors="replace") as f:
            f.seek(size)
            for text in f:
                low = text.lower()
                failed = re.search(r"fail|error|stay|keep|invalid|unable|mismatch", low)
                if failed and re.search(r"tls|cert|key", low):
                    return text.strip()
        return ""
    return tc.wait_until(line, timeout=timeout) or ""


def reload_on_sighup(t, start, pki, tmp, tls_args):
    """SIGHUP re-reads --tls-cert-file and --tls-key-file: new connections get cert B, a
    connection made before stays up (a subscriber keeps receiving); a broken file or a
    mismatched pair is logged and changes nothing."""
    d = os.path.join(tmp, "reload")
    os.makedirs(d)
    crt, key = os.path.join(d, "server.crt"), os.path.join(d, "server.key")
    put(pki.server_crt, crt)
    put(pki.server_key, key)
    ctx = tc.client_ctx(pki)
    with start(tls_args(pki, "optional", cert=crt, key=key)) as srv, \
            tc.Conn(srv.tls_port, ctx) as old, tc.Conn(srv.tls_port, ctx) as sub:
        check(f"{t} reload: cert A at first", old.s.getpeercert().get("serialNumber") == pki.server_serial)
        check(f"{t} reload: old connection up", tc.answers(old))
        check(f"{t} reload: old subscriber", sub.call("SUBSCRIBE", "reload") == [b"subscribe", b"reload", 1])
        put(pki.server_b_crt, crt)
        put(pki.server_b_key, key)
        os.kill(srv.proc.pid, signal.SIGHUP)
        got = tc.wait_until(lambda: serial(srv.tls_port, ctx) == pki.server_b_serial, timeout=10)
        check(f"{t} reload: SIGHUP, new connections see cert B", got, serial(srv.tls_port, ctx))
        check(f"{t} reload: the old connection stays open and working", tc.answers(old))
        with tc.Conn(srv.tls_port, ctx) as new:
            n = new.call("PUBLISH", "reload", "after the reload")
        m = sub.reply()
        check(f"{t} reload: the old subscriber gets a message published over cert B",
              n == 1 and m == [b"message", b"reload", b"after the reload"], (n, m))
        broken = b"-----BEGIN CERTIFICATE-----\nbroken\n"
        for what, bad in (("a broken certificate file", lambda: put(broken, crt)),
                          ("cert A with key B (a mismatched pair)", lambda: put(pki.server_crt, crt)),
                          ("a missing certificate file", lambda: os.remove(crt))):
            size = os.path.getsize(srv.log)
            bad()
            os.kill(srv.proc.pid, signal.SIGHUP)
            logged = failure_logged(srv.log, size)
            check(f"{t} reload of {what}: the failure logged", logged != "", open(srv.log).read()[size:][-1000:])
            s = serial(srv.tls_port, ctx)
            check(f"{t} reload of {what}: cert B still served", s == pki.server_b_serial, f"{s}; log: {logged}")
            check(f"{t} reload of {what}: old connection still works", tc.answers(old))
        with tc.Conn(srv.plain_port, None) as c:
            check(f"{t} reload: the plaintext port unaffected", c.call("PING") == b"PONG")
        check(f"{t} reload: exit code 0 after the reloads", srv.stop() == 0)


def logged(path, pattern, timeout=10):
    """Polls fanoutd's log for a line matching `pattern` (a regex, case-insensitive): the line or ""."""
    def line():
        with open(path, errors="replace") as f:
            return next((text.strip() for text in f if re.search(pattern, text, re.I)), "")
    return tc.wait_until(line, timeout=timeout) or ""


def reload_ca_and_expired(t, start, pki, tmp, tls_args):
    """SIGHUP re-reads --tls-ca-cert-file too (a client of the new CA accepted, one of the old CA
    refused); an expired certificate is logged at start and at reload."""
    with start(tls_args(pki, "no", cert=pki.expired_crt, key=pki.expired_key), plain=False) as srv:
        line = logged(srv.log, r"level=warn.*expired")
        check(f"{t} an expired certificate is logged at start", line != "", open(srv.log).read()[-1000:])
    d = os.path.join(tmp, "reload-ca")
    os.makedirs(d)
    crt, key, ca = (os.path.join(d, n) for n in ("server.crt", "server.key", "ca.crt"))
    for src, dst in ((pki.server_crt, crt), (pki.server_key, key), (pki.ca_crt, ca)):
        put(src, dst)
    with start(tls_args(pki, "optional", cert=crt, key=key, ca=ca)) as srv:
        ours, theirs = tc.client_ctx(pki, cert=True), tc.client_ctx(pki, untrusted=True)
        check(f"{t} reload CA: the CA's client accepted first", tc.ping(srv.tls_port, ours) == "ok")
        r = tc.ping(srv.tls_port, theirs)
        check(f"{t} reload CA: the other CA's client refused first", r.startswith("refused"), r)
        put(pki.untrusted_ca_crt, ca)
        os.kill(srv.proc.pid, signal.SIGHUP)
        ok = tc.wait_until(lambda: tc.ping(srv.tls_port, theirs) == "ok", timeout=10)
        check(f"{t} reload CA: SIGHUP, the other CA's client accepted", ok, tc.ping(srv.tls_port, theirs))
        r = tc.ping(srv.tls_port, ours)
        check(f"{t} reload CA: the old CA's client refused now", r.startswith("refused"), r)
        size = os.path.getsize(srv.log)
        put(pki.expired_crt, crt)
        put(pki.expired_key, key)
        os.kill(srv.proc.pid, signal.SIGHUP)
        verifying = tc.client_ctx(pki)
        got = tc.wait_until(lambda: "certificate has expired" in tc.ping(srv.tls_port, verifying), timeout=10)
        check(f"{t} reload to an expired certificate: served (a verifying client refuses it)", got,
              tc.ping(srv.tls_port, verifying))
        with open(srv.log, errors="replace") as f:
            f.seek(size)
            line = re.search(r"level=warn.*expired", f.read(), re.I)
            check(f"{t} reload to an expired certificate: logged", line)

