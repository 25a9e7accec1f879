#!/usr/bin/env bash
# gitops_app_embedded.sh: the Application controller as `idp up` runs it
# (default controllers): the CRDs and the default AppProject exist at
# start, and an App-of-Apps from a local git repository syncs.
. "$(dirname "$0")/lib.sh"

start_server || finish
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@e GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@e
REPO=$T/repo
mkdir -p "$REPO/root" "$REPO/child"
git -C "$REPO" init -q -b main
app() { # name path namespace
  printf 'apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: %s\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: %s\n    path: %s\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: %s\n  syncPolicy:\n    automated: {prune: true, selfHeal: true}\n    syncOptions: [CreateNamespace=true]\n' "$1" "$REPO" "$2" "$3"
}
app child child embedded-ns >"$REPO/root/child.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-git\ndata:\n  v: "1"\n' >"$REPO/child/cm.yaml"
git -C "$REPO" add -A && git -C "$REPO" commit -qm init

eventually 30 kc get crd applications.argoproj.io
check "Application CRD installed by idp up" kc get crd applications.argoproj.io appprojects.argoproj.io
eventually 10 kc get appproject default -n argocd
check "default AppProject created by idp up" kc get appproject default -n argocd
app root root argocd | kc apply -f - >/dev/null
st() { kv get app "$1" -n argocd -o jsonpath='{.status.sync.status}/{.status.health.status}'; }
eventually 40 sh -c "[ \"\$(kubectl get app child -n argocd -o jsonpath='{.status.sync.status}/{.status.health.status}')\" = Synced/Healthy ]"
check_eq "child Application synced by the embedded controller" Synced/Healthy "$(st child)"
eventually 20 sh -c "[ \"\$(kubectl get app root -n argocd -o jsonpath='{.status.sync.status}/{.status.health.status}')\" = Synced/Healthy ]"
check_eq "root Application (App-of-Apps) Synced/Healthy" Synced/Healthy "$(st root)"
check_eq "object from Git deployed" 1 "$(kv get cm from-git -n embedded-ns -o jsonpath='{.data.v}')"
check_out "kubectl printer columns of Applications" "SYNC STATUS" kc get applications -n argocd
finish
