"""System limits and secrets on the real fanoutd binary. Each limit is logged once when it
begins and once when it ends, and the server recovers by itself:
- out of file descriptors: accept must not spin the loop, existing clients keep working, and
  accepting resumes once descriptors free up;
- a storm of connections past --max-clients: each refused with Redis's error;
- the process-wide --max-queued-bytes cap reached by stalled subscribers: pushes to clients that
  are behind are shed by policy, queued memory stays under the cap, a subscriber that keeps up
  loses nothing, and the delivery accounting adds up.
Secrets: --requirepass-file keeps the password out of the process list, and a bad --aclfile
stops the start naming its line.

usage: limits_test.py FANOUTD_BINARY [--backend epoll|io_uring]
"""
import os
import resource
import socket
import sys
import time

# local_servers.py (//tools/pylib) is on the module path: tools/pylib/run_py.sh puts it there.
import local_servers  # noqa: E402
from checks import check, summary  # noqa: E402  (tools/pylib)
from local_servers import resp_command  # noqa: E402


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ping(s):
    s.sendall(b"PING\r\n")
    return s.recv(100) == b"+PONG\r\n"


def read_log(path):
    with open(path) as f:
        return f.read()


def wait_for_log(path, text, timeout=10):
    """Polls the server's log until it holds `text` (True) or the timeout passes (False)."""
    end = time.time() + timeout
    while time.time() < end:
        if text in read_log(path):
            return True
        time.sleep(0.05)
    return False


def info_over(sock):
    """INFO through a connection already admitted (a new one could be refused while full)."""
    sock.sendall(resp_command("INFO"))
    data = b""
    while True:
        data += sock.recv(65536)
        head, _, rest = data.partition(b"\r\n")
        if head[:1] in (b"$", b"=") and len(rest) >= int(head[1:]):
            break
    fields = {}
    for line in data.decode().split("\r\n"):
        k, _, v = line.partition(":")
        if v.isdigit():
            fields[k] = int(v)
    return fields


def stop(p, log_path):
    p.terminate()
    p.wait(timeout=15)
    check("exits 0 on SIGTERM", p.returncode == 0, p.returncode)
    return read_log(log_path)


