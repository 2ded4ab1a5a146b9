#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers (RESP, glob, HTTP requests, PROXY headers, NATS server ops), the
# NATS subject map, a TLS session's input and the command dispatcher with libFuzzer (clang 14,
# from Debian). Builds each target in tests/fuzz with -fsanitize=fuzzer,address,undefined and
# runs it for a bounded time from its committed seed corpus. A crash is written to
# tests/fuzz/crashes/<target>/, where the Bazel replay tests pick it up as a regression input.
#   tools/fuzz.sh                 every target, 60 s each (what tools/test.sh runs in CI)
#   tools/fuzz.sh 3600            every target, an hour each
#   tools/fuzz.sh 600 glob_fuzz   one target
#   tools/fuzz.sh --help          this text
# Prints one line per target: executions, corpus size, and crashes.
set -uo pipefail
case "${1:-}" in
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
esac
cd "$(dirname "$0")/.."
seconds=${1:-60}
only=${2:-}
case "$seconds" in
  ''|*[!0-9]*) echo "fuzz: the first argument is seconds per target, got '$seconds' (see --help)" >&2; exit 2 ;;
esac
command -v clang++-14 >/dev/null || tools/setup.sh --test >&2 || { echo "fuzz: setup failed (see above)" >&2; exit 1; }

# Each target is built from the core/ and net/ sources Bazel builds its replay test from, so a
# file added to a library reaches the fuzz build too (hand-kept lists here missed new files twice).
srcs_of() {
  bazel query --noshow_progress "kind('source file', deps(//tests/fuzz:$1_replay_test))" 2>/dev/null |
    grep -E '^//(core|net):.*\.cc$' | sed 's|^//\([a-z]*\):|\1/|' | tr '\n' ' '
}
declare -A dicts=([resp_parser_fuzz]=resp.dict [glob_fuzz]=glob.dict [dispatch_fuzz]=resp.dict
                  [proxy_protocol_fuzz]=proxy.dict [http_request_fuzz]=http.dict [tls_input_fuzz]=tls.dict
                  [nats_parser_fuzz]=nats.dict [subject_map_fuzz]=glob.dict)
out=${FUZZ_OUT:-/tmp/fanout-fuzz}
mkdir -p "$out"
status=0
for t in resp_parser_fuzz glob_fuzz proxy_protocol_fuzz http_request_fuzz dispatch_fuzz tls_input_fuzz \
         nats_parser_fuzz subject_map_fuzz; do
  [ -n "$only" ] && [ "$only" != "$t" ] && continue
  srcs=$(srcs_of "$t")
  if [ -z "$srcs" ]; then
    echo "fuzz: $t: bazel query found no sources (is //tests/fuzz:${t}_replay_test still there?)" >&2
    status=1
    continue
  fi
  # shellcheck disable=SC2086
  if ! clang++-14 -std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
      -fno-sanitize-recover=undefined -I. $srcs "tests/fuzz/$t.cc" -o "$out/$t" -lhttp_parser -lssl -lcrypto 2>"$out/$t.build.log"; then
    echo "fuzz: $t failed to build:" >&2
    cat "$out/$t.build.log" >&2
    status=1
    continue
  fi
  crashes="tests/fuzz/crashes/$t"
  work="$out/corpus-$t"
  mkdir -p "$crashes" "$work"
  before=$(ls "$crashes" | wc -l)
  # New inputs go to the work corpus; the committed seeds stay as they are.
  "$out/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -dict="tests/fuzz/${dicts[$t]}" -artifact_prefix="$crashes/" -print_final_stats=1 \
    "$work" "tests/fuzz/corpus/$t" >"$out/$t.log" 2>&1
  rc=$?
  after=$(ls "$crashes" | wc -l)
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$out/$t.log" | grep -oE '[0-9]+$' | tail -1)
  corpus=$(ls "$work" | wc -l)
  echo "fuzz: $t: ${seconds} s, ${execs:-?} executions, work corpus ${corpus} inputs, $((after - before)) new crash(es)"
  if [ "$rc" -ne 0 ] || [ "$after" -ne "$before" ]; then
    status=1
    grep -E "ERROR|property failed|SUMMARY|Test unit written" "$out/$t.log" | head -20 >&2
  fi
done
exit $status
