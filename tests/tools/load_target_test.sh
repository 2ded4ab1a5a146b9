#!/usr/bin/env bash
# fanout-load measures the server it is pointed at, IPv6 included: two fanoutd on the same port,
# io_uring on [::1] and epoll on 127.0.0.1. `--host ::1` must report io_uring and `--host
# 127.0.0.1` epoll, and each run must leave the other server untouched (its INFO fetch, its
# subscribers and its publisher all went to the address given). Before the fix the INFO fetch
# was IPv4-only and fell back to 0.0.0.0, so the ::1 run reported the epoll server.
set -euo pipefail
fanoutd=$1
load=$2
tmp=$(mktemp -d)
pids=()
cleanup() {
  stop_all
  rm -rf "$tmp"
}
trap cleanup EXIT

# Starts fanoutd (name, then its flags) in the background; waits (polled, at most 5 s) for its
# "listening on HOST:PORT" line or its exit. Sets $started to the port, or "" if it did not start.
started=""
start() {
  local name=$1; shift
  "$fanoutd" --shards 1 --log-level warn "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    grep -qs '^listening on ' "$tmp/$name.out" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  started=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/$name.out")
}
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
}

start uring --bind ::1 --port auto --backend io_uring
port=$started
if [ -z "$port" ]; then
  if grep -q "is not available" "$tmp/uring.err"; then
    echo "SKIPPED: io_uring backend: $(head -1 "$tmp/uring.err")"; exit 0
  fi
  if grep -q "cannot listen\|not a valid address" "$tmp/uring.err"; then
    echo "SKIPPED: no IPv6 loopback: $(head -1 "$tmp/uring.err")"; exit 0
  fi
  echo "FAIL fanoutd (io_uring, ::1) did not start:"; cat "$tmp/uring.err"; exit 1
fi
# The kernel chose a port free on [::1]; 127.0.0.1 may have it taken. Then start both again.
for attempt in 1 2 3 4 5; do
  start epoll --bind 127.0.0.1 --port "$port" --backend epoll
  [ -n "$started" ] && break
  if [ "$attempt" -eq 5 ]; then echo "FAIL fanoutd (epoll, 127.0.0.1:$port):"; cat "$tmp/epoll.err"; exit 1; fi
  stop_all
  start uring --bind ::1 --port auto --backend io_uring
  port=$started
  [ -n "$port" ] || { echo "FAIL fanoutd (io_uring, ::1) did not restart:"; cat "$tmp/uring.err"; exit 1; }
done

# "CONNECTIONS PUBLISHED" from one INFO of the server on host $1 (that INFO is a connection too).
counters() {
  redis-cli -h "$1" -p "$port" INFO stats | tr -d '\r' |
    awk -F: '$1 == "total_connections_received" { c = $2 } $1 == "messages_published" { p = $2 }
             END { print c, p }'
}

fail=0
pass=0
# run NAME HOST WANT_BACKEND OTHER_HOST: a short run against HOST; its JSON must name
# WANT_BACKEND, and the server on OTHER_HOST must see no connection but our own INFO probe.
run() {
  local name=$1 host=$2 want=$3 other=$4
  local conns0 conns1 published0 published1 got
  read -r conns0 published0 < <(counters "$other")
  if ! "$load" --host "$host" --port "$port" --quiet --json "$tmp/$name.json" --subscribers 50 \
      --duration 1 --warmup 0.2 > "$tmp/$name.txt" 2>&1; then
    echo "FAIL $name: fanout-load failed"; cat "$tmp/$name.txt"; fail=$((fail + 1)); return
  fi
  got=$(sed -n 's/^  "backend": "\(.*\)",$/\1/p' "$tmp/$name.json")
  if [ "$got" = "$want" ]; then
    pass=$((pass + 1))
  else
    echo "FAIL $name: --host $host reported backend '$got', want '$want'"; cat "$tmp/$name.txt"
    fail=$((fail + 1))
  fi
  read -r conns1 published1 < <(counters "$other")
  # Each INFO counts its own connection, so the second one sees exactly one more.
  if [ "$conns1" -eq $((conns0 + 1)) ] && [ "$published1" -eq "$published0" ]; then
    pass=$((pass + 1))
  else
    echo "FAIL $name: the server on $other saw the run" \
      "(connections $conns0 -> $conns1, published $published0 -> $published1)"
    fail=$((fail + 1))
  fi
}

run ipv6 ::1 io_uring 127.0.0.1
run ipv4 127.0.0.1 epoll ::1
echo "load_target: $pass passed, $fail failed (port $port)"
[ "$fail" -eq 0 ]
