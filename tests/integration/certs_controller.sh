#!/usr/bin/env bash
# The cert-manager compatible controller end to end: `idp up` plus
# `idp cert-manager` (the controller as a client of the API server), driven
# with real kubectl and checked with real openssl.
#
#  - the reference platform's chain (examples/platform/platform/gateway):
#    ClusterIssuer self-signed-issuer -> Certificate idp-demo-ca (isCA) ->
#    ClusterIssuer ca-issuer -> the wildcard *.127-0-0-1.sslip.io, verified
#    with `openssl verify -CAfile ca.crt`;
#  - renewal (duration 1h, renewBefore 59m50s: renewed every ~10 s);
#  - re-issue after the Secret is deleted, after its key is tampered with,
#    after the spec changes; metadata repaired without re-issue;
#  - Issuer not Ready with ErrGetKeyPair / ErrInvalidKeyPair, and recovery;
#  - Gateway and Ingress shims; key algorithms and encodings; bad specs;
#  - two Certificates on one Secret; rotationPolicy Never; Events; the
#    controller runs under Lease leader election.
source "$(dirname "$0")/lib.sh"

CM_PID=
stop_cm() {
  [ -n "$CM_PID" ] || return 0
  kill -TERM "$CM_PID" 2>/dev/null
  local i
  for i in $(seq 1 50); do
    kill -0 "$CM_PID" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL "$CM_PID" 2>/dev/null
  wait "$CM_PID" 2>/dev/null
  CM_PID=
}
trap 'stop_cm; _on_exit' EXIT

# The controller: `idp cert-manager`, or the standalone build of the same
# command (certctl_run) when this idp binary predates the subcommand.
# IDP_CERTCTL_BIN overrides (a certctl_run built elsewhere).
CM_CMD=("$IDP_BIN" cert-manager)
if [ -n "${IDP_CERTCTL_BIN:-}" ]; then
  CM_CMD=("$IDP_CERTCTL_BIN")
elif ! timeout 10 "$IDP_BIN" cert-manager --help >/dev/null 2>&1; then
  CM_CMD=("$(dirname "$IDP_BIN")/tests/unit/certs_controller/certctl_run")
fi
# the test runs its own cert-manager controller: the server runs none
start_server "$T/data" --no-controllers || finish
"${CM_CMD[@]}" --kubeconfig "$DATA/kubeconfig" --leader-elect >"$T/cm.log" 2>&1 &
CM_PID=$!

