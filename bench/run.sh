#!/usr/bin/env bash
# Sets up, builds (optimised), and runs the benchmark harness: fanoutd against redis-server and
# nats-server with the same workload. Arguments go to bench/harness.py (e.g. --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel build //tools:fanoutd //tools:fanout-load //bench:core_bench //bench:fanout_bench >&2
exec /usr/bin/python3 bench/harness.py "$@"
