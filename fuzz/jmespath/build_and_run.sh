#!/usr/bin/env bash
# fuzz/jmespath/build_and_run.sh [SECONDS] [WORKDIR]
# Builds the libFuzzer target for src/jmespath with clang (ASan + UBSan) and
# runs it for SECONDS (default 60) on a corpus seeded from the JMESPath
# compliance suite (expression + "\n" + given document) plus Kyverno-style
# expressions.  Prints "N passed, N failed" (1 passed when the run finds
# nothing) and exits non-zero on a crash; crash inputs are kept in WORKDIR.
set -u
secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${IDP_SHARED:-$root/../shared}
work=${2:-${TMPDIR:-/tmp}/idp-fuzz-jmespath}
mkdir -p "$work/corpus" "$work/crashes"
bin="$work/fuzz_jmespath"
cflags="-std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$root/src $(pkg-config --cflags jansson yaml-0.1 libpcre2-8 openssl)"
libs="$(pkg-config --libs jansson yaml-0.1 libpcre2-8 openssl) -lpthread -lm"
srcs=("$root"/src/core/{err,buf,log,yaml,json}.c "$root"/src/jmespath/*.c "$here/fuzz_jmespath.c")
if ! clang $cflags "${srcs[@]}" -o "$bin" $libs; then
  echo "fuzz_jmespath: build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
# Seed corpus: one file per compliance case, plus Kyverno function calls.
if [ -z "$(ls -A "$work/corpus")" ] && [ -d "$shared/conformance/jmespath/tests" ]; then
  python3 - "$shared/conformance/jmespath/tests" "$work/corpus" <<'PY'
import json, os, sys, hashlib
src, dst = sys.argv[1], sys.argv[2]
extra = ["add('1Gi','512Mi')", "divide('1h',`7`)", "regex_replace_all('(a+)','baaa','$1x')",
         "semver_compare('1.2.3','>=1.0.0 <2.0.0 || 3.x')", "time_parse('2006-01-02','2023-05-06')",
         "random('[a-z]{3}(x|y)+')", "items(@,'k','v')", "parse_yaml('a: [1, 2]')",
         "path_canonicalize('/a/../b//c')", "sum(['1h','30s'])", "image_normalize('nginx')"]
cases = [(e, "{}") for e in extra]
for f in sorted(os.listdir(src)):
    for suite in json.load(open(os.path.join(src, f))):
        doc = json.dumps(suite.get("given"))
        for c in suite["cases"]:
            cases.append((c["expression"], doc))
for e, d in cases:
    blob = (e + "\n" + d).encode()
    if len(blob) > 4096: continue
    open(os.path.join(dst, hashlib.sha1(blob).hexdigest()), "wb").write(blob)
PY
fi
echo "fuzz_jmespath: running ${secs}s on $(ls "$work/corpus" | wc -l) corpus files"
"$bin" "$work/corpus" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/crashes/" -print_final_stats=1 >"$work/fuzz.log" 2>&1
rc=$?
tail -15 "$work/fuzz.log"
if [ $rc -ne 0 ]; then
  echo "fuzz_jmespath: failure (rc $rc), artifacts in $work/crashes"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
