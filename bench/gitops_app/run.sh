#!/usr/bin/env bash
# bench/gitops_app/run.sh [APPS] [OBJECTS]: starts `idp up` on a free port and
# runs bench_app against it (cold sync, no-change reconcile, RSS).  Prints
# figures, asserts nothing.  BUILD=build dir (default ./build).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
apps=${1:-100}
objs=${2:-20}
work=$(mktemp -d /tmp/idp-bench-app.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$build/idp" up --data-dir "$work/server" --listen "127.0.0.1:$port" --no-controllers >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -s --max-time 2 --cacert "$work/server/ca.crt" "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
"$build/bench/gitops_app/bench_app" --kubeconfig "$work/server/kubeconfig" --work "$work" \
  --apps "$apps" --objects "$objs"
echo "gitops_app: RSS (API server)            $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$pid/status)"
