#!/usr/bin/env bash
# Bazel's --workspace_status_command (.bazelrc): prints the git commit the build is made from, for
# fanoutd --version (//tools:build_info, the one stamped target). Keys starting with STABLE_ make
# Bazel rebuild what reads them when they change; nothing else reads them.
#   STABLE_FANOUT_COMMIT  the commit's 12-digit abbreviated hash, "-dirty" when tracked files
#                         differ from it; "unknown" outside a git checkout (a tarball) or without git
# Must never fail: Bazel stops the build if it does. Reads git only, writes nothing.
case "${1:-}" in
  -h|--help)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0 ;;
esac
cd "$(dirname "$0")/.." 2>/dev/null || { echo "STABLE_FANOUT_COMMIT unknown"; exit 0; }
commit=unknown
# Only this tree's own repository counts: a tarball unpacked inside another checkout is "unknown".
if command -v git >/dev/null 2>&1 && [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$(pwd -P)" ] &&
    head=$(git rev-parse --short=12 HEAD 2>/dev/null); then
  commit=$head
  # --untracked-files=no: new files nobody added do not make a build "dirty".
  if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-dirty"; fi
fi
echo "STABLE_FANOUT_COMMIT $commit"
