#!/usr/bin/env bash
# The kansrijk hand-off, end to end, on this machine: install what is
# missing, build, start a broker and two organisation nodes in a temporary
# directory, send a referral from a verloskunde practice to JGZ, show what
# JGZ opened and what the practice saw, and stop everything.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
bin=$src/build
krctl=$bin/clients/krctl/krctl

work=$(mktemp -d /tmp/kansrijk-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Wait until a command succeeds: at most $1 tenths of a second.
wait_for() {
  local tries=$1; shift
  for _ in $(seq "$tries"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "demo: gave up waiting for: $*" >&2
  return 1
}

mid=ura:00001234      # the verloskunde practice
jgz=ura:87654321      # the JGZ organisation

say "keys: the broker, two organisations, the coalition's pseudonym key"
mkdir -p "$work/keys"
$krctl keygen --out "$work/keys/broker" >/dev/null
$krctl keygen --out "$work/keys/verloskunde" >/dev/null
$krctl keygen --out "$work/keys/jgz" >/dev/null
$krctl keygen --coalition "$work/keys/coalition.key" >/dev/null
ls -l "$work/keys" | sed 's/^/  /'

say "krbroker: listening on a free port of 127.0.0.1"
"$bin/broker/krbroker" --data_dir "$work/broker" --keys "$work/keys/broker.secret" \
  --listen "tcp://127.0.0.1:*" --routes examples/routes.ini --log_level debug \
  2>"$work/broker.log" &
pids+=($!)
export KR_ADMIN="ipc://$work/broker/admin.sock"
wait_for 100 $krctl org list
endpoint=$(cat "$work/broker/endpoint")
echo "  nodes connect to $endpoint (CURVE)"
echo "  the coalition's routes (examples/routes.ini), as the broker loaded them:"
$krctl routes | sed 's/^/    /'

say "directory: the practice and JGZ are registered with their public keys"
$krctl org add --id $mid --category verloskunde --name "Verloskundigenpraktijk De Wieg" \
  --keys "$work/keys/verloskunde.public"
$krctl org add --id $jgz --category jgz --name "JGZ Regio Voorbeeld" \
  --keys "$work/keys/jgz.public"
$krctl org list | sed 's/^/  /'

start_node() {
  local name=$1 org=$2
  "$bin/clients/krnode/krnode" --org "$org" --data_dir "$work/$name" \
    --keys "$work/keys/$name.secret" --broker "$endpoint" \
    --broker_key "$work/keys/broker.public" \
    --coalition_key "$work/keys/coalition.key" 2>"$work/$name.log" &
  pids+=($!)
}
connected() { $krctl --node "ipc://$work/$1/node.sock" status | grep -q '"connected": true'; }

say "krnode: one for each organisation"
start_node verloskunde $mid
start_node jgz $jgz
wait_for 100 connected verloskunde
wait_for 100 connected jgz
echo "  both nodes connected"

# The examples carry fixed dates; the demo moves them to today.
today=$(date -u +%Y-%m-%d)
sed -e "s/\"valid_from\": \"[0-9-]*\"/\"valid_from\": \"$today\"/" \
    -e "s/\"valid_until\": \"[0-9-]*\"/\"valid_until\": \"$(date -u -d '+1 year' +%Y-%m-%d)\"/" \
    -e "s/\"given_on\": \"[0-9-]*\"/\"given_on\": \"$today\"/" \
    examples/consent-grant.json >"$work/consent-grant.json"
sed -e "s/\"not_after\": \"[^\"]*\"/\"not_after\": \"$(date -u -d '+90 days' +%Y-%m-%dT00:00:00Z)\"/" \
    examples/referral.json >"$work/referral.json"

say "the woman consents; the practice records it (the scope in clear, the evidence sealed for JGZ)"
sed 's/^/  /' "$work/consent-grant.json"
$krctl --node "ipc://$work/verloskunde/node.sock" consent grant "$work/consent-grant.json" | sed 's/^/  /'

say "the practice sends a referral for a prenatal home visit"
sed 's/^/  /' "$work/referral.json"
msg=$($krctl --node "ipc://$work/verloskunde/node.sock" send "$work/referral.json")
echo "  committed to the practice's outbox as msg_id $msg"

say "JGZ's node received, verified and opened it"
has_inbox() { $krctl --node "ipc://$work/jgz/node.sock" inbox | grep -q "$msg"; }
wait_for 100 has_inbox
$krctl --node "ipc://$work/jgz/node.sock" inbox | sed 's/^/  /'

say "the practice sees the receipt"
delivered() { $krctl --node "ipc://$work/verloskunde/node.sock" receipts | grep -A8 "$msg" | grep -q '"delivered"'; }
wait_for 100 delivered
$krctl --node "ipc://$work/verloskunde/node.sock" receipts | sed 's/^/  /'

ref=$($krctl --node "ipc://$work/jgz/node.sock" inbox | grep -A6 "\"msg_id\": \"$msg\"" | grep -m1 '"referral_id"' |
  sed 's/.*: *"\([0-9a-f]*\)".*/\1/')
# The referral's state as the broker and both nodes keep it, one line each.
show_state() {
  echo "    broker:       $($krctl referral show "$ref" | head -1 | cut -c34-)"
  echo "    practice:     $($krctl --admin '' --node "ipc://$work/verloskunde/node.sock" referral show "$ref" | head -1 | cut -c34-)"
  echo "    JGZ:          $($krctl --admin '' --node "ipc://$work/jgz/node.sock" referral show "$ref" | head -1 | cut -c34-)"
}
say "the referral's state (referral_id $ref): requested"
show_state
# JGZ moves it along: received, accepted, in-progress, completed with an
# outcome. Each status is a REFERRAL_STATUS whose code travels in clear
# (the broker keeps the state from it); its note and dates stay sealed.
for st in received accepted in-progress completed; do
  $krctl --node "ipc://$work/jgz/node.sock" send "examples/referral-$st.json" >/dev/null
  at_state() { $krctl referral show "$ref" --json | grep -q "\"state\": \"$st\""; }
  seen_by_practice() { $krctl --admin '' --node "ipc://$work/verloskunde/node.sock" referral show "$ref" --json | grep -q "\"state\": \"$st\""; }
  wait_for 100 at_state
  wait_for 100 seen_by_practice
  say "JGZ sets $st"
  show_state
done
say "what the practice received: JGZ's answers, opened (the last one)"
$krctl --node "ipc://$work/verloskunde/node.sock" inbox | grep -B2 -A12 '"completed"' | sed 's/^/  /'
say "the referral's history at the broker: codes, parties and times only"
$krctl referral show "$ref" | sed 's/^/  /'

say "the coalition's figures (krctl report; the same on the broker's /coalition page)"
$krctl report | sed 's/^/  /'

say "what the broker saw (its log: no names, no BSN, no content)"
sed 's/^/  /' "$work/broker.log"

say "the broker's audit trail (NEN 7513 style, hash-chained)"
$krctl audit tail -n 6 | cut -c1-240 | sed 's/^/  /'
$krctl audit verify | sed 's/^/  /'
say "the broker's own figures (krctl stats) and its queues"
$krctl stats | sed 's/^/  /'
$krctl queues | sed 's/^/  /'
if grep -q 111222333 "$work/broker.log" "$work"/broker/data.mdb 2>/dev/null; then
  echo "demo: the BSN appears at the broker: this is a bug" >&2
  exit 1
fi
say "done: delivered, opened, answered and completed; stopping"
