#!/usr/bin/env bash
# fuzz/policy/build_and_run.sh: builds the policy fuzzers with
# clang -fsanitize=fuzzer,address,undefined and runs each for a while:
#   fuzz_pattern  the pattern matcher (anchors, value operators)
#   fuzz_engine   policy loading and evaluation of a fuzzed rule
#   fuzz/policy/build_and_run.sh [SECONDS]   (default 60, split between them)
# The corpora grow in $FUZZ_OUT/corpus-* (default /tmp/idp-fuzz-policy),
# seeded below; findings go to $FUZZ_OUT/artifacts.  Prints
# "N passed, N failed": one pass per fuzzer that ended without a finding.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-60}
half=$(( secs / 2 > 0 ? secs / 2 : 1 ))
out=${FUZZ_OUT:-/tmp/idp-fuzz-policy}
mkdir -p "$out/corpus-pattern" "$out/corpus-engine" "$out/artifacts"
cflags="-g -O1 -std=c17 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -I$root/src"
libs="$(pkg-config --cflags --libs jansson yaml-0.1 libpcre2-8 openssl) -lm -lpthread"
pass=0
fail=0

# shellcheck disable=SC2086
clang $cflags "$here/fuzz_pattern.c" "$root/src/policy/pattern.c" "$root/src/policy/util.c" "$root"/src/patch/*.c \
  "$root/src/core/json.c" "$root/src/core/err.c" "$root/src/core/buf.c" $libs \
  -o "$out/fuzz_pattern" || { echo "0 passed, 1 failed"; exit 1; }
# shellcheck disable=SC2086
# the engine alone: admission, reports and the controllers need the client
engine=""
for f in util jp vars conditions pattern match autogen context mutate pss engine policy values report; do
  engine="$engine $root/src/policy/$f.c"
done
clang $cflags "$here/fuzz_engine.c" $engine "$root"/src/patch/*.c \
  "$root"/src/jmespath/*.c "$root/src/core/json.c" "$root/src/core/err.c" \
  "$root/src/core/buf.c" "$root/src/core/yaml.c" "$root/src/core/log.c" $libs \
  -o "$out/fuzz_engine" || { echo "0 passed, 1 failed"; exit 1; }

# seeds: patterns and rules from the engine's own vocabulary
c="$out/corpus-pattern"
printf '{"spec":{"containers":[{"image":"!*:latest"}]}}' >"$c/seed-image"
printf '{"metadata":{"=(annotations)":{"X(*-snippet)":"?*"}}}' >"$c/seed-negation"
printf '{"spec":{"^(containers)":[{"(name)":"c","resources":{"limits":{"memory":"<=1Gi"}}}]}}' >"$c/seed-anchors"
printf '"1-10 | >= 1h & !0"' >"$c/seed-ops"
printf '{"a":[1,2]}\0{"a":[{"<(b)":"x"}]}' >"$c/seed-pair"
c="$out/corpus-engine"
printf '{"validate":{"pattern":{"spec":{"containers":[{"(name)":"c","image":"!*:latest"}]}}}}' >"$c/seed-pattern"
printf '{"preconditions":{"all":[{"key":"{{request.operation}}","operator":"AnyIn","value":["CREATE"]}]},"validate":{"deny":{"conditions":{"any":[{"key":"{{request.object.spec.containers[].image}}","operator":"AnyIn","value":["*:latest"]}]}}}}' >"$c/seed-deny"
printf '{"validate":{"foreach":[{"list":"request.object.spec.containers","deny":{"conditions":[{"key":"{{element.name}}","operator":"Equals","value":"c"}]}}]}}' >"$c/seed-foreach"
printf '{"mutate":{"patchStrategicMerge":{"metadata":{"labels":{"+(team)":"a"}},"spec":{"containers":[{"(name)":"*","imagePullPolicy":"Always"}]}}}}' >"$c/seed-smp"
printf '{"mutate":{"foreach":[{"list":"request.object.spec.containers","patchesJson6902":"- op: add\\n  path: /spec/containers/{{elementIndex}}/x\\n  value: 1"}]}}' >"$c/seed-json6902"
printf '{"context":[{"name":"v","variable":{"jmesPath":"request.object.metadata.labels.app","default":"d"}}],"generate":{"apiVersion":"v1","kind":"ConfigMap","name":"{{v}}","namespace":"ns","data":{"data":{"k":"{{v}}"}}}}' >"$c/seed-generate"

for f in pattern engine; do
  "$out/fuzz_$f" -max_total_time="$half" -artifact_prefix="$out/artifacts/$f-" -max_len=4096 \
    "$out/corpus-$f" >"$out/run-$f.log" 2>&1
  rc=$?
  echo "fuzz_$f: $(grep -E '^Done' "$out/run-$f.log" | tail -1)"
  if [ "$rc" -eq 0 ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "finding in fuzz_$f: see $out/run-$f.log and $out/artifacts"
    tail -20 "$out/run-$f.log"
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
