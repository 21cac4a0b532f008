#!/usr/bin/env bash
# Fuzz for longer than the test suite does (tests/fuzz/README.md): build
# the libFuzzer targets with clang-14 in build-fuzz/, then run the targets
# named (all by default) one after the other, each for SECONDS.
#   scripts/fuzz.sh [-t SECONDS] [TARGET ...] [-- LIBFUZZER_FLAGS ...]
#   scripts/fuzz.sh -t 600 broker_frame -- -jobs=2 -workers=2
# Targets: broker_frame node_frame zap admin local json_map config keyfile.
# New inputs collect in build-fuzz/tests/fuzz/corpus/TARGET (kept between
# runs), crashes in build-fuzz/tests/fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=300
targets=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t) secs=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  targets=(broker_frame node_frame zap admin local json_map config keyfile)
fi

scripts/install-deps.sh
CC=clang-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKR_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$(nproc 2>/dev/null || echo 2)" --target fuzz
work=build-fuzz/tests/fuzz
status=0
for t in "${targets[@]}"; do
  echo "== fuzz_$t: ${secs} s"
  tests/fuzz/run.sh "$work/fuzz_$t" "$t" "$secs" "$work" "${extra[@]}" \
    || { status=1; echo "fuzz.sh: fuzz_$t failed: see $work/artifacts/$t/"; }
done
exit $status
