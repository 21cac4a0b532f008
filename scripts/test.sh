#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite with ctest:
# first the normal build, then the AddressSanitizer + UBSan build, then the
# fuzz targets (clang-14, libFuzzer), a few seconds each.
#   scripts/test.sh           all three
#   scripts/test.sh --fast    the normal build only
set -euo pipefail
cd "$(dirname "$0")/.."

fast=0
for a in "$@"; do
  case "$a" in
    --fast) fast=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option '$a'" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  # Unit tests in parallel; integration tests one at a time, since they
  # start real daemons and kill them, and must not starve each other.
  (cd "$dir" && ctest --output-on-failure -L unit -j"$jobs" \
     && ctest --output-on-failure -L integration)
}

echo "== normal build (RelWithDebInfo) =="
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "$fast" -eq 0 ]; then
  echo "== sanitizer build (ASan + UBSan) =="
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DKR_SANITIZE=ON
  echo "== fuzz targets (clang-14, libFuzzer, ASan + UBSan) =="
  CC=clang-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DKR_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j"$jobs" --target fuzz
  (cd build-fuzz && ctest --output-on-failure -L fuzz -j"$jobs")
fi
echo "test.sh: all suites passed"
