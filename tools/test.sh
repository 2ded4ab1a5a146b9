#!/usr/bin/env bash
# Sets up and runs the whole test suite: plain (optimised), then under ASan+UBSan and under TSan.
# Prints one summary line "N passed, N failed" and exits non-zero if anything failed.
#   tools/test.sh            everything
#   tools/test.sh --quick    plain build only
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh || exit 1

configs=("" "--config=asan" "--config=tsan")
if [ "${1:-}" = "--quick" ]; then configs=(""); fi

passed=0
failed=0
status=0
for cfg in "${configs[@]}"; do
  label=${cfg:-plain}
  echo "=== bazel test //... ${label}" >&2
  log=$(mktemp)
  # shellcheck disable=SC2086
  bazel test //... $cfg --test_output=errors 2>&1 | tee "$log" | grep -E "PASSED|FAILED|TIMEOUT|NO STATUS|ERROR|Executed" >&2
  rc=${PIPESTATUS[0]}
  p=$(grep -cE '^//.* PASSED in' "$log")
  f=$(grep -cE '^//.* (FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD)' "$log")
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" -ne 0 ]; then
    status=1
    [ "$f" -eq 0 ] && failed=$((failed + 1))  # a build error fails without a test line
  fi
  rm -f "$log"
done
echo "tests: ${passed} passed, ${failed} failed"
exit $status