def descriptors_exhausted(binary, backend):
    # Started with the usual limit (so --max-clients fits it), then squeezed to 48 descriptors
    # while it runs, as an operator's prlimit could: accept fails with EMFILE.
    if backend == "io_uring":
        # The kernel reads the limit when a multishot accept is armed (io_accept_prep), and it is
        # armed once at start, when the limit still fits every client.
        print("SKIPPED: descriptors exhausted at run time: io_uring's multishot accept keeps the "
              "descriptor limit it was armed with", flush=True)
        return
    p, port, log_path = local_servers.start_fanoutd(binary, backend, ["--shards", "1"])
    resource.prlimit(p.pid, resource.RLIMIT_NOFILE, (48, 48))
    try:
        first = socket.create_connection(("127.0.0.1", port), timeout=5)
        check("serves before exhaustion", ping(first))
        # Far more connections than descriptors: the kernel completes them into the backlog,
        # fanoutd's accept fails with EMFILE.
        extra = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(120)]
        time.sleep(0.5)
        c0 = cpu_seconds(p.pid)
        time.sleep(2.0)
        used = cpu_seconds(p.pid) - c0
        check("accept backs off instead of spinning", used < 0.5, f"{used:.2f} CPU-s in 2 s")
        check("existing client still served", ping(first))
        for s in extra:
            s.close()
        late = socket.create_connection(("127.0.0.1", port), timeout=5)
        late.settimeout(5)
        check("accepts again after descriptors free up", ping(late))
        late.close()
        first.close()
        check("recovery logged", wait_for_log(log_path, "accepting again"))
        err = stop(p, log_path)
        check("EMFILE logged once", err.count("accept failed") == 1, err[-2000:])
        check("recovery logged once", err.count("accepting again") == 1, err[-2000:])
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def max_clients_fit_the_descriptor_limit(binary, backend):
    """As Redis: with fewer descriptors than --max-clients needs (and no room to raise the soft
    limit), fanoutd lowers its client limit, says so, and refuses past it with Redis's error."""
    def low_fds():
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))

    p, port, log_path = local_servers.start_fanoutd(binary, backend, ["--shards", "1"], preexec_fn=low_fds)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(resp_command("INFO", "clients"))
        info = s.recv(4096)
        # 48 descriptors less 32 + 4 per shard + 1 per listener: 11 clients.
        check("maxclients lowered to what the descriptors hold", b"maxclients:11\r\n" in info, info)
        clients = [s] + [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(10)]
        check("the lowered limit still admits that many", all(ping(c) for c in clients[1:]))
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        extra.settimeout(5)
        check("one more is refused with the Redis error",
              extra.recv(100) == b"-ERR max number of clients reached\r\n")
        for c in clients + [extra]:
            c.close()
        err = stop(p, log_path)
        check("the lowering is logged", "maxclients lowered from 100000 to 11" in err, err[-2000:])
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def max_clients_storm(binary, backend):
    p, port, log_path = local_servers.start_fanoutd(binary, backend, ["--shards", "1", "--max-clients", "5"])
    try:
        admitted = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(5)]
        for s in admitted:
            check("admitted below the limit", ping(s))
        refused = 0
        for _ in range(3):  # three waves of 100
            wave = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(100)]
            for s in wave:
                s.settimeout(5)
                data = b""
                while True:
                    chunk = s.recv(100)
                    if not chunk:
                        break
                    data += chunk
                refused += data == b"-ERR max number of clients reached\r\n"
                s.close()
        check("every storm connection refused with the Redis error", refused == 300, f"{refused} of 300")
        check("admitted clients still served", all(ping(s) for s in admitted))
        admitted.pop().close()
        end = time.time() + 10
        while info_over(admitted[0])["connected_clients"] != 4 and time.time() < end:
            time.sleep(0.05)
        late = socket.create_connection(("127.0.0.1", port), timeout=5)
        late.settimeout(5)
        check("a freed slot admits a new client", ping(late))
        late.close()
        for s in admitted:
            s.close()
        check("end of refusals logged", wait_for_log(log_path, "no longer refusing connections"))
        err = stop(p, log_path)
        check("max clients logged once", err.count("max clients (5) reached") == 1, err[-2000:])
        check("end of refusals logged once", err.count("no longer refusing connections (300 refused") == 1,
              err[-2000:])
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


