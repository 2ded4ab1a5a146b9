"""Helpers shared by the Python test and benchmark scripts for servers on loopback."""
import socket
import time


def free_port():
    """A loopback port that was free a moment ago (for servers without a port-0 mode)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10):
    """True once something accepts connections on 127.0.0.1:port, False after `timeout` s."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_for(pred, timeout=20, step=0.05):
    """Polls pred() every `step` s until it returns something true (returned), or `timeout` s pass
    (then its last value)."""
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def start_fanoutd(binary, backend, args=(), **popen_kw):
    """Starts fanoutd on 127.0.0.1, any free port (--port auto). Returns (proc, port, stderr_path): its log goes to a
    file, never a pipe that could fill and stall it. If the backend cannot run on this kernel
    (fanoutd says "is not available"), prints "SKIPPED: <why>" and exits 0: Bazel has no skip
    status, so tools/test.sh counts those lines and reports them."""
    import re
    import subprocess
    import sys
    import tempfile
    err = tempfile.NamedTemporaryFile(prefix="fanoutd-", suffix=".log", delete=False)
    p = subprocess.Popen([binary, "--port", "auto", "--backend", backend, *args],
                         stdout=subprocess.PIPE, stderr=err, text=True, **popen_kw)
    err.close()
    line = p.stdout.readline()
    m = re.match(r"listening on .*:(\d+)$", line.strip())
    if m:
        return p, int(m.group(1)), err.name
    p.wait(timeout=10)
    with open(err.name) as f:
        log = f.read()
    if "is not available" in log:
        print(f"SKIPPED: {backend} backend: {log.strip()}", flush=True)
        sys.exit(0)
    raise SystemExit(f"fanoutd did not start: {line!r} {log!r}")


def start_fanoutd_tls(binary, backend, args=(), plain=True, timeout=20, config=None, **popen_kw):
    """Starts fanoutd on 127.0.0.1 with a TLS listener (--tls-port auto) and, unless `plain` is
    False (--port 0), a plaintext one (--port auto); `args` names the certificates and any other
    flags, `config` a config file read first (redis.conf syntax). Returns (proc, plain_port or
    None, tls_port, stderr_path). fanoutd prints its plaintext endpoints (`listening on
    127.0.0.1:PORT`) before its TLS ones (`listening on tls://127.0.0.1:PORT`): this reads lines
    up to the first TLS one, for at most `timeout` s. Skips as start_fanoutd does when the
    backend cannot run here; any other failure to start raises SystemExit with fanoutd's log."""
    import os
    import re
    import select
    import subprocess
    import sys
    import tempfile
    err = tempfile.NamedTemporaryFile(prefix="fanoutd-", suffix=".log", delete=False)
    p = subprocess.Popen([binary, *([config] if config else []), "--port", "auto" if plain else "0",
                          "--tls-port", "auto", "--backend", backend, *args],
                         stdout=subprocess.PIPE, stderr=err, **popen_kw)
    err.close()
    # The pipe's own descriptor, read as it comes: a buffered readline() could hold the TLS line
    # in Python's buffer while select() waits on an empty pipe.
    plain_port, out, end = None, b"", time.time() + timeout
    while time.time() < end and select.select([p.stdout], [], [], max(0, end - time.time()))[0]:
        chunk = os.read(p.stdout.fileno(), 4096)
        if not chunk:
            break
        out += chunk
        for line in out.decode(errors="replace").splitlines()[:out.count(b"\n")]:
            m = re.match(r"listening on (tls://)?127\.0\.0\.1:(\d+)$", line.strip())
            if m and m.group(1):
                return p, plain_port, int(m.group(2)), err.name
            if m and plain_port is None:
                plain_port = int(m.group(2))
    lines = out.decode(errors="replace").splitlines()
    if p.poll() is None:
        p.kill()
    p.wait(timeout=10)
    with open(err.name) as f:
        log = f.read()
    if "is not available" in log:
        print(f"SKIPPED: {backend} backend: {log.strip()}", flush=True)
        sys.exit(0)
    raise SystemExit(f"fanoutd did not start with TLS: {lines!r} {log[-2000:]!r}")


