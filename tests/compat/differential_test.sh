#!/usr/bin/env bash
# Runs differential_test.py (random command sequences, fanoutd against redis-server, byte for byte)
# with Debian's Python against the fanoutd built by Bazel, for a bounded time.
set -euo pipefail
for tool in redis-server /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run tools/setup.sh" >&2; exit 1; }
done
export PYTHONPATH="$(cd "$(dirname "$0")/../../tools/pylib" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 "$(dirname "$0")/differential_test.py" "$@"
