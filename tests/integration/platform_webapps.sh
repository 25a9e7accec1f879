#!/usr/bin/env bash
# tests/integration/platform_webapps.sh: the WebApplication controller under
# `idp up` with real kubectl: the reference golden-path WebApplications
# (examples/platform/apps) yield Deployment, Service, HPA and PDB with the
# restricted security context; the generated Deployment passes the
# platform's own policies (`idp policy apply`); status phase/url/resources;
# drift repaired; spec changes rolled out; invalid specs rejected by the CRD
# schema; deleting a WebApplication garbage-collects its objects.  The
# controller runs as build/tests/unit/platform/platform_run (until `idp up`
# starts it itself).
. "$(dirname "$0")/lib.sh"

# `idp up` runs the platform controllers itself when its --controllers list
# has "platform"; PLATFORM_RUN=path forces the standalone runner (then the
# server runs every other controller).
RUNNER=${PLATFORM_RUN:-"$(dirname "$IDP_BIN")/tests/unit/platform/platform_run"}
CTL_PID=
stop_ctl() { [ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null; CTL_PID=; }
trap 'stop_ctl; _on_exit' EXIT

if [ -z "${PLATFORM_RUN:-}" ] && "$IDP_BIN" up --help 2>&1 | grep -q 'secrets,platform'; then
  start_server || finish
else
  if [ ! -x "$RUNNER" ]; then
    : >"$OUT"
    failed "platform_run is built" "missing $RUNNER"
    finish
  fi
  if "$IDP_BIN" up --help 2>&1 | grep -q 'secrets,platform'; then
    start_server "$T/data" --controllers policy,certs,secrets,gitops,appsets || finish
  else
    start_server || finish
  fi
  "$RUNNER" --kubeconfig "$KUBECONFIG" --resync-ms 3000 >>"$T/ctl.log" 2>&1 &
  CTL_PID=$!
fi

crd_served() { kv get crd webapplications.platform.idp.io -o name | grep -q webapplications; }
if eventually 20 crd_served; then pass "controller installs the WebApplication CRD"; else
  cat "$T/ctl.log" "$T/server.log" >"$OUT" 2>/dev/null; failed "controller installs the WebApplication CRD"; finish; fi

for t in backend frontend data; do
  kc apply -f "$IDP_ROOT/examples/platform/teams/$t/team.yaml" >/dev/null 2>&1
done
ns_exists() { kv get ns "$1" -o name | grep -q "namespace/$1"; }
for n in team-backend team-frontend team-data; do eventually 20 ns_exists $n; done
for a in backend-api frontend-web worker-jobs; do
  check "apply WebApplication $a" kc apply -f "$IDP_ROOT/examples/platform/apps/$a/webapplication.yaml"
done

jp() { kv "$@" 2>/dev/null; }
dep_exists() { jp -n "$1" get deployment "$2" -o name | grep -q "$2"; }
if eventually 20 dep_exists team-backend backend-api; then pass "Deployment backend-api generated"; else
  cat "$T/ctl.log" "$T/server.log" >"$OUT" 2>/dev/null; failed "Deployment backend-api generated"; fi
eventually 20 dep_exists team-frontend frontend-web
eventually 20 dep_exists team-data worker-jobs
D="-n team-backend get deployment backend-api -o jsonpath"
check_eq "image" ghcr.io/idp-demo/backend-api:1.4.2 "$(jp $D='{.spec.template.spec.containers[0].image}')"
check_eq "pod runAsNonRoot" true "$(jp $D='{.spec.template.spec.securityContext.runAsNonRoot}')"
check_eq "seccomp RuntimeDefault" RuntimeDefault "$(jp $D='{.spec.template.spec.securityContext.seccompProfile.type}')"
check_eq "readOnlyRootFilesystem" true "$(jp $D='{.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem}')"
check_eq "allowPrivilegeEscalation false" false "$(jp $D='{.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation}')"
check_eq "capabilities drop ALL" ALL "$(jp $D='{.spec.template.spec.containers[0].securityContext.capabilities.drop[0]}')"
check_eq "probes default paths" "/healthz /readyz" "$(jp $D='{.spec.template.spec.containers[0].livenessProbe.httpGet.path} {.spec.template.spec.containers[0].readinessProbe.httpGet.path}')"
check_eq "resources from the spec" 500m "$(jp $D='{.spec.template.spec.containers[0].resources.limits.cpu}')"
check_eq "env from the spec" info "$(jp $D='{.spec.template.spec.containers[0].env[?(@.name=="LOG_LEVEL")].value}')"
check_eq "externalSecretRef and database Secret in envFrom" "backend-api-credentials backend-api-db" "$(jp $D='{.spec.template.spec.containers[0].envFrom[*].secretRef.name}')"
check_eq "owner reference to the WebApplication" WebApplication "$(jp $D='{.metadata.ownerReferences[0].kind}')"
check_eq "recommended labels" "backend-api idp-platform" "$(jp $D='{.metadata.labels.app\.kubernetes\.io/instance} {.metadata.labels.app\.kubernetes\.io/managed-by}')"
check_eq "Service port 80 -> http" "80 http" "$(jp -n team-backend get service backend-api -o jsonpath='{.spec.ports[0].port} {.spec.ports[0].targetPort}')"
check_eq "HPA autoscaling/v2 min/max" "2 6" "$(jp -n team-backend get hpa backend-api -o jsonpath='{.spec.minReplicas} {.spec.maxReplicas}')"
check_eq "PDB for backend-api" 1 "$(jp -n team-backend get pdb backend-api -o jsonpath='{.spec.maxUnavailable}')"
check_eq "PDB for frontend-web (replicas 2)" frontend-web "$(jp -n team-frontend get pdb frontend-web -o jsonpath='{.metadata.name}')"
check_eq "no HPA for frontend-web" "" "$(jp -n team-frontend get hpa -o name)"
check_eq "no PDB for worker-jobs (replicas 1)" "" "$(jp -n team-data get pdb -o name)"
check_eq "worker-jobs replicas" 1 "$(jp -n team-data get deployment worker-jobs -o jsonpath='{.spec.replicas}')"

has_status() { [ -n "$(jp -n team-backend get webapp backend-api -o jsonpath='{.status.phase}')" ]; }
eventually 20 has_status
phase=$(jp -n team-backend get webapp backend-api -o jsonpath='{.status.phase}')
case $phase in Pending|Progressing|Ready) pass "status.phase ($phase)" ;; *) : >"$OUT"; failed "status.phase" "got '$phase'" ;; esac
# with simulated workloads (idp up --simulate-workloads) the Deployment gets
# a status: the WebApplication must then turn Ready
dep_ready() { [ -n "$(jp -n team-frontend get deployment frontend-web -o jsonpath='{.status.readyReplicas}')" ]; }
if eventually 10 dep_ready; then
  app_ready() { [ "$(jp -n team-frontend get webapp frontend-web -o jsonpath='{.status.phase}')" = Ready ]; }
  if eventually 20 app_ready; then pass "phase Ready once the Deployment is ready"; else
    kc -n team-frontend get webapp frontend-web -o yaml >"$OUT" 2>&1; failed "phase Ready once the Deployment is ready"; fi
  check_eq "Ready condition" True "$(jp -n team-frontend get webapp frontend-web -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
