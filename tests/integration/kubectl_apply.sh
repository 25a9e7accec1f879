#!/usr/bin/env bash
# Real kubectl against `idp up`: multi-document apply (namespace, configmap,
# secret, deployment, CRD, custom resource), idempotent re-apply, server-side
# apply, get in every output form, -A, label selectors, api-resources,
# explain, diff.
source "$(dirname "$0")/lib.sh"

start_server || finish

cat >"$T/stack.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: demo
  labels:
    team: a
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  namespace: demo
  labels:
    app: demo
    env: prod
data:
  greeting: hello
  retries: "3"
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secret
  namespace: demo
  labels:
    app: demo
type: Opaque
stringData:
  password: s3cr3t-value
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels:
    app: demo
    env: staging
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: app
        image: nginx:1.25
        ports:
        - containerPort: 80
      - name: sidecar
        image: envoy:v1
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    - name: Color
      type: string
      jsonPath: .spec.color
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size:
                type: integer
                minimum: 1
              color:
                type: string
                default: blue
          status:
            type: object
            properties:
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
                    reason: {type: string}
                    message: {type: string}
                    lastTransitionTime: {type: string}
EOF
cat >"$T/cr.yaml" <<'EOF'
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
  namespace: demo
  labels:
    app: demo
spec:
  size: 3
EOF

# ---- apply: create everything, then the custom resource once the CRD is established
check_out "apply multi-document stream creates the namespace" 'namespace/demo created' \
  kc apply -f "$T/stack.yaml"
for w in 'configmap/app-config created' 'secret/app-secret created' 'deployment.apps/web created' \
  'customresourcedefinition.apiextensions.k8s.io/widgets.example.com created'; do
  if grep -qF "$w" "$OUT"; then pass "apply output: $w"; else failed "apply output: $w"; fi
done
check "CRD becomes Established (kubectl wait)" \
  kc wait --for=condition=Established crd/widgets.example.com --timeout=20s
check_out "apply a custom resource" 'widget.example.com/w1 created' kc apply -f "$T/cr.yaml"
check_eq "CR schema default applied (spec.color)" blue \
  "$(kv get widget w1 -n demo -o jsonpath='{.spec.color}')"

# ---- values read back
check_eq "configmap data read back" hello \
  "$(kv get configmap app-config -n demo -o jsonpath='{.data.greeting}')"
check_eq "secret stringData stored as base64 data" s3cr3t-value \
  "$(kv get secret app-secret -n demo -o jsonpath='{.data.password}' | base64 -d 2>/dev/null)"
check_eq "secret has no stringData after write" "" \
  "$(kv get secret app-secret -n demo -o jsonpath='{.stringData}')"
check_eq "deployment replicas" 2 "$(kv get deploy web -n demo -o jsonpath='{.spec.replicas}')"
check_eq "deployment generation is 1" 1 "$(kv get deploy web -n demo -o jsonpath='{.metadata.generation}')"
check_eq "last-applied annotation recorded" app-config \
  "$(kv get cm app-config -n demo -o jsonpath='{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}' | jq -r .metadata.name 2>/dev/null)"
uid=$(kv get cm app-config -n demo -o jsonpath='{.metadata.uid}')
rv=$(kv get cm app-config -n demo -o jsonpath='{.metadata.resourceVersion}')
if [ -n "$uid" ] && [ -n "$rv" ]; then pass "uid and resourceVersion assigned"; else failed "uid and resourceVersion assigned" "uid='$uid' rv='$rv'"; fi

# ---- apply again: nothing changes
check_out "re-apply reports unchanged" 'configmap/app-config unchanged' kc apply -f "$T/stack.yaml"
# (a Secret written with stringData always reports "configured": the stored
# object has data instead, so kubectl's three-way patch is never empty;
# kubernetes/kubernetes#87736 -- same as a real cluster)
for w in 'namespace/demo unchanged' 'secret/app-secret configured' 'deployment.apps/web unchanged' \
  'customresourcedefinition.apiextensions.k8s.io/widgets.example.com unchanged'; do
  if grep -qF "$w" "$OUT"; then pass "re-apply output: $w"; else failed "re-apply output: $w"; fi
done
check_eq "re-applied secret keeps its value" s3cr3t-value \
  "$(kv get secret app-secret -n demo -o jsonpath='{.data.password}' | base64 -d 2>/dev/null)"
check_out "re-apply of the CR reports unchanged" 'widget.example.com/w1 unchanged' kc apply -f "$T/cr.yaml"
check_eq "re-apply leaves resourceVersion alone" "$rv" \
  "$(kv get cm app-config -n demo -o jsonpath='{.metadata.resourceVersion}')"

