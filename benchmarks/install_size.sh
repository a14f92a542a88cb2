#!/usr/bin/env bash
# Installed size of the runtime (the base package) and of the serve extra, each in a fresh virtual environment,
# less the size of an empty one (pip itself). Usage: benchmarks/install_size.sh [GIT_REV ...] (default: HEAD).
set -euo pipefail
repo=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/empty"
empty=$(du -sm "$work/empty" | cut -f1)
for rev in "${@:-HEAD}"; do
  mkdir -p "$work/src-$rev" && git -C "$repo" archive "$rev" | tar -x -C "$work/src-$rev"
  for extra in "" "[serve]"; do
    venv="$work/venv-$rev$extra"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "$work/src-$rev$extra" 2>&1 | grep -v '^WARNING' || true
    printf '%s %-8s %4d MB  (%d distributions)\n' "$rev" "${extra:-base}" \
      "$(( $(du -sm "$venv" | cut -f1) - empty ))" "$(( $("$venv/bin/pip" list 2>/dev/null | wc -l) - 2 ))"
  done
done
