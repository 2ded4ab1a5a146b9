"""Helpers for tests that run fanoutd and its clients in network namespaces of their own.

- Topology: namespaces and veth pairs created by one run (names carry the test's PID) and
  removed by it; only documentation addresses from RFC 5737 (192.0.2.0/24) are used.
- socket_in(): a TCP socket created inside a namespace through setns(2) on this thread, which
  then returns to its own namespace (a socket keeps the namespace it was made in).
- A small RESP reader, a subscriber thread that checks every message it gets, a paced
  publisher thread, and fanoutd started inside a namespace.
Every wait is bounded by a deadline; every loop by a count or a deadline.
"""
import ctypes
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

# local_servers.py (//tools/pylib) is on the module path: tools/pylib/run_py.sh puts it there.
from local_servers import resp_command  # noqa: E402

CLONE_NEWNET = 0x40000000
SERVER_ADDR = "192.0.2.1"  # RFC 5737 TEST-NET-1, on the server namespace's loopback device
_SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
_libc = ctypes.CDLL(None, use_errno=True)
_home_ns_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)  # the namespace we started in


def tool(name):
    """Full path of an iproute2 tool (Bazel's test PATH lacks /usr/sbin), or None."""
    return shutil.which(name, path=_SBIN_PATH)


def run(*argv, check=True):
    """Runs an ip/tc command (bounded by a timeout). Returns (rc, output)."""
    argv = [tool(argv[0]) or argv[0], *argv[1:]]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: {p.stdout.strip()}")
    return p.returncode, p.stdout.strip()


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def socket_in(ns):
    """A TCP socket that lives in namespace `ns` (this thread enters it only to create it)."""
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        _setns(fd)
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            _setns(_home_ns_fd)  # failing to return would be fatal: it raises
    finally:
        os.close(fd)


def connect_in(ns, port, timeout=5.0):
    s = socket_in(ns)
    s.settimeout(timeout)
    s.connect((SERVER_ADDR, port))
    return s


