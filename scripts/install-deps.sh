#!/usr/bin/env bash
# Install the Debian packages kansrijk needs to build, run and test, if any
# are missing. Safe to run again; uses sudo when not root.
set -euo pipefail

packages=(
  build-essential cmake pkg-config   # compiler and build
  libzmq3-dev                        # ZeroMQ with CURVE: the transport
  libprotobuf-c-dev protobuf-c-compiler  # protobuf-c: the schema and codec
  liblmdb-dev lmdb-utils             # LMDB: durable state; mdb_stat for ops
  libsodium-dev                      # libsodium: sealing, signatures, HMAC
  libjson-c-dev                      # json-c: krctl's JSON in and out
  libinih-dev                        # inih: configuration and key files
  libcmocka-dev                      # cmocka: unit tests
  clang-14 libclang-rt-14-dev        # libFuzzer and its sanitizers: tests/fuzz
  libsystemd-dev                     # sd_notify: Type=notify units, watchdog
  libmicrohttpd-dev                  # the daemons' /metrics, /healthz, /readyz
  systemd groff-base man-db          # tests: systemd-analyze verify, man pages
  strace curl                        # tests: the units' syscall filter, HTTP
  prometheus                         # tests: promtool, a real scrape
  chromium                           # tests: the coalition page, headless
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
echo "install-deps: done"
