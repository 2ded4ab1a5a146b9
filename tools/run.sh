#!/usr/bin/env bash
# Sets up (only what building and running the server needs: tools/setup.sh), builds and runs
# fanoutd in the foreground. Arguments go to fanoutd. Once fanoutd has bound its listener, prints
# how to reach it at the address it reports (the port it chose, with --port auto). Ctrl-C drains
# and stops it.
#   tools/run.sh                                  127.0.0.1:7379, one shard per core
#   tools/run.sh --port auto --shards 4 --policy drop-oldest
#   tools/run.sh --help                           this text, then fanoutd's flags if it is built
set -uo pipefail
cd "$(dirname "$0")/.."
for a in "$@"; do
  case "$a" in
    -h|--help)
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      if [ -x bazel-bin/tools/fanoutd ]; then
        echo
        echo "fanoutd's flags (from the last build, bazel-bin/tools/fanoutd):"
        exec bazel-bin/tools/fanoutd --help
      fi
      echo
      echo "fanoutd's flags: run tools/run.sh once to build it, then tools/run.sh --help again (README.md lists them too)."
      exit 0 ;;
  esac
done
tools/setup.sh || { echo "run: setup failed (see above)" >&2; exit 1; }
bazel build //tools:fanoutd >&2 || { echo "run: FAILED: bazel build //tools:fanoutd (see above)" >&2; exit 1; }
# fanoutd prints "listening on HOST:PORT" once it listens (the port it chose, with --port auto),
# one line per endpoint: the hints use the first plaintext TCP one (and say how to reach a TLS one,
# "listening on tls://HOST:PORT"), then its output goes on as it is.
bazel-bin/tools/fanoutd "$@" | {
  shown=0
  while IFS= read -r line; do
    echo "$line"
    case "$line" in
      "listening on /"*) ;;  # the unix socket
      "listening on tls://"*)
        addr=${line#listening on tls://}
        cat >&2 <<MSG

  TLS on ${addr}: redis-cli needs --tls and the CA that signed the server's certificate, and by
  default (tls-auth-clients yes, as in Redis) a client certificate from the CA of --tls-ca-cert-file:
    redis-cli --tls --cacert CA.crt --cert CLIENT.crt --key CLIENT.key -h ${addr%:*} -p ${addr##*:} PING
  (tools/tls_certs.sh DIR makes a CA, server and client certificates to try it.)

MSG
        ;;
      "listening on "*)
        [ "$shown" -eq 1 ] && continue
        shown=1
        addr=${line#listening on }
        port=${addr##*:}
        host=${addr%:*}
        host=${host#[}
        host=${host%]}
        cat >&2 <<MSG

  fanoutd is listening on ${addr}. In another terminal:
    redis-cli -h ${host} -p ${port} SUBSCRIBE news            # wait for messages
    redis-cli -h ${host} -p ${port} PSUBSCRIBE 'news.*'       # pattern subscription
    redis-cli -h ${host} -p ${port} PUBLISH news hello        # prints how many clients received it
    redis-cli -h ${host} -p ${port} INFO                      # clients, deliveries, drops, syscalls

MSG
        command -v redis-cli >/dev/null ||
          echo "  (redis-cli is in Debian's redis-tools: apt-get install redis-tools, or tools/setup.sh --test)" >&2
        ;;
    esac
  done
}
exit "${PIPESTATUS[0]}"
