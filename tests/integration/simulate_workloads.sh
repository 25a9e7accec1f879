#!/usr/bin/env bash
# tests/integration/simulate_workloads.sh: the workload simulator
# (src/simulate) under `idp up` with real kubectl: a Deployment rolls out
# (`kubectl rollout status`, `kubectl wait --for=condition=Available`) through
# a ReplicaSet it owns, scaling updates the status, a new image makes a new
# ReplicaSet and scales the old one to 0, `rollout undo` goes back, a paused
# Deployment says so, a StatefulSet and a DaemonSet are ready, Jobs
# complete, ReplicaSet Pods exist with --create-pods, objects carry the
# idp.io/simulated annotation, and an idle simulator writes nothing.
# The simulator runs as build/tests/unit/simulate/simulate_run against the
# server's kubeconfig (until `idp up` starts it itself; then both write the
# same statuses, which is harmless).
. "$(dirname "$0")/lib.sh"

RUNNER=${SIM_RUNNER:-"$(dirname "$IDP_BIN")/tests/unit/simulate/simulate_run"}
CTL_PID=
stop_ctl() { [ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null; CTL_PID=; }
trap 'stop_ctl; _on_exit' EXIT

if [ ! -x "$RUNNER" ]; then
  : >"$OUT"
  failed "simulate_run is built" "missing $RUNNER (ninja -C $(dirname "$IDP_BIN") tests/unit/simulate/simulate_run)"
  finish
fi
start_server || finish
"$RUNNER" --kubeconfig "$KUBECONFIG" --delay-ms 1000 --create-pods >>"$T/ctl.log" 2>&1 &
CTL_PID=$!

NS=sim
check "create namespace" kc create namespace $NS

deploy() { # name image replicas
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $1
  namespace: $NS
spec:
  replicas: $3
  selector:
    matchLabels: {app: $1}
  template:
    metadata:
      labels: {app: $1}
    spec:
      containers:
      - name: app
        image: $2
EOF
}

jp() { kv -n $NS get "$1" "$2" -o jsonpath="$3"; }

deploy web nginx:1.25 2 >"$T/web.yaml"
check "apply a Deployment" kc apply -f "$T/web.yaml"
prog() { [ "$(jp deploy web '{.status.conditions[?(@.type=="Progressing")].reason}')" = ReplicaSetUpdated ] ||
  [ "$(jp deploy web '{.status.conditions[?(@.type=="Progressing")].reason}')" = NewReplicaSetAvailable ]; }
if eventually 10 prog; then pass "Progressing condition is set"; else failed "Progressing condition is set"; fi
check_out "kubectl rollout status succeeds" "successfully rolled out" \
  kc -n $NS rollout status deployment/web --timeout=20s
check "kubectl wait --for=condition=Available" kc -n $NS wait --for=condition=Available deployment/web --timeout=20s
check_eq "readyReplicas = 2" 2 "$(jp deploy web '{.status.readyReplicas}')"
check_eq "availableReplicas = 2" 2 "$(jp deploy web '{.status.availableReplicas}')"
check_eq "no unavailableReplicas" "" "$(jp deploy web '{.status.unavailableReplicas}')"
check_eq "observedGeneration = generation" "$(jp deploy web '{.metadata.generation}')" "$(jp deploy web '{.status.observedGeneration}')"
check_eq "Progressing reason NewReplicaSetAvailable" NewReplicaSetAvailable \
  "$(jp deploy web '{.status.conditions[?(@.type=="Progressing")].reason}')"
check_eq "Deployment annotated idp.io/simulated" true "$(jp deploy web '{.metadata.annotations.idp\.io/simulated}')"
check_eq "Deployment revision annotation" 1 "$(jp deploy web '{.metadata.annotations.deployment\.kubernetes\.io/revision}')"

RS1=$(kv -n $NS get rs -l app=web -o jsonpath='{.items[0].metadata.name}')
HASH=$(jp rs "$RS1" '{.metadata.labels.pod-template-hash}')
check_eq "ReplicaSet named <deploy>-<pod-template-hash>" "web-$HASH" "$RS1"
check_eq "ReplicaSet owned by the Deployment" "Deployment/web/true" \
  "$(jp rs "$RS1" '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}')"
check_eq "ReplicaSet owner uid" "$(jp deploy web '{.metadata.uid}')" "$(jp rs "$RS1" '{.metadata.ownerReferences[0].uid}')"
rs_ready() { [ "$(jp rs "$1" '{.status.readyReplicas}')" = "$2" ]; }
if eventually 10 rs_ready "$RS1" 2; then pass "ReplicaSet status readyReplicas = 2"; else failed "ReplicaSet status readyReplicas = 2"; fi
check_eq "ReplicaSet selector has pod-template-hash" "$HASH" "$(jp rs "$RS1" '{.spec.selector.matchLabels.pod-template-hash}')"

pods_running() { # label count
  [ "$(kv -n $NS get pods -l "$1" -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c Running)" = "$2" ]; }
if eventually 10 pods_running "pod-template-hash=$HASH" 2; then pass "--create-pods: 2 Running Pods"; else
  kv -n $NS get pods -o wide >"$OUT"; failed "--create-pods: 2 Running Pods"; fi
check_out "Pods have a podIP" "10.244." kc -n $NS get pods -l app=web -o jsonpath='{.items[*].status.podIP}'

# scale
check "kubectl scale --replicas=4" kc -n $NS scale deployment/web --replicas=4
check_out "rollout status after scaling" "successfully rolled out" kc -n $NS rollout status deployment/web --timeout=20s
ready4() { [ "$(jp deploy web '{.status.readyReplicas}')" = 4 ] && [ "$(jp deploy web '{.status.replicas}')" = 4 ]; }
if eventually 10 ready4; then pass "scaling updates the Deployment status"; else failed "scaling updates the Deployment status"; fi
if eventually 10 rs_ready "$RS1" 4; then pass "scaling updates the ReplicaSet"; else failed "scaling updates the ReplicaSet"; fi
if eventually 10 pods_running "pod-template-hash=$HASH" 4; then pass "scaling creates Pods"; else failed "scaling creates Pods"; fi

# new image: new ReplicaSet, old scaled to 0
check "kubectl set image" kc -n $NS set image deployment/web app=nginx:1.26
check_out "rollout status after a new image" "successfully rolled out" kc -n $NS rollout status deployment/web --timeout=20s
two_rs() { [ "$(kv -n $NS get rs -l app=web -o name | wc -l)" = 2 ]; }
if eventually 10 two_rs; then pass "a new image creates a second ReplicaSet"; else failed "a new image creates a second ReplicaSet"; fi
RS2=$(kv -n $NS get rs -l app=web -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | grep -vx "$RS1" | head -1)
check_eq "new ReplicaSet has 4 replicas" 4 "$(jp rs "$RS2" '{.spec.replicas}')"
check_eq "new ReplicaSet has the new image" nginx:1.26 "$(jp rs "$RS2" '{.spec.template.spec.containers[0].image}')"
check_eq "new ReplicaSet is revision 2" 2 "$(jp rs "$RS2" '{.metadata.annotations.deployment\.kubernetes\.io/revision}')"
check_eq "old ReplicaSet scaled to 0" 0 "$(jp rs "$RS1" '{.spec.replicas}')"
old_gone() { [ "$(jp rs "$RS1" '{.status.replicas}')" = 0 ] && pods_running "pod-template-hash=$HASH" 0; }
if eventually 10 old_gone; then pass "old ReplicaSet status and Pods go to 0"; else failed "old ReplicaSet status and Pods go to 0"; fi
check_out "kubectl rollout history shows 2 revisions" "2 " kc -n $NS rollout history deployment/web

# rollback to the first template re-uses its ReplicaSet as revision 3
check "kubectl rollout undo" kc -n $NS rollout undo deployment/web
back() { [ "$(jp rs "$RS1" '{.spec.replicas}')" = 4 ] && [ "$(jp rs "$RS2" '{.spec.replicas}')" = 0 ]; }
if eventually 10 back; then pass "rollback scales the first ReplicaSet back up"; else failed "rollback scales the first ReplicaSet back up"; fi
check_eq "rolled-back ReplicaSet is revision 3" 3 "$(jp rs "$RS1" '{.metadata.annotations.deployment\.kubernetes\.io/revision}')"
check_out "rollout status after undo" "successfully rolled out" kc -n $NS rollout status deployment/web --timeout=20s

# paused
check "kubectl rollout pause" kc -n $NS rollout pause deployment/web
check "set image while paused" kc -n $NS set image deployment/web app=nginx:1.27
paused() { [ "$(jp deploy web '{.status.conditions[?(@.type=="Progressing")].reason}')" = DeploymentPaused ]; }
if eventually 10 paused; then pass "paused Deployment: Progressing DeploymentPaused"; else failed "paused Deployment: Progressing DeploymentPaused"; fi
check_eq "paused Deployment makes no new ReplicaSet" 2 "$(kv -n $NS get rs -l app=web -o name | wc -l)"
check "kubectl rollout resume" kc -n $NS rollout resume deployment/web
check_out "rollout completes after resume" "successfully rolled out" kc -n $NS rollout status deployment/web --timeout=20s
check_eq "resume creates the third ReplicaSet" 3 "$(kv -n $NS get rs -l app=web -o name | wc -l)"

# zero replicas
deploy zero nginx:1.25 0 >"$T/zero.yaml"
check "apply a Deployment with replicas 0" kc apply -f "$T/zero.yaml"
check_out "replicas 0 rolls out" "successfully rolled out" kc -n $NS rollout status deployment/zero --timeout=20s
check_eq "replicas 0: no Pods" 0 "$(kv -n $NS get pods -l app=zero -o name | wc -l)"

# StatefulSet and DaemonSet
cat >"$T/sts.yaml" <<EOF
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: $NS}
spec:
  serviceName: db
  replicas: 3
  updateStrategy: {type: RollingUpdate}
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres:16}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: $NS}
spec:
  selector: {matchLabels: {app: agent}}
  updateStrategy: {type: RollingUpdate}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: fluent-bit:3}]}
