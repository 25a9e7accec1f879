#!/usr/bin/env bash
# tests/integration/policy_webhook.sh: `idp webhook` end to end.
#
# Part 1 (no API server): the webhook with policies from files, a
# self-signed certificate (openssl), AdmissionReview v1 requests POSTed with
# curl: a mutation (JSON patch), a denial (Kyverno's message), an allowed
# request with an Audit warning, health and bad input.
# Part 2 (against `idp up`): the webhook with --kubeconfig loads policies
# from the cluster and runs the reports and generate controllers:
#   - a ClusterPolicy in Audit mode and a violating Pod -> a PolicyReport in
#     that namespace with the fail result;
#   - a generate policy with synchronize + generateExisting -> the
#     NetworkPolicy is generated in an existing namespace and comes back
#     after `kubectl delete`; a namespace admitted through /validate gets
#     its NetworkPolicy too.
# Every curl/kubectl call has a timeout; servers are killed in a trap.
# IDP_WEBHOOK_WRAP (e.g. "valgrind -q") prefixes the webhook commands.
set -u
IDP_ROOT=${IDP_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
IDP_BIN=${IDP_BIN:-$IDP_ROOT/build/idp}
T=$(mktemp -d "${TMPDIR:-/tmp}/idp-polwh.XXXXXX")
export HOME="$T/home"
mkdir -p "$HOME"
PASS=0
FAIL=0
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "${KEEP_LOGS:-}" ] && cp "$T"/wh*.log "$KEEP_LOGS"/ 2>/dev/null
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
bad() {
  FAIL=$((FAIL + 1))
  echo "FAIL - $1"
  [ -n "${2:-}" ] && [ -s "$2" ] && head -c 1500 "$2" | sed 's/^/       | /' && echo
  return 0
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
finish() {
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
  exit $?
}

if [ ! -x "$IDP_BIN" ]; then
  bad "idp binary at $IDP_BIN"
  finish
fi
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tls.key" -out "$T/tls.crt" -days 1 \
  -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1 ||
  { bad "openssl makes a self-signed certificate"; finish; }

cat >"$T/policies.yaml" <<'EOF'
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: add-labels
spec:
  rules:
  - name: add-env
    match:
      any:
      - resources:
          kinds: [Pod]
    mutate:
      patchStrategicMerge:
        metadata:
          labels:
            +(env): dev
---
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: require-team
spec:
  validationFailureAction: Enforce
  rules:
  - name: check-team
    match:
      any:
      - resources:
          kinds: [Pod]
    validate:
      message: "label 'team' is required"
      pattern:
        metadata:
          labels:
            team: "?*"
---
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: disallow-latest
spec:
  validationFailureAction: Audit
  rules:
  - name: no-latest
    match:
      any:
      - resources:
          kinds: [Pod]
    validate:
      message: "latest tag is not allowed"
      pattern:
        spec:
          containers:
          - image: "!*:latest"
EOF

review() { # uid labels-json image -> AdmissionReview on stdout
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"%s","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"%s","name":"web","operation":"CREATE","userInfo":{"username":"alice"},"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"%s","labels":%s},"spec":{"containers":[{"name":"c","image":"%s"}]}}}}' \
    "$1" "${4:-default}" "${4:-default}" "$2" "$3"
}
post() { # url file -> body in $T/resp, http code on stdout
  curl -s -o "$T/resp" -w '%{http_code}' --max-time 10 --cacert "$T/tls.crt" \
    -H 'Content-Type: application/json' --data-binary @"$2" "$1"
}
wait_http() { # url
  local i
  for i in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$T/tls.crt" "$1")" = 200 ] && return 0
    sleep 0.2
  done
  return 1
}

# ---------------------------------------------------------------- part 1
WP=$(free_port)
W="https://127.0.0.1:$WP"
${IDP_WEBHOOK_WRAP:-} "$IDP_BIN" webhook --tls-cert "$T/tls.crt" --tls-key "$T/tls.key" --listen "127.0.0.1:$WP" \
  --policy "$T/policies.yaml" >"$T/wh1.log" 2>&1 &
PIDS+=($!)
if wait_http "$W/healthz"; then ok "webhook serves /healthz over TLS"; else bad "webhook starts" "$T/wh1.log"; finish; fi

