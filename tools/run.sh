#!/usr/bin/env bash
# Sets up, builds and runs fanoutd in the foreground with sensible defaults.
# Extra arguments go to fanoutd (see: tools/run.sh --help). Ctrl-C drains and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
for a in "$@"; do
  case "$a" in
    -h|--help)
      tools/setup.sh >&2 && bazel build //tools:fanoutd >&2
      exec bazel-bin/tools/fanoutd --help ;;
  esac
done
tools/setup.sh
bazel build //tools:fanoutd >&2
# fanoutd prints "listening on HOST:PORT" once it listens (the port it chose, with --port 0), one
# line per endpoint: the hints below use the first TCP one, then its output goes on as it is.
bazel-bin/tools/fanoutd "$@" | while IFS= read -r line; do
  echo "$line"
  case "$line" in
    "listening on /"*) ;;  # the unix socket
    "listening on "*)
      [ -n "${hinted:-}" ] && continue
      hinted=1
      addr=${line#listening on }
      port=${addr##*:}
      host=${addr%:*}
      host=${host#[}
      host=${host%]}
      cat >&2 <<MSG

  In another terminal:
    redis-cli -h ${host} -p ${port} SUBSCRIBE news            # wait for messages
    redis-cli -h ${host} -p ${port} PSUBSCRIBE 'news.*'       # pattern subscription
    redis-cli -h ${host} -p ${port} PUBLISH news hello        # prints how many clients received it
    redis-cli -h ${host} -p ${port} INFO                      # clients, deliveries, drops, syscalls

MSG
      ;;
  esac
done
exit "${PIPESTATUS[0]}"
