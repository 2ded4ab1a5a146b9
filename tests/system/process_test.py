"""fanoutd as a process: every bad flag or setting is refused the same way (exit 2, one line
"fanoutd: --flag ..."), a system refusal (the port is taken) exits 1, protected mode decides on the
bound address itself, a stop request at any moment of start-up ends the process cleanly, and
SIGHUP reloads the ACL file without stopping (a broken file keeps the rules in force).

usage: process_test.py FANOUTD_BINARY [--backend epoll|io_uring]
"""
import os
import signal
import socket
import subprocess
import sys
import time

# local_servers.py (//tools/pylib) is on the module path: tools/pylib/run_py.sh puts it there.
import local_servers  # noqa: E402
from checks import check, summary  # noqa: E402  (tools/pylib)


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=30)


def bad_settings(binary, backend):
    """Each is refused before anything is bound, naming its flag, with exit code 2."""
    cases = [
        (["--shards", "-1"], "fanoutd: --shards must be between 0 and 256, got '-1'"),
        (["--shards", "1000"], "fanoutd: --shards must be between 0 and 256, got '1000'"),
        (["--max-send-bytes", "0"], "fanoutd: --max-send-bytes must be between 1 and 1g bytes, got '0'"),
        (["--port", "70000"], "fanoutd: --port must be between 0 and 65535 (or auto), got '70000'"),
        (["--max-bulk-len", "5g"], "fanoutd: --max-bulk-len must be between 1 and 512m bytes, got '5g'"),
        (["--max-query-buffer", "99999999999g"], "fanoutd: --max-query-buffer must be between"),
        (["--uring-sq-entries", "100"], "fanoutd: --uring-sq-entries must be a power of two between 8 and 32768"),
        (["--client-soft-seconds", "9223372036854775807"], "fanoutd: --client-soft-seconds must be between"),
        (["--backend", "kqueue"], "fanoutd: --backend must be one of epoll,io_uring, got 'kqueue'"),
        (["--policy", "bogus"], "fanoutd: --policy must be one of disconnect,drop-oldest,drop-newest"),
        (["--protected-mode=maybe"], "fanoutd: --protected-mode must be true or false"),
        (["--log-level", "loud"], "fanoutd: --log-level must be one of debug,info,warn,error, got 'loud'"),
        (["--max-bulk-len", "100m"], "fanoutd: --max-bulk-len (104857600) must not exceed --max-query-buffer"),
        (["--bind", "1.2.3.4.5"], "fanoutd: --bind: '1.2.3.4.5' is not a valid address or host name"),
        (["--aclfile", "/nonexistent/acl"], "fanoutd: --aclfile: Error loading ACLs, opening file '/nonexistent/acl'"),
        (["--requirepass-file", "/nonexistent/pass"], "fanoutd: --requirepass-file: cannot open /nonexistent/pass"),
        (["--no-such-flag", "1"], "fanoutd: The following argument was not expected: --no-such-flag"),
        (["--port"], "fanoutd: --port: 1 required VALUE missing"),
        # Protected mode: not loopback, and no password.
        (["--bind", "0.0.0.0"], "fanoutd: refusing to listen on 0.0.0.0 without authentication"),
    ]
    for args, want in cases:
        r = run(binary, "--port", "auto", "--backend", backend, *args)
        lines = r.stderr.strip().splitlines()
        check(f"{' '.join(args)}: exit 2", r.returncode == 2, (r.returncode, r.stderr[-500:]))
        check(f"{' '.join(args)}: says why, naming the flag", len(lines) >= 1 and lines[-1].startswith(want),
              r.stderr[-500:])
    r = run(binary, "--help")
    check("--help exits 0 and lists the ranges", r.returncode == 0 and "--shards" in r.stdout and
          "between 0 and 256" in r.stdout, r.returncode)


def loopback_by_address(binary, backend):
    """Protected mode allows any loopback address however it is written, and only those."""
    for bind in ("127.0.0.2", "::ffff:127.0.0.1", "::1"):
        try:
            p, port, log_path = local_servers.start_fanoutd(binary, backend, ["--bind", bind, "--shards", "1"])
        except SystemExit as e:
            if bind != "127.0.0.2" and "Cannot assign" in str(e):
                print(f"SKIPPED: --bind {bind}: no IPv6 loopback here", flush=True)
                continue
            check(f"--bind {bind} is loopback: starts", False, str(e)[-300:])
            continue
        check(f"--bind {bind} is loopback: starts", True)
        p.send_signal(signal.SIGTERM)
        check(f"--bind {bind}: exits 0", p.wait(timeout=15) == 0)


def port_taken(binary, backend):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    r = run(binary, "--port", str(port), "--backend", backend, "--shards", "1")
    check("a taken port exits 1 (a system refusal, not a bad flag)", r.returncode == 1, (r.returncode, r.stderr))
    check("and says so", "cannot listen on 127.0.0.1:%d" % port in r.stderr, r.stderr)
    s.close()


