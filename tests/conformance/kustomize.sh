#!/usr/bin/env bash
# tests/conformance/kustomize.sh: the differential corpus.  Every case under
# tests/gitops/kustomize/NN-name/ is rendered by `idp render` (native
# kustomize) and by `kubectl kustomize` (the reference, kustomize v5.5) and
# the two outputs are compared object for object, in order (both parsed as
# YAML, so formatting differences do not count).  Cases under
# tests/gitops/kustomize-bad/NN-name/ must fail with an error naming the
# file given in the case's `expect-error` file (one substring per line).
set -u
root=${IDP_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${IDP_BIN:-$root/build/idp}
corpus=$root/tests/gitops/kustomize
bad=$corpus/_bad
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! command -v kubectl >/dev/null; then
  echo "kubectl not found: cannot run the differential corpus"
  echo "0 passed, 1 failed"
  exit 1
fi
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "python3 with PyYAML not found: cannot compare outputs"
  echo "0 passed, 1 failed"
  exit 1
fi

compare() { # native.json reference.yaml -> prints the first difference
  python3 - "$1" "$2" <<'PY'
import json, sys, yaml, difflib
a = json.load(open(sys.argv[1]))
b = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d is not None]
if a == b:
    sys.exit(0)
def ids(l): return ["%s/%s" % (d.get("kind"), (d.get("metadata") or {}).get("name")) for d in l]
if len(a) != len(b) or ids(a) != ids(b):
    print("    objects differ: native %s\n                    kubectl %s" % (ids(a), ids(b)))
for x, y in zip(a, b):
    if x != y:
        xs = json.dumps(x, indent=1, sort_keys=True).splitlines()
        ys = json.dumps(y, indent=1, sort_keys=True).splitlines()
        for line in list(difflib.unified_diff(ys, xs, "kubectl", "native", lineterm="", n=2))[:40]:
            print("    " + line)
        break
sys.exit(1)
PY
}

for dir in "$corpus"/[0-9]*/; do
  name=$(basename "$dir")
  if ! kubectl kustomize "$dir" >"$tmp/ref.yaml" 2>"$tmp/ref.err"; then
    echo "FAIL $name: kubectl kustomize failed: $(head -c 300 "$tmp/ref.err")"
    fail=$((fail + 1))
    continue
  fi
  if ! "$bin" render -o json "$dir" >"$tmp/out.yaml" 2>"$tmp/out.err"; then
    echo "FAIL $name: idp render failed: $(head -c 300 "$tmp/out.err")"
    fail=$((fail + 1))
    continue
  fi
  if compare "$tmp/out.yaml" "$tmp/ref.yaml" >"$tmp/diff"; then
    echo "ok   $name ($(grep -c '^kind:' "$tmp/ref.yaml") objects)"
    pass=$((pass + 1))
  else
    echo "FAIL $name: output differs from kubectl kustomize"
    cat "$tmp/diff"
    fail=$((fail + 1))
  fi
done

# Bad input: an error (non-zero exit, nothing on stdout) naming the file.
for dir in "$bad"/*/; do
  [ -d "$dir" ] || continue
  name=$(basename "$dir")
  if "$bin" render "${dir%/}/case" >"$tmp/out.yaml" 2>"$tmp/out.err"; then
    echo "FAIL bad/$name: idp render succeeded on bad input"
    fail=$((fail + 1))
    continue
  fi
  ok=1
  while IFS= read -r want; do
    [ -n "$want" ] || continue
    if ! grep -qF -- "$want" "$tmp/out.err"; then
      echo "FAIL bad/$name: error does not mention '$want': $(cat "$tmp/out.err")"
      ok=0
    fi
  done <"$dir/expect-error"
  if [ -s "$tmp/out.yaml" ]; then
    echo "FAIL bad/$name: printed output despite the error"
    ok=0
  fi
  if [ $ok = 1 ]; then
    echo "ok   bad/$name: $(head -c 200 "$tmp/out.err")"
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
  fi
done

# The command line.
check() { # description, then a command that must succeed
  local what=$1
  shift
  if "$@" >"$tmp/check.out" 2>&1; then
    echo "ok   cli: $what"
    pass=$((pass + 1))
  else
    echo "FAIL cli: $what"
    sed 's/^/    /' "$tmp/check.out" | head -10
    fail=$((fail + 1))
  fi
}
apps=$corpus/_apps
check "--app renders spec.source.path with source.kustomize" \
  bash -c "'$bin' render '$corpus' --app '$apps/app-kustomize.yaml' | grep -qx '  name: argo-web'"
check "--app with a directory source (recurse + include)" \
  bash -c "test \"\$('$bin' render '$apps' --app '$apps/app-directory.yaml' -o json | python3 -c 'import json,sys; print(\",\".join(o[\"metadata\"][\"name\"] for o in json.load(sys.stdin)))')\" = 'one,three'"
check "--app with several sources: the last source defining an object wins" \
  bash -c "'$bin' render '$corpus' --app '$apps/app-multi.yaml' -o json | python3 -c 'import json,sys; o=json.load(sys.stdin); assert [x[\"kind\"] for x in o] == [\"Service\", \"Deployment\"], o; assert o[0][\"spec\"][\"ports\"][0][\"port\"] == 8080'"
check "--path selects a sub-directory" \
  bash -c "'$bin' render '$corpus' --path 01-basic-resources -o json | python3 -c 'import json,sys; assert len(json.load(sys.stdin)) == 2'"
check "YAML output parses to the same objects as -o json" \
  bash -c "python3 -c 'import json,sys,yaml; a=[d for d in yaml.safe_load_all(open(sys.argv[1]))]; b=json.load(open(sys.argv[2])); assert a == b' <('$bin' render '$corpus/35-overlay-chain') <('$bin' render -o json '$corpus/35-overlay-chain')"
check "usage error exits 2" bash -c "'$bin' render; test \$? -eq 2"
check "bad output format exits 2" bash -c "'$bin' render '$corpus/01-basic-resources' -o xml; test \$? -eq 2"
check "missing path exits 1 naming it" \
  bash -c "'$bin' render /nonexistent/idp-path 2>&1 >/dev/null | grep -q /nonexistent/idp-path"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