review u-mut '{"team":"a"}' nginx:1.25 >"$T/r1.json"
code=$(post "$W/mutate" "$T/r1.json")
patch=$(python3 -c 'import json,sys,base64; r=json.load(open(sys.argv[1]))["response"]; print(r["uid"], r["allowed"], r.get("patchType"), base64.b64decode(r["patch"]).decode())' "$T/resp" 2>/dev/null)
if [ "$code" = 200 ] && echo "$patch" | grep -q '^u-mut True JSONPatch .*"op": *"add".*"/metadata/labels/env".*"dev"'; then
  ok "/mutate answers a JSON patch adding the label"
else bad "/mutate patch (got $code: $patch)" "$T/resp"; fi

review u-deny '{"app":"x"}' nginx:1.25 >"$T/r2.json"
code=$(post "$W/validate" "$T/r2.json")
msg=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["response"]; print(r["allowed"]); print(r["status"]["message"])' "$T/resp" 2>/dev/null)
if [ "$code" = 200 ] && echo "$msg" | head -1 | grep -q False &&
  echo "$msg" | grep -q 'resource Pod/default/web was blocked due to the following policies' &&
  echo "$msg" | grep -q '^require-team:' && echo "$msg" | grep -q "^  check-team: 'validation error: label ''team'' is required"; then
  ok "/validate denies with Kyverno's message (policy, rule, reason)"
else bad "/validate denial" "$T/resp"; fi

review u-allow '{"team":"a","env":"dev"}' nginx:latest >"$T/r3.json"
code=$(post "$W/validate" "$T/r3.json")
res=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["response"]; print(r["allowed"], "patch" in r, "|".join(r.get("warnings", [])))' "$T/resp" 2>/dev/null)
if [ "$code" = 200 ] && echo "$res" | grep -q '^True False policy disallow-latest.no-latest: validation error: latest tag is not allowed'; then
  ok "/validate allows, with the Audit failure as a warning"
else bad "/validate allow + warning (got $res)" "$T/resp"; fi

echo 'not json' >"$T/r4.json"
code=$(post "$W/validate" "$T/r4.json")
if [ "$code" = 400 ]; then ok "a malformed AdmissionReview is 400"; else bad "malformed review (got $code)" "$T/resp"; fi

printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-pol","kind":{"group":"kyverno.io","version":"v1","kind":"ClusterPolicy"},"operation":"CREATE","object":{"apiVersion":"kyverno.io/v1","kind":"ClusterPolicy","metadata":{"name":"broken"},"spec":{"rules":[{"name":"r1","match":{"any":[{"resources":{"kinds":["Pod"]}}]},"validate":{"deny":{"conditions":{"any":[{"key":"a","operator":"Bogus","value":"b"}]}}}}]}}}}' >"$T/r7.json"
code=$(post "$W/policyvalidate" "$T/r7.json")
res=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["response"]; print(r["allowed"], r["status"]["code"], r["status"]["message"])' "$T/resp" 2>/dev/null)
if [ "$code" = 200 ] && echo "$res" | grep -q '^False 422 .*broken.*r1.*Bogus'; then
  ok "/policyvalidate refuses an invalid policy naming policy, rule and operator"
else bad "/policyvalidate (got $res)" "$T/resp"; fi

# the deploy/ manifests render (kubectl kustomize) with what a cluster needs
if timeout 30 "${KUBECTL:-kubectl}" kustomize "$IDP_ROOT/deploy" >"$T/deploy.yaml" 2>&1; then
  res=$(python3 - "$T/deploy.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = sorted({d["kind"] for d in docs})
need = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service",
        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "Certificate"}
dep = [d for d in docs if d["kind"] == "Deployment"][0]
c = dep["spec"]["template"]["spec"]["containers"][0]
vwc = [d for d in docs if d["kind"] == "ValidatingWebhookConfiguration"][0]["webhooks"][0]
ok = (need <= set(kinds) and dep["spec"]["replicas"] == 2 and c["command"][-1] == "webhook"
      and "--leader-elect" in c["args"] and c["readinessProbe"] and c["livenessProbe"]
      and dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
      and vwc["failurePolicy"] and vwc["sideEffects"] and vwc["timeoutSeconds"]
      and "kube-system" in vwc["namespaceSelector"]["matchExpressions"][0]["values"])
print("yes" if ok else kinds)
PY
)
  if [ "$res" = yes ]; then ok "deploy/ renders: webhook Deployment (2 replicas, probes, non-root), RBAC, Service, webhook configurations, Certificate"; else bad "deploy/ content ($res)" "$T/deploy.yaml"; fi
else bad "kubectl kustomize deploy/" "$T/deploy.yaml"; fi

