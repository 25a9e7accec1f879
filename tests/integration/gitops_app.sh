#!/usr/bin/env bash
# gitops_app.sh: the Argo CD-compatible Application controller end to end.
# Real `idp up` server, real git repositories made here, real kubectl; the
# controller runs as `idp app controller` against the server's kubeconfig.
# The server runs with --no-controllers so that only this controller (with
# test settings: short wave pause, webhook listener, health timeout) acts.
# Covers: App-of-Apps (3 levels), sync waves from the watch event order,
# hooks (PreSync, PostSync, SyncFail, generateName, delete policies),
# self-heal of a kubectl edit within 5 s, prune, refresh annotation, manual
# sync, history, rollback, `idp app diff`, ServerSideApply / Replace /
# ApplyOutOfSyncOnly, 3-way client-side apply, retries with backoff, health
# waits between waves, GitHub and GitLab webhooks (good and bad secrets),
# apps in other namespaces, AppProject violations (repos, destinations,
# cluster-scoped kinds), another cluster from a cluster Secret, a private
# HTTP repository with credentials from a repository Secret, bad inputs
# (unreachable repo, missing revision, broken YAML, kustomization with a
# missing file) leaving other apps untouched, and cascading deletion.
. "$(dirname "$0")/lib.sh"

command -v git >/dev/null || { echo "git missing"; echo "0 passed, 1 failed"; exit 1; }
start_server "$T/data" --no-controllers || finish

