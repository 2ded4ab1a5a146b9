"""A throwaway PKI for the TLS tests, in a temporary directory, with the file names
tools/tls_certs.sh uses: an EC P-256 CA (ca.crt); server.crt (SAN IP:127.0.0.1, DNS:localhost), an
expired server-expired.crt, server-pass.key (server.key encrypted, passphrase in server-pass.txt);
client.crt from the CA; other-client.crt from other-ca, which nobody trusts. Here, always: a
second server certificate server-b.crt from the same CA, with its own CN and serial (the reload
case).

make(directory) returns a Pki whose fields are file paths (and the passphrase and serials). It
is made with the openssl CLI here until tools/tls_certs.sh is on main; switching is the one line
at the bottom (MAKER)."""
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
])

KEY_PASS = "fanout-test-pass"

_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[ca]
default_ca = test_ca
[test_ca]
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
"""


def _openssl(directory, *args):
    r = subprocess.run(["openssl", *args], cwd=directory, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise SystemExit(f"openssl {' '.join(args)} failed: {r.stderr.strip()}")


def _key_and_csr(d, name, cn):
    _openssl(d, "req", "-new", "-config", "openssl.cnf", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={cn}")


def _ca(d, name, cn):
    _openssl(d, "req", "-x509", "-new", "-config", "openssl.cnf", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt",
             "-days", "3650", "-subj", f"/CN={cn}", "-extensions", "ca_ext")


def _sign(d, name, ca, serial, ext):
    _openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-set_serial", f"0x{serial}", "-days", "365", "-sha256", "-extfile", "openssl.cnf",
             "-extensions", ext, "-out", f"{name}.crt")


def make_with_openssl(d):
    """Makes every file of Pki in directory d (which exists) with the openssl CLI; about 0.5 s."""
    with open(os.path.join(d, "openssl.cnf"), "w") as f:
        f.write(_CONFIG.format(dir=d))
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("2001\n")
    _ca(d, "ca", "Fanout Test CA")
    _ca(d, "other-ca", "Fanout Untrusted CA")
    _key_and_csr(d, "server", "fanout-test-server-a")
    _sign(d, "server", "ca", "1001", "server_ext")
    _key_and_csr(d, "client", "fanout-test-client")
    _sign(d, "client", "ca", "3001", "client_ext")
    _key_and_csr(d, "other-client", "fanout-untrusted-client")
    _sign(d, "other-client", "other-ca", "4001", "client_ext")
    # x509 -req cannot date a certificate in the past; openssl ca can.
    _key_and_csr(d, "server-expired", "fanout-test-server-expired")
    _openssl(d, "ca", "-batch", "-config", "openssl.cnf", "-cert", "ca.crt", "-keyfile", "ca.key",
             "-in", "server-expired.csr", "-out", "server-expired.crt", "-notext", "-extfile",
             "openssl.cnf", "-extensions", "server_ext", "-startdate", "20200101000000Z",
             "-enddate", "20200201000000Z")
    with open(os.path.join(d, "server-pass.txt"), "w") as f:
        f.write(KEY_PASS + "\n")
    _openssl(d, "pkey", "-in", "server.key", "-aes256", "-passout", f"pass:{KEY_PASS}",
             "-out", "server-pass.key")
    return _with_server_b(d)


def make_with_script(d, script):
    """The files from tools/tls_certs.sh (`script d`), and server-b.crt beside them."""
    subprocess.run([script, d], check=True, timeout=60, capture_output=True)
    with open(os.path.join(d, "openssl.cnf"), "w") as f:
        f.write(_CONFIG.format(dir=d))
    return _with_server_b(d)


def _with_server_b(d):
    _key_and_csr(d, "server-b", "fanout-test-server-b")
    _sign(d, "server-b", "ca", "1002", "server_ext")
    return _paths(d)


def _serial(d, name):
    r = subprocess.run(["openssl", "x509", "-in", name, "-noout", "-serial"], cwd=d, capture_output=True,
                       text=True, timeout=30, check=True)
    return r.stdout.strip().split("=", 1)[1]


def _paths(d):
    j = lambda name: os.path.join(d, name)  # noqa: E731
    with open(j("server-pass.txt")) as f:
        key_pass = f.read().strip()
    return Pki(ca_crt=j("ca.crt"), server_crt=j("server.crt"), server_key=j("server.key"),
               server_b_crt=j("server-b.crt"), server_b_key=j("server-b.key"),
               server_serial=_serial(d, "server.crt"), server_b_serial=_serial(d, "server-b.crt"),
               expired_crt=j("server-expired.crt"), expired_key=j("server-expired.key"),
               server_enc_key=j("server-pass.key"), key_pass=key_pass,
               client_crt=j("client.crt"), client_key=j("client.key"),
               untrusted_crt=j("other-client.crt"), untrusted_key=j("other-client.key"))


# tools/tls_certs.sh, once on main: MAKER = lambda d: make_with_script(d, SCRIPT), with SCRIPT its
# path from the test's arguments (a data dependency of the Bazel target).
MAKER = make_with_openssl
