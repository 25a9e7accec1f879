#!/usr/bin/env bash
# Bad input against `idp up`, through kubectl and raw HTTPS: each rejected
# with the Kubernetes status code, reason and a message naming the object,
# and nothing changed afterwards.
source "$(dirname "$0")/lib.sh"

start_server || finish

CM=/api/v1/namespaces/default/configmaps
JSON=(-H 'Content-Type: application/json')

# a reference object whose resourceVersion must survive every bad request
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ref\n  namespace: default\ndata:\n  k: v\n' >"$T/ref.yaml"
check "create the reference configmap" kc apply -f "$T/ref.yaml"
ref_rv=$(kv get cm ref -o jsonpath='{.metadata.resourceVersion}')
unchanged_ref() {
  check_eq "$1: reference object unchanged" "$ref_rv" "$(kv get cm ref -o jsonpath='{.metadata.resourceVersion}')"
}
absent() { # description name
  check_status "$1: nothing created" 404 GET "$CM/$2"
}
msg_has() { # description needle: the Status message of the last api body contains needle
  cp "$BODY" "$OUT" 2>/dev/null
  if bj .message | grep -qF -- "$2"; then pass "$1"; else failed "$1" "message lacks: $2"; fi
}
status_is() { # description reason code
  cp "$BODY" "$OUT" 2>/dev/null
  local k r c
  k=$(bj .kind) r=$(bj .reason) c=$(bj .code)
  if [ "$k" = Status ] && [ "$r" = "$2" ] && [ "$c" = "$3" ]; then pass "$1: Status $2 $3"; else failed "$1: Status $2 $3" "got kind=$k reason=$r code=$c"; fi
}

# ---- authentication
check_eq "no token: 401" 401 "$(curl -s -o "$BODY" -w '%{http_code}' --max-time 10 --cacert "$DATA/ca.crt" "$URL/api/v1/namespaces")"
check_eq "wrong token: 401" 401 "$(curl -s -o "$BODY" -w '%{http_code}' --max-time 10 --cacert "$DATA/ca.crt" -H 'Authorization: Bearer wrong' "$URL/api/v1/namespaces")"
status_is "wrong token" Unauthorized 401

# ---- malformed JSON
check_status "malformed JSON body: 400" 400 POST "$CM" "${JSON[@]}" --data-binary '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"broken"'
status_is "malformed JSON" BadRequest 400
absent "malformed JSON" broken
check_status "JSON that is not an object: 400" 400 POST "$CM" "${JSON[@]}" --data-binary '[1,2,3]'
check_status "duplicate field with fieldValidation=Strict: 400" 400 POST "$CM?fieldValidation=Strict" "${JSON[@]}" \
  --data-binary '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup","name":"dup2"}}'
msg_has "duplicate field named in the message" 'duplicate field'
absent "duplicate field" dup
absent "duplicate field" dup2

# ---- malformed YAML (the server accepts application/yaml bodies)
check_status "malformed YAML body: 400" 400 POST "$CM" -H 'Content-Type: application/yaml' \
  --data-binary $'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n'
