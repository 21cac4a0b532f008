#!/usr/bin/env bash
# kill -9 soak (not in CI): under steady load, kill a random daemon (broker,
# sending node, receiving node) every 0.2-2 s and restart it, then check
# that every message reached the recipient exactly once, has exactly one
# final outcome at its sender, and that the audit chain verifies.
#   scripts/soak.sh [--kills N] [--seed S] [--rate MSG_PER_S] [--build DIR]
# Defaults: 1000 kills, a seed from the clock, 100 msg/s, build dir
# build-soak (its own, so that rebuilding build/ during a run does not
# change the daemons it restarts). The figures are the "soak:" lines.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build-soak
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --kills|--seed|--rate) args+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target kr_soak >/dev/null
exec "$build/tests/kr_soak" "${args[@]}"
