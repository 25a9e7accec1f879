/* certmanager.h: idp's cert-manager compatible controller (cert-manager.io/v1).
 *
 * Reads Issuer, ClusterIssuer and Certificate objects unchanged and keeps a
 * kubernetes.io/tls Secret per Certificate, through the client module only
 * (the same code against `idp up` and a real cluster).
 *
 *  Issuers     selfSigned (Ready at once, reason IsReady) and ca
 *              (spec.ca.secretName: tls.crt must be a CA and match tls.key;
 *              Ready True KeyPairVerified "Signing CA verified", else False
 *              ErrGetKeyPair (Secret or data missing/unparsable) or
 *              ErrInvalidKeyPair (not a CA, key mismatch)).  A ClusterIssuer's
 *              Secret lives in the cluster resource namespace ("cert-manager").
 *              Other issuer types: Ready False, reason ConfigError.
 *  Certificate cert-manager's issuance policy chain decides when to issue:
 *              DoesNotExist, MissingData, InvalidKeyPair, InvalidCertificate,
 *              IncorrectCertificate, IncorrectIssuer, SecretMismatch (key or
 *              issued certificate no longer match the spec), Expired,
 *              Renewing (renewalTime passed).  Issuance is synchronous: key
 *              per spec.privateKey (reused with rotationPolicy Never), signed
 *              self or by the CA; the Secret gets tls.crt (leaf + chain
 *              without the root), tls.key, ca.crt, cert-manager's annotations,
 *              label controller.cert-manager.io/fao=true and secretTemplate.
 *              additionalOutputFormats CombinedPEM (tls-combined.pem) and
 *              DER (key.der) are added or removed without re-issuing, as
 *              are drifted annotations/labels.  An Event (Normal Issuing /
 *              Warning Failed) records each issuance.  A Secret issued for
 *              another Certificate that still names it is not taken over
 *              (Ready False IncorrectCertificate: no issuance ping-pong).
 *              Status: Ready, notBefore, notAfter, renewalTime, revision; the
 *              Issuing condition is True while issuance waits (issuer missing
 *              or not Ready) and False/Failed after a failed attempt
 *              (lastFailureTime, failedIssuanceAttempts; retried with
 *              cert-manager's backoff 1h..32h unless the spec changes).
 *              A re-check is queued at renewalTime.  CertificateRequest
 *              objects are NOT created (issuance is in-process).
 *  Shims       a Gateway (gateway.networking.k8s.io/v1) or Ingress
 *              (networking.k8s.io/v1) annotated cert-manager.io/cluster-issuer
 *              or cert-manager.io/issuer gets one Certificate per referenced
 *              TLS Secret, dnsNames = the listeners' hostnames / tls hosts,
 *              owned by the Gateway/Ingress (kept in sync, deleted when no
 *              longer referenced).  Honoured annotations: issuer-kind,
 *              issuer-group, common-name, duration, renew-before, usages,
 *              private-key-algorithm/-encoding/-size/-rotation-policy,
 *              revision-history-limit, email-sans.
 *
 * Memory: Secrets are watched only with the label cert-manager puts on what
 * it writes (controller.cert-manager.io/fao=true), never all Secrets (the
 * cert-manager #4722 lesson); other Secrets (a user's CA) are read on demand.
 *
 * Threads: one informer thread per watched resource plus the controllers'
 * workers; start returns once caches are synced and workers run.  Leader
 * election (several replicas) is the caller's: `idp cert-manager
 * --leader-elect` holds the Lease kube-system/cert-manager-controller and
 * starts this controller only while leading.
 *
 * Not implemented: CertificateRequest objects (issuance is in-process),
 * ACME/Vault/Venafi issuers, keystores (PKCS#12/JKS), literalSubject,
 * nameConstraints, renewal windows, removal of labels dropped from a
 * secretTemplate (added/changed ones are applied). */
#ifndef IDP_CERTS_CONTROLLER_CERTMANAGER_H
#define IDP_CERTS_CONTROLLER_CERTMANAGER_H

#include <stdbool.h>
#include <stdint.h>

#include "client/rest.h"
#include "core/err.h"

typedef struct idp_certctl_opts {
  const char *cluster_resource_namespace; /* NULL = "cert-manager" */
  int workers;                            /* Certificate workers; 0 = 4 */
  bool disable_gateway_shim;
  bool disable_ingress_shim;
  bool certificate_owner_ref; /* Secrets owned by their Certificate
                                 (--enable-certificate-owner-ref) */
  bool skip_crds;             /* do not install CRDs at start */
  long sync_timeout_ms;       /* informer sync wait; 0 = 60000 */
} idp_certctl_opts;

typedef struct idp_certctl idp_certctl;

/* Installs the CRDs if missing (unless o->skip_crds), starts informers and
 * workers; returns once started.  `kc` must outlive the controller.  `o`
 * may be NULL (defaults). */
idp_code idp_certctl_start(idp_kclient *kc, const idp_certctl_opts *o, idp_certctl **out,
                           idp_err *e);
/* Stops informers and workers (joins threads) and frees; NULL is fine. */
void idp_certctl_stop(idp_certctl *c);

/* Creates the cert-manager.io CRDs (Certificate, Issuer, ClusterIssuer)
 * and the Gateway API CRDs (GatewayClass, Gateway, HTTPRoute) that are not
 * already there (existing ones are left untouched), then waits up to 15 s
 * until Certificate and Gateway are served. */
idp_code idp_certctl_install_crds(idp_kclient *kc, idp_err *e);

/* Counters (for tests, benchmarks and /metrics). */
typedef struct idp_certctl_stats {
  uint64_t issued;        /* certificates signed */
  uint64_t failed;        /* failed issuance attempts */
  uint64_t reconciles;    /* Certificate reconciles */
} idp_certctl_stats;
void idp_certctl_get_stats(idp_certctl *c, idp_certctl_stats *out);

#endif
