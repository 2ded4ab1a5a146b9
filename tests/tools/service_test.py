"""fanoutd as a systemd service: tools/install.sh into a temporary root (never the real /etc or
/usr), the unit checked by systemd-analyze (verify, and the offline security review against a
threshold), and the example configuration's directives against the names CONFIG GET answers.

usage: service_test.py FANOUTD_BINARY INSTALL_SH UNIT CONF
"""
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile

import local_servers  # noqa: E402  (tools/pylib, put on the path by run_py.sh)
from checks import check, summary  # noqa: E402  (tools/pylib)

# systemd-analyze security's exposure, 0.0 (locked down) to 10.0, as tenths: the unit scores 1.1
# on systemd 252, the rest being the network access a network server needs (AF_INET, AF_UNIX, no
# PrivateNetwork=, no IPAddressDeny=). A change that loosens the sandbox beyond 1.5 fails.
SECURITY_THRESHOLD = 15
# Commented out in the example (they need a value of the operator's own), still directives.
COMMENTED = ("requirepass", "aclfile")


def install(script, *args):
    return subprocess.run(["/bin/bash", script, *args], capture_output=True, text=True, timeout=60)


def tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def installs(binary, script, unit, conf, tmp):
    root = os.path.join(tmp, "root")
    os.makedirs(root)
    r = install(script, "--prefix", root, "--dry-run", "--binary", binary)
    check("--dry-run exits 0", r.returncode == 0, r.stderr)
    check("--dry-run says what it would install", r.stdout.count("would run: install") == 4, r.stdout)
    check("--dry-run writes nothing", tree(root) == [], tree(root))
    r = install(script, "--prefix", root, "--binary", binary)
    check("install exits 0", r.returncode == 0, (r.stdout, r.stderr))
    want = ["etc/fanout/fanoutd.conf", "etc/systemd/system/fanoutd.service", "usr/local/bin/fanoutd"]
    check("installs the binary, the unit and the example config under the prefix", tree(root) == want, tree(root))
    modes = {p: stat.S_IMODE(os.stat(os.path.join(root, p)).st_mode) for p in want}
    check("modes: binary 0755, unit and config 0644",
          modes == {want[0]: 0o644, want[1]: 0o644, want[2]: 0o755}, {k: oct(v) for k, v in modes.items()})
    check("the unit and config are the source's", open(os.path.join(root, want[1])).read() == open(unit).read() and
          open(os.path.join(root, want[0])).read() == open(conf).read())
    r = subprocess.run([os.path.join(root, want[2]), "--version"], capture_output=True, text=True, timeout=10)
    check("the installed binary runs", r.returncode == 0 and r.stdout.startswith("fanoutd "), r)
    # An operator's configuration is never overwritten.
    with open(os.path.join(root, want[0]), "w") as f:
        f.write("port 7380\n")
    r = install(script, "--prefix", root, "--binary", binary)
    check("a second install exits 0", r.returncode == 0, r.stderr)
    check("keeps the operator's config", open(os.path.join(root, want[0])).read() == "port 7380\n")
    check("and puts the example beside it", open(os.path.join(root, "etc/fanout/fanoutd.conf.example")).read() ==
          open(conf).read())
    r = install(script, "--prefix", root, "--binary", os.path.join(tmp, "nonexistent"))
    check("a missing binary fails, saying so", r.returncode == 1 and
          "install: FAILED: " + os.path.join(tmp, "nonexistent") + " is not an executable file" in r.stderr, r.stderr)
    r = install(script, "--bogus")
    check("an unknown argument exits 2", r.returncode == 2 and "unknown argument '--bogus'" in r.stderr, r.stderr)
    return root


