#!/usr/bin/env bash
# ApplicationSet controller end to end against `idp up` and real kubectl/git:
# the fast-ish team ApplicationSets (git files over teams/*/team.yaml, and a
# matrix of git files x list with elementsYaml), deletion of an
# Application when its team file is removed, updates when a file changes,
# a bad template's status condition, applicationsSync create-only, and
# garbage collection when the ApplicationSet is deleted.
. "$(dirname "$0")/lib.sh"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need git || ! need jq; then
  : >"$OUT"
  failed "prerequisites" "git and jq are required"
  finish
fi

start_server || finish

# --- the platform repository (a real git repo) ---------------------------
REPO=$T/repo
git init -q -b main "$REPO"
gitc() { git -C "$REPO" -c user.name=test -c user.email=test@example.com "$@"; }
mkdir -p "$REPO/teams/backend" "$REPO/teams/frontend" "$REPO/teams/data"
cat >"$REPO/teams/backend/team.yaml" <<'EOF'
team: backend
namespace: team-backend
owner: {name: Backend Team, email: backend@example.com, slack: "#backend-eng"}
apps:
  - {name: version-api, repoURL: https://github.com/fast-ish/version-api, manifestPath: k8s, targetRevision: v1.0.0, environment: production}
  - {name: orders, repoURL: https://github.com/fast-ish/orders, manifestPath: deploy, targetRevision: main, environment: staging}
EOF
cat >"$REPO/teams/frontend/team.yaml" <<'EOF'
team: frontend
namespace: team-frontend
owner: {name: Frontend Team, email: frontend@example.com}
apps:
  - {name: web, repoURL: https://github.com/fast-ish/web, manifestPath: k8s, targetRevision: v2.1.0, environment: production}
EOF
cat >"$REPO/teams/data/team.yaml" <<'EOF'
team: data
namespace: team-data
owner: {name: Data Team, email: data@example.com, slack: "#data"}
apps:
  - {name: etl, repoURL: https://github.com/fast-ish/etl, manifestPath: k8s, targetRevision: v3, environment: production}
EOF
gitc add -A && gitc commit -qm "three teams"

# --- CRDs, namespace, projects -------------------------------------------
CRDS=$IDP_ROOT/src/gitops/app/crds
check "Application and AppProject CRDs apply" kc apply -f "$CRDS/application.yaml" -f "$CRDS/appproject.yaml"
check "namespace argocd" sh -c "timeout 30 kubectl create namespace argocd --request-timeout=20s || kubectl get ns argocd --request-timeout=20s"
for i in $(seq 1 50); do kv get --raw /apis/argoproj.io/v1alpha1 | grep -q '"AppProject"' && break; sleep 0.2; done
for p in platform team-backend team-frontend team-data; do
  cat <<EOF | kc apply -f - >/dev/null
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: $p, namespace: argocd}
spec: {sourceRepos: ['*'], destinations: [{server: '*', namespace: '*'}]}
EOF
done

# --- the controller: in `idp up` already, or started here ------------------
CTL_PID=
if ! kv get crd applicationsets.argoproj.io >/dev/null; then
  "$IDP_BIN" appset controller --kubeconfig "$KUBECONFIG" --git-poll-ms 300 --git-cache "$T/gitcache" \
    >"$T/controller.log" 2>&1 &
  CTL_PID=$!
  trap 'kill $CTL_PID 2>/dev/null; _on_exit' EXIT
  for i in $(seq 1 100); do grep -q "running" "$T/controller.log" 2>/dev/null && break; sleep 0.2; done
  cp "$T/controller.log" "$OUT"
  check_out "controller starts" "applicationset controller running" cat "$T/controller.log"
fi
check "ApplicationSet CRD served" kc get applicationsets -n argocd

# --- the fast-ish team ApplicationSets -------------------------------------
cat >"$T/team-projects.yaml" <<EOF
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: team-projects, namespace: argocd}
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  syncPolicy: {preserveResourcesOnDeletion: true}
  generators:
  - git:
      repoURL: file://$REPO
      revision: HEAD
      files:
      - path: teams/*/team.yaml
  template:
    metadata:
      name: 'team-{{ .path.basename }}-project'
      labels: {team: '{{ .team }}'}
      annotations: {team.owner: '{{ .owner.email }}'}
    spec:
      project: platform
      source: {repoURL: 'file://$REPO', targetRevision: HEAD, path: 'platform/team-project'}
      destination: {server: https://kubernetes.default.svc, namespace: argocd}
EOF
cat >"$T/team-apps.yaml" <<EOF
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: team-apps, namespace: argocd}
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  syncPolicy: {preserveResourcesOnDeletion: true}
  generators:
  - matrix:
      generators:
      - git:
          repoURL: file://$REPO
          revision: HEAD
          files:
          - path: teams/*/team.yaml
      - list:
          elementsYaml: "{{ .apps | toJson }}"
  template:
    metadata:
      name: '{{ .path.basename }}-{{ .name }}'
      labels: {team: '{{ .team }}', environment: '{{ .environment }}'}
    spec:
      project: 'team-{{ .path.basename }}'
      source: {repoURL: '{{ .repoURL }}', path: '{{ .manifestPath }}', targetRevision: '{{ .targetRevision }}'}
      destination: {server: https://kubernetes.default.svc, namespace: '{{ .namespace }}'}
      syncPolicy:
        automated: {prune: true, selfHeal: true}
        syncOptions: [PruneLast=true]
EOF
check "team ApplicationSets apply" kc apply -f "$T/team-projects.yaml" -f "$T/team-apps.yaml"

apps() { kv get applications -n argocd -o json | jq -r '[.items[] | select(.metadata.deletionTimestamp == null) | .metadata.name] | sort | join(" ")'; }
want_all="backend-orders backend-version-api data-etl frontend-web team-backend-project team-data-project team-frontend-project"
eventually 20 sh -c "[ \"\$(kubectl get applications -n argocd -o json --request-timeout=10s | jq -r '[.items[].metadata.name] | sort | join(\" \")')\" = '$want_all' ]"
check_eq "exactly the expected Applications" "$want_all" "$(apps)"

APP=$T/app.json
kv get application backend-orders -n argocd -o json >"$APP"
check_eq "matrix params: source from the list element" "https://github.com/fast-ish/orders deploy main" \
  "$(jq -r '.spec.source | "\(.repoURL) \(.path) \(.targetRevision)"' "$APP")"
check_eq "git files params: destination namespace" "team-backend" "$(jq -r .spec.destination.namespace "$APP")"
check_eq "project from the path" "team-backend" "$(jq -r .spec.project "$APP")"
check_eq "labels rendered" "backend staging" "$(jq -r '"\(.metadata.labels.team) \(.metadata.labels.environment)"' "$APP")"
check_eq "controller ownerReference to the ApplicationSet" "ApplicationSet team-apps true" \
  "$(jq -r '.metadata.ownerReferences[0] | "\(.kind) \(.name) \(.controller)"' "$APP")"
check_eq "preserveResourcesOnDeletion: no resources finalizer" "0" "$(jq -r '.metadata.finalizers // [] | length' "$APP")"
check_eq "annotation from a nested key" "frontend@example.com" \
  "$(kv get application team-frontend-project -n argocd -o jsonpath='{.metadata.annotations.team\.owner}')"

cond() { # appset type -> "status reason"
  kv get applicationset "$1" -n argocd -o json | jq -r --arg t "$2" '.status.conditions[]? | select(.type == $t) | "\(.status) \(.reason)"'
}
eventually 10 sh -c "kubectl get applicationset team-apps -n argocd -o json --request-timeout=10s | jq -e '.status.conditions[]? | select(.type==\"ResourcesUpToDate\" and .status==\"True\")' >/dev/null"
check_eq "ResourcesUpToDate condition" "True ApplicationSetUpToDate" "$(cond team-apps ResourcesUpToDate)"
check_eq "ParametersGenerated condition" "True ParametersGenerated" "$(cond team-apps ParametersGenerated)"
check_eq "ErrorOccurred condition" "False ApplicationSetUpToDate" "$(cond team-apps ErrorOccurred)"
eventually 10 sh -c "[ \"\$(kubectl get applicationset team-apps -n argocd -o json --request-timeout=10s | jq '.status.resources | length')\" = 4 ]"
check_eq "status.resources lists the generated Applications" "4" \
  "$(kv get applicationset team-apps -n argocd -o json | jq '.status.resources | length')"

# --- git changes: a removed team, a changed revision ----------------------
gitc rm -q teams/data/team.yaml
sed -i 's/targetRevision: v2.1.0/targetRevision: v2.2.0/' "$REPO/teams/frontend/team.yaml"
gitc commit -qam "data team leaves; web v2.2.0"
want_after="backend-orders backend-version-api frontend-web team-backend-project team-frontend-project"
eventually 40 sh -c "[ \"\$(kubectl get applications -n argocd -o json --request-timeout=10s | jq -r '[.items[].metadata.name] | sort | join(\" \")')\" = '$want_after' ]"
check_eq "removing a team file deletes its Applications" "$want_after" "$(apps)"
eventually 40 sh -c "[ \"\$(kubectl get application frontend-web -n argocd -o jsonpath='{.spec.source.targetRevision}' --request-timeout=10s)\" = v2.2.0 ]"
check_eq "a changed file updates the Application" "v2.2.0" \
  "$(kv get application frontend-web -n argocd -o jsonpath='{.spec.source.targetRevision}')"

# --- drift: a hand edit of a generated Application is reverted ------------
kc patch application backend-orders -n argocd --type merge -p '{"spec":{"source":{"targetRevision":"hacked"}}}' >/dev/null
eventually 10 sh -c "[ \"\$(kubectl get application backend-orders -n argocd -o jsonpath='{.spec.source.targetRevision}' --request-timeout=10s)\" = main ]"
check_eq "a hand edit of a generated Application is reverted" "main" \
  "$(kv get application backend-orders -n argocd -o jsonpath='{.spec.source.targetRevision}')"

# --- a bad template gives the condition ------------------------------------
cat >"$T/bad.yaml" <<EOF
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: team-slack, namespace: argocd}
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - git:
      repoURL: file://$REPO
      revision: HEAD
      files: [{path: teams/*/team.yaml}]
  template:
    metadata:
      name: 'slack-{{ .path.basename }}'
      annotations: {team.slack: '{{ .owner.slack }}'}
    spec:
      project: platform
      source: {repoURL: 'file://$REPO', path: x}
      destination: {server: https://kubernetes.default.svc, namespace: default}
EOF
check "bad ApplicationSet applies" kc apply -f "$T/bad.yaml"
eventually 10 sh -c "kubectl get applicationset team-slack -n argocd -o json --request-timeout=10s | jq -e '.status.conditions[]? | select(.type==\"ErrorOccurred\" and .status==\"True\")' >/dev/null"
check_eq "bad template: ErrorOccurred" "True RenderTemplateParamsError" "$(cond team-slack ErrorOccurred)"
check_eq "bad template: ParametersGenerated False" "False ErrorOccurred" "$(cond team-slack ParametersGenerated)"
msg=$(kv get applicationset team-slack -n argocd -o json | jq -r '.status.conditions[] | select(.type=="ErrorOccurred") | .message')
case "$msg" in
  *'map has no entry for key "slack"'*) pass "bad template: the message names the missing key" ;;
  *) : >"$OUT"; failed "bad template: the message names the missing key" "message: $msg" ;;
esac
check_eq "bad template: no Application generated" "" \
  "$(kv get applications -n argocd -o json | jq -r '[.items[].metadata.name | select(startswith("slack-"))] | join(" ")')"

# --- applicationsSync: create-only never deletes -------------------------
cat >"$T/list.yaml" <<'EOF'
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: envs, namespace: argocd}
spec:
  syncPolicy: {applicationsSync: create-only}
  generators:
  - list:
      elements: [{env: dev}, {env: prod}]
  template:
    metadata: {name: 'env-{{env}}'}
    spec:
      project: platform
      source: {repoURL: https://example.com/repo, path: 'envs/{{env}}'}
      destination: {server: https://kubernetes.default.svc, namespace: '{{env}}'}
EOF
check "list ApplicationSet applies" kc apply -f "$T/list.yaml"
eventually 10 sh -c "kubectl get application env-prod -n argocd --request-timeout=10s >/dev/null 2>&1"
check "list generator (fasttemplate) creates env-prod" kc get application env-prod -n argocd
check_eq "fasttemplate renders nested strings" "envs/dev" \
  "$(kv get application env-dev -n argocd -o jsonpath='{.spec.source.path}')"
check_eq "default: resources finalizer added" "resources-finalizer.argocd.argoproj.io" \
  "$(kv get application env-dev -n argocd -o jsonpath='{.metadata.finalizers[0]}')"
kc patch applicationset envs -n argocd --type merge -p '{"spec":{"generators":[{"list":{"elements":[{"env":"dev"}]}}]}}' >/dev/null
sleep 2
check "create-only keeps an Application the generators dropped" kc get application env-prod -n argocd

# --- ignoreApplicationDifferences, preservedFields, preserved annotations --
cat >"$T/ignore.yaml" <<'EOF2'
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: tuned, namespace: argocd}
spec:
  ignoreApplicationDifferences:
  - jsonPointers: [/spec/source/targetRevision]
  preservedFields: {labels: [keep]}
  generators:
  - list: {elements: [{item: one}]}
  template:
    metadata: {name: 'tuned-{{item}}', labels: {gen: 'yes'}}
    spec:
      project: platform
      source: {repoURL: https://example.com/repo, path: v1, targetRevision: main}
      destination: {server: https://kubernetes.default.svc, namespace: default}
EOF2
check "tuned ApplicationSet applies" kc apply -f "$T/ignore.yaml"
eventually 10 sh -c "kubectl get application tuned-one -n argocd --request-timeout=10s >/dev/null 2>&1"
kc patch application tuned-one -n argocd --type merge \
  -p '{"metadata":{"labels":{"keep":"1","drop":"1"},"annotations":{"notified.notifications.argoproj.io":"{}"}},"spec":{"source":{"targetRevision":"pinned"}}}' >/dev/null
kc patch applicationset tuned -n argocd --type json -p '[{"op":"replace","path":"/spec/template/spec/source/path","value":"v2"}]' >/dev/null
eventually 10 sh -c "[ \"\$(kubectl get application tuned-one -n argocd -o jsonpath='{.spec.source.path}' --request-timeout=10s)\" = v2 ]"
kv get application tuned-one -n argocd -o json >"$APP"
check_eq "template change applied" "v2" "$(jq -r .spec.source.path "$APP")"
check_eq "ignoreApplicationDifferences keeps the live value" "pinned" "$(jq -r .spec.source.targetRevision "$APP")"
check_eq "preservedFields label kept, others reset" "1 yes null" "$(jq -r '"\(.metadata.labels.keep) \(.metadata.labels.gen) \(.metadata.labels.drop)"' "$APP")"
check_eq "notification annotation preserved" "{}" "$(jq -r '.metadata.annotations["notified.notifications.argoproj.io"]' "$APP")"

# --- clusters generator: cluster Secrets and a label selector -------------
cat >"$T/clusters.yaml" <<'EOF2'
apiVersion: v1
kind: Secret
metadata:
  name: cluster-prod-eu
  namespace: argocd
  labels: {argocd.argoproj.io/secret-type: cluster, env: prod}
stringData: {name: prod-eu, server: "https://prod-eu.example.com:6443"}
---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: addons, namespace: argocd}
spec:
  goTemplate: true
  syncPolicy: {preserveResourcesOnDeletion: true}
  generators:
  - clusters:
      selector: {matchLabels: {env: prod}}
  template:
    metadata: {name: 'addons-{{ .nameNormalized }}'}
    spec:
      project: platform
      source: {repoURL: https://example.com/addons, path: base}
      destination: {server: '{{ .server }}', namespace: addons}
EOF2
check "cluster Secret and clusters ApplicationSet apply" kc apply -f "$T/clusters.yaml"
eventually 10 sh -c "kubectl get application addons-prod-eu -n argocd --request-timeout=10s >/dev/null 2>&1"
check_eq "clusters generator: destination from the Secret" "https://prod-eu.example.com:6443" \
  "$(kv get application addons-prod-eu -n argocd -o jsonpath='{.spec.destination.server}')"
check_eq "clusters generator: the selector leaves out in-cluster" "" \
  "$(kv get applications -n argocd -o name | grep addons-in-cluster)"
kc label secret cluster-prod-eu -n argocd env=staging --overwrite >/dev/null
eventually 10 sh -c "! kubectl get application addons-prod-eu -n argocd --request-timeout=10s >/dev/null 2>&1"
expect_fail "relabelled cluster Secret: its Application is deleted" kc get application addons-prod-eu -n argocd

# --- the refresh annotation is honoured and removed ----------------------
kc annotate applicationset team-projects -n argocd argocd.argoproj.io/application-set-refresh=true >/dev/null
eventually 10 sh -c "[ -z \"\$(kubectl get applicationset team-projects -n argocd -o jsonpath='{.metadata.annotations.argocd\.argoproj\.io/application-set-refresh}' --request-timeout=10s)\" ]"
check_eq "refresh annotation removed after the refresh" "" \
  "$(kv get applicationset team-projects -n argocd -o jsonpath='{.metadata.annotations.argocd\.argoproj\.io/application-set-refresh}')"

# --- deleting an ApplicationSet garbage-collects its Applications ----------
kc delete applicationset team-apps -n argocd --wait=false >/dev/null
eventually 20 sh -c "! kubectl get applications -n argocd -o name --request-timeout=10s | grep -q 'backend-orders'"
check_eq "deleting the ApplicationSet removes its Applications" "" \
  "$(kv get applications -n argocd -o json | jq -r '[.items[].metadata.name | select(. == "backend-orders" or . == "frontend-web")] | join(" ")')"

if [ -n "$CTL_PID" ]; then
  kill "$CTL_PID" 2>/dev/null
  wait "$CTL_PID" 2>/dev/null
  if [ "$FAIL" -gt 0 ]; then echo "--- controller log ---"; tail -20 "$T/controller.log"; fi
fi
finish
