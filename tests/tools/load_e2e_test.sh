#!/usr/bin/env bash
# fanout-load against a real fanoutd: a closed-loop run must verify every delivery (exit 0, no
# loss), and a run with stopped readers under drop-newest must keep the normal readers whole.
set -euo pipefail
fanoutd=$1
load=$2
tmp=$(mktemp -d)
"$fanoutd" --port auto --shards 2 --log-level warn --policy drop-newest --client-hard-limit 1m \
  > "$tmp/out" 2> "$tmp/err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do grep -qs listening "$tmp/out" && break; sleep 0.1; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$tmp/out")
fail=0
pass=0

run() {
  local name=$1; shift
  if "$load" --port "$port" --quiet --json "$tmp/$name.json" "$@" > "$tmp/$name.txt"; then
    pass=$((pass + 1))
  else
    echo "FAIL $name"; cat "$tmp/$name.txt"; fail=$((fail + 1))
  fi
}

run closed --subscribers 500 --topics 4 --publishers 3 --window 32 --duration 2 --warmup 0.5 --threads 2
grep -q '"lost": 0,' "$tmp/closed.json" || { echo "FAIL closed: lost"; fail=$((fail + 1)); }
grep -q '"deliveries": 0,' "$tmp/closed.json" && { echo "FAIL closed: nothing measured"; fail=$((fail + 1)); }
# Even a reader that read nothing would hold under the 1 MiB limit (5,000 x 2.5 s x 64 B), so
# a slow (sanitizer) build cannot turn this into drops.
run open --mode open --rate 5000 --subscribers 100 --duration 2 --warmup 0.5
grep -q '"lost": 0,' "$tmp/open.json" || { echo "FAIL open: lost"; fail=$((fail + 1)); }
# Closed loop paces the normal readers (one 32 KiB window outstanding, whatever the server's
# speed, sanitizers included) while the stopped readers accumulate 8 MB each: far past their
# socket buffers and the 1 MiB limit, so only they are dropped for.
run stopped --size 1024 --subscribers 100 --stop-fraction 0.2 --rcvbuf 16384 --window 32 \
  --messages 8000 --duration 60 --warmup 0
grep -q '"lost": 0,' "$tmp/stopped.json" || { echo "FAIL stopped: normal readers lost messages"; fail=$((fail + 1)); }
if grep -q '"stopped_lost": 0,' "$tmp/stopped.json"; then
  echo "FAIL stopped: drop-newest never dropped for the stopped readers"; fail=$((fail + 1))
fi
# Connection churn and a size mix while publishing: the measured subscribers stay whole.
run churn --subscribers 200 --topics 4 --publishers 2 --size-mix 64:0.8,2048:0.2 \
  --churn-subscribers 40 --churn-rate 100 --window 16 --duration 2 --warmup 0.2
grep -q '"lost": 0,' "$tmp/churn.json" || { echo "FAIL churn: lost"; fail=$((fail + 1)); }
grep -q '"churn_reconnects": 0,' "$tmp/churn.json" && { echo "FAIL churn: no reconnects"; fail=$((fail + 1)); }
# The NATS protocol against a real nats-server (tools/setup.sh installs it; missing is a failure).
if command -v nats-server > /dev/null; then
  nats-server -a 127.0.0.1 -p -1 > "$tmp/nats.log" 2>&1 &  # -1: nats-server picks a free port
  npid=$!
  for _ in $(seq 50); do grep -qs "Server is ready" "$tmp/nats.log" && break; sleep 0.1; done
  nport=$(sed -n 's/.*Listening for client connections on [0-9.]*:\([0-9]*\).*/\1/p' "$tmp/nats.log" | head -1)
  if "$load" --proto nats --port "$nport" --quiet --json "$tmp/nats.json" --subscribers 200 --topics 2 \
      --publishers 2 --window 16 --duration 1 --warmup 0.2 > "$tmp/nats.txt"; then
    pass=$((pass + 1))
  else
    echo "FAIL nats"; cat "$tmp/nats.txt" "$tmp/nats.log"; fail=$((fail + 1))
  fi
  kill "$npid"; wait "$npid" 2>/dev/null || true
else
  echo "FAIL nats-server missing: run tools/setup.sh"; fail=$((fail + 1))
fi
# The server's delivery accounting over all the runs above: every push owed was sent, dropped,
# discarded with its connection or is still queued (polled: INFO reads live shards).
balanced=no
for _ in $(seq 50); do
  info=$(redis-cli -p "$port" INFO backpressure | tr -d '\r')
  v() { echo "$info" | sed -n "s/^$1://p"; }
  if [ -n "$(v deliveries_due)" ] && [ "$(v deliveries_due)" -gt 0 ] && \
     [ "$(v deliveries_due)" -eq $(( $(v deliveries_sent) + $(v dropped_newest) + $(v dropped_oldest) \
                                     + $(v deliveries_discarded) + $(v deliveries_queued) )) ]; then
    balanced=yes; break
  fi
  sleep 0.1
done
if [ "$balanced" = yes ]; then pass=$((pass + 1)); else echo "FAIL delivery accounting: $info"; fail=$((fail + 1)); fi
# The tool refuses non-loopback targets.
if "$load" --host 10.0.0.1 --port "$port" --duration 1 > /dev/null 2>&1; then
  echo "FAIL non-loopback target accepted"; fail=$((fail + 1))
else
  pass=$((pass + 1))
fi
echo "load_e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