CTL_PID=
S2_PID=
HTTP_PID=
cleanup_ctl() {
  [ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2>/dev/null
  HTTP_PID=
  [ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
  CTL_PID=
  [ -n "$S2_PID" ] && kill "$S2_PID" 2>/dev/null && wait "$S2_PID" 2>/dev/null
  S2_PID=
}
trap 'cleanup_ctl; _on_exit' EXIT

# Argo CD's settings ConfigMap: annotation+label tracking
kc create namespace argocd >/dev/null
kc create configmap argocd-cm -n argocd \
  --from-literal=application.resourceTrackingMethod=annotation+label >/dev/null
WPORT=$(free_port)
SECRET=s3cret-hook
"$IDP_BIN" app controller --data-dir "$T/ctl" --resync-ms 600000 --jitter-ms 0 \
  --wave-delay-ms 300 --webhook-listen "127.0.0.1:$WPORT" --webhook-secret "$SECRET" \
  --gitlab-secret gl-token --health-timeout-ms 8000 --application-namespaces 'team-*' \
  >"$T/ctl.log" 2>&1 &
CTL_PID=$!
eventually 30 grep -q "controller running" "$T/ctl.log" || { cat "$T/ctl.log"; failed "controller starts"; }
check "CRDs installed" kc get crd applications.argoproj.io appprojects.argoproj.io
check "default AppProject created" kc get appproject default -n argocd

export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@e GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@e
REPO=$T/repo
mkdir -p "$REPO" && git -C "$REPO" init -q -b main
commit() { git -C "$REPO" add -A && git -C "$REPO" commit -qm "$1"; }

cm() { # name [data-value] [annotations-yaml-lines]
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n%s\ndata:\n  v: "%s"\n' "$1" "${3:-}" "${2:-1}"
}
AUTO_SP='    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true]'
app() { # name path namespace [extra spec yaml]
  cat <<EOF
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: $1
  namespace: argocd
  finalizers: [resources-finalizer.argocd.argoproj.io]
spec:
  project: ${PROJECT:-default}
  source:
    repoURL: ${REPOURL:-$REPO}
    targetRevision: ${REV:-HEAD}
    path: $2
  destination:
    server: https://kubernetes.default.svc
    namespace: $3
  syncPolicy:
${SYNCPOLICY:-$AUTO_SP}
${4:-}
EOF
}
jp() { kv get "$1" "$2" -n "${3:-argocd}" -o "jsonpath=$4"; }
app_is() { [ "$(jp app "$1" argocd '{.status.sync.status}/{.status.health.status}')" = "$2" ]; }

# ---- content ---------------------------------------------------------------
mkdir -p "$REPO/root" "$REPO/mid" "$REPO/leaf" "$REPO/waves" "$REPO/heal" "$REPO/hooks" \
  "$REPO/roll" "$REPO/good" "$REPO/broken" "$REPO/kust" "$REPO/ssa" "$REPO/retry" \
  "$REPO/slow" "$REPO/remote" "$REPO/oos" "$REPO/clusterwide" "$REPO/respect" \
  "$REPO/multi1" "$REPO/multi2" "$REPO/emptyable"
# App-of-Apps: root -> mid (an Application) -> leaf (an Application) -> cm
app mid mid argocd >"$REPO/root/mid.yaml"
app leaf leaf leaf-ns >"$REPO/mid/leaf.yaml"
cm leaf-cm 1 >"$REPO/leaf/cm.yaml"
# waves: names sort against the wave order on purpose
cm z-first 1 "  annotations: {argocd.argoproj.io/sync-wave: \"-1\"}" >"$REPO/waves/a.yaml"
cm m-second 1 >"$REPO/waves/b.yaml"
cm a-third 1 "  annotations: {argocd.argoproj.io/sync-wave: \"5\"}" >"$REPO/waves/c.yaml"
cm heal-cm 1 >"$REPO/heal/cm.yaml"
cm keep-cm 1 >"$REPO/heal/keep.yaml"
cm main-cm 1 >"$REPO/hooks/cm.yaml"
cm pre-hook 1 "  annotations: {argocd.argoproj.io/hook: PreSync}" >"$REPO/hooks/pre.yaml"
cm post-hook 1 "  annotations: {argocd.argoproj.io/hook: PostSync, argocd.argoproj.io/hook-delete-policy: HookSucceeded}" >"$REPO/hooks/post.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: gen-hook-\n  annotations: {argocd.argoproj.io/hook: PreSync}\ndata: {v: "1"}\n' >"$REPO/hooks/gen.yaml"
cm roll-cm v1 >"$REPO/roll/cm.yaml"
cm good-cm 1 >"$REPO/good/cm.yaml"
cm broken-cm 1 >"$REPO/broken/cm.yaml"
printf 'resources:\n- cm.yaml\n' >"$REPO/kust/kustomization.yaml"
cm kust-cm 1 >"$REPO/kust/cm.yaml"
cm ssa-cm 1 >"$REPO/ssa/cm.yaml"
cm replace-cm 1 "  annotations: {argocd.argoproj.io/sync-options: Replace=true}" >"$REPO/ssa/replace.yaml"
printf 'apiVersion: example.com/v1\nkind: Nope\nmetadata:\n  name: x\n' >"$REPO/retry/nope.yaml"
cm on-fail 1 "  annotations: {argocd.argoproj.io/hook: SyncFail}" >"$REPO/retry/onfail.yaml"
cat >"$REPO/slow/deploy.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: never-ready
spec:
  replicas: 1
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec: {containers: [{name: x, image: nginx}]}
EOF
cm after-deploy 1 "  annotations: {argocd.argoproj.io/sync-wave: \"1\"}" >"$REPO/slow/cm.yaml"
cm remote-cm 1 >"$REPO/remote/cm.yaml"
cm m1 1 >"$REPO/multi1/cm.yaml"
cm empty-cm 1 >"$REPO/emptyable/cm.yaml"
echo "not a manifest" >"$REPO/emptyable/README.md"
cm m2 1 >"$REPO/multi2/cm.yaml"
cat >"$REPO/multi2/ingress.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  annotations: {argocd.argoproj.io/ignore-healthcheck: "true"}
spec:
  tls: [{hosts: [secure.example.com]}]
  rules:
  - host: secure.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
  - host: plain.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
EOF
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: resp-cm\ndata:\n  v: "1"\n  w: "1"\n' >"$REPO/respect/cm.yaml"
cm oos-a 1 >"$REPO/oos/a.yaml"
cm oos-b 1 >"$REPO/oos/b.yaml"
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: made-by-app\n' >"$REPO/clusterwide/ns.yaml"
cm cw-cm 1 >"$REPO/clusterwide/cm.yaml"
commit init

# ---- App-of-Apps, three levels ----------------------------------------------
app root root argocd | kc apply -f - >/dev/null
if eventually 40 app_is leaf Synced/Healthy && eventually 20 app_is root Synced/Healthy; then
  pass "three-level App-of-Apps: root, mid and leaf Synced/Healthy"
else
  kc get app -n argocd >"$OUT" 2>&1
  failed "three-level App-of-Apps: root, mid and leaf Synced/Healthy"
fi
check_eq "leaf ConfigMap deployed by the third level" 1 "$(jp cm leaf-cm leaf-ns '{.data.v}')"
check_eq "tracking-id annotation (Argo CD 3 format)" "leaf:/ConfigMap:leaf-ns/leaf-cm" \
  "$(jp cm leaf-cm leaf-ns '{.metadata.annotations.argocd\.argoproj\.io/tracking-id}')"
check_eq "annotation+label tracking: the instance label is set too" leaf \
  "$(jp cm leaf-cm leaf-ns '{.metadata.labels.app\.kubernetes\.io/instance}')"
check_eq "child Application tracked by its parent" "root:argoproj.io/Application:argocd/mid" \
  "$(jp app mid argocd '{.metadata.annotations.argocd\.argoproj\.io/tracking-id}')"
check_eq "status.sync.revision is the commit" "$(git -C "$REPO" rev-parse HEAD)" \
  "$(jp app leaf argocd '{.status.sync.revision}')"

# ---- waves: order of the watch events ---------------------------------------
kc create namespace waves >/dev/null
timeout 60 kubectl get cm -n waves -w -o name >"$T/watch.txt" 2>/dev/null &
WPID=$!
sleep 1
app waves waves waves | kc apply -f - >/dev/null
eventually 30 app_is waves Synced/Healthy
sleep 0.5
kill $WPID 2>/dev/null
order=$(grep -v kube-root-ca "$T/watch.txt" | awk '!seen[$0]++' | sed 's|configmap/||' | tr '\n' ' ')
check_eq "sync waves applied in wave order (watch events)" "z-first m-second a-third " "$order"

# ---- hooks -------------------------------------------------------------------
app hooks hooks hooks | kc apply -f - >/dev/null
eventually 30 app_is hooks Synced/Healthy
check "PreSync hook created" kc get cm pre-hook -n hooks
check_out "PreSync hook with generateName created under a generated name" "gen-hook-" kc get cm -n hooks -o name
check_eq "PostSync hook with HookSucceeded deleted after the sync" "" \
  "$(kv get cm post-hook -n hooks -o name)"
check_out "hook phases recorded in operationState" "PostSync" \
  kc get app hooks -n argocd -o jsonpath='{.status.operationState.syncResult.resources}'

# ---- self-heal ----------------------------------------------------------------
app heal heal heal | kc apply -f - >/dev/null
eventually 30 app_is heal Synced/Healthy
kc patch cm heal-cm -n heal --type merge -p '{"data":{"v":"drifted"}}' >/dev/null
start=$(date +%s%N)
if eventually 5 sh -c "[ \"\$(kubectl get cm heal-cm -n heal -o jsonpath='{.data.v}')\" = 1 ]"; then
  pass "self-heal reverted a kubectl edit in $((($(date +%s%N) - start) / 1000000)) ms"
else
  failed "self-heal reverted a kubectl edit within 5 s"
fi

# a writer that keeps fighting Git meets a backoff (2 s, then x3) instead of a tight loop
kc patch cm heal-cm -n heal --type merge -p '{"data":{"v":"again"}}' >/dev/null
sleep 0.3
check_eq "repeated drift: self-heal backs off" again "$(jp cm heal-cm heal '{.data.v}')"
if eventually 8 sh -c "[ \"\$(kubectl get cm heal-cm -n heal -o jsonpath='{.data.v}')\" = 1 ]"; then
  pass "repeated drift reverted after the backoff"
else
  failed "repeated drift reverted after the backoff"
fi

# ---- prune + refresh annotation -----------------------------------------------
git -C "$REPO" rm -q heal/keep.yaml && commit "drop keep"
kc annotate app heal -n argocd argocd.argoproj.io/refresh=normal >/dev/null
if eventually 15 sh -c "! kubectl get cm keep-cm -n heal >/dev/null 2>&1"; then
  pass "prune removed the object whose file was deleted"
else
  failed "prune removed the object whose file was deleted"
fi
eventually 10 sh -c "[ -z \"\$(kubectl get app heal -n argocd -o jsonpath='{.metadata.annotations.argocd\\.argoproj\\.io/refresh}')\" ]"
check_eq "refresh annotation removed by the controller" "" \
  "$(jp app heal argocd '{.metadata.annotations.argocd\.argoproj\.io/refresh}')"

# ---- manual sync, history, rollback ---------------------------------------------
SYNCPOLICY="    syncOptions: [CreateNamespace=true]" app roll roll roll "  revisionHistoryLimit: 2" |
  kc apply -f - >/dev/null
eventually 15 app_is roll OutOfSync/Missing
check_out "manual app: OutOfSync, nothing applied" "OutOfSync" kc get app roll -n argocd
check "idp app sync" "$IDP_BIN" app sync roll
check_eq "synced content v1" v1 "$(jp cm roll-cm roll '{.data.v}')"
cm roll-cm v2 >"$REPO/roll/cm.yaml" && commit v2
kc annotate app roll -n argocd argocd.argoproj.io/refresh=normal >/dev/null
eventually 10 app_is roll OutOfSync/Healthy
check "idp app sync (second revision)" "$IDP_BIN" app sync roll
check_eq "synced content v2" v2 "$(jp cm roll-cm roll '{.data.v}')"
check_out "idp app history lists two deployments" "$(git -C "$REPO" rev-parse HEAD)" "$IDP_BIN" app history roll
check_eq "history has 2 entries" 2 "$(kv get app roll -n argocd -o json | jq '.status.history | length')"
check "idp app rollback to history id 0" "$IDP_BIN" app rollback roll 0
check_eq "rollback restored v1" v1 "$(jp cm roll-cm roll '{.data.v}')"
check_eq "history trimmed to revisionHistoryLimit (2), ids keep counting" "1 2" \
  "$(kv get app roll -n argocd -o json | jq -r '[.status.history[].id] | join(" ")')"
eventually 10 app_is roll OutOfSync/Healthy
check_out "after rollback the app is OutOfSync with HEAD" "OutOfSync" kc get app roll -n argocd
fail_out "rollback refused with auto-sync" "auto-sync" "$IDP_BIN" app rollback heal 0
"$IDP_BIN" app diff roll >"$T/diff.txt" 2>&1
check_eq "idp app diff exits 1 on differences" 1 "$?"
check_out "idp app diff shows live v1 against desired v2" '+  v: v2' cat "$T/diff.txt"
check "idp app diff exits 0 for a synced app" "$IDP_BIN" app diff leaf

# ---- webhook ------------------------------------------------------------------
cm heal-cm 2 >"$REPO/heal/cm.yaml" && commit "heal v2"
body='{"ref":"refs/heads/main","repository":{"clone_url":"'"$REPO"'","default_branch":"main"}}'
bad=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST "http://127.0.0.1:$WPORT/api/webhook" \
  -H 'X-GitHub-Event: push' -H 'Content-Type: application/json' -H 'X-Hub-Signature-256: sha256=0000' -d "$body")
check_eq "webhook with a bad signature: 401" 401 "$bad"
sleep 4
check_eq "bad webhook changed nothing" 1 "$(jp cm heal-cm heal '{.data.v}')"
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/^.*= //')
good=$(curl -s -o "$T/wh.txt" -w '%{http_code}' --max-time 10 -X POST "http://127.0.0.1:$WPORT/api/webhook" \
  -H 'X-GitHub-Event: push' -H 'Content-Type: application/json' -H "X-Hub-Signature-256: sha256=$sig" -d "$body")
check_eq "webhook with a good signature: 200" 200 "$good"
if eventually 5 sh -c "[ \"\$(kubectl get cm heal-cm -n heal -o jsonpath='{.data.v}')\" = 2 ]"; then
  pass "good webhook refreshed and synced the new commit at once"
else
  failed "good webhook refreshed and synced the new commit at once"
fi

# ---- client-side apply: a field removed from Git is removed from the object --------
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: heal-cm\ndata:\n  v: "2"\n  extra: "x"\n' >"$REPO/heal/cm.yaml"
commit "extra key"
kc annotate app heal -n argocd argocd.argoproj.io/refresh=normal --overwrite >/dev/null
eventually 10 sh -c "[ \"\$(kubectl get cm heal-cm -n heal -o jsonpath='{.data.extra}')\" = x ]"
check_eq "added key applied" x "$(jp cm heal-cm heal '{.data.extra}')"
cm heal-cm 2 >"$REPO/heal/cm.yaml" && commit "drop extra key"
kc annotate app heal -n argocd argocd.argoproj.io/refresh=normal --overwrite >/dev/null
eventually 10 sh -c "[ -z \"\$(kubectl get cm heal-cm -n heal -o jsonpath='{.data.extra}')\" ]"
check_eq "key removed from Git removed from the live object (3-way apply)" "" "$(jp cm heal-cm heal '{.data.extra}')"

# ---- Applications in other namespaces (--application-namespaces) ------------------
kc create namespace team-a >/dev/null
kc create namespace team-b >/dev/null
kc create namespace other >/dev/null
kc apply -f - >/dev/null <<EOF
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: team-a, namespace: argocd}
spec:
  sourceRepos: ['*']
  sourceNamespaces: [team-a]
  destinations: [{server: '*', namespace: '*'}]
  clusterResourceWhitelist: [{group: '*', kind: '*'}]