def resp_command(*args):
    """A command as a RESP array of bulk strings (str, bytes or numbers)."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def info(port, section="everything", timeout=5, auth=None):
    """fanoutd's (or Redis's) INFO as a dict of its fields, over a raw socket; `auth` is a
    (user, password) to sign in with first."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        command = resp_command
        if auth:
            s.sendall(command("AUTH", *auth))
            ok = b""
            while not ok.endswith(b"\r\n"):
                ok += s.recv(1)
            if ok != b"+OK\r\n":
                raise OSError(f"INFO: AUTH failed: {ok!r}")
        s.sendall(command("INFO", section))
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("INFO: connection closed")
            data += chunk
        header, rest = data.split(b"\r\n", 1)
        if not header.startswith(b"$"):
            raise OSError(f"INFO: unexpected reply {header!r}")
        size = int(header[1:])
        while len(rest) < size + 2:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("INFO: connection closed")
            rest += chunk
    finally:
        s.close()
    fields = {}
    for line in rest[:size].decode().splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            fields[k] = int(v) if v.lstrip("-").isdigit() else v
    return fields


def deliveries_balanced(port, timeout=10, auth=None):
    """fanoutd's delivery accounting: every push owed to a subscriber was sent, dropped by
    policy, discarded with its connection, or is still queued, exactly once. Polls until the
    shards are quiescent enough for INFO's snapshot to add up (or `timeout` s). Returns
    (ok, detail)."""
    end = time.time() + timeout
    while True:
        f = info(port, auth=auth)
        parts = [f["deliveries_sent"], f["dropped_newest"], f["dropped_oldest"],
                 f["deliveries_discarded"], f["deliveries_queued"]]
        detail = ("deliveries_due {} vs sent {} + dropped_newest {} + dropped_oldest {} + "
                  "discarded {} + queued {}".format(f["deliveries_due"], *parts))
        if f["deliveries_due"] == sum(parts):
            return True, detail
        if time.time() > end:
            return False, detail
        time.sleep(0.05)


def parse_log_line(line, raw=False):
    """One fanoutd log line (net/log.h), text or json, as a dict; raises ValueError unless the
    whole line is well formed. Text: time=... level=... msg="..." key=value ..., a quoted value's
    escapes (\\" \\\\ \\n \\r \\t \\xHH) decoded; every value a str (bytes with raw=True, the exact
    bytes logged). Json: json.loads of the line, which must be one object."""
    import json
    line = line.rstrip("\n")
    if line.startswith("{"):
        obj = json.loads(line)
        if not isinstance(obj, dict):
            raise ValueError(f"not a JSON object: {line!r}")
        return obj
    data = line.encode("ascii")  # a text line is printable ASCII, or it is broken
    out, i, n = {}, 0, len(data)
    while i < n:
        eq = data.find(b"=", i)
        if eq <= i:
            raise ValueError(f"no key at byte {i}: {line!r}")
        key = data[i:eq].decode()
        if any(c in key for c in ' "\\'):
            raise ValueError(f"bad key {key!r}: {line!r}")
        i = eq + 1
        if i < n and data[i:i + 1] == b'"':
            i += 1
            value = bytearray()
            while True:
                if i >= n:
                    raise ValueError(f"unterminated quote: {line!r}")
                ch = data[i:i + 1]
                if ch == b'"':
                    i += 1
                    break
                if ch == b"\\":
                    esc = data[i + 1:i + 2]
                    simple = {b'"': b'"', b"\\": b"\\", b"n": b"\n", b"r": b"\r", b"t": b"\t"}
                    if esc in simple:
                        value += simple[esc]
                        i += 2
                    elif esc == b"x":
                        value.append(int(data[i + 2:i + 4], 16))
                        i += 4
                    else:
                        raise ValueError(f"bad escape at byte {i}: {line!r}")
                else:
                    value += ch
                    i += 1
        else:
            end = data.find(b" ", i)
            end = n if end < 0 else end
            value = data[i:end]
            if not value or any(c in value for c in b'"=\\'):
                raise ValueError(f"bad bare value at byte {i}: {line!r}")
            i = end
        if key in out:
            raise ValueError(f"key {key} twice: {line!r}")
        out[key] = bytes(value) if raw else bytes(value).decode("utf-8", "replace")
        if i < n:
            if data[i:i + 1] != b" ":
                raise ValueError(f"no space after {key}: {line!r}")
            i += 1
    return out


if __name__ == "__main__":
    print(__doc__)
    print("A module for the test and benchmark scripts (import local_servers); nothing to run.")