# ---- helpers --------------------------------------------------------------
cond() { # ns kind name type -> "status/reason"
  kv -n "$1" get "$2" "$3" -o jsonpath="{.status.conditions[?(@.type==\"$4\")].status}/{.status.conditions[?(@.type==\"$4\")].reason}"
}
is_ready() { [ "$(cond "$1" certificate "$2" Ready)" = "True/Ready" ]; }
field() { kv -n "$1" get "$2" "$3" -o jsonpath="$4"; }
secret_data() { # ns secret key file
  local k=${3//./\\.}
  kv -n "$1" get secret "$2" -o jsonpath="{.data.$k}" | base64 -d >"$4"
}
keys_match() { # crt key
  [ -s "$1" ] && [ -s "$2" ] &&
    [ "$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null)" = "$(openssl pkey -in "$2" -pubout 2>/dev/null)" ]
}
serial_of() { openssl x509 -in "$1" -noout -serial 2>/dev/null; }
revision_at_least() { local r; r=$(field "$1" certificate "$2" '{.status.revision}'); [ -n "$r" ] && [ "$r" -ge "$3" ]; }

# ---- CRDs -----------------------------------------------------------------
eventually 20 kc get crd certificates.cert-manager.io
check "CRDs installed by the controller (Certificate, Issuer, ClusterIssuer, Gateway)" \
  kc get crd certificates.cert-manager.io issuers.cert-manager.io clusterissuers.cert-manager.io \
  gateways.gateway.networking.k8s.io

# ---- the reference platform's chain ------------------------------------------
G=$IDP_ROOT/examples/platform/platform/gateway
check "apply the platform's gateway (Namespace, wildcard Certificate, Gateway)" kc apply -f "$G/gateway.yaml"
check "apply the platform's issuers (self-signed -> idp-demo-ca -> ca-issuer)" kc apply -f "$G/cluster-issuers.yaml"
eventually 30 is_ready kube-system idp-wildcard-cert
check_out "leader election: the controller holds the Lease kube-system/cert-manager-controller" "_" \
  field kube-system lease cert-manager-controller '{.spec.holderIdentity}'
check_out "kubectl get certificates prints cert-manager's columns" "SECRET" kc get certificates -A
check_eq "idp-demo-ca Ready" "True/Ready" "$(cond cert-manager certificate idp-demo-ca Ready)"
check_eq "ClusterIssuer self-signed-issuer Ready (IsReady)" "True/IsReady" "$(cond '' clusterissuer self-signed-issuer Ready)"
check_eq "ClusterIssuer ca-issuer Ready (KeyPairVerified)" "True/KeyPairVerified" "$(cond '' clusterissuer ca-issuer Ready)"
check_eq "wildcard Certificate Ready" "True/Ready" "$(cond kube-system certificate idp-wildcard-cert Ready)"
check_eq "wildcard Secret is kubernetes.io/tls" "kubernetes.io/tls" "$(field kube-system secret idp-wildcard-tls '{.type}')"
secret_data kube-system idp-wildcard-tls tls.crt "$T/w.crt"
secret_data kube-system idp-wildcard-tls tls.key "$T/w.key"
secret_data kube-system idp-wildcard-tls ca.crt "$T/w-ca.crt"
secret_data cert-manager idp-demo-ca-secret tls.crt "$T/ca.crt"
check_out "openssl verify -CAfile ca.crt tls.crt" "OK" openssl verify -CAfile "$T/w-ca.crt" "$T/w.crt"
check "ca.crt is the idp-demo-ca certificate" cmp -s "$T/w-ca.crt" "$T/ca.crt"
check "tls.key matches tls.crt" keys_match "$T/w.crt" "$T/w.key"
check_out "wildcard SANs" "DNS:*.127-0-0-1.sslip.io, DNS:127-0-0-1.sslip.io" openssl x509 -in "$T/w.crt" -noout -ext subjectAltName
check_out "ECDSA P-256 key as the spec asks" "prime256v1" openssl pkey -in "$T/w.key" -noout -text
check_out "idp-demo-ca is a CA" "CA:TRUE" openssl x509 -in "$T/ca.crt" -noout -ext basicConstraints
check_eq "Secret annotations (issuer-name/kind, alt-names)" \
  "ca-issuer ClusterIssuer cert-manager.io *.127-0-0-1.sslip.io,127-0-0-1.sslip.io idp-wildcard-cert" \
  "$(field kube-system secret idp-wildcard-tls '{.metadata.annotations.cert-manager\.io/issuer-name} {.metadata.annotations.cert-manager\.io/issuer-kind} {.metadata.annotations.cert-manager\.io/issuer-group} {.metadata.annotations.cert-manager\.io/alt-names} {.metadata.annotations.cert-manager\.io/certificate-name}')"
check_eq "status: renewalTime = notAfter - renewBefore (720h)" "2160h-720h" \
  "$(python3 - "$(field kube-system certificate idp-wildcard-cert '{.status.notBefore} {.status.notAfter} {.status.renewalTime}')" <<'EOF'
import sys, datetime
nb, na, rt = [datetime.datetime.strptime(x, "%Y-%m-%dT%H:%M:%SZ") for x in sys.argv[1].split()]
print("%dh-%dh" % ((na - nb).total_seconds() // 3600, (na - rt).total_seconds() // 3600))
EOF
)"
check_eq "status.revision is 1" "1" "$(field kube-system certificate idp-wildcard-cert '{.status.revision}')"

# ---- renewal -----------------------------------------------------------------
kc apply -f - >"$OUT" 2>&1 <<'EOF'
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: short, namespace: default}
spec:
  secretName: short-tls
  commonName: short.example
  dnsNames: [short.example]
  duration: 1h
  renewBefore: 59m50s
  privateKey: {algorithm: ECDSA}
  issuerRef: {name: ca-issuer, kind: ClusterIssuer}
EOF
eventually 20 is_ready default short
secret_data default short-tls tls.crt "$T/s1.crt"
check_eq "short-lived Certificate Ready" "True/Ready" "$(cond default certificate short Ready)"
eventually 30 revision_at_least default short 2
check "renewed at renewalTime (10 s after issuance): revision >= 2" revision_at_least default short 2
secret_data default short-tls tls.crt "$T/s2.crt"
secret_data default short-tls tls.key "$T/s2.key"
[ "$(serial_of "$T/s1.crt")" != "$(serial_of "$T/s2.crt")" ] && pass "renewal issued a new certificate" ||
  failed "renewal issued a new certificate"
check "renewed key matches renewed certificate" keys_match "$T/s2.crt" "$T/s2.key"

# ---- deleted Secret ----------------------------------------------------------
rev=$(field kube-system certificate idp-wildcard-cert '{.status.revision}')
check "delete the wildcard Secret" kc -n kube-system delete secret idp-wildcard-tls
eventually 20 revision_at_least kube-system idp-wildcard-cert $((rev + 1))
check "Secret deleted -> re-issued (revision incremented)" revision_at_least kube-system idp-wildcard-cert $((rev + 1))
secret_data kube-system idp-wildcard-tls tls.crt "$T/w2.crt"
check_out "re-issued certificate verifies against the CA" "OK" openssl verify -CAfile "$T/ca.crt" "$T/w2.crt"
[ "$(serial_of "$T/w.crt")" != "$(serial_of "$T/w2.crt")" ] && pass "a new certificate (new serial)" ||
  failed "a new certificate (new serial)"

# ---- tampered Secret ----------------------------------------------------------
rev=$(field kube-system certificate idp-wildcard-cert '{.status.revision}')
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/other.key" 2>/dev/null
check "replace tls.key with a foreign key" kc -n kube-system patch secret idp-wildcard-tls --type merge \
  -p "{\"data\":{\"tls.key\":\"$(base64 -w0 "$T/other.key")\"}}"
eventually 20 revision_at_least kube-system idp-wildcard-cert $((rev + 1))
check "tampered key -> re-issued" revision_at_least kube-system idp-wildcard-cert $((rev + 1))
secret_data kube-system idp-wildcard-tls tls.crt "$T/w3.crt"
secret_data kube-system idp-wildcard-tls tls.key "$T/w3.key"
check "key and certificate match again" keys_match "$T/w3.crt" "$T/w3.key"
rev=$(field kube-system certificate idp-wildcard-cert '{.status.revision}')
check "strip the Secret's annotations" kc -n kube-system annotate secret idp-wildcard-tls \
  cert-manager.io/alt-names- cert-manager.io/certificate-name-
eventually 10 sh -c "[ -n \"\$(KUBECONFIG=$KUBECONFIG kubectl -n kube-system get secret idp-wildcard-tls -o jsonpath='{.metadata.annotations.cert-manager\\.io/alt-names}')\" ]"
check_eq "annotations restored" "*.127-0-0-1.sslip.io,127-0-0-1.sslip.io" \
  "$(field kube-system secret idp-wildcard-tls '{.metadata.annotations.cert-manager\.io/alt-names}')"
check_eq "... without re-issuing" "$rev" "$(field kube-system certificate idp-wildcard-cert '{.status.revision}')"

# ---- spec change ---------------------------------------------------------------
rev=$(field default certificate short '{.status.revision}')
check "add a dnsName and an IP to a Certificate" kc -n default patch certificate short --type merge \
  -p '{"spec":{"dnsNames":["short.example","extra.example"],"ipAddresses":["10.0.0.7"],"renewBefore":"20m"}}'
has_extra() { secret_data default short-tls tls.crt "$T/s3.crt"; openssl x509 -in "$T/s3.crt" -noout -ext subjectAltName 2>/dev/null | grep -q extra.example; }
eventually 20 has_extra
check_out "spec change -> re-issued with the new SANs" "IP Address:10.0.0.7" openssl x509 -in "$T/s3.crt" -noout -ext subjectAltName
check_eq "ip-sans annotation" "10.0.0.7" "$(field default secret short-tls '{.metadata.annotations.cert-manager\.io/ip-sans}')"

# ---- Issuer with a missing / bad CA Secret ----------------------------------------
kc create namespace team-a >/dev/null 2>&1
kc apply -f - >"$OUT" 2>&1 <<'EOF'
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: team-ca, namespace: team-a}
spec:
  ca: {secretName: team-ca-keypair}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: app, namespace: team-a}