EOF
check "apply a StatefulSet and a DaemonSet" kc apply -f "$T/sts.yaml"
sts_ready() { [ "$(jp sts db '{.status.readyReplicas}')" = 3 ]; }
if eventually 10 sts_ready; then pass "StatefulSet readyReplicas = 3"; else kv -n $NS get sts db -o yaml >"$OUT"; failed "StatefulSet readyReplicas = 3"; fi
check_eq "StatefulSet currentRevision = updateRevision" "$(jp sts db '{.status.updateRevision}')" "$(jp sts db '{.status.currentRevision}')"
check_out "StatefulSet rollout status" "rolling update complete 3 pods" kc -n $NS rollout status statefulset/db --timeout=20s
ds_ready() { [ "$(jp ds agent '{.status.numberReady}')" = 1 ]; }
if eventually 10 ds_ready; then pass "DaemonSet numberReady = 1"; else kv -n $NS get ds agent -o yaml >"$OUT"; failed "DaemonSet numberReady = 1"; fi
check_eq "DaemonSet desired/current/updated/available" "1/1/1/1/0" \
  "$(jp ds agent '{.status.desiredNumberScheduled}/{.status.currentNumberScheduled}/{.status.updatedNumberScheduled}/{.status.numberAvailable}/{.status.numberMisscheduled}')"