else
  check_eq "Ready condition False while the Deployment is not ready" False \
    "$(jp -n team-frontend get webapp frontend-web -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
fi
check_eq "status.url" https://api.127-0-0-1.sslip.io/ "$(jp -n team-backend get webapp backend-api -o jsonpath='{.status.url}')"
check_out "status lists readiness per object" "HorizontalPodAutoscaler" kc -n team-backend get webapp backend-api -o jsonpath='{.status.resources[*].kind}'
if kv get crd httproutes.gateway.networking.k8s.io >/dev/null 2>&1; then
  check_eq "HTTPRoute on the platform Gateway" idp-gateway "$(jp -n team-backend get httproute backend-api -o jsonpath='{.spec.parentRefs[0].name}')"
else
  check_eq "HTTPRoute not served: condition, not failure" NotServed "$(jp -n team-backend get webapp backend-api -o jsonpath='{.status.conditions[?(@.type=="HTTPRoute")].reason}')"
fi
check_out "kubectl get webapp printer columns" "https://api.127-0-0-1.sslip.io/" kc -n team-backend get webapp

# the generated Deployment passes the platform's own policies
jp -n team-backend get deployment backend-api -o yaml >"$T/dep.yaml"
P="$IDP_ROOT/examples/platform/platform/policies"
check_out "generated Deployment passes the platform policies" " 0 failed" "$IDP_BIN" policy apply \
  -p "$P/pod-security-baseline/pod-security-baseline.yaml" -p "$P/pod-security-restricted/pod-security-restricted.yaml" \
  -p "$P/require-labels/require-labels.yaml" -p "$P/restrict-image-registries/restrict-image-registries.yaml" \
  -p "$P/disallow-latest-tag/disallow-latest-tag.yaml" -r "$T/dep.yaml"