status_is "malformed YAML" BadRequest 400
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yaml-bad\n data: {a: b}\n  oops: [\n' >"$T/bad.yaml"
expect_fail "kubectl apply of malformed YAML fails" kc apply -f "$T/bad.yaml"
grep -qi 'yaml' "$OUT" && pass "kubectl names the YAML error" || failed "kubectl names the YAML error"
absent "malformed YAML via kubectl" yaml-bad

# ---- unsupported media type
check_status "text/plain body: 415" 415 POST "$CM" -H 'Content-Type: text/plain' --data-binary 'hello'
status_is "text/plain" UnsupportedMediaType 415

# ---- oversized body
python3 -c 'import json,sys; json.dump({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"a":"x"*(4*1024*1024)}}, sys.stdout)' >"$T/huge.json"
check_status "4 MiB body: 413" 413 POST "$CM" "${JSON[@]}" --data-binary @"$T/huge.json"
status_is "4 MiB body" RequestEntityTooLarge 413
absent "oversized body" huge
check_eq "server alive after the oversized body" 200 "$(api GET /readyz)"

# ---- deep nesting
python3 -c 'import sys; n=100000; sys.stdout.write("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"deep\"},\"x\":" + "["*n + "]"*n + "}")' >"$T/deep.json"
check_status "JSON nested 100000 deep: 400" 400 POST "$CM" "${JSON[@]}" --data-binary @"$T/deep.json"
absent "deep JSON" deep
python3 -c 'import sys; n=20000; sys.stdout.write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deepy\nx: " + "["*n + "]"*n + "\n")' >"$T/deep.yaml"
check_status "YAML nested 20000 deep: 400" 400 POST "$CM" -H 'Content-Type: application/yaml' --data-binary @"$T/deep.yaml"
absent "deep YAML" deepy
check_eq "server alive after deep nesting" 200 "$(api GET /readyz)"

# ---- unknown kind / resource
printf 'apiVersion: v1\nkind: Frobnicator\nmetadata:\n  name: f1\n' >"$T/unknown.yaml"
fail_out "kubectl apply of an unknown kind" 'no matches for kind "Frobnicator" in version "v1"' kc apply -f "$T/unknown.yaml"
check_status "POST to an unknown resource: 404" 404 POST /api/v1/namespaces/default/frobnicators "${JSON[@]}" \
  --data-binary '{"apiVersion":"v1","kind":"Frobnicator","metadata":{"name":"f1"}}'
status_is "unknown resource" NotFound 404
check_status "unknown API group: 404" 404 GET /apis/nope.example.com/v1/things

# ---- wrong apiVersion / kind
printf 'apiVersion: apps/v2\nkind: Deployment\nmetadata:\n  name: d1\n' >"$T/wrongver.yaml"
fail_out "kubectl apply with an unserved apiVersion" 'no matches for kind "Deployment" in version "apps/v2"' kc apply -f "$T/wrongver.yaml"
check_status "body apiVersion differs from the URL: 400" 400 POST "$CM" "${JSON[@]}" \
  --data-binary '{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"wrongver"}}'
body_has "message names the apiVersion in the data" 'apps/v1'
absent "wrong apiVersion" wrongver
check_status "body kind differs from the URL: 400" 400 POST "$CM" "${JSON[@]}" \
  --data-binary '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"wrongkind"}}'
body_has "message names the kind in the data" 'Secret'
absent "wrong kind" wrongkind

# ---- missing namespace
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: nowhere\n' >"$T/nons.yaml"
fail_out "create in a missing namespace (kubectl)" 'namespaces "nowhere" not found' kc apply -f "$T/nons.yaml"
check_status "POST into a missing namespace: 404" 404 POST /api/v1/namespaces/nowhere/configmaps "${JSON[@]}" \
  --data-binary '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}'
status_is "missing namespace" NotFound 404
msg_has "missing namespace named" 'namespaces "nowhere" not found'
fail_out "namespace still absent" 'NotFound' kc get ns nowhere

# ---- validation: names, existing objects, metadata.name vs URL
check_status "invalid object name: 422" 422 POST "$CM" "${JSON[@]}" \
  --data-binary '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}'
status_is "invalid name" Invalid 422
msg_has "invalid name in the message" 'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"'
check_status "create an existing object: 409" 409 POST "$CM" "${JSON[@]}" \
  --data-binary '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ref"},"data":{"k":"other"}}'
status_is "already exists" AlreadyExists 409
msg_has "already exists message" 'configmaps "ref" already exists'
check_status "PUT with a different name in the body: 400" 400 PUT "$CM/ref" "${JSON[@]}" \
  --data-binary '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"},"data":{"k":"x"}}'
body_has "name mismatch message" 'does not match the name on the URL'
unchanged_ref "after bad creates"

# ---- optimistic concurrency: stale resourceVersion
kv get cm ref -o json >"$T/ref-old.json"
check "update ref once" kc patch cm ref --type merge -p '{"data":{"k":"v2"}}'
new_rv=$(kv get cm ref -o jsonpath='{.metadata.resourceVersion}')
jq '.data.k = "stale"' "$T/ref-old.json" >"$T/ref-stale.json"
check_status "PUT with a stale resourceVersion: 409" 409 PUT "$CM/ref" "${JSON[@]}" --data-binary @"$T/ref-stale.json"
status_is "stale resourceVersion" Conflict 409
msg_has "conflict message names the object" 'Operation cannot be fulfilled on configmaps "ref": the object has been modified'
fail_out "kubectl replace with a stale resourceVersion" 'the object has been modified' kc replace -f "$T/ref-stale.json"
check_eq "stale writes changed nothing (value)" v2 "$(kv get cm ref -o jsonpath='{.data.k}')"
check_eq "stale writes changed nothing (resourceVersion)" "$new_rv" "$(kv get cm ref -o jsonpath='{.metadata.resourceVersion}')"
check_status "patch with a stale resourceVersion precondition: 409" 409 PATCH "$CM/ref" \
  -H 'Content-Type: application/merge-patch+json' --data-binary "{\"metadata\":{\"resourceVersion\":\"$ref_rv\"},\"data\":{\"k\":\"p\"}}"
check_eq "stale patch changed nothing" v2 "$(kv get cm ref -o jsonpath='{.data.k}')"

# ---- custom resources: schema violations and unknown fields
cat <<'EOF' | kc apply -f - >/dev/null 2>&1
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, maximum: 10}
EOF
check "widgets CRD established" kc wait --for=condition=Established crd/widgets.example.com --timeout=20s
printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: bad\n  namespace: default\nspec:\n  size: big\n' >"$T/w-bad.yaml"
# kubectl prints Invalid errors from details.kind, details.name and the causes
fail_out "CR with a wrong type is Invalid, kubectl names kind, object and field" \
  'The Widget "bad" is invalid: spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"' \
  kc apply -f "$T/w-bad.yaml"
