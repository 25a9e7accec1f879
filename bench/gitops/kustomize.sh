#!/usr/bin/env bash
# bench/gitops/kustomize.sh: native kustomize (`idp render`) against
# `kubectl kustomize` over the differential corpus (tests/gitops/kustomize).
# For every case both tools run REPS times; the per-case medians are
# summed, and the ratio kubectl/native is printed (target: >= 20x).  It also
# checks the outputs are the same objects (a benchmark of a wrong answer is
# worthless).  Process against process, so idp's own start-up counts; the
# in-process figure (what the Application controller gets) is printed by
# build/bench/gitops/bench_kustomize.  A benchmark, not a test: it prints
# figures.
#
#   bench/gitops/kustomize.sh [--build DIR] [--reps N]
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build"
reps=7
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--reps N]" >&2; exit 2 ;;
  esac
done
bin=${IDP_BIN:-$build/idp}
corpus=$root/tests/gitops/kustomize
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$bin" "$corpus" "$reps" <<'PY'
import json, os, subprocess, sys, time, statistics, yaml
bin_, corpus, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
def run(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
    return time.perf_counter() - t, out
tot_n = tot_k = 0.0
same = cases = 0
ratios = []
for case in sorted(os.listdir(corpus)):
    d = os.path.join(corpus, case)
    if not os.path.isdir(d) or not case[:1].isdigit():  # _bad, _apps are not cases
        continue
    cases += 1
    tn, tk = [], []
    for _ in range(reps):
        t, out_n = run([bin_, "render", "-o", "json", d]); tn.append(t)
        t, out_k = run(["kubectl", "kustomize", d]); tk.append(t)
    if json.loads(out_n) == [x for x in yaml.safe_load_all(out_k) if x is not None]:
        same += 1
    mn, mk = statistics.median(tn), statistics.median(tk)
    tot_n += mn; tot_k += mk; ratios.append(mk / mn)
print("kustomize corpus: %d cases, %d reps each, identical output in %d/%d" % (cases, reps, same, cases))
print("native (idp render):   total of medians %8.1f ms, %.2f ms/case" % (tot_n * 1e3, tot_n * 1e3 / cases))
print("kubectl kustomize:     total of medians %8.1f ms, %.2f ms/case" % (tot_k * 1e3, tot_k * 1e3 / cases))
print("speedup: %.1fx overall, per-case median %.1fx, min %.1fx (target >= 20x)"
      % (tot_k / tot_n, statistics.median(ratios), min(ratios)))
PY