EOF
for n in team-a team-b other; do
  PROJECT=team-a app "x-$n" good "ns-$n" | sed "s/namespace: argocd$/namespace: $n/" | kc apply -f - >/dev/null
done
eventually 20 sh -c "[ \"\$(kubectl get app x-team-a -n team-a -o jsonpath='{.status.sync.status}')\" = Synced ]"
check_eq "app in a listed namespace (team-a) synced" Synced "$(jp app x-team-a team-a '{.status.sync.status}')"
check_eq "its objects are tracked as <ns>_<name>" "team-a_x-team-a:/ConfigMap:ns-team-a/good-cm" \
  "$(jp cm good-cm ns-team-a '{.metadata.annotations.argocd\.argoproj\.io/tracking-id}')"
eventually 20 sh -c "kubectl get app x-team-b -n team-b -o jsonpath='{.status.conditions}' | grep -q InvalidSpecError"
check_out "project without that sourceNamespace: InvalidSpecError" "not permitted to use project" \
  kc get app x-team-b -n team-b -o jsonpath='{.status.conditions}'
check_eq "app in an unlisted namespace is not processed" "" "$(jp app x-other other '{.status}')"

# ---- AppProject restrictions --------------------------------------------------
kc apply -f - >/dev/null <<EOF
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: locked, namespace: argocd}
spec:
  sourceRepos: ['https://example.com/*']
  destinations: [{server: '*', namespace: 'team-*'}]
  clusterResourceWhitelist: []
