#!/usr/bin/env bash
# tests/integration/platform_teams.sh: the Team controller under `idp up`
# with real kubectl: the reference teams (examples/platform/teams) yield the
# namespace, quota, limit range, the 4 NetworkPolicies, roles and bindings
# and status; a quota change is rolled out; a deleted NetworkPolicy and an
# edited Role come back; deleting a Team removes its namespace.  The
# controller runs as build/tests/unit/platform/platform_run against the
# server's kubeconfig (until `idp up` starts it itself).
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

crd_served() { kv get crd teams.platform.idp.io -o name | grep -q teams; }
if eventually 20 crd_served; then pass "controller installs the Team CRD"; else
  cat "$T/ctl.log" "$T/server.log" >"$OUT" 2>/dev/null; failed "controller installs the Team CRD"; finish; fi

for t in backend frontend data; do
  check "apply team $t" kc apply -f "$IDP_ROOT/examples/platform/teams/$t/team.yaml"
done

ns_exists() { kv get ns "$1" -o name | grep -q "namespace/$1"; }
if eventually 20 ns_exists team-backend; then pass "namespace team-backend created"; else
  cat "$T/ctl.log" "$T/server.log" >"$OUT" 2>/dev/null; failed "namespace team-backend created"; fi
eventually 20 ns_exists team-data
jp() { kv "$@" 2>/dev/null; }
check_eq "namespace PSS enforce label" restricted "$(jp get ns team-backend -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}')"
check_eq "namespace team label" backend "$(jp get ns team-backend -o jsonpath='{.metadata.labels.platform\.idp\.io/team}')"
check_eq "namespace managed-by label" team-controller "$(jp get ns team-backend -o jsonpath='{.metadata.labels.platform\.idp\.io/managed-by}')"
check_eq "namespace owner annotation" backend@example.com "$(jp get ns team-backend -o jsonpath='{.metadata.annotations.platform\.idp\.io/owner-email}')"
check_eq "namespace owned by the Team" Team "$(jp get ns team-backend -o jsonpath='{.metadata.ownerReferences[0].kind}')"
check_out "data team: nodeSelector recorded for PodNodeSelector" "node-selector" kc get ns team-data -o yaml

quota_has() { [ "$(jp -n team-backend get resourcequota backend-quota -o jsonpath="{.spec.hard.$1}")" = "$2" ]; }
if eventually 20 quota_has pods 40; then pass "ResourceQuota backend-quota pods=40"; else
  kc -n team-backend get resourcequota -o yaml >"$OUT" 2>&1; failed "ResourceQuota backend-quota pods=40"; fi
check_eq "ResourceQuota requests.cpu" 8 "$(jp -n team-backend get resourcequota backend-quota -o jsonpath='{.spec.hard.requests\.cpu}')"
check_eq "ResourceQuota limits.memory" 32Gi "$(jp -n team-backend get resourcequota backend-quota -o jsonpath='{.spec.hard.limits\.memory}')"
check_eq "LimitRange default cpu" 500m "$(jp -n team-backend get limitrange backend-limits -o jsonpath='{.spec.limits[0].default.cpu}')"
check_eq "LimitRange type" Container "$(jp -n team-backend get limitrange backend-limits -o jsonpath='{.spec.limits[0].type}')"
nps() { jp -n team-backend get networkpolicy -o jsonpath='{range .items[*]}{.metadata.name}{" "}{end}'; }
np_count() { [ "$(nps | wc -w)" = 4 ]; }
eventually 20 np_count
check_eq "4 NetworkPolicies" "allow-dns allow-from-namespaces allow-same-namespace default-deny-all" "$(nps | tr ' ' '\n' | sort | grep . | tr '\n' ' ' | sed 's/ $//')"
check_eq "default-deny-all denies both ways" "Ingress Egress" "$(jp -n team-backend get networkpolicy default-deny-all -o jsonpath='{.spec.policyTypes[*]}')"
check_eq "allow-dns to kube-dns port 53" "53 53" "$(jp -n team-backend get networkpolicy allow-dns -o jsonpath='{.spec.egress[0].ports[*].port}')"
check_eq "allow-from-namespaces lists team-frontend, monitoring and the gateway" "team-frontend monitoring kube-system" \
  "$(jp -n team-backend get networkpolicy allow-from-namespaces -o jsonpath='{.spec.ingress[0].from[*].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name}')"
