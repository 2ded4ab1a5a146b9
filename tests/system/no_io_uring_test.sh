#!/usr/bin/env bash
# With io_uring denied (seccomp, as in Docker's default profile): `fanoutd --backend io_uring`
# must exit non-zero with the reason and a pointer to epoll, epoll must still serve, and the
# integration suite must report its io_uring cases as skipped, not passed.
# usage: no_io_uring_test.sh DENY_IO_URING FANOUTD SERVER_TEST
set -uo pipefail
deny=$1 fanoutd=$2 server_test=$3
fails=0
check() { if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }

out=$("$deny" "$fanoutd" --port auto --backend io_uring 2>&1)
rc=$?
echo "$out" | sed 's/^/  fanoutd: /'
[ "$rc" -ne 0 ]; check "fanoutd --backend io_uring exits non-zero" $?
echo "$out" | grep -q "io_uring is not available: .*Operation not permitted"; check "says why" $?
echo "$out" | grep -q "use --backend epoll"; check "suggests epoll" $?

log=$(mktemp)
"$deny" "$fanoutd" --port auto --backend epoll >"$log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q "listening on" "$log" && break; sleep 0.1; done
grep -q "listening on" "$log"; check "epoll still starts" $?
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
rm -f "$log"

out=$("$deny" "$server_test" --gtest_filter='*io_uring*' 2>&1)
rc=$?
[ "$rc" -eq 0 ]; check "suite exits 0" $?
echo "$out" | grep -q "io_uring backend skipped: .*Operation not permitted"; check "skip gives the reason" $?
skipped=$(echo "$out" | grep -E '^\[  SKIPPED \] Backends/' | sed 's/ (.*//' | sort -u | wc -l)
passed=$(echo "$out" | grep -cE '^\[       OK \]')
[ "$skipped" -gt 0 ] && [ "$passed" -eq 0 ]; check "io_uring cases skipped ($skipped), none passed ($passed)" $?
echo "$fails failed checks"
exit $((fails != 0))
