#!/usr/bin/env bash
# Starts a local tier to try (README "Scale out"): a 3-server NATS cluster (routes) and 3 fanoutd
# nodes, node i joined through NATS server i, all on 127.0.0.1. Sets up and builds first (the
# first build takes minutes). Prints the nodes' ports and a try-it line, then waits; stopping one
# process of the tier (a NATS server, to try a failure) leaves the others running; Ctrl-C (or
# SIGTERM) stops everything it started. Logs go to the directory it prints.
#   tools/tier.sh                     nodes on 7401-7403, NATS on 4301-4303 (monitoring 8301-8303)
#   tools/tier.sh --backend io_uring  anything after the options goes to every fanoutd
#   BASE_PORT=7500 NATS_PORT=4500 tools/tier.sh
set -uo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
esac
base=${BASE_PORT:-7401}
nats=${NATS_PORT:-4301}
logs=$(mktemp -d /tmp/fanout-tier.XXXXXX)
echo "tier: setting up and building (logs in $logs; the first build takes minutes)"
# nats-server and redis-cli come with the test packages.
tools/setup.sh --test >"$logs/setup.log" 2>&1 || { cat "$logs/setup.log" >&2; echo "tier: setup failed" >&2; exit 1; }
bazel build //tools:fanoutd 2>"$logs/build.log" || { cat "$logs/build.log" >&2; echo "tier: FAILED: bazel build" >&2; exit 1; }
pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  echo "tier: stopped (logs in $logs)"
}
trap stop INT TERM EXIT
for i in 0 1 2; do
  routes=""
  for j in 0 1 2; do
    [ "$j" = "$i" ] || routes="${routes:+$routes,}nats://127.0.0.1:$((nats + 1000 + j))"
  done
  nats-server -a 127.0.0.1 -p $((nats + i)) -m $((nats + 4000 + i)) -n "nats$i" --cluster_name fanout-tier \
    --cluster "nats://127.0.0.1:$((nats + 1000 + i))" --routes "$routes" >"$logs/nats$i.log" 2>&1 &
  pids+=($!)
done
for i in 0 1 2; do
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$((nats + i))") 2>/dev/null && break
    sleep 0.1
  done
done
for i in 0 1 2; do
  bazel-bin/tools/fanoutd --port $((base + i)) --upstream "nats://127.0.0.1:$((nats + i))" \
    --upstream-name "node$i" "$@" >"$logs/node$i.out" 2>"$logs/node$i.log" &
  pids+=($!)
done
for i in 0 1 2; do
  for _ in $(seq 1 100); do
    redis-cli -p $((base + i)) ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -p $((base + i)) ping >/dev/null 2>&1 || { echo "tier: node$i did not start: $(tail -3 "$logs/node$i.log")" >&2; exit 1; }
done
cat <<EOF
tier: fanoutd nodes on 127.0.0.1:$base, :$((base + 1)), :$((base + 2)) (node0-2), each joined through its own
      NATS server (127.0.0.1:$nats-$((nats + 2)), monitoring http://127.0.0.1:$((nats + 4000))/connz?subs=1)
try:  redis-cli -p $((base + 1)) subscribe news        # on node1, in one terminal
      redis-cli -p $base publish news hello      # on node0, in another: node1's subscriber gets it
                                                 # (PUBLISH answers node0's own receivers: 0)
      redis-cli -p $base info upstream
      kill \$(pgrep -f "nats-server.*-n nats0")   # a failure: node0 moves to nats1 or nats2
logs: $logs          Ctrl-C stops the tier.
EOF
wait
