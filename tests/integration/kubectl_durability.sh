#!/usr/bin/env bash
# Restart durability of `idp up`: kill -9 the server in the middle of a
# stream of creates (4 concurrent writers), restart it on the same data
# directory, and require every acknowledged (201) create to be there with
# its data; resourceVersions keep increasing; a clean restart keeps
# everything and kubectl works against the restarted server.
source "$(dirname "$0")/lib.sh"

start_server "$T/data" || finish
CM=/api/v1/namespaces/default/configmaps

writer() { # id: creates w<id>-<n> until the server dies; logs acknowledged names
  local n=0 code
  while :; do
    n=$((n + 1))
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST --cacert "$DATA/ca.crt" \
      -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      --data-binary "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"w$1-$n\"},\"data\":{\"n\":\"$n\"}}" \
      "$URL$CM")
    case "$code" in
    201) echo "w$1-$n" >>"$T/acked.$1" ;;
    000) return 0 ;; # connection refused/reset: the server is gone
    esac
    [ $n -ge 5000 ] && return 0
  done
}

mkcm() { printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: default\ndata:\n  k: v\n' "$1" | kc apply -f -; }
check "seed object before the crash" mkcm seed
seed_rv=$(kv get cm seed -o jsonpath='{.metadata.resourceVersion}')
pids=()
for w in 1 2 3 4; do
  writer $w &
  pids+=($!)
done
sleep 3
kill9_server
for p in "${pids[@]}"; do wait "$p"; done
cat "$T"/acked.* 2>/dev/null | sort >"$T/acked"
acked=$(wc -l <"$T/acked")
[ "$acked" -gt 0 ] && pass "writers got acknowledgements before the crash ($acked)" || failed "writers got acknowledgements before the crash"

start_server "$T/data" || finish
api GET "$CM?limit=100000" >/dev/null
jq -r '.items[].metadata.name' "$BODY" 2>/dev/null | sort >"$T/present"
missing=$(comm -23 "$T/acked" "$T/present" | head -5)
nmissing=$(comm -23 "$T/acked" "$T/present" | wc -l)
if [ "$nmissing" -eq 0 ]; then pass "every acknowledged create survived kill -9 ($acked)"; else
  : >"$OUT"
  failed "every acknowledged create survived kill -9" "$nmissing of $acked missing, e.g.: $missing"
fi
sample=$(shuf -n 1 "$T/acked" 2>/dev/null)
if [ -n "$sample" ]; then
  check_eq "data of a surviving object ($sample)" "${sample#*-}" "$(kv get cm "$sample" -o jsonpath='{.data.n}')"
fi
check_eq "seed object intact" v "$(kv get cm seed -o jsonpath='{.data.k}')"
max_rv=$(jq -r '[.items[].metadata.resourceVersion | tonumber] | max' "$BODY" 2>/dev/null)
check "create after the restart" mkcm after-crash
new_rv=$(kv get cm after-crash -o jsonpath='{.metadata.resourceVersion}')
if [ -n "$new_rv" ] && [ -n "$max_rv" ] && [ "$new_rv" -gt "$max_rv" ] 2>/dev/null && [ "$max_rv" -gt "$seed_rv" ]; then
  pass "resourceVersions keep increasing across the crash ($seed_rv < $max_rv < $new_rv)"
else
  failed "resourceVersions keep increasing across the crash" "seed=$seed_rv max-before=$max_rv new=$new_rv"
fi

# ---- clean restart
stop_server
start_server "$T/data" || finish
check_eq "object created before a clean restart is there" v "$(kv get cm after-crash -o jsonpath='{.data.k}')"
check_out "kubectl works after the second restart (namespaces)" 'default' kc get ns
check_eq "default namespace not duplicated or reset" 1 "$(kv get ns -o name | grep -c '^namespace/default$')"

finish
