"""Every script under tools/ and bench/ answers --help (and -h) at once and changes nothing: run
with a PATH whose package managers, build tools and git are stubs that record being called and
fail, each must exit 0, print its usage, call no stub, and leave the tree it runs from (this
test's runfiles), HOME and TMPDIR as they were. Then tools/setup.sh, made to fail, must say which
step failed: npm unable to reach its registry, and apt-get unable to install.

usage: scripts_test.py   (run by Bazel from its runfiles; the scripts are its data)
"""
import os
import stat
import subprocess
import sys
import tempfile
from checks import check, summary  # noqa: E402  (tools/pylib)

STUBS = ["apt", "apt-get", "aptitude", "bazel", "clang++-14", "curl", "dpkg", "dpkg-deb", "dpkg-query", "git",
         "make", "nats-server", "node", "npm", "pip", "pip3", "redis-server", "sudo", "systemctl", "wget"]


def workspace_root():
    """The runfiles copy of the tree: where the scripts are, and what they must leave alone."""
    here = os.path.dirname(os.path.abspath(__file__))  # .../<workspace>/tests/tools
    return os.path.dirname(os.path.dirname(here))


def snapshot(root):
    """Every path under root with its type, size and mtime, symlinks not followed."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns)
    return out


def make_stubs(dir, log, scripts=None):
    """A stub for each name in STUBS that appends its name and arguments to `log` and fails;
    `scripts` replaces some stubs' bodies (shell)."""
    os.makedirs(dir, exist_ok=True)
    for name in STUBS:
        body = (scripts or {}).get(name, 'exit 1')
        path = os.path.join(dir, name)
        with open(path, "w") as f:
            f.write(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n{body}\n')
        os.chmod(path, 0o755)


def scripts(root):
    found = []
    for sub in ("tools", "tools/pylib", "bench"):
        d = os.path.join(root, sub)
        for name in sorted(os.listdir(d)):
            if name.endswith((".sh", ".py")) and os.path.isfile(os.path.join(d, name)):
                found.append(os.path.join(sub, name))
    return found


def command_for(root, script, flag):
    path = os.path.join(root, script)
    if script.endswith(".py"):
        return ["/usr/bin/python3", path, flag]
    return ["/bin/bash", path, flag]


def help_is_harmless(root, tmp):
    found = scripts(root)
    # The scripts this test knows must be there: a data dependency lost would pass silently.
    for must in ("tools/setup.sh", "tools/run.sh", "tools/test.sh", "tools/install.sh", "tools/fuzz.sh",
                 "tools/soak.sh", "tools/tier.sh", "tools/tls_certs.sh", "tools/workspace_status.sh", "bench/run.sh",
                 "bench/harness.py"):
        check(f"{must} is among the scripts checked", must in found, found)
    log = os.path.join(tmp, "stub-calls")
    stubs = os.path.join(tmp, "stubs")
    make_stubs(stubs, log)
    home, tmpdir = os.path.join(tmp, "home"), os.path.join(tmp, "tmpdir")
    os.makedirs(home)
    os.makedirs(tmpdir)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "HOME": home, "TMPDIR": tmpdir, "LANG": "C.UTF-8",
           "PYTHONPATH": os.path.join(root, "tools", "pylib")}
    before = snapshot(root)
    for script in found:
        for flag in ("--help", "-h"):
            name = f"{script} {flag}"
            try:
                r = subprocess.run(command_for(root, script, flag), cwd=tmp, env=env, capture_output=True,
                                   text=True, timeout=30)
            except subprocess.TimeoutExpired:
                check(f"{name}: answers at once", False, "still running after 30 s")
                continue
            check(f"{name}: exits 0", r.returncode == 0, (r.returncode, r.stdout[-300:], r.stderr[-300:]))
            check(f"{name}: prints its usage", len(r.stdout.strip()) > 0, r.stderr[-300:])
            calls = open(log).read() if os.path.exists(log) else ""
            check(f"{name}: installs, builds and runs nothing", calls == "", calls)
            if os.path.exists(log):
                os.remove(log)
    after = snapshot(root)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    check("--help leaves the tree as it was", not changed, changed[:10])
    check("--help leaves HOME and TMPDIR empty", not os.listdir(home) and not os.listdir(tmpdir),
          (os.listdir(home), os.listdir(tmpdir)))
    print(f"checked --help and -h of {len(found)} scripts", flush=True)