def remove_stale_namespaces(prefix):
    """Deletes namespaces `prefix-PID-*` left by an earlier run that was killed (its PID gone)."""
    _, out = run("ip", "netns", "list", check=False)
    for line in out.splitlines()[:1000]:
        name = line.split()[0] if line.split() else ""
        m = re.match(re.escape(prefix) + r"-(\d+)-", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            run("ip", "netns", "del", name, check=False)


class Topology:
    """A server namespace holding SERVER_ADDR on its loopback, and client namespaces each joined
    to it by its own veth pair: path i uses 192.0.2.(4i+1)/30 on the server end and .(4i+2) on
    the client end, with a route to SERVER_ADDR through the server end. remove() deletes every
    namespace this object created; their veth pairs go with them."""

    def __init__(self, prefix, tag):
        self.base = f"{prefix}-{os.getpid()}-{tag}"
        self.made = []
        try:
            self.server = self._add_ns("srv")
            run("ip", "-n", self.server, "addr", "add", f"{SERVER_ADDR}/32", "dev", "lo")
        except BaseException:
            self.remove()  # the caller's finally never sees a half-made object
            raise

    def _add_ns(self, role):
        name = f"{self.base}-{role}"
        run("ip", "netns", "add", name)
        self.made.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def add_path(self, role, index):
        """A client namespace `role` joined by a veth pair; returns (ns, server_dev, client_dev)."""
        assert 2 <= index <= 60
        ns = self._add_ns(role)
        sdev, cdev = f"s-{role}"[:15], f"c-{role}"[:15]
        sip, cip = f"192.0.2.{4 * index + 1}", f"192.0.2.{4 * index + 2}"
        run("ip", "-n", self.server, "link", "add", sdev, "type", "veth", "peer", "name", cdev, "netns", ns)
        run("ip", "-n", self.server, "addr", "add", f"{sip}/30", "dev", sdev)
        run("ip", "-n", self.server, "link", "set", sdev, "up")
        run("ip", "-n", ns, "addr", "add", f"{cip}/30", "dev", cdev)
        run("ip", "-n", ns, "link", "set", cdev, "up")
        run("ip", "-n", ns, "route", "add", f"{SERVER_ADDR}/32", "via", sip)
        return ns, sdev, cdev

    def remove(self):
        for name in reversed(self.made):
            run("ip", "netns", "del", name, check=False)
        self.made = []


_INCOMPLETE = object()


class RespReader:
    """Reads RESP values (simple strings, errors, integers, bulk strings, arrays and RESP3 pushes)
    from a socket; recv timeouts propagate as socket.timeout."""

    def __init__(self, sock):
        self.sock, self.buf, self.pos, self.bytes = sock, bytearray(), 0, 0

    def read(self):
        while True:
            r = self._parse(self.pos)
            if r is not _INCOMPLETE:
                value, self.pos = r
                if self.pos > (1 << 20):
                    del self.buf[:self.pos]
                    self.pos = 0
                return value
            data = self.sock.recv(262144)
            if not data:
                raise EOFError("connection closed")
            self.buf += data
            self.bytes += len(data)

    def _parse(self, pos):
        end = self.buf.find(b"\r\n", pos)
        if end < 0:
            return _INCOMPLETE
        kind, line = self.buf[pos:pos + 1], bytes(self.buf[pos + 1:end])
        if kind in (b"+", b"-"):
            return (line.decode() if kind == b"+" else RuntimeError(line.decode())), end + 2
        if kind == b":":
            return int(line), end + 2
        if kind == b"$":
            n = int(line)
            if n < 0:
                return None, end + 2
            if len(self.buf) < end + 4 + n:
                return _INCOMPLETE
            return bytes(self.buf[end + 2:end + 2 + n]), end + 4 + n
        if kind in (b"*", b">"):
            items, p = [], end + 2
            for _ in range(int(line)):
                r = self._parse(p)
                if r is _INCOMPLETE:
                    return _INCOMPLETE
                items.append(r[0])
                p = r[1]
            return items, p
        raise ValueError(f"not RESP: {bytes(self.buf[pos:pos + 40])!r}")


def command(sock, reader, *args):
    sock.sendall(resp_command(*args))
    return reader.read()


def payload(seq):
    """Message `seq`: 1-4 KiB, its number first, the rest a letter that depends on it."""
    size = 1024 + (seq * 2654435761) % 3073
    head = b"%08d|" % seq
    return head + bytes([65 + seq % 26]) * (size - len(head))


class Subscriber(threading.Thread):
    """One subscriber connection read on its own thread. Records the number of every message in
    arrival order, any message that is not exactly payload(seq), and when the server closed it."""

    def __init__(self, name, ns, port, channels, deadline_s=90):
        super().__init__(name=name, daemon=True)
        self.sock = connect_in(ns, port)
        self.reader = RespReader(self.sock)
        self.client_id = command(self.sock, self.reader, "CLIENT", "ID")
        for i, ch in enumerate(channels):
            reply = command(self.sock, self.reader, "SUBSCRIBE", ch)
            if reply != [b"subscribe", ch.encode(), i + 1]:
                raise RuntimeError(f"{name}: SUBSCRIBE {ch}: {reply!r}")
        self.sock.settimeout(0.5)
        self.seqs, self.bad, self.times = [], [], []
        self.eof_at = self.error = None
        self.stop_flag = threading.Event()
        self.deadline = time.time() + deadline_s

    def run(self):
        while not self.stop_flag.is_set() and time.time() < self.deadline:
            try:
                v = self.reader.read()
            except socket.timeout:
                continue
            except EOFError:
                self.eof_at = time.time()
                return
            except OSError as e:
                self.error, self.eof_at = e, time.time()
                return
            if not (isinstance(v, list) and len(v) == 3 and v[0] == b"message"):
                self.bad.append(f"unexpected {v!r}"[:200])
                continue
            seq = int(v[2][:8])
            if v[2] != payload(seq):
                self.bad.append(f"message {seq}: payload differs")
            self.seqs.append(seq)
            self.times.append(time.time())

    def in_order(self):
        return all(a < b for a, b in zip(self.seqs, self.seqs[1:]))

    def finish(self):
        self.stop_flag.set()
        self.join(timeout=5)
        try:
            self.sock.close()
        except OSError:
            pass


class Publisher(threading.Thread):
    """Publishes payload(0..count-1) on `channel` at `rate` per second (in 10 ms batches, each
    batch's replies read before the next), until done, stopped, or `max_s` seconds. `replies`
    holds each PUBLISH's receiver count."""

    def __init__(self, ns, port, channel, count, rate, max_s=30):
        super().__init__(name="publisher", daemon=True)
        self.sock = connect_in(ns, port, timeout=10)
        self.reader = RespReader(self.sock)
        self.channel, self.count, self.rate, self.max_s = channel, count, rate, max_s
        self.replies, self.error, self.started_at, self.done_at = [], None, None, None
        self.stop_flag = threading.Event()

    def run(self):
        self.started_at = t0 = time.time()
        sent = 0
        try:
            while sent < self.count and not self.stop_flag.is_set() and time.time() < t0 + self.max_s:
                due = min(self.count, int((time.time() - t0) * self.rate) + 1)
                batch = b"".join(resp_command("PUBLISH", self.channel, payload(i)) for i in range(sent, due))
                if batch:
                    self.sock.sendall(batch)
                    for _ in range(sent, due):
                        self.replies.append(self.reader.read())
                    sent = due
                time.sleep(0.01)  # pacing of the stream, not a wait for a condition
        except Exception as e:  # reported by the test as a failure
            self.error = e
        self.done_at = time.time()

    def finish(self):
        self.stop_flag.set()
        self.join(timeout=15)
        self.sock.close()


class Server:
    """fanoutd inside namespace `ns`, bound to SERVER_ADDR, port 0. Its stderr goes to a file.
    `self.skip` holds the reason if the backend cannot run on this kernel."""

    def __init__(self, binary, ns, backend, args):
        self.log = tempfile.NamedTemporaryFile(prefix="fanoutd-netns-", suffix=".log", delete=False)
        # setpriv --pdeathsig: if this test is killed outright, fanoutd goes with it rather than
        # keeping its namespace alive (setpriv and ip exec in turn, so the PID is fanoutd's).
        guard = [tool("setpriv"), "--pdeathsig", "KILL"] if tool("setpriv") else []
        self.proc = subprocess.Popen(
            [*guard, tool("ip"), "netns", "exec", ns, os.path.abspath(binary), "--bind", SERVER_ADDR,
             "--port", "auto", "--backend", backend, "--protected-mode=false", "--shutdown-timeout-ms", "1000",
             *args],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.log.close()
        self.port, self.skip = None, None
        line = self.proc.stdout.readline()  # fanoutd prints this once listening, or exits
        m = re.match(r"listening on .*:(\d+)$", line.strip())
        if m:
            self.port = int(m.group(1))
            return
        self.proc.wait(timeout=10)
        text = self.log_text()
        if "is not available" in text:
            why = [line for line in text.splitlines() if "is not available" in line]
            self.skip = f"{backend} backend: {why[0].split('cannot start: ')[-1]}"
            return
        raise RuntimeError(f"fanoutd did not start: {line!r} {text!r}")

    def log_text(self):
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


class Info:
    """INFO and PUBSUB NUMSUB over one connection from the server's namespace (its loopback)."""

    def __init__(self, ns, port):
        self.sock = connect_in(ns, port)
        self.reader = RespReader(self.sock)

    def get(self):
        text = command(self.sock, self.reader, "INFO", "everything").decode()
        fields = {}
        for line in text.splitlines():
            k, sep, v = line.partition(":")
            if sep and not k.startswith("#"):
                fields[k] = int(v) if v.lstrip("-").isdigit() else v
        return fields

    def numsub(self, *channels):
        reply = command(self.sock, self.reader, "PUBSUB", "NUMSUB", *channels)
        return {reply[i].decode(): reply[i + 1] for i in range(0, len(reply), 2)}

    def balanced(self, timeout=10):
        """(ok, detail, fields): deliveries_due == sent + dropped + discarded + queued, polled
        until it holds or `timeout` s pass (INFO's snapshot is taken shard by shard)."""
        end = time.time() + timeout
        while True:
            f = self.get()
            parts = [f["deliveries_sent"], f["dropped_newest"], f["dropped_oldest"],
                     f["deliveries_discarded"], f["deliveries_queued"]]
            detail = ("deliveries_due {} vs sent {} + dropped_newest {} + dropped_oldest {} + "
                      "discarded {} + queued {}".format(f["deliveries_due"], *parts))
            if f["deliveries_due"] == sum(parts) or time.time() > end:
                return f["deliveries_due"] == sum(parts), detail, f
            time.sleep(0.05)

    def close(self):
        self.sock.close()


def wait_for(cond, timeout, step=0.05):
    """Polls cond() until it is true (returns True) or `timeout` s pass (returns False)."""
    end = time.time() + timeout
    while True:
        if cond():
            return True
        if time.time() > end:
            return False
        time.sleep(step)
