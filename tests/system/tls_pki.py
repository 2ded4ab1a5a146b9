"""A throwaway PKI for the TLS tests, made with the openssl CLI in a temporary directory: an EC
P-256 CA; server certificates A and B (different CN and serial, same CA, SAN IP:127.0.0.1 and
DNS:localhost), an expired one, and A's key encrypted with a passphrase; a client certificate
from the CA; a client certificate from a second, untrusted CA.

make(directory) returns a Pki whose fields are file paths. Switching to tools/tls_certs.sh once it
is on main is the one line at the bottom (MAKER)."""
import collections
import os
import subprocess

Pki = collections.namedtuple("Pki", [
    "ca_crt",                          # the CA every server and client trusts
    "server_crt", "server_key",        # server A: CN fanout-test-server-a, serial 0x1001
    "server_b_crt", "server_b_key",    # server B: CN fanout-test-server-b, serial 0x1002
    "expired_crt", "expired_key",      # valid January 2020 only, same CA
    "server_enc_key", "key_pass",      # A's key encrypted (AES-256) with key_pass
    "client_crt", "client_key",        # a client of the CA (CN fanout-test-client)
    "untrusted_crt", "untrusted_key",  # a client of another CA, which nobody trusts
])

SERIAL_A, SERIAL_B = "1001", "1002"  # as Python's getpeercert() writes serialNumber
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
    """Makes every file of Pki in directory d (which exists) with the openssl CLI; about 1 s."""
    with open(os.path.join(d, "openssl.cnf"), "w") as f:
        f.write(_CONFIG.format(dir=d))
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("2001\n")
    _ca(d, "ca", "Fanout Test CA")
    _ca(d, "untrusted-ca", "Fanout Untrusted CA")
    for name, cn, serial in [("server", "fanout-test-server-a", SERIAL_A),
                             ("server-b", "fanout-test-server-b", SERIAL_B)]:
        _key_and_csr(d, name, cn)
        _sign(d, name, "ca", serial, "server_ext")
    _key_and_csr(d, "client", "fanout-test-client")
    _sign(d, "client", "ca", "3001", "client_ext")
    _key_and_csr(d, "untrusted-client", "fanout-untrusted-client")
    _sign(d, "untrusted-client", "untrusted-ca", "4001", "client_ext")
    # x509 -req cannot date a certificate in the past; openssl ca can.
    _key_and_csr(d, "server-expired", "fanout-test-server-expired")
    _openssl(d, "ca", "-batch", "-config", "openssl.cnf", "-cert", "ca.crt", "-keyfile", "ca.key",
             "-in", "server-expired.csr", "-out", "server-expired.crt", "-notext", "-extfile",
             "openssl.cnf", "-extensions", "server_ext", "-startdate", "20200101000000Z",
             "-enddate", "20200201000000Z")
    _openssl(d, "pkey", "-in", "server.key", "-aes256", "-passout", f"pass:{KEY_PASS}",
             "-out", "server-enc.key")
    return _paths(d)


def make_with_script(d, script):
    """The same files from tools/tls_certs.sh (once it is on main): `script d`."""
    subprocess.run([script, d], check=True, timeout=60, capture_output=True)
    return _paths(d)


def _paths(d):
    j = lambda name: os.path.join(d, name)  # noqa: E731
    return Pki(ca_crt=j("ca.crt"), server_crt=j("server.crt"), server_key=j("server.key"),
               server_b_crt=j("server-b.crt"), server_b_key=j("server-b.key"),
               expired_crt=j("server-expired.crt"), expired_key=j("server-expired.key"),
               server_enc_key=j("server-enc.key"), key_pass=KEY_PASS,
               client_crt=j("client.crt"), client_key=j("client.key"),
               untrusted_crt=j("untrusted-client.crt"), untrusted_key=j("untrusted-client.key"))


MAKER = make_with_openssl  # tools/tls_certs.sh: lambda d: make_with_script(d, SCRIPT)