if grep -q "pass" "$OUT"; then pass "policies actually evaluated the Deployment"; else failed "policies actually evaluated the Deployment"; fi

# drift and spec changes
check "delete the generated Service" kc -n team-backend delete service backend-api
svc_back() { jp -n team-backend get service backend-api -o name | grep -q backend-api; }
if eventually 20 svc_back; then pass "deleted Service recreated"; else failed "deleted Service recreated"; fi
check "scale frontend-web to 3" kc -n team-frontend patch webapp frontend-web --type merge -p '{"spec":{"replicas":3}}'
rep3() { [ "$(jp -n team-frontend get deployment frontend-web -o jsonpath='{.spec.replicas}')" = 3 ]; }
if eventually 20 rep3; then pass "replicas change rolled out"; else failed "replicas change rolled out"; fi

# objects no longer wanted are pruned
check "disable autoscaling of backend-api" kc -n team-backend patch webapp backend-api --type merge -p '{"spec":{"autoscaling":{"enabled":false}}}'
hpa_gone() { [ -z "$(jp -n team-backend get hpa -o name)" ]; }
if eventually 20 hpa_gone; then pass "HPA pruned when autoscaling is disabled"; else failed "HPA pruned when autoscaling is disabled"; fi
rep2() { [ "$(jp -n team-backend get deployment backend-api -o jsonpath='{.spec.replicas}')" = 2 ]; }
if eventually 20 rep2; then pass "Deployment takes spec.replicas back from the HPA"; else failed "Deployment takes spec.replicas back from the HPA"; fi
check "scale frontend-web to 1" kc -n team-frontend patch webapp frontend-web --type merge -p '{"spec":{"replicas":1}}'
pdb_gone() { [ -z "$(jp -n team-frontend get pdb -o name)" ]; }
if eventually 20 pdb_gone; then pass "PDB pruned at 1 replica"; else failed "PDB pruned at 1 replica"; fi

# invalid specs rejected by the CRD schema
bad() { printf 'apiVersion: platform.idp.io/v1alpha1\nkind: WebApplication\nmetadata: {name: bad, namespace: team-data}\nspec: %s\n' "$1" |
  timeout 60 kubectl --request-timeout=30s apply -f -; }
fail_out "replicas: two rejected" "spec.replicas" bad '{image: {repository: r, tag: t}, replicas: two}'
fail_out "missing image rejected" "spec.image" bad '{replicas: 1}'

# deletion garbage-collects
check "delete WebApplication worker-jobs" kc -n team-data delete webapp worker-jobs
dep_gone() { ! jp -n team-data get deployment worker-jobs -o name | grep -q worker-jobs; }
if eventually 30 dep_gone; then pass "generated Deployment garbage-collected"; else kc -n team-data get deployment worker-jobs -o yaml >"$OUT" 2>&1; failed "generated Deployment garbage-collected"; fi

stop_ctl
finish
