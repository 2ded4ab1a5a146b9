#!/usr/bin/env bash
# Runs compat_test.py with Debian's Python (it needs python3-redis), against the fanoutd built
# by Bazel. Fails, never skips, when a reference tool is missing: tools/setup.sh installs them.
set -euo pipefail
for tool in redis-server redis-cli redis-benchmark /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run tools/setup.sh" >&2; exit 1; }
done
export PYTHONPATH="$(cd "$(dirname "$0")/../../tools/pylib" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 "$(dirname "$0")/compat_test.py" "$@"
