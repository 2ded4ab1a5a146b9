#!/usr/bin/env bash
# Installs fanoutd as a systemd service: the binary, the unit and an example configuration.
#   PREFIX/usr/local/bin/fanoutd                  the binary (the unit's ExecStart=)
#   PREFIX/etc/systemd/system/fanoutd.service     tools/systemd/fanoutd.service
#   PREFIX/etc/fanout/fanoutd.conf                tools/systemd/fanoutd.conf; one already there is
#                                                 kept, the example going beside it as .example
# Usage: tools/install.sh [--prefix DIR] [--dry-run] [--binary PATH]
#   --prefix DIR    a root to install under, as DESTDIR (default /: the system, which needs root)
#   --dry-run       prints what it would do; changes nothing
#   --binary PATH   the fanoutd to install (default: bazel build //tools:fanoutd, optimised)
#   --help          this text
# Starts nothing: afterwards, on the real root,
#   systemctl daemon-reload && systemctl enable --now fanoutd
set -uo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
fail() {
  echo "install: FAILED: $*" >&2
  exit 1
}

prefix=/
dry_run=0
binary=
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --dry-run) dry_run=1 ;;
    --prefix|--binary)
      [ $# -ge 2 ] || { echo "install: $1 needs a value (see --help)" >&2; exit 2; }
      if [ "$1" = --prefix ]; then prefix=$2; else binary=$2; fi
      shift ;;
    --prefix=*) prefix=${1#--prefix=} ;;
    --binary=*) binary=${1#--binary=} ;;
    *) echo "install: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$prefix" ] || { echo "install: --prefix needs a directory" >&2; exit 2; }
prefix=${prefix%/}  # "/" becomes "", so the paths below are absolute either way
src="$(cd "$(dirname "$0")" && pwd)"

# run CMD...: does it (or, with --dry-run, says it would); a failure names the command.
run() {
  if [ "$dry_run" -eq 1 ]; then
    echo "would run: $*"
    return 0
  fi
  "$@" || fail "$* (exit $?)"
}

if [ -z "$binary" ]; then
  if [ "$dry_run" -eq 1 ]; then
    echo "would run: bazel build -c opt //tools:fanoutd"
    binary="$src/../bazel-bin/tools/fanoutd"
  else
    (cd "$src/.." && bazel build -c opt //tools:fanoutd >&2) || fail "bazel build -c opt //tools:fanoutd (see above)"
    binary="$src/../bazel-bin/tools/fanoutd"
  fi
fi
if [ "$dry_run" -eq 0 ]; then
  [ -x "$binary" ] || fail "$binary is not an executable file"
  "$binary" --version >/dev/null 2>&1 || fail "$binary --version did not run: is it fanoutd?"
fi

bin_dir="$prefix/usr/local/bin"
unit_dir="$prefix/etc/systemd/system"
conf_dir="$prefix/etc/fanout"
run install -d -m 0755 "$bin_dir" "$unit_dir" "$conf_dir"
run install -m 0755 "$binary" "$bin_dir/fanoutd"
run install -m 0644 "$src/systemd/fanoutd.service" "$unit_dir/fanoutd.service"
if [ -e "$conf_dir/fanoutd.conf" ]; then
  echo "install: keeping $conf_dir/fanoutd.conf; the example goes to $conf_dir/fanoutd.conf.example"
  run install -m 0644 "$src/systemd/fanoutd.conf" "$conf_dir/fanoutd.conf.example"
else
  run install -m 0644 "$src/systemd/fanoutd.conf" "$conf_dir/fanoutd.conf"
fi
if [ "$dry_run" -eq 0 ]; then
  echo "install: installed under ${prefix:-/}: usr/local/bin/fanoutd, etc/systemd/system/fanoutd.service, etc/fanout/"
  if [ -z "$prefix" ]; then
    echo "install: now: systemctl daemon-reload && systemctl enable --now fanoutd"
  fi
fi
