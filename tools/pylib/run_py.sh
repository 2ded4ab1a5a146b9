#!/usr/bin/env bash
# Runs a Python script with Debian's interpreter (the one that sees Debian's modules, such as
# python3-redis) and this folder on its module path (local_servers.py): the tests' runner.
#   tools/pylib/run_py.sh tests/system/limits_test.py bazel-bin/tools/fanoutd --backend epoll
set -euo pipefail
if [ "$#" -eq 0 ] || [ "$1" = "--help" ] || [ "$1" = "-h" ]; then
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit 0
fi
# $0 may be a test named after this script (a Bazel sh_test): the file itself is where it links.
here=$(dirname "$(readlink -f "$0")")
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 "$@"