EOF
PROJECT=locked app locked good good-locked | kc apply -f - >/dev/null
eventually 15 sh -c "kubectl get app locked -n argocd -o jsonpath='{.status.conditions}' | grep -q InvalidSpecError"
check_out "project violation: InvalidSpecError condition" "is not permitted in project 'locked'" \
  kc get app locked -n argocd -o jsonpath='{.status.conditions}'
check_eq "project violation: nothing applied" "" "$(kv get cm good-cm -n good-locked -o name)"
kc apply -f - >/dev/null <<EOF
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: nocluster, namespace: argocd}
spec:
  sourceRepos: ['*']
  destinations: [{server: '*', namespace: '*'}]
EOF
PROJECT=nocluster app clusterwide clusterwide cw | kc apply -f - >/dev/null
eventually 15 sh -c "kubectl get app clusterwide -n argocd -o jsonpath='{.status.conditions}' | grep -q InvalidSpecError"
check_out "cluster-scoped kind outside clusterResourceWhitelist: InvalidSpecError" "Namespace is not permitted in project nocluster" \
  kc get app clusterwide -n argocd -o jsonpath='{.status.conditions}'
check_eq "... and nothing of that app applied" "" "$(kv get cm cw-cm -n cw -o name)"

# ---- bad inputs ------------------------------------------------------------------
app good good good | kc apply -f - >/dev/null
app broken broken broken | kc apply -f - >/dev/null
app kust kust kust | kc apply -f - >/dev/null
REPOURL=$T/no-such-repo app unreach good unreach | kc apply -f - >/dev/null
REV=no-such-branch app norev good norev | kc apply -f - >/dev/null
eventually 20 app_is broken Synced/Healthy
eventually 20 app_is kust Synced/Healthy
cond() { kv get app "$1" -n argocd -o jsonpath='{.status.conditions[*].message}'; }
eventually 20 sh -c "kubectl get app unreach -n argocd -o jsonpath='{.status.conditions}' | grep -q ComparisonError"
check_out "unreachable repository: ComparisonError" "unreachable" cond unreach
eventually 20 sh -c "kubectl get app norev -n argocd -o jsonpath='{.status.conditions}' | grep -q ComparisonError"
check_out "missing revision: ComparisonError naming it" "no-such-branch not found" cond norev
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\ndata: [\n' >"$REPO/broken/bad.yaml"
printf 'resources:\n- cm.yaml\n- missing.yaml\n' >"$REPO/kust/kustomization.yaml"
cm broken-cm 2 >"$REPO/broken/cm.yaml"
commit "break things"
kc annotate app broken kust -n argocd argocd.argoproj.io/refresh=normal >/dev/null
eventually 20 sh -c "kubectl get app broken -n argocd -o jsonpath='{.status.conditions}' | grep -q ComparisonError"
check_out "broken YAML: ComparisonError naming the file" "bad.yaml" cond broken
check_eq "broken YAML: last applied state kept" 1 "$(jp cm broken-cm broken '{.data.v}')"
eventually 20 sh -c "kubectl get app kust -n argocd -o jsonpath='{.status.conditions}' | grep -q ComparisonError"
check_out "kustomization with a missing file: ComparisonError naming it" "missing.yaml" cond kust
check_eq "kustomize app keeps its objects" 1 "$(jp cm kust-cm kust '{.data.v}')"
check_out "other applications untouched" "Synced" kc get app good -n argocd -o jsonpath='{.status.sync.status}'

# ---- sync options: ServerSideApply, Replace --------------------------------------
SYNCPOLICY="    automated: {prune: true}
    syncOptions: [CreateNamespace=true, ServerSideApply=true]" app ssa ssa ssa | kc apply -f - >/dev/null
eventually 20 app_is ssa Synced/Healthy
check_out "ServerSideApply=true: applied by the argocd-controller field manager" "argocd-controller" \
  kc get cm ssa-cm -n ssa --show-managed-fields -o jsonpath='{.metadata.managedFields[*].manager}'
check_eq "Replace=true: no last-applied annotation (create/replace, not apply)" "" \
  "$(jp cm replace-cm ssa '{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}')"
check_eq "client-side apply keeps kubectl's last-applied annotation" "true" \
  "$(kv get cm leaf-cm -n leaf-ns -o json | jq '.metadata.annotations | has("kubectl.kubernetes.io/last-applied-configuration")')"

# ---- ApplyOutOfSyncOnly: only the changed object is applied ------------------------
SYNCPOLICY="    syncOptions: [CreateNamespace=true, ApplyOutOfSyncOnly=true]" app oos oos oos | kc apply -f - >/dev/null
eventually 10 app_is oos OutOfSync/Missing
check "idp app sync (ApplyOutOfSyncOnly, first)" "$IDP_BIN" app sync oos
cm oos-b 2 >"$REPO/oos/b.yaml" && commit "oos b"
kc annotate app oos -n argocd argocd.argoproj.io/refresh=normal >/dev/null
eventually 10 app_is oos OutOfSync/Healthy
check "idp app sync (ApplyOutOfSyncOnly, second)" "$IDP_BIN" app sync oos
check_eq "ApplyOutOfSyncOnly: the sync applied only the OutOfSync object" "oos-b" \
  "$(kv get app oos -n argocd -o json | jq -r '[.status.operationState.syncResult.resources[].name] | join(",")')"

# ---- FailOnSharedResource, RespectIgnoreDifferences --------------------------------
SYNCPOLICY="    syncOptions: [FailOnSharedResource=true]" app shared heal heal | kc apply -f - >/dev/null
eventually 10 sh -c "kubectl get app shared -n argocd -o jsonpath='{.status.sync.status}' | grep -q ."
fail_out "FailOnSharedResource: syncing an object another app tracks fails" "is part of applications heal and shared" \
  "$IDP_BIN" app sync shared
kc delete app shared -n argocd --wait=false >/dev/null 2>&1
SYNCPOLICY="    automated: {}
    syncOptions: [CreateNamespace=true, RespectIgnoreDifferences=true]" app respect respect respect \
  "  ignoreDifferences: [{kind: ConfigMap, jsonPointers: [/data/v]}]" | kc apply -f - >/dev/null
eventually 20 app_is respect Synced/Healthy
kc patch cm resp-cm -n respect --type merge -p '{"data":{"v":"by-hand"}}' >/dev/null
sleep 1
check_eq "ignored field changed live: still Synced" Synced "$(jp app respect argocd '{.status.sync.status}')"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: resp-cm\ndata:\n  v: "1"\n  w: "2"\n' >"$REPO/respect/cm.yaml"
commit "respect w"
kc annotate app respect -n argocd argocd.argoproj.io/refresh=normal >/dev/null
eventually 15 sh -c "[ \"\$(kubectl get cm resp-cm -n respect -o jsonpath='{.data.w}')\" = 2 ]"
check_eq "RespectIgnoreDifferences: the sync applied the new field" 2 "$(jp cm resp-cm respect '{.data.w}')"
check_eq "RespectIgnoreDifferences: ... and kept the ignored live value" by-hand "$(jp cm resp-cm respect '{.data.v}')"

# ---- multiple sources --------------------------------------------------------------
kc apply -f - >/dev/null <<EOF
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: multi, namespace: argocd}
spec:
  project: default
  sources:
  - {repoURL: $REPO, targetRevision: HEAD, path: multi1}
  - {repoURL: $REPO, targetRevision: HEAD, path: multi2}
  - {repoURL: $REPO, targetRevision: HEAD, ref: values}
  destination: {server: https://kubernetes.default.svc, namespace: multi}
  syncPolicy: {automated: {}, syncOptions: [CreateNamespace=true]}
EOF
eventually 20 app_is multi Synced/Healthy
check_eq "sources: objects of every source applied" "m1 m2" \
  "$(kv get cm -n multi -o name | grep -v kube-root | sed 's|configmap/||' | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "summary.externalURLs from Ingress hosts (ignore-healthcheck keeps the app Healthy)" \
  "http://plain.example.com https://secure.example.com" \
  "$(kv get app multi -n argocd -o json | jq -r '.status.summary.externalURLs | sort | join(" ")')"
check_eq "status.sync.revisions lists one commit per rendered source" 2 \
  "$(kv get app multi -n argocd -o json | jq '.status.sync.revisions | length')"

# ---- allowEmpty: auto-sync with prune refuses to delete everything -------------------
app empty emptyable emptyable | kc apply -f - >/dev/null
eventually 20 app_is empty Synced/Healthy
git -C "$REPO" rm -q emptyable/cm.yaml && commit "empty the path"
kc annotate app empty -n argocd argocd.argoproj.io/refresh=normal >/dev/null
eventually 15 sh -c "kubectl get app empty -n argocd -o jsonpath='{.status.conditions}' | grep -q 'wipe out'"
check_out "automated prune refuses to wipe out every resource" "allowEmpty" \
  kc get app empty -n argocd -o jsonpath='{.status.conditions}'
check_eq "... and the object stays" 1 "$(jp cm empty-cm emptyable '{.data.v}')"
kc patch app empty -n argocd --type merge -p '{"spec":{"syncPolicy":{"automated":{"allowEmpty":true}}}}' >/dev/null
if eventually 15 sh -c "! kubectl get cm empty-cm -n emptyable >/dev/null 2>&1"; then
  pass "with allowEmpty the last object is pruned"
else
  failed "with allowEmpty the last object is pruned"
fi

# ---- retries with backoff ------------------------------------------------------------
SYNCPOLICY="    automated: {}
    syncOptions: [CreateNamespace=true]
    retry: {limit: 2, backoff: {duration: 1s, factor: 1}}" app retry retry retry | kc apply -f - >/dev/null
if eventually 20 sh -c "[ \"\$(kubectl get app retry -n argocd -o jsonpath='{.status.operationState.retryCount}')\" = 2 ]"; then
  pass "failed sync retried with backoff up to syncPolicy.retry.limit"
else
  kc get app retry -n argocd -o jsonpath='{.status.operationState}' >"$OUT" 2>&1
  failed "failed sync retried with backoff up to syncPolicy.retry.limit"
fi
check_out "sync failure names the resource" "Nope" kc get app retry -n argocd -o jsonpath='{.status.operationState.message}'
check_out "SyncError condition" "SyncError" kc get app retry -n argocd -o jsonpath='{.status.conditions}'
check "SyncFail hook ran after the failed sync" kc get cm on-fail -n retry

# ---- a wave waits for the previous one to be healthy -----------------------------------
app slow slow slow | kc apply -f - >/dev/null
eventually 10 sh -c "[ \"\$(kubectl get app slow -n argocd -o jsonpath='{.status.operationState.phase}')\" = Running ]"
check_eq "operation Running while wave 0 (a Deployment without kubelet) is not healthy" Running \
  "$(jp app slow argocd '{.status.operationState.phase}')"
check_eq "wave 1 not applied before wave 0 is healthy" "" "$(kv get cm after-deploy -n slow -o name)"
eventually 20 sh -c "[ \"\$(kubectl get app slow -n argocd -o jsonpath='{.status.operationState.phase}')\" = Failed ]"
check_out "health wait times out into a failed operation" "timed out" \
  kc get app slow -n argocd -o jsonpath='{.status.operationState.message}'

# ---- GitLab webhook token ------------------------------------------------------------
glbody='{"object_kind":"push","ref":"refs/heads/main","project":{"git_http_url":"'"$REPO"'","default_branch":"main"}}'
check_eq "GitLab webhook with a wrong token: 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
  -X POST "http://127.0.0.1:$WPORT/api/webhook" -H 'X-Gitlab-Event: Push Hook' -H 'X-Gitlab-Token: nope' -d "$glbody")"
