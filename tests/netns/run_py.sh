#!/usr/bin/env bash
# Runs a Python test script with Debian's interpreter (no third-party modules needed).
set -euo pipefail
exec /usr/bin/python3 "$@"