def setup_failures_say_what(root, tmp):
    """tools/setup.sh --test with every package installed but npm unable to reach its registry,
    then with packages missing and apt-get failing: each says which step failed, with the
    output that says why, and exits 1."""
    log = os.path.join(tmp, "setup-calls")
    stubs = os.path.join(tmp, "setup-stubs")
    installed = 'printf "install ok installed"; exit 0'
    make_stubs(stubs, log, {
        "dpkg-query": installed,
        "node": "exit 0",
        "npm": 'if [ "$1" = config ]; then echo https://registry.npmjs.org/; exit 0; fi\n'
               'echo "npm ERR! request to https://registry.npmjs.org/ioredis failed, reason: getaddrinfo EAI_AGAIN" >&2\n'
               'exit 1',
    })
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8"}
    r = subprocess.run(["/bin/bash", os.path.join(root, "tools/setup.sh"), "--test"], cwd=tmp, env=env,
                       capture_output=True, text=True, timeout=60)
    check("npm failing: setup exits 1", r.returncode == 1, (r.returncode, r.stderr[-500:]))
    check("npm failing: says npm ci failed, and asks about its registry",
          "setup: FAILED: npm ci in third_party/node (can npm reach its registry? npm config get registry: "
          "https://registry.npmjs.org/)" in r.stderr, r.stderr[-800:])
    check("npm failing: shows npm's own error", "getaddrinfo EAI_AGAIN" in r.stderr, r.stderr[-800:])

    make_stubs(stubs, log, {"dpkg-query": 'printf "unknown ok not-installed"; exit 1',
                            "apt-get": 'echo "E: Unable to locate package liburing-dev" >&2; exit 100',
                            "sudo": 'exec "$@"'})
    r = subprocess.run(["/bin/bash", os.path.join(root, "tools/setup.sh")], cwd=tmp, env=env,
                       capture_output=True, text=True, timeout=60)
    check("apt-get failing: setup exits 1", r.returncode == 1, (r.returncode, r.stderr[-500:]))
    check("apt-get failing: says which step, with its exit code",
          "setup: FAILED: apt-get update (is Debian's archive reachable?" in r.stderr and "(exit 100)" in r.stderr,
          r.stderr[-800:])
    check("apt-get failing: shows apt-get's own error", "E: Unable to locate package" in r.stderr, r.stderr[-800:])
    check("the server part asks only for the server's packages",
          "libgtest-dev" not in r.stderr and "redis-server" not in r.stderr and "liburing-dev" in r.stderr,
          r.stderr[-800:])

    # --dry-run names what is missing and calls no installer.
    os.remove(log)
    r = subprocess.run(["/bin/bash", os.path.join(root, "tools/setup.sh"), "--test", "--dry-run"], cwd=tmp,
                       env=env, capture_output=True, text=True, timeout=60)
    calls = open(log).read()
    check("--dry-run exits 0 and names what it would install", r.returncode == 0 and
          "would install:" in r.stdout and "redis-server" in r.stdout, (r.returncode, r.stdout, r.stderr))
    check("--dry-run only asks dpkg-query", all(c.startswith("dpkg-query ") for c in calls.splitlines()), calls)


def main():
    root = workspace_root()
    with tempfile.TemporaryDirectory(prefix="fanout-scripts-") as tmp:
        help_is_harmless(root, tmp)
        setup_failures_say_what(root, tmp)
    sys.exit(summary())


if __name__ == "__main__":
    main()
