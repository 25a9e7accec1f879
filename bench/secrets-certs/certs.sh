#!/usr/bin/env bash
# bench/secrets-certs/certs.sh: starts `idp up` on a free port and runs
# certs_bench against it (500 ECDSA P-256 certificates from a CA issuer,
# time to Ready and RSS).  A benchmark, not a test: it prints figures.
#
#   bench/secrets-certs/certs.sh [--build DIR] [--count N] [--workers N]
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --count|--workers) args+=("$1" "$2"); shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--count N] [--workers N]" >&2; exit 2 ;;
  esac
done
bin=${IDP_BIN:-$build/idp}
bench=${CERTS_BENCH:-$build/bench/secrets-certs/certs_bench}
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$bin" up --data-dir "$tmp/data" --listen "127.0.0.1:$port" >"$tmp/up.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  [ -s "$tmp/data/kubeconfig" ] &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$tmp/data/ca.crt" "https://127.0.0.1:$port/readyz")" = 200 ] && break
  sleep 0.2
done
"$bench" --kubeconfig "$tmp/data/kubeconfig" "${args[@]}" 2> >(grep -v '"level":"info"' >&2)
