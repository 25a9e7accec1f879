#!/usr/bin/env bash
# Watch and list protocol of `idp up` over raw HTTPS: synthetic ADDED from
# resourceVersion=0, live ADDED/MODIFIED/DELETED, timeoutSeconds, field
# selectors, pagination with continue tokens, the WatchList request, and 410
# Expired for a continue token and a watch older than the compaction point.
#
# Compaction needs a short history: the server is started with
# --history-revisions (and --compact-interval when `idp up --help` lists
# them); without the flags the two 410 checks fail and say why.
source "$(dirname "$0")/lib.sh"

up_args=()
help=$(timeout 10 "$IDP_BIN" up --help 2>&1)
grep -q -- '--history-revisions' <<<"$help" && up_args+=(--history-revisions 20)
grep -q -- '--compact-interval' <<<"$help" && up_args+=(--compact-interval 1)
start_server "$T/data" "${up_args[@]}" || finish

CM=/api/v1/namespaces/default/configmaps
JSON=(-H 'Content-Type: application/json')
mk() { api POST "$CM" "${JSON[@]}" --data-binary "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"$1\",\"labels\":{\"set\":\"w\"}},\"data\":{\"v\":\"$2\"}}"; }
# stream URL -> file, for at most $3 seconds
stream() { curl -s -N --max-time "$3" --cacert "$DATA/ca.crt" -H "Authorization: Bearer $TOKEN" "$URL$1" >"$2" 2>/dev/null; }

check_eq "create a (201)" 201 "$(mk a 1)"
rv_a=$(bj .metadata.resourceVersion)
check_eq "create b (201)" 201 "$(mk b 1)"

# ---- watch from 0: current state as ADDED, then the stream ends at timeoutSeconds
start=$SECONDS
stream "$CM?watch=1&resourceVersion=0&timeoutSeconds=2" "$T/w0" 15
el=$((SECONDS - start))
cp "$T/w0" "$OUT"
check_eq "rv=0 watch: synthetic ADDED for a and b" "ADDED:a ADDED:b" \
  "$(jq -r 'select(.object.metadata.labels.set=="w") | "\(.type):\(.object.metadata.name)"' "$T/w0" 2>/dev/null | sort | xargs)"
[ $el -le 8 ] && pass "timeoutSeconds=2 ends the watch (${el}s)" || failed "timeoutSeconds=2 ends the watch" "took ${el}s"

# ---- live events after a resourceVersion
rv_now=$(api GET "$CM?limit=1" >/dev/null; bj .metadata.resourceVersion)
stream "$CM?watch=1&resourceVersion=$rv_now&timeoutSeconds=6" "$T/w1" 15 &
wpid=$!
sleep 1
mk c 1 >/dev/null
api PATCH "$CM/c" -H 'Content-Type: application/merge-patch+json' --data-binary '{"data":{"v":"2"}}' >/dev/null
api DELETE "$CM/c" >/dev/null
wait $wpid
cp "$T/w1" "$OUT"
check_eq "live events in order" "ADDED:c:1 MODIFIED:c:2 DELETED:c:2" \
  "$(jq -r '"\(.type):\(.object.metadata.name):\(.object.data.v)"' "$T/w1" 2>/dev/null | grep -v '^BOOKMARK' | xargs)"
check_eq "no event for objects older than the watch's resourceVersion" 0 "$(grep -c '"name":"a"' "$T/w1")"

# ---- field selector (what kubectl wait/delete use)
stream "$CM?watch=1&resourceVersion=0&timeoutSeconds=1&fieldSelector=metadata.name%3Db" "$T/w2" 10
check_eq "fieldSelector=metadata.name=b" "b" "$(jq -r '.object.metadata.name' "$T/w2" 2>/dev/null | xargs)"
check_status "unknown field selector: 400" 400 GET "$CM?fieldSelector=spec.nope%3Dx"
check_status "list with labelSelector" 200 GET "$CM?labelSelector=set%3Dw"
check_eq "labelSelector filters the list" "a b" "$(bj '[.items[].metadata.name] | join(" ")')"

# ---- WatchList (sendInitialEvents): served with the end bookmark, or refused up front
code=$(curl -s -N --max-time 5 -o "$T/wl" -w '%{http_code}' --cacert "$DATA/ca.crt" -H "Authorization: Bearer $TOKEN" \
  "$URL$CM?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&resourceVersion=&timeoutSeconds=2")
cp "$T/wl" "$OUT"
if [ "$code" = 200 ]; then
  grep -q '"k8s.io/initial-events-end":"true"' "$T/wl" && pass "WatchList: initial events end with the bookmark" ||
    failed "WatchList: initial events end with the bookmark" "200 without the initial-events-end bookmark (kubectl wait would hang)"
elif [ "$code" = 400 ] || [ "$code" = 422 ]; then
  pass "WatchList refused up front ($code), clients fall back to list+watch"
else
  failed "WatchList served or refused with 400/422" "HTTP $code"
fi

# ---- pagination
for i in 1 2 3 4 5; do mk "p$i" 1 >/dev/null; done
check_status "list limit=2" 200 GET "$CM?limit=2&labelSelector=set%3Dw"
page1=$(bj '[.items[].metadata.name] | join(" ")')
cont=$(bj .metadata.continue)
list_rv=$(bj .metadata.resourceVersion)
check_eq "first page" "a b" "$page1"
[ -n "$cont" ] && pass "first page has a continue token" || failed "first page has a continue token"
mk late 1 >/dev/null
enc=$(jq -rn --arg c "$cont" '$c|@uri')
check_status "second page with the token" 200 GET "$CM?limit=2&labelSelector=set%3Dw&continue=$enc"
check_eq "second page continues the same snapshot" "p1 p2" "$(bj '[.items[].metadata.name] | join(" ")')"
check_eq "every page carries the list resourceVersion" "$list_rv" "$(bj .metadata.resourceVersion)"
check_status "garbage continue token: 400" 400 GET "$CM?limit=2&continue=not-a-token"

# ---- compaction: old continue token and old watch give 410
for i in $(seq 1 60); do mk "fill$i" 1 >/dev/null; done
gone_list() { [ "$(api GET "$CM?limit=2&labelSelector=set%3Dw&continue=$enc")" = 410 ]; }
if eventually 20 gone_list; then
  pass "expired continue token: 410"
  status_code=$(bj .code) reason=$(bj .reason)
  check_eq "expired continue token: reason Expired" "Expired 410" "$reason $status_code"
  body_has "expired continue token message" 'The provided continue parameter is too old'
else
  cp "$BODY" "$OUT"
  failed "expired continue token: 410" "history still holds revision $list_rv after 60 writes (idp up flags: ${up_args[*]:-none})"
fi
code=$(curl -s -N --max-time 5 -o "$T/wold" -w '%{http_code}' --cacert "$DATA/ca.crt" -H "Authorization: Bearer $TOKEN" \
  "$URL$CM?watch=1&resourceVersion=$rv_a&timeoutSeconds=2")
cp "$T/wold" "$OUT"
if [ "$code" = 410 ] || { [ "$code" = 200 ] && jq -e 'select(.type=="ERROR" and .object.code==410)' "$T/wold" >/dev/null 2>&1; }; then
  pass "watch from a compacted resourceVersion: 410 Expired ($code)"
else
  failed "watch from a compacted resourceVersion: 410 Expired" "HTTP $code"
fi
check_out "kubectl get -w still works after compaction" 'fill60' timeout 20 "$KUBECTL" get cm fill60 -w --request-timeout=2s

finish