class Reader:
    """Reads a subscriber's pushes (RESP2 arrays of bulk strings) from a blocking socket."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bulk(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError
            self.buf += chunk
        v, self.buf = self.buf[:n], self.buf[n + 2:]
        return v

    def value(self):
        line = self._line()
        if line[:1] == b"*":
            return [self.value() for _ in range(int(line[1:]))]
        if line[:1] == b"$":
            return self._bulk(int(line[1:]))
        return line


def subscriber(port, channel, rcvbuf=0):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.settimeout(10)
    s.sendall(resp_command("SUBSCRIBE", channel))
    r = Reader(s)
    r.value()  # the confirmation
    return s, r


def queued_bytes_cap(binary, backend):
    cap = 2 << 20
    p, port, log_path = local_servers.start_fanoutd(
        binary, backend, ["--shards", "1", "--max-queued-bytes", str(cap), "--policy", "drop-newest",
                          "--client-hard-limit", "0", "--client-soft-limit", "0",
                          "--client-max-messages", "0"])
    try:
        # Eight subscribers that never read: 2,000 × 16 KiB (31 MiB each) is far beyond what the
        # kernel buffers hold, so the shard's queued output reaches the cap.
        stalled = [subscriber(port, "cap", rcvbuf=4096)[0] for _ in range(8)]
        fast, fast_reader = subscriber(port, "cap")
        pub = socket.create_connection(("127.0.0.1", port), timeout=10)
        pub_reader = Reader(pub)
        pad = b"." * (16 * 1024)
        peak, got_all = 0, True
        for i in range(2000):
            pub.sendall(resp_command("PUBLISH", "cap", b"%d:" % i + pad))
            pub_reader.value()
            msg = fast_reader.value()
            got_all &= msg[0] == b"message" and msg[2].split(b":", 1)[0] == b"%d" % i
            if i % 100 == 0:
                peak = max(peak, local_servers.info(port)["queued_output_bytes"])
        f = local_servers.info(port)
        peak = max(peak, f["queued_output_bytes"])
        check("a subscriber that keeps up gets every message in order", got_all)
        check("queued output stays under the cap (plus one message)", peak <= cap + len(pad) + 64,
              f"peak {peak} > cap {cap}")
        check("the cap was reached and shed by policy", f["overflow_total_cap"] > 0 and f["dropped_newest"] > 0, f)
        ok, detail = local_servers.deliveries_balanced(port)
        check("delivery accounting adds up while capped", ok, detail)
        # Recovery: the stalled subscribers go away, queued output drains to nothing, and a new
        # subscriber that reads gets everything.
        for s in stalled:
            s.close()
        deadline = time.time() + 10
        while local_servers.info(port)["queued_output_bytes"] != 0 and time.time() < deadline:
            time.sleep(0.05)
        check("queued output drains after the stalled subscribers leave",
              local_servers.info(port)["queued_output_bytes"] == 0)
        check("recovery from the cap logged", wait_for_log(log_path, "queued output back under the cap"))
        late, late_reader = subscriber(port, "cap")
        for i in range(100):
            pub.sendall(resp_command("PUBLISH", "cap", b"late:%d" % i))
            pub_reader.value()
        late_ok = all(late_reader.value()[2] == b"late:%d" % i for i in range(100))
        check("after recovery a new subscriber gets every message", late_ok)
        ok, detail = local_servers.deliveries_balanced(port)
        check("delivery accounting adds up after recovery", ok, detail)
        for s in (late, fast, pub):
            s.close()
        err = stop(p, log_path)
        check("cap reached logged once", err.count("reached its share of --max-queued-bytes") == 1,
              err[-2000:])
        check("recovery from the cap logged once", err.count("queued output back under the cap") == 1,
              err[-2000:])
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def password_from_files(binary, backend):
    """--requirepass-file and --aclfile keep secrets out of the process list; a bad ACL file
    stops the start with the line at fault."""
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".pass", delete=False) as f:
        f.write("file-secret\n")
        pass_path = f.name
    p, port, log_path = local_servers.start_fanoutd(binary, backend, ["--requirepass-file", pass_path])
    try:
        with open(f"/proc/{p.pid}/cmdline", "rb") as f:
            check("password not in the process list", b"file-secret" not in f.read())
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(resp_command("PING"))
        check("NOAUTH before AUTH", s.recv(100).startswith(b"-NOAUTH"))
        s.sendall(resp_command("AUTH", "file-secret"))
        check("AUTH with the password from the file", s.recv(100) == b"+OK\r\n")
        s.close()
        stop(p, log_path)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.unlink(pass_path)
    with tempfile.NamedTemporaryFile("w", suffix=".acl", delete=False) as f:
        f.write("user ok on >x +@all\nuser bad on +@nosuch\n")
        acl_path = f.name
    try:
        import subprocess
        r = subprocess.run([binary, "--port", "auto", "--backend", backend, "--aclfile", acl_path],
                           capture_output=True, text=True, timeout=15)
        check("a bad ACL file stops the start, naming the flag and its line",
              r.returncode == 2 and
              f"fanoutd: --aclfile: {acl_path}:2: Error in applying operation '+@nosuch': Unknown command or "
              "category name in ACL" in r.stderr,
              (r.returncode, r.stderr))
    finally:
        os.unlink(acl_path)


def main():
    binary = sys.argv[1]
    backend = sys.argv[3] if len(sys.argv) > 3 else "epoll"
    descriptors_exhausted(binary, backend)
    max_clients_fit_the_descriptor_limit(binary, backend)
    max_clients_storm(binary, backend)
    queued_bytes_cap(binary, backend)
    password_from_files(binary, backend)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