check_status "CR with a wrong type over HTTPS: 422" 422 POST /apis/example.com/v1/namespaces/default/widgets "${JSON[@]}" \
  --data-binary '{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"bad"},"spec":{"size":"big"}}'
status_is "CR with a wrong type" Invalid 422
msg_has "CR Status message" 'Widget.example.com "bad" is invalid: spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"'
check_eq "CR Status details: kind, group, name, cause field" "Widget example.com bad spec.size" \
  "$(jq -r '"\(.details.kind) \(.details.group) \(.details.name) \(.details.causes[0].field)"' "$BODY" 2>/dev/null)"
printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: big\n  namespace: default\nspec:\n  size: 11\n' >"$T/w-big.yaml"
fail_out "CR above maximum is Invalid" 'spec.size in body should be less than or equal to 10' kc apply -f "$T/w-big.yaml"
printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: extra\n  namespace: default\nspec:\n  size: 1\n  bogus: true\n' >"$T/w-extra.yaml"
fail_out "unknown field refused by default (fieldValidation=Strict)" 'unknown field "spec.bogus"' kc apply -f "$T/w-extra.yaml"
check_out "unknown field with --validate=false is pruned" 'widget.example.com/extra created' kc apply --validate=false -f "$T/w-extra.yaml"
check_eq "pruned field is gone" "" "$(kv get widget extra -o jsonpath='{.spec.bogus}')"
fail_out "no invalid CR was stored" 'NotFound' kc get widget bad
fail_out "no invalid CR was stored (maximum)" 'NotFound' kc get widget big
ref_rv=$new_rv
unchanged_ref "after CR errors"

check_eq "server alive at the end" 200 "$(api GET /readyz)"
finish
