# tests/integration/lib.sh: shared harness of the kubectl integration tests.
# Sourced by tests/integration/kubectl_*.sh (it is not a test itself: run.sh
# only runs *.sh files of this folder, and this one defines functions only;
# running it directly prints "0 passed, 0 failed" and does nothing).
#
# Environment: IDP_BIN (the built idp binary), IDP_ROOT (repo root),
# IDP_SHARED.  Each script gets its own temp dir $T, HOME (so kubectl's
# discovery cache is private), a server started with start_server on a free
# port, and a final "N passed, N failed" line from finish.
#
# Every kubectl and curl call has a timeout: with no server the scripts fail
# quickly and cleanly, they never hang.
#
# Functions (stable: other suites source this file too):
#   start_server [DIR] [idp up args]  idp up on a free port; sets DATA URL TOKEN
#                                     KUBECONFIG SERVER_PID; fails the check
#                                     "server starts" and returns 1 if not ready
#   stop_server / kill9_server / server_alive
#   kc ARGS      kubectl with timeouts (stdout+stderr)   kv ARGS  same, stdout only
#   api METHOD PATH [curl args]   raw HTTPS request with the token; prints the
#                                 status, body in $BODY;  bj JQ  reads $BODY
#   check / expect_fail / check_out / fail_out / check_eq / check_status /
#   body_has      assertions (see each); pass / failed  record by hand
#   eventually SECONDS CMD...     retries CMD until it succeeds
#   finish        stops the server, prints "N passed, N failed", exits
set -u

