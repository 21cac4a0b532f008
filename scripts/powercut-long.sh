#!/usr/bin/env bash
# Long power-cut runs (tests/powercut/README.md): many cuts, for hours if
# asked, each run with its own seed, printed so that a failure replays.
#   scripts/powercut-long.sh [--daemon broker|node|both] [--seed N]
#                            [--count RUNS] [--cuts N per run (30)]
#                            [--duration SECONDS (3600)]
#                            [--build DIR]
# Stops at the first failing run (its directory is kept, its seed printed)
# or when --count runs or --duration seconds are done. --seed N replays
# one run with that seed (and --count 1).
set -euo pipefail
cd "$(dirname "$0")/.."

daemon=both seed="" count=1000000 cuts=30 duration=3600 build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --daemon) daemon=$2; shift 2 ;;
    --seed) seed=$2; count=1; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --cuts) cuts=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "powercut-long.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
case "$daemon" in
  broker) daemons=(broker) ;;
  node) daemons=(node) ;;
  both) daemons=(broker node) ;;
  *) echo "powercut-long.sh: --daemon is broker, node or both" >&2; exit 2 ;;
esac
bin="$build/tests/powercut/powercut"
[ -x "$bin" ] || { echo "powercut-long.sh: $bin not built (cmake --build $build)" >&2; exit 2; }

end=$(( $(date +%s) + duration ))
runs=0 total_cuts=0
while [ "$runs" -lt "$count" ] && [ "$(date +%s)" -lt "$end" ]; do
  for d in "${daemons[@]}"; do
    s=${seed:-$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')}
    left=$(( end - $(date +%s) ))
    [ "$left" -gt 10 ] || break 2
    log=$(mktemp /tmp/powercut-long.XXXXXX)
    echo "== run $((runs + 1)): --daemon $d --seed $s --cuts $cuts"
    if ! "$bin" --daemon "$d" --seed "$s" --cuts "$cuts" --max-seconds "$left" >"$log" 2>&1; then
      grep -v '^ok ' "$log" | tail -40
      echo "powercut-long.sh: FAILED: replay with: $bin --daemon $d --seed $s --cuts $cuts (output: $log)"
      exit 1
    fi
    n=$(sed -n 's/^# \([0-9]*\) cuts in .*/\1/p' "$log" | tail -1)
    grep '^# [0-9]* cuts in' "$log" || true
    total_cuts=$(( total_cuts + ${n:-0} ))
    rm -f "$log"
    runs=$((runs + 1))
    [ "$runs" -lt "$count" ] || break
  done
done
echo "powercut-long.sh: $runs runs, $total_cuts cuts, no acknowledged message lost"