spec:
  secretName: app-tls
  dnsNames: [app.team-a.svc]
  usages: [server auth, client auth]
  privateKey: {algorithm: RSA, size: 4096, encoding: PKCS8}
  secretTemplate:
    labels: {team: a}
    annotations: {owner: team-a}
  issuerRef: {name: team-ca}
EOF
issuer_is() { [ "$(cond team-a issuer team-ca Ready)" = "$1" ]; }
eventually 15 issuer_is "False/ErrGetKeyPair"
check_eq "Issuer with a missing CA Secret: Ready False ErrGetKeyPair" "False/ErrGetKeyPair" "$(cond team-a issuer team-ca Ready)"
check_out "... the message names the Secret" "team-ca-keypair" field team-a issuer team-ca '{.status.conditions[0].message}'
eventually 10 sh -c "[ \"\$(KUBECONFIG=$KUBECONFIG kubectl -n team-a get certificate app -o jsonpath='{.status.conditions[?(@.type==\"Issuing\")].status}')\" = True ]"
check_eq "its Certificate waits: Ready False (DoesNotExist), Issuing True" "False/DoesNotExist True/DoesNotExist" \
  "$(cond team-a certificate app Ready) $(cond team-a certificate app Issuing)"
# a leaf (not a CA) as the CA Secret
check "CA Secret holding a non-CA certificate" kc -n team-a create secret tls team-ca-keypair --cert "$T/w3.crt" --key "$T/w3.key"
eventually 15 issuer_is "False/ErrInvalidKeyPair"
check_eq "Issuer with a non-CA Secret: ErrInvalidKeyPair" "False/ErrInvalidKeyPair" "$(cond team-a issuer team-ca Ready)"
check_out "... 'certificate is not a CA'" "certificate is not a CA" field team-a issuer team-ca '{.status.conditions[0].message}'
# the right CA: an unlabelled Secret (not in the controller's cache) is picked up
secret_data cert-manager idp-demo-ca-secret tls.key "$T/ca.key"
kc -n team-a delete secret team-ca-keypair >/dev/null 2>&1
check "CA Secret fixed" kc -n team-a create secret tls team-ca-keypair --cert "$T/ca.crt" --key "$T/ca.key"
eventually 20 issuer_is "True/KeyPairVerified"
check_eq "Issuer recovers: Ready True KeyPairVerified" "True/KeyPairVerified" "$(cond team-a issuer team-ca Ready)"
eventually 20 is_ready team-a app
check_eq "waiting Certificate issued once the Issuer is Ready" "True/Ready" "$(cond team-a certificate app Ready)"
check_eq "Issuing condition removed after issuance" "/" "$(cond team-a certificate app Issuing)"
secret_data team-a app-tls tls.key "$T/app.key"
secret_data team-a app-tls tls.crt "$T/app.crt"
check_out "RSA 4096 key" "4096 bit" openssl pkey -in "$T/app.key" -noout -text
check_out "PKCS#8 encoding" "BEGIN PRIVATE KEY" cat "$T/app.key"
check_out "usages: server auth + client auth" "TLS Web Server Authentication, TLS Web Client Authentication" \
  openssl x509 -in "$T/app.crt" -noout -ext extendedKeyUsage
