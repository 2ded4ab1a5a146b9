"""TLS record-level cases run against both servers by tls_test.py: a handshake and a command
arriving one byte per TCP segment, a pipeline of 20,000 commands in one write, a TLS 1.3 KeyUpdate
in the middle of a connection (openssl s_client's K command), a client asking for TLS 1.2
renegotiation (s_client's R), which Redis refuses, and small messages sharing TLS records."""
import socket
import ssl
import subprocess
import time

import tls_clients as tc
from local_servers import resp_command  # noqa: E402  (tools/pylib)
from checks import check  # noqa: E402  (tools/pylib)


def byte_at_a_time(port, ctx, timeout=10):
    """A handshake and then PING, every byte the client sends in its own TCP segment (TCP_NODELAY,
    0.5 ms apart); returns the reply line (bytes) or "failed: <why>"."""
    raw = socket.create_connection((tc.HOST, port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=tc.NAME)

    def flush():
        for b in out.read():
            raw.sendall(bytes([b]))
            time.sleep(0.0005)  # pacing, so each byte leaves alone

    def pump(step):
        end = time.time() + timeout
        while time.time() < end:
            try:
                return step()
            except ssl.SSLWantReadError:
                flush()
                chunk = raw.recv(65536)
                if not chunk:
                    raise EOFError("closed")
                inc.write(chunk)
        raise TimeoutError("no progress")
    try:
        pump(obj.do_handshake)
        flush()
        obj.write(b"*1\r\n$4\r\nPING\r\n")
        flush()
        got = b""
        while b"\r\n" not in got:
            got += pump(lambda: obj.read(100))
        return got
    except (ssl.SSLError, OSError, EOFError) as e:
        return f"failed: {e!r}"
    finally:
        raw.close()


class SClient:
    """openssl s_client on the TLS port, driven line by line through its stdin (a line "K" asks
    for a TLS 1.3 KeyUpdate, "R" for a TLS 1.2 renegotiation); `out` collects what it printed."""

    def __init__(self, pki, port, version_flag):
        self.p = subprocess.Popen(["openssl", "s_client", "-connect", f"{tc.HOST}:{port}", "-CAfile",
                                   pki.ca_crt, version_flag], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.reader = tc.OutputReader(self.p)

    def line(self, text):
        try:
            self.p.stdin.write(text.encode() + b"\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass

    def pongs(self, n, timeout=10):
        """True once s_client has printed +PONG n times (within `timeout` s)."""
        return self.reader.wait(lambda out: out.count(b"+PONG") >= n, timeout)

    def ended(self, timeout=10):
        """True once s_client exits (the server ended the connection) within `timeout` s."""
        self.reader.wait(lambda out: False, timeout)  # returns at its end of output
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        return self.p.poll() is not None

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(timeout=10)


def run(t, srv, pki):
    ctx = tc.client_ctx(pki)
    r = byte_at_a_time(srv.tls_port, ctx)
    check(f"{t} records: handshake and PING one byte per segment", r == b"+PONG\r\n", r)
    with tc.Conn(srv.tls_port, ctx, timeout=20) as c:
        c.s.sendall(b"PING\r\n" * 20000)
        replies = [c.reply() for _ in range(20000)]
        check(f"{t} records: 20,000 pipelined PINGs in one write, 20,000 PONGs",
              replies.count(b"PONG") == 20000, replies[:3])
    s = SClient(pki, srv.tls_port, "-tls1_3")
    try:
        s.line("PING")
        first = s.pongs(1)
        s.line("K")
        sent = first and s.reader.wait_for("KEYUPDATE")
        check(f"{t} records: s_client sent a KeyUpdate", sent, s.reader.out[-500:])
        s.line("PING")
        check(f"{t} records: PING answered after a TLS 1.3 KeyUpdate", s.pongs(2), s.reader.out[-500:])
    finally:
        s.close()
    s = SClient(pki, srv.tls_port, "-tls1_2")
    try:
        s.line("PING")
        first = s.pongs(1)
        s.line("R")
        asked = first and s.reader.wait_for("RENEGOTIATING")
        s.line("PING")
        check(f"{t} records: TLS 1.2 renegotiation refused (the connection ends, no second PONG)",
              asked and s.ended() and s.reader.out.count(b"+PONG") == 1, s.reader.out[-500:])
    finally:
        s.close()
    record_packing(t, srv, pki)
    check(f"{t} records: server healthy after", tc.ping(srv.tls_port, ctx) == "ok")


def record_packing(t, srv, pki):
    """Small messages queued together leave in shared TLS records, never one record per message
    (counted on the wire: a raw socket under an in-memory TLS client)."""
    raw = socket.create_connection((tc.HOST, srv.tls_port), timeout=10)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = tc.client_ctx(pki).wrap_bio(inc, out, server_hostname=tc.NAME)
    wire = bytearray()  # every byte the server sent after the subscription was confirmed

    def read_until(done):
        plain = b""
        while not done(plain):
            try:
                plain += obj.read(1 << 20)
                continue
            except ssl.SSLWantReadError:
                pass
            raw.sendall(out.read())
            chunk = raw.recv(1 << 20)
            if not chunk:
                raise EOFError("closed")
            wire.extend(chunk)
            inc.write(chunk)
        return plain
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(out.read())
            chunk = raw.recv(65536)
            if not chunk:
                raise EOFError("closed during the handshake")
            inc.write(chunk)
    obj.write(resp_command("SUBSCRIBE", "packed"))
    raw.sendall(out.read())
    read_until(lambda p: p.endswith(b":1\r\n"))
    wire.clear()
    n = 200
    with tc.Conn(srv.tls_port, tc.client_ctx(pki)) as pub:
        pub.s.sendall(b"".join(resp_command("PUBLISH", "packed", "m%03d" % i) for i in range(n)))
        replies = [pub.reply() for _ in range(n)]
    got = read_until(lambda p: p.count(b"message") >= n)
    raw.close()
    records, i = 0, 0
    while i + 5 <= len(wire):
        records += 1
        i += 5 + int.from_bytes(wire[i + 3:i + 5], "big")
    check(f"{t} records: {n} small messages share TLS records (at most one record per 4)",
          replies == [1] * n and got.count(b"message") == n and records <= n // 4,
          f"{records} records, {len(wire)} bytes")