# ---------------------------------------------------------------- part 2
KUBECTL=${KUBECTL:-kubectl}
D="$T/data"
mkdir -p "$D"
AP=$(free_port)
"$IDP_BIN" up --data-dir "$D" --listen "127.0.0.1:$AP" >"$T/up.log" 2>&1 &
PIDS+=($!)
up=0
for i in $(seq 1 200); do
  if [ -s "$D/kubeconfig" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$D/ca.crt" "https://127.0.0.1:$AP/readyz")" = 200 ]; then
    up=1
    break
  fi
  sleep 0.2
done
if [ $up = 1 ]; then ok "idp up is ready"; else bad "idp up starts" "$T/up.log"; finish; fi
export KUBECONFIG="$D/kubeconfig"
k() { timeout 20 "$KUBECTL" --request-timeout=15s "$@"; }

k create namespace team-a >/dev/null 2>&1
k create namespace team-b >/dev/null 2>&1
k -n team-a run web --image=nginx:latest --restart=Never >/dev/null 2>&1 ||
  k -n team-a create -f - >/dev/null 2>&1 <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: team-a}
spec:
  containers: [{name: c, image: "nginx:latest"}]
EOF

WP2=$(free_port)
W2="https://127.0.0.1:$WP2"
${IDP_WEBHOOK_WRAP:-} "$IDP_BIN" webhook --tls-cert "$T/tls.crt" --tls-key "$T/tls.key" --listen "127.0.0.1:$WP2" \
  --kubeconfig "$D/kubeconfig" --leader-elect --leader-namespace default >"$T/wh2.log" 2>&1 &
PIDS+=($!)
if wait_http "$W2/health/readiness"; then ok "webhook with --kubeconfig is ready (CRDs installed, policies synced)"; else bad "webhook with --kubeconfig" "$T/wh2.log"; finish; fi
if k get crd policyreports.wgpolicyk8s.io clusterpolicies.kyverno.io >/dev/null 2>&1; then
  ok "PolicyReport and ClusterPolicy CRDs are installed"
else bad "CRDs installed"; fi

held=
for i in $(seq 1 40); do
  held=$(k -n default get lease idp-policy-controllers -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)
  [ -n "$held" ] && break
  sleep 0.25
done
if [ -n "$held" ]; then ok "--leader-elect: the controllers hold Lease default/idp-policy-controllers"; else bad "leader Lease held" "$T/wh2.log"; fi

k apply -f - >"$T/out" 2>&1 <<'EOF'
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: disallow-latest-tag
  annotations:
    policies.kyverno.io/category: Best Practices
    policies.kyverno.io/severity: medium
spec:
  validationFailureAction: Audit
  background: true
  rules:
  - name: validate-image-tag
    match:
      any:
      - resources:
          kinds: [Pod]
    validate:
      message: "Using a mutable image tag e.g. 'latest' is not allowed."
      pattern:
        spec:
          containers:
          - image: "!*:latest"
EOF
[ $? = 0 ] && ok "Audit ClusterPolicy applied" || bad "apply the Audit policy" "$T/out"

