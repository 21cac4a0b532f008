#!/usr/bin/env bash
# The kansrijk hand-off, end to end, on this machine: install what is
# missing, build, start a broker and two organisation nodes in a temporary
# directory with an HL7 FHIR gateway (krfhir) in front of each node, send a
# referral from a verloskunde practice's EPD to JGZ's dossier as FHIR, move
# it along to completed, show what each side and the broker saw, and stop
# everything.
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

say "krfhir: each organisation's HL7 FHIR R4 gateway, next to its node (loopback only)"
start_fhir() {
  local name=$1
  mkdir -p "$work/$name-fhir"
  "$bin/clients/krfhir/krfhir" --node "ipc://$work/$name/node.sock" --listen 127.0.0.1:0 \
    --port_file "$work/$name-fhir/port" --state_dir "$work/$name-fhir" 2>"$work/$name-fhir.log" &
  pids+=($!)
}
start_fhir verloskunde
start_fhir jgz
wait_for 100 test -s "$work/verloskunde-fhir/port"
wait_for 100 test -s "$work/jgz-fhir/port"
epd=http://127.0.0.1:$(cat "$work/verloskunde-fhir/port")     # the practice's EPD talks here
dossier=http://127.0.0.1:$(cat "$work/jgz-fhir/port")          # JGZ's dossier talks here
echo "  the practice's EPD uses $epd, JGZ's dossier $dossier"
fhir() { curl -sS -H 'Accept: application/fhir+json' "$@"; }
# A FHIR JSON answer as one "element: value" line per value (node came
# with the test tools), code systems and meta left out for brevity;
# test_fhir checks every answer against the R4 specification.
brief() {
  node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
    const walk = (v, p) => {
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${p}[${i}]`));
      else if (v && typeof v === "object") {
        for (const k of Object.keys(v))
          if (!["system", "meta", "_line"].includes(k)) walk(v[k], p ? `${p}.${k}` : k);
      } else console.log(`${p}: ${v}`);
    };
    walk(JSON.parse(s), "");
  })' | sed 's/^/    /'
}

say "the woman consents; the practice's EPD records it: POST Consent (examples/fhir/consent.json)"
fhir -o "$work/consent.out" -w '  HTTP %{http_code}\n' -H 'Content-Type: application/fhir+json' \
  --data-binary @examples/fhir/consent.json "$epd/Consent"
echo "  (the scope travels in clear to the broker's consent register; the evidence sealed for JGZ)"

say "the practice's EPD refers her to JGZ for a prenatal home visit: a FHIR message Bundle"
echo "  examples/fhir/referral-bundle.json: MessageHeader -> Task -> ServiceRequest, Patient (BSN), PractitionerRole, Observation"
fhir -o "$work/referral.out" -w '  POST /$process-message: HTTP %{http_code}\n' -H 'Content-Type: application/fhir+json' \
  --data-binary @examples/fhir/referral-bundle.json "$epd/\$process-message"
echo "  its response Bundle's MessageHeader.response:"
grep -o '"response":{[^}]*}' "$work/referral.out" | sed 's/^/    /'
echo "  the same Bundle again is the same message (its msg_id derives from Bundle.id):"
fhir -o /dev/null -w '  POST /$process-message again: HTTP %{http_code}\n' -H 'Content-Type: application/fhir+json' \
  --data-binary @examples/fhir/referral-bundle.json "$epd/\$process-message"

ref=b0e0a1e2c3d4e5f60718293a4b5c6d7e   # Task.identifier in the example Bundle
say "JGZ's dossier long-polls its gateway for new Tasks, and reads the referral"
echo "  GET /Task?status=requested&_wait=10:"
fhir "$dossier/Task?status=requested&_wait=10" | grep -oE '"(total":[0-9]*|fullUrl":"[^"]*")' | sed 's/^/    /'
echo "  GET /ServiceRequest/$ref (opened at JGZ's node; the broker never saw it):"
fhir "$dossier/ServiceRequest/$ref" | brief
echo "  GET /Patient/$ref:"
fhir "$dossier/Patient/$ref" | brief

say "the practice sees the delivery receipt"
delivered() { $krctl --node "ipc://$work/verloskunde/node.sock" receipts | grep -q '"delivered"'; }
wait_for 100 delivered
$krctl --node "ipc://$work/verloskunde/node.sock" receipts | sed 's/^/  /'

# The referral's state as the broker and both nodes keep it, one line each.
show_state() {
  echo "    broker:       $($krctl referral show "$ref" | head -1 | cut -c34-)"
  echo "    practice:     $($krctl --admin '' --node "ipc://$work/verloskunde/node.sock" referral show "$ref" | head -1 | cut -c34-)"
  echo "    JGZ:          $($krctl --admin '' --node "ipc://$work/jgz/node.sock" referral show "$ref" | head -1 | cut -c34-)"
}
say "the referral's state (referral_id $ref): requested"
show_state
# JGZ's dossier moves the Task along with JSON Patches. Each is a
# REFERRAL_STATUS whose code travels in clear (the broker keeps the state
# from it and checks it against the state table); its note and dates stay
# sealed. The gateway answers once the broker has.
cat >"$work/in-progress.json" <<'JSON'
[{"op": "replace", "path": "/status", "value": "in-progress"}]
JSON
cat >"$work/completed.json" <<'JSON'
[{"op": "replace", "path": "/status", "value": "completed"},
 {"op": "add", "path": "/output", "value": [{
   "type": {"coding": [{"system": "urn:kansrijk:cs:output-type", "code": "outcome"}]},
   "valueCodeableConcept": {"coding": [{"system": "urn:kansrijk:cs:outcome", "code": "visit-done"}]}}]}]
JSON
for step in accepted:examples/fhir/task-accept-patch.json in-progress:"$work/in-progress.json" \
            completed:"$work/completed.json"; do
  st=${step%%:*}
  say "JGZ's dossier: PATCH Task/$ref to $st (${step#*:})"
  fhir -o "$work/patch.out" -w '  HTTP %{http_code}\n' -X PATCH -H 'Content-Type: application/json-patch+json' \
    --data-binary @"${step#*:}" "$dossier/Task/$ref"
  seen_by_practice() { $krctl --admin '' --node "ipc://$work/verloskunde/node.sock" referral show "$ref" --json | grep -q "\"state\": \"$st\""; }
  wait_for 100 seen_by_practice
  show_state
done
say "the practice's EPD reads the Task at its own gateway, with JGZ's planned date and note: GET /Task/$ref"
fhir "$epd/Task/$ref" | brief

say "a change the state table refuses is an OperationOutcome, and nothing is sent: completed -> accepted"
fhir -w '  HTTP %{http_code}\n' -X PATCH -H 'Content-Type: application/json-patch+json' \
  -d '[{"op": "replace", "path": "/status", "value": "accepted"}]' -o "$work/refused.out" "$dossier/Task/$ref"
brief <"$work/refused.out"
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