check_eq "GitLab webhook with the token: 200" 200 "$(curl -s -o "$T/gl.txt" -w '%{http_code}' --max-time 10 \
  -X POST "http://127.0.0.1:$WPORT/api/webhook" -H 'X-Gitlab-Event: Push Hook' -H 'X-Gitlab-Token: gl-token' -d "$glbody")"
check_out "GitLab push refreshed the matching applications" "refreshed" cat "$T/gl.txt"

# ---- another cluster from a cluster Secret ----------------------------------------------
P2=$(free_port)
"$IDP_BIN" up --data-dir "$T/data2" --listen "127.0.0.1:$P2" --no-controllers >"$T/server2.log" 2>&1 &
S2_PID=$!
eventually 30 curl -sf --max-time 2 --cacert "$T/data2/ca.crt" "https://127.0.0.1:$P2/readyz"
TOKEN2=$(sed -n 's/^ *token: *//p' "$T/data2/kubeconfig" | head -1 | tr -d "\"'")
CA2=$(base64 -w0 <"$T/data2/ca.crt")
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: cluster-remote
  namespace: argocd
  labels: {argocd.argoproj.io/secret-type: cluster}
stringData:
  name: remote
  server: https://127.0.0.1:$P2
  config: '{"bearerToken":"$TOKEN2","tlsClientConfig":{"caData":"$CA2"}}'
