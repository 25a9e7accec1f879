#!/usr/bin/env bash
# tests/integration/controller_remote.sh: `idp controller` runs the same
# controllers against any API server through a kubeconfig — here an `idp up`
# started with --no-controllers stands in for a real cluster.
. "$(dirname "$0")/lib.sh"

start_server "" --no-controllers || finish
check_out "--list names the controllers" "simulate" "$IDP_BIN" controller --list
fail_out "an unknown controller is refused" "unknown controller 'nope'" \
  "$IDP_BIN" controller --kubeconfig "$KUBECONFIG" --controllers nope
"$IDP_BIN" controller --kubeconfig "$KUBECONFIG" --controllers policy,certs --data-dir "$T" \
  >"$T/ctl.log" 2>&1 &
CTL=$!
served() { kv get crd clusterissuers.cert-manager.io clusterpolicies.kyverno.io -o name | grep -c . | grep -q 2; }
if eventually 30 served; then pass "the controllers install their CRDs through the kubeconfig"; else
  cp "$T/ctl.log" "$OUT"; failed "the controllers install their CRDs through the kubeconfig"; fi
cat >"$T/issuer.yaml" <<'Y'
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: selfsigned}
spec: {selfSigned: {}}
Y
check "apply a ClusterIssuer" kc apply -f "$T/issuer.yaml"
ready() { [ "$(kv get clusterissuer selfsigned -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
if eventually 20 ready; then pass "the remote cert-manager controller makes it Ready"; else
  failed "the remote cert-manager controller makes it Ready"; fi
kill -TERM "$CTL"
wait "$CTL"
check_eq "SIGTERM stops the controllers cleanly" "0" "$?"
finish
