"""System limits on the real fanoutd binary: out of file descriptors, accept must not spin the
loop, existing clients keep working, and accepting resumes once descriptors free up.

usage: limits_test.py FANOUTD_BINARY [--backend epoll|io_uring]
"""
import os
import resource
import socket
import sys
import time

_here = os.path.dirname(os.path.abspath(__file__))
for _cand in (os.path.join(_here, "..", "..", "tools", "pylib"),
              os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "tools", "pylib")):
    if os.path.exists(os.path.join(_cand, "local_servers.py")):
        sys.path.insert(0, _cand)
        break
import local_servers  # noqa: E402

PASSED, FAILED = [], []


def check(name, cond, detail=""):
    (PASSED if cond else FAILED).append(name)
    if not cond:
        print(f"FAIL {name} {detail}", flush=True)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ping(s):
    s.sendall(b"PING\r\n")
    return s.recv(100) == b"+PONG\r\n"


def main():
    binary = sys.argv[1]
    backend = sys.argv[3] if len(sys.argv) > 3 else "epoll"

    def low_fds():
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))

    p, port, log_path = local_servers.start_fanoutd(binary, backend, ["--shards", "1"], preexec_fn=low_fds)
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
        time.sleep(1.0)
        late = socket.create_connection(("127.0.0.1", port), timeout=5)
        late.settimeout(5)
        check("accepts again after descriptors free up", ping(late))
        late.close()
        first.close()
        p.terminate()
        p.wait(timeout=15)
        with open(log_path) as f:
            err = f.read()
        check("exits 0 on SIGTERM", p.returncode == 0, p.returncode)
        emfile = err.count("accept failed")
        check("EMFILE logged, rate-limited", 1 <= emfile <= 6, f"{emfile} lines")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
