#!/usr/bin/env bash
# The soak, built and run: fanoutd with 10,000 subscribers at a steady publish rate, RSS sampled
# every second (tools/soak.py). Bounded by --duration (default 300 s of measured load).
#   tools/soak.sh                          the long form: 10,000 subscribers, 5 minutes
#   tools/soak.sh --duration 30            the short form CI runs
#   tools/soak.sh --backend io_uring --duration 600
#   tools/soak.sh --help                   this text and tools/soak.py's options
set -euo pipefail
cd "$(dirname "$0")/.."
for a in "$@"; do
  case "$a" in
    -h|--help)
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      echo
      exec /usr/bin/python3 tools/soak.py --help ;;
  esac
done
tools/setup.sh --test >&2 || { echo "soak: setup failed (see above)" >&2; exit 1; }
bazel build //tools:fanoutd //tools/load:fanout-load >&2 2>&1 | grep -E "ERROR|error:" >&2 || true
bin=$(bazel info bazel-bin 2>/dev/null)
exec python3 tools/soak.py --fanoutd "$bin/tools/fanoutd" --load "$bin/tools/load/fanout-load" "$@"