check_eq "secretTemplate labels and annotations on the Secret" "a team-a true" \
  "$(field team-a secret app-tls '{.metadata.labels.team} {.metadata.annotations.owner} {.metadata.labels.controller\.cert-manager\.io/fao}')"

# ---- self-signed Ed25519, bad spec -----------------------------------------------
kc apply -f - >"$OUT" 2>&1 <<'EOF'
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: ed, namespace: default}
spec:
  secretName: ed-tls
  commonName: ed.example
  uris: [spiffe://cluster.local/ns/default/sa/ed]
  privateKey: {algorithm: Ed25519}
  issuerRef: {name: self-signed-issuer, kind: ClusterIssuer}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: bad, namespace: default}
spec:
  secretName: bad-tls
  dnsNames: [bad.example]
  duration: 90d
  issuerRef: {name: self-signed-issuer, kind: ClusterIssuer}
EOF
eventually 20 is_ready default ed
secret_data default ed-tls tls.crt "$T/ed.crt"
secret_data default ed-tls ca.crt "$T/ed-ca.crt"
check_out "Ed25519 self-signed certificate" "ED25519" openssl x509 -in "$T/ed.crt" -noout -text
check "self-signed: ca.crt is the certificate itself" cmp -s "$T/ed.crt" "$T/ed-ca.crt"
check_eq "uri-sans annotation" "spiffe://cluster.local/ns/default/sa/ed" "$(field default secret ed-tls '{.metadata.annotations.cert-manager\.io/uri-sans}')"
check_out "an Event records the issuance" "The certificate has been successfully issued" \
  kc -n default get events -o custom-columns=OBJ:.involvedObject.name,REASON:.reason,MSG:.message
