#!/usr/bin/env bash
# Installs what Fanout needs on Debian 12, from Debian's archive only (Bazel builds offline).
# Idempotent: packages already present are not reinstalled. A step that fails says which step,
# its exit code and the end of its output, then setup exits 1.
#   tools/setup.sh             building and running fanoutd (what tools/run.sh needs)
#   tools/setup.sh --test      that, plus the tests' and benchmarks' needs: GoogleTest, Google
#                              Benchmark, redis-server and clients, nats-server, clang/libFuzzer,
#                              gnuplot, the Node.js test clients and prometheus-redis-exporter
#                              (tools/test.sh, bench/run.sh, tools/soak.sh, tools/fuzz.sh)
#   tools/setup.sh --dry-run   says what is missing and would be installed; changes nothing
#   tools/setup.sh --help      this text
set -uo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

test_part=0
dry_run=0
for a in "$@"; do
  case "$a" in
    -h|--help) usage; exit 0 ;;
    --test) test_part=1 ;;
    --dry-run) dry_run=1 ;;
    *) echo "setup: unknown argument '$a'" >&2; usage >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"

# Building and running fanoutd.
SERVER_PACKAGES=(
  g++ git                                            # the compiler; git for --version's commit
  bazel-bootstrap bazel-rules-java bazel-platforms   # Bazel 4.2.3 and the rules it needs offline
  liburing-dev                                       # io_uring (//third_party/system:uring)
  nlohmann-json3-dev                                 # JSON logs and fanout-load's --json
  libcli11-dev                                       # fanoutd's and fanout-load's command lines
  libhttp-parser-dev                                 # the metrics endpoint's HTTP requests
  libssl-dev openssl                                 # TLS (OpenSSL 3); the openssl CLI makes test certificates
)
# Testing and benchmarking.
TEST_PACKAGES=(
  libgtest-dev libbenchmark-dev                      # the C++ tests and microbenchmarks
  redis-server redis-tools python3-redis             # reference server and real clients for the tests
  nats-server gnuplot-nox                            # the benchmark harness: a second peer, and plots
  clang-14 libclang-rt-14-dev                        # libFuzzer for tools/fuzz.sh
)

fail() {
  echo "setup: FAILED: $*" >&2
  exit 1
}

# step WHAT CMD...: runs CMD with its output kept aside; on failure says WHAT failed, with CMD's
# exit code and the last lines it printed, and exits 1.
step() {
  local what=$1 log rc=0
  shift
  log=$(mktemp)
  "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "setup: FAILED: $what (exit $rc): $*" >&2
    tail -n 20 "$log" | sed 's/^/  | /' >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
}

node_clients() {
  # ioredis for the compatibility tests, from the committed lockfile.
  local dir="$root/third_party/node"
  [ -d "$dir/node_modules/ioredis" ] && return 0
  if [ "$dry_run" -eq 1 ]; then
    echo "setup: would install the Node.js test clients (npm ci in third_party/node)"
    return 0
  fi
  echo "setup: installing Node.js test clients (npm ci)" >&2
  step "npm ci in third_party/node (can npm reach its registry? npm config get registry: $(npm config get registry 2>/dev/null || echo '?'))" \
    bash -c "cd '$dir' && npm ci --no-audit --no-fund"
}

# Debian's binary package $1, unpacked into the checkout (.tools/$2), not installed, so that no
# service is enabled or started on this machine; $3 is the file that shows it is there.
unpack() {
  local dir="$root/.tools/$2" deb
  [ -x "$dir/$3" ] && return 0
  if [ "$dry_run" -eq 1 ]; then
    echo "setup: would unpack Debian's $1 into .tools/$2"
    return 0
  fi
  echo "setup: unpacking Debian's $1 into .tools/$2" >&2
  mkdir -p "$dir" || fail "cannot create $dir"
  step "apt-get download $1" bash -c "cd '$dir' && apt-get download -q '$1'"
  deb=$(ls "$dir"/"$1"_*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || fail "apt-get download left no $1_*.deb in $dir"
  step "dpkg-deb -x $deb" dpkg-deb -x "$deb" "$dir"
  rm -f "$deb"
}

redis_exporter() {
  # prometheus-redis-exporter for the compatibility test.
  command -v prometheus-redis-exporter >/dev/null && return 0
  unpack prometheus-redis-exporter redis-exporter usr/bin/prometheus-redis-exporter
}

prometheus_promtool() {
  # promtool (from Debian's prometheus) checks what GET /metrics serves (tests/system/metrics_test.py).
  command -v promtool >/dev/null && return 0
  unpack prometheus prometheus usr/bin/promtool
}

wanted=("${SERVER_PACKAGES[@]}")
[ "$test_part" -eq 1 ] && wanted+=("${TEST_PACKAGES[@]}")
command -v dpkg-query >/dev/null ||
  fail "dpkg-query not found: this script installs from Debian's archive (Debian 12); elsewhere install the equivalents of: ${wanted[*]}"
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "$test_part" -eq 1 ]; then
  command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
fi

if [ "$dry_run" -eq 1 ]; then
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: every package is installed"
  else
    echo "setup: would install: ${missing[*]}"
  fi
  if [ "$test_part" -eq 1 ]; then
    node_clients
    redis_exporter
    prometheus_promtool
  fi
  exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || fail "installing ${missing[*]} needs root, and sudo is not installed: run this as root"
    SUDO=(sudo)
  fi
  command -v apt-get >/dev/null || fail "apt-get not found: cannot install ${missing[*]}"
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  step "apt-get update (is Debian's archive reachable? see /etc/apt/sources.list*)" "${SUDO[@]}" apt-get update -qq
  step "apt-get install ${missing[*]}" "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ "$test_part" -eq 1 ]; then
  node_clients
  redis_exporter
  prometheus_promtool
fi
# Debian's redis-server package may start a system instance on 6379; Fanout's tests start their
# own servers on ephemeral ports and do not need it.
exit 0