# ---- apply a change: configured, and a removed key is removed (last-applied three-way merge)
sed -e 's/greeting: hello/greeting: bonjour/' -e '/retries:/d' "$T/stack.yaml" >"$T/stack2.yaml"
check_out "apply of a change reports configured" 'configmap/app-config configured' kc apply -f "$T/stack2.yaml"
check_eq "changed value applied" bonjour "$(kv get cm app-config -n demo -o jsonpath='{.data.greeting}')"
check_eq "key removed from the manifest is pruned" "" "$(kv get cm app-config -n demo -o jsonpath='{.data.retries}')"
check_eq "uid survives updates" "$uid" "$(kv get cm app-config -n demo -o jsonpath='{.metadata.uid}')"

# ---- server-side apply
cat >"$T/ssa.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa-cm
  namespace: demo
data:
  owner: kubectl
EOF
check_out "apply --server-side creates" 'configmap/ssa-cm serverside-applied' kc apply --server-side -f "$T/ssa.yaml"
check_out "managedFields names the kubectl manager with operation Apply" 'kubectl:Apply' \
  kv get cm ssa-cm -n demo -o jsonpath='{range .metadata.managedFields[*]}{.manager}:{.operation}{"\n"}{end}'
sed 's/owner: kubectl/owner: other/' "$T/ssa.yaml" >"$T/ssa2.yaml"
fail_out "server-side apply by another manager conflicts" 'conflict' \
  kc apply --server-side --field-manager=other -f "$T/ssa2.yaml"
check_eq "conflicting apply changed nothing" kubectl "$(kv get cm ssa-cm -n demo -o jsonpath='{.data.owner}')"
check "server-side apply --force-conflicts takes ownership" \
  kc apply --server-side --field-manager=other --force-conflicts -f "$T/ssa2.yaml"
check_eq "forced value applied" other "$(kv get cm ssa-cm -n demo -o jsonpath='{.data.owner}')"
check_out "server-side apply of a CR" 'widget.example.com/w1 serverside-applied' \
  kc apply --server-side --force-conflicts -f "$T/cr.yaml"

# ---- get in every output form
check_out "get -o yaml" 'name: app-config' kc get cm app-config -n demo -o yaml
grep -q '^kind: ConfigMap' "$OUT" && pass "get -o yaml has kind" || failed "get -o yaml has kind"
kv get cm app-config -n demo -o json >"$T/cm.json"
check_eq "get -o json parses, apiVersion v1" v1 "$(jq -r .apiVersion "$T/cm.json" 2>/dev/null)"
check_eq "get -o json data" bonjour "$(jq -r .data.greeting "$T/cm.json" 2>/dev/null)"
check_out "get deployment (table) shows READY" 'READY' kc get deploy -n demo
grep -qE '^web +0/2 ' "$OUT" && pass "deployment row: web 0/2 (no kubelet)" || failed "deployment row: web 0/2 (no kubelet)"
check_out "get -o wide adds CONTAINERS/IMAGES/SELECTOR" 'CONTAINERS' kc get deploy web -n demo -o wide
grep -qF 'nginx:1.25,envoy:v1' "$OUT" && pass "wide row lists images" || failed "wide row lists images"
grep -qF 'app=web' "$OUT" && pass "wide row shows the selector" || failed "wide row shows the selector"
check_out "get configmap table has DATA column" 'DATA' kc get cm app-config -n demo
grep -qE '^app-config +1 ' "$OUT" && pass "configmap DATA count is 1" || failed "configmap DATA count is 1"
check_out "get secret table has TYPE" 'Opaque' kc get secret app-secret -n demo
check_out "CR table uses additionalPrinterColumns" 'SIZE' kc get widgets -n demo
grep -qE '^w1 +3 +blue' "$OUT" && pass "CR row: w1 3 blue" || failed "CR row: w1 3 blue"
check_out "CR by short name" 'w1' kc get wd -n demo -o name
check_out "get crd prints CREATED AT" 'CREATED AT' kc get crd widgets.example.com
grep -qE '^widgets.example.com +[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$OUT" && pass "crd row: name and RFC 3339 creation time" ||
  failed "crd row: name and RFC 3339 creation time"
check_out "get namespaces lists demo as Active" 'Active' kc get ns demo

# ---- imperative create: kubectl's typed clients send protobuf bodies
check_out "kubectl create configmap (typed client, protobuf body)" 'configmap/made-by-create created' \
  kc create configmap made-by-create -n demo --from-literal=a=b
check_eq "created configmap read back" b "$(kv get cm made-by-create -n demo -o jsonpath='{.data.a}')"

# ---- across namespaces
cat <<'EOF' | kc apply -f - >/dev/null 2>&1
apiVersion: v1
kind: ConfigMap
metadata: {name: other-config, namespace: default, labels: {app: demo, env: dev}}
data: {a: "1"}
EOF
check_out "get -A shows the NAMESPACE column" 'NAMESPACE' kc get cm -A -l app=demo
grep -qE '^demo +app-config ' "$OUT" && pass "-A row in demo" || failed "-A row in demo"
grep -qE '^default +other-config ' "$OUT" && pass "-A row in default" || failed "-A row in default"

