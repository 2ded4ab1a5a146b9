#!/usr/bin/env bash
# Sets up and runs the whole test suite: plain (optimised), then under ASan+UBSan and under TSan,
# then the soak's short form (tools/soak.sh, SOAK_SECONDS, default 20), then each libFuzzer
# target for FUZZ_SECONDS (default 6: ten targets) from its seed corpus (tools/fuzz.sh).
# Prints one summary line "N passed, N failed, N skipped cases" and exits non-zero if anything
# failed.
#   tools/test.sh            everything
#   tools/test.sh --quick    plain build only, no fuzzing
#   tools/test.sh --help     this text
set -uo pipefail
case "${1:-}" in
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  ""|--quick) ;;
  *) echo "test: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
tools/setup.sh --test || { echo "test: setup failed (see above)" >&2; exit 1; }

# The heavy system suites (tagged "heavy": differential, many connections, process limits) run
# once, in the plain build; unit and integration suites run in all three.
configs=("" "--config=asan --test_tag_filters=-heavy" "--config=tsan --test_tag_filters=-heavy")
if [ "${1:-}" = "--quick" ]; then configs=(""); fi

passed=0
failed=0
skipped=0
status=0
for cfg in "${configs[@]}"; do
  label=${cfg%% *}
  label=${label:-plain}
  echo "=== bazel test //... ${label}" >&2
  log=$(mktemp)
  # shellcheck disable=SC2086
  bazel test //... $cfg --test_output=errors 2>&1 | tee "$log" | grep -E "PASSED|FAILED|TIMEOUT|NO STATUS|ERROR|Executed" >&2
  rc=${PIPESTATUS[0]}
  # Cases a kernel cannot run (say, no io_uring) are skipped, never passed silently: gtest
  # prints "[  SKIPPED ] Suite.Case", the script tests "SKIPPED: why".
  s=$(cat bazel-testlogs/tests/*/*/test.log 2>/dev/null |
      grep -cE '^\[  SKIPPED \] [A-Za-z]|^SKIPPED: ')
  if [ "$s" -gt 0 ]; then
    echo "  ${label}: ${s} case(s) skipped:" >&2
    cat bazel-testlogs/tests/*/*/test.log 2>/dev/null |
      grep -E '^\[  SKIPPED \] [A-Za-z]|^SKIPPED: |backend skipped: ' | sort -u | head -20 >&2
  fi
  skipped=$((skipped + s))
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
if [ "${1:-}" != "--quick" ]; then
  # The soak's short form: 10,000 subscribers, RSS sampled, every message accounted for.
  echo "=== soak, ${SOAK_SECONDS:-20} s" >&2
  if tools/soak.sh --duration "${SOAK_SECONDS:-20}" --rate 200 --out /tmp/fanout-soak-ci >&2; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    status=1
  fi
  echo "=== fuzzing, ${FUZZ_SECONDS:-6} s per target" >&2
  if tools/fuzz.sh "${FUZZ_SECONDS:-6}" >&2; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    status=1
  fi
fi
echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped cases"
exit $status
