#!/usr/bin/env bash
# A throwaway test PKI for trying TLS and for the tests: EC P-256 keys, made with the openssl CLI
# only, in well under a second. Nothing here is fit for production: the CA key sits unencrypted
# next to its certificate.
#   tools/tls_certs.sh DIR           makes DIR (if needed) and writes, in PEM:
#     ca.crt ca.key                    the CA the server and the clients trust (10 years)
#     server.crt server.key            signed by the CA: CN=localhost, SAN DNS:localhost,
#                                      IP:127.0.0.1, IP:::1, serverAuth, valid 30 days
#     client.crt client.key            signed by the CA: CN=fanout-client, clientAuth, 30 days
#     server-expired.crt .key          signed by the CA, expired (valid 2020-01-01 to 2020-01-02)
#     other-ca.crt other-ca.key        a second CA, which the server does not trust
#     other-client.crt .key            a client certificate signed by other-ca
#     server-pass.key server-pass.txt  server.key encrypted (AES-256, PKCS#8) with the passphrase
#                                      in server-pass.txt (for --tls-key-file-pass)
#   tools/tls_certs.sh --force DIR   makes everything again even when DIR holds a usable set
#   tools/tls_certs.sh --help        this text
# Idempotent: run again on a DIR whose set is complete, verifies against ca.crt and has more than
# a day left, it keeps the files and says so. Keys are written mode 0600. Ends by listing the
# files and one line on how to start fanoutd with them.
set -euo pipefail
force=0
dir=""
for a in "$@"; do
  case "$a" in
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    --force) force=1 ;;
    -*) echo "tls_certs: unknown option '$a' (see --help)" >&2; exit 2 ;;
    *) [ -z "$dir" ] || { echo "tls_certs: one DIR only, got '$dir' and '$a' (see --help)" >&2; exit 2; }
       dir=$a ;;
  esac
done
[ -n "$dir" ] || { echo "tls_certs: which directory? usage: tools/tls_certs.sh [--force] DIR (see --help)" >&2; exit 2; }
command -v openssl >/dev/null || { echo "tls_certs: the openssl command is missing (Debian: apt-get install openssl)" >&2; exit 1; }

files="ca.crt ca.key server.crt server.key client.crt client.key server-expired.crt server-expired.key
       other-ca.crt other-ca.key other-client.crt other-client.key server-pass.key server-pass.txt"

list() {
  echo "tls_certs: $1 in $dir:"
  for f in $files; do printf '  %-20s %s\n' "$f" "$(describe "$dir/$f")"; done
  echo "try: tools/run.sh --tls-port 6380 --tls-cert-file $dir/server.crt --tls-key-file $dir/server.key" \
       "--tls-ca-cert-file $dir/ca.crt"
  echo "then: redis-cli --tls --cacert $dir/ca.crt --cert $dir/client.crt --key $dir/client.key -p 6380 PING"
}

describe() {
  case "$1" in
    *.crt) openssl x509 -in "$1" -noout -subject -enddate | sed 's/subject=//; s/notAfter=/until /' | paste -sd' ' ;;
    *.key) echo "private key" ;;
    *.txt) echo "passphrase for server-pass.key" ;;
  esac
}

usable() {
  for f in $files; do [ -s "$dir/$f" ] || return 1; done
  openssl x509 -in "$dir/server.crt" -noout -checkend 86400 >/dev/null || return 1
  openssl x509 -in "$dir/client.crt" -noout -checkend 86400 >/dev/null || return 1
  openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt" "$dir/client.crt" >/dev/null 2>&1 || return 1
}

mkdir -p "$dir"
if [ "$force" = 0 ] && usable; then
  list "kept the existing set (--force makes a new one)"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tls-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# A self-signed CA: $1 name (files $1.crt, $1.key), $2 its common name.
ca() {
  key "$work/$1.key"
  openssl req -x509 -new -key "$work/$1.key" -subj "/O=Fanout test/CN=$2" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$work/$1.crt" 2>/dev/null
}

# A leaf signed by a CA: $1 name, $2 CA name, $3 common name, $4 extension lines.
leaf() {
  key "$work/$1.key"
  openssl req -new -key "$work/$1.key" -subj "/O=Fanout test/CN=$3" -out "$work/$1.csr" 2>/dev/null
  printf '%b\n' "$4" > "$work/$1.ext"
  openssl x509 -req -in "$work/$1.csr" -CA "$work/$2.crt" -CAkey "$work/$2.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$work/$1.ext" -out "$work/$1.crt" 2>/dev/null
}

server_ext='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1'
client_ext='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth'

ca ca "Fanout test CA"
ca other-ca "Fanout other test CA"
leaf server ca localhost "$server_ext"
leaf client ca fanout-client "$client_ext"
leaf other-client other-ca fanout-client "$client_ext"

# The expired server certificate: `openssl x509 -req` counts validity from now, so a minimal
# `openssl ca` signs it with explicit dates in the past (its database lives in $work).
key "$work/server-expired.key"
openssl req -new -key "$work/server-expired.key" -subj "/O=Fanout test/CN=localhost" \
  -out "$work/server-expired.csr" 2>/dev/null
: > "$work/index.txt"
echo 1000 > "$work/serial"
cat > "$work/ca.cnf" <<EOF
[ca]
default_ca = test_ca
[test_ca]
database = $work/index.txt
serial = $work/serial
new_certs_dir = $work
certificate = $work/ca.crt
private_key = $work/ca.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
x509_extensions = server_ext
[any]
organizationName = optional
commonName = supplied
[server_ext]
$(printf '%b' "$server_ext")
EOF
openssl ca -batch -notext -config "$work/ca.cnf" -startdate 20200101000000Z -enddate 20200102000000Z \
  -in "$work/server-expired.csr" -out "$work/server-expired.crt" 2>/dev/null \
  || { echo "tls_certs: openssl ca could not sign the expired certificate" >&2; exit 1; }

# The passphrase-protected copy of server.key.
openssl rand -hex 16 > "$work/server-pass.txt"
openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$work/server.key" -passout "file:$work/server-pass.txt" \
  -out "$work/server-pass.key" 2>/dev/null

for f in $files; do
  case "$f" in *.key|*.txt) chmod 600 "$work/$f" ;; *) chmod 644 "$work/$f" ;; esac
  mv -f "$work/$f" "$dir/$f"
done
list "made a new set"
