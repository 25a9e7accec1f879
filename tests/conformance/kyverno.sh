#!/usr/bin/env bash
# tests/conformance/kyverno.sh: the Kyverno community policy library's CLI
# tests (kyverno-test.yaml), run by `idp policy test`.
#
# Prints the failing rows, the per-category counts (pass / fail /
# unsupported rows), the rows of policy kinds this engine does not run
# (listed, never counted as passed), the classic pass rate, and a last line
# "N passed, N failed" over the rows whose policy is a classic
# ClusterPolicy/Policy.  Exits non-zero when the classic pass rate is below
# 95%.
set -u
: "${IDP_BIN:?IDP_BIN must point to the idp binary}"
: "${IDP_SHARED:?IDP_SHARED must point to the shared directory}"
data="$IDP_SHARED/conformance/kyverno-policies"
if [ ! -d "$data" ]; then
  echo "kyverno conformance data not found at $data"
  echo "0 passed, 1 failed"
  exit 1
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$IDP_BIN" policy test "$data" >"$out" 2>&1
rc=$?

echo "== failing rows"
awk -F'|' 'NF >= 6 && $5 ~ /Fail/ { print }' "$out"
echo
echo "== unsupported rows (policy kinds not run by this engine), by category"
awk '/^Per category/ { on = 1; next } on && NF == 4 && $4 > 0 { printf "  %-32s %s\n", $1, $4 } /^$/ { if (on) on = 0 }' "$out"
echo
echo "== unsupported policies, by name"
awk -F'|' 'NF >= 6 && $5 ~ /Unsupported/ { gsub(/^ +| +$/, "", $2); gsub(/^ +| +$/, "", $6); k = $2 " (" $6 ")"; if (!(k in seen)) { seen[k] = 1; print "  " k } }' "$out"
echo
sed -n '/^Per category/,/^$/p' "$out"

pass=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1/p' "$out" | tail -1)
fail=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\2/p' "$out" | tail -1)
unsup=$(sed -nE 's/^Unsupported rows.*: ([0-9]+)$/\1/p' "$out" | tail -1)
grep -E '^Test files:' "$out"
if [ -z "$pass" ] || [ -z "$fail" ]; then
  echo "idp policy test produced no summary (exit $rc)"
  tail -20 "$out"
  echo "0 passed, 1 failed"
  exit 1
fi
total=$((pass + fail))
if [ "$total" -eq 0 ]; then
  echo "no classic rows evaluated"
  echo "0 passed, 1 failed"
  exit 1
fi
rate=$(awk -v p="$pass" -v t="$total" 'BEGIN { printf "%.2f", 100 * p / t }')
echo "classic ClusterPolicy/Policy rows: $pass of $total pass ($rate%); unsupported rows: ${unsup:-0}"
echo "$pass passed, $fail failed"
awk -v p="$pass" -v t="$total" 'BEGIN { exit (100 * p / t >= 95) ? 0 : 1 }' || {
  echo "classic pass rate $rate% is below 95%"
  exit 1
}
exit 0
