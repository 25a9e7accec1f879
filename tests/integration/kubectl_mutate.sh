#!/usr/bin/env bash
# Real kubectl against `idp up`: patch (merge, json, strategic), edit with a
# scripted editor, label/annotate, delete with a finalizer, wait for a
# condition and for deletion, get -w bounded by a timeout.
source "$(dirname "$0")/lib.sh"

start_server || finish

cat >"$T/objs.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: c1
  namespace: default
data:
  k1: v1
  k2: v2
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
      - name: sidecar
        image: envoy:v1
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
EOF
check "create the fixtures" kc apply -f "$T/objs.yaml"
check "CRD established" kc wait --for=condition=Established crd/gadgets.example.com --timeout=20s

# ---- patch, each type
check "patch --type merge" kc patch cm c1 --type merge -p '{"data":{"k3":"v3","k2":null}}'
check_eq "merge patch added k3" v3 "$(kv get cm c1 -o jsonpath='{.data.k3}')"
check_eq "merge patch null deleted k2" "" "$(kv get cm c1 -o jsonpath='{.data.k2}')"
check "patch --type json" kc patch cm c1 --type json -p '[{"op":"replace","path":"/data/k1","value":"j1"},{"op":"add","path":"/data/k4","value":"v4"}]'
check_eq "json patch replaced k1" j1 "$(kv get cm c1 -o jsonpath='{.data.k1}')"
check_eq "json patch added k4" v4 "$(kv get cm c1 -o jsonpath='{.data.k4}')"
# kube-apiserver: 422 Invalid with the patch library's error as a cause,
# which kubectl prints ("testing value /data/k1 failed"): the path must be named
fail_out "json patch test op failing is rejected, naming the failed test's path" '/data/k1' \
  kc patch cm c1 --type json -p '[{"op":"test","path":"/data/k1","value":"nope"},{"op":"remove","path":"/data/k1"}]'
check_eq "failed json patch changed nothing" j1 "$(kv get cm c1 -o jsonpath='{.data.k1}')"
gen1=$(kv get deploy web -o jsonpath='{.metadata.generation}')
check "patch --type strategic (default) on a deployment container" \
  kc patch deploy web -p '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.26"}]}}}}'
check_eq "strategic patch merged containers by name" "app=nginx:1.26 sidecar=envoy:v1 " \
  "$(kv get deploy web -o jsonpath='{range .spec.template.spec.containers[*]}{.name}={.image}{" "}{end}')"
check_eq "strategic patch kept the env list" "A B " \
  "$(kv get deploy web -o jsonpath='{range .spec.template.spec.containers[0].env[*]}{.name}{" "}{end}')"
check "strategic patch merges env by name" \
  kc patch deploy web --type strategic -p '{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"B","value":"20"},{"name":"C","value":"3"}]}]}}}}'
check_eq "env merged by name" "A=1 B=20 C=3 " \
  "$(kv get deploy web -o jsonpath='{range .spec.template.spec.containers[0].env[*]}{.name}={.value}{" "}{end}')"
check "strategic \$patch: delete removes a list element" \
  kc patch deploy web -p '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}'
check_eq "sidecar removed" "app " \
  "$(kv get deploy web -o jsonpath='{range .spec.template.spec.containers[*]}{.name}{" "}{end}')"
check_out "scale a deployment (scale subresource)" 'deployment.apps/web scaled' kc scale deploy web --replicas=3
check_eq "scaled replicas read back" 3 "$(kv get deploy web -o jsonpath='{.spec.replicas}')"
gen2=$(kv get deploy web -o jsonpath='{.metadata.generation}')
if [ -n "$gen1" ] && [ -n "$gen2" ] && [ "$gen2" -gt "$gen1" ]; then pass "spec patches bump generation ($gen1 -> $gen2)"; else failed "spec patches bump generation" "before '$gen1' after '$gen2'"; fi
cat <<'EOF' | kc apply -f - >/dev/null 2>&1
apiVersion: example.com/v1
kind: Gadget
metadata: {name: g1, namespace: default}
spec: {size: 1}
EOF
check_eq "custom resource created" 1 "$(kv get gadget g1 -o jsonpath='{.spec.size}')"
fail_out "strategic merge patch on a custom resource is refused (415)" 'is not supported by example.com/v1, Kind=Gadget' \
  kc patch gadget g1 --type strategic -p '{"spec":{"size":2}}'
check "merge patch on a custom resource" kc patch gadget g1 --type merge -p '{"spec":{"size":2}}'
check_eq "CR merge patch applied" 2 "$(kv get gadget g1 -o jsonpath='{.spec.size}')"

# ---- edit with a non-interactive editor
cat >"$T/editor.sh" <<'EOF'
#!/bin/sh
# kubectl edit hands us the temp file as the last argument
for f; do :; done
sed -i 's/k1: j1/k1: edited/' "$f"
EOF
chmod +x "$T/editor.sh"
kc_edit() { KUBE_EDITOR="$1" kc edit "${@:2}"; }
check_out "edit with a scripted EDITOR" 'configmap/c1 edited' kc_edit "$T/editor.sh" cm c1
check_eq "edit saved" edited "$(kv get cm c1 -o jsonpath='{.data.k1}')"
cat >"$T/noop.sh" <<'EOF'
#!/bin/sh
exit 0
EOF
chmod +x "$T/noop.sh"
check_out "edit without changes" 'Edit cancelled, no changes made' kc_edit "$T/noop.sh" cm c1