def analyze(root, tmp):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        print("SKIPPED: systemd-analyze is not installed (Debian's systemd package): the unit is not verified",
              flush=True)
        return
    # verify checks that ExecStart= exists: the copy names the binary installed under the prefix.
    unit = os.path.join(tmp, "fanoutd.service")
    text = open(os.path.join(root, "etc/systemd/system/fanoutd.service")).read()
    check("the unit starts /usr/local/bin/fanoutd with its writable copy of /etc/fanout/fanoutd.conf",
          "\nExecStart=/usr/local/bin/fanoutd /var/lib/fanout/fanoutd.conf\n" in text and
          "install -m 0644 /etc/fanout/fanoutd.conf /var/lib/fanout/fanoutd.conf" in text)
    with open(unit, "w") as f:
        f.write(text.replace("/usr/local/bin/fanoutd", os.path.join(root, "usr/local/bin/fanoutd")))
    r = subprocess.run([tool, "verify", unit], capture_output=True, text=True, timeout=60, cwd=tmp)
    check("systemd-analyze verify: no error or warning", r.returncode == 0 and r.stdout + r.stderr == "",
          (r.returncode, r.stdout, r.stderr))
    r = subprocess.run([tool, "security", "--offline=true", f"--threshold={SECURITY_THRESHOLD}", unit],
                       capture_output=True, text=True, timeout=60, cwd=tmp)
    m = re.search(r"Overall exposure level for fanoutd.service: (\d+\.\d)", r.stdout)
    exposure = m.group(1) if m else "?"
    print(f"systemd-analyze security: exposure {exposure} (threshold {SECURITY_THRESHOLD / 10})", flush=True)
    check(f"systemd-analyze security: exposure at most {SECURITY_THRESHOLD / 10}", r.returncode == 0 and m is not None,
          (r.returncode, r.stdout[-1500:], r.stderr[-500:]))
    for setting in ("Type=notify", "DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes",
                    "CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                    "ConfigurationDirectory=fanout", "StateDirectory=fanout", "ExecReload=/bin/kill -HUP $MAINPID",
                    "LimitNOFILE="):
        check(f"the unit has {setting.strip()}", "\n" + setting in text)


def resp_read(f):
    """One RESP2 reply from a socket file: str, int, None, or a list of them."""
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"*":
        return [resp_read(f) for _ in range(int(rest))]
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if kind == b":":
        return int(rest)
    return (kind + rest).decode()


def size_tokens(value):
    """A value's tokens, sizes as bytes (Redis's units: 1k = 1000, 1kb = 1024; here only kb/mb/gb
    and k/m/g as Fanout reads them, all powers of 1024)."""
    out = []
    for t in value.split():
        m = re.fullmatch(r"(\d+)(k|kb|m|mb|g|gb)", t.lower())
        out.append(str(int(m.group(1)) << {"k": 10, "m": 20, "g": 30}[m.group(2)[0]]) if m else t)
    return out


def directives(conf):
    active, commented = {}, []
    for line in open(conf):
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            active[name] = value.strip()
        m = re.match(r"#\s*([a-z-]+)\s", line)
        if m and m.group(1) in COMMENTED:
            commented.append(m.group(1))
    return active, commented


def config_names(binary, conf):
    """Every directive of the example is a name CONFIG GET answers (Redis's, or fanout-<flag>), and
    its value is fanoutd's default (the comments describe the defaults), but for bind (it lists
    IPv6 too), maxclients (fitted to this machine's descriptor limit), and port and fanout-shards
    (this test's fanoutd runs on port 0 with one shard)."""
    active, commented = directives(conf)
    check("the example has the Redis directives it should", all(
        n in active for n in ("bind", "port", "maxclients", "timeout", "tcp-keepalive", "protected-mode",
                              "client-output-buffer-limit")) and sorted(commented) == sorted(COMMENTED), active)
    p, port, _ = local_servers.start_fanoutd(binary, "epoll", ["--shards", "1"])
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = s.makefile("rb")
        for name in list(active) + commented:
            s.sendall(local_servers.resp_command("CONFIG", "GET", name))
            got = resp_read(f)
            check(f"CONFIG GET {name} answers", isinstance(got, list) and len(got) == 2 and got[0] == name, got)
            if name in active and name not in ("bind", "maxclients", "port", "fanout-shards") and isinstance(got, list) and len(got) == 2:
                want, have = size_tokens(active[name]), size_tokens(got[1])
                inside = any(have[i:i + len(want)] == want for i in range(len(have) - len(want) + 1))
                check(f"{name} {active[name]} is fanoutd's default", inside, (want, have))
        s.close()
    finally:
        p.terminate()
        p.wait(timeout=15)


def main():
    binary, script, unit, conf = (os.path.abspath(a) for a in sys.argv[1:5])
    with tempfile.TemporaryDirectory(prefix="fanout-service-") as tmp:
        root = installs(binary, script, unit, conf, tmp)
        analyze(root, tmp)
    config_names(binary, conf)
    sys.exit(summary())


if __name__ == "__main__":
    main()
