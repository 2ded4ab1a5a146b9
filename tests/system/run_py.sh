#!/usr/bin/env bash
# Runs a Python test script with Debian's interpreter.
set -euo pipefail
exec /usr/bin/python3 "$@"
