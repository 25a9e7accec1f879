#!/usr/bin/env bash
# tests/conformance/sigv4.sh: the AWS Signature Version 4 test suite
# (IDP_SHARED/conformance/sigv4/v4, from awslabs/aws-c-auth) through
# src/secrets/sigv4.c: every case in header and query (presigned) mode,
# canonical request, string to sign, signature and signed request compared
# byte for byte.  Needs the sigv4_suite program built next to IDP_BIN
# (build/tests/unit/secrets/sigv4_suite).
set -u
root=${IDP_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
shared=${IDP_SHARED:-$root/../shared}
build=$(dirname "${IDP_BIN:-$root/build/idp}")
runner="$build/tests/unit/secrets/sigv4_suite"
suite="$shared/conformance/sigv4/v4"
if [ ! -x "$runner" ]; then
  echo "sigv4: $runner is not built (ninja -C $build tests/unit/secrets/sigv4_suite)"
  echo "0 passed, 1 failed"
  exit 1
fi
cases=("$suite"/*/)
if [ ! -d "${cases[0]}" ]; then
  echo "sigv4: no cases in $suite"
  echo "0 passed, 1 failed"
  exit 1
fi
out=$(timeout 60 "$runner" "${cases[@]%/}")
rc=$?
echo "$out"
last=$(echo "$out" | tail -1)
if ! echo "$last" | grep -qE '^[0-9]+ passed, [0-9]+ failed$'; then
  echo "0 passed, 1 failed"
  exit 1
fi
[ "$rc" -eq 0 ]
