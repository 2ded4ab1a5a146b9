"""fanoutd --version (and -v): the release (INFO's fanout_version), the git commit stamped by Bazel,
the build (compilation mode and sanitizer config, from the build this test runs in), liburing's
version and OpenSSL's. Then tools/workspace_status.sh, which stamps the commit, in the
trees a build can come from: a git checkout (its HEAD, "-dirty" once a tracked file differs), a
tarball without .git, and a tarball unpacked inside another checkout ("unknown" for both).

usage: version_test.py FANOUTD_BINARY WORKSPACE_STATUS_SH MODE SANITIZER
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import local_servers  # noqa: E402  (tools/pylib, put on the path by run_py.sh)
from checks import check, summary  # noqa: E402  (tools/pylib)


def version(binary, mode, sanitizer):
    r = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    lines = r.stdout.splitlines()
    check("--version exits 0, printing five lines", r.returncode == 0 and len(lines) == 5, (r.returncode, r.stdout))
    v = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    check("-v prints the same", v.returncode == 0 and v.stdout == r.stdout, v.stdout)
    if len(lines) != 5:
        return
    check("the release", re.fullmatch(r"fanoutd \d+\.\d+\.\d+", lines[0]) is not None, lines[0])
    check("the commit: 12 hex digits (-dirty) or unknown",
          re.fullmatch(r"commit ([0-9a-f]{12}(-dirty)?|unknown)", lines[1]) is not None, lines[1])
    check("the build this test runs in", lines[2].startswith(f"build {mode}, sanitizer {sanitizer}, gcc "), lines[2])
    check("liburing's version", re.fullmatch(r"liburing \d+\.\d+(\.\d+)?", lines[3]) is not None, lines[3])
    check("the OpenSSL it runs with", re.fullmatch(r"openssl OpenSSL 3\.\d+\.\d+ .*", lines[4]) is not None, lines[4])
    p, port, _ = local_servers.start_fanoutd(binary, "epoll", ["--shards", "1"])
    try:
        release = local_servers.info(port, "server")["fanout_version"]
        check("the release is INFO's fanout_version", lines[0] == f"fanoutd {release}", (lines[0], release))
    finally:
        p.terminate()
        p.wait(timeout=15)


def status(script_dir):
    r = subprocess.run(["/bin/bash", os.path.join(script_dir, "tools", "workspace_status.sh")], capture_output=True,
                       text=True, timeout=30)
    check("workspace_status.sh exits 0", r.returncode == 0, r.stderr)
    return r.stdout.strip()


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=True).stdout.strip()


def tree_with_script(path, script):
    os.makedirs(os.path.join(path, "tools"))
    shutil.copy(script, os.path.join(path, "tools", "workspace_status.sh"))
    with open(os.path.join(path, "README.md"), "w") as f:
        f.write("a tracked file\n")


def stamping(script, tmp):
    os.environ.update(HOME=tmp, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
                      GIT_COMMITTER_EMAIL="t@example.com", GIT_CONFIG_NOSYSTEM="1")
    tarball = os.path.join(tmp, "tarball")
    tree_with_script(tarball, script)
    check("a tree without .git (a tarball): unknown", status(tarball) == "STABLE_FANOUT_COMMIT unknown", status(tarball))
    if shutil.which("git") is None:
        print("SKIPPED: git is not installed: stamping from a checkout not checked", flush=True)
        return
    repo = os.path.join(tmp, "repo")
    tree_with_script(repo, script)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    head = git(repo, "rev-parse", "--short=12", "HEAD")
    check("a checkout: its HEAD, 12 digits", status(repo) == f"STABLE_FANOUT_COMMIT {head}", (status(repo), head))
    with open(os.path.join(repo, "untracked"), "w") as f:
        f.write("x")
    check("an untracked file does not make it dirty", status(repo) == f"STABLE_FANOUT_COMMIT {head}", status(repo))
    with open(os.path.join(repo, "README.md"), "a") as f:
        f.write("changed\n")
    check("a changed tracked file does", status(repo) == f"STABLE_FANOUT_COMMIT {head}-dirty", status(repo))
    inner = os.path.join(repo, "unpacked")
    tree_with_script(inner, script)
    check("a tarball unpacked inside another checkout: unknown, not that checkout's commit",
          status(inner) == "STABLE_FANOUT_COMMIT unknown", status(inner))


def main():
    binary, script, mode, sanitizer = sys.argv[1:5]
    version(binary, mode, sanitizer)
    with tempfile.TemporaryDirectory(prefix="fanout-version-") as tmp:
        stamping(os.path.abspath(script), tmp)
    sys.exit(summary())


if __name__ == "__main__":
    main()
