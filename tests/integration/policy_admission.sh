#!/usr/bin/env bash
# tests/integration/policy_admission.sh: the platform's ClusterPolicies in
# the embedded API server's admission chain, driven by real kubectl:
# Enforce denials carry Kyverno's message (policy, rule, reason) and write
# nothing; mutate rules change what is stored; Audit results land in the
# namespace's PolicyReport; an invalid policy is refused when created.
. "$(dirname "$0")/lib.sh"
POL="$IDP_ROOT/examples/platform/platform/policies"

start_server || finish
policies_ready() { kv get clusterpolicy disallow-latest-tag -o name | grep -q disallow-latest-tag; }
crd_served() { kv get crd clusterpolicies.kyverno.io -o name | grep -q clusterpolicies; }
if eventually 30 crd_served; then pass "the policy controller serves the kyverno.io CRDs"; else
  failed "the policy controller serves the kyverno.io CRDs"; finish; fi

for p in disallow-latest-tag pod-security-baseline add-default-securitycontext require-labels; do
  check "apply ClusterPolicy $p" kc apply -f "$POL/$p/$p.yaml"
done
check "namespace team-shop" kc create namespace team-shop

# admission picks policies up from its informer: wait until a denial shows
latest_denied() {
  ! kc run probe-latest -n team-shop --image=ghcr.io/idp-demo/api:latest --restart=Never >/dev/null 2>&1
}
if eventually 30 latest_denied; then pass "an Enforce policy denies a Pod with a latest tag"; else
  failed "an Enforce policy denies a Pod with a latest tag"; fi
kc run bad-latest -n team-shop --image=ghcr.io/idp-demo/api:latest --restart=Never >"$OUT" 2>&1
if grep -q "disallow-latest-tag" "$OUT" && grep -q "validate-image-tag" "$OUT" &&
   grep -q "validation error: Using a mutable image tag" "$OUT" && grep -q 'blocked due to the following policies' "$OUT"; then
  pass "the denial names policy, rule and message"
else failed "the denial names policy, rule and message" "$(cat "$OUT")"; fi
expect_fail "the denied Pod was not stored" kc get pod bad-latest -n team-shop

cat >"$T/priv.yaml" <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: privileged, namespace: team-shop}
spec:
  containers:
  - name: c
    image: ghcr.io/idp-demo/api:1.0.0
    securityContext: {privileged: true}
Y
kc apply -f "$T/priv.yaml" >"$OUT" 2>&1
if grep -q "pod-security-baseline" "$OUT"; then pass "a privileged Pod is denied by the baseline policy"
else failed "a privileged Pod is denied by the baseline policy" "$(cat "$OUT")"; fi

check "a compliant Pod is admitted" kc run good -n team-shop --image=ghcr.io/idp-demo/api:1.0.0 --restart=Never
check_eq "the mutate policy set runAsNonRoot" "true" \
  "$(kv get pod good -n team-shop -o jsonpath='{.spec.securityContext.runAsNonRoot}')"
check_eq "the mutate policy dropped ALL capabilities" "ALL" \
  "$(kv get pod good -n team-shop -o jsonpath='{.spec.containers[0].securityContext.capabilities.drop[0]}')"

cat >"$T/dep.yaml" <<'Y'
apiVersion: apps/v1
kind: Deployment
metadata: {name: unlabelled, namespace: team-shop}
spec:
  selector: {matchLabels: {app: u}}
  template:
    metadata: {labels: {app: u}}
    spec:
      containers: [{name: c, image: "ghcr.io/idp-demo/api:1.0.0"}]
Y
check "an Audit violation is admitted" kc apply -f "$T/dep.yaml"
report_has_fail() {
  kv get policyreports -n team-shop -o json | jq -e '[.items[].results[]? | select(.policy=="require-labels" and .result=="fail")] | length > 0' >/dev/null
}
if eventually 40 report_has_fail; then pass "the Audit result is in the namespace's PolicyReport"; else
  failed "the Audit result is in the namespace's PolicyReport" "$(kv get policyreports -A -o yaml | head -40)"; fi
check_eq "one PolicyReport for the namespace, not one per object" "1" \
  "$(kv get policyreports -n team-shop -o json | jq '.items | length')"

cat >"$T/badpol.yaml" <<'Y'
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: broken}
spec:
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      deny:
        conditions:
          any:
          - key: "{{ request.object.metadata.name "
            operator: NotAnOperator
            value: x
Y
kc apply -f "$T/badpol.yaml" >"$OUT" 2>&1 && failed "an invalid policy is refused" "$(cat "$OUT")" || {
  if grep -qi "broken" "$OUT"; then pass "an invalid policy is refused, naming it"; else
    failed "an invalid policy is refused, naming it" "$(cat "$OUT")"; fi
}
finish