check_eq "workload ServiceAccount" backend-workload "$(jp -n team-backend get sa backend-workload -o jsonpath='{.metadata.name}')"
check_out "developer Role reads secrets only" '"secrets"' kc -n team-backend get role developer -o json
check_eq "viewer Role has no secrets" "" "$(jp -n team-backend get role viewer -o json | grep '"secrets"')"
check_eq "developer RoleBinding subjects" "User/backend-dev Group/backend-engineers" \
  "$(jp -n team-backend get rolebinding developer -o jsonpath='{range .subjects[*]}{.kind}/{.name} {end}' | sed 's/ $//')"
check_eq "viewer RoleBinding subject" "User/backend-viewer" \
  "$(jp -n team-backend get rolebinding viewer -o jsonpath='{range .subjects[*]}{.kind}/{.name}{end}')"

team_ready() { [ "$(jp get team backend -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
if eventually 20 team_ready; then pass "Team Ready=True"; else kc get team backend -o yaml >"$OUT" 2>&1; failed "Team Ready=True"; fi
check_eq "status.namespace" team-backend "$(jp get team backend -o jsonpath='{.status.namespace}')"
check_eq "status.appCount" 1 "$(jp get team backend -o jsonpath='{.status.appCount}')"
check_out "status lists owned objects" "allow-from-namespaces" kc get team backend -o jsonpath='{.status.ownedObjects[*].name}'
check_eq "ArgoCD condition when Argo CD kinds are not served" "$(if kv get crd applications.argoproj.io >/dev/null 2>&1; then echo True; else echo False; fi)" \
  "$(jp get team backend -o jsonpath='{.status.conditions[?(@.type=="ArgoCD")].status}')"
check_out "kubectl get team printer columns" "team-backend" kc get teams

# spec change -> rolled out
check "change the quota" kc patch team backend --type merge -p '{"spec":{"resourceQuota":{"pods":"55"}}}'
if eventually 20 quota_has pods 55; then pass "quota change rolled out"; else
  kc -n team-backend get resourcequota backend-quota -o yaml >"$OUT" 2>&1; failed "quota change rolled out"; fi

# drift -> reverted
check "delete a generated NetworkPolicy" kc -n team-backend delete networkpolicy allow-dns
np_back() { jp -n team-backend get networkpolicy allow-dns -o name | grep -q allow-dns; }
if eventually 20 np_back; then pass "deleted NetworkPolicy recreated"; else failed "deleted NetworkPolicy recreated"; fi
check "edit the ResourceQuota by hand" kc -n team-backend patch resourcequota backend-quota --type merge -p '{"spec":{"hard":{"pods":"999"}}}'
if eventually 20 quota_has pods 55; then pass "hand edit reverted"; else failed "hand edit reverted"; fi

# objects no longer wanted are pruned
check "remove the viewer member of team data" kc patch team data --type merge -p '{"spec":{"members":[{"name":"data-dev","role":"developer"}]}}'
rb_gone() { ! kv -n team-data get rolebinding viewer -o name >/dev/null 2>&1; }
if eventually 20 rb_gone; then pass "viewer RoleBinding pruned"; else kc -n team-data get rolebinding -o yaml >"$OUT" 2>&1; failed "viewer RoleBinding pruned"; fi
check_eq "developer RoleBinding kept" developer "$(jp -n team-data get rolebinding developer -o jsonpath='{.metadata.name}')"

# deletion -> namespace gone
check "delete team frontend" kc delete team frontend --wait=false
ns_gone() { ! kv get ns team-frontend -o name >/dev/null 2>&1; }
if eventually 30 ns_gone; then pass "team namespace removed with the Team"; else
  kc get ns team-frontend -o yaml >"$OUT" 2>&1; failed "team namespace removed with the Team"; fi
team_gone() { ! kv get team frontend -o name >/dev/null 2>&1; }
if eventually 20 team_gone; then pass "Team deleted after its finalizer ran"; else
  kc get team frontend -o yaml >"$OUT" 2>&1; failed "Team deleted after its finalizer ran"; fi

# invalid Team rejected by the schema
fail_out "Team without owner email rejected by the CRD schema" "owner.email" sh -c \
  "printf 'apiVersion: platform.idp.io/v1alpha1\nkind: Team\nmetadata: {name: bad}\nspec: {owner: {name: X}}\n' | kubectl --request-timeout=30s apply -f -"

stop_ctl
finish
