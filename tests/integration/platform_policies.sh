#!/usr/bin/env bash
# The reference platform's own ClusterPolicies pass their kyverno-test.yaml
# files under `idp policy test` (what the platform team runs in CI).
set -u
out=$("$IDP_BIN" policy test "$IDP_ROOT/examples/platform/platform/policies" 2>&1)
rc=$?
echo "$out" | tail -15
pass=0
fail=0
if [ "$rc" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: idp policy test exited $rc"; fi
# every policy folder has a test and none of them failed to load
n_pol=$(find "$IDP_ROOT/examples/platform/platform/policies" -mindepth 1 -maxdepth 1 -type d | wc -l)
if echo "$out" | grep -q "Test files: $n_pol (load errors: 0)"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: expected $n_pol test files, no load errors"; fi
if echo "$out" | grep -qE '^[0-9]+ passed, 0 failed$'; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: some rows failed"; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
