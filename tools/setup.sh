#!/usr/bin/env bash
# Installs what Fanout needs on Debian 12, from Debian's archive only (Bazel builds offline).
# Idempotent: packages already present are not reinstalled.
set -euo pipefail

PACKAGES=(
  g++ git
  bazel-bootstrap bazel-rules-java bazel-platforms   # Bazel 4.2.3 and the rules it needs offline
  liburing-dev libgtest-dev libbenchmark-dev         # system libraries linked by //third_party/system
  libhttp-parser-dev
  redis-server redis-tools python3-redis             # reference server and real clients for the tests
  nats-server gnuplot-nox                            # the benchmark harness: a second peer, and plots
  clang-14 libclang-rt-14-dev                        # libFuzzer for tools/fuzz.sh
)

node_clients() {
  # ioredis for the compatibility tests, from the committed lockfile.
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/third_party/node"
  if [ ! -d "$dir/node_modules/ioredis" ]; then
    echo "setup: installing Node.js test clients (npm ci)" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --silent >/dev/null)
  fi
}

# Debian's binary package $1, unpacked into the checkout (.tools/$2), not installed, so that no
# service is enabled or started on this machine; $3 is the file that shows it is there.
unpack() {
  local root dir deb
  root="$(cd "$(dirname "$0")/.." && pwd)"
  dir="$root/.tools/$2"
  [ -x "$dir/$3" ] && return 0
  echo "setup: unpacking Debian's $1 into .tools/$2" >&2
  mkdir -p "$dir"
  (cd "$dir" && apt-get download -q "$1" >/dev/null) || {
    echo "setup: apt-get download $1 failed" >&2
    return 1
  }
  deb=$(ls "$dir"/"$1"_*.deb)
  dpkg-deb -x "$deb" "$dir" && rm -f "$deb"
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

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -eq 0 ]; then
  node_clients
  redis_exporter
  prometheus_promtool
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
node_clients
redis_exporter
prometheus_promtool
# Debian's redis-server package may start a system instance on 6379; Fanout's tests start their
# own servers on ephemeral ports and do not need it.
