"""The TLS tests' throwaway PKI: tools/tls_certs.sh's files in a temporary directory (an EC P-256
CA; server.crt with SAN IP:127.0.0.1 and DNS:localhost; an expired server-expired.crt;
server-pass.key, server.key encrypted with the passphrase in server-pass.txt; client.crt from the
CA; other-client.crt from other-ca, which nobody trusts), plus what only these tests need: a
second server certificate server-b.crt from the same CA, with its own CN and serial (the reload
case), made here with the openssl CLI.

make(directory, script) returns a Pki whose fields are file paths (and the passphrase and the
two server serials)."""
import collections
import os
import subprocess

Pki = collections.namedtuple("Pki", [
    "ca_crt",                          # the CA every server and client trusts
    "server_crt", "server_key",        # server A
    "server_b_crt", "server_b_key",    # server B: CN fanout-test-server-b, same CA
    "server_serial", "server_b_serial",  # as Python's getpeercert() writes serialNumber
    "expired_crt", "expired_key",      # valid in 2020 only, same CA
    "server_enc_key", "key_pass",      # A's key encrypted, and its passphrase
    "client_crt", "client_key",        # a client of the CA
    "untrusted_crt", "untrusted_key",  # a client of another CA, which nobody trusts
    "untrusted_ca_crt",                # that other CA
])

_SERVER_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
"""


def _openssl(d, *args):
    r = subprocess.run(["openssl", *args], cwd=d, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise SystemExit(f"openssl {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def make(d, script):
    """Runs tools/tls_certs.sh (`script`) on directory d, then signs server-b.crt with its CA;
    about 1 s. Raises SystemExit with the script's or openssl's error."""
    r = subprocess.run([script, d], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SystemExit(f"{script} {d} failed: {r.stderr.strip()}")
    with open(os.path.join(d, "server-b.ext"), "w") as f:
        f.write(_SERVER_EXT)
    _openssl(d, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "server-b.key")
    _openssl(d, "req", "-new", "-key", "server-b.key", "-subj", "/CN=fanout-test-server-b", "-out", "server-b.csr")
    _openssl(d, "x509", "-req", "-in", "server-b.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial",
             "0x1002", "-days", "30", "-sha256", "-extfile", "server-b.ext", "-out", "server-b.crt")
    j = lambda name: os.path.join(d, name)  # noqa: E731

    def serial(name):
        return _openssl(d, "x509", "-in", name, "-noout", "-serial").strip().split("=", 1)[1]
    with open(j("server-pass.txt")) as f:
        key_pass = f.read().strip()
    return Pki(ca_crt=j("ca.crt"), server_crt=j("server.crt"), server_key=j("server.key"),
               server_b_crt=j("server-b.crt"), server_b_key=j("server-b.key"),
               server_serial=serial("server.crt"), server_b_serial=serial("server-b.crt"),
               expired_crt=j("server-expired.crt"), expired_key=j("server-expired.key"),
               server_enc_key=j("server-pass.key"), key_pass=key_pass,
               client_crt=j("client.crt"), client_key=j("client.key"),
               untrusted_crt=j("other-client.crt"), untrusted_key=j("other-client.key"),
               untrusted_ca_crt=j("other-ca.crt"))
