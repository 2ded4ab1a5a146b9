"""The TLS tests' servers and clients: a Server (redis-server, the reference, or fanoutd) started
with Redis's TLS flags, a small RESP2/RESP3 client over Python's ssl, and runners for redis-cli and
ioredis. Every wait here is bounded (seconds as the unit throughout)."""
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import time

import local_servers  # noqa: E402  (tools/pylib, put on the path by run_py.sh)

HOST = "127.0.0.1"
NAME = "localhost"  # the server certificates' DNS name (their IP SAN is HOST)


class Server:
    """One server under test, started with `args` (Redis's flag names: --tls-cert-file ...).
    `kind` is "redis" (redis-server 7.0, the reference) or "fanoutd" (then `binary`, `backend`).
    plain=False turns the plaintext port off (--port 0); `config` is a config file (redis.conf
    syntax) read before the flags. Fields: tls_port, plain_port (None without one), proc (its pid
    is the one to signal), log (fanoutd's stderr file, or None)."""

    def __init__(self, kind, args, plain=True, binary=None, backend=None, config=None):
        self.kind, self.log = kind, None
        if kind == "fanoutd":
            self.proc, self.plain_port, self.tls_port, self.log = local_servers.start_fanoutd_tls(
                binary, backend, ["--shards", "2", *args], plain=plain, config=config)
            return
        self.tls_port = local_servers.free_port()
        self.plain_port = local_servers.free_port() if plain else None
        self.proc = subprocess.Popen(
            ["redis-server", *([config] if config else []), "--port", str(self.plain_port or 0),
             "--tls-port", str(self.tls_port), "--bind", HOST, "--save", "", "--appendonly", "no",
             "--protected-mode", "no", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not local_servers.wait_port(self.tls_port):
            self.stop()
            raise SystemExit(f"redis-server did not start with {args}")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """Stops the server (SIGTERM, then SIGKILL after 10 s); returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def client_ctx(pki, cert=False, untrusted=False, minimum=None, maximum=None, verify=True):
    """A client's SSLContext trusting the test CA (checking the server's name unless verify is
    False); with the CA's client certificate (cert) or the untrusted CA's (untrusted); TLS
    versions bounded by minimum/maximum (ssl.TLSVersion)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(pki.ca_crt)
    else:
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(pki.client_crt, pki.client_key)
    if untrusted:
        ctx.load_cert_chain(pki.untrusted_crt, pki.untrusted_key)
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    return ctx


class Conn:
    """A RESP client on one TLS (or, with ctx None, plaintext) connection: send(*args) writes a
    command, reply() reads one whole RESP2/RESP3 value (bytes for strings, str for errors,
    lists, dicts, ints, None), raising EOFError on a close and socket.timeout after
    `timeout` s without a byte."""

    def __init__(self, port, ctx, timeout=5, session=None, server_hostname=NAME):
        raw = socket.create_connection((HOST, port), timeout=timeout)
        try:
            self.s = ctx.wrap_socket(raw, server_hostname=server_hostname, session=session) if ctx else raw
        except BaseException:
            raw.close()
            raise
        self.buf = b""

    def send(self, *args):
        self.s.sendall(local_servers.resp_command(*args))

    def call(self, *args):
        self.send(*args)
        return self.reply()

    def _more(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind in (b"$", b"=", b"!"):
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._more()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode() if kind == b"!" else data
        if kind in (b"*", b">", b"~"):
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        if kind == b"%":
            return {self.reply(): self.reply() for _ in range(int(rest))}
        if kind == b"_":
            return None
        if kind == b",":
            return float(rest)
        if kind == b"#":
            return rest == b"t"
        raise ValueError(f"unexpected RESP {line[:80]!r}")

    def close(self):
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def ping(port, ctx, **kw):
    """"ok" when a new connection gets PONG; else "refused: <why>" (handshake failed, alert or
    close before the reply) or "timeout: ..." (no answer within 5 s: a hang, not a refusal)."""
    try:
        with Conn(port, ctx, **kw) as c:
            r = c.call("PING")
            return "ok" if r == b"PONG" else f"refused: reply {r!r}"
    except socket.timeout as e:
        return f"timeout: {e!r}"
    except (ssl.SSLError, OSError, EOFError) as e:
        return f"refused: {e!r}"


def answers(conn):
    """True when an open Conn answers PING with PONG; False on any other reply, a close or 5 s
    of silence (so a check on a connection the server dropped fails instead of raising)."""
    try:
        return conn.call("PING") == b"PONG"
    except (ssl.SSLError, OSError, EOFError):
        return False


def resumed(port, ctx):
    """Connects twice, the second time offering the first connection's session: (the second
    answered PING, it resumed the session)."""
    with Conn(port, ctx) as first:
        first.call("PING")  # TLS 1.3 tickets arrive after the handshake, with the first reply
        session = first.s.session
    with Conn(port, ctx, session=session) as second:
        return answers(second), second.s.session_reused


def client_hello(pki):
    """The bytes of a real ClientHello (what a Python client sends first)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx(pki).wrap_bio(inc, out, server_hostname=NAME)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def closed_within(sock, timeout):
    """Reads from a raw socket until the peer closes it (EOF or reset): (True, bytes read) if
    that happens within `timeout` s, else (False, bytes read)."""
    got, end = b"", time.time() + timeout
    while time.time() < end:
        if not select.select([sock], [], [], max(0, end - time.time()))[0]:
            continue
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return True, got
        if not chunk:
            return True, got
        got += chunk
    return False, got


def redis_cli(pki, port, *args, cert=True, timeout=10):
    """redis-cli --tls with the test CA (and the client certificate): (exit code, stdout+stderr)."""
    r = subprocess.run(["redis-cli", *cli_tls_args(pki, cert), "-h", HOST, "-p", str(port), *args],
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).strip()


def cli_tls_args(pki, cert):
    extra = ["--cert", pki.client_crt, "--key", pki.client_key] if cert else []
    return ["--tls", "--cacert", pki.ca_crt, *extra]


class OutputReader:
    """Collects a child's stdout without blocking. wait(pred, timeout) reads until pred(output so
    far) is true, the child closes its stdout (eof), or `timeout` s pass; returns pred's value."""

    def __init__(self, proc):
        self.proc, self.out, self.eof = proc, b"", False

    def wait(self, pred, timeout=10):
        end = time.time() + timeout
        while not pred(self.out) and not self.eof and time.time() < end:
            if select.select([self.proc.stdout], [], [], max(0, end - time.time()))[0]:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                self.eof = not chunk
                self.out += chunk
        return bool(pred(self.out))

    def wait_for(self, text, timeout=10):
        """True once the output contains `text`."""
        return self.wait(lambda out: text.encode() in out, timeout)


def ioredis(pki, port, cert, timeout=30):
    """Runs tls_ioredis_check.js (a subscriber and a publisher over TLS) against the TLS port;
    returns what it printed as a dict, or {"ran": False, "output": ...}."""
    pkg = os.environ.get("FANOUT_NODE_PACKAGE", "")
    modules = os.path.join(os.path.dirname(os.path.realpath(pkg)), "node_modules") if pkg else ""
    if not modules or not os.path.isdir(os.path.join(modules, "ioredis")):
        return {"ran": False, "output": f"ioredis is not installed (tools/setup.sh --test): {modules!r}"}
    here = os.path.dirname(os.path.realpath(__file__))
    args = [str(port), pki.ca_crt] + ([pki.client_crt, pki.client_key] if cert else [])
    out = subprocess.run(["node", os.path.join(here, "tls_ioredis_check.js"), *args],
                         capture_output=True, text=True, timeout=timeout,
                         env=dict(os.environ, NODE_PATH=modules))
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ran": False, "output": out.stdout + out.stderr}


def wait_until(cond, timeout=10, step=0.05):
    """Polls cond() until it returns a true value (returned) or `timeout` s pass (last value)."""
    end = time.time() + timeout
    while True:
        v = cond()
        if v or time.time() > end:
            return v
        time.sleep(step)