check_out "DaemonSet rollout status" "successfully rolled out" kc -n $NS rollout status daemonset/agent --timeout=20s
check_eq "StatefulSet annotated idp.io/simulated" true "$(jp sts db '{.metadata.annotations.idp\.io/simulated}')"

# Jobs
cat >"$T/job.yaml" <<EOF
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: $NS}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: busybox:1.36}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: later, namespace: $NS}
spec:
  suspend: true
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: busybox:1.36}]
EOF
check "apply Jobs" kc apply -f "$T/job.yaml"
check "kubectl wait --for=condition=Complete job/migrate" kc -n $NS wait --for=condition=Complete job/migrate --timeout=20s
check_eq "Job succeeded = completions" 3 "$(jp job migrate '{.status.succeeded}')"
check_eq "Job SuccessCriteriaMet" True "$(jp job migrate '{.status.conditions[?(@.type=="SuccessCriteriaMet")].status}')"
if [ -n "$(jp job migrate '{.status.completionTime}')" ] && [ -n "$(jp job migrate '{.status.startTime}')" ]; then
  pass "Job has startTime and completionTime"; else failed "Job has startTime and completionTime"; fi
susp() { [ "$(jp job later '{.status.conditions[?(@.type=="Suspended")].status}')" = True ]; }
if eventually 10 susp; then pass "suspended Job: Suspended condition"; else failed "suspended Job: Suspended condition"; fi
check_eq "suspended Job does not complete" "" "$(jp job later '{.status.conditions[?(@.type=="Complete")].status}')"
check "resume the Job" kc -n $NS patch job later --type=merge -p '{"spec":{"suspend":false}}'
check "resumed Job completes" kc -n $NS wait --for=condition=Complete job/later --timeout=20s

# idle: no writes when everything is settled
sleep 2
RV1=$(kv -n $NS get deploy,rs,sts,ds,jobs -o jsonpath='{range .items[*]}{.metadata.resourceVersion} {end}')
sleep 3
RV2=$(kv -n $NS get deploy,rs,sts,ds,jobs -o jsonpath='{range .items[*]}{.metadata.resourceVersion} {end}')
check_eq "idle simulator writes nothing (resourceVersions stable)" "$RV1" "$RV2"

# deletion: the ReplicaSets and Pods go with the Deployment (API GC)
check "delete the Deployment" kc -n $NS delete deployment web --timeout=20s
no_rs() { [ "$(kv -n $NS get rs -l app=web -o name | wc -l)" = 0 ]; }
if eventually 20 no_rs; then pass "owned ReplicaSets are garbage-collected"; else failed "owned ReplicaSets are garbage-collected"; fi
if server_alive && kill -0 "$CTL_PID" 2>/dev/null; then pass "simulator still running"; else cp "$T/ctl.log" "$OUT"; failed "simulator still running"; fi
stop_ctl
if grep -q '"level":"error"' "$T/ctl.log"; then grep '"level":"error"' "$T/ctl.log" | head -5 >"$OUT"; failed "no reconcile errors logged"; else pass "no reconcile errors logged"; fi
finish