EOF
app remote remote remote-ns | sed 's|server: https://kubernetes.default.svc|name: remote|' | kc apply -f - >/dev/null
eventually 30 app_is remote Synced/Healthy
check_eq "destination from a cluster Secret: object created in the other cluster" 1 \
  "$(KUBECONFIG=$T/data2/kubeconfig kv get cm remote-cm -n remote-ns -o jsonpath='{.data.v}')"
check_eq "... and not in the local one" "" "$(kv get cm remote-cm -n remote-ns -o name)"

# ---- a private http(s) repository: credentials from a repository Secret ----------
HPORT=$(free_port)
git clone -q --bare "$REPO" "$T/http/private.git"
python3 - "$T/http" "$HPORT" >"$T/http.log" 2>&1 <<'PY' &
import base64, http.server, os, subprocess, sys
root, port = sys.argv[1], int(sys.argv[2])
want = "Basic " + base64.b64encode(b"deploy:s3cr3t-token").decode()
class H(http.server.BaseHTTPRequestHandler):
    def handle_one(self):
        if self.headers.get("Authorization") != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
                   QUERY_STRING=query, REQUEST_METHOD=self.command, REMOTE_USER="deploy",
                   CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(len(body)))
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, rest = out.partition(b"\r\n\r\n")
        status = 200
        hdrs = []
        for line in head.decode().split("\r\n"):
            k, _, v = line.partition(": ")
            if k.lower() == "status": status = int(v.split()[0])
            elif k: hdrs.append((k, v))
        self.send_response(status)
        for k, v in hdrs: self.send_header(k, v)
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)
    do_GET = do_POST = handle_one
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
HTTP_PID=$!
eventually 10 sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$HPORT/private.git/info/refs | grep -q 401"
REPOURL=http://127.0.0.1:$HPORT/private.git app private good private | kc apply -f - >/dev/null
eventually 20 sh -c "kubectl get app private -n argocd -o jsonpath='{.status.conditions}' | grep -q ComparisonError"
check_out "private repository without credentials: ComparisonError" "authentication" \
  kc get app private -n argocd -o jsonpath='{.status.conditions}'
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: repo-private
  namespace: argocd
  labels: {argocd.argoproj.io/secret-type: repository}