got=
for i in $(seq 1 60); do
  k -n team-a get policyreport polr-ns-team-a -o json >"$T/polr.json" 2>/dev/null &&
    got=$(python3 -c '
import json,sys
r=json.load(open(sys.argv[1]))
hits=[x for x in r.get("results",[]) if x["policy"]=="disallow-latest-tag" and x["result"]=="fail" and x["resources"][0]["name"]=="web"]
print("yes" if hits and r["summary"]["fail"]>=1 and hits[0].get("severity")=="medium" and hits[0].get("source")=="kyverno" else "")' "$T/polr.json" 2>/dev/null)
  [ "$got" = yes ] && break
  sleep 0.5
done
if [ "$got" = yes ]; then ok "background scan: PolicyReport polr-ns-team-a has the fail result"; else bad "PolicyReport with the fail result" "$T/polr.json"; fi
ready=
for i in $(seq 1 40); do
  ready=$(k get clusterpolicy disallow-latest-tag -o jsonpath='{.status.conditions[0].type}={.status.conditions[0].status},{.status.rulecount.validate},{.status.autogen.rules[0].name}' 2>/dev/null)
  [ "$ready" = "Ready=True,1,autogen-validate-image-tag" ] && break
  sleep 0.25
done
if [ "$ready" = "Ready=True,1,autogen-validate-image-tag" ]; then ok "policy status: Ready condition, rule counts, autogen rules"; else bad "policy status (got $ready)"; fi
if k get clusterpolicyreport clusterpolicyreport >/dev/null 2>&1; then
  bad "no ClusterPolicyReport when no cluster-scoped results"
else ok "no empty ClusterPolicyReport"; fi

# admission results merge into the same per-namespace report
review u-adm '{"team":"a"}' busybox:latest team-a | sed 's/"name":"web"/"name":"web2"/g' >"$T/r5.json"
code=$(post "$W2/validate" "$T/r5.json")
got=
for i in $(seq 1 40); do
  k -n team-a get policyreport polr-ns-team-a -o json >"$T/polr.json" 2>/dev/null &&
    got=$(python3 -c '
import json,sys
r=json.load(open(sys.argv[1]))
names=sorted(x["resources"][0]["name"] for x in r["results"] if x["policy"]=="disallow-latest-tag")
print("yes" if names==["web","web2"] and r["summary"]["fail"]==2 else names)' "$T/polr.json" 2>/dev/null)
  [ "$got" = yes ] && break
  sleep 0.5
done
if [ "$code" = 200 ] && [ "$got" = yes ]; then ok "admission Audit result merged into the namespace report"; else bad "admission result in the report (got $got)" "$T/polr.json"; fi
n=$(k get policyreports -A --no-headers 2>/dev/null | wc -l)
if [ "$n" = 1 ]; then ok "one PolicyReport per namespace (not per object)"; else bad "one report per namespace (got $n)"; fi

k apply -f - >"$T/out" 2>&1 <<'EOF'
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: default-deny
spec:
  rules:
  - name: default-deny-ingress
    match:
      any:
      - resources:
          kinds: [Namespace]
          names: ["team-*"]
    generate:
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      name: default-deny
      namespace: "{{request.object.metadata.name}}"
      synchronize: true
      generateExisting: true
      data:
        spec:
          podSelector: {}
          policyTypes: [Ingress]
EOF
[ $? = 0 ] && ok "generate ClusterPolicy applied" || bad "apply the generate policy" "$T/out"

wait_netpol() { # ns
  local i
  for i in $(seq 1 60); do
    k -n "$1" get networkpolicy default-deny -o json >"$T/np.json" 2>/dev/null && return 0
    sleep 0.5
  done
  return 1
}
if wait_netpol team-a; then ok "generateExisting: NetworkPolicy generated in the existing namespace"; else bad "generated NetworkPolicy in team-a" "$T/wh2.log"; fi
lab=$(python3 -c 'import json,sys; l=json.load(open(sys.argv[1]))["metadata"]["labels"]; print(l.get("generate.kyverno.io/policy-name"), l.get("generate.kyverno.io/trigger-kind"), l.get("app.kubernetes.io/managed-by"))' "$T/np.json" 2>/dev/null)
if [ "$lab" = "default-deny Namespace kyverno" ]; then ok "generated object carries the generate.kyverno.io labels"; else bad "generate labels (got $lab)" "$T/np.json"; fi

k -n team-a delete networkpolicy default-deny >/dev/null 2>&1
sleep 0.5
if wait_netpol team-a; then ok "synchronize: the deleted NetworkPolicy comes back"; else bad "NetworkPolicy recreated after delete" "$T/wh2.log"; fi

k -n team-a patch networkpolicy default-deny --type merge -p '{"spec":{"policyTypes":["Egress"]}}' >/dev/null 2>&1
got=
for i in $(seq 1 40); do
  got=$(k -n team-a get networkpolicy default-deny -o jsonpath='{.spec.policyTypes[0]}' 2>/dev/null)
  [ "$got" = Ingress ] && break
  sleep 0.5
done
if [ "$got" = Ingress ]; then ok "synchronize: an edit of the generated object is reverted"; else bad "edit reverted (got $got)"; fi

k create namespace team-c >/dev/null 2>&1
printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-ns","kind":{"group":"","version":"v1","kind":"Namespace"},"resource":{"group":"","version":"v1","resource":"namespaces"},"name":"team-c","operation":"CREATE","userInfo":{"username":"alice"},"object":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-c"}}}}' >"$T/r6.json"
code=$(post "$W2/validate" "$T/r6.json")
if [ "$code" = 200 ] && wait_netpol team-c; then ok "admitted namespace gets its generated NetworkPolicy"; else bad "generate from admission" "$T/wh2.log"; fi

k delete clusterpolicy default-deny >/dev/null 2>&1
gone=
for i in $(seq 1 40); do
  k -n team-a get networkpolicy default-deny >/dev/null 2>&1 || { gone=1; break; }
  sleep 0.5
done
if [ "$gone" = 1 ]; then ok "deleting the policy deletes its synchronized downstream"; else bad "downstream deleted with the policy"; fi

finish
