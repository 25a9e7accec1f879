#!/usr/bin/env bash
# tests/conformance/jmespath.sh: the official JMESPath compliance suite
# (IDP_SHARED/conformance/jmespath/tests/*.json) through src/jmespath, twice:
# in the spec dialect (every case, benchmarks included) and in the Kyverno
# dialect with Kyverno's NotFound errors on (cases calling `sum` skipped,
# since Kyverno replaces it).  Needs the jp_compliance program built next to
# IDP_BIN (build/tests/unit/jmespath/jp_compliance).
set -u
root=${IDP_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
shared=${IDP_SHARED:-$root/../shared}
build=$(dirname "${IDP_BIN:-$root/build/idp}")
runner="$build/tests/unit/jmespath/jp_compliance"
suite="$shared/conformance/jmespath/tests"
if [ ! -x "$runner" ]; then
  echo "jmespath: $runner is not built (ninja -C $build tests/unit/jmespath/jp_compliance)"
  echo "0 passed, 1 failed"
  exit 1
fi
files=("$suite"/*.json)
if [ ! -e "${files[0]}" ]; then
  echo "jmespath: no suite files in $suite"
  echo "0 passed, 1 failed"
  exit 1
fi
pass=0
fail=0
for mode in spec kyverno; do
  echo "== $mode dialect"
  args=()
  [ "$mode" = kyverno ] && args+=(--kyverno)
  out=$("$runner" "${args[@]}" "${files[@]}")
  rc=$?
  echo "$out" | sed '$d'
  last=$(echo "$out" | tail -1)
  p=$(echo "$last" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1/p')
  f=$(echo "$last" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\2/p')
  if [ -z "$p" ]; then p=0; f=1; echo "$out" | tail -5; fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "$mode: $p passed, $f failed"
  pass=$((pass + p))
  fail=$((fail + f))
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