def stop_during_start_up(binary, backend):
    """SIGTERM at any moment of a slow start (64 shards) ends the process with 0, promptly."""
    stopped_early = 0
    for delay_ms in (0, 1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 120):
        p = subprocess.Popen([binary, "--port", "auto", "--backend", backend, "--shards", "64"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay_ms / 1000)
        p.send_signal(signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            check(f"SIGTERM after {delay_ms} ms: stops", False, err[-500:])
            continue
        # A signal before the handler thread exists takes the default action (the process ends
        # by SIGTERM before doing anything); after that it is a clean exit.
        ok = p.returncode == 0 or p.returncode == -signal.SIGTERM
        check(f"SIGTERM after {delay_ms} ms: exits cleanly", ok, (p.returncode, err[-500:]))
        if "stopped during start-up" in err:
            stopped_early += 1
            check(f"SIGTERM after {delay_ms} ms: never listened", "listening on" not in out, out)
    print(f"{stopped_early} of 12 stops arrived during start-up", flush=True)


def start_with_unread_output(binary, backend, shutdown_timeout_ms):
    """fanoutd (one shard) holding 6.4 MB for a subscriber that reads nothing, far more than the
    socket buffers take, so a drain cannot finish. Returns (proc, port, log path, the stalled
    subscriber, the publisher, whose 400 replies have all come)."""
    p, port, log_path = local_servers.start_fanoutd(
        binary, backend, ["--shards", "1", "--shutdown-timeout-ms", str(shutdown_timeout_ms),
                          "--client-hard-limit", "64m", "--client-soft-limit", "0"])
    try:
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", port))
        stalled.sendall(local_servers.resp_command("SUBSCRIBE", "d"))
        stalled.recv(100)  # the confirmation; then it reads nothing more
        pub = socket.create_connection(("127.0.0.1", port), timeout=10)
        payload = b"x" * 16384
        for i in range(400):
            pub.sendall(local_servers.resp_command("PUBLISH", "d", payload))
        replies = b""
        while replies.count(b"\r\n") < 400:
            replies += pub.recv(65536)
    except BaseException:
        p.kill()
        p.wait()
        raise
    return p, port, log_path, stalled, pub


def wait_for_log(log_path, text, timeout=5):
    end = time.time() + timeout
    while text not in open(log_path).read() and time.time() < end:
        time.sleep(0.01)


def drain_deadline(binary, backend):
    """Once shutdown begins nothing new is accepted (a PUBLISH sent during the drain gets no
    reply); a subscriber that reads nothing holds the drain to its deadline, which is then said:
    clients and bytes not delivered. The process still exits 0, promptly. The deadline is the one
    CONFIG SET last gave (started at 5 s, changed live to 1.5 s), in the drain and in its log."""
    import re
    p, port, log_path, stalled, pub = start_with_unread_output(binary, backend, 5000)
    try:
        late = socket.create_connection(("127.0.0.1", port), timeout=10)
        late.sendall(local_servers.resp_command("CONFIG", "SET", "fanout-shutdown-timeout-ms", "1500"))
        check("CONFIG SET fanout-shutdown-timeout-ms", late.recv(100) == b"+OK\r\n")
        late.sendall(b"PING\r\n")
        check("a client served before the stop", late.recv(100) == b"+PONG\r\n")
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        wait_for_log(log_path, "stopping")
        try:
            newcomer = socket.create_connection(("127.0.0.1", port), timeout=2)
            newcomer.settimeout(2)
            refused = newcomer.recv(100) == b""
        except (ConnectionRefusedError, ConnectionResetError):
            refused = True
        except socket.timeout:
            refused = False
        check("a new client during the drain is refused, not left waiting", refused)
        late.settimeout(5)
        late.sendall(local_servers.resp_command("PUBLISH", "d", "during the drain"))
        try:
            got = late.recv(100)
        except (socket.timeout, ConnectionResetError):
            got = b""
        check("a PUBLISH sent during the drain is not accepted (no reply, then a close)",
              got == b"", got)
        code = p.wait(timeout=20)
        took = time.time() - t0
        log = open(log_path).read()
        check("the drain exits 0", code == 0, code)
        check("within its deadline and the cancel grace", 1.4 < took < 6, f"{took:.2f} s")
        check("the log names the deadline in force", "(--shutdown-timeout-ms 1500)" in log, log[-800:])
        m = re.search(r"stopped at the drain deadline .*: (\d+) bytes to (\d+) clients were not delivered", log)
        check("the deadline says what was not delivered", m is not None and int(m.group(1)) > 0 and
              int(m.group(2)) == 1, log[-800:])
        check("and does not claim a clean stop", "every queued message was delivered" not in log, log[-500:])
        for s in (stalled, pub, late):
            s.close()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def second_signal(binary, backend):
    """A second SIGTERM during a long drain ends it at once, saying so, with exit code 1."""
    p, port, log_path, stalled, pub = start_with_unread_output(binary, backend, 600000)
    try:
        p.send_signal(signal.SIGTERM)
        wait_for_log(log_path, "stopping")
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        code = p.wait(timeout=20)
        log = open(log_path).read()
        check("a second SIGTERM exits at once, with 1", code == 1 and time.time() - t0 < 5, (code, log[-500:]))
        check("and says the drain was cut short", "exiting without finishing the drain" in log, log[-500:])
        stalled.close()
        pub.close()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def auth(port, user, password):
    """AUTH's reply on a new connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(local_servers.resp_command("AUTH", user, password))
        return s.recv(200)
    finally:
        s.close()


def sighup_reloads_acl(binary, backend):
    """SIGHUP reloads the ACL file as ACL LOAD does, logging how many users it loaded; a broken
    file keeps the rules in force, says why, and fanoutd goes on serving; clients already signed
    in stay; without --aclfile, SIGHUP is logged and ignored."""
    import tempfile
    with tempfile.NamedTemporaryFile("w", prefix="fanoutd-sighup-", suffix=".acl", delete=False) as f:
        f.write("user default on nopass ~* &* +@all\nuser pub on >old &news.* +publish\n")
        path = f.name
    p, port, log_path = local_servers.start_fanoutd(binary, backend, ["--shards", "2", "--aclfile", path])
    try:
        check("SIGHUP: the old password works before", auth(port, "pub", "old") == b"+OK\r\n")
        signed_in = socket.create_connection(("127.0.0.1", port), timeout=5)
        signed_in.sendall(local_servers.resp_command("AUTH", "pub", "old"))
        signed_in.recv(100)
        with open(path, "w") as f:
            f.write("user default on nopass ~* &* +@all\nuser pub on >new &news.* +publish\nuser sub on >s\n")
        p.send_signal(signal.SIGHUP)
        wait_for_log(log_path, "ACL rules reloaded from")
        log = open(log_path).read()
        check("SIGHUP: the reload is logged with the users loaded",
              f"SIGHUP: ACL rules reloaded from {path}: 3 users" in log, log[-800:])
        check("SIGHUP: the new password works", auth(port, "pub", "new") == b"+OK\r\n")
        check("SIGHUP: the old password no longer does", auth(port, "pub", "old").startswith(b"-WRONGPASS"))
        signed_in.sendall(local_servers.resp_command("PUBLISH", "news.a", "x"))
        check("SIGHUP: a client of a user the file still has stays signed in", signed_in.recv(100) == b":0\r\n")
        with open(path, "w") as f:
            f.write("user pub on >newer +@nosuch\n")
        p.send_signal(signal.SIGHUP)
        wait_for_log(log_path, "the ACL rules stay as they were")
        log = open(log_path).read()
        check("SIGHUP: a broken file is refused, saying why and that the rules stay",
              "the ACL rules stay as they were: reloading " + path + " failed: " + path +
              ":1: Error in applying operation '+@nosuch'" in log, log[-800:])
        check("SIGHUP: fanoutd goes on serving", p.poll() is None)
        check("SIGHUP: the rules in force stay", auth(port, "pub", "new") == b"+OK\r\n" and
              auth(port, "pub", "newer").startswith(b"-WRONGPASS"))
        signed_in.close()
        p.send_signal(signal.SIGTERM)
        check("SIGHUP: fanoutd still stops with SIGTERM, exit 0", p.wait(timeout=15) == 0)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.unlink(path)
    p, port, log_path = local_servers.start_fanoutd(binary, backend, ["--shards", "1"])
    try:
        p.send_signal(signal.SIGHUP)
        wait_for_log(log_path, "nothing to reload")
        check("SIGHUP without --aclfile: logged, and fanoutd goes on serving",
              "no --aclfile is configured: nothing to reload" in open(log_path).read() and
              auth(port, "default", "x") != b"" and p.poll() is None)
        p.send_signal(signal.SIGTERM)
        check("SIGHUP without --aclfile: SIGTERM still exits 0", p.wait(timeout=15) == 0)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def main():
    binary = sys.argv[1]
    backend = sys.argv[3] if len(sys.argv) > 3 else "epoll"
    bad_settings(binary, backend)
    loopback_by_address(binary, backend)
    port_taken(binary, backend)
    stop_during_start_up(binary, backend)
    drain_deadline(binary, backend)
    second_signal(binary, backend)
    sighup_reloads_acl(binary, backend)
    sys.exit(summary())


if __name__ == "__main__":
    main()
