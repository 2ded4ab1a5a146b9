#!/usr/bin/env bash
# Sets up, builds and runs fanoutd in the foreground with sensible defaults.
# Extra arguments go to fanoutd (see: tools/run.sh --help). Ctrl-C drains and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel build //tools:fanoutd >&2
PORT=7379
for a in "$@"; do case "$a" in --port=*) PORT="${a#--port=}" ;; esac; done
prev=""
for a in "$@"; do [ "$prev" = "--port" ] && PORT="$a"; prev="$a"; done
cat >&2 <<MSG

  fanoutd is starting on 127.0.0.1:${PORT}. In another terminal:
    redis-cli -p ${PORT} SUBSCRIBE news            # wait for messages
    redis-cli -p ${PORT} PSUBSCRIBE 'news.*'       # pattern subscription
    redis-cli -p ${PORT} PUBLISH news hello        # prints how many clients received it
    redis-cli -p ${PORT} INFO                      # clients, deliveries, drops, syscalls

MSG
exec bazel-bin/tools/fanoutd "$@"