bad_cond() { [ "$(cond default certificate bad Ready)" = "False/ConfigError" ]; }
eventually 10 bad_cond
check_eq "invalid duration '90d': Ready False ConfigError" "False/ConfigError" "$(cond default certificate bad Ready)"
check_out "... naming the field" "spec.duration" field default certificate bad '{.status.conditions[0].message}'

# ---- rotationPolicy Never keeps the key; two Certificates, one Secret ---------------
kc apply -f - >"$OUT" 2>&1 <<'EOF'
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: keep, namespace: default}
spec:
  secretName: keep-tls
  dnsNames: [keep.example]
  privateKey: {algorithm: ECDSA, rotationPolicy: Never}
  issuerRef: {name: ca-issuer, kind: ClusterIssuer}
EOF
eventually 20 is_ready default keep
secret_data default keep-tls tls.key "$T/k1.key"
kc -n default patch certificate keep --type merge -p '{"spec":{"dnsNames":["keep.example","keep2.example"]}}' >"$OUT" 2>&1
eventually 20 revision_at_least default keep 2
check "rotationPolicy Never: re-issued after a spec change" revision_at_least default keep 2
secret_data default keep-tls tls.key "$T/k2.key"
check "... with the same private key" cmp -s "$T/k1.key" "$T/k2.key"
rev=$(field default certificate keep '{.status.revision}')
kc -n default patch certificate keep --type merge \
  -p '{"spec":{"additionalOutputFormats":[{"type":"CombinedPEM"},{"type":"DER"}]}}' >"$OUT" 2>&1
has_formats() { [ -n "$(field default secret keep-tls '{.data.key\.der}')" ]; }
eventually 15 has_formats
secret_data default keep-tls tls-combined.pem "$T/comb.pem"
secret_data default keep-tls key.der "$T/k.der"
check_out "additionalOutputFormats CombinedPEM: tls-combined.pem = key + chain" "BEGIN CERTIFICATE" cat "$T/comb.pem"
check "... starting with the private key" sh -c "head -1 '$T/comb.pem' | grep -q 'PRIVATE KEY'"
check_eq "additionalOutputFormats DER: key.der is the key in DER" \
  "$(openssl pkey -in "$T/k2.key" -pubout 2>&1)" "$(openssl pkey -inform DER -in "$T/k.der" -pubout 2>&1)"
kc -n default patch certificate keep --type json -p '[{"op":"remove","path":"/spec/additionalOutputFormats"}]' >"$OUT" 2>&1
eventually 15 sh -c "! KUBECONFIG=$KUBECONFIG kubectl -n default get secret keep-tls -o jsonpath='{.data}' | grep -q key.der"
check_eq "formats removed from the spec -> keys removed, no re-issue" "$rev " \
  "$(field default certificate keep '{.status.revision}') $(field default secret keep-tls '{.data.key\.der}')"
