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
  libcurl4-openssl-dev               # libcurl: krfhir's rest-hook (https)
  openssl                            # tests: test_fhir_tls's certificate
  systemd groff-base man-db          # tests: systemd-analyze verify, man pages
  strace curl                        # tests: the units' syscall filter, HTTP
  prometheus                         # tests: promtool, a real scrape
  chromium                           # tests: the coalition page, headless
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# tests/fhir: node and npm run the FHIR R4 validator. A node that brings
# its own npm (NodeSource's) is kept; Debian's come as two packages.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  echo "install-deps: done"
fi

# The FHIR R4 validator's npm packages (tests/fhir/package-lock.json) into
# tests/fhir/node_modules, unless they are there as the lock file says.
fhir="$(cd "$(dirname "$0")/.." && pwd)/tests/fhir"
if [ ! -f "$fhir/node_modules/.package-lock.json" ] ||
   [ "$fhir/package-lock.json" -nt "$fhir/node_modules/.package-lock.json" ]; then
  echo "install-deps: npm ci in tests/fhir"
  (cd "$fhir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
else
  echo "install-deps: tests/fhir/node_modules present"
fi