# ---- label selectors (equality, set-based, existence), read back as exact name lists
sel() { kv get cm -A -l "$1" -o jsonpath='{range .items[*]}{.metadata.name}{" "}{end}'; }
check_eq "-l app=demo (sorted by namespace, then name)" "other-config app-config " "$(sel app=demo)"
check_eq "-l env=prod" "app-config " "$(sel env=prod)"
check_eq "-l env!=prod,app" "other-config " "$(sel 'env!=prod,app')"
check_eq "-l 'env in (dev,qa)'" "other-config " "$(sel 'env in (dev,qa)')"
check_eq "-l 'env notin (dev),app=demo'" "app-config " "$(sel 'env notin (dev),app=demo')"
check_eq "-l '!env' (no such configmaps with app label)" "" "$(sel '!env,app')"
fail_out "invalid selector is a 400 naming the term" 'unable to parse requirement' kc get cm -l 'env in prod'
check_out "selector on deployments" 'web' kc get deploy -n demo -l env=staging -o name
check_out "--show-labels prints labels from the row metadata" 'app=demo,env=prod' kc get cm app-config -n demo --show-labels

# ---- describe and categories
check_out "describe configmap" 'greeting' kc describe cm app-config -n demo
grep -qE '^Name: +app-config' "$OUT" && pass "describe shows the name" || failed "describe shows the name"
check_out "describe deployment" 'nginx:1.25' kc describe deploy web -n demo
grep -qE '^Replicas: +2 desired' "$OUT" && pass "describe deployment shows replicas" || failed "describe deployment shows replicas"
check_out "get all (category) includes the deployment" 'deployment.apps/web' kc get all -n demo -o name

# ---- discovery
check_out "api-resources lists configmaps" 'configmaps' kc api-resources
for r in 'deployments' 'customresourcedefinitions' 'widgets'; do
  grep -qE "^$r " "$OUT" && pass "api-resources lists $r" || failed "api-resources lists $r"
done
grep -qE '^widgets +wd +example.com/v1 +true +Widget' "$OUT" && pass "api-resources: widgets short name, group, namespaced, kind" ||
  failed "api-resources: widgets short name, group, namespaced, kind"
check_out "api-versions lists apps/v1" 'apps/v1' kc api-versions

# explain needs the real OpenAPI v3 schemas; it is checked only when the server serves them.
if kc explain configmap.data >"$OUT" 2>&1; then
  grep -qi 'DESCRIPTION' "$OUT" && pass "explain configmap.data" || failed "explain configmap.data"
else
  log "skip - explain (server does not serve OpenAPI schemas): $(grep -m1 -i error "$OUT")"
fi

# ---- diff
check "diff of the applied manifest: no difference, exit 0" kc diff -f "$T/stack2.yaml"
sed 's/greeting: bonjour/greeting: hola/' "$T/stack2.yaml" >"$T/stack3.yaml"
kc diff -f "$T/stack3.yaml" >"$OUT" 2>&1
rc=$?
check_eq "diff of a change exits 1" 1 "$rc"
grep -qE '^-  greeting: bonjour' "$OUT" && grep -qE '^\+  greeting: hola' "$OUT" && pass "diff shows -old/+new lines" ||
  failed "diff shows -old/+new lines"
check_eq "diff (dry-run) changed nothing" bonjour "$(kv get cm app-config -n demo -o jsonpath='{.data.greeting}')"
cat >"$T/new.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: brand-new, namespace: demo}
data: {x: y}
EOF
kc diff -f "$T/new.yaml" >"$OUT" 2>&1
check_eq "diff of a new object exits 1" 1 "$?"
expect_fail "diff (dry-run create) did not create it" kc get cm brand-new -n demo

# ---- delete -f, and a namespace deletion that takes its contents along
check_out "delete -f of the custom resource" 'widget.example.com "w1" deleted' kc delete -f "$T/cr.yaml" --timeout=30s
check_out "delete a namespace with contents" 'namespace "demo" deleted' kc delete ns demo --timeout=60s
fail_out "namespace is gone" 'NotFound' kc get ns demo
check_eq "its configmaps are gone" "" "$(kv get cm -n demo -o name)"
check_eq "other namespaces untouched" other-config "$(kv get cm other-config -n default -o jsonpath='{.metadata.name}')"
check_out "delete the CRD" 'deleted' kc delete crd widgets.example.com --timeout=60s
# (with kubectl's discovery cache still warm the list itself is a 404)
expect_fail "custom resources no longer served" kc get widgets -A
grep -qE "doesn't have a resource type|the server could not find the requested resource" "$OUT" &&
  pass "kubectl says the type is gone" || failed "kubectl says the type is gone"

finish
