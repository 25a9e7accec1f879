#!/usr/bin/env bash
# tests/integration/secrets_kubernetes.sh: the External Secrets controller
# under `idp up` with real kubectl: the reference platform's
# ClusterSecretStore (kubernetes provider) and ExternalSecret from
# examples/platform (platform/secrets and apps/backend-api), printer columns, rotation with the
# force-sync annotation, a deleted target Secret coming back, a bad
# property reported without touching the last good Secret.  The controller
# runs as build/tests/unit/secrets/secrets_run against the server's
# kubeconfig (until `idp up` starts it itself; then it is harmless: both
# write the same Secret).
. "$(dirname "$0")/lib.sh"

RUNNER="$(dirname "$IDP_BIN")/tests/unit/secrets/secrets_run"
CTL_PID=
stop_ctl() { [ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null; CTL_PID=; }
trap 'stop_ctl; _on_exit' EXIT

if [ ! -x "$RUNNER" ]; then
  : >"$OUT"
  failed "secrets_run is built" "missing $RUNNER (ninja -C $(dirname "$IDP_BIN") tests/unit/secrets/secrets_run)"
  finish
fi
# the test runs its own External Secrets controller: the server runs none
start_server "" --no-controllers || finish
"$RUNNER" --kubeconfig "$KUBECONFIG" >>"$T/ctl.log" 2>&1 &
CTL_PID=$!

crd_served() { kv get crd externalsecrets.external-secrets.io -o name | grep -q externalsecrets; }
if eventually 20 crd_served; then pass "controller installs the external-secrets CRDs"; else
  cp "$T/ctl.log" "$OUT"; failed "controller installs the external-secrets CRDs"; finish; fi

EX="$IDP_ROOT/examples/platform/platform/secrets"
check "apply the reference ClusterSecretStore" kc apply -f "$EX/cluster-secret-store.yaml"
check "create the source Secret" kc -n platform-secrets create secret generic backend-api --from-literal=token=t0k3n-1
check "create the team namespace" kc create namespace team-backend
check "apply the reference ExternalSecret" kc apply -f "$IDP_ROOT/examples/platform/apps/backend-api/externalsecret.yaml"

secret_is() { # ns name key want
  [ "$(kv -n "$1" get secret "$2" -o jsonpath="{.data.$3}" | base64 -d 2>/dev/null)" = "$4" ]
}
if eventually 20 secret_is team-backend backend-api-credentials API_TOKEN t0k3n-1; then
  pass "target Secret synced from the kubernetes provider"; else
  kv -n team-backend get es backend-api-credentials -o yaml >"$OUT"; failed "target Secret synced from the kubernetes provider"; fi

es_ready() { [ "$(kv -n team-backend get es backend-api-credentials -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
eventually 10 es_ready
check_out "kubectl get es shows ESO's columns" "SecretSynced" kc -n team-backend get es backend-api-credentials
check_out "kubectl get es READY column" "True" kc -n team-backend get es
store_ready() { [ "$(kv get clustersecretstore platform-store -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}')" = Valid ]; }
if eventually 20 store_ready; then pass "ClusterSecretStore reports Ready/Valid"; else
  kv get clustersecretstore platform-store -o yaml >"$OUT"; failed "ClusterSecretStore reports Ready/Valid"; fi
check_out "owner reference on the Secret" "ExternalSecret" kv -n team-backend get secret backend-api-credentials -o jsonpath='{.metadata.ownerReferences[0].kind}'

# rotation: refreshInterval is 1h, so the force-sync annotation triggers it
check "rotate the source value" sh -c "kubectl -n platform-secrets create secret generic backend-api --from-literal=token=t0k3n-2 --dry-run=client -o yaml | kubectl --request-timeout=30s apply -f -"
check "annotate force-sync" kc -n team-backend annotate es backend-api-credentials force-sync="$(date +%s)" --overwrite
if eventually 20 secret_is team-backend backend-api-credentials API_TOKEN t0k3n-2; then
  pass "force-sync picks up the rotated value"; else failed "force-sync picks up the rotated value"; fi

check "delete the target Secret" kc -n team-backend delete secret backend-api-credentials
if eventually 20 secret_is team-backend backend-api-credentials API_TOKEN t0k3n-2; then
  pass "a deleted target Secret is recreated"; else failed "a deleted target Secret is recreated"; fi

# a wrong property: precise condition, the last good Secret stays
check "point the ExternalSecret at a missing property" kc -n team-backend patch es backend-api-credentials --type=json \
  -p '[{"op":"replace","path":"/spec/data/0/remoteRef/property","value":"nope"}]'
es_failed() { kv -n team-backend get es backend-api-credentials -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}' | grep -q 'property "nope" does not exist in key "backend-api"'; }
if eventually 20 es_failed; then pass "wrong property: Ready False with a precise message"; else
  kv -n team-backend get es backend-api-credentials -o yaml >"$OUT"; failed "wrong property: Ready False with a precise message"; fi
if secret_is team-backend backend-api-credentials API_TOKEN t0k3n-2; then pass "the last good Secret is kept"; else
  failed "the last good Secret is kept"; fi
check_out "an UpdateFailed event is recorded" "UpdateFailed" kc -n team-backend get events
if kv -n team-backend get events -o yaml | grep -q t0k3n; then failed "events never carry secret values"; else pass "events never carry secret values"; fi

stop_ctl
if grep -q t0k3n "$T/ctl.log" "$T/server.log"; then failed "logs never carry secret values"; else pass "logs never carry secret values"; fi
finish
