#!/usr/bin/env bash
# tests/integration/platform_up.sh: the main job end to end.  `idp up
# --bootstrap` turns the reference platform (examples/platform) into a Git
# repository in its data directory and runs it: every Application reaches
# Synced and Healthy, the teams and golden-path apps exist, the CA chain
# issues the gateway certificate, the ExternalSecret syncs, a Pod breaking an
# Enforce policy is denied, a WebApplication committed to the repository
# appears, and a team removed from the repository is pruned.
. "$(dirname "$0")/lib.sh"

start_server "" --bootstrap --controllers all,simulate || finish
REPO="$DATA/platform"

apps_settled() {
  local out
  out=$(kv get applications -n argocd -o jsonpath='{range .items[*]}{.metadata.name}={.status.sync.status}/{.status.health.status}{"\n"}{end}')
  [ "$(echo "$out" | grep -c .)" -ge 12 ] && ! echo "$out" | grep -qv '=Synced/Healthy'
}
start=$SECONDS
if eventually 120 apps_settled; then pass "all Applications Synced and Healthy ($((SECONDS - start))s)"; else
  kv get applications -n argocd >"$OUT"; failed "all Applications Synced and Healthy"; fi
check "the platform repository is a git repository" git -C "$REPO" log --oneline -1
check_out "idp status summarises the platform" "12 synced, 12 healthy" "$IDP_BIN" status --data-dir "$DATA"
check_eq "three teams" "backend data frontend" "$(kv get teams -o jsonpath='{.items[*].metadata.name}')"
check_eq "team namespaces" "team-backend" "$(kv get ns team-backend -o jsonpath='{.metadata.name}')"
check_eq "quota from team.yaml" "40" "$(kv get resourcequota backend-quota -n team-backend -o jsonpath='{.spec.hard.pods}')"
check_eq "golden-path WebApplications Ready" "Ready Ready Ready" \
  "$(kv get webapp -A -o jsonpath='{.items[*].status.phase}')"
check_eq "wildcard certificate issued by ca-issuer" "True" \
  "$(kv get certificate idp-wildcard-cert -n kube-system -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
kv get secret idp-wildcard-tls -n kube-system -o jsonpath='{.data.tls\.crt}' | base64 -d >"$T/tls.crt"
kv get secret idp-wildcard-tls -n kube-system -o jsonpath='{.data.ca\.crt}' | base64 -d >"$T/ca.crt"
check "openssl verifies the wildcard certificate against ca.crt" openssl verify -CAfile "$T/ca.crt" "$T/tls.crt"
check_eq "the ExternalSecret synced from the seeded store" "True" \
  "$(kv get es backend-api-credentials -n team-backend -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"

kc run root-latest -n team-backend --image=ghcr.io/idp-demo/api:latest --restart=Never >"$OUT" 2>&1
if grep -q "disallow-latest-tag" "$OUT"; then pass "a Pod with a latest tag is denied with the policy's message"; else
  failed "a Pod with a latest tag is denied with the policy's message" "$(cat "$OUT")"; fi

# a developer commits a new WebApplication for the frontend team
mkdir -p "$REPO/apps/frontend-web"
sed -e 's/name: frontend-web$/name: shop-admin/' -e 's/shop.127-0-0-1/admin.127-0-0-1/' \
  -e 's/app.kubernetes.io\/name: frontend-web/app.kubernetes.io\/name: shop-admin/' \
  "$REPO/apps/frontend-web/webapplication.yaml" >"$REPO/apps/frontend-web/shop-admin.yaml"
git -C "$REPO" add -A && git -C "$REPO" -c user.name=dev -c user.email=dev@example.com commit -qm "shop-admin" 
kc annotate application frontend-frontend-web -n argocd argocd.argoproj.io/refresh=normal --overwrite >/dev/null
webapp_there() { kv get webapp shop-admin -n team-frontend -o name | grep -q shop-admin; }
if eventually 60 webapp_there; then pass "a WebApplication committed to the repository appears"; else
  failed "a WebApplication committed to the repository appears"; fi
dep_there() { kv get deploy shop-admin -n team-frontend -o name | grep -q shop-admin; }
if eventually 30 dep_there; then pass "its Deployment is generated"; else failed "its Deployment is generated"; fi

# the data team leaves the platform
git -C "$REPO" rm -rq teams/data && git -C "$REPO" -c user.name=dev -c user.email=dev@example.com commit -qm "remove data team"
kc annotate application platform-teams -n argocd argocd.argoproj.io/refresh=normal --overwrite >/dev/null
kc annotate applicationset teams -n argocd argocd.argoproj.io/application-set-refresh=true --overwrite >/dev/null
ns_gone() { ! kv get ns team-data >/dev/null 2>&1; }
if eventually 90 ns_gone; then pass "removing a team from the repository prunes its namespace"; else
  kv get teams,applications -A >"$OUT" 2>&1; failed "removing a team from the repository prunes its namespace"; fi
finish