# ---- label / annotate
check_out "label" 'configmap/c1 labeled' kc label cm c1 tier=web
check_eq "label read back" web "$(kv get cm c1 -o jsonpath='{.metadata.labels.tier}')"
check_out "label selector finds it" 'configmap/c1' kc get cm -l tier=web -o name
fail_out "relabel without --overwrite refused" "already has a value" kc label cm c1 tier=db
check "label --overwrite" kc label cm c1 tier=db --overwrite
check_eq "overwritten label" db "$(kv get cm c1 -o jsonpath='{.metadata.labels.tier}')"
check "remove a label (tier-)" kc label cm c1 tier-
check_eq "label removed" "" "$(kv get cm c1 -o jsonpath='{.metadata.labels.tier}')"
check_out "annotate" 'configmap/c1 annotated' kc annotate cm c1 'example.com/note=hello world'
check_eq "annotation read back" "hello world" "$(kv get cm c1 -o jsonpath='{.metadata.annotations.example\.com/note}')"
check "remove an annotation" kc annotate cm c1 example.com/note-
check_eq "annotation removed" "" "$(kv get cm c1 -o jsonpath='{.metadata.annotations.example\.com/note}')"

# ---- delete with a finalizer, then remove it
cat <<'EOF' | kc apply -f - >/dev/null 2>&1
apiVersion: v1
kind: ConfigMap
metadata:
  name: held
  namespace: default
  finalizers: [example.com/hold]
data: {a: b}
EOF
check_out "delete --wait=false of an object with a finalizer" 'configmap "held" deleted' kc delete cm held --wait=false
dts=$(kv get cm held -o jsonpath='{.metadata.deletionTimestamp}')
[ -n "$dts" ] && pass "object still there with deletionTimestamp" || failed "object still there with deletionTimestamp"
check_eq "finalizer kept" example.com/hold "$(kv get cm held -o jsonpath='{.metadata.finalizers[0]}')"
(sleep 2; kv patch cm held --type json -p '[{"op":"remove","path":"/metadata/finalizers"}]' >/dev/null) &
bg=$!
check "wait --for=delete returns once the finalizer is removed" kc wait --for=delete cm/held --timeout=30s
wait "$bg"
fail_out "object is gone after the last finalizer" 'NotFound' kc get cm held

# ---- wait for a condition on a custom resource (status subresource)
(sleep 2; kv patch gadget g1 --subresource=status --type merge \
  -p '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Done"}]}}' >/dev/null) &
bg=$!
check_out "wait --for=condition=Ready" 'condition met' kc wait --for=condition=Ready gadget/g1 --timeout=30s
wait "$bg"
check_eq "status written through /status" True "$(kv get gadget g1 -o jsonpath='{.status.conditions[0].status}')"
check_out "wait --for=jsonpath" 'condition met' kc wait --for=jsonpath='{.spec.size}'=2 gadget/g1 --timeout=20s
fail_out "wait for a condition that never comes times out" 'timed out' kc wait --for=condition=Broken gadget/g1 --timeout=2s

# ---- delete and wait for deletion (default kubectl delete waits)
check_out "delete waits until the object is gone" 'deleted' kc delete gadget g1 --timeout=30s
fail_out "deleted custom resource is NotFound" 'NotFound' kc get gadget g1
fail_out "delete of a missing object is NotFound" 'NotFound' kc delete cm nope

# ---- get -w with a timeout: initial state, then live events, then exit
( sleep 2; kv create cm watched-later --from-literal=a=b >/dev/null ) &
bg=$!
timeout 30 "$KUBECTL" get cm -w --request-timeout=6s >"$T/watch.out" 2>&1
wait "$bg"
cp "$T/watch.out" "$OUT"
grep -qE '^c1 ' "$T/watch.out" && pass "get -w prints the current objects" || failed "get -w prints the current objects"
grep -qE '^watched-later ' "$T/watch.out" && pass "get -w prints an object created during the watch" ||
  failed "get -w prints an object created during the watch"
start=$SECONDS
timeout 30 "$KUBECTL" get cm c1 -w --request-timeout=3s >"$OUT" 2>&1
el=$((SECONDS - start))
[ $el -lt 15 ] && pass "get -w of one object ends with --request-timeout (${el}s)" || failed "get -w of one object ends with --request-timeout" "took ${el}s"


# ---- garbage collection of a dependent whose owner is already gone
# (a controller racing a deletion creates such objects)
cat >"$T/dangling.yaml" <<'Y'
apiVersion: v1
kind: ConfigMap
metadata:
  name: dangling
  namespace: default
  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: never-existed, uid: "0c1d8e2a-0000-4000-8000-000000000001"}]
Y
check "create an object whose owner does not exist" kc apply -f "$T/dangling.yaml"
gone() { ! kv get cm dangling -n default >/dev/null 2>&1; }
if eventually 10 gone; then pass "the dependent of a missing owner is collected"; else
  failed "the dependent of a missing owner is collected"; fi
kc create cm live-owner -n default >/dev/null
luid=$(kv get cm live-owner -n default -o jsonpath='{.metadata.uid}')
sed -e "s/name: dangling/name: kept/" -e "s/never-existed/live-owner/" -e "s/0c1d8e2a-0000-4000-8000-000000000001/$luid/" \
  "$T/dangling.yaml" >"$T/kept.yaml"
check "create an object whose owner exists" kc apply -f "$T/kept.yaml"
sleep 2
check "the dependent of a live owner stays" kc get cm kept -n default

finish
