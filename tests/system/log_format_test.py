"""fanoutd's log lines (net/log.h) in both formats, from a real run: every line of the run parses
(text: key=value with quoted escapes; json: one object per line), carries an RFC 3339 UTC time
with milliseconds, and a line about a client names it by id, addr and name. Names and user names
from the network (quotes, backslashes, newlines, bytes above 0x7f) stay inside their one line and
come back intact (text: the exact bytes; json: as UTF-8, a byte that is not UTF-8 as U+FFFD).
Authentication failures, slow-consumer disconnects and drops are logged once per episode. With stderr
the journal systemd connected (JOURNAL_STREAM names its device and inode), each line starts with
its syslog priority.

usage: log_format_test.py FANOUTD_BINARY [--backend epoll|io_uring]
"""
import re
import signal
import socket
import sys
import time

import local_servers  # noqa: E402  (tools/pylib, put on the path by run_py.sh)
from checks import check, summary  # noqa: E402  (tools/pylib)

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# Fits CLIENT SETNAME's rule (bytes '!' to '~') while holding what text must quote and escape.
NAME = b'we"ird\\name=x'
# AUTH takes any bytes as a user name: a quote, a backslash, a newline, a tab, a NUL, not UTF-8.
BAD_USER = b'bad"user\\\nline2\t\x00\xff\xfe\x80\xc3\xa9'