kc apply -f - >"$OUT" 2>&1 <<'EOF'
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: keep-twin, namespace: default}
spec:
  secretName: keep-tls
  dnsNames: [twin.example]
  issuerRef: {name: ca-issuer, kind: ClusterIssuer}
EOF
twin_refused() { [ "$(cond default certificate keep-twin Ready)" = "False/IncorrectCertificate" ]; }
eventually 15 twin_refused
check_eq "a second Certificate on the same Secret: Ready False IncorrectCertificate" "False/IncorrectCertificate" \
  "$(cond default certificate keep-twin Ready)"
rev=$(field default certificate keep '{.status.revision}')
sleep 2
check_eq "... and no issuance ping-pong (first Certificate untouched)" "$rev True/Ready" \
  "$(field default certificate keep '{.status.revision}') $(cond default certificate keep Ready)"

# ---- Gateway shim --------------------------------------------------------------------
kc apply -f - >"$OUT" 2>&1 <<'EOF'
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
  namespace: default
  annotations:
    cert-manager.io/cluster-issuer: ca-issuer
    cert-manager.io/private-key-algorithm: ECDSA
spec:
  gatewayClassName: idp
  listeners:
  - {name: a, protocol: HTTPS, port: 443, hostname: a.127-0-0-1.sslip.io, tls: {mode: Terminate, certificateRefs: [{kind: Secret, name: web-tls}]}}
  - {name: b, protocol: HTTPS, port: 443, hostname: b.127-0-0-1.sslip.io, tls: {certificateRefs: [{name: web-tls}]}}
  - {name: p, protocol: TLS, port: 8443, hostname: p.127-0-0-1.sslip.io, tls: {mode: Passthrough, certificateRefs: [{name: pass-tls}]}}
  - {name: h, protocol: HTTP, port: 80}
EOF
eventually 20 is_ready default web-tls
check_eq "Gateway shim: Certificate web-tls Ready" "True/Ready" "$(cond default certificate web-tls Ready)"
check_eq "... dnsNames = the listeners' hostnames" "a.127-0-0-1.sslip.io b.127-0-0-1.sslip.io" \
  "$(field default certificate web-tls '{.spec.dnsNames[*]}')"
check_eq "... issuerRef from the annotation" "ca-issuer ClusterIssuer" \
  "$(field default certificate web-tls '{.spec.issuerRef.name} {.spec.issuerRef.kind}')"
check_eq "... owned by the Gateway" "Gateway web true" \
  "$(field default certificate web-tls '{.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].name} {.metadata.ownerReferences[0].controller}')"
expect_fail "Passthrough listener gets no Certificate" kc -n default get certificate pass-tls
check "delete the shim's Certificate" kc -n default delete certificate web-tls
eventually 20 kc -n default get certificate web-tls
check "... the Gateway shim recreates it" kc -n default get certificate web-tls

# ---- Ingress shim --------------------------------------------------------------------
kc apply -f - >"$OUT" 2>&1 <<'EOF'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  namespace: team-a
  annotations:
    cert-manager.io/issuer: team-ca
    cert-manager.io/duration: 48h
spec:
  tls:
  - hosts: [shop.example, www.shop.example]
    secretName: shop-tls
  rules:
  - host: shop.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: shop, port: {number: 80}}}}
EOF
eventually 20 is_ready team-a shop-tls
check_eq "Ingress shim: Certificate shop-tls Ready" "True/Ready" "$(cond team-a certificate shop-tls Ready)"
check_eq "... dnsNames from tls.hosts, Issuer kind, duration annotation" \
  "shop.example www.shop.example team-ca Issuer 48h" \
  "$(field team-a certificate shop-tls '{.spec.dnsNames[*]} {.spec.issuerRef.name} {.spec.issuerRef.kind} {.spec.duration}')"

if [ "$FAIL" -gt 0 ]; then
  log "--- controller log ---"
  tail -20 "$T/cm.log"
fi
stop_cm
finish
