#!/usr/bin/env bash
# fuzz/run.sh: builds and runs every fuzz target briefly (libFuzzer, ASan).
# Each fuzz/<target>/build_and_run.sh takes the seconds to run and exits
# non-zero when the fuzzer finds a crash.  Prints "N passed, N failed" over
# the targets.
#   fuzz/run.sh [--seconds N] [--build DIR]
set -u
here=$(cd "$(dirname "$0")" && pwd)
seconds=${FUZZ_SECONDS:-20}
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --build) shift 2 ;;
    *) shift ;;
  esac
done
pass=0
fail=0
if ! command -v clang >/dev/null 2>&1; then
  echo "clang is not installed: fuzz targets cannot build"
  echo "0 passed, 1 failed"
  exit 1
fi
for t in "$here"/*/build_and_run.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$(dirname "$t")")
  if bash "$t" "$seconds" > "/tmp/idp-fuzz-$name.log" 2>&1; then
    echo "fuzz $name: ok (${seconds}s)"
    pass=$((pass + 1))
  else
    echo "fuzz $name: FAILED"
    tail -30 "/tmp/idp-fuzz-$name.log"
    fail=$((fail + 1))
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
