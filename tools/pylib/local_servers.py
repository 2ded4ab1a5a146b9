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


def start_fanoutd(binary, backend, args=(), **popen_kw):
    """Starts fanoutd on 127.0.0.1, port 0. Returns (proc, port, stderr_path): its log goes to a
    file, never a pipe that could fill and stall it. If the backend cannot run on this kernel
    (fanoutd says "is not available"), prints "SKIPPED: <why>" and exits 0: Bazel has no skip
    status, so tools/test.sh counts those lines and reports them."""
    import re
    import subprocess
    import sys
    import tempfile
    err = tempfile.NamedTemporaryFile(prefix="fanoutd-", suffix=".log", delete=False)
    p = subprocess.Popen([binary, "--port", "0", "--backend", backend, *args],
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