def read_reply(s):
    """One simple reply line (+OK, -ERR ..., :N)."""
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def connect(port, name=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(local_servers.resp_command("AUTH", "s3cret"))
    assert read_reply(s) == b"+OK\r\n"
    if name is not None:
        s.sendall(local_servers.resp_command("CLIENT", "SETNAME", name))
        assert read_reply(s) == b"+OK\r\n"
    s.sendall(local_servers.resp_command("CLIENT", "ID"))
    client_id = int(read_reply(s)[1:])
    addr = "%s:%d" % s.getsockname()[:2]
    return s, client_id, addr


def run(binary, backend, fmt):
    p, port, log_path = local_servers.start_fanoutd(
        binary, backend, ["--shards", "1", "--log-format", fmt, "--log-level", "debug", "--requirepass", "s3cret",
                          "--client-hard-limit", "256k", "--client-soft-limit", "0", "--policy", "disconnect"])
    try:
        named, named_id, named_addr = connect(port, NAME)
        # Two wrong AUTHs from one client: one line (an episode), not two.
        guesser = socket.create_connection(("127.0.0.1", port), timeout=10)
        guesser_addr = "%s:%d" % guesser.getsockname()[:2]
        for _ in range(2):
            guesser.sendall(local_servers.resp_command("AUTH", BAD_USER, "wrong"))
            check(f"{fmt}: AUTH with a wrong password is refused", read_reply(guesser).startswith(b"-WRONGPASS"))
        # A subscriber that reads nothing, named, with small buffers: the hard limit disconnects it.
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", port))
        slow.settimeout(10)
        slow.sendall(local_servers.resp_command("AUTH", "s3cret"))
        read_reply(slow)
        slow.sendall(local_servers.resp_command("CLIENT", "SETNAME", b"slow" + NAME))
        read_reply(slow)
        slow.sendall(local_servers.resp_command("CLIENT", "ID"))
        slow_id = int(read_reply(slow)[1:])
        slow_addr = "%s:%d" % slow.getsockname()[:2]
        slow.sendall(local_servers.resp_command("SUBSCRIBE", "news"))
        slow.recv(100)
        pub, _, _ = connect(port)
        payload = b"x" * 16384
        for _ in range(200):
            pub.sendall(local_servers.resp_command("PUBLISH", "news", payload))
            read_reply(pub)
            if local_servers.info(port, auth=("default", "s3cret"))["slow_disconnected"] >= 1:
                break
        check(f"{fmt}: the slow subscriber was disconnected",
              local_servers.info(port, auth=("default", "s3cret"))["slow_disconnected"] >= 1)
        for s in (named, guesser, slow, pub):
            s.close()
        # Each episode ends after a quiet second, with its count.
        end = time.time() + 10
        while time.time() < end:
            with open(log_path, "rb") as f:
                text = f.read()
            if b"authentication failures stopped" in text and b"slow subscribers no longer disconnected" in text:
                break
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        check(f"{fmt}: exits 0", p.wait(timeout=15) == 0)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    with open(log_path, "rb") as f:
        raw = f.read()
    lines = raw.decode("ascii", "replace").splitlines()
    check(f"{fmt}: every line is printable ASCII", all(0x20 <= b < 0x7f or b == 0x0a for b in raw),
          [b for b in raw if not (0x20 <= b < 0x7f or b == 0x0a)][:10])
    events, bad = [], []
    for line in lines:
        try:
            ev = local_servers.parse_log_line(line)
        except ValueError as e:
            bad.append(str(e))
            continue
        if line.startswith("{") != (fmt == "json"):
            bad.append(f"not {fmt}: {line}")
        elif RFC3339_MS.match(str(ev.get("time", ""))) is None:
            bad.append(f"time is not RFC 3339 UTC with ms: {line}")
        elif ev.get("level") not in ("debug", "info", "warn", "error") or "msg" not in ev:
            bad.append(f"no level or msg: {line}")
        else:
            events.append((ev, line))
    check(f"{fmt}: all {len(lines)} lines parse, with an RFC 3339 UTC time, a level and a msg", not bad, bad[:5])
    check(f"{fmt}: the run logged", len(events) >= 4, lines)

    def find(msg_start):
        return [(ev, line) for ev, line in events if str(ev["msg"]).startswith(msg_start)]

    auth = find("authentication failed")
    check(f"{fmt}: one authentication failure line for two failures", len(auth) == 1, [l for _, l in auth])
    if auth:
        ev, line = auth[0]
        if fmt == "text":
            got = local_servers.parse_log_line(line, raw=True)["username"]
            check(f"{fmt}: the user name's exact bytes come back", got == BAD_USER, (got, line))
        else:
            check(f"{fmt}: the user name comes back (U+FFFD for bytes that are not UTF-8)",
                  ev["username"] == BAD_USER.decode("utf-8", "replace"), (ev["username"], line))
        check(f"{fmt}: the failing client's address", ev.get("addr") == guesser_addr, (guesser_addr, line))
        check(f"{fmt}: with its id and (empty) name", str(ev.get("id", "")).isdigit() and ev.get("name") == "", line)
    ended = find("authentication failures stopped")
    check(f"{fmt}: the episode's end counts both failures", len(ended) == 1 and str(ended[0][0].get("count")) == "2",
          [l for _, l in ended])
    slow_lines = find("disconnecting slow subscriber")
    check(f"{fmt}: one slow-subscriber line", len(slow_lines) == 1, [l for _, l in slow_lines])
    if slow_lines:
        ev, line = slow_lines[0]
        check(f"{fmt}: names the slow subscriber by id, addr and name",
              str(ev.get("id")) == str(slow_id) and ev.get("addr") == slow_addr and
              ev.get("name") == (b"slow" + NAME).decode() and ev.get("user") == "default", (slow_id, slow_addr, line))
        check(f"{fmt}: says why", ev.get("reason") == "hard output limit", line)
    closing = [ev for ev, _ in find("closing client") if str(ev.get("id")) == str(named_id)]
    check(f"{fmt}: the named client's close (debug) names it", len(closing) == 1 and
          closing[0].get("name") == NAME.decode() and closing[0].get("addr") == named_addr, closing)
    ready = find("fanoutd ready")
    check(f"{fmt}: the ready line has the address and commit", len(ready) == 1 and
          ready[0][0].get("addr") == f"127.0.0.1:{port}" and ready[0][0].get("commit"), [l for _, l in ready])


def drops_logged(binary, backend, policy):
    """A drop policy logs its first drop, naming the subscriber, and the episode's end with how
    many pushes met the limit; INFO counts every dropped message."""
    p, port, log_path = local_servers.start_fanoutd(
        binary, backend, ["--shards", "1", "--client-hard-limit", "256k", "--client-soft-limit", "0",
                          "--policy", policy])
    try:
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", port))
        slow.sendall(local_servers.resp_command("CLIENT", "SETNAME", "lagging"))
        slow.sendall(local_servers.resp_command("SUBSCRIBE", "news"))
        slow.settimeout(10)
        got = b""
        while b"news" not in got:
            got += slow.recv(100)
        pub = socket.create_connection(("127.0.0.1", port), timeout=10)
        # 6.4 MB: far more than the socket buffers between them take.
        for _ in range(400):
            pub.sendall(local_servers.resp_command("PUBLISH", "news", b"x" * 16384))
            read_reply(pub)
        f = local_servers.info(port)
        dropped = f["dropped_newest"] + f["dropped_oldest"]
        check(f"{policy}: messages were dropped", dropped > 1, f)
        end = time.time() + 10
        while b"messages no longer dropped" not in open(log_path, "rb").read() and time.time() < end:
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        check(f"{policy}: exits 0", p.wait(timeout=15) == 0)
        slow.close()
        pub.close()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    events = [local_servers.parse_log_line(l) for l in open(log_path).read().splitlines()]
    first = [e for e in events if e["msg"].startswith("dropping messages for a slow subscriber")]
    check(f"{policy}: one line for the episode, naming the subscriber and the policy", len(first) == 1 and
          first[0].get("name") == "lagging" and first[0].get("policy") == policy and
          first[0].get("reason") == "hard output limit", first)
    ends = [e for e in events if e["msg"].startswith("messages no longer dropped")]
    check(f"{policy}: the episode's end counts the pushes that met the limit",
          len(ends) == 1 and int(ends[0]["count"]) > 1, ends)


def journal_priorities(binary, backend):
    """JOURNAL_STREAM naming fanoutd's stderr (here a file, as systemd names its journal socket):
    "<N>" before each line, the syslog priority of its level (sd-daemon(3))."""
    import os
    import subprocess
    import tempfile
    with tempfile.TemporaryFile() as err:
        st = os.fstat(err.fileno())
        env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        p = subprocess.Popen([binary, "--port", "auto", "--backend", backend, "--shards", "1"], stdout=subprocess.PIPE,
                             stderr=err, env=env, text=True)
        line = p.stdout.readline()
        if not line.startswith("listening on "):
            p.wait(timeout=10)
            err.seek(0)
            if b"is not available" in err.read():
                print(f"SKIPPED: {backend} backend not available: journal priorities not checked", flush=True)
                return
        p.send_signal(signal.SIGTERM)
        check("journal: exits 0", p.wait(timeout=15) == 0)
        err.seek(0)
        lines = err.read().decode("ascii").splitlines()
    levels = {"<7>": "debug", "<6>": "info", "<5>": "info", "<4>": "warn", "<3>": "error"}
    bad = [l for l in lines if l[:3] not in levels or
           local_servers.parse_log_line(l[3:]).get("level") != levels[l[:3]]]
    check("journal: every line starts with its level's syslog priority", lines and not bad, (bad, lines))
    check("journal: the ready line is <5> (notice: good news)",
          any(l.startswith("<5>") and "fanoutd ready" in l for l in lines), lines)
    check("journal: the SIGTERM line is <6> (info)",
          any(l.startswith("<6>") and "SIGTERM received" in l for l in lines), lines)


def main():
    binary = sys.argv[1]
    backend = sys.argv[3] if len(sys.argv) > 3 else "epoll"
    for fmt in ("text", "json"):
        run(binary, backend, fmt)
    for policy in ("drop-newest", "drop-oldest"):
        drops_logged(binary, backend, policy)
    journal_priorities(binary, backend)
    import subprocess
    r = subprocess.run([binary, "--log-format", "xml"], capture_output=True, text=True, timeout=10)
    check("--log-format xml is refused, naming the flag", r.returncode == 2 and
          "fanoutd: --log-format must be one of text,json, got 'xml'" in r.stderr, r.stderr)
    sys.exit(summary())


if __name__ == "__main__":
    main()