IDP_ROOT=${IDP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
IDP_BIN=${IDP_BIN:-$IDP_ROOT/build/idp}
KUBECTL=${KUBECTL:-kubectl}

PASS=0
FAIL=0
T=$(mktemp -d "${TMPDIR:-/tmp}/idp-it.XXXXXX")
export HOME="$T/home"
mkdir -p "$HOME"
SERVER_PID=
PORT=
DATA=
TOKEN=
URL=
OUT="$T/out"   # output of the last check / kc / api call
BODY="$T/body" # body of the last api call

log() { printf '%s\n' "$*"; }

pass() {
  PASS=$((PASS + 1))
  log "ok   - $1"
}

failed() { # description [details...]
  FAIL=$((FAIL + 1))
  log "FAIL - $1"
  shift
  [ $# -gt 0 ] && printf '       %s\n' "$@"
  if [ -s "$OUT" ]; then
    head -c 1500 "$OUT" | sed 's/^/       | /'
    echo
  fi
  return 0
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_server [DATA_DIR] [extra idp up args...]: starts `idp up` and waits
# (at most 40 s) for /readyz and the kubeconfig.  Returns non-zero (after
# recording a failed check) when the server does not come up.
start_server() {
  DATA=${1:-$T/data}
  [ $# -gt 0 ] && shift
  mkdir -p "$DATA"
  PORT=$(free_port)
  URL="https://127.0.0.1:$PORT"
  if [ ! -x "$IDP_BIN" ]; then
    : >"$OUT"
    failed "server starts" "no idp binary at $IDP_BIN"
    return 1
  fi
  "$IDP_BIN" up --data-dir "$DATA" --listen "127.0.0.1:$PORT" "$@" >>"$T/server.log" 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 1 200); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      cp "$T/server.log" "$OUT"
      failed "server starts" "idp up exited (status: $(wait "$SERVER_PID"; echo $?))"
      SERVER_PID=
      return 1
    fi
    if [ -s "$DATA/kubeconfig" ] && [ -s "$DATA/ca.crt" ] &&
      [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$DATA/ca.crt" "$URL/readyz")" = 200 ]; then
      export KUBECONFIG="$DATA/kubeconfig"
      TOKEN=$(sed -n 's/^ *token: *//p' "$KUBECONFIG" | head -1 | tr -d "\"'")
      return 0
    fi
    sleep 0.2
  done
  tail -20 "$T/server.log" >"$OUT"
  failed "server starts" "not ready after 40 s on port $PORT"
  stop_server
  return 1
}

# Stops the server politely (TERM, then KILL after 10 s).
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null
  local i
  for i in $(seq 1 50); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
}

# Kills the server without warning (crash simulation).
kill9_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -KILL "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
}

server_alive() { [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; }

# kubectl with a timeout; output (stdout+stderr) also saved in $OUT.
kc() {
  timeout --kill-after=5 60 "$KUBECTL" --request-timeout=30s "$@"
}

# kubectl, stdout only (for values read back).
kv() {
  timeout --kill-after=5 60 "$KUBECTL" --request-timeout=30s "$@" 2>/dev/null
}

# api METHOD PATH [curl args...]: raw request with the bearer token; prints
# the HTTP status, body in $BODY.
api() {
  local method=$1 path=$2
  shift 2
  curl -s -o "$BODY" -w '%{http_code}' --max-time 30 -X "$method" --cacert "$DATA/ca.crt" \
    -H "Authorization: Bearer $TOKEN" "$@" "$URL$path"
}

# check "description" command...: passes when the command exits 0.
check() {
  local desc=$1
  shift
  if "$@" >"$OUT" 2>&1; then pass "$desc"; else failed "$desc" "command failed (exit $?): $*"; fi
}

# expect_fail "description" command...: passes when the command exits non-zero.
expect_fail() {
  local desc=$1
  shift
  if "$@" >"$OUT" 2>&1; then failed "$desc" "command succeeded but should fail: $*"; else pass "$desc"; fi
}

# check_out "description" "needle" command...: exit 0 and output contains needle.
check_out() {
  local desc=$1 needle=$2
  shift 2
  if ! "$@" >"$OUT" 2>&1; then
    failed "$desc" "command failed: $*"
  elif grep -qF -- "$needle" "$OUT"; then
    pass "$desc"
  else
    failed "$desc" "output lacks: $needle"
  fi
}

# fail_out "description" "needle" command...: non-zero exit and output contains needle.
fail_out() {
  local desc=$1 needle=$2
  shift 2
  if "$@" >"$OUT" 2>&1; then
    failed "$desc" "command succeeded but should fail: $*"
  elif grep -qF -- "$needle" "$OUT"; then
    pass "$desc"
  else
    failed "$desc" "error output lacks: $needle"
  fi
}

# check_eq "description" expected actual
check_eq() {
  if [ "$2" = "$3" ]; then
    pass "$1"
  else
    : >"$OUT"
    failed "$1" "expected: $2" "actual:   $3"
  fi
}

# check_status "description" CODE METHOD PATH [curl args...]: exact HTTP status.
check_status() {
  local desc=$1 want=$2
  shift 2
  local got
  got=$(api "$@")
  cp "$BODY" "$OUT" 2>/dev/null || : >"$OUT"
  if [ "$got" = "$want" ]; then pass "$desc"; else failed "$desc" "HTTP $got, expected $want ($1 $2)"; fi
}

# body_has "description" "needle": the last api body contains needle.
body_has() {
  cp "$BODY" "$OUT" 2>/dev/null || : >"$OUT"
  if grep -qF -- "$2" "$BODY" 2>/dev/null; then pass "$1"; else failed "$1" "body lacks: $2"; fi
}

# json field of the last api body (jq expression), "" when absent.
bj() { jq -r "$1 // empty" "$BODY" 2>/dev/null; }

# Waits (up to $2 seconds, default 10) until "command..." succeeds.
eventually() {
  local limit=$1
  shift
  local end=$((SECONDS + limit))
  while [ $SECONDS -lt $end ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.3
  done
  "$@" >/dev/null 2>&1
}

finish() {
  stop_server
  if [ "$FAIL" -gt 0 ] && [ -s "$T/server.log" ]; then
    log "--- last lines of the server log ---"
    tail -15 "$T/server.log"
  fi
  log "$PASS passed, $FAIL failed"
  rm -rf "$T"
  trap - EXIT
  [ "$FAIL" -eq 0 ]
  exit $?
}

# If a script dies early (set -e is not used; this covers signals and
# `exit`), the server is still stopped and the counts still printed.
_on_exit() {
  local rc=$?
  stop_server
  if [ -n "${T:-}" ] && [ -d "$T" ]; then
    log "$PASS passed, $((FAIL + (rc != 0 && FAIL == 0 ? 1 : 0))) failed"
    rm -rf "$T"
  fi
}
trap _on_exit EXIT
trap 'exit 130' INT TERM

# Sourced by a test script: nothing else happens here.  Run directly (as
# tests/run.sh runs every *.sh of this folder), it tests the harness itself:
# the assertion helpers count right, and with no server every call fails
# fast instead of hanging.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  _selftest() {
    local p0=$PASS f0=$FAIL
    check "x" true >/dev/null
    expect_fail "x" false >/dev/null
    check_out "x" "hello" echo hello >/dev/null
    fail_out "x" "nope" sh -c 'echo nope; exit 3' >/dev/null
    check_eq "x" a a >/dev/null
    [ $((PASS - p0)) -eq 5 ] && [ $((FAIL - f0)) -eq 0 ]
  }
  _selftest_failures() {
    local p0=$PASS f0=$FAIL
    check "x" false >/dev/null
    expect_fail "x" true >/dev/null
    check_out "x" "absent" echo hello >/dev/null
    check_eq "x" a b >/dev/null
    local ok=$(( PASS == p0 && FAIL - f0 == 4 ))
    PASS=$p0 FAIL=$f0
    [ $ok -eq 1 ]
  }
  _no_server_is_fast() {
    local p0=$PASS f0=$FAIL start=$SECONDS
    IDP_BIN=/nonexistent/idp start_server "$T/none" >/dev/null && return 1
    DATA=$T/none URL=https://127.0.0.1:1 TOKEN=x
    [ "$(api GET /api)" = 000 ] || return 1
    kc --server=https://127.0.0.1:1 --insecure-skip-tls-verify get ns >/dev/null 2>&1 && return 1
    PASS=$p0 FAIL=$f0
    [ $((SECONDS - start)) -lt 30 ]
  }
  res_pass=0 res_fail=0
  for t in _selftest _selftest_failures _no_server_is_fast; do
    PASS=0 FAIL=0
    if $t; then res_pass=$((res_pass + 1)); echo "ok   - harness: $t"; else res_fail=$((res_fail + 1)); echo "FAIL - harness: $t"; fi
  done
  PASS=$res_pass FAIL=$res_fail
  finish
fi
