#!/usr/bin/env bash
# tests/run.sh: runs every test of idp and prints one closing line
# "N passed, N failed".
#
#   tests/run.sh [--build DIR] [--only unit|integration|conformance|fuzz]...
#
# Counts come from each program's own output: cmocka's "[  PASSED  ] N
# test(s)" / "[  FAILED  ] N test(s)" lines, or a "N passed, N failed" line
# printed by script tests and conformance runners.  A program that exits
# non-zero without reporting any failure counts as one failure; one that
# reports nothing and exits 0 counts as one pass only if it is a script
# that asserts by exit code (integration scripts print counts, so this is
# rare).  Each program runs with a timeout.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build="$root/build"
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --only) only+=("$2"); shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
export IDP_BIN="$build/idp" IDP_ROOT="$root" IDP_SHARED="${IDP_SHARED:-$root/../shared}"
logdir="$build/test-logs"
mkdir -p "$logdir"
total_pass=0
total_fail=0
total_skip=0
failed_names=()

want() {
  [ ${#only[@]} -eq 0 ] && return 0
  local k
  for k in "${only[@]}"; do [ "$k" = "$1" ] && return 0; done
  return 1
}

run_one() { # kind name timeout cmd...
  local kind=$1 name=$2 limit=$3
  shift 3
  local log="$logdir/$kind-$name.log"
  local start=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  local rc=$?
  local p f
  p=$(grep -aoE '^\[  PASSED  \] [0-9]+ test' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
  f=$(grep -aoE '^\[  FAILED  \] [0-9]+ test' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
  local k
  k=$(grep -aoE '^\[  SKIPPED \] [0-9]+ test' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
  local line
  line=$(grep -aE '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  if [ -n "$line" ]; then
    p=$((p + $(echo "$line" | sed -E 's/^([A-Za-z-]+: )?([0-9]+) passed.*/\2/')))
    f=$((f + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  total_skip=$((total_skip + k))
  if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$k" -eq 0 ]; then
    echo "  $kind/$name: reported no tests (counted as a failure)"
    f=1
  fi
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
  local status=ok
  [ "$f" -gt 0 ] && status=FAIL && failed_names+=("$kind/$name")
  [ "$rc" -eq 124 ] && status="TIMEOUT after ${limit}"
  printf '  %-12s %-40s %5d passed %4d failed %3d skipped %4ds  %s\n' "$kind" "$name" "$p" "$f" "$k" $((SECONDS - start)) "$status"
  if [ "$f" -gt 0 ]; then
    echo "    --- last lines of $log ---"
    tail -25 "$log" | sed 's/^/    /'
  fi
}

if want unit; then
  echo "unit tests ($build)"
  while IFS= read -r t; do
    run_one unit "$(basename "$(dirname "$t")")-$(basename "$t")" 300 "$t"
  done < <(find "$build/tests/unit" -type f -name 'test_*' -perm -u+x 2>/dev/null | sort)
fi

for kind in conformance integration; do
  want "$kind" || continue
  [ -d "$here/$kind" ] || continue
  echo "$kind tests"
  while IFS= read -r t; do
    run_one "$kind" "$(basename "$t" .sh)" "${IDP_TEST_TIMEOUT:-400}" bash "$t"
  done < <(find "$here/$kind" -maxdepth 1 -type f -name '*.sh' ! -name 'lib.sh' | sort)
done

if want fuzz && compgen -G "$root/fuzz/*/build_and_run.sh" >/dev/null; then
  echo "fuzz (brief)"
  run_one fuzz all 600 bash "$root/fuzz/run.sh" --build "$build"
fi

if [ ${#failed_names[@]} -gt 0 ]; then
  echo "failed: ${failed_names[*]}"
fi
if [ "$total_skip" -gt 0 ]; then
  echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
  echo "$total_pass passed, $total_fail failed"
fi
[ "$total_fail" -eq 0 ]