stringData:
  url: http://127.0.0.1:$HPORT/private.git
  username: deploy
  password: s3cr3t-token
EOF
kc annotate app private -n argocd argocd.argoproj.io/refresh=normal >/dev/null
eventually 20 app_is private Synced/Healthy
check_eq "credentials from the repository Secret: the private repository synced" 1 \
  "$(jp cm good-cm private '{.data.v}')"
kill $HTTP_PID 2>/dev/null
HTTP_PID=
if grep -q 's3cr3t-token' "$T/ctl.log"; then failed "the repository password never appears in the log"; else pass "the repository password never appears in the log"; fi

# ---- cascading delete -------------------------------------------------------------
kc delete app good -n argocd --wait=false >/dev/null
if eventually 20 sh -c "! kubectl get cm good-cm -n good >/dev/null 2>&1 && ! kubectl get app good -n argocd >/dev/null 2>&1"; then
  pass "resources-finalizer: deleting the app deleted its objects, then the app"
else
  failed "resources-finalizer: deleting the app deleted its objects, then the app"
fi
check_out "idp app list shows applications" "leaf" "$IDP_BIN" app list
cleanup_ctl
if grep -qE '"level":"error"|AddressSanitizer|runtime error' "$T/ctl.log"; then
  grep -E '"level":"error"|AddressSanitizer|runtime error' "$T/ctl.log" | head -5 >"$OUT"
  failed "controller logged no errors"
else
  pass "controller logged no errors"
fi
finish
