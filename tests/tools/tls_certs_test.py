"""tools/tls_certs.sh: the test PKI it makes in a temporary directory, checked with `openssl verify`.
The server and client certificates verify against ca.crt (the server for localhost, 127.0.0.1 and
::1, the client for clientAuth), the expired one fails as expired, a client from the other CA
fails against ca.crt, the encrypted key opens with its passphrase to server.key, keys are private
to their owner, and a second run keeps the set while --force makes a new one.

usage: tls_certs_test.py TLS_CERTS_SH
"""
import os
import stat
import subprocess
import sys
import tempfile

from checks import check, summary  # noqa: E402  (tools/pylib)

FILES = ["ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key", "server-expired.crt",
         "server-expired.key", "other-ca.crt", "other-ca.key", "other-client.crt", "other-client.key",
         "server-pass.key", "server-pass.txt"]


def run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60)


def verify(d, cert, *extra, ca="ca.crt"):
    return run("openssl", "verify", *extra, "-CAfile", os.path.join(d, ca), os.path.join(d, cert))


def makes_a_pki(script, d):
    r = run("/bin/bash", script, d)
    check("exits 0", r.returncode == 0, (r.returncode, r.stderr))
    check("says it made a new set", "made a new set" in r.stdout, r.stdout)
    check("lists every file", all(f in r.stdout for f in FILES), r.stdout)
    check("says how to use it", "--tls-cert-file" in r.stdout and "redis-cli --tls" in r.stdout, r.stdout)
    for f in FILES:
        check(f"{f} exists", os.path.isfile(os.path.join(d, f)))
    for f in FILES:
        if f.endswith((".key", ".txt")) and os.path.isfile(os.path.join(d, f)):
            mode = stat.S_IMODE(os.stat(os.path.join(d, f)).st_mode)
            check(f"{f} is private to its owner", mode & 0o077 == 0, oct(mode))

    for name in ("localhost", "127.0.0.1", "::1"):
        flag = "-verify_hostname" if name == "localhost" else "-verify_ip"
        r = verify(d, "server.crt", "-purpose", "sslserver", flag, name)
        check(f"server.crt verifies for {name}", r.returncode == 0 and ": OK" in r.stdout, (r.stdout, r.stderr))
    r = verify(d, "server.crt", "-verify_hostname", "example.com")
    check("server.crt does not verify for another name", r.returncode != 0, r.stdout)
    r = verify(d, "client.crt", "-purpose", "sslclient")
    check("client.crt verifies for clientAuth", r.returncode == 0 and ": OK" in r.stdout, (r.stdout, r.stderr))
    r = run("openssl", "x509", "-in", os.path.join(d, "client.crt"), "-noout", "-subject")
    check("client.crt is CN=fanout-client", "CN = fanout-client" in r.stdout, r.stdout)
    r = verify(d, "server-expired.crt")
    check("server-expired.crt fails verification as expired",
          r.returncode != 0 and "certificate has expired" in r.stdout + r.stderr, (r.stdout, r.stderr))
    r = verify(d, "other-client.crt")
    check("other-client.crt fails against ca.crt",
          r.returncode != 0 and "unable to get local issuer certificate" in r.stdout + r.stderr, (r.stdout, r.stderr))
    r = verify(d, "other-client.crt", ca="other-ca.crt")
    check("other-client.crt verifies against other-ca.crt", r.returncode == 0, (r.stdout, r.stderr))

    pub = run("openssl", "pkey", "-in", os.path.join(d, "server.key"), "-pubout").stdout
    r = run("openssl", "pkey", "-in", os.path.join(d, "server-pass.key"), "-passin",
            "file:" + os.path.join(d, "server-pass.txt"), "-pubout")
    check("server-pass.key opens with server-pass.txt to server.key", r.returncode == 0 and r.stdout == pub and pub,
          r.stderr)
    r = run("openssl", "pkey", "-in", os.path.join(d, "server-pass.key"), "-passin", "pass:wrong", "-noout")
    check("server-pass.key does not open with another passphrase", r.returncode != 0, r.stderr)


def is_idempotent(script, d):
    before = open(os.path.join(d, "server.crt")).read()
    r = run("/bin/bash", script, d)
    check("a second run exits 0 and keeps the set", r.returncode == 0 and "kept the existing set" in r.stdout,
          (r.stdout, r.stderr))
    check("a second run leaves server.crt as it was", open(os.path.join(d, "server.crt")).read() == before)
    os.remove(os.path.join(d, "client.key"))
    r = run("/bin/bash", script, d)
    check("a set missing a file is made again", r.returncode == 0 and "made a new set" in r.stdout, r.stdout)
    r = run("/bin/bash", script, "--force", d)
    check("--force makes a new set", r.returncode == 0 and "made a new set" in r.stdout, r.stdout)
    check("--force replaced server.crt", open(os.path.join(d, "server.crt")).read() != before)
    r = verify(d, "server.crt")
    check("the new server.crt verifies against the new ca.crt", r.returncode == 0, r.stdout)


def refuses_bad_arguments(script):
    r = run("/bin/bash", script)
    check("no DIR: exits 2 and says what is missing", r.returncode == 2 and "which directory" in r.stderr, r.stderr)
    r = run("/bin/bash", script, "--bogus", "x")
    check("an unknown option: exits 2 and names it", r.returncode == 2 and "--bogus" in r.stderr, r.stderr)


def main():
    script = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="fanout-tls-certs-") as tmp:
        d = os.path.join(tmp, "pki")
        makes_a_pki(script, d)
        is_idempotent(script, d)
        refuses_bad_arguments(script)
    sys.exit(summary())


if __name__ == "__main__":
    main()
