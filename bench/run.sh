#!/usr/bin/env bash
# Sets up, builds (optimised), and runs the benchmark harness: fanoutd against redis-server and
# nats-server with the same workload. Arguments go to bench/harness.py (e.g. --quick).
#   bench/run.sh --help    this text and the harness's options
set -euo pipefail
cd "$(dirname "$0")/.."
for a in "$@"; do
  case "$a" in
    -h|--help)
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      echo
      exec /usr/bin/python3 bench/harness.py --help ;;
  esac
done
tools/setup.sh --test || { echo "bench: setup failed (see above)" >&2; exit 1; }
bazel build //tools:fanoutd //tools:fanout-load //tools:fanout-handshakes //bench:core_bench //bench:fanout_bench >&2 ||
  { echo "bench: FAILED: bazel build (see above)" >&2; exit 1; }
exec /usr/bin/python3 bench/harness.py "$@"
