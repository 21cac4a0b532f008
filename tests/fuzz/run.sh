#!/bin/sh
# Run one fuzz target: first over every input of its seed corpus and of its
# crash regressions (any crash fails), then fuzzing for SECONDS.
#   run.sh BINARY TARGET SECONDS WORKDIR [libFuzzer flags ...]
# New inputs go to WORKDIR/corpus/TARGET, never into the source tree; a
# crash's input to WORKDIR/artifacts/TARGET/.
set -eu
bin=$1 t=$2 secs=$3 work=$4
shift 4
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
set -- "$@" "$work/corpus/$t"
for d in "$src/corpus/$t" "$src/regressions/$t"; do
  if [ -d "$d" ]; then set -- "$@" "$d"; fi
done
# -close_fd_mask=2: the daemons' log lines (at debug level, so that their
# formatting is fuzzed too) stay out of the output; libFuzzer and the
# sanitizers still report.
exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=3072 \
  -close_fd_mask=2 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/$t/" "$@"
